package diagnose

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/verdict"
)

func TestHopOf(t *testing.T) {
	dst := netip.MustParseAddr("203.0.113.2")
	r1 := netip.MustParseAddr("198.51.100.1")
	tests := []struct {
		name string
		r    neterr.Result
		kind verdict.HopKind
		from netip.Addr
		open bool
	}{
		{"SYN-ACK", neterr.Result{Kind: neterr.OK}, verdict.HopReached, dst, true},
		{"RST", neterr.Result{Kind: neterr.Refused}, verdict.HopReached, dst, false},
		{"time exceeded", neterr.Result{Kind: neterr.HostUnreachable, ICMP: &evidence.ICMP{Origin: evidence.OriginICMP, Type: 11, From: r1}}, verdict.HopRouter, r1, false},
		{"prohibited", neterr.Result{Kind: neterr.HostUnreachable, ICMP: &evidence.ICMP{Origin: evidence.OriginICMP, Type: 3, Code: 13, From: r1}}, verdict.HopError, r1, false},
		// A port unreachable is ECONNREFUSED too, but an ICMP error, not an RST.
		{"port unreachable", neterr.Result{Kind: neterr.Refused, ICMP: &evidence.ICMP{Origin: evidence.OriginICMP, Type: 3, Code: 3, From: dst}}, verdict.HopError, dst, false},
		{"silence", neterr.Result{Kind: neterr.Timeout, Duration: time.Second}, verdict.HopSilent, netip.Addr{}, false},
	}
	for _, tt := range tests {
		h := hopOf(3, tt.r, dst)
		if h.TTL != 3 || h.Kind != tt.kind || h.From != tt.from || h.Open != tt.open {
			t.Errorf("%s: got %+v, want %s from %s open %v", tt.name, h, tt.kind, tt.from, tt.open)
		}
		if h.Kind == verdict.HopSilent && h.RTT != 0 {
			t.Errorf("%s: a silent hop has no round trip: %v", tt.name, h.RTT)
		}
	}
}

func TestSettledAndTrim(t *testing.T) {
	r := func(ttl int) *verdict.Hop { return &verdict.Hop{TTL: ttl, Kind: verdict.HopRouter} }
	s := func(ttl int) *verdict.Hop { return &verdict.Hop{TTL: ttl, Kind: verdict.HopSilent} }
	reach := func(ttl int) *verdict.Hop { return &verdict.Hop{TTL: ttl, Kind: verdict.HopReached} }
	errh := func(ttl int) *verdict.Hop { return &verdict.Hop{TTL: ttl, Kind: verdict.HopError} }
	tests := []struct {
		name    string
		hs      []*verdict.Hop // index 0 unused, as trace keeps them
		settled bool
		kept    int // hops trimHops keeps of the flattened list
	}{
		{"reached with every lower hop", []*verdict.Hop{nil, r(1), r(2), reach(3), nil, nil}, true, 3},
		{"rejected", []*verdict.Hop{nil, r(1), errh(2), nil, nil}, true, 2},
		{"reached, a lower hop still out", []*verdict.Hop{nil, r(1), nil, reach(3), nil}, false, 3},
		{"reached, a lower hop silent", []*verdict.Hop{nil, s(1), r(2), reach(3)}, false, 3},
		{"routers, then silence", []*verdict.Hop{nil, r(1), r(2), s(3), s(4), s(5)}, false, 3},
		{"nothing at all", []*verdict.Hop{nil, s(1), s(2), s(3)}, false, 1},
	}
	for _, tt := range tests {
		if got := settled(tt.hs); got != tt.settled {
			t.Errorf("%s: settled = %v, want %v", tt.name, got, tt.settled)
		}
		flat := flatten(tt.hs)
		for i, h := range flat {
			if h.TTL != i+1 {
				t.Fatalf("%s: flatten: hop %d has TTL %d", tt.name, i, h.TTL)
			}
		}
		if got := trimHops(flat); len(got) != tt.kept {
			t.Errorf("%s: trimHops kept %d hops, want %d: %+v", tt.name, len(got), tt.kept, got)
		}
	}
}

func TestTraceGiveUp(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct{ rtt, min, limit, want time.Duration }{
		{50 * time.Microsecond, 200 * ms, time.Second, 200 * ms}, // a LAN: the minimum
		{40 * ms, 200 * ms, time.Second, 400 * ms},               // ten times the farthest answer
		{300 * ms, 200 * ms, time.Second, time.Second},           // never more than the limit
		{300 * ms, 200 * ms, 500 * ms, 500 * ms},                 // a short --timeout
	} {
		if got := traceGiveUp(tt.rtt, tt.min, tt.limit); got != tt.want {
			t.Errorf("traceGiveUp(%v, %v, %v) = %v, want %v", tt.rtt, tt.min, tt.limit, got, tt.want)
		}
	}
}

