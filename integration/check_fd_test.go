//go:build linux

package integration

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// Under a tiny descriptor limit, check either diagnoses fd_exhausted or says in
// one line that the limit is too low to run at all: never a crash of its own.
// Below about 8 descriptors the Go runtime itself cannot start (a package's
// init opens the executable, which starts the poller: epoll and eventfd), so
// the process dies before conndiag's main runs; that is the runtime's limit and
// is accepted only in that exact form. The default probe ports need more
// sockets than the target alone, so the lowest limits that start show
// fd_exhausted.
func TestCheckDescriptorLimit(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash for ulimit")
	}
	diagnosed := false
	for n := 3; n <= 14; n++ {
		cmd := exec.Command("bash", "-c", fmt.Sprintf("ulimit -n %d; exec %s check --json 127.0.0.1:1", n, bin))
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		switch code {
		case 3:
			if strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "open-file limit") {
				t.Errorf("ulimit -n %d: want one line about the limit, got %q", n, stderr.String())
			}
		case 1:
			var r report
			if err := json.Unmarshal([]byte(stdout.String()), &r); err != nil {
				t.Fatalf("ulimit -n %d: %v\n%s", n, err, stdout.String())
			}
			if r.Verdict.Cause == "fd_exhausted" {
				diagnosed = true
				if !hasEvidence(r, "Descriptor limit of this process: "+fmt.Sprint(n)) {
					t.Errorf("want the limit as evidence: %s", dump(r))
				}
			} else if r.Verdict.Cause != "not_listening" {
				t.Errorf("ulimit -n %d: cause %s", n, r.Verdict.Cause)
			}
		case 2:
			if e := stderr.String(); strings.HasPrefix(e, "runtime: ") && strings.Contains(e, "failed with 24\nfatal error: runtime: ") {
				t.Logf("ulimit -n %d: the Go runtime cannot start (%s)", n, strings.SplitN(e, "\n", 2)[0])
				continue
			}
			t.Errorf("ulimit -n %d: exit 2, stderr %q", n, stderr.String())
		case 127:
			// the dynamic loader itself could not open libc (a cgo build): not ours to handle
		default:
			t.Errorf("ulimit -n %d: exit %d, stderr %q", n, code, stderr.String())
		}
	}
	if !diagnosed {
		t.Errorf("no limit between 3 and 14 gave fd_exhausted")
	}
}
