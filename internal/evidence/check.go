package evidence

import (
	"net/netip"
	"time"
)

// Evidence is everything the probes learned about one target.
type Evidence struct {
	Target Target
	Source netip.Addr // --source, when given
	// SourceLocal tells whether Source is an address of this machine (only meaningful when Source is set).
	SourceLocal bool
	DNS         DNS
	Addrs       []AddrEvidence // one per resolved address, in the resolver's order

	// Between the client and the server (name.go).
	Proxy *ProxyEvidence // the client's proxy settings and the test of the proxy
	CDN   []CDNMatch     // target addresses or CNAMEs that are CDN edges, and whoami addresses seen from one

	// NotChecked lists what this system could not show (Unchecked* in
	// unchecked.go): empty on Linux.
	NotChecked []string
	// OS is the system the evidence was gathered on (GOOS; "" is Linux).
	OS string
}

// DNS is what name resolution gave.
type DNS struct {
	Literal   bool         // the host was an address: nothing resolved
	Addresses []netip.Addr // in the resolver's order
	Err       string       // the resolver's error text, when it failed
	NotFound  bool         // NXDOMAIN
	Timeout   bool
	Duration  time.Duration

	// The name's sources beyond the system answer (name.go).
	Hosts    *HostsEntry  // the name's entry in the hosts file, when it has one
	Server   *DNSAnswer   // the first resolv.conf server that answered, asked directly: CNAMEs, TTLs, rcode
	Resolver *DNSAnswer   // --resolver's answer
	ExpectIP netip.Addr   // --expect-ip
	Alt      []AltConnect // connects to addresses other sources gave instead of the system's
}

// PortProbe is a connect to another port of the same address, used to tell
// "host alive" from "host down".
type PortProbe struct {
	Port     uint16
	Kind     Kind
	Duration time.Duration
	ICMP     *ICMP // the ICMP error that ended the connect, when the kernel kept one
}

// AddrEvidence is what was learned about one address of the target.
type AddrEvidence struct {
	Addr    netip.AddrPort
	Connect Connect // the verdict-bearing connect to the target port
	SYNs    int     // connect attempts in flight toward the target port
	// Wait is how long the target port was given once another port had answered
	// (adaptive, from the measured round trip); zero when the full timeout applied.
	Wait    time.Duration
	Timeout time.Duration // the --timeout in force
	RTT     time.Duration // smallest round trip measured on any port, zero if none answered
	Others  []PortProbe

	Route    *Route // nil when the lookup failed
	RouteErr string
	// ICMPFromLocal: the ICMP error came from this machine itself (failed
	// neighbour lookup, or a REJECT rule in its own OUTPUT chain).
	ICMPFromLocal bool
	Neigh         string // neighbour state of the next hop ("INCOMPLETE", "FAILED", ...), "" if unknown
	NextHop       netip.Addr
	// Outgoing is this machine's own OUTPUT rules walked for the connection,
	// when the connect failed in a way they could explain; nil when not read.
	Outgoing *OutgoingEvidence

	Local     bool     // the address belongs to this machine
	Listeners []Socket // LISTEN sockets on the target port, when Local
	Usage     *PortUsage
	NoFile    *Limit // descriptor limit, when the connect hit it

	// Whoami is the answer of a conndiag listen endpoint, when the target is one.
	Whoami *Whoami

	// Path is the trace toward the target port (and a port of the host
	// that answers), when the connection timed out or was rejected, or
	// --trace asked for it.
	Path *Path
	// Agent is what a conndiag listen --agent on the server saw while this
	// client retried (check --agent), when asked.
	Agent *AgentWatch

	// Proto is what the protocol step learned after TCP connected (nil when it did not run).
	Proto *ProtoEvidence

	// Lost counts the SYNs to the target port that got no answer although a
	// SYN sent at least two round trips after them did: the port answers some
	// SYNs and not others. Zero when no answer came, or none was lost.
	Lost int
	// AnsweredSYN is which SYN to the target port got the answer (1 for the
	// first); zero when none did.
	AnsweredSYN int
	// AfterAccept is what a plain TCP target did on the accepted connection
	// while conndiag watched it briefly, sending nothing (nil: not watched).
	AfterAccept *Exchange
	// Elsewhere are the target's own protocol spoken to other ports of the
	// host after the target port refused (the probe ports that accepted, the
	// listeners of this machine): where the expected service may really be.
	Elsewhere []Elsewhere
}

