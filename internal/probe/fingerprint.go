package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/conndiag/conndiag/internal/evidence"
)

// Service names what a server's bytes look like (defined in internal/evidence).
const (
	SvcNone      = evidence.SvcNone
	SvcTLS       = evidence.SvcTLS
	SvcHTTP      = evidence.SvcHTTP
	SvcSSH       = evidence.SvcSSH
	SvcSMTP      = evidence.SvcSMTP
	SvcFTP       = evidence.SvcFTP
	SvcSMTPOrFTP = evidence.SvcSMTPOrFTP
	SvcPOP3      = evidence.SvcPOP3
	SvcIMAP      = evidence.SvcIMAP
	SvcMySQL     = evidence.SvcMySQL
	SvcPostgres  = evidence.SvcPostgres
	SvcRedis     = evidence.SvcRedis
	SvcVNC       = evidence.SvcVNC
	SvcAMQP      = evidence.SvcAMQP
	SvcTelnet    = evidence.SvcTelnet
	SvcMemcached = evidence.SvcMemcached
	SvcEcho      = evidence.SvcEcho
	SvcFrame     = evidence.SvcFrame
	SvcText      = evidence.SvcText
	SvcBinary    = evidence.SvcBinary
)

// SpeaksOther reports whether name is a service of its own (see evidence.SpeaksOther).
func SpeaksOther(name string) bool { return evidence.SpeaksOther(name) }

// Service is what a server's bytes look like, with the line that shows it.
type Service = evidence.Service

// MaxFrame is the largest Workerman frame taken as plausible.
const MaxFrame = evidence.MaxFrame

const maxDetail = 200

// Classify says what the first bytes from a server look like. sent is what
// the client had sent on that connection, to recognise an echo.
func Classify(got, sent []byte) Service {
	if len(got) == 0 {
		return Service{}
	}
	line := firstLine(got)
	if isEcho(got, sent) {
		return Service{Name: SvcEcho, Detail: line}
	}
	if d, ok := describeTLS(got); ok {
		return Service{Name: SvcTLS, Detail: d}
	}
	switch {
	case bytes.HasPrefix(got, []byte("HTTP/")):
		return Service{Name: SvcHTTP, Detail: line}
	case bytes.HasPrefix(got, []byte("SSH-")):
		return Service{Name: SvcSSH, Detail: line}
	case len(got) >= 4 && bytes.HasPrefix(got, []byte("220")) && (got[3] == ' ' || got[3] == '-'):
		up := strings.ToUpper(line)
		switch {
		case strings.Contains(up, "FTP"):
			return Service{Name: SvcFTP, Detail: line}
		case strings.Contains(up, "SMTP") || strings.Contains(up, "MAIL") || strings.Contains(up, "POSTFIX") || strings.Contains(up, "EXIM"):
			return Service{Name: SvcSMTP, Detail: line}
		}
		return Service{Name: SvcSMTPOrFTP, Detail: line}
	case bytes.HasPrefix(got, []byte("+OK")):
		return Service{Name: SvcPOP3, Detail: line}
	case bytes.HasPrefix(got, []byte("* OK")), bytes.HasPrefix(got, []byte("* PREAUTH")), bytes.HasPrefix(got, []byte("* BYE")):
		return Service{Name: SvcIMAP, Detail: line}
	case bytes.HasPrefix(got, []byte("RFB ")):
		return Service{Name: SvcVNC, Detail: line}
	case bytes.HasPrefix(got, []byte("AMQP")):
		return Service{Name: SvcAMQP, Detail: "AMQP"}
	case len(got) >= 2 && got[0] == 0xff && got[1] >= 0xfb && got[1] <= 0xfe:
		return Service{Name: SvcTelnet, Detail: ""}
	case isRedis(got):
		return Service{Name: SvcRedis, Detail: line}
	case bytes.Equal(got, []byte("ERROR\r\n")):
		return Service{Name: SvcMemcached, Detail: line}
	case isHTMLPage(got):
		// An HTTP server's error page without a status line: its answer to
		// a request line it cannot parse is HTTP/0.9 (Python's http.server).
		return Service{Name: SvcHTTP, Detail: line}
	}
	if v, ok := mysqlGreeting(got); ok {
		return Service{Name: SvcMySQL, Detail: v}
	}
	if m, ok := postgresError(got); ok {
		return Service{Name: SvcPostgres, Detail: m}
	}
	if payload, _, st := ParseFrame(got); st == FrameComplete {
		return Service{Name: SvcFrame, Detail: Escape(payload, maxDetail)}
	}
	if isText(got) {
		return Service{Name: SvcText, Detail: line}
	}
	return Service{Name: SvcBinary, Detail: ""}
}

