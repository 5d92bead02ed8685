package evidence

import (
	"net/netip"
	"slices"
)

// CDNProvider is a CDN or acceleration proxy.
type CDNProvider struct {
	ID   string // stable short name: "cloudflare"; "" for a provider named only in a user's file
	Name string // for people: "Cloudflare"
	// Ports the edge forwards to the origin. Empty when the provider publishes
	// no list; Forwards then assumes the HTTP and HTTPS defaults, 80 and 443.
	HTTPPorts, HTTPSPorts []uint16
	// Documented: the port list is the provider's own documented one, so a
	// port outside it is certainly not forwarded.
	Documented bool
	// TCPProduct is the provider's product that forwards arbitrary TCP ports, when it has one.
	TCPProduct string
	// Suffixes are the DNS suffixes of its edge names, as met in CNAME chains.
	Suffixes []string
}

// CDNDefaultPorts are what an edge without a published port list is assumed to forward.
var CDNDefaultPorts = []uint16{80, 443}

// Ports lists the ports the edge forwards, sorted: the published ones, or DefaultPorts.
func (p CDNProvider) Ports() []uint16 {
	ps := append(append([]uint16(nil), p.HTTPPorts...), p.HTTPSPorts...)
	if len(ps) == 0 {
		ps = append(ps, CDNDefaultPorts...)
	}
	slices.Sort(ps)
	return slices.Compact(ps)
}

// Forwards reports whether the edge forwards port to the origin.
func (p CDNProvider) Forwards(port uint16) bool { return slices.Contains(p.Ports(), port) }

// Label names the provider for people; a range from a user's file with no name gets "".
func (p CDNProvider) Label() string { return p.Name }

// CDNRange is one edge prefix of a provider.
type CDNRange struct {
	Prefix   netip.Prefix
	Provider CDNProvider
	Source   string // the list it came from: "ranges/cloudflare.txt" or the user's file
	Line     int
	Date     string // the list's date ("# date:" header), when it has one
}

// CDNMatch is how an address or a name was recognised as a CDN edge.
type CDNMatch struct {
	Provider CDNProvider
	Addr     netip.Addr // the address found in a range; invalid for a CNAME match
	Range    CDNRange   // the range that holds Addr
	CNAME    string     // the name whose suffix matched, for a CNAME match
	Suffix   string
	// Seen: Addr is the client address a server reported (conndiag listen's
	// whoami), not an address of the target.
	Seen bool
}

// ByRange reports whether the match came from an address range.
func (m CDNMatch) ByRange() bool { return m.Addr.IsValid() }
