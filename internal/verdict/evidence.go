package verdict

import (
	"net/netip"
	"time"

	"github.com/conndiag/conndiag/internal/cdn"
	"github.com/conndiag/conndiag/internal/dnsprobe"
	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/target"
)

// Evidence is everything the probes learned about one target.
type Evidence struct {
	Target target.Target
	Source netip.Addr // --source, when given
	// SourceLocal tells whether Source is an address of this machine (only meaningful when Source is set).
	SourceLocal bool
	DNS         DNS
	Addrs       []AddrEvidence // one per resolved address, in the resolver's order

	// Between the client and the server (name.go).
	Proxy *ProxyEvidence // the client's proxy settings and the test of the proxy
	CDN   []cdn.Match    // target addresses or CNAMEs that are CDN edges, and whoami addresses seen from one
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
	Hosts    *dnsprobe.HostsEntry // the name's entry in the hosts file, when it has one
	Server   *dnsprobe.Answer     // the first resolv.conf server that answered, asked directly: CNAMEs, TTLs, rcode
	Resolver *dnsprobe.Answer     // --resolver's answer
	ExpectIP netip.Addr           // --expect-ip
	Alt      []AltConnect         // connects to addresses other sources gave instead of the system's
}

// PortProbe is a connect to another port of the same address, used to tell
// "host alive" from "host down".
type PortProbe struct {
	Port     uint16
	Kind     neterr.Kind
	Duration time.Duration
}

// AddrEvidence is what was learned about one address of the target.
type AddrEvidence struct {
	Addr    netip.AddrPort
	Connect neterr.Result // the verdict-bearing connect to the target port
	SYNs    int           // connect attempts in flight toward the target port
	// Wait is how long the target port was given once another port had answered
	// (adaptive, from the measured round trip); zero when the full timeout applied.
	Wait    time.Duration
	Timeout time.Duration // the --timeout in force
	RTT     time.Duration // smallest round trip measured on any port, zero if none answered
	Others  []PortProbe

	Route    *host.Route // nil when the lookup failed
	RouteErr string
	// ICMPFromLocal: the ICMP error came from this machine itself (failed
	// neighbour lookup, or a REJECT rule in its own OUTPUT chain).
	ICMPFromLocal bool
	Neigh         string // neighbour state of the next hop ("INCOMPLETE", "FAILED", ...), "" if unknown
	NextHop       netip.Addr

	Local     bool          // the address belongs to this machine
	Listeners []host.Socket // LISTEN sockets on the target port, when Local
	Usage     *host.PortUsage
	NoFile    *Limit // descriptor limit, when the connect hit it

	// Whoami is the answer of a conndiag listen endpoint, when the target is one.
	Whoami *Whoami

	// Trace is the path found by --trace, when asked for and the connection failed.
	Trace []Hop

	// Proto is what the protocol step learned after TCP connected (nil when it did not run).
	Proto *ProtoEvidence
}

// Whoami is what a conndiag listen endpoint reports about the connection it saw.
type Whoami struct {
	Proto   string         // the endpoint's protocol: websocket, http, text, frame, tcp
	Version string         // conndiag version of the endpoint
	Client  netip.AddrPort // the client address as the server saw it
	Server  netip.AddrPort // the server address the connection arrived at
}

// Limit is a soft/hard resource limit and the current use.
type Limit struct{ Soft, Hard, Open uint64 }

// othersUnreachable reports whether another port of the address drew an
// ICMP host or network unreachable.
func (a AddrEvidence) othersUnreachable() bool {
	for _, p := range a.Others {
		if p.Kind == neterr.HostUnreachable || p.Kind == neterr.NetUnreachable {
			return true
		}
	}
	return false
}

// Alive reports whether any other port answered (SYN-ACK or RST).
func (a AddrEvidence) Alive() bool {
	for _, p := range a.Others {
		if p.Kind == neterr.OK || p.Kind == neterr.Refused {
			return true
		}
	}
	return false
}
