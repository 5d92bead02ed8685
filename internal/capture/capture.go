// Package capture watches the SYNs that reach this host for some TCP ports,
// and how the host answers each: with a SYN-ACK (something accepts), an RST
// (nothing listens, or a reject rule resets), or not at all (a firewall rule
// dropped it, or the accept queue was full).
//
// It opens one AF_PACKET socket on every interface with a classic BPF
// filter, so the kernel hands over only inbound SYNs to the ports and the
// host's own SYN-ACKs and RSTs from them, cut to their headers. AF_PACKET
// sees a packet before the firewall does, so a SYN that a local rule drops
// is still seen, while one dropped on the way to the host never is. No cgo
// and no libpcap are needed; opening the socket needs root (CAP_NET_RAW).
package capture

import (
	"encoding/binary"
	"net/netip"
	"sort"
	"time"
)

// Answer is how the host answered a SYN.
type Answer string

const (
	SynAck Answer = "syn-ack"
	RST    Answer = "rst"
	None   Answer = "none"
)

// TCP flags.
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagACK = 0x10
)

// Segment is the part of a TCP segment the watch needs.
type Segment struct {
	Src, Dst netip.AddrPort
	Flags    uint8
}

// IsSYN: a connection request (SYN without ACK).
func (s Segment) IsSYN() bool { return s.Flags&(flagSYN|flagACK) == flagSYN }

// IsSynAck: the answer of a listening socket.
func (s Segment) IsSynAck() bool { return s.Flags&(flagSYN|flagACK) == flagSYN|flagACK }

// IsRST: a reset.
func (s Segment) IsRST() bool { return s.Flags&flagRST != 0 }

// maxExtHeaders bounds the walk over IPv6 extension headers.
const maxExtHeaders = 8

// Decode reads an IPv4 or IPv6 packet (from its IP header on, as a
// SOCK_DGRAM packet socket delivers it) carrying the start of a TCP
// segment. It reports false for anything else, truncated or malformed.
func Decode(b []byte) (Segment, bool) {
	if len(b) < 1 {
		return Segment{}, false
	}
	var src, dst netip.Addr
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return Segment{}, false
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl || b[9] != 6 {
			return Segment{}, false
		}
		if binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 {
			return Segment{}, false // a later fragment: no TCP header
		}
		src = netip.AddrFrom4([4]byte(b[12:16]))
		dst = netip.AddrFrom4([4]byte(b[16:20]))
		l4 = b[ihl:]
	case 6:
		if len(b) < 40 {
			return Segment{}, false
		}
		src = netip.AddrFrom16([16]byte(b[8:24]))
		dst = netip.AddrFrom16([16]byte(b[24:40]))
		next, rest := b[6], b[40:]
		for i := 0; next != 6; i++ {
			if i >= maxExtHeaders || len(rest) < 8 {
				return Segment{}, false
			}
			switch next {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				n := (int(rest[1]) + 1) * 8
				if len(rest) < n {
					return Segment{}, false
				}
				next, rest = rest[0], rest[n:]
			case 44: // fragment
				if binary.BigEndian.Uint16(rest[2:4])&0xfff8 != 0 {
					return Segment{}, false
				}
				next, rest = rest[0], rest[8:]
			default:
				return Segment{}, false
			}
		}
		l4 = rest
	default:
		return Segment{}, false
	}
	if len(l4) < 14 {
		return Segment{}, false
	}
	return Segment{
		Src:   netip.AddrPortFrom(src, binary.BigEndian.Uint16(l4[0:2])),
		Dst:   netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4[2:4])),
		Flags: l4[13],
	}, true
}

// SYN is one client's connection attempt: its SYN (and retransmissions) and
// the host's answer.
type SYN struct {
	From   netip.AddrPort // the client
	To     netip.AddrPort // the address and port it asked for
	First  time.Time
	Last   time.Time
	Count  int // SYNs seen, retransmissions included
	Answer Answer
}

type flowKey struct{ client, server netip.AddrPort }

// Tracker pairs SYNs with the host's answers, in bounded memory.
type Tracker struct {
	ports map[uint16]bool // nil: every port
	max   int
	flows map[flowKey]*SYN
	order []*SYN
	// Untracked counts SYNs of new attempts beyond the limit.
	Untracked int
	closed    bool // the window is over: only answers to the attempts seen are taken
}

// Close ends the window: later SYNs of new attempts are not tracked, while
// answers to the attempts already seen still are.
func (t *Tracker) Close() { t.closed = true }

// DefaultMaxFlows bounds the attempts a Tracker remembers.
const DefaultMaxFlows = 4096

// NewTracker follows SYNs to ports (all ports if empty), remembering at most
// max attempts (DefaultMaxFlows if max <= 0).
func NewTracker(ports []uint16, max int) *Tracker {
	if max <= 0 {
		max = DefaultMaxFlows
	}
	t := &Tracker{max: max, flows: map[flowKey]*SYN{}}
	if len(ports) > 0 {
		t.ports = map[uint16]bool{}
		for _, p := range ports {
			t.ports[p] = true
		}
	}
	return t
}

func (t *Tracker) watched(port uint16) bool { return t.ports == nil || t.ports[port] }

// Add takes one segment: an inbound SYN, or the host's SYN-ACK or RST.
func (t *Tracker) Add(s Segment, at time.Time) {
	src, dst := unmap(s.Src), unmap(s.Dst)
	switch {
	case s.IsSYN() && !s.IsRST() && t.watched(dst.Port()):
		k := flowKey{src, dst}
		if f := t.flows[k]; f != nil {
			f.Count++
			f.Last = at
			return
		}
		if t.closed {
			return
		}
		if len(t.order) >= t.max {
			t.Untracked++
			return
		}
		f := &SYN{From: src, To: dst, First: at, Last: at, Count: 1, Answer: None}
		t.flows[k] = f
		t.order = append(t.order, f)
	case (s.IsSynAck() || s.IsRST()) && t.watched(src.Port()):
		f := t.flows[flowKey{dst, src}]
		if f == nil {
			return // an answer to a SYN from before the watch began
		}
		if s.IsSynAck() {
			f.Answer = SynAck
		} else if f.Answer != SynAck {
			f.Answer = RST
		}
	}
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// SYNs returns the attempts seen, in the order they began.
func (t *Tracker) SYNs() []SYN {
	out := make([]SYN, len(t.order))
	for i, f := range t.order {
		out[i] = *f
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].First.Before(out[j].First) })
	return out
}
