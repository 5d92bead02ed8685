package cli

import (
	"bytes"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/diagnose"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

// "Also possible" lists what may be: never ok, never a certain finding,
// which stand under "Also found".
func TestAlsoPossibleHoldsNoCertainty(t *testing.T) {
	tgt, _ := target.Parse("app.test:8282")
	v4, v6 := netip.MustParseAddrPort("203.0.113.2:8282"), netip.MustParseAddrPort("[2001:db8::2]:8282")
	ev := verdict.Evidence{Target: tgt, DNS: verdict.DNS{Addresses: []netip.Addr{v4.Addr(), v6.Addr()}},
		Addrs: []verdict.AddrEvidence{
			{Addr: v4, Connect: neterr.Result{Kind: neterr.OK, Duration: time.Millisecond}},
			{Addr: v6, Connect: neterr.Result{Kind: neterr.Refused, Errno: syscall.ECONNREFUSED, Duration: time.Millisecond}},
		}}
	out, fs := verdict.Decide(ev)
	// A certain finding after the verdict, as a name-level rule may give.
	fs = append(fs, verdict.Finding{Cause: verdict.CauseCDNInPath, Confidence: verdict.High, Summary: i18n.M("cause.cdn_in_path.summary")},
		verdict.Finding{Cause: verdict.CauseOK, Confidence: verdict.High, Summary: i18n.M("cause.ok.summary", "Addr", v4.String())})
	var b bytes.Buffer
	renderHuman(&b, diagnose.Report{Target: tgt, Outcome: out, Findings: fs, Evidence: ev}, i18n.New("en"), false)
	text := b.String()
	found, possible := strings.Index(text, "Also found"), strings.Index(text, "Also possible")
	if found < 0 || possible < 0 {
		t.Fatalf("want both sections:\n%s", text)
	}
	section := func(from, to int) string {
		if to < from {
			return text[from:]
		}
		return text[from:to]
	}
	p := section(possible, found)
	if strings.Contains(p, "(certain)") || strings.Contains(p, "• ok ") {
		t.Errorf("Also possible lists a certain finding or ok:\n%s", p)
	}
	if f := section(found, possible); !strings.Contains(f, "• cdn_in_path (certain)") || !strings.Contains(f, "• ok (certain)") {
		t.Errorf("Also found lacks the certain findings:\n%s", f)
	}
}
