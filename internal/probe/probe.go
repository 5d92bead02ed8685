// Package probe speaks the protocol a target's scheme implies (TLS, HTTP,
// WebSocket, Workerman text and frame) over a TCP connection that is already
// open, and records what was sent, what came back and how the conversation
// ended. Probes gather evidence; they never decide causes (internal/verdict
// does).
//
// Every probe works on an open net.Conn and a deadline, so the caller decides
// how long silence may last: a probe never waits past its deadline, and a
// silent server costs exactly that wait. After a failure, Fingerprint opens
// fresh connections to find out what the server really speaks.
package probe

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/evidence"
)

// MaxKeep is how many bytes of each direction an Exchange keeps as evidence.
const MaxKeep = 2048

// MaxAnswer is the most an HTTP or WebSocket probe reads from its
// connection (status line, headers, the start of the body, the whoami
// answer): as much as HTTP clients allow for response headers. Reading past
// it fails with ErrTooLong, so an endless header costs 64 KiB, not memory
// without end.
const MaxAnswer = 64 << 10

// maxTLSAnswer bounds what the TLS handshake reads: above the largest
// handshake crypto/tls accepts (a 256 KiB certificate message).
const maxTLSAnswer = 512 << 10

// ErrTooLong is the error of a read past a probe's byte cap.
var ErrTooLong = errors.New("probe: the answer is longer than conndiag reads")

// Cut says why an answer that had begun was not read to its end (defined in internal/evidence).
type Cut = evidence.Cut

// The cuts.
const (
	CutNone     = evidence.CutNone
	CutDeadline = evidence.CutDeadline
	CutCap      = evidence.CutCap
)

// Reply is how the server reacted to what was sent (defined in internal/evidence).
type Reply = evidence.Reply

// The replies.
const (
	Answered = evidence.ReplyAnswered
	Silent   = evidence.ReplySilent
	Closed   = evidence.ReplyClosed
	Reset    = evidence.ReplyReset
	Failed   = evidence.ReplyFailed
)

// Exchange is one conversation on one connection (defined in internal/evidence).
type Exchange = evidence.Exchange

// ReplyOf sorts a network error into Silent, Closed, Reset or Failed.
func ReplyOf(err error) Reply {
	var ne net.Error
	switch {
	case err == nil:
		return Silent
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return Closed
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return Reset
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return Silent
	}
	return Failed
}

// recorder wraps a conn and keeps the first bytes each way and the first
// error. HTTP clients read and write from different goroutines, hence the lock.
// Until the snapshot it refuses to read more than limit bytes (ErrTooLong);
// after it, what is read belongs to a probe on top, which has its own cap.
type recorder struct {
	net.Conn
	start time.Time
	limit int

	mu         sync.Mutex
	sent, recv []byte
	sentN      int
	recvN      int
	firstWrite time.Time
	firstRead  time.Time
	err        error
	capped     bool // a read was refused at limit
	done       bool // snapshot taken: later errors are our own closing
}

// record wraps c; reading past limit bytes fails with ErrTooLong.
func record(c net.Conn, limit int) *recorder {
	return &recorder{Conn: c, start: time.Now(), limit: limit}
}

func keep(dst, b []byte) []byte {
	if room := MaxKeep - len(dst); room > 0 {
		dst = append(dst, b[:min(room, len(b))]...)
	}
	return dst
}

func (r *recorder) Read(b []byte) (int, error) {
	r.mu.Lock()
	if !r.done {
		room := r.limit - r.recvN
		if room <= 0 {
			r.capped = true
			r.noteErr(ErrTooLong)
			r.mu.Unlock()
			return 0, ErrTooLong
		}
		b = b[:min(len(b), room)]
	}
	r.mu.Unlock()
	n, err := r.Conn.Read(b)
	r.mu.Lock()
	defer r.mu.Unlock()
	if n > 0 {
		if r.recvN == 0 {
			r.firstRead = time.Now()
		}
		r.recv = keep(r.recv, b[:n])
		r.recvN += n
	}
	r.noteErr(err)
	return n, err
}

