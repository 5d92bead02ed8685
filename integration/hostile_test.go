//go:build linux

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/probe/probetest"
	"github.com/conndiag/conndiag/internal/testbed"
)

// maxRSS bounds check's peak resident memory against a server whose header
// never ends (measured: about 19 MiB; before the byte caps it grew past 1 GB
// within the default timeout).
const maxRSS = 50 << 20

// hostileReport is check's JSON with what the tests read of the probes.
type hostileReport struct {
	report
	Probes []struct {
		Name     string `json:"name"`
		Result   string `json:"result"`
		Received string `json:"received"`
	} `json:"probes"`
}

// checkRSS runs `conndiag check --json ARGS` in ns and returns the report,
// the exit code and the process's peak resident memory (ru_maxrss).
func checkRSS(t *testing.T, ns *testbed.NS, args ...string) (hostileReport, int, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testbed.ExecTimeout)
	defer cancel()
	// ip netns exec execs conndiag in its own process: wait4 reports conndiag's peak.
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name(), bin, "check", "--json"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		t.Fatalf("check %v: %v", args, err)
	}
	// wait4's ru_maxrss is no measure here: the kernel carries the RSS of the
	// process that forked (this test binary, large after the suite's other
	// tests) across exec. VmHWM of the exec'd process is conndiag's own.
	var peak int64
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	for running := true; running; {
		select {
		case err = <-done:
			running = false
		case <-time.After(time.Millisecond):
			peak = max(peak, vmHWM(cmd.Process.Pid))
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("check %v: killed after %v\nstderr:\n%s", args, testbed.ExecTimeout, stderr.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("check %v: %v", args, err)
	}
	var r hostileReport
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &r); err != nil {
		t.Fatalf("check %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, stdout.String(), stderr.String())
	}
	return r, code, peak
}

// vmHWM is the peak resident set of process pid, from /proc (0 once it is gone).
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Servers that answer without end, stall after a valid start, or trickle:
// check stays bounded in memory, says the answer was cut or incomplete and
// shows what arrived, and never takes the start for proof of a protocol.
func TestCheckHostileServers(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	const trickled = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	servers := map[string]func(net.Conn){
		"endless-101": probetest.Endless(probetest.EndlessHead),
		"endless-200": probetest.Endless(probetest.EndlessHead200),
		"stall-101":   probetest.Stall("HTTP/1.1 101 Switching Protocols\r\n"),
		"stall-200":   probetest.Stall("HTTP/1.1 200 OK\r\n"),
		"trickle":     probetest.Trickle(trickled, 300*time.Millisecond),
	}
	ports := map[string]int{}
	port := 8100
	for _, name := range []string{"endless-101", "endless-200", "stall-101", "stall-200", "trickle"} {
		port++
		ln := n.Server.Listen(t, "tcp", fmt.Sprintf("198.51.100.3:%d", port))
		probetest.Serve(t, ln, servers[name])
		ports[name] = port
	}
	// %s is a measured wait ("2.0 s"), %d a count of bytes.
	const (
		tooLongHTTP = `An HTTP server answered (%s), but its header does not end: conndiag stopped reading after 65536 bytes, and clients give up too.`
		stallHTTP   = `An HTTP server answered \(%s\) but did not finish its answer within \d+\.\d s: it stalled, or it sends too slowly.`
		trickle     = `The server began to answer the %s but had not finished after \d+\.\d s; the bytes that came are too few to tell what it speaks.`
	)
	tests := []struct {
		target   string // %d is the port
		server   string
		timeout  string
		outcome  string
		conf     string
		summary  string // a regular expression for the whole English summary
		result   string // the protocol probe's JSON result
		received string // what the probe must show it received (escaped); "" for the trickle
		boundRSS bool
	}{
		{"ws://198.51.100.3:%d/chat", "endless-101", "3s", "protocol_mismatch", "medium",
			fmt.Sprintf(regexp.QuoteMeta(tooLongHTTP), "HTTP/1.1 101 Switching Protocols"), "too_long",
			`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Long: aaaa`, true},
		{"ws://198.51.100.3:%d/chat", "endless-200", "3s", "protocol_mismatch", "medium",
			fmt.Sprintf(regexp.QuoteMeta(tooLongHTTP), "HTTP/1.1 200 OK"), "too_long", `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Long: aaaa`, true},
		{"http://198.51.100.3:%d/", "endless-200", "3s", "protocol_mismatch", "medium",
			fmt.Sprintf(regexp.QuoteMeta(tooLongHTTP), "HTTP/1.1 200 OK"), "too_long", `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Long: aaaa`, true},
		{"ws://198.51.100.3:%d/chat", "stall-101", "2s", "timeout", "medium",
			strings.Replace(stallHTTP, "%s", regexp.QuoteMeta("HTTP/1.1 101 Switching Protocols"), 1), "incomplete", `HTTP/1.1 101 Switching Protocols\r\n`, false},
		{"http://198.51.100.3:%d/", "stall-200", "2s", "timeout", "medium",
			strings.Replace(stallHTTP, "%s", regexp.QuoteMeta("HTTP/1.1 200 OK"), 1), "incomplete", `HTTP/1.1 200 OK\r\n`, false},
		{"http://198.51.100.3:%d/", "trickle", "2s", "timeout", "low",
			strings.Replace(trickle, "%s", "HTTP request", 1), "incomplete", "", false},
		{"ws://198.51.100.3:%d/chat", "trickle", "2s", "timeout", "low",
			strings.Replace(trickle, "%s", "WebSocket handshake", 1), "incomplete", "", false},
	}
	for _, tt := range tests {
		tgt := fmt.Sprintf(tt.target, ports[tt.server])
		t.Run(tt.server+" "+tgt, func(t *testing.T) {
			r, code, rss := checkRSS(t, n.Client, tgt, "--timeout", tt.timeout, "--probe-ports", "")
			if tt.boundRSS && rss > maxRSS {
				t.Errorf("peak RSS %d MiB, want under %d MiB", rss>>20, maxRSS>>20)
			}
			t.Logf("peak RSS %.1f MiB", float64(rss)/(1<<20))
			if r.Outcome != tt.outcome || r.Verdict.Cause != "unknown" || r.Verdict.Confidence != tt.conf || code != 1 {
				t.Fatalf("got %s / %s (%s), exit %d; want %s / unknown (%s), exit 1\n%s",
					r.Outcome, r.Verdict.Cause, r.Verdict.Confidence, code, tt.outcome, tt.conf, dump(r))
			}
			if s := r.Findings[0].Summary; !regexp.MustCompile("^" + tt.summary + "$").MatchString(s) {
				t.Errorf("summary %q\nwant      %s", s, tt.summary)
			}
			if len(r.Probes) < 2 || r.Probes[1].Result != tt.result {
				t.Fatalf("want the protocol probe's result %q: %s", tt.result, dump(r.Probes))
			}
			got := r.Probes[1].Received
			if tt.received != "" {
				if !strings.HasPrefix(got, tt.received) {
					t.Errorf("received %q, want it to start with %q", got, tt.received)
				}
			} else if got == "" || !strings.HasPrefix(escaped(trickled), got) {
				t.Errorf("received %q, want a start of %q", got, escaped(trickled))
			}
			// The evidence names the cut and shows what arrived, escaped.
			ev := r.Findings[0].Evidence
			want := regexp.MustCompile(`^After \d+\.\d s the answer to the (WebSocket handshake|HTTP request) was still incomplete \((\d+) bytes had come\): (.+)$`)
			if tt.result == "too_long" {
				want = regexp.MustCompile(`^The answer was cut at (65536) bytes, the most conndiag reads of one answer: (.+)$`)
			}
			found := false
			for _, e := range ev {
				if m := want.FindStringSubmatch(e); m != nil {
					found = true
					if shown := m[len(m)-1]; !strings.HasPrefix(shown, got[:min(len(got), 20)]) {
						t.Errorf("the evidence shows %q, the probe received %q", shown, got)
					}
				}
			}
			if !found {
				t.Errorf("no evidence line matches %s:\n%s", want, strings.Join(ev, "\n"))
			}
		})
	}
}

// escaped is how conndiag shows these bytes.
func escaped(s string) string { return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s) }
