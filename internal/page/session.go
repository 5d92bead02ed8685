package page

import (
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/verdict"
)

// TokenParam is the query parameter that carries a connection's token to
// an endpoint of the same listen, so the server knows which of its
// connections the browser's attempt was.
const TokenParam = "conndiag"

// Seen is one connection an endpoint of listen saw; internal/listen keeps
// the recent ones of each endpoint in a ring of fixed size.
type Seen struct {
	At    time.Time
	Peer  netip.AddrPort
	Token string // from the handshake's request target, "" when none came

	Request   bool // a request or handshake came
	Upgraded  bool // 101 was sent
	Status    int  // the status sent instead of 101
	NotHTTP   bool // the first bytes were not HTTP
	TLSFailed bool
	TLSErr    string

	Ended bool
	End   string // listen's reason code
	Age   time.Duration
}

// Endpoint is an endpoint of the listen that serves the page.
type Endpoint struct {
	URI       string // canonical, with the bound port
	Addr      netip.AddrPort
	TLS       bool
	WebSocket bool
	HTTP      bool
	Plain     bool // text, frame or raw tcp: no HTTP at all
}

// Target is one WebSocket the page opens.
type Target struct {
	Token    string
	URL      string // what the page opens: with the token for an own endpoint
	HoldURL  string // the second connection the page holds open, with a token of its own
	Shown    string // what people read: without the token
	Endpoint int    // the own endpoint it reaches, -1 for a URL elsewhere
	Typed    bool   // the person entered it
}

// Session is one load of the page: who asked, and what it opens.
type Session struct {
	ID       string
	Created  time.Time
	Client   netip.Addr // the address the page's request came from
	Host     string     // the host name the browser used for the page
	Lang     string
	PageTLS  bool
	PagePort uint16
	Targets  []Target
	Skipped  []string // endpoints this browser cannot reach (loopback only)

	checks map[string]*CheckRun // by token, for typed URLs
}

// CheckRun is conndiag check run from the server toward a typed URL.
type CheckRun struct {
	Done     chan struct{} // closed when Findings or Note is set
	Findings []verdict.Finding
	Note     i18n.Msg // why it did not run, or did not finish
}

// NewCheckRun is a check that has not finished.
func NewCheckRun() *CheckRun { return &CheckRun{Done: make(chan struct{})} }

// NewToken is a random token (ValidToken holds for it).
func NewToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// PageHost is the host part of a Host header when it is a plain host name
// or address, "" otherwise (the caller then uses the local address).
func PageHost(hostHeader string) string {
	h := hostHeader
	if hh, _, err := net.SplitHostPort(hostHeader); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Zone() != "" {
			return ""
		}
		return a.String()
	}
	if len(h) == 0 || len(h) > 253 {
		return ""
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return ""
		}
	}
	return strings.ToLower(h)
}

// hostPort joins a host (name or address) and a port for a URL.
func hostPort(h string, port uint16) string {
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return h + ":" + strconv.Itoa(int(port))
}

// Targets lists the WebSocket endpoints a browser that reached the page at
// local, with the host name host, can open, each with its URL: a wildcard
// or the page's own address takes the page's host name; an endpoint bound
// to loopback is skipped for a browser on another machine.
func Targets(eps []Endpoint, host string, local netip.Addr, token func() string) (ts []Target, skipped []string) {
	local = local.Unmap()
	for i, e := range eps {
		if !e.WebSocket {
			continue
		}
		a := e.Addr.Addr().Unmap()
		h := host
		switch {
		case a.IsUnspecified() || a == local:
		case a.IsLoopback() && !local.IsLoopback():
			skipped = append(skipped, e.URI)
			continue
		default:
			h = a.String()
		}
		scheme := "ws"
		if e.TLS {
			scheme = "wss"
		}
		shown := scheme + "://" + hostPort(h, e.Addr.Port()) + "/"
		tok, hold := token(), token()
		ts = append(ts, Target{Token: tok, URL: shown + "?" + TokenParam + "=" + tok, HoldURL: shown + "?" + TokenParam + "=" + hold,
			Shown: shown, Endpoint: i})
	}
	return ts, skipped
}