// Elsewhere is the target's protocol tried on another port of the same host.
type Elsewhere struct {
	Port uint16
	// Listener: the port was found among this machine's listening sockets
	// (rather than among the probe ports that accepted).
	Listener bool
	Connect  Connect
	Proto    *ProtoEvidence // nil when the connect failed
}

// Speaks reports whether the port completed the target's own protocol: a
// WebSocket upgrade, an HTTP answer of 2xx or 3xx, a TLS handshake, a
// Workerman text or frame answer (or a conndiag endpoint's whoami).
func (e Elsewhere) Speaks() bool {
	p := e.Proto
	if p == nil || e.Connect.Kind != OK {
		return false
	}
	if p.TLS != nil && !p.TLS.Done {
		return false
	}
	switch p.Protocol {
	case ProtoWebSocket:
		return p.WS != nil && p.WS.Upgraded
	case ProtoHTTP:
		return p.HTTP != nil && p.HTTP.Cut == CutNone && p.HTTP.Status >= 200 && p.HTTP.Status < 400
	case ProtoTLS:
		return p.TLS != nil
	case ProtoText, ProtoFrame:
		m := p.Message
		if m == nil || m.Reply != ReplyAnswered || m.Cut != CutNone {
			return false
		}
		want := SvcText
		if p.Protocol == ProtoFrame {
			want = SvcFrame
		}
		return m.Whoami != nil || m.Service.Name == want || m.Service.Name == SvcEcho && p.Protocol == ProtoText
	}
	return false
}

// Limit is a soft/hard resource limit and the current use.
type Limit struct{ Soft, Hard, Open uint64 }

// OthersUnreachable reports whether another port of the address drew an
// ICMP host or network unreachable.
func (a AddrEvidence) OthersUnreachable() bool {
	for _, p := range a.Others {
		if p.Kind == HostUnreachable || p.Kind == NetUnreachable {
			return true
		}
	}
	return false
}

// Alive reports whether any other port answered (SYN-ACK or RST).
func (a AddrEvidence) Alive() bool {
	for _, p := range a.Others {
		if p.Kind == OK || p.Kind == Refused {
			return true
		}
	}
	return false
}

// ProxyEvidence is the client's proxy configuration and the test of the proxy.
type ProxyEvidence struct {
	Choice ProxyChoice
	Result *ProxyResult // nil when no proxy applies to the target or it could not be tested
}

// AltConnect is a connect to an address another source gave for the name
// (the DNS answer a hosts entry overrides, --resolver's answer, --expect-ip).
type AltConnect struct {
	Addr   netip.AddrPort
	Result Connect
}

// ProtoEvidence is what the protocol step learned once TCP had connected.
type ProtoEvidence struct {
	Protocol Protocol
	TLS      *TLS          // wss, https, tls: the handshake
	HTTP     *HTTP         // http, https: the request
	WS       *WebSocket    // ws, wss: the opening handshake
	Message  *Message      // text, frame, and the whoami line on tcp
	Tries    []Try         // fingerprints on fresh connections, after a failure
	Timeout  time.Duration // how long a handshake answer was waited for
	Wait     time.Duration // how long silence was waited out where it is an acceptable answer

	// What a refused WebSocket handshake led to (each on fresh connections).
	OriginRetry *Retry  // after a 401 or 403: the same handshake with another Origin, or none
	Redirects   []Retry // the Location of a redirect, followed hop by hop (same host only)
	// RedirectStop says why the redirects were not followed further; "" when
	// the last hop answered without redirecting.
	RedirectStop RedirectStop
	RedirectNext string // the Location not followed, raw
	// Holders are the processes listening on the target port, read when the
	// server closed connections before reading and the target is this machine.
	Holders []Owner
	MSS     *MSSRetry // the stalled step again with a small MSS (a path MTU black hole lets it through)
}

// SmallMSS is the MSS the retry of a stalled answer asks for (TCP_MAXSEG
// before connect): the IPv4 minimum every path carries (RFC 879).
const SmallMSS = 536

// MSSRetry is the protocol step that stalled, again on a fresh connection
// whose SYN announces a small MSS, so the server sends only small segments.
type MSSRetry struct {
	MSS     int        // the MSS asked for; 0 for the control (the system's)
	Connect Connect    // the fresh connection
	Stage   string     // what stalled and was retried: "tls", "websocket", "http"
	TLS     *TLS       // the handshake again (TLS targets)
	WS      *WebSocket // the WebSocket handshake again, when that stalled
	HTTP    *HTTP      // the HTTP request again, when that stalled
	// Control is the same retry at the same time with the system's MSS: on a
	// black hole it stalls too; when it gets through, the stall was
	// intermittent (a dead backend behind a balancer, load), not the MTU.
	Control *MSSRetry
}

