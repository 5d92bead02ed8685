package listen

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/conndiag/conndiag/internal/page"
)

// The http endpoint is net/http with the check page (page.go) and the info
// of what the client looks like from here. It ignores WebSocket upgrade requests like any HTTP-only
// server, so a WebSocket client gets 200 instead of 101, which is the
// mismatch to reproduce.

type ctxKey struct{}

// countConn counts bytes and requests of one HTTP connection.
type countConn struct {
	net.Conn
	info     connInfo
	start    int64
	rx, tx   atomic.Uint64
	requests atomic.Int64
	upgrade  atomic.Bool // a WebSocket upgrade request came
	logged   atomic.Bool
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.rx.Add(uint64(n))
	return n, err
}

func (c *countConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.tx.Add(uint64(n))
	return n, err
}

type countListener struct {
	net.Listener
	s  *Server
	ep *endpoint
}

func (l *countListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.accepted.Add(1)
	l.s.open.Add(1)
	l.s.httpWG.Add(1)
	cc := &countConn{Conn: c, start: l.s.now()}
	cc.info = connInfo{ep: l.ep, peer: addrPortOf(c.RemoteAddr()), local: addrPortOf(c.LocalAddr())}
	cc.info.seen = l.ep.seen.begin(cc.info.peer)
	return cc, nil
}

func countOf(c net.Conn) *countConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	cc, _ := c.(*countConn)
	return cc
}

func (s *Server) serveHTTP(ep *endpoint) {
	var ln net.Listener = &countListener{Listener: ep.ln, s: s, ep: ep}
	if ep.TLS {
		ln = tls.NewListener(ln, s.tls)
	}
	hs := s.httpServer(ep)
	s.mu.Lock()
	s.https = append(s.https, hs)
	s.mu.Unlock()
	s.httpRun.Add(1)
	go func() {
		defer s.httpRun.Done()
		_ = hs.Serve(ln)
	}()
}

// httpServer is the net/http server of http and https endpoints, for
// connections from a countListener.
func (s *Server) httpServer(ep *endpoint) *http.Server {
	idle := s.cfg.IdleTimeout
	if idle < 0 {
		idle = 0 // net/http then uses ReadTimeout
	}
	hs := &http.Server{
		Handler:           s.withAgent(s.httpHandler(ep)),
		ReadHeaderTimeout: s.cfg.HandshakeTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.ReadTimeout,
		IdleTimeout:       idle,
		MaxHeaderBytes:    maxHandshake,
		ErrorLog:          log.New(io.Discard, "", 0), // TLS handshake noise; the connection log says enough
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, ctxKey{}, countOf(c))
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			if st != http.StateClosed && st != http.StateHijacked {
				return
			}
			cc := countOf(c)
			if cc == nil || !cc.logged.CompareAndSwap(false, true) {
				return
			}
			s.open.Add(-1)
			why := reasonHTTP(int(cc.requests.Load()))
			if cc.upgrade.Load() {
				why = reasonHTTPUpgrade(int(cc.requests.Load()))
			}
			s.record(&cc.info, cc.start, cc.rx.Load(), cc.tx.Load(), why)
			s.httpWG.Done()
		},
	}
	return hs
}

func (s *Server) httpHandler(ep *endpoint) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cc, _ := r.Context().Value(ctxKey{}).(*countConn)
		if cc != nil {
			cc.requests.Add(1)
			if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				cc.upgrade.Store(true)
				// An HTTP-only server answers the handshake with 200: what the
				// check page shows for a ws:// URL pointed here.
				req := r.Method + " " + r.URL.RequestURI() + " HTTP/1.1\n"
				cc.info.sawHandshake([]byte(req), http.StatusOK, false)
			}
		}
		h := w.Header()
		h.Set("Server", ServerHeader(s.cfg.Version))
		h.Set("Cache-Control", "no-store")
		switch r.URL.Path {
		case page.ReportPath:
			s.serveReport(w, r)
			return
		case page.PreparePath:
			s.servePrepare(w, r)
			return
		}
		info := Info{Conndiag: "listen", Version: s.cfg.Version, Proto: HTTP, Headers: map[string]string{}}
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			info.Client = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
		}
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			info.Server = addrPortOf(la).String()
		}
		info.Headers["Host"] = r.Host
		for k, v := range r.Header {
			info.Headers[k] = strings.Join(v, ", ")
		}
		if r.URL.Path == "/whoami" || strings.Contains(strings.ToLower(r.Header.Get("Accept")), "application/json") {
			b, _ := json.Marshal(info)
			h.Set("Content-Type", "application/json")
			_, _ = w.Write(append(b, '\n'))
			return
		}
		s.servePage(w, r, ep, info)
	}
}