// Typed is the target for a URL the person entered. own is the endpoint it
// reaches, -1 when it is elsewhere; an own endpoint gets the token in its
// query so the server can find the connection.
func Typed(u *url.URL, own int, token, holdToken string) Target {
	t := Target{Token: token, URL: u.String(), HoldURL: u.String(), Shown: u.String(), Endpoint: own, Typed: true}
	if own >= 0 {
		t.URL, t.HoldURL = withToken(u, token), withToken(u, holdToken)
	}
	return t
}

func withToken(u *url.URL, token string) string {
	v := *u
	q := v.Query()
	q.Set(TokenParam, token)
	v.RawQuery = q.Encode()
	return v.String()
}

// Port is the port of a ws:// or wss:// URL, its default when none is given.
func Port(u *url.URL) uint16 {
	if p, err := strconv.Atoi(u.Port()); err == nil && p > 0 && p < 65536 {
		return uint16(p)
	}
	if u.Scheme == "wss" {
		return 443
	}
	return 80
}

// Own finds the endpoint a typed URL reaches: one whose port it names, on
// a host that is the page's host or one of local (this machine's addresses).
func Own(eps []Endpoint, u *url.URL, pageHost string, local func(netip.Addr) bool) int {
	port := Port(u)
	h := strings.ToLower(u.Hostname())
	a, err := netip.ParseAddr(h)
	isAddr := err == nil
	if !(h == pageHost || h == "localhost" || isAddr && local(a.Unmap())) {
		return -1
	}
	for i, e := range eps {
		if e.Addr.Port() != port {
			continue
		}
		b := e.Addr.Addr().Unmap()
		if b.IsUnspecified() || !isAddr || b == a.Unmap() || h == pageHost {
			return i
		}
	}
	return -1
}

// Joined is one connection of a report with its evidence.
type Joined struct {
	Token   string
	Browser evidence.Browser
}

// Join turns a report into the evidence of each of its connections: the
// browser's side from the report, the server's from the connections the
// endpoint saw (seen gives an endpoint's recent ones, newest last).

func (s *Session) Join(r Report, eps []Endpoint, seen func(endpoint int) []Seen, timeout time.Duration) []Joined {
	var out []Joined
	for _, a := range r.Attempts {
		t, ok := s.target(a.Token)
		if !ok {
			continue // not a connection of this page: nothing to judge
		}
		u, err := ParseWS(t.Shown)
		if err != nil {
			continue
		}
		b := evidence.Browser{URL: t.Shown, Scheme: u.Scheme, Host: u.Hostname(), Port: Port(u),
			PageTLS: s.PageTLS, PagePort: s.PagePort, PageFrom: s.Client, Timeout: timeout, Seen: a.Side()}
		if t.Endpoint >= 0 && t.Endpoint < len(eps) {
			e := eps[t.Endpoint]
			b.Own = true
			b.Server = Match(seen(t.Endpoint), t.Token, s.Client, s.Created, e)
		}
		out = append(out, Joined{Token: a.Token, Browser: b})
	}
	return out
}

// Pending reports whether a connection of the report that failed in the
// browser may still be recorded by its endpoint: the endpoint holds a
// connection from the page's client, accepted since the page was served,
// that has not yet sent a request, failed its TLS handshake, sent bytes that
// are not HTTP or ended. A browser that refused the certificate has its
// failure before the server's goroutine reads the alert; under load that
// can take a while, and a join made meanwhile would find nothing.
func (s *Session) Pending(r Report, seen func(endpoint int) []Seen) bool {
	for _, a := range r.Attempts {
		if a.Side().Opened || a.GaveUp {
			continue
		}
		t, ok := s.target(a.Token)
		if !ok || t.Endpoint < 0 {
			continue
		}
		rs := seen(t.Endpoint)
		for i := len(rs) - 1; i >= 0; i-- {
			x := rs[i]
			if x.Token == a.Token && x.Token != "" {
				break // its handshake came: the entry is its own
			}
			if x.At.Before(s.Created) || x.Peer.Addr().Unmap() != s.Client.Unmap() {
				continue
			}
			if !x.Request && !x.TLSFailed && !x.NotHTTP && !x.Ended {
				return true
			}
		}
	}
	return false
}

