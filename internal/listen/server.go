package listen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/page"
)

// Server holds the bound endpoints. Listen binds them all (or none); Serve
// runs them until its context ends, then closes every connection.
type Server struct {
	cfg  Config
	lim  limits
	eps  []*endpoint
	tls  *tls.Config
	cert *CertInfo
	t0   time.Time

	mem *budget // Config.MaxBuffered

	accepted, open atomic.Int64
	acceptWarned   atomic.Int64 // s.now() of the last accept warning
	budgetWarned   atomic.Int64 // s.now() of the last max_buffered warning
	stopping       atomic.Bool

	wg      sync.WaitGroup
	httpWG  sync.WaitGroup // HTTP connections not yet logged
	httpRun sync.WaitGroup // http.Server.Serve calls
	mu      sync.Mutex
	streams map[*streamConn]struct{}
	https   []*http.Server
	loops   []*loop
	pg      pageState

	closeOnce sync.Once
}

// endpoint is a bound Endpoint.
type endpoint struct {
	Endpoint
	version string
	addr    netip.AddrPort // bound address, the real port when 0 was asked
	ln      net.Listener   // nil for endpoints handed to the event loops
	lfd     int            // event-loop listening socket, -1 otherwise
	loopIdx int32          // its index among the loop endpoints
	seen    *seenLog       // recent connections, for the check page; nil without one
}

// label is the canonical URI with the bound port.
func (e *endpoint) label() string {
	return e.Scheme + "://" + joinHostPort(e.addr.Addr().String(), e.addr.Port())
}

// Bound is a listening endpoint as the caller sees it.
type Bound struct {
	Endpoint
	Addr     netip.AddrPort // the address and port actually bound
	URI      string         // canonical URI with the bound port
	Warnings []i18n.Msg     // e.g. only this machine can connect
}

// CertInfo describes the certificate TLS endpoints present.
type CertInfo struct {
	SelfSigned  bool
	Fingerprint string // SHA-256 of the DER leaf, colon-separated hex as openssl prints it
	Subject     string
	Names       []string
	NotBefore   time.Time
	NotAfter    time.Time
}

// Stats counts connections.
type Stats struct {
	Accepted, Open int64
	OverBudget     int64 // closed because their bytes did not fit in Config.MaxBuffered
	Buffered       int64 // bytes of Config.MaxBuffered held now
}

// BindError is an endpoint that could not be bound.
type BindError struct {
	Endpoint Endpoint
	Addr     string // host:port tried
	Err      error
	// Holders are the processes listening on the port, when the address is
	// in use and they could be found.
	Holders []Holder
}

// Holder is a process that holds a listening socket.
type Holder struct {
	PID  int
	Name string
}

func (h Holder) String() string { return fmt.Sprintf("PID %d (%s)", h.PID, h.Name) }

func (e *BindError) Error() string { return fmt.Sprintf("cannot listen on %s: %v", e.Addr, e.Err) }
func (e *BindError) Unwrap() error { return e.Err }

// Msg is the one line to show a person.
func (e *BindError) Msg() i18n.Msg {
	var dns *net.DNSError
	switch {
	case errors.As(e.Err, &dns):
		return i18n.M("listen.err.resolve", "Host", e.Endpoint.Host, "Err", e.Err.Error())
	case errors.Is(e.Err, syscall.EADDRINUSE) && len(e.Holders) > 0:
		hs := make([]string, len(e.Holders))
		for i, h := range e.Holders {
			hs[i] = h.String()
		}
		return i18n.M("listen.err.in_use_by", "Addr", e.Addr, "Holders", strings.Join(hs, ", "))
	case errors.Is(e.Err, syscall.EADDRINUSE):
		return i18n.M("listen.err.in_use", "Addr", e.Addr, "Cmd", i18n.Cmd("ss -ltnp 'sport = :%d'", e.Endpoint.Port))
	case errors.Is(e.Err, syscall.EACCES):
		return i18n.M("listen.err.permission", "Addr", e.Addr, "Port", e.Endpoint.Port)
	case errors.Is(e.Err, syscall.EADDRNOTAVAIL):
		return i18n.M("listen.err.not_local", "Addr", e.Addr)
	default:
		return i18n.M("listen.err.other", "Addr", e.Addr, "Err", e.Err.Error())
	}
}

