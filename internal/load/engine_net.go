package load

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/verdict"
)

// netEngine runs a goroutine per connection with the standard library: TLS
// targets everywhere, and every target where there is no epoll engine. It
// costs a goroutine and TLS buffers per held connection.
type netEngine struct {
	r     *run
	h     *hists
	hmu   sync.Mutex
	mu    sync.Mutex
	conns map[net.Conn]int // open conns and their source index
	wg    sync.WaitGroup
	stop  chan struct{}
	freed chan struct{} // a slot of the concurrency limit was released
	once  sync.Once
}

func newNetEngine(r *run) *netEngine {
	e := &netEngine{r: r, h: newHists(), conns: map[net.Conn]int{}, stop: make(chan struct{}), freed: make(chan struct{}, 1)}
	r.hists = append(r.hists, e.h)
	return e
}

func (e *netEngine) fds() int { return 0 }
func (e *netEngine) close()   {}
func (e *netEngine) wake()    { e.once.Do(func() { close(e.stop) }) }

func (e *netEngine) release() {
	e.r.release()
	select {
	case e.freed <- struct{}{}:
	default:
	}
}

// sleep waits d or until the run stops; false when it stopped.
func (e *netEngine) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-e.stop:
		return false
	}
}

func (e *netEngine) run() {
	r := e.r
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
loop:
	for !r.stopping.Load() {
		if r.rampDone.Load() {
			<-e.stop
			break
		}
		if !r.acquire() {
			select {
			case <-e.freed:
			case <-tick.C:
			case <-e.stop:
				break loop
			}
			continue
		}
		planned, ok := r.ticket(r.now())
		if !ok {
			r.release()
			continue
		}
		if !e.sleep(time.Duration(planned - r.now())) {
			r.release()
			break
		}
		src, wait := r.pickSource(r.now())
		for wait > 0 {
			if !e.sleep(time.Duration(wait)) {
				r.release()
				break loop
			}
			src, wait = r.pickSource(r.now())
		}
		if src == srcWall {
			r.release()
			r.wall()
			continue
		}
		r.attempted.Add(1)
		e.wg.Add(1)
		go e.attempt(src, planned)
	}
	code := 1000
	if r.ctx.Err() != nil {
		code = 1001
	}
	e.mu.Lock()
	for c := range e.conns {
		if r.ws {
			_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = c.Write(closeFrame(code))
		}
		c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
}

func (e *netEngine) record(connect bool, ns int64) {
	e.hmu.Lock()
	if connect {
		recordUS(e.h.connect, ns)
	} else {
		recordUS(e.h.handshake, ns)
	}
	e.hmu.Unlock()
}

// attempt opens one connection and, for Hold, keeps it until it dies or the run ends.
func (e *netEngine) attempt(src int, planned int64) {
	defer e.wg.Done()
	r := e.r
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.Timeout)
	defer cancel()
	d := net.Dialer{Control: bindNoPort}
	if src >= 0 {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(r.srcs[src].addr, 0))
	}
	conn, err := d.DialContext(ctx, network(r.cfg.Dst), r.cfg.Dst.String())
	now := r.now()
	if err != nil {
		e.release()
		if r.stopping.Load() {
			return
		}
		kind, errno, op := neterr.Classify(err)
		f := failure{phase: PhaseConnect, errno: errno, timeout: kind == neterr.Timeout}
		switch op {
		case "socket":
			f.phase = PhaseSocket
		case "bind":
			f.phase = PhaseBind
		}
		r.fail(f, src, now, err.Error())
		return
	}
	r.connected.Store(true)
	e.record(true, now-planned)
	t1 := now
	rest, hf := e.handshake(ctx, &conn)
	if hf != nil {
		conn.Close()
		e.release()
		if !r.stopping.Load() {
			r.fail(hf.failure, src, r.now(), hf.text)
		}
		return
	}
	now = r.now()
	if r.cfg.Target.TLS() || r.request != nil {
		r.handshook.Store(true)
		e.record(false, now-t1)
	}
	r.established.Add(1)
	if r.cfg.Mode == Short {
		if r.ws {
			_ = conn.SetDeadline(time.Now().Add(r.cfg.Timeout))
			_, _ = conn.Write(closeFrame(1000))
			_, _ = io.Copy(io.Discard, io.LimitReader(conn, 1<<16))
		}
		conn.Close()
		e.release()
		return
	}
	e.release()
	r.addOpen()
	e.mu.Lock()
	if r.stopping.Load() {
		e.mu.Unlock()
		conn.Close()
		r.open.Add(-1)
		return
	}
	e.conns[conn] = src
	e.mu.Unlock()
	e.hold(conn, src, now, rest)
}

type netFailure struct {
	failure
	text string
}

func (f *netFailure) Error() string { return f.text }