func (s *Session) target(token string) (Target, bool) {
	for _, t := range s.Targets {
		if t.Token == token {
			return t, true
		}
	}
	return Target{}, false
}

// Match finds what the endpoint saw of the connection with this token: the
// connection whose handshake carried it; else, for a connection that never
// got as far as sending one (TLS failed, not HTTP, nothing sent), the
// newest from the page's client address since the page was served.
func Match(rs []Seen, token string, client netip.Addr, since time.Time, e Endpoint) evidence.ServerSide {
	v := evidence.ServerSide{TLS: e.TLS, HTTP: e.HTTP, Plain: e.Plain}
	pick := -1
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].Token == token {
			pick = i
			break
		}
	}
	if pick < 0 {
		for i := len(rs) - 1; i >= 0; i-- {
			r := rs[i]
			if r.Token != "" || r.At.Before(since) || r.Peer.Addr().Unmap() != client.Unmap() {
				continue
			}
			if r.TLSFailed || r.NotHTTP || e.Plain || !e.HTTP && !r.Request {
				pick = i
				break
			}
		}
	}
	if pick < 0 {
		return v
	}
	r := rs[pick]
	v.Arrived, v.From = true, r.Peer
	v.Upgraded, v.Status, v.NotHTTP = r.Upgraded, r.Status, r.NotHTTP
	v.TLSFailed, v.TLSErr = r.TLSFailed, r.TLSErr
	v.Ended, v.End, v.Age = r.Ended, r.End, r.Age
	return v
}

// Sessions holds the recent page loads, bounded in number and age: with
// MaxTyped URLs of at most 2 KiB (each kept three times) a session is at
// most about 100 KiB, so the default 512 are at most about 50 MiB however
// many visitors ask; the page's own endpoints take a few hundred bytes.
type Sessions struct {
	mu    sync.Mutex
	m     map[string]*Session
	order []string
	Max   int           // default 512
	TTL   time.Duration // default 1 hour
	Now   func() time.Time
}

func (ss *Sessions) now() time.Time {
	if ss.Now != nil {
		return ss.Now()
	}
	return time.Now()
}

// Add keeps s, dropping the oldest sessions beyond Max.
func (ss *Sessions) Add(s *Session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.m == nil {
		ss.m = map[string]*Session{}
	}
	max := ss.Max
	if max <= 0 {
		max = 512
	}
	for len(ss.order) >= max {
		delete(ss.m, ss.order[0])
		ss.order = ss.order[1:]
	}
	ss.m[s.ID] = s
	ss.order = append(ss.order, s.ID)
}

// Get returns a copy of the session with that ID, if it is known and not
// too old.
func (ss *Sessions) Get(id string) (Session, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[id]
	ttl := ss.TTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	if !ok || ss.now().Sub(s.Created) > ttl {
		return Session{}, false
	}
	c := *s
	c.Targets = append([]Target(nil), s.Targets...)
	return c, true
}

// MaxTyped is how many URLs a person may enter on one load of the page.
const MaxTyped = 8

// AddTyped adds a typed URL's target and its check to a session; false when
// the session is unknown, has MaxTyped typed URLs already, or as many
// targets as a report may carry.
func (ss *Sessions) AddTyped(id string, t Target, run *CheckRun) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[id]
	if !ok || len(s.Targets) >= MaxAttempts {
		return false
	}
	typed := 0
	for _, t := range s.Targets {
		if t.Typed {
			typed++
		}
	}
	if typed >= MaxTyped {
		return false
	}
	s.Targets = append(s.Targets, t)
	if s.checks == nil {
		s.checks = map[string]*CheckRun{}
	}
	s.checks[t.Token] = run
	return true
}

// Check returns the check of a typed URL's token.
func (ss *Sessions) Check(id, token string) *CheckRun {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s, ok := ss.m[id]; ok {
		return s.checks[token]
	}
	return nil
}
