package diagnose

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/probe"
	"github.com/conndiag/conndiag/internal/target"
)

// What a refused WebSocket handshake leads to. Each step runs only when the
// answer calls for it and costs one fresh connection and one handshake (a
// redirect one per hop, at most evidence.MaxRedirects):
//
//   - 401 or 403: the same handshake with another Origin (the target's own, or none
//     when the first one was the target's own), so a refusal of the Origin is
//     told from one of the client;
//   - 301, 302, 303, 307, 308: the Location, on the same host only;
//   - the server closed without a byte: who listens, when it is this machine.

// origin is the Origin the first handshake sends: --origin, else the target's own.
func (s *session) origin() string {
	if s.opt.Origin != "" {
		return s.opt.Origin
	}
	return s.t.OwnOrigin()
}

// retryOrigin is the Origin of the second handshake after a refusal of the
// first, sent with first: the target's own when the first was another (a
// page elsewhere, --origin), none when the first was the target's own.
func retryOrigin(first, own string) string {
	if !strings.EqualFold(first, own) {
		return own
	}
	return ""
}

func isRedirect(status int) bool {
	switch status {
	case 301, 302, 303, 307, 308:
		return true
	}
	return false
}

// followUp runs the steps a refused handshake calls for.
func (s *session) followUp() {
	w := s.p.WS
	if w == nil || s.quick || s.ctx.Err() != nil {
		return
	}
	switch {
	case w.Status == 401 || w.Status == 403:
		r := s.retry(s.t, retryOrigin(w.Origin, s.t.OwnOrigin()))
		s.p.OriginRetry = &r
	case isRedirect(w.Status) && w.Header.Get("Location") != "":
		s.follow(w.Header.Get("Location"))
	}
}

// follow asks each Location in turn while it stays on the target's host.
func (s *session) follow(loc string) {
	cur := s.t
	asked := map[string]bool{cur.String(): true}
	for {
		next, stop := redirectTarget(cur, loc)
		if stop == evidence.StopNone && asked[next.String()] {
			stop = evidence.StopLoop
		}
		if stop == evidence.StopNone && len(s.p.Redirects) == evidence.MaxRedirects {
			stop = evidence.StopLimit
		}
		if stop != evidence.StopNone {
			s.p.RedirectStop, s.p.RedirectNext = stop, loc
			return
		}
		asked[next.String()] = true
		r := s.retry(next, s.p.WS.Origin)
		s.p.Redirects = append(s.p.Redirects, r)
		if r.WS == nil || !isRedirect(r.WS.Status) || s.ctx.Err() != nil {
			return
		}
		if loc = r.WS.Header.Get("Location"); loc == "" {
			return
		}
		cur = next
	}
}

// redirectTarget is the WebSocket URL a redirect from cur to loc leads to:
// http and ws become ws://, https and wss become wss:// (a WebSocket client
// reaches an https:// page's server with wss://). It stays on cur's host.
func redirectTarget(cur target.Target, loc string) (target.Target, evidence.RedirectStop) {
	base := &url.URL{Scheme: "http", Host: hostHeader(cur), Path: "/"}
	if cur.TLS() {
		base.Scheme = "https"
	}
	if p, err := url.Parse(cur.Path); err == nil {
		base = base.ResolveReference(p)
	}
	u, err := base.Parse(loc)
	if err != nil || u.Host == "" {
		return target.Target{}, evidence.StopBad
	}
	scheme := ""
	switch strings.ToLower(u.Scheme) {
	case "http", "ws":
		scheme = "ws"
	case "https", "wss":
		scheme = "wss"
	default:
		return target.Target{}, evidence.StopScheme
	}
	if !strings.EqualFold(strings.TrimSuffix(u.Hostname(), "."), strings.TrimSuffix(cur.Host, ".")) {
		return target.Target{}, evidence.StopOtherHost
	}
	port := evidence.Schemes[scheme].DefaultPort
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return target.Target{}, evidence.StopBad
		}
		port = uint16(n)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	next := target.Target{Scheme: scheme, Host: cur.Host, Port: port, Path: path}
	next.Raw = next.String()
	return next, evidence.StopNone
}

// retry runs one WebSocket handshake for t with origin on a fresh
// connection to the address being diagnosed (t's port), TLS first for wss.
func (s *session) retry(t target.Target, origin string) evidence.Retry {
	ap := netip.AddrPortFrom(s.a.Addr.Addr(), t.Port)
	r := evidence.Retry{URL: t, Addr: ap}
	deadline := time.Now().Add(s.opt.Timeout)
	ctx, cancel := context.WithDeadline(s.ctx, deadline)
	defer cancel()
	res, conn := neterr.Dialer{Source: s.opt.Source}.Connect(ctx, ap)
	if conn == nil {
		r.DialErr = res.Err
		if r.DialErr == nil {
			r.DialErr = fmt.Errorf("connect: %s", res.Kind)
		}
		return r
	}
	defer conn.Close()
	if t.TLS() {
		var tc net.Conn
		r.TLS, tc = probe.TLSHandshake(ctx, conn, deadline, s.tlsConfig(t))
		if tc == nil {
			return r
		}
		defer tc.Close()
		conn = tc
	}
	r.WS = probe.Upgrade(ctx, conn, deadline, probe.WSRequest{Host: hostHeader(t), Path: t.Path, Origin: origin})
	return r
}

// Swappable for tests: who listens on a port of this machine.
var (
	listenersOn = host.Listeners
	scanProcs   = host.ScanProcs
)

// holders names the processes listening on the target port when the server
// closed a connection on which nothing had been sent and the target is this
// machine: a forwarder (socat, docker-proxy, haproxy, ssh -L) whose backend
// is down does that, and so may an application that refuses everyone.
func (s *session) holders() {
	if !s.a.Local || !closedUnread(s.p.Tries) {
		return
	}
	socks, err := listenersOn(s.a.Addr.Port())
	if err != nil {
		return
	}
	want := map[uint64]bool{}
	for _, so := range socks {
		so = so.Unmap()
		if a := so.Local.Addr(); so.Inode != 0 && (a == s.a.Addr.Addr() || a.IsUnspecified()) {
			want[so.Inode] = true
		}
	}
	if len(want) == 0 {
		return
	}
	ps, err := scanProcs(want)
	if err != nil {
		return
	}
	seen := map[int]bool{}
	for ino := range want {
		for _, o := range ps.Owners[ino] {
			if !seen[o.PID] {
				seen[o.PID] = true
				s.p.Holders = append(s.p.Holders, o)
			}
		}
	}
}

// closedUnread: the try that sent nothing was closed or reset without a byte.
func closedUnread(tries []probe.Try) bool {
	for _, t := range tries {
		if t.Kind == probe.TryIdle && t.DialErr == nil && t.ReceivedN == 0 && (t.Reply == probe.Closed || t.Reply == probe.Reset) {
			return true
		}
	}
	return false
}
