package verdict

import (
	"net/netip"
	"testing"

	"github.com/conndiag/conndiag/internal/i18n"
)

func TestTraceLines(t *testing.T) {
	r1 := netip.MustParseAddr("198.51.100.1")
	tests := []struct {
		name string
		hops []Hop
		last string
	}{
		{"dies after the first router", []Hop{{TTL: 1, Kind: HopRouter, From: r1}, {TTL: 2, Kind: HopSilent}}, "ev.trace.dies_after"},
		{"rejected on the way", []Hop{{TTL: 1, Kind: HopRouter, From: r1}, {TTL: 2, Kind: HopError, From: netip.MustParseAddr("203.0.113.1")}}, "ev.trace.stops_at"},
		{"reached", []Hop{{TTL: 1, Kind: HopRouter, From: r1}, {TTL: 2, Kind: HopReached, From: netip.MustParseAddr("203.0.113.2")}}, "ev.trace.reached"},
		{"nothing answers", []Hop{{TTL: 1, Kind: HopSilent}}, "ev.trace.dies_first"},
	}
	for _, tt := range tests {
		lines := traceLines(tt.hops)
		if got := lines[len(lines)-1].ID; got != tt.last {
			t.Errorf("%s: last line %s, want %s", tt.name, got, tt.last)
		}
		p := i18n.New("en")
		for _, l := range lines {
			if txt := p.Text(l); txt == l.ID {
				t.Errorf("%s: %s is not in the catalog", tt.name, l.ID)
			}
		}
	}
	if traceLines(nil) != nil {
		t.Errorf("no trace, no lines")
	}
}