func (r *recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	if r.sentN == 0 && len(b) > 0 {
		r.firstWrite = time.Now()
	}
	r.mu.Unlock()
	n, err := r.Conn.Write(b)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = keep(r.sent, b[:n])
	r.sentN += n
	r.noteErr(err)
	return n, err
}

func (r *recorder) noteErr(err error) {
	if err == nil || r.err != nil || r.done || errors.Is(err, net.ErrClosed) {
		return
	}
	r.err = err
}

// exchange snapshots what was recorded; errors after this are ignored.
func (r *recorder) exchange() Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = true
	e := Exchange{
		Sent: bytes.Clone(r.sent), SentN: r.sentN, Received: bytes.Clone(r.recv), ReceivedN: r.recvN,
		Err: r.err, Duration: time.Since(r.start),
	}
	if r.recvN > 0 {
		e.Reply = Answered
		if !r.firstWrite.IsZero() && r.firstRead.After(r.firstWrite) {
			e.FirstByte = r.firstRead.Sub(r.firstWrite)
		}
		switch {
		case r.capped:
			e.Cut = CutCap
		case r.err != nil && ReplyOf(r.err) == Silent:
			e.Cut = CutDeadline
		}
	} else {
		e.Reply = ReplyOf(r.err)
	}
	e.Service = Classify(e.Received, e.Sent)
	e.Start = StatusStart(e.Received)
	return e
}

// StatusStart is the first line of b when it is a whole, valid HTTP status line, else "".
func StatusStart(b []byte) string {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return ""
	}
	line := bytes.TrimSuffix(b[:i], []byte("\r"))
	if _, ok := ParseStatusLine(string(line)); !ok {
		return ""
	}
	return string(line)
}

// closeOnDone closes c when ctx ends, so a cancelled probe stops at once.
func closeOnDone(ctx context.Context, c net.Conn) (stop func() bool) {
	return context.AfterFunc(ctx, func() { c.Close() })
}

// settle completes e after the probe on top of it failed with err, when
// the recorder saw no error of its own (an HTTP client that gave up at its
// context's deadline closes the connection rather than letting a read time
// out): the reply when nothing came, the cut when an answer had begun.
func settle(e *Exchange, err error) {
	if err == nil || e.Err != nil {
		return
	}
	if errors.Is(err, net.ErrClosed) {
		// closeOnDone's own close as the context ended (its deadline, or the
		// answer no longer needed): nothing came until then, not a failure.
		err = os.ErrDeadlineExceeded
	}
	e.Err = err
	switch {
	case e.Reply != Answered:
		e.Reply = ReplyOf(err)
	case e.Cut == CutNone && errors.Is(err, ErrTooLong):
		e.Cut = CutCap
	case e.Cut == CutNone && ReplyOf(err) == Silent:
		e.Cut = CutDeadline
	}
}

// readUntil reads from rec until enough reports the bytes complete or the
// read fails: the deadline ends a silent or slow server, the recorder's
// limit (MaxKeep for these probes) a long one.
func readUntil(rec *recorder, enough func([]byte) bool) []byte {
	var got []byte
	buf := make([]byte, 1024)
	for {
		n, err := rec.Read(buf)
		got = append(got, buf[:n]...)
		if n > 0 && enough(got) || err != nil {
			return got
		}
	}
}

// Escape renders bytes from the network for people: printable text as it
// is, \r \n \t \\ escaped, and \xNN for everything else (control bytes,
// invalid UTF-8, C1, bidi controls), so no byte can drive the terminal. At
// most max runes of output are produced; a cut is marked with "…". It is
// escape.Bytes, the one escaper of everything conndiag shows.
func Escape(b []byte, max int) string { return escape.Bytes(b, max) }