func TestTraceWanted(t *testing.T) {
	fromRouter := &evidence.ICMP{Origin: evidence.OriginICMP, Type: 3, Code: 13, From: netip.MustParseAddr("198.51.100.1")}
	fromHere := &evidence.ICMP{Origin: evidence.OriginLocal}
	c := func(k neterr.Kind, ic *evidence.ICMP) neterr.Result { return neterr.Result{Kind: k, ICMP: ic} }
	tests := []struct {
		name        string
		ev          verdict.AddrEvidence
		asked, want bool
	}{
		{"timeout", verdict.AddrEvidence{Connect: c(neterr.Timeout, nil)}, false, true},
		{"rejected by a box on the way", verdict.AddrEvidence{Connect: c(neterr.HostUnreachable, fromRouter)}, false, true},
		{"closed port", verdict.AddrEvidence{Connect: c(neterr.Refused, nil)}, false, false},
		{"closed port, --trace", verdict.AddrEvidence{Connect: c(neterr.Refused, nil)}, true, true},
		{"open, --trace", verdict.AddrEvidence{Connect: c(neterr.OK, nil)}, true, true},
		{"open", verdict.AddrEvidence{Connect: c(neterr.OK, nil)}, false, false},
		{"this machine", verdict.AddrEvidence{Connect: c(neterr.Timeout, nil), Local: true}, true, false},
		{"this machine answered", verdict.AddrEvidence{Connect: c(neterr.HostUnreachable, fromHere), ICMPFromLocal: true}, true, false},
		{"neighbour failed", verdict.AddrEvidence{Connect: c(neterr.Timeout, nil), Neigh: "FAILED"}, true, false},
		{"out of descriptors", verdict.AddrEvidence{Connect: c(neterr.Timeout, nil), NoFile: &evidence.Limit{}}, true, false},
		{"no address to send from", verdict.AddrEvidence{Connect: c(neterr.AddrNotAvailable, nil)}, true, false},
	}
	for _, tt := range tests {
		if got := traceWanted(tt.ev, tt.asked); got != tt.want {
			t.Errorf("%s: traceWanted = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestAnsweringPort(t *testing.T) {
	p := func(port uint16, k neterr.Kind) verdict.PortProbe { return verdict.PortProbe{Port: port, Kind: k} }
	for _, tt := range []struct {
		others []verdict.PortProbe
		want   uint16
	}{
		{[]verdict.PortProbe{p(443, neterr.Refused), p(22, neterr.OK)}, 22}, // a SYN-ACK first
		{[]verdict.PortProbe{p(443, neterr.Refused), p(80, neterr.Refused)}, 443},
		{[]verdict.PortProbe{p(443, neterr.Timeout)}, 0},
		{nil, 0},
	} {
		if got := answeringPort(verdict.AddrEvidence{Others: tt.others}); got != tt.want {
			t.Errorf("answeringPort(%+v) = %d, want %d", tt.others, got, tt.want)
		}
	}
}

// Under a deadline a trace may take at most half the time left.
func TestTraceRoom(t *testing.T) {
	opt := Options{Timeout: 3 * time.Second}
	if got := traceRoom(context.Background(), opt); got != traceMaxWait {
		t.Errorf("no deadline: %v, want %v", got, traceMaxWait)
	}
	if got := traceRoom(context.Background(), Options{Timeout: 300 * time.Millisecond}); got != 300*time.Millisecond {
		t.Errorf("a short --timeout: %v, want 300ms", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	if got := traceRoom(ctx, opt); got > 200*time.Millisecond || got < 150*time.Millisecond {
		t.Errorf("400 ms left: %v, want about 200ms", got)
	}
	done, cancel2 := context.WithTimeout(context.Background(), -time.Second)
	defer cancel2()
	if got := traceRoom(done, opt); got != 0 {
		t.Errorf("past the deadline: %v, want 0", got)
	}
}

// Names wait as long as the trace took, within 5 and 30 ms.
func TestNameGrace(t *testing.T) {
	for _, tt := range []struct{ took, want time.Duration }{
		{0, 5 * time.Millisecond},
		{2 * time.Millisecond, 5 * time.Millisecond},
		{12 * time.Millisecond, 12 * time.Millisecond},
		{400 * time.Millisecond, 30 * time.Millisecond},
	} {
		if got := nameGrace(tt.took); got != tt.want {
			t.Errorf("nameGrace(%v) = %v, want %v", tt.took, got, tt.want)
		}
	}
}

// The OUTPUT rules are read once the target port's answer is overdue, and
// early enough in the wait to be ready for the verdict.
func TestPrefetchAfter(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct{ rtt, giveUp, want time.Duration }{
		{ms / 2, 200 * ms, 10 * ms},
		{20 * ms, 300 * ms, 40 * ms},
		{100 * ms, 1000 * ms, 200 * ms},
		{100 * ms, 400 * ms, 100 * ms},
	} {
		if got := prefetchAfter(tt.rtt, tt.giveUp); got != tt.want {
			t.Errorf("prefetchAfter(%v, %v) = %v, want %v", tt.rtt, tt.giveUp, got, tt.want)
		}
	}
}