// isHTMLPage: b starts as an HTML document does.
func isHTMLPage(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	for _, p := range []string{"<!doctype html", "<html"} {
		if len(b) >= len(p) && strings.EqualFold(string(b[:len(p)]), p) {
			return true
		}
	}
	return false
}

// firstLine is the first line of b without its line end, capped for evidence.
func firstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	b = bytes.TrimRight(b, "\r")
	if len(b) > maxDetail {
		b = b[:maxDetail]
	}
	return string(b)
}

// isEcho: what came back is what was sent, or its start (a line echo).
func isEcho(got, sent []byte) bool {
	n := 0
	for n < len(got) && n < len(sent) && got[n] == sent[n] {
		n++
	}
	if n == 0 {
		return false
	}
	return (n == len(got) || n == len(sent)) && n >= min(3, len(sent))
}

var redisPrefixes = [][]byte{
	[]byte("+PONG"), []byte("-ERR "), []byte("-NOAUTH"), []byte("-DENIED"), []byte("-WRONGPASS"), []byte("-WRONGTYPE"),
}

func isRedis(b []byte) bool {
	for _, p := range redisPrefixes {
		if bytes.HasPrefix(b, p) {
			return true
		}
	}
	return false
}

// mysqlGreeting recognises the packet a MySQL server sends first: a protocol
// 10 handshake (returns the server version) or an error packet (returns the
// message, e.g. "Host '…' is not allowed to connect").
func mysqlGreeting(b []byte) (string, bool) {
	if len(b) < 7 || b[3] != 0 {
		return "", false
	}
	plen := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	if plen < 3 || plen > 1<<16 {
		return "", false
	}
	payload := b[4:min(len(b), 4+plen)]
	switch payload[0] {
	case 0x0a: // protocol version 10, then a NUL-terminated version string
		end := bytes.IndexByte(payload[1:], 0)
		if end < 1 || end > 64 {
			return "", false
		}
		v := payload[1 : 1+end]
		if !isPrintableASCII(v) {
			return "", false
		}
		return string(v), true
	case 0xff: // error packet: 2-byte code, optional "#SQLSTATE", message
		msg := payload[3:]
		if len(msg) > 6 && msg[0] == '#' {
			msg = msg[6:]
		}
		if len(msg) == 0 || !isPrintableASCII(msg) {
			return "", false
		}
		return firstLine(msg), true
	}
	return "", false
}

// postgresError recognises an ErrorResponse ('E', length, fields), which a
// PostgreSQL server sends to a startup packet it cannot read.
func postgresError(b []byte) (string, bool) {
	if len(b) < 8 || b[0] != 'E' {
		return "", false
	}
	n := binary.BigEndian.Uint32(b[1:5])
	if n < 8 || n > 1<<16 || b[5] != 'S' {
		return "", false
	}
	fields := b[5:min(len(b), int(n)+1)]
	msg := ""
	for len(fields) > 1 {
		typ := fields[0]
		end := bytes.IndexByte(fields[1:], 0)
		if end < 0 {
			break
		}
		if typ == 'M' {
			msg = string(fields[1 : 1+end])
		}
		fields = fields[2+end:]
	}
	if msg == "" || !isPrintableASCII([]byte(msg)) {
		return "", false
	}
	return firstLine([]byte(msg)), true
}

func isPrintableASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// isText: valid UTF-8 made of printable characters and line breaks.
func isText(b []byte) bool {
	if !utf8.Valid(b) {
		// A cut in the middle of a character at the end is still text.
		cut := len(b) - utf8.UTFMax
		if cut < 0 || !utf8.Valid(b[:cut]) {
			return false
		}
		b = b[:cut]
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && r != '\r' && r != '\n' && r != '\t' {
			return false
		}
	}
	return true
}