// Listen binds every endpoint, or none: on error what was bound is closed.
// Two endpoints on the same port and overlapping addresses are a *URIError.
func Listen(ctx context.Context, cfg Config, eps []Endpoint) (*Server, error) {
	s := newServer(cfg)
	addrs := make([]netip.Addr, len(eps))
	for i, e := range eps {
		a, err := resolve(ctx, e.Host)
		if err != nil {
			return nil, &BindError{Endpoint: e, Addr: e.String(), Err: err}
		}
		addrs[i] = a
	}
	if err := checkOverlap(eps, addrs); err != nil {
		return nil, err
	}
	needTLS := false
	for i, e := range eps {
		ep := &endpoint{Endpoint: e, version: s.cfg.Version, lfd: -1}
		s.eps = append(s.eps, ep)
		ln, err := bind(ctx, network(addrs[i], e.Port, eps, addrs), netip.AddrPortFrom(addrs[i], e.Port))
		if err != nil {
			s.Close()
			be := &BindError{Endpoint: e, Addr: joinHostPort(addrs[i].String(), e.Port), Err: err}
			if errors.Is(err, syscall.EADDRINUSE) {
				be.Holders = holders(netip.AddrPortFrom(addrs[i], e.Port))
			}
			return nil, be
		}
		ep.ln = ln
		ep.addr = addrPortOf(ln.Addr())
		needTLS = needTLS || e.TLS
	}
	s.enablePage()
	if needTLS {
		var err error
		if s.tls, s.cert, err = tlsConfig(s.cfg, s.eps); err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := s.handToLoops(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// newServer is a Server with no endpoint yet.
func newServer(cfg Config) *Server {
	s := &Server{cfg: cfg.withDefaults(), t0: time.Now(), streams: map[*streamConn]struct{}{}}
	s.mem = newBudget(int64(s.cfg.MaxBuffered))
	s.lim = limits{
		maxMessage: s.cfg.MaxMessage, maxLine: s.cfg.MaxLine, maxFrame: s.cfg.MaxFrame,
		serverHeader: "Server: " + ServerHeader(s.cfg.Version) + "\r\n", cfg: &s.cfg, mem: s.mem,
	}
	return s
}

func resolve(ctx context.Context, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap(), nil
	}
	as, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range as { // IPv4 first, as PHP's resolver would
		if a.Unmap().Is4() {
			return a.Unmap(), nil
		}
	}
	return as[0], nil
}

func overlap(a, b netip.Addr) bool {
	return a == b || a.IsUnspecified() && (b.Is4() == a.Is4() || a.Is6()) || b.IsUnspecified() && (a.Is4() == b.Is4() || b.Is6())
}

func checkOverlap(eps []Endpoint, addrs []netip.Addr) error {
	for i := range eps {
		for j := range i {
			if eps[i].Port != 0 && eps[i].Port == eps[j].Port && overlap(addrs[i], addrs[j]) {
				// [::] next to 0.0.0.0 is fine: the IPv6 socket is made IPv6-only.
				if addrs[i].IsUnspecified() && addrs[j].IsUnspecified() && addrs[i].Is4() != addrs[j].Is4() {
					continue
				}
				return &URIError{Input: eps[i].URI, Reason: fmt.Sprintf("port %d is already taken by %s", eps[i].Port, eps[j].URI)}
			}
		}
	}
	return nil
}

// network picks the socket family like Workerman: 0.0.0.0 is IPv4 only, [::]
// takes IPv4 too unless 0.0.0.0 has the same port.
func network(a netip.Addr, port uint16, eps []Endpoint, addrs []netip.Addr) string {
	if a.Is4() {
		return "tcp4"
	}
	if a.IsUnspecified() {
		for i, b := range addrs {
			if b.Is4() && b.IsUnspecified() && eps[i].Port == port && port != 0 {
				return "tcp6"
			}
		}
		return "tcp"
	}
	return "tcp6"
}

func bind(ctx context.Context, network string, ap netip.AddrPort) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, network, ap.String())
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			return nil, oe.Err
		}
		return nil, err
	}
	return ln, nil
}

// Bound lists the endpoints with their real addresses and warnings.
func (s *Server) Bound() []Bound {
	out := make([]Bound, 0, len(s.eps))
	for _, ep := range s.eps {
		b := Bound{Endpoint: ep.Endpoint, Addr: ep.addr, URI: ep.label()}
		a := ep.addr.Addr()
		switch {
		case a.IsLoopback():
			b.Warnings = append(b.Warnings, i18n.M("listen.warn.loopback", "URI", b.URI, "Port", ep.addr.Port()))
		case !a.IsUnspecified():
			b.Warnings = append(b.Warnings, i18n.M("listen.warn.one_address", "URI", b.URI, "Addr", a.String()))
		}
		if ep.Path != "" && ep.Path != "/" {
			// The path is not dropped silently: it is served, with every other.
			b.Warnings = append(b.Warnings, i18n.M("platform.listen.any_path", "URI", b.URI, "Path", ep.Path))
		}
		if c := s.cert; ep.TLS && c != nil && !c.SelfSigned {
			// Clients that verify the certificate fail; say so before they try.
			switch now := time.Now(); {
			case now.After(c.NotAfter):
				b.Warnings = append(b.Warnings, i18n.M("listen.warn.cert_expired", "URI", b.URI, "Date", c.NotAfter.UTC().Format("2006-01-02 15:04 MST")))
			case now.Before(c.NotBefore):
				b.Warnings = append(b.Warnings, i18n.M("listen.warn.cert_not_yet", "URI", b.URI, "Date", c.NotBefore.UTC().Format("2006-01-02 15:04 MST")))
			}
		}
		out = append(out, b)
	}
	return out
}

