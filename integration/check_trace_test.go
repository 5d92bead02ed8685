//go:build linux

package integration

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/testbed"
)

// pathReport is check's JSON with the traces.
type pathReport struct {
	report
	Paths []struct {
		Address string `json:"address"`
		Hops    []struct {
			TTL     int    `json:"ttl"`
			Address string `json:"address"`
			Name    string `json:"name"`
			Answer  string `json:"answer"`
			Mark    string `json:"mark"`
		} `json:"hops"`
		End      string `json:"end"`
		EndHop   int    `json:"end_hop"`
		EndFrom  string `json:"end_from"`
		Mark     string `json:"mark"`
		HostHop  int    `json:"host_hop"`
		DiesAt   int    `json:"dies_at"`
		RefPort  int    `json:"reference_port"`
		LastLine string `json:"last_line"`
	} `json:"paths"`
	Agent []struct {
		Address   string `json:"address"`
		Watched   bool   `json:"watched"`
		Refusal   string `json:"refusal"`
		Error     string `json:"error"`
		Client    string `json:"client"`
		Tries     int    `json:"tries"`
		Connected int    `json:"connected"`
		SYNs      []struct {
			From     string `json:"from"`
			Answered string `json:"answered"`
		} `json:"syns"`
	} `json:"agent"`
}

// traceCase is what one chain must give: the verdict, the hop the picture
// ends at, and its last line.
type traceCase struct {
	outcome, cause, conf string
	end                  string // open, closed, rejected, filtered
	endHop               int
	endFrom              string // "" for filtered with no answer
	hostHop              int    // 0: not checked
	last                 string // the picture's last line starts so
	evidence             []string
	jsonOnly             bool // one run: no picture
	// pause before the second run (the picture): what rate limits that
	// cannot be lifted in a namespace need to refill
	pause time.Duration
}

// checkPath runs check --json and then the human output of the same, and
// asserts the case on both.
func checkPath(t *testing.T, ns *testbed.NS, want traceCase, args ...string) pathReport {
	t.Helper()
	stdout, stderr, code := testbed.Exec(t, ns, bin, append([]string{"check", "--json"}, args...)...)
	var r pathReport
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &r); err != nil {
		t.Fatalf("check %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, stdout, stderr)
	}
	if r.Outcome != want.outcome || r.Verdict.Cause != want.cause || r.Verdict.Confidence != want.conf {
		t.Fatalf("check %v: got %s / %s (%s), want %s / %s (%s)\n%s", args, r.Outcome, r.Verdict.Cause, r.Verdict.Confidence,
			want.outcome, want.cause, want.conf, dump(r))
	}
	if wantCode := map[bool]int{true: 0, false: 1}[want.cause == "ok"]; code != wantCode {
		t.Errorf("check %v: exit %d, want %d", args, code, wantCode)
	}
	if len(r.Paths) != 1 {
		t.Fatalf("check %v: want one path, got %d\n%s", args, len(r.Paths), dump(r))
	}
	p := r.Paths[0]
	if p.End != want.end || p.EndHop != want.endHop || p.EndFrom != want.endFrom {
		t.Errorf("check %v: path ends %s at hop %d from %q, want %s at hop %d from %q\n%s", args, p.End, p.EndHop, p.EndFrom,
			want.end, want.endHop, want.endFrom, dump(p))
	}
	if want.hostHop != 0 && p.HostHop != want.hostHop {
		t.Errorf("check %v: host at hop %d, want %d\n%s", args, p.HostHop, want.hostHop, dump(p))
	}
	if !strings.HasPrefix(p.LastLine, want.last) {
		t.Errorf("check %v: last line %q, want it to start with %q", args, p.LastLine, want.last)
	}
	for _, e := range want.evidence {
		if !hasEvidence(r.report, e) {
			t.Errorf("check %v: no evidence line with %q\n%s", args, e, dump(r.report))
		}
	}
	if want.jsonOnly {
		return r
	}
	time.Sleep(want.pause)
	// The human output draws the same picture, ending with the same line.
	human, _, _ := testbed.Exec(t, ns, bin, append([]string{"check", "--no-color"}, args...)...)
	if !strings.Contains(human, "Path to ") {
		t.Errorf("check %v: no path picture in the human output:\n%s", args, human)
	}
	var lastLine string
	in := false
	for _, l := range strings.Split(human, "\n") {
		switch {
		case strings.HasPrefix(l, "  Path to "):
			in = true
		case in && strings.TrimSpace(l) == "":
			in = false
		case in:
			lastLine = strings.TrimSpace(l)
		}
	}
	if !strings.HasPrefix(lastLine, want.last) {
		t.Errorf("check %v: the picture's last line is %q, want it to start with %q:\n%s", args, lastLine, want.last, human)
	}
	if strings.Contains(human, "\x1b[") {
		t.Errorf("colour without a terminal:\n%q", human)
	}
	return r
}

