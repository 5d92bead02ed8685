package listen

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/conndiag/conndiag/internal/page"
)

// The stream driver serves a connection on its own goroutine with blocking
// reads: TLS endpoints (crypto/tls needs a net.Conn), and every endpoint
// where there is no event loop. It feeds the same sessions as the loop.

type streamConn struct {
	connInfo
	s     *Server
	nc    net.Conn
	start time.Time
	rx    uint64
	tx    uint64

	mu      sync.Mutex
	stopped bool
}

func (s *Server) acceptStream(ep *endpoint) {
	defer s.wg.Done()
	for {
		nc, err := ep.ln.Accept()
		if err != nil {
			if s.stopping.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			s.warnAccept(err)
			time.Sleep(100 * time.Millisecond) // EMFILE and the like: do not spin
			continue
		}
		s.accepted.Add(1)
		s.open.Add(1)
		sc := &streamConn{s: s, nc: nc, start: time.Now()}
		sc.ep = ep
		sc.peer = addrPortOf(nc.RemoteAddr())
		sc.local = addrPortOf(nc.LocalAddr())
		sc.seen = ep.seen.begin(sc.peer)
		s.mu.Lock()
		if s.stopping.Load() {
			s.mu.Unlock()
			nc.Close()
			s.open.Add(-1)
			return
		}
		s.streams[sc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go sc.serve()
	}
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// stop makes a blocked Read return so that serve says goodbye.
func (sc *streamConn) stop() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.stopped = true
	_ = sc.nc.SetReadDeadline(time.Now())
}

// arm sets the read deadline unless stop came first.
func (sc *streamConn) arm(d time.Time) bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.stopped {
		return false
	}
	_ = sc.nc.SetReadDeadline(d)
	return true
}

func (sc *streamConn) isStopped() bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.stopped
}

func (sc *streamConn) serve() {
	s := sc.s
	why := sc.run()
	sc.nc.Close()
	s.mu.Lock()
	delete(s.streams, sc)
	s.mu.Unlock()
	s.open.Add(-1)
	s.mem.release(&sc.held)
	s.record(&sc.connInfo, s.now()-int64(time.Since(sc.start)), sc.rx, sc.tx, why)
	s.wg.Done()
}

// streamOut is the reply buffer a stream connection keeps; a bigger reply
// (the echo of a big message) is paid by the budget while it is written.
const streamOut = 16 << 10

