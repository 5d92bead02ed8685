package listen

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"html/template"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync/atomic"
)

// The http endpoint is net/http with an info page: what the client looks
// like from here. It ignores WebSocket upgrade requests like any HTTP-only
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
	hs := s.httpServer()
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
func (s *Server) httpServer() *http.Server {
	idle := s.cfg.IdleTimeout
	if idle < 0 {
		idle = 0 // net/http then uses ReadTimeout
	}
	hs := &http.Server{
		Handler:           s.withAgent(s.httpHandler()),
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

var page = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font-family:sans-serif;margin:2em}td,th{text-align:left;padding:2px 8px;vertical-align:top}code{font-size:1.1em}</style>
</head><body>
<h1>{{.Title}}</h1>
<p>{{.ClientLabel}}: <code>{{.Info.Client}}</code></p>
<p>{{.ServerLabel}}: <code>{{.Info.Server}}</code></p>
<h2>{{.HeadersLabel}}</h2>
<table>{{range .Headers}}<tr><th>{{.K}}</th><td><code>{{.V}}</code></td></tr>{{end}}</table>
<p>{{.Note}}</p>
<p><small>{{.Info.Conndiag}} {{.Info.Version}}</small></p>
</body></html>
`))

type kv struct{ K, V string }

func (s *Server) httpHandler() http.HandlerFunc {
	p := s.cfg.Printer
	labels := struct{ Title, ClientLabel, ServerLabel, HeadersLabel, Note string }{
		p.T("listen.http.title"), p.T("listen.http.client"), p.T("listen.http.server"),
		p.T("listen.http.headers"), p.T("listen.http.note"),
	}
	return func(w http.ResponseWriter, r *http.Request) {
		cc, _ := r.Context().Value(ctxKey{}).(*countConn)
		if cc != nil {
			cc.requests.Add(1)
			if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				cc.upgrade.Store(true)
			}
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
		h := w.Header()
		h.Set("Server", ServerHeader(s.cfg.Version))
		h.Set("Cache-Control", "no-store")
		if r.URL.Path == "/whoami" || strings.Contains(strings.ToLower(r.Header.Get("Accept")), "application/json") {
			b, _ := json.Marshal(info)
			h.Set("Content-Type", "application/json")
			_, _ = w.Write(append(b, '\n'))
			return
		}
		var headers []kv
		for k, v := range info.Headers {
			headers = append(headers, kv{k, v})
		}
		sort.Slice(headers, func(i, j int) bool { return headers[i].K < headers[j].K })
		h.Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, struct {
			Title, ClientLabel, ServerLabel, HeadersLabel, Note string
			Info                                                Info
			Headers                                             []kv
		}{labels.Title, labels.ClientLabel, labels.ServerLabel, labels.HeadersLabel, labels.Note, info, headers})
	}
}
