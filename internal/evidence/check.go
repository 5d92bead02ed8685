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

	Local     bool     // the address belongs to this machine
	Listeners []Socket // LISTEN sockets on the target port, when Local
	Usage     *PortUsage
	NoFile    *Limit // descriptor limit, when the connect hit it

	// Whoami is the answer of a conndiag listen endpoint, when the target is one.
	Whoami *Whoami

	// Trace is the path found by --trace, when asked for and the connection failed.
	Trace []Hop

	// Proto is what the protocol step learned after TCP connected (nil when it did not run).
	Proto *ProtoEvidence
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
}

// Step is one conversation of the protocol step, for showing the exchange.
type Step struct {
	Name string // tls, websocket, http, text, frame, tcp, try_tls, try_http, try_frame, try_text
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
	return out
}

// HopKind is what answered a TTL-limited SYN.
type HopKind string

const (
	HopRouter  HopKind = "router"  // ICMP time exceeded: a router on the way
	HopReached HopKind = "reached" // the destination answered (SYN-ACK or RST)
	HopError   HopKind = "error"   // another ICMP error (unreachable, prohibited)
	HopSilent  HopKind = "silent"  // nothing within the wait
)

// Hop is one step of --trace.
type Hop struct {
	TTL  int
	Kind HopKind
	From netip.Addr
	RTT  time.Duration
	ICMP string // description of an ICMP error
}