// noICMPLimit lifts the routers' ICMP rate limit (a burst of six errors
// toward one host, then one a second): each case runs check twice (JSON,
// then the picture), and several cases share a chain, which would starve
// the later runs of answers. TestTraceDefaultRateLimit keeps the limit.
func noICMPLimit(t *testing.T, routers ...*testbed.NS) {
	t.Helper()
	for _, r := range routers {
		r.Sysctl(t, "net.ipv4.icmp_ratelimit", "0")
		if _, err := os.Stat("/proc/sys/net/ipv6"); err == nil {
			r.Sysctl(t, "net.ipv6.icmp.ratelimit", "0")
		}
	}
}

// A DROP on the server: the SYN passes the router and dies at the host's
// hop, which port 22's trace reaches.
func TestTraceDropOnServer(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Chain(t)
	noICMPLimit(t, n.Router)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "203.0.113.2:22"))
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	n.Client.Hosts(t, "127.0.0.1 localhost\n198.51.100.1 gw.chain.test\n")
	r := checkPath(t, n.Client, traceCase{outcome: "timeout", cause: "filtered", conf: "medium", end: "filtered", endHop: 1,
		endFrom: "198.51.100.1", hostHop: 2, last: "filtered after hop 1",
		evidence: []string{"none from hop 2 on, while port ", " of the same host answers at hop 2"}}, "203.0.113.2:8282")
	if !strings.Contains(r.Findings[0].Summary, "server's hop (2)") {
		t.Errorf("the summary must name the server's hop: %s", r.Findings[0].Summary)
	}
	if h := r.Paths[0].Hops[0]; h.Name != "gw.chain.test" {
		t.Errorf("hop 1's reverse name: got %q, want gw.chain.test (from the hosts file)", h.Name)
	}
	// -n, as traceroute -n: the same path, addresses only.
	r = checkPath(t, n.Client, traceCase{outcome: "timeout", cause: "filtered", conf: "medium", end: "filtered", endHop: 1,
		endFrom: "198.51.100.1", hostHop: 2, last: "filtered after hop 1"}, "-n", "203.0.113.2:8282")
	if h := r.Paths[0].Hops[0]; h.Name != "" {
		t.Errorf("check -n: hop 1 has the name %q, want none", h.Name)
	}
}

// Two routers: a DROP on the first one is upstream, named as the hop after
// which the SYN dies; on the server it dies at the host's hop.
func TestTraceDropTwoRouters(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Chain2(t)
	noICMPLimit(t, n.Router1, n.Router2)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "203.0.113.2:22"))
	n.Router1.Iptables(t, "-A", "FORWARD", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8283", "-j", "DROP")
	r := checkPath(t, n.Client, traceCase{outcome: "timeout", cause: "filtered_upstream", conf: "medium", end: "filtered", endHop: 1,
		endFrom: "198.51.100.1", hostHop: 3, last: "filtered after hop 1",
		evidence: []string{"up to hop 1 (198.51.100.1) and none from hop 2 on", "hop 2 (192.0.2.2)"}}, "203.0.113.2:8282")
	if r.Paths[0].DiesAt != 2 {
		t.Errorf("dies_at %d, want 2", r.Paths[0].DiesAt)
	}
	checkPath(t, n.Client, traceCase{outcome: "timeout", cause: "filtered", conf: "medium", end: "filtered", endHop: 2,
		endFrom: "192.0.2.2", hostHop: 3, last: "filtered after hop 2"}, "203.0.113.2:8283")
}