func (sc *streamConn) run() (why Reason) {
	s := sc.s
	cfg := &s.cfg
	defer func() {
		if v := recover(); v != nil {
			why = reasonInternal(v)
		}
	}()
	var conn net.Conn = sc.nc
	if sc.ep.TLS {
		tc := tls.Server(sc.nc, s.tls)
		if !sc.arm(sc.start.Add(cfg.HandshakeTimeout)) {
			return reasonShutdown()
		}
		_ = sc.nc.SetWriteDeadline(sc.start.Add(cfg.HandshakeTimeout))
		if err := tc.Handshake(); err != nil {
			answerPlainHTTP(err)
			if !sc.isStopped() {
				sc.ep.seen.update(sc.seen, func(v *page.Seen) { v.TLSFailed, v.TLSErr = true, cutText(err.Error(), 200) })
			}
			if sc.isStopped() {
				return reasonShutdown()
			}
			if isTimeout(err) {
				return reasonHandshakeTimeout(cfg.HandshakeTimeout)
			}
			return reasonTLS(err)
		}
		_ = sc.nc.SetWriteDeadline(time.Time{})
		conn = tc
	}
	sess := newSession(&sc.connInfo, &s.lim)
	buf := make([]byte, 16<<10)
	var in, out []byte // unconsumed bytes (paid by the budget), replies
	need := 0          // result.need of the unit in begins with
	last := time.Now()
	var partial time.Time
	for {
		// The nearest deadline, and the reason when it passes.
		deadline, timeout := time.Time{}, Reason{}
		switch {
		case !sess.ready():
			deadline, timeout = sc.start.Add(cfg.HandshakeTimeout), reasonHandshakeTimeout(cfg.HandshakeTimeout)
		case !partial.IsZero():
			deadline, timeout = partial.Add(cfg.ReadTimeout), reasonReadTimeout(cfg.ReadTimeout)
		case cfg.IdleTimeout > 0:
			deadline, timeout = last.Add(cfg.IdleTimeout), reasonIdle(cfg.IdleTimeout)
		}
		if !sc.arm(deadline) {
			return sc.goodbye(conn, sess)
		}
		n, err := conn.Read(buf)
		if n > 0 {
			sc.rx += uint64(n)
			last = time.Now()
			data, inOwned := buf[:n], len(in) > 0
			if inOwned {
				grown, ok := s.mem.append(&sc.held, in, data, need)
				if !ok {
					return sc.overBudget(conn, sess)
				}
				in, data = grown, grown
			}
			consumed := 0
			for {
				out = out[:0]
				r := sess.feed(data[consumed:], &out)
				consumed += r.n
				need = r.need
				if len(out) > 0 {
					if why, ok := sc.write(conn, out); !ok {
						return why
					}
				}
				if r.close {
					return r.why
				}
				if !r.full {
					break
				}
			}
			if cap(out) > streamOut {
				out = nil
			}
			var ok bool
			if in, ok = s.mem.keep(&sc.held, in, data[consumed:], inOwned, need); !ok {
				return sc.overBudget(conn, sess)
			}
			switch {
			case len(in) == 0 && !sess.busy():
				partial = time.Time{}
			case consumed > 0 || partial.IsZero():
				partial = last
			}
		}
		switch {
		case err == nil:
		case sc.isStopped():
			return sc.goodbye(conn, sess)
		case isTimeout(err):
			return timeout
		case errors.Is(err, io.EOF):
			return reasonClientClosed()
		case errors.Is(err, syscall.ECONNRESET):
			return reasonReset(err)
		default:
			return reasonIO(err)
		}
	}
}

// write sends one batch of replies.
func (sc *streamConn) write(conn net.Conn, out []byte) (Reason, bool) {
	s := sc.s
	extra := int64(cap(out) - streamOut)
	if !s.mem.take(extra) {
		return reasonOverBudget(s.cfg.MaxBuffered), false
	}
	defer s.mem.give(extra)
	_ = conn.SetWriteDeadline(time.Now().Add(s.cfg.ReadTimeout))
	w, err := conn.Write(out)
	sc.tx += uint64(w)
	switch {
	case err == nil:
		return Reason{}, true
	case isTimeout(err):
		return reasonWriteTimeout(s.cfg.ReadTimeout), false
	default:
		return reasonIO(err), false
	}
}

// overBudget tells the client that its next bytes do not fit in
// Config.MaxBuffered, and why the connection ends.
func (sc *streamConn) overBudget(conn net.Conn, sess session) Reason {
	var out []byte
	sess.overloaded(&out)
	if len(out) > 0 {
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		if n, err := conn.Write(out); err == nil {
			sc.tx += uint64(n)
		}
	}
	return reasonOverBudget(sc.s.cfg.MaxBuffered)
}

func (sc *streamConn) goodbye(conn net.Conn, sess session) Reason {
	var out []byte
	sess.goodbye(&out)
	if len(out) > 0 {
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		if n, err := conn.Write(out); err == nil {
			sc.tx += uint64(n)
		}
	}
	return reasonShutdown()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// answerPlainHTTP answers an HTTP request sent to a TLS port the way
// net/http does, so a ws:// client against a wss:// port sees a real 400.
func answerPlainHTTP(err error) {
	var rh tls.RecordHeaderError
	if !errors.As(err, &rh) || rh.Conn == nil {
		return
	}
	h := rh.RecordHeader[:]
	for _, m := range []string{"GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH", "CONNE"} {
		if bytes.HasPrefix(h, []byte(m)) {
			_, _ = io.WriteString(rh.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
			return
		}
	}
}
