// Package listen runs known-good test endpoints with Workerman-style listen
// URIs: websocket (ws, wss), http (https), text, frame, tcp and ssl/tls.
//
// Put one on the port a failing client uses, and the question "is it the
// network or my application?" splits in two: if the client reaches this
// endpoint, the network path is fine. Every endpoint echoes, and answers a
// "whoami" request in its own protocol with the client address it saw, so NAT,
// proxies or a CDN in between show up (see Info).
//
// Plain endpoints on Linux run on a few epoll event loops: an idle connection
// costs a small struct and no goroutine or buffer, so a single process holds
// hundreds of thousands of them. TLS endpoints, http/https and other
// platforms use a goroutine per connection.
//
// Every protocol decoder is a session: a pure state machine that consumes
// bytes and appends replies, with bounded sizes, so hostile bytes can close
// only the connection that sent them.
package listen

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/target"
)

// Proto is what an endpoint speaks after TCP (and TLS) connect.
type Proto string

const (
	WebSocket Proto = "websocket"
	HTTP      Proto = "http"
	Text      Proto = "text"
	Frame     Proto = "frame"
	TCP       Proto = "tcp" // raw echo
)

// Forms lists the accepted listen URI forms, for usage messages.
const Forms = "websocket://0.0.0.0:8282, ws://, wss://, http://, https://, text://, frame://, tcp://, ssl://, tls://, or host:port (raw echo)"

// Endpoint is one parsed listen URI.
type Endpoint struct {
	URI    string // as given
	Scheme string
	Proto  Proto
	TLS    bool
	Host   string // address or name, without brackets
	Port   uint16 // 0: any free port
	// Path as given ("/" when none). Every endpoint answers on every path,
	// as Workerman does; a path other than "/" is said so at startup.
	Path string
}

// String is the canonical form scheme://host:port.
func (e Endpoint) String() string { return e.Scheme + "://" + joinHostPort(e.Host, e.Port) }

func joinHostPort(h string, p uint16) string {
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return fmt.Sprintf("%s:%d", h, p)
}

// URIError is a listen URI that cannot be used.
type URIError struct {
	Input  string
	Reason string   // in English
	Why    i18n.Msg // the reason as a catalog message, when there is one
}

func (e *URIError) Error() string {
	return fmt.Sprintf("bad listen URI %q: %s (accepted forms: %s)", e.Input, e.Reason, Forms)
}

// Msg is the whole error line in the catalog, for the chosen language.
func (e *URIError) Msg() i18n.Msg {
	why := e.Why
	if why.ID == "" {
		why = i18n.M("platform.target.other", "Reason", e.Reason)
	}
	return i18n.M("platform.listen.bad", "Input", fmt.Sprintf("%q", e.Input), "Reason", why, "Forms", Forms)
}

// hasPort reports whether a URI's host:port part names a port.
func hasPort(hp string) bool {
	if i := strings.LastIndexByte(hp, ']'); i >= 0 {
		hp = hp[i+1:]
	}
	return strings.Contains(hp, ":")
}

// ParseEndpoint parses a listen URI with the target forms of conndiag
// (internal/target), plus port 0 for "any free port". A path is accepted and
// ignored: like Workerman, every endpoint answers on every path.
func ParseEndpoint(s string) (Endpoint, error) {
	in := strings.TrimSpace(s)
	zero := false
	if hp, i, j := hostPortSpan(in); strings.HasSuffix(hp, ":0") {
		// target.Parse wants a real port; listen also takes 0 for "any".
		in, zero = in[:i]+hp[:len(hp)-1]+"1"+in[j:], true
	}
	t, err := target.Parse(in)
	if err != nil {
		ue := &URIError{Input: s, Reason: err.Error()}
		if te, ok := err.(*target.Error); ok {
			ue.Reason, ue.Why = te.Reason, te.Why
			if te.Why.ID == "platform.target.port" {
				ue.Why.ID = "platform.listen.port"
				ue.Reason = strings.Replace(te.Reason, "from 1 to 65535", "from 0 to 65535 (0 picks a free port)", 1)
			}
		}
		return Endpoint{}, ue
	}
	if hp, _, _ := hostPortSpan(in); !hasPort(hp) {
		// A default port (80, 443) would be bound without the person asking for it.
		return Endpoint{}, &URIError{Input: s, Reason: "the port is missing (0 picks a free one)",
			Why: i18n.M("platform.listen.no_port", "Scheme", t.Scheme)}
	}
	e := Endpoint{URI: strings.TrimSpace(s), Scheme: t.Scheme, Host: t.Host, Port: t.Port, TLS: t.TLS(), Path: t.Path}
	if zero {
		e.Port = 0
	}
	switch t.Protocol() {
	case target.WebSocket:
		e.Proto = WebSocket
	case target.HTTP:
		e.Proto = HTTP
	case target.Text:
		e.Proto = Text
	case target.Frame:
		e.Proto = Frame
	case target.TCP, target.TLSOnly:
		e.Proto = TCP
	default:
		return Endpoint{}, &URIError{Input: s, Reason: fmt.Sprintf("scheme %q cannot be served", t.Scheme),
			Why: i18n.M("platform.listen.scheme", "Scheme", t.Scheme)}
	}
	return e, nil
}