// An admin-prohibited REJECT on a router is the router's, named with its
// hop; on the server, the server's.
func TestTraceRejectRouterVersusServer(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Chain2(t)
	noICMPLimit(t, n.Router1, n.Router2)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "203.0.113.2:22"))
	n.Router2.Iptables(t, "-A", "FORWARD", "-p", "tcp", "--dport", "8282", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited")
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8283", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited")
	noICMPLimit(t, n.Server)
	r := checkPath(t, n.Client, traceCase{outcome: "unreachable", cause: "firewall_reject", conf: "high", end: "rejected", endHop: 2,
		endFrom: "192.0.2.2", last: "!A from hop 2 (192.0.2.2)",
		evidence: []string{"The trace ends at hop 2: 192.0.2.2 answers !A"}}, "203.0.113.2:8282")
	if s := r.Findings[0].Summary; !strings.Contains(s, "router 192.0.2.2 at hop 2, not the server") {
		t.Errorf("the summary must name the router and its hop: %s", s)
	}
	r = checkPath(t, n.Client, traceCase{outcome: "unreachable", cause: "firewall_reject", conf: "high", end: "rejected", endHop: 3,
		endFrom: "203.0.113.2", last: "!A from hop 3 (203.0.113.2)"}, "203.0.113.2:8283")
	if s := r.Findings[0].Summary; !strings.Contains(s, "server host 203.0.113.2") {
		t.Errorf("the summary must name the server: %s", s)
	}
}

// One router: its REJECT is hop 1's.
func TestTraceRejectOneRouter(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Chain(t)
	noICMPLimit(t, n.Router)
	n.Router.Iptables(t, "-A", "FORWARD", "-p", "tcp", "--dport", "8282", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited")
	checkPath(t, n.Client, traceCase{outcome: "unreachable", cause: "firewall_reject", conf: "high", end: "rejected", endHop: 1,
		endFrom: "198.51.100.1", last: "!A from hop 1 (198.51.100.1)"}, "203.0.113.2:8282")
}

// An unreachable route on the second router: its host unreachable, hop 2.
func TestTraceUnreachableRoute(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Chain2(t)
	noICMPLimit(t, n.Router1, n.Router2)
	n.Router2.IP(t, "route", "add", "unreachable", "203.0.113.2/32")
	// The host unreachable of a route has its own limiter (a burst of five,
	// one a second: net.ipv4.route.error_cost, which is not per namespace).
	r := checkPath(t, n.Client, traceCase{outcome: "unreachable", cause: "host_unreachable", conf: "high", end: "rejected", endHop: 2,
		endFrom: "192.0.2.2", last: "!H from hop 2 (192.0.2.2)", pause: 3 * time.Second}, append([]string{"203.0.113.2:8282"}, icmpArgs...)...)
	if !hasEvidence(r.report, "192.0.2.2") {
		t.Errorf("the router must be named: %s", dump(r.report))
	}
}

// IPv6: a DROP on the first router is upstream, a REJECT on the second is its.
func TestTraceIPv6(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "ip6tables")
	n := testbed.Chain2(t)
	noICMPLimit(t, n.Router1, n.Router2)
	if !n.ServerIP6.IsValid() {
		t.Skip("no IPv6 in this kernel")
	}
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "[2001:db8:2::2]:22"))
	n.Router1.Run(t, "ip6tables", "-w", "5", "-A", "FORWARD", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	n.Router2.Run(t, "ip6tables", "-w", "5", "-A", "FORWARD", "-p", "tcp", "--dport", "8283", "-j", "REJECT", "--reject-with", "icmp6-adm-prohibited")
	checkPath(t, n.Client, traceCase{outcome: "timeout", cause: "filtered_upstream", conf: "medium", end: "filtered", endHop: 1,
		endFrom: "2001:db8:1::1", hostHop: 3, last: "filtered after hop 1"}, "[2001:db8:2::2]:8282")
	checkPath(t, n.Client, traceCase{outcome: "unreachable", cause: "firewall_reject", conf: "high", end: "rejected", endHop: 2,
		endFrom: "2001:db8:3::2", last: "!A from hop 2 (2001:db8:3::2)"}, "[2001:db8:2::2]:8283")
}

