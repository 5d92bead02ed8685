package evidence

import (
	"net/netip"
	"testing"
)

var (
	dst = netip.MustParseAddrPort("203.0.113.2:8282")
	r1  = netip.MustParseAddr("198.51.100.1")
	r2  = netip.MustParseAddr("192.0.2.2")
)

func te(ttl int, from netip.Addr) Hop {
	return Hop{TTL: ttl, Kind: HopRouter, From: from, ICMP: &ICMP{Origin: OriginICMP, Type: 11, From: from}}
}
func quiet(ttl int) Hop { return Hop{TTL: ttl, Kind: HopSilent} }
func host(ttl int, open bool) Hop {
	return Hop{TTL: ttl, Kind: HopReached, From: dst.Addr(), Open: open}
}
func icmpErr(ttl int, from netip.Addr, typ, code uint8) Hop {
	return Hop{TTL: ttl, Kind: HopError, From: from, ICMP: &ICMP{Origin: OriginICMP, Type: typ, Code: code, From: from}}
}

func TestPathEnd(t *testing.T) {
	tests := []struct {
		name      string
		p         Path
		kind      PathEndKind
		hop       int
		from      netip.Addr
		mark      string
		hostHop   int
		diesAt    int
		diesKnown bool
	}{
		{"open", Path{Dst: dst, Max: 16, Hops: []Hop{te(1, r1), host(2, true)}}, EndOpen, 2, dst.Addr(), "[open]", 2, 0, false},
		{"closed", Path{Dst: dst, Max: 16, Hops: []Hop{te(1, r1), host(2, false)}}, EndClosed, 2, dst.Addr(), "[closed]", 2, 0, false},
		{"the server rejects", Path{Dst: dst, Max: 16, Hops: []Hop{te(1, r1), icmpErr(2, dst.Addr(), 3, 13)}}, EndRejected, 2, dst.Addr(), "!A", 2, 0, false},
		// A router answers time exceeded at TTL 2 and rejects TTL 3: it sits at hop 2.
		{"a router rejects after its time exceeded", Path{Dst: dst, Max: 16, Hops: []Hop{te(1, r1), te(2, r2), icmpErr(3, r2, 3, 13)}},
			EndRejected, 2, r2, "!A", 0, 0, false},
		// Its time exceeded seen on the reference trace only.
		{"a router rejects, time exceeded on the reference", Path{Dst: dst, Max: 16, RefPort: 22,
			Hops: []Hop{te(1, r1), quiet(2), icmpErr(3, r2, 3, 13)}, Ref: []Hop{te(1, r1), te(2, r2), host(3, true)}},
			EndRejected, 2, r2, "!A", 3, 0, false},
		{"a router rejects at once", Path{Dst: dst, Max: 16, Hops: []Hop{icmpErr(1, r1, 3, 13)}}, EndRejected, 1, r1, "!A", 0, 0, false},
		{"host unreachable", Path{Dst: dst, Max: 16, Hops: []Hop{te(1, r1), icmpErr(2, r2, 3, 1)}}, EndRejected, 2, r2, "!H", 0, 0, false},
		{"net unreachable", Path{Dst: dst, Max: 16, Hops: []Hop{icmpErr(1, r1, 3, 0)}}, EndRejected, 1, r1, "!N", 0, 0, false},
		{"port unreachable from the server", Path{Dst: dst, Max: 16, Hops: []Hop{icmpErr(1, dst.Addr(), 3, 3)}}, EndRejected, 1, dst.Addr(), "[rejected]", 1, 0, false},
		{"an odd code", Path{Dst: dst, Max: 16, Hops: []Hop{icmpErr(1, r1, 3, 5)}}, EndRejected, 1, r1, "!5", 0, 0, false},
		{"dies at the host's hop", Path{Dst: dst, Max: 16, RefPort: 22, Hops: []Hop{te(1, r1), quiet(2)}, Ref: []Hop{te(1, r1), host(2, true)}},
			EndFiltered, 1, r1, "", 2, 2, true},
		{"dies before the last router", Path{Dst: dst, Max: 16, RefPort: 22, Hops: []Hop{te(1, r1), quiet(2)}, Ref: []Hop{te(1, r1), te(2, r2), host(3, true)}},
			EndFiltered, 1, r1, "", 3, 2, true},
		{"no hop answers", Path{Dst: dst, Max: 16, RefPort: 22, Hops: []Hop{quiet(1)}, Ref: []Hop{te(1, r1), host(2, true)}},
			EndFiltered, 0, netip.Addr{}, "", 2, 1, true},
		// A router that answers neither trace: where the SYN dies is open.
		{"a quiet router", Path{Dst: dst, Max: 16, RefPort: 22, Hops: []Hop{te(1, r1), quiet(2)}, Ref: []Hop{te(1, r1), quiet(2), host(3, true)}},
			EndFiltered, 1, r1, "", 3, 0, false},
		// The target port answers beyond a silent hop: it did not die there.
		{"a gap, then answers", Path{Dst: dst, Max: 16, RefPort: 22, Hops: []Hop{te(1, r1), quiet(2), te(3, r2), quiet(4)}, Ref: []Hop{te(1, r1), te(2, r2), te(3, r2), host(4, true)}},
			EndFiltered, 3, r2, "", 4, 0, false},
		{"no reference", Path{Dst: dst, Max: 16, Hops: []Hop{te(1, r1), quiet(2)}}, EndFiltered, 1, r1, "", 0, 0, false},
		{"the reference never reaches the host", Path{Dst: dst, Max: 16, RefPort: 22, Hops: []Hop{te(1, r1), quiet(2)}, Ref: []Hop{te(1, r1), quiet(2)}},
			EndFiltered, 1, r1, "", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.p.End()
			if e.Kind != tt.kind || e.Hop != tt.hop || e.From != tt.from || e.Mark != tt.mark {
				t.Errorf("End() = %s at %d from %s mark %q, want %s at %d from %s mark %q", e.Kind, e.Hop, e.From, e.Mark, tt.kind, tt.hop, tt.from, tt.mark)
			}
			if h := tt.p.HostHop(); h != tt.hostHop {
				t.Errorf("HostHop() = %d, want %d", h, tt.hostHop)
			}
			if at, ok := tt.p.DiesAt(); at != tt.diesAt || ok != tt.diesKnown {
				t.Errorf("DiesAt() = %d, %v, want %d, %v", at, ok, tt.diesAt, tt.diesKnown)
			}
		})
	}
}
