package cli

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/diagnose"
	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/verdict"
)

// The picture highlights the box that rejects (red) or the last box that
// answered (yellow) on a colour terminal, and is plain text otherwise.
func TestWritePathsColour(t *testing.T) {
	dst := netip.MustParseAddrPort("203.0.113.2:8282")
	r1, r2 := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("192.0.2.2")
	te := func(ttl int, from netip.Addr) verdict.Hop {
		return verdict.Hop{TTL: ttl, Kind: verdict.HopRouter, From: from, RTT: 40 * time.Microsecond,
			ICMP: &evidence.ICMP{Origin: evidence.OriginICMP, Type: 11, From: from}}
	}
	rejected := &verdict.Path{Dst: dst, Max: 16, Hops: []verdict.Hop{te(1, r1), te(2, r2),
		{TTL: 3, Kind: verdict.HopError, From: r2, RTT: 50 * time.Microsecond,
			ICMP: &evidence.ICMP{Origin: evidence.OriginICMP, Type: 3, Code: 13, From: r2}}}}
	filtered := &verdict.Path{Dst: dst, Max: 16, Hops: []verdict.Hop{te(1, r1), {TTL: 2, Kind: verdict.HopSilent}}}
	pr := i18n.New("en")
	for _, tt := range []struct {
		name     string
		p        *verdict.Path
		hot, col string // the highlighted hop line starts so, in this colour
		last     string
	}{
		{"rejected by the router at hop 2", rejected, "  2  192.0.2.2", "\x1b[1;31m", "!A from hop 2 (192.0.2.2)"},
		{"filtered after hop 1", filtered, "  1  198.51.100.1", "\x1b[1;33m", "filtered after hop 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep := diagnose.Report{Evidence: verdict.Evidence{Addrs: []verdict.AddrEvidence{{Addr: dst, Path: tt.p}}}}
			var plain, colour bytes.Buffer
			writePaths(&plain, rep, pr, style{on: false})
			writePaths(&colour, rep, pr, style{on: true})
			if strings.Contains(plain.String(), "\x1b") {
				t.Errorf("plain output with escapes:\n%q", plain.String())
			}
			if !strings.Contains(colour.String(), tt.col+tt.hot) {
				t.Errorf("want %q highlighted with %q:\n%q", tt.hot, tt.col, colour.String())
			}
			lines := strings.Split(strings.TrimRight(plain.String(), "\n"), "\n")
			if last := strings.TrimSpace(lines[len(lines)-1]); !strings.HasPrefix(last, tt.last) {
				t.Errorf("last line %q, want %q…", last, tt.last)
			}
		})
	}
}