// Cert describes the TLS certificate, nil when no endpoint uses TLS.
func (s *Server) Cert() *CertInfo { return s.cert }

// Stats counts the connections so far.
func (s *Server) Stats() Stats {
	return Stats{Accepted: s.accepted.Load(), Open: s.open.Load(), OverBudget: s.mem.refused.Load(), Buffered: s.mem.used.Load()}
}

// now is monotonic time since the server started, in nanoseconds.
func (s *Server) now() int64 { return int64(time.Since(s.t0)) }

func (s *Server) warn(m i18n.Msg) {
	if s.cfg.Warn != nil {
		s.cfg.Warn(m)
	}
}

// warnAccept reports a failing accept (EMFILE and the like) at most every
// 30 seconds: it repeats as long as the limit is hit.
func (s *Server) warnAccept(err error) {
	now := s.now()
	last := s.acceptWarned.Load()
	if last != 0 && now-last < int64(30*time.Second) || !s.acceptWarned.CompareAndSwap(last, now) {
		return
	}
	s.warn(i18n.M("listen.warn.accept", "Err", err.Error(), "Cmd", i18n.Cmd("ulimit -n 1048576")))
}

// warnBudget says, at most every 30 seconds, that connections are being
// closed for Config.MaxBuffered: with --quiet there is no connection log.
func (s *Server) warnBudget(n int64) {
	now := s.now()
	last := s.budgetWarned.Load()
	if last != 0 && now-last < int64(30*time.Second) || !s.budgetWarned.CompareAndSwap(last, now) {
		return
	}
	s.warn(i18n.M("listenbounds.warn.max_buffered", "Max", sizeText(s.cfg.MaxBuffered), "N", n))
}

// record logs one finished connection.
func (s *Server) record(c *connInfo, start int64, in, out uint64, why Reason) {
	if why.Code == "max_buffered" {
		s.warnBudget(s.mem.refused.Add(1))
	}
	if c.ep.seen != nil {
		age := time.Duration(s.now() - start)
		c.ep.seen.update(c.seen, func(v *page.Seen) { v.Ended, v.End, v.Age = true, why.Code, age })
	}
	if s.cfg.Log == nil {
		return
	}
	s.cfg.Log(Record{
		Time: time.Now(), Endpoint: c.ep.label(), Proto: c.ep.Proto, Peer: c.peer, Local: c.local,
		In: in, Out: out, Duration: time.Duration(s.now() - start), Reason: why,
	})
}

// Serve runs the endpoints until ctx ends, then stops accepting, says
// goodbye to every connection (WebSocket: close 1001) and closes it.
func (s *Server) Serve(ctx context.Context) error {
	for _, ep := range s.eps {
		switch {
		case ep.ln == nil: // event loop
		case ep.Proto == HTTP:
			s.serveHTTP(ep)
		default:
			s.wg.Add(1)
			go s.acceptStream(ep)
		}
	}
	for _, l := range s.loops {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			l.run()
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.mem.reclaim(ctx.Done())
	}()
	<-ctx.Done()
	s.shutdown()
	return nil
}

func (s *Server) shutdown() {
	s.stopping.Store(true)
	for _, ep := range s.eps {
		if ep.ln != nil {
			ep.ln.Close()
		}
	}
	for _, l := range s.loops {
		l.wake()
	}
	s.mu.Lock()
	for sc := range s.streams {
		sc.stop()
	}
	hs := s.https
	s.mu.Unlock()
	for _, h := range hs {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = h.Shutdown(ctx)
		cancel()
		h.Close()
	}
	// net/http runs the ConnState hooks of closed connections on their own
	// goroutines: wait for them, so that every connection is logged. (No
	// Accept, hence no httpWG.Add, can run once Serve has returned.)
	s.httpRun.Wait()
	logged := make(chan struct{})
	go func() {
		s.httpWG.Wait()
		close(logged)
	}()
	select {
	case <-logged:
	case <-time.After(3 * time.Second):
	}
	s.wg.Wait()
	s.Close()
}

// Close releases the listening sockets; Serve calls it when it ends.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		for _, ep := range s.eps {
			if ep.ln != nil {
				ep.ln.Close()
			}
			if ep.lfd >= 0 {
				closeFD(ep.lfd)
				ep.lfd = -1
			}
		}
		for _, l := range s.loops {
			l.release()
		}
	})
}