// --trace draws the path of a connection that works, and of a closed port;
// without it, neither is traced.
func TestTraceOpenAndClosed(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Chain2(t)
	noICMPLimit(t, n.Router1, n.Router2)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "203.0.113.2:8282"))
	checkPath(t, n.Client, traceCase{outcome: "ok", cause: "ok", conf: "high", end: "open", endHop: 3, endFrom: "203.0.113.2",
		hostHop: 3, last: "[open] at hop 3"}, "203.0.113.2:8282", "--trace")
	checkPath(t, n.Client, traceCase{outcome: "refused", cause: "not_listening", conf: "medium", end: "closed", endHop: 3,
		endFrom: "203.0.113.2", last: "[closed] at hop 3"}, "203.0.113.2:8283", "--trace")
	stdout, _, _ := testbed.Exec(t, n.Client, bin, "check", "--json", "203.0.113.2:8283")
	if strings.Contains(stdout, `"paths"`) {
		t.Errorf("a closed port is traced only with --trace: %s", stdout)
	}
}

// The routers keep their default ICMP rate limit: the one run a person
// makes against a fresh path gets every answer it needs, though the
// main connect and the SYNs past a rejecting router all draw its errors.
func TestTraceDefaultRateLimit(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Chain2(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "203.0.113.2:22"))
	n.Router2.Iptables(t, "-A", "FORWARD", "-p", "tcp", "--dport", "8282", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited")
	checkPath(t, n.Client, traceCase{outcome: "unreachable", cause: "firewall_reject", conf: "high", end: "rejected", endHop: 2,
		endFrom: "192.0.2.2", last: "!A from hop 2 (192.0.2.2)", jsonOnly: true}, "203.0.113.2:8282")
}

// Checks back to back spend the routers' ICMP limit toward the client (a
// burst of six errors, then one a second). A DROP on the server must still
// never read as a drop on the way: at each TTL the target port's SYN
// leaves before the other port's, so a router with one answer left gives
// it to the target port, and the target port silent where the other port
// answered means a drop. With both SYNs sent at once, the other port's
// sometimes won the last answer and the verdict was filtered_upstream
// "dies before hop 1" (11 of 60 runs on two routers).
func TestTraceRepeatedUnderRateLimit(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Chain2(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "203.0.113.2:22"))
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	causes := map[string]int{}
	limited := false
	for i := 0; i < 16; i++ {
		stdout, stderr, _ := testbed.Exec(t, n.Client, bin, "check", "--json", "--trace", "-n", "203.0.113.2:8282")
		var r pathReport
		if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &r); err != nil {
			t.Fatalf("run %d: %v\nstdout:\n%s\nstderr:\n%s", i, err, stdout, stderr)
		}
		causes[r.Verdict.Cause]++
		if r.Verdict.Cause != "filtered" {
			t.Errorf("run %d: %s (%s), want filtered: the drop is on the server\n%s", i, r.Verdict.Cause, r.Verdict.Confidence, dump(r.Paths))
		}
		if len(r.Paths) == 1 && r.Paths[0].EndHop == 0 {
			limited = true
			if !hasEvidence(r.report, "limit their answers toward this machine") {
				t.Errorf("run %d: no router answered, and no line says they may limit their answers\n%s", i, dump(r.report))
			}
		}
	}
	t.Logf("causes over 16 runs: %v (a run the routers' limit left without answers: %v)", causes, limited)
	if !limited {
		t.Log("the routers' limit never left a run without answers: the test did not see the case it is about")
	}
}
