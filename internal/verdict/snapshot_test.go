package verdict

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conndiag/conndiag/internal/i18n"
)

var update = flag.Bool("update", false, "rewrite the golden snapshots in testdata/golden")

// A snapshot holds the rendered findings of every case of one table test in
// every language, compared with testdata/golden/TEST.golden when the test
// ends, so any change of what a rule says shows up in review.
type snapshot struct{ b strings.Builder }

func newSnapshot(t *testing.T) *snapshot {
	s := &snapshot{}
	t.Cleanup(func() { compareSnapshot(t, t.Name(), s.b.String()) })
	return s
}

// add records one case's outcome and findings.
func (s *snapshot) add(name string, out Outcome, fs []Finding) {
	b := &s.b
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