// hostPortSpan returns the host:port part of a URI and where it starts and ends.
func hostPortSpan(s string) (hp string, i, j int) {
	if k := strings.Index(s, "://"); k >= 0 {
		i = k + 3
	}
	j = len(s)
	if k := strings.IndexAny(s[i:], "/?#"); k >= 0 {
		j = i + k
	}
	return s[i:j], i, j
}

// Config sets limits and timeouts. Zero fields take the defaults.
type Config struct {
	Version string // shown in whoami answers and the Server header

	MaxMessage int // WebSocket message, default 1 MiB
	MaxLine    int // text line without its "\n", default 64 KiB
	MaxFrame   int // frame protocol, the 4-byte header included, default 1 MiB
	// MaxBuffered bounds what all connections together hold in memory:
	// unfinished lines, frames, messages and handshakes, and replies not
	// yet taken by the client. A connection whose next bytes do not fit is
	// closed (Reason "max_buffered"). Default 64 MiB. http and https
	// endpoints are bounded by net/http instead (16 KiB of headers each).
	MaxBuffered int

	HandshakeTimeout time.Duration // TLS and WebSocket handshakes, default 10 s
	// ReadTimeout bounds how long a started line, frame or message may take
	// to arrive, and how long the client may leave replies unread (slowloris).
	ReadTimeout time.Duration // default 30 s
	IdleTimeout time.Duration // close connections silent this long; default 10 min, negative: never

	Cert    []byte // PEM certificate chain and key for TLS endpoints; nil: a self-signed one
	Key     []byte
	Printer *i18n.Printer // renders the few texts sent to clients (HTTP pages); nil: English

	// Log receives one record per finished connection. It is called from
	// the event loops and must not block (NewLog queues).
	Log func(Record)
	// Warn receives what is not about one connection (accept failing for
	// lack of descriptors). It must not block.
	Warn func(i18n.Msg)

	Loops int // event loops, default GOMAXPROCS

	// The check page of http endpoints (page.go): its own give-up timer
	// (default page.Timeout), how long it holds working connections open
	// (default page.Hold, negative: not at all), and the server's check of
	// a URL a visitor typed (nil: off).
	PageTimeout time.Duration
	PageHold    time.Duration
	Check       CheckFunc

	// Agent, when set, answers the agent's paths (agent.Prefix) on every
	// http and https endpoint (listen --agent); the info page keeps the rest.
	Agent http.Handler

	noLoop bool // tests: serve plain endpoints with the stream driver too
}

const (
	defaultMaxMessage = 1 << 20
	defaultMaxLine    = 64 << 10
	defaultMaxFrame   = 1 << 20
	defaultMaxBuffer  = 64 << 20
	maxHandshake      = 16 << 10 // WebSocket request headers
	outLimit          = 256 << 10
)

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxMessage, defaultMaxMessage)
	def(&c.MaxLine, defaultMaxLine)
	def(&c.MaxFrame, defaultMaxFrame)
	def(&c.MaxBuffered, defaultMaxBuffer)
	if c.MaxFrame < 4 {
		c.MaxFrame = 4
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Printer == nil {
		c.Printer = i18n.New("en")
	}
	return c
}

// Record describes one finished connection, for the connection log.
type Record struct {
	Time     time.Time // when it ended
	Endpoint string    // the listen URI, canonical form
	Proto    Proto
	Peer     netip.AddrPort
	Local    netip.AddrPort
	In, Out  uint64 // bytes received and sent (TLS: plaintext)
	Duration time.Duration
	Reason   Reason
}

// Reason is why a connection ended: a stable code and a message.
type Reason struct {
	Code string
	Msg  i18n.Msg
}