// BlackHole reports whether the retries show a path MTU black hole: the
// small-MSS retry got through and its control, with the system's MSS,
// connected and stalled again.
func (m *MSSRetry) BlackHole() bool {
	return m.Passed() && m.Control != nil && m.Control.Connect.Kind == OK && !m.Control.Passed()
}

// Passed reports whether the retry got through the stage that stalled.
func (m *MSSRetry) Passed() bool {
	if m == nil || m.Connect.Kind != OK {
		return false
	}
	switch m.Stage {
	case "tls":
		return m.TLS != nil && m.TLS.Done
	case "websocket":
		return m.WS != nil && m.WS.Status != 0 && m.WS.Cut == CutNone
	case "http":
		return m.HTTP != nil && m.HTTP.Status != 0 && m.HTTP.Cut == CutNone
	}
	return false
}

// Retry is one more WebSocket handshake on a fresh connection that changes
// one thing the first answer called for: the Origin, or the URL.
type Retry struct {
	URL     Target // the scheme, host, port and path asked for
	Addr    netip.AddrPort
	TLS     *TLS       // wss: the handshake
	WS      *WebSocket // nil when the connection or TLS failed
	DialErr error
}

// Upgraded reports whether the handshake of the retry succeeded.
func (r *Retry) Upgraded() bool { return r != nil && r.WS != nil && r.WS.Upgraded }

// RedirectStop is why a redirect was not followed.
type RedirectStop string

const (
	StopNone      RedirectStop = ""
	StopOtherHost RedirectStop = "other_host" // the Location names another host
	StopScheme    RedirectStop = "scheme"     // not http, https, ws or wss
	StopLimit     RedirectStop = "limit"      // MaxRedirects hops redirected again
	StopLoop      RedirectStop = "loop"       // a hop redirected to a URL already asked
	StopBad       RedirectStop = "bad"        // the Location is not a URL
)

// MaxRedirects bounds the redirects check follows.
const MaxRedirects = 3

// Step is one conversation of the protocol step, for showing the exchange.
type Step struct {
	Name string // tls, websocket, http, text, frame, tcp, try_tls, try_http, try_frame, try_text, tls_legacy, small_mss_* and default_mss_* (tls, websocket, http)
	Exchange
}

// Steps lists the conversations in the order they happened.
func (p *ProtoEvidence) Steps() []Step {
	var out []Step
	if p.TLS != nil {
		out = append(out, Step{"tls", p.TLS.Exchange})
	}
	switch {
	case p.WS != nil:
		out = append(out, Step{"websocket", p.WS.Exchange})
	case p.HTTP != nil:
		out = append(out, Step{"http", p.HTTP.Exchange})
	case p.Message != nil:
		out = append(out, Step{string(p.Protocol), p.Message.Exchange})
	}
	for _, t := range p.Tries {
		if t.DialErr == nil {
			out = append(out, Step{"try_" + string(t.Kind), t.Exchange})
		}
	}
	retry := func(name string, r *Retry) {
		if r.TLS != nil {
			out = append(out, Step{name + "_tls", r.TLS.Exchange})
		}
		if r.WS != nil {
			out = append(out, Step{name, r.WS.Exchange})
		}
	}
	if p.OriginRetry != nil {
		retry("origin_retry", p.OriginRetry)
	}
	for i := range p.Redirects {
		retry("redirect", &p.Redirects[i])
	}
	if p.TLS != nil && p.TLS.Legacy != nil && p.TLS.Legacy.SentN > 0 {
		out = append(out, Step{"tls_legacy", p.TLS.Legacy.Exchange})
	}
	for m, name := p.MSS, "small_mss_"; m != nil; m, name = m.Control, "default_mss_" {
		if m.TLS != nil {
			out = append(out, Step{name + "tls", m.TLS.Exchange})
		}
		switch {
		case m.WS != nil:
			out = append(out, Step{name + "websocket", m.WS.Exchange})
		case m.HTTP != nil:
			out = append(out, Step{name + "http", m.HTTP.Exchange})
		}
	}
	return out
}
