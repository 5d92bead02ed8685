//go:build linux

// Package integration runs the real conndiag binary inside network-namespace
// topologies (internal/testbed) and asserts the cause it reports.
package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conndiag/conndiag/internal/testbed"
)

var bin string // the conndiag binary under test

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "conndiag-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "conndiag")
	build := exec.Command("go", "build", "-o", bin, "../cmd/conndiag")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building conndiag: %v\n%s", err, out)
		os.Exit(1)
	}
	_ = testbed.Sweep() // what a killed earlier run left behind
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// report is the part of check's JSON the tests read.
type report struct {
	Target    string   `json:"target"`
	Addresses []string `json:"addresses"`
	Outcome   string   `json:"outcome"`
	Verdict   struct {
		Cause      string `json:"cause"`
		Confidence string `json:"confidence"`
	} `json:"verdict"`
	Findings []struct {
		Cause      string   `json:"cause"`
		Confidence string   `json:"confidence"`
		Summary    string   `json:"summary"`
		Evidence   []string `json:"evidence"`
		Fix        []string `json:"fix"`
	} `json:"findings"`
	Probes []struct {
		Name    string `json:"name"`
		Address string `json:"address"`
		Result  string `json:"result"`
	} `json:"probes"`
	DurationMS int64 `json:"duration_ms"`
}

// check runs `conndiag check --json ARGS` in ns and decodes every report.
func check(t *testing.T, ns *testbed.NS, args ...string) ([]report, int) {
	t.Helper()
	stdout, stderr, code := testbed.Exec(t, ns, bin, append([]string{"check", "--json"}, args...)...)
	var out []report
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if line == "" {
			continue
		}
		var r report
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("check %v: stdout is not JSON Lines: %v\nstdout:\n%s\nstderr:\n%s", args, err, stdout, stderr)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		t.Fatalf("check %v: no report (exit %d)\nstderr:\n%s", args, code, stderr)
	}
	return out, code
}

// expect runs one check and asserts outcome, verdict cause and exit code.
func expect(t *testing.T, ns *testbed.NS, outcome, cause string, args ...string) report {
	t.Helper()
	rs, code := check(t, ns, args...)
	r := rs[0]
	if r.Outcome != outcome || r.Verdict.Cause != cause {
		t.Fatalf("check %v: got outcome %q cause %q, want %q / %q\nfindings: %s", args, r.Outcome, r.Verdict.Cause, outcome, cause, dump(r))
	}
	if len(r.Findings) == 0 || r.Findings[0].Cause != r.Verdict.Cause || r.Findings[0].Confidence != r.Verdict.Confidence {
		t.Fatalf("verdict must equal the first finding: %s", dump(r))
	}
	want := 1
	if cause == "ok" {
		want = 0
	}
	if code != want {
		t.Fatalf("check %v: exit %d, want %d", args, code, want)
	}
	return r
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func hasEvidence(r report, substr string) bool {
	for _, f := range r.Findings {
		for _, e := range f.Evidence {
			if strings.Contains(e, substr) {
				return true
			}
		}
	}
	return false
}
