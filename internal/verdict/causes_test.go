package verdict

import (
	"os"
	"regexp"
	"slices"
	"testing"
)

// The cause codes are a contract (SPEC.md): every one exists here, in SPEC order.
// The SPEC lives beside the project (../shared/SPEC.md); without it the test skips.
func TestCausesMatchSpec(t *testing.T) {
	b, err := os.ReadFile("../../../shared/SPEC.md")
	if err != nil {
		t.Skipf("SPEC.md not beside the project: %v", err)
	}
	var spec []Cause
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|").FindAllSubmatch(b, -1) {
		spec = append(spec, Cause(m[1]))
	}
	if len(spec) < 30 {
		t.Fatalf("found only %d causes in SPEC.md: the table scan is broken", len(spec))
	}
	for _, c := range spec {
		if !slices.Contains(Causes, c) {
			t.Errorf("SPEC cause %q is missing from verdict.Causes", c)
		}
	}
	for _, c := range Causes {
		if !slices.Contains(spec, c) {
			t.Errorf("verdict.Causes has %q, which SPEC.md does not list", c)
		}
	}
}
