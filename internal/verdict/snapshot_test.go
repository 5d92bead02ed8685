package verdict

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/conndiag/conndiag/internal/i18n"
)

var update = flag.Bool("update", false, "rewrite the golden snapshots in testdata/golden")

// A snapshot holds the rendered findings of every case of one table test in
// every language, compared with testdata/golden/TEST.golden when the test
// ends, so any change of what a rule says shows up in review.
type snapshot struct {
	b strings.Builder
	t *testing.T
}

func newSnapshot(t *testing.T) *snapshot {
	s := &snapshot{t: t}
	t.Cleanup(func() { compareSnapshot(t, t.Name(), s.b.String()) })
	return s
}

// add records one case's outcome and findings, notes which rules it proves,
// and checks that every message of every finding gets exactly the arguments
// its English text uses (the translations are held to English's arguments
// by the i18n tests).
func (s *snapshot) add(name string, out Outcome, fs []Finding) {
	b := &s.b
	for _, f := range fs {
		for _, id := range append([]string{f.Rule}, f.parts...) {
			proveRule(id, s.t.Name()+"/"+name)
		}
		for _, m := range append(append([]i18n.Msg{f.Summary}, f.Evidence...), f.Fix...) {
			if err := checkArgs(m); err != nil {
				s.t.Errorf("%s: rule %s: %v", name, f.Rule, err)
			}
		}
	}
	fmt.Fprintf(b, "=== %s\noutcome: %s\n", name, out)
	for _, lang := range []string{"en", "ar", "zh"} {
		p := i18n.New(lang)
		fmt.Fprintf(b, "--- %s\n", lang)
		for _, f := range fs {
			fmt.Fprintf(b, "%s (%s): %s\n", f.Cause, f.Confidence, p.Text(f.Summary))
			for _, m := range f.Evidence {
				fmt.Fprintf(b, "  ev: %s\n", p.Text(m))
			}
			for _, m := range f.Fix {
				fmt.Fprintf(b, "  fix: %s\n", p.Text(m))
			}
		}
	}
}

func compareSnapshot(t *testing.T, name, got string) {
	if t.Failed() {
		return
	}
	path := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/verdict -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("findings differ from %s (go test ./internal/verdict -update rewrites it; review the diff):\n%s", path, firstDiff(string(want), got))
	}
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			lo := max(0, i-3)
			ctx := strings.Join(g[lo:min(len(g), i+1)], "\n")
			return fmt.Sprintf("line %d\n want: %s\n  got: %s\ncontext (got):\n%s", i+1, a, b, ctx)
		}
	}
	return ""
}

var (
	proofMu sync.Mutex
	proofs  = map[string]string{} // rule ID → the first table case that produced it
)

func proveRule(id, by string) {
	proofMu.Lock()
	defer proofMu.Unlock()
	if _, ok := proofs[id]; !ok && id != "" {
		proofs[id] = by
	}
}

var (
	enOnce  sync.Once
	enTexts map[string]string
	argRE   = regexp.MustCompile(`\{\{\s*(if\s+)?\.(\w+)\s*\}\}`)
)

// checkArgs compares a message's arguments with its English text's: a
// missing one renders "<no value>", an unused one is a rule passing the
// wrong name. Arguments of {{if .X}} may be left out.
func checkArgs(m i18n.Msg) error {
	if m.IsCmd() {
		return nil
	}
	enOnce.Do(func() { enTexts, _ = i18n.Texts("en") })
	text, ok := enTexts[m.ID]
	if !ok {
		return fmt.Errorf("message %q is not in the catalog", m.ID)
	}
	used, optional := map[string]bool{}, map[string]bool{}
	for _, g := range argRE.FindAllStringSubmatch(text, -1) {
		if g[1] != "" {
			optional[g[2]] = true
		} else {
			used[g[2]] = true
		}
	}
	for k, v := range m.Args {
		if !used[k] && !optional[k] {
			return fmt.Errorf("message %q gets argument %s, which its text does not use", m.ID, k)
		}
		if sub, ok := v.(i18n.Msg); ok {
			if err := checkArgs(sub); err != nil {
				return err
			}
		}
	}
	for k := range used {
		if _, ok := m.Args[k]; !ok {
			return fmt.Errorf("message %q lacks argument %s", m.ID, k)
		}
	}
	return nil
}
