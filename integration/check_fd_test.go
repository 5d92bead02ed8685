//go:build linux

package integration

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/conndiag/conndiag/internal/testbed"
)

// Under a tiny descriptor limit, check either diagnoses fd_exhausted or says in
// one line that the limit is too low to run at all: never a crash of its own.
// Below about 8 descriptors the Go runtime itself cannot start (a package's
// init opens the executable, which starts the poller: epoll and eventfd), so
// the process dies before conndiag's main runs; that is the runtime's limit and
// is accepted only in that exact form. The target port drops its SYNs while
// the host answers. conndiag makes the target's socket before the probe
// ports' (the probes' RSTs come back within their connect, so without that
// order a busy machine ran them one after another and never ran out): the
// lowest limits that start leave the probe ports without a socket whatever
// the machine's load, and the others say filtered.
func TestCheckDescriptorLimit(t *testing.T) {
	testbed.RequireRoot(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash for ulimit")
	}
	n := testbed.Pair(t)
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	run := func(limit string) (int, string, string) {
		cmd := exec.Command("ip", "netns", "exec", n.Client.Name(), "bash", "-c",
			fmt.Sprintf("ulimit -n %s; exec %s check --json --timeout 1s 198.51.100.3:8282", limit, bin))
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return code, stdout.String(), stderr.String()
	}
	// The verdict without a limit, which a limit that suffices must give too.
	code, out, errOut := run("1024")
	var free report
	if err := json.Unmarshal([]byte(out), &free); err != nil || code != 1 {
		t.Fatalf("no limit: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	diagnosed := false
	for n := 3; n <= 14; n++ {
		code, stdout, stderr := run(fmt.Sprint(n))
		switch code {
		case 3:
			t.Logf("ulimit -n %d: %s", n, strings.TrimSpace(stderr))
			if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "open-file limit") {
				t.Errorf("ulimit -n %d: want one line about the limit, got %q", n, stderr)
			}
		case 1:
			var r report
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatalf("ulimit -n %d: %v\n%s", n, err, stdout)
			}
			t.Logf("ulimit -n %d: %s (%s)", n, r.Verdict.Cause, r.Verdict.Confidence)
			if r.Verdict.Cause == "fd_exhausted" {
				diagnosed = true
				if !hasEvidence(r, "Descriptor limit of this process: "+fmt.Sprint(n)) {
					t.Errorf("want the limit as evidence: %s", dump(r))
				}
			} else if r.Verdict.Cause != free.Verdict.Cause {
				t.Errorf("ulimit -n %d: cause %s, without a limit %s", n, r.Verdict.Cause, free.Verdict.Cause)
			}
		case 2:
			if strings.HasPrefix(stderr, "runtime: ") && strings.Contains(stderr, "failed with 24\nfatal error: runtime: ") {
				t.Logf("ulimit -n %d: the Go runtime cannot start (%s)", n, strings.SplitN(stderr, "\n", 2)[0])
				continue
			}
			t.Errorf("ulimit -n %d: exit 2, stderr %q", n, stderr)
		case 127:
			// the dynamic loader itself could not open libc (a cgo build): not ours to handle
		default:
			t.Errorf("ulimit -n %d: exit %d, stderr %q", n, code, stderr)
		}
	}
	if !diagnosed {
		t.Errorf("no limit between 3 and 14 gave fd_exhausted")
	}
}
