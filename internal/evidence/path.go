package evidence

import (
	"net/netip"
	"strconv"
	"time"
)

// HopKind is what answered a TTL-limited SYN.
type HopKind string

const (
	HopRouter  HopKind = "router"  // ICMP time exceeded: a router on the way
	HopReached HopKind = "reached" // the destination answered (SYN-ACK or RST)
	HopError   HopKind = "error"   // another ICMP error (unreachable, prohibited)
	HopSilent  HopKind = "silent"  // nothing within the wait
)

// Hop is what the SYN sent with one TTL met.
type Hop struct {
	TTL  int
	Kind HopKind
	From netip.Addr    // who answered; invalid for a silent hop
	Name string        // From's reverse DNS name, when it resolved quickly
	RTT  time.Duration // from the SYN to the answer
	// ICMP is the error of a HopError (and the time exceeded of a router).
	ICMP *ICMP
	Open bool // HopReached: a SYN-ACK (else an RST)
}

// Answered: something came back for this TTL.
func (h Hop) Answered() bool { return h.Kind != HopSilent && h.Kind != "" }

// Path is the trace of one address: SYNs with TTL 1, 2, … toward the target
// port, all sent at once, and beside them the same toward a port of the host
// that answered, whose first answer from the host tells at which hop the
// host itself sits.
type Path struct {
	Dst  netip.AddrPort
	Hops []Hop // toward Dst, by TTL from 1, ending at the first hop that settles it (or one silent hop after the last answer)
	// RefPort is the port of the host traced beside it (0: none answered);
	// Ref its hops, ending where the host answered.
	RefPort uint16
	Ref     []Hop
	Max     int           // the highest TTL sent
	Wait    time.Duration // how long silent SYNs were given
	Asked   bool          // --trace asked for it (else the failure did)
}

// PathEndKind is how the trace toward the target port ends.
type PathEndKind string

const (
	EndOpen     PathEndKind = "open"     // SYN-ACK from the target
	EndClosed   PathEndKind = "closed"   // RST from the target
	EndRejected PathEndKind = "rejected" // an ICMP error: prohibited, unreachable
	EndFiltered PathEndKind = "filtered" // silence after the last answering hop
)

// PathEnd is where and how the trace ended.
type PathEnd struct {
	Kind PathEndKind
	// Hop is the TTL that answered open, closed or rejected; for filtered,
	// the last hop that answered (0: none did).
	Hop  int
	From netip.Addr
	ICMP *ICMP
	// Mark is how traceroute users read it: "[open]", "[closed]",
	// "!A" (administratively prohibited), "!H", "!N", "[rejected]" (port
	// unreachable), "!CODE"; "" for filtered.
	Mark string
}

// End says where the trace toward the target port ended.
func (p Path) End() PathEnd {
	last := PathEnd{Kind: EndFiltered}
	for _, h := range p.Hops {
		switch h.Kind {
		case HopReached:
			e := PathEnd{Kind: EndClosed, Hop: h.TTL, From: h.From, Mark: "[closed]"}
			if h.Open {
				e.Kind, e.Mark = EndOpen, "[open]"
			}
			return e
		case HopError:
			e := PathEnd{Kind: EndRejected, Hop: h.TTL, From: h.From, ICMP: h.ICMP, Mark: ICMPMark(h.ICMP)}
			// A router checks the TTL before its forwarding rules: the box
			// that rejects at TTL n+1 answered TTL n with time exceeded, and
			// sits at hop n.
			if r := p.routerHop(h.From, h.TTL); r != 0 {
				e.Hop = r
			}
			return e
		case HopRouter:
			last.Hop, last.From = h.TTL, h.From
		}
	}
	return last
}

// routerHop is the lowest TTL below before at which from answered with
// time exceeded, on either trace; 0 when it did not.
func (p Path) routerHop(from netip.Addr, before int) int {
	best := 0
	for _, hs := range [][]Hop{p.Hops, p.Ref} {
		for _, h := range hs {
			if h.TTL < before && h.Kind == HopRouter && h.From == from && (best == 0 || h.TTL < best) {
				best = h.TTL
			}
		}
	}
	return best
}

// ICMPMark is the traceroute mark of an ICMP error.
func ICMPMark(ic *ICMP) string {
	switch {
	case ic == nil:
		return "!?"
	case ic.Prohibited():
		return "!A"
	case ic.PortUnreachable():
		return "[rejected]"
	case ic.is(3, 1) || ic.is(3, 7) || ic.is6(1, 3):
		return "!H"
	case ic.is(3, 0) || ic.is(3, 6) || ic.is6(1, 0):
		return "!N"
	}
	return "!" + strconv.Itoa(int(ic.Code))
}

// HostHop is the TTL at which the host itself answered, on either trace
// (a SYN-ACK, an RST, or an ICMP error sent by the target address); 0 when
// neither got that far.
func (p Path) HostHop() int {
	best := 0
	for _, hs := range [][]Hop{p.Hops, p.Ref} {
		for _, h := range hs {
			if h.Kind == HopReached || h.Kind == HopError && h.From == p.Dst.Addr() {
				if best == 0 || h.TTL < best {
					best = h.TTL
				}
				break
			}
		}
	}
	return best
}

func hopAt(hs []Hop, ttl int) Hop {
	for _, h := range hs {
		if h.TTL == ttl {
			return h
		}
	}
	return Hop{TTL: ttl, Kind: HopSilent}
}

// At is the hop of TTL ttl toward the target port (silent when not kept).
func (p Path) At(ttl int) Hop { return hopAt(p.Hops, ttl) }

// RefAt is the hop of TTL ttl toward RefPort (silent when not kept).
func (p Path) RefAt(ttl int) Hop { return hopAt(p.Ref, ttl) }

// DiesAt is the first TTL whose SYN to the target port got no answer while
// the SYN to the answering port did, with no answer for the target port
// beyond it: the target port's SYN is dropped on the way to that hop, while
// another port's goes on. ok is false without a reference trace, or when
// the two do not part that way (at the first hop the target port's SYN does
// not reach, a router that answers neither leaves open where it dies).
func (p Path) DiesAt() (int, bool) {
	if p.RefPort == 0 || p.End().Kind != EndFiltered {
		return 0, false
	}
	host := p.HostHop()
	if host == 0 {
		return 0, false
	}
	for t := 1; t <= host; t++ {
		if p.At(t).Answered() {
			continue
		}
		if !p.RefAt(t).Answered() {
			return 0, false // a hop that answers neither: the SYN may die there or beyond
		}
		for u := t + 1; u <= p.Max; u++ {
			if p.At(u).Answered() {
				return 0, false
			}
		}
		return t, true
	}
	return 0, false
}
