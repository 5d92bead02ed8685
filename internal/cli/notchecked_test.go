package cli

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/conndiag/conndiag/internal/diagnose"
	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

// Every source a system may not show has its line under "Not checked here",
// in every language, and a failed check on such a system lists each one.
func TestNotCheckedLines(t *testing.T) {
	for _, lang := range i18n.Languages() {
		texts, err := i18n.Texts(lang)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range evidence.UncheckedAll {
			if texts["platform.unchecked."+u] == "" {
				t.Errorf("%s: no text platform.unchecked.%s", lang, u)
			}
		}
	}
	tgt, _ := target.Parse("203.0.113.2:8282")
	ap := netip.MustParseAddrPort("203.0.113.2:8282")
	ev := verdict.Evidence{Target: tgt, OS: "darwin", NotChecked: evidence.UncheckedAll,
		Addrs: []verdict.AddrEvidence{{Addr: ap, Connect: neterr.Result{Kind: neterr.Timeout}}}}
	out, fs := verdict.Decide(ev)
	var b bytes.Buffer
	p := i18n.New("en")
	renderHuman(&b, diagnose.Report{Target: tgt, Outcome: out, Findings: fs, Evidence: ev}, p, false)
	text := b.String()
	if !strings.Contains(text, "Not checked here (macOS)") {
		t.Fatalf("no 'not checked' section:\n%s", text)
	}
	for _, u := range evidence.UncheckedAll {
		if line := p.T("platform.unchecked." + u); !strings.Contains(text, line) {
			t.Errorf("%s not listed:\n%s", u, text)
		}
	}
}