// handshake runs TLS and the WebSocket or HTTP exchange; conn is replaced
// by the TLS connection.
// It returns what the server sent after its answer (a WebSocket server may
// ping at once).
func (e *netEngine) handshake(ctx context.Context, conn *net.Conn) ([]byte, *netFailure) {
	r := e.r
	dl, _ := ctx.Deadline()
	_ = (*conn).SetDeadline(dl)
	defer func() { _ = (*conn).SetDeadline(time.Time{}) }()
	if r.cfg.Target.TLS() {
		tc := tls.Client(*conn, &tls.Config{ServerName: r.cfg.Target.Host})
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, tlsFailure(err)
		}
		*conn = tc
	}
	if r.request == nil {
		return nil, nil
	}
	if _, err := (*conn).Write(r.request); err != nil {
		return nil, ioFailure(err)
	}
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 4096)
	var bd *body
	for {
		n, err := (*conn).Read(tmp)
		if n > 0 {
			if bd != nil {
				done, ferr := bd.feed(tmp[:n])
				if ferr != nil {
					return nil, &netFailure{failure{phase: PhaseHandshake, proto: ferr}, ferr.Error()}
				}
				if done {
					return nil, nil
				}
			} else {
				buf = append(buf, tmp[:n]...)
				h, ok, perr := parseHead(buf)
				if perr != nil {
					return nil, &netFailure{failure{phase: PhaseHandshake, proto: perr}, perr.Error()}
				}
				if ok {
					switch {
					case r.ws && h.status != 101, !r.ws && h.status >= 502 && h.status <= 504:
						return nil, &netFailure{failure{phase: PhaseHandshake, status: h.status}, "HTTP status " + itoa(h.status)}
					case r.ws && h.accept != r.key.accept:
						return nil, &netFailure{failure{phase: PhaseHandshake, proto: errNoAccept}, errNoAccept.Error()}
					case r.ws:
						return append([]byte(nil), buf[h.n:]...), nil
					}
					bd = newBody(h)
					done, ferr := bd.feed(buf[h.n:])
					if ferr != nil {
						return nil, &netFailure{failure{phase: PhaseHandshake, proto: ferr}, ferr.Error()}
					}
					if done {
						return nil, nil
					}
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) && bd != nil && bd.mode == bodyEOF {
				return nil, nil
			}
			return nil, ioFailure(err)
		}
	}
}

func ioFailure(err error) *netFailure {
	kind, errno, _ := neterr.Classify(err)
	f := failure{phase: PhaseHandshake, errno: errno, timeout: kind == neterr.Timeout, eof: errors.Is(err, io.EOF)}
	return &netFailure{f, err.Error()}
}

func tlsFailure(err error) *netFailure {
	f := ioFailure(err)
	var rh tls.RecordHeaderError
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &rh):
		f.override = verdict.CauseTLSUnexpected
	case errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &he), errors.As(err, &ci):
		f.override = verdict.CauseTLSCertificate
	}
	return f
}

// hold reads until the connection dies or the run closes it.
func (e *netEngine) hold(conn net.Conn, src int, opened int64, in []byte) {
	r := e.r
	buf := make([]byte, 512)
	var w wsIn
	nextPing := time.Time{}
	if r.ping > 0 && r.ws {
		nextPing = time.Now().Add(r.cfg.Ping)
		_ = conn.SetReadDeadline(nextPing)
	}
	ended := func(code int, reset bool) {
		e.mu.Lock()
		_, mine := e.conns[conn]
		delete(e.conns, conn)
		e.mu.Unlock()
		conn.Close()
		if !mine || r.stopping.Load() {
			r.open.Add(-1) // closed by the run itself
			return
		}
		now := r.now()
		r.death(Death{Opened: time.Duration(opened), Age: time.Duration(now - opened), Code: code, Reset: reset}, src)
	}
	for first := true; ; first = false {
		n, err := 0, error(nil)
		if !first || len(in) == 0 {
			n, err = conn.Read(buf)
		}
		if (n > 0 || first) && r.ws {
			in = append(in, buf[:n]...)
			for len(in) > 0 {
				op, payload, k, ferr := w.next(in)
				if ferr != nil {
					ended(1006, false)
					return
				}
				if k == 0 {
					break
				}
				switch op {
				case opPing:
					_, _ = conn.Write(clientFrame(nil, opPong, payload))
				case opPong:
					r.pongs.Add(1)
				case opClose:
					code := closeCode(payload)
					_, _ = conn.Write(closeFrame(code))
					ended(code, false)
					return
				}
				in = in[k:]
			}
			in = append(in[:0:0], in...)
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !nextPing.IsZero() && !r.stopping.Load() {
				if _, werr := conn.Write(clientFrame(nil, opPing, []byte("conndiag"))); werr == nil {
					r.pings.Add(1)
				}
				nextPing = time.Now().Add(r.cfg.Ping)
				_ = conn.SetReadDeadline(nextPing)
				continue
			}
			code := 0
			if r.ws {
				code = 1006
			}
			_, errno, _ := neterr.Classify(err)
			ended(code, portableErrno(errno) == "ECONNRESET")
			return
		}
	}
}

func network(ap netip.AddrPort) string {
	if ap.Addr().Unmap().Is4() {
		return "tcp4"
	}
	return "tcp6"
}
