//go:build linux

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/conndiag/conndiag/internal/testbed"
)

// synCounts reads the packet counters of the INPUT rules that count SYNs to
// the given ports (added by countSYNs), by port.
func synCounts(t *testing.T, ns *testbed.NS) map[int]int {
	t.Helper()
	out := ns.Iptables(t, "-L", "INPUT", "-v", "-n", "-x")
	re := regexp.MustCompile(`^\s*(\d+)\s+\d+\s.*tcp dpt:(\d+) flags:0x17/0x02\s*$`)
	got := map[int]int{}
	for _, l := range strings.Split(out, "\n") {
		if m := re.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			p, _ := strconv.Atoi(m[2])
			got[p] += n
		}
	}
	return got
}

// Many ports of one host, check -f at its defaults: every cause right
// (open: ok, closed: not_listening, dropped: filtered), and the host's probe
// ports (22, 80, 443, closed here) connected to once for the whole run, not
// once per target, as the server's iptables counters show. The lowest of
// them also takes the controls that confirm the silent ports and refresh the
// round trip: a few, far fewer than the targets.
func TestBulkManyPortsOneHost(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	const open, closed, dropped, first = 40, 40, 60, 21001
	for p := first; p < first+open; p++ {
		n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", fmt.Sprintf("0.0.0.0:%d", p)))
	}
	for _, p := range []int{22, 80, 443} {
		n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--syn", "--dport", strconv.Itoa(p))
	}
	lo, hi := first+open+closed, first+open+closed+dropped-1
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", fmt.Sprintf("%d:%d", lo, hi), "-j", "DROP")

	var lines []string
	for p := first; p <= hi; p++ {
		lines = append(lines, fmt.Sprintf("%s:%d", n.ServerIP, p))
	}
	f := filepath.Join(t.TempDir(), "targets.txt")
	if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reports, code := check(t, n.Client, "-f", f)
	if code != 1 {
		t.Errorf("exit %d, want 1 (some targets fail)", code)
	}
	if len(reports) != len(lines) {
		t.Fatalf("%d reports for %d targets", len(reports), len(lines))
	}
	wrong := 0
	for i, r := range reports {
		p := first + i
		want := "filtered"
		switch {
		case p < first+open:
			want = "ok"
		case p < first+open+closed:
			want = "not_listening"
		}
		if r.Target != lines[i] || r.Verdict.Cause != want {
			wrong++
			if wrong <= 5 {
				t.Errorf("report %d: %s is %s, want %s for %s", i, r.Target, r.Verdict.Cause, want, lines[i])
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d causes wrong", wrong, len(lines))
	}
	syns := synCounts(t, n.Server)
	if syns[80] != 1 || syns[443] != 1 {
		t.Errorf("SYNs to the probe ports 80 and 443: %d and %d for %d targets, want 1 each", syns[80], syns[443], len(lines))
	}
	if syns[22] < 1 || syns[22] > len(lines)/4 { // alone, each target would send one to every probe port
		t.Errorf("SYNs to probe port 22 (the controls' port): %d for %d targets, want 1 plus a few controls", syns[22], len(lines))
	}
	t.Logf("SYNs to the probe ports: %v for %d targets", syns, len(lines))
}

// Ports of several hosts in one run: each host's probe ports are connected
// to once for its own targets (counted per destination address), and every
// cause is right.
func TestBulkPortsOfSeveralHosts(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	hosts := []string{"198.51.100.21", "198.51.100.22", "198.51.100.23"}
	for _, h := range hosts {
		n.Server.AddAddr(t, n.ServerIf, h+"/24")
		n.Server.Iptables(t, "-A", "INPUT", "-d", h, "-p", "tcp", "--syn", "--dport", "443")
	}
	const first, closed, dropped = 22001, 15, 15
	lo, hi := first+closed, first+closed+dropped-1
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", fmt.Sprintf("%d:%d", lo, hi), "-j", "DROP")
	var lines []string
	for p := first; p <= hi; p++ { // the hosts interleaved
		for _, h := range hosts {
			lines = append(lines, fmt.Sprintf("%s:%d", h, p))
		}
	}
	f := filepath.Join(t.TempDir(), "targets.txt")
	if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reports, code := check(t, n.Client, "-f", f)
	if code != 1 || len(reports) != len(lines) {
		t.Fatalf("exit %d, %d reports for %d targets", code, len(reports), len(lines))
	}
	for i, r := range reports {
		p, _ := strconv.Atoi(r.Target[strings.LastIndexByte(r.Target, ':')+1:])
		want := "not_listening"
		if p >= lo {
			want = "filtered"
		}
		if r.Target != lines[i] || r.Verdict.Cause != want {
			t.Errorf("report %d: %s is %s, want %s", i, r.Target, r.Verdict.Cause, want)
		}
	}
	out := n.Server.Iptables(t, "-L", "INPUT", "-v", "-n", "-x")
	for _, h := range hosts {
		re := regexp.MustCompile(`(?m)^\s*(\d+)\s+\d+\s.*\s` + regexp.QuoteMeta(h) + `\s+tcp dpt:443 flags`)
		m := re.FindStringSubmatch(out)
		if m == nil || m[1] != "1" {
			t.Errorf("SYNs to %s:443: %v, want 1 for its %d targets\n%s", h, m, len(lines)/len(hosts), out)
		}
	}
}