func describeTLS(b []byte) (string, bool) { return evidence.DescribeTLS(b) }

// TryKind names one fingerprinting attempt (defined in internal/evidence).
type TryKind = evidence.TryKind

// The tries.
const (
	TryTLS   = evidence.TryTLS
	TryHTTP  = evidence.TryHTTP
	TryFrame = evidence.TryFrame
	TryText  = evidence.TryText
	TryIdle  = evidence.TryIdle
)

// Try is one fingerprinting attempt on a fresh connection (defined in internal/evidence).
type Try = evidence.Try

// DialFunc opens a fresh connection to the address being diagnosed.
type DialFunc func(ctx context.Context) (net.Conn, error)

// Fingerprint runs the tries at once, each on its own fresh connection, and
// returns them in the order asked. Each ends by deadline at the latest.
// host is the target's host, for the HTTP Host header and TLS SNI.
//
// The idle try (nothing sent) only matters when every other try went
// unanswered: once the others are done and one of them got a byte, it is
// stopped and left out, so that a server that waits for the client to speak
// costs no silence wait for it.
func Fingerprint(ctx context.Context, dial DialFunc, kinds []TryKind, deadline time.Time, host string) []Try {
	out := make([]Try, len(kinds))
	idleCtx, stopIdle := context.WithCancel(ctx)
	defer stopIdle()
	var others, idle sync.WaitGroup
	idleAt := -1
	for i, k := range kinds {
		c, wg := ctx, &others
		if k == TryIdle {
			c, wg, idleAt = idleCtx, &idle, i
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = try(c, dial, k, deadline, host)
		}()
	}
	others.Wait()
	answered := false
	for i := range out {
		// out[idleAt] is not read: the idle try may still be writing it.
		answered = answered || i != idleAt && out[i].ReceivedN > 0
	}
	if idleAt < 0 || !answered {
		idle.Wait()
		return out
	}
	stopIdle()
	idle.Wait()
	return append(out[:idleAt:idleAt], out[idleAt+1:]...)
}

func try(ctx context.Context, dial DialFunc, kind TryKind, deadline time.Time, host string) Try {
	t := Try{Kind: kind}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	conn, err := dial(ctx)
	if err != nil {
		t.DialErr = err
		return t
	}
	defer conn.Close()
	defer closeOnDone(ctx, conn)()
	switch kind {
	case TryTLS:
		tr, tc := TLSHandshake(ctx, conn, deadline, TLSConfig{ServerName: sniName(host)})
		if tc != nil {
			t.TLS = tr
		}
		t.Exchange = tr.Exchange
	case TryHTTP:
		rec := record(conn, MaxKeep)
		rec.SetDeadline(deadline)
		req := "GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: " + UserAgent + "\r\nAccept: */*\r\nConnection: close\r\n\r\n"
		if _, err := rec.Write([]byte(req)); err == nil {
			readUntil(rec, func(b []byte) bool {
				return bytes.Contains(b, []byte("\r\n\r\n")) || bytes.Contains(b, []byte("\n\n")) ||
					!bytes.HasPrefix(b, []byte("HTTP/")[:min(5, len(b))]) && bytes.IndexByte(b, '\n') >= 0
			})
		}
		t.Exchange = rec.exchange()
	case TryFrame:
		m := FrameMessage(ctx, conn, deadline)
		t.Exchange, t.Whoami = m.Exchange, m.Whoami
	case TryText:
		m := TextMessage(ctx, conn, deadline)
		t.Exchange, t.Whoami = m.Exchange, m.Whoami
	case TryIdle:
		// Nothing is sent: the first byte, the close or the deadline ends it.
		rec := record(conn, MaxKeep)
		rec.SetDeadline(deadline)
		readUntil(rec, func([]byte) bool { return true })
		t.Exchange = rec.exchange()
	}
	t.Service = Classify(t.Received, t.Sent)
	return t
}

// sniName is the name to send as SNI: none for an address, as browsers do.
func sniName(host string) string {
	if net.ParseIP(host) != nil {
		return ""
	}
	return host
}
