//go:build linux

package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/testbed"
)

// Every REJECT, and both ends' firewalls (issue 11): rules installed with
// the real tools in namespace topologies, the real binary, the exact cause
// and the first fix line.

// wantFirstFix: the verdict's first fix line is want.
func wantFirstFix(t *testing.T, r report, want string) {
	t.Helper()
	if len(r.Findings) == 0 || len(r.Findings[0].Fix) == 0 {
		t.Fatalf("the verdict has no fix: %s", dump(r))
	}
	if got := r.Findings[0].Fix[0]; got != want {
		t.Errorf("first fix line:\n  got  %q\n  want %q\n%s", got, want, dump(r))
	}
}

// hasFix: some fix line of the verdict is exactly line.
func hasFix(r report, line string) bool {
	for _, f := range r.Findings[0].Fix {
		if f == line {
			return true
		}
	}
	return false
}

// waitDAD waits until no IPv6 address of the namespaces is tentative: a
// tentative source address is not used, and ICMPv6 errors from it are not sent.
func waitDAD(t *testing.T, nss ...*testbed.NS) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for _, ns := range nss {
		for strings.Contains(ns.IP(t, "-6", "addr", "show"), "tentative") {
			if time.Now().After(deadline) {
				t.Fatalf("IPv6 addresses of %s still tentative", ns)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// A REJECT with icmp-host-unreachable or icmp-net-unreachable for one port,
// on the server or on the router, while the other ports of the host answer
// (closed: RST): a firewall naming the sender, not "check the cable", not a
// private address.
func TestRejectUnreachablePerPort(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	cases := []struct {
		name, with string
		onRouter   bool
		outcome    string
		icmp       string
	}{
		{"host-unreachable on the server", "icmp-host-unreachable", false, "unreachable", "code 1 (host unreachable)"},
		{"net-unreachable on the server", "icmp-net-unreachable", false, "unreachable", "code 0 (net unreachable)"},
		{"host-unreachable on the router", "icmp-host-unreachable", true, "unreachable", "code 1 (host unreachable)"},
		{"net-unreachable on the router", "icmp-net-unreachable", true, "unreachable", "code 0 (net unreachable)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// A fresh topology per case: each REJECT draws on the sender's
			// ICMP rate limit toward this client.
			n, from := chainRejecting(t, c.onRouter, c.with)
			first := "On the server, open TCP port 8282 in the firewall it uses (one of):"
			if c.onRouter {
				first = "The firewall at 198.51.100.1 rejects port 8282: allow it there (for a cloud, in the security group or network ACL)."
			}
			r := expect(t, n.Client, c.outcome, "firewall_reject", "203.0.113.2:8282", "--probe-ports", "22,80")
			if r.Verdict.Confidence != "high" || !hasEvidence(r, c.icmp) || !hasEvidence(r, "from "+from) {
				t.Errorf("want the ICMP %s from %s as high-confidence evidence: %s", c.icmp, from, dump(r))
			}
			// A router's ICMP is held back until another port answers; one
			// from the server itself settles it at once (the probe ports may
			// be cut short, and are then not shown).
			if c.onRouter && !hasEvidence(r, "closed (RST)") || !c.onRouter && !hasEvidence(r, "the server itself") {
				t.Errorf("want the proof that the host answers: %s", dump(r))
			}
			if hasEvidence(r, "canceled") {
				t.Errorf("a probe port cut short is no evidence: %s", dump(r))
			}
			if !strings.Contains(r.Findings[0].Summary, from) {
				t.Errorf("the summary must name the sender %s: %s", from, r.Findings[0].Summary)
			}
			wantFirstFix(t, r, first)
			if !c.onRouter && !hasFix(r, "iptables -I INPUT -p tcp --dport 8282 -j ACCEPT") {
				t.Errorf("want the iptables opening: %s", dump(r.Findings[0].Fix))
			}
		})
	}
}

// An IPv6 target: the per-port REJECT (icmp6-addr-unreachable) and a DROP
// get ip6tables commands, never iptables.
func TestRejectIPv6Fix(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "ip6tables")
	n := testbed.Chain(t)
	if !n.ServerIP6.IsValid() {
		t.Skip("no IPv6 in this kernel")
	}
	waitDAD(t, n.Client, n.Router, n.Server)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "[2001:db8:2::2]:8282"))
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "[2001:db8:2::2]:8283"))
	n.Server.Run(t, "ip6tables", "-w", "5", "-A", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "REJECT", "--reject-with", "icmp6-addr-unreachable")
	n.Server.Run(t, "ip6tables", "-w", "5", "-A", "INPUT", "-p", "tcp", "--dport", "8283", "-j", "DROP")
	for _, c := range []struct {
		target, outcome, cause string
	}{
		{"[2001:db8:2::2]:8282", "unreachable", "firewall_reject"},
		{"[2001:db8:2::2]:8283", "timeout", "filtered"},
	} {
		r := expect(t, n.Client, c.outcome, c.cause, c.target, "--probe-ports", "22,80")
		wantFirstFix(t, r, "On the server, open TCP port "+c.target[len(c.target)-4:]+" in the firewall it uses (one of):")
		if !hasFix(r, "ip6tables -I INPUT -p tcp --dport "+c.target[len(c.target)-4:]+" -j ACCEPT") {
			t.Errorf("%s: want the ip6tables opening: %s", c.target, dump(r.Findings[0].Fix))
		}
		for _, f := range r.Findings {
			for _, line := range f.Fix {
				if strings.HasPrefix(line, "iptables ") {
					t.Errorf("%s: an IPv4 command for an IPv6 target: %q", c.target, line)
				}
			}
		}
	}
}

// The client's own OUTPUT rules: DROP and REJECT with iptables, ip6tables
// and nft. The rule is named, the first fix line says which tool lets the
// connection out, and its command, pasted into a shell on the client, does.
func TestRejectClientFirewall(t *testing.T) {
	testbed.RequireRoot(t)
	type rules func(t *testing.T, n *testbed.PairNet)
	ipt := func(args ...string) rules {
		return func(t *testing.T, n *testbed.PairNet) { n.Client.Iptables(t, args...) }
	}
	ip6t := func(args ...string) rules {
		return func(t *testing.T, n *testbed.PairNet) {
			n.Client.Run(t, append([]string{"ip6tables", "-w", "5"}, args...)...)
		}
	}
	nft := func(ruleset string) rules { return func(t *testing.T, n *testbed.PairNet) { n.Client.Nft(t, ruleset) } }
	cases := []struct {
		name    string
		tool    string
		v6      bool
		rules   []rules
		outcome string
		rule    string // in the evidence
		first   string // the first fix line
		open    string // the command offered
	}{
		{name: "iptables DROP", tool: "iptables",
			rules:   []rules{ipt("-A", "OUTPUT", "-p", "tcp", "-d", "198.51.100.3", "--dport", "8282", "-j", "DROP")},
			outcome: "timeout", rule: "-A OUTPUT -d 198.51.100.3/32 -p tcp -m tcp --dport 8282 -j DROP",
			first: "Let the connection out with iptables, which manages that rule:", open: "iptables -I OUTPUT -p tcp -d 198.51.100.3 --dport 8282 -j ACCEPT"},
		{name: "iptables REJECT", tool: "iptables",
			rules:   []rules{ipt("-A", "OUTPUT", "-p", "tcp", "--dport", "8282", "-j", "REJECT")},
			outcome: "refused", rule: "--dport 8282 -j REJECT --reject-with icmp-port-unreachable",
			first: "Let the connection out with iptables, which manages that rule:", open: "iptables -I OUTPUT -p tcp -d 198.51.100.3 --dport 8282 -j ACCEPT"},
		{name: "iptables REJECT with icmp-host-unreachable", tool: "iptables",
			rules:   []rules{ipt("-A", "OUTPUT", "-p", "tcp", "--dport", "8282", "-j", "REJECT", "--reject-with", "icmp-host-unreachable")},
			outcome: "unreachable", rule: "--reject-with icmp-host-unreachable",
			first: "Let the connection out with iptables, which manages that rule:", open: "iptables -I OUTPUT -p tcp -d 198.51.100.3 --dport 8282 -j ACCEPT"},
		{name: "iptables REJECT whose answer a DROP on lo swallows", tool: "iptables",
			rules: []rules{ipt("-A", "OUTPUT", "-o", "lo", "-j", "DROP"),
				ipt("-A", "OUTPUT", "-p", "tcp", "--dport", "8282", "-j", "REJECT")},
			outcome: "timeout", rule: "--dport 8282 -j REJECT",
			first: "Let the connection out with iptables, which manages that rule:", open: "iptables -I OUTPUT -p tcp -d 198.51.100.3 --dport 8282 -j ACCEPT"},
		{name: "nft drop", tool: "nft",
			rules: []rules{nft(`table inet egress {
	chain out { type filter hook output priority 0; policy accept; ip daddr 198.51.100.3 tcp dport 8282 counter drop; }
}`)},
			outcome: "timeout", rule: "ip daddr 198.51.100.3 tcp dport 8282 counter",
			first: "Let the connection out with nftables, which manages that rule:", open: "nft insert rule inet egress out ip daddr 198.51.100.3 tcp dport 8282 accept"},
		{name: "nft reject, IPv6", tool: "nft", v6: true,
			rules: []rules{nft(`table inet egress {
	chain out { type filter hook output priority 0; policy accept; ip6 daddr 2001:db8:1::3 tcp dport 8282 counter reject; }
}`)},
			outcome: "", rule: "ip6 daddr 2001:db8:1::3 tcp dport 8282 counter",
			first: "Let the connection out with nftables, which manages that rule:", open: "nft insert rule inet egress out ip6 daddr 2001:db8:1::3 tcp dport 8282 accept"},
		{name: "ip6tables DROP", tool: "ip6tables", v6: true,
			rules:   []rules{ip6t("-A", "OUTPUT", "-p", "tcp", "-d", "2001:db8:1::3", "--dport", "8282", "-j", "DROP")},
			outcome: "timeout", rule: "-A OUTPUT -d 2001:db8:1::3/128 -p tcp -m tcp --dport 8282 -j DROP",
			first: "Let the connection out with iptables, which manages that rule:", open: "ip6tables -I OUTPUT -p tcp -d 2001:db8:1::3 --dport 8282 -j ACCEPT"},
		{name: "ip6tables REJECT adm-prohibited", tool: "ip6tables", v6: true,
			rules:   []rules{ip6t("-A", "OUTPUT", "-p", "tcp", "--dport", "8282", "-j", "REJECT", "--reject-with", "icmp6-adm-prohibited")},
			outcome: "", rule: "--reject-with icmp6-adm-prohibited",
			first: "Let the connection out with iptables, which manages that rule:", open: "ip6tables -I OUTPUT -p tcp -d 2001:db8:1::3 --dport 8282 -j ACCEPT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			testbed.RequireTool(t, c.tool)
			n := testbed.Pair(t)
			dst := n.ServerIP.String() + ":8282"
			if c.v6 {
				if !n.ServerIP6.IsValid() {
					t.Skip("no IPv6 in this kernel")
				}
				waitDAD(t, n.Client, n.Server)
				dst = "[" + n.ServerIP6.String() + "]:8282"
			}
			n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", dst))
			for _, add := range c.rules {
				add(t, n)
			}
			rs, code := check(t, n.Client, dst)
			r := rs[0]
			// An IPv6 REJECT's answer may come for the retransmitted SYN
			// only, after the wait: then the connect is silent.
			if r.Verdict.Cause != "client_firewall" || c.outcome != "" && r.Outcome != c.outcome || code != 1 {
				t.Fatalf("got %s / %s (exit %d), want %s / client_firewall: %s", r.Outcome, r.Verdict.Cause, code, c.outcome, dump(r))
			}
			if r.Verdict.Confidence != "high" || !hasEvidence(r, c.rule) {
				t.Errorf("want the rule %q named, with high confidence: %s", c.rule, dump(r))
			}
			wantFirstFix(t, r, c.first)
			if !hasFix(r, c.open) {
				t.Fatalf("want the command %q: %s", c.open, dump(r.Findings[0].Fix))
			}
			n.Client.Run(t, "sh", "-c", c.open)
			expect(t, n.Client, "ok", "ok", dst)
		})
	}
}

// Without root the OUTPUT rules cannot be read: a DROP there stays a
// silent port (filtered, as from any client) with client_firewall listed as
// not checked; a REJECT's ICMP from this machine itself still proves it.
func TestRejectClientFirewallWithoutRoot(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "setpriv")
	testbed.RequireTool(t, "iptables")
	n := testbed.Pair(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "198.51.100.3:8282"))
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "198.51.100.3:8283"))
	n.Client.Iptables(t, "-A", "OUTPUT", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	n.Client.Iptables(t, "-A", "OUTPUT", "-p", "tcp", "--dport", "8283", "-j", "REJECT")
	nb := nobodyBinary(t)
	asNobody := func(target string) report {
		stdout, stderr, code := testbed.Exec(t, n.Client, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", nb, "check", "--json", target)
		var r report
		if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != 1 {
			t.Fatalf("exit %d, stdout not one report (%v):\n%s\nstderr:\n%s", code, err, stdout, stderr)
		}
		return r
	}
	r := asNobody("198.51.100.3:8282")
	if r.Verdict.Cause != "filtered" {
		t.Fatalf("a DROP not readable: %s / %s, want filtered: %s", r.Outcome, r.Verdict.Cause, dump(r))
	}
	var unchecked bool
	for _, f := range r.Findings[1:] {
		unchecked = unchecked || f.Cause == "client_firewall" && f.Confidence == "low" &&
			strings.Contains(strings.Join(f.Evidence, "\n"), "could not be read without root") &&
			len(f.Fix) > 0 && f.Fix[0] == "Run conndiag as root (sudo) to read those rules and name the one at fault."
	}
	if !unchecked {
		t.Errorf("client_firewall must be listed as not checked, saying why: %s", dump(r))
	}
	r = asNobody("198.51.100.3:8283")
	if r.Verdict.Cause != "client_firewall" || r.Verdict.Confidence != "high" || !hasEvidence(r, "an address of this machine") ||
		!hasEvidence(r, "could not be read without root") {
		t.Fatalf("a REJECT answered by this machine: %s", dump(r))
	}
	wantFirstFix(t, r, "Run conndiag as root (sudo) to read those rules and name the one at fault.")
}

// nobodyBinary is a copy of the binary that an unprivileged user can run
// (the test binary's directory is private).
func nobodyBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	nb := filepath.Join(dir, "conndiag")
	copyFile(t, bin, nb)
	return nb
}

// A host on the client's link that answers ARP but drops every port is up:
// filtered, never host_down.
func TestRejectReachableNeighbour(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Pair(t)
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "-j", "DROP")
	r := expect(t, n.Client, "timeout", "filtered", "198.51.100.3:8282", "--timeout", "1s")
	if r.Verdict.Confidence != "medium" || !hasEvidence(r, "REACHABLE: the host answers on the local link") {
		t.Errorf("want the REACHABLE neighbour entry as the evidence: %s", dump(r))
	}
	for _, f := range r.Findings {
		if f.Cause == "host_down" {
			t.Errorf("a REACHABLE neighbour is never host_down: %s", dump(r))
		}
	}
	if !hasEvidence(r, "let this connection out") {
		t.Errorf("this machine's own OUTPUT rules, read as root, must be ruled out: %s", dump(r))
	}
	wantFirstFix(t, r, "On the server, open TCP port 8282 in the firewall it uses (one of):")
}

// The listen fix names the address the server is bound to.
func TestRejectListenFixNamesBoundAddress(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "127.0.0.2:8282"))
	r := expect(t, n.Server, "refused", "bound_to_loopback", "198.51.100.3:8282")
	wantFirstFix(t, r, "Make the server listen on 0.0.0.0 (every address) rather than 127.0.0.2:8282, for example in Workerman:")
	if !strings.Contains(r.Findings[0].Summary, "127.0.0.2:8282") {
		t.Errorf("the summary must name 127.0.0.2:8282: %s", r.Findings[0].Summary)
	}
	if !n.ServerIP6.IsValid() {
		t.Skip("no IPv6 in this kernel")
	}
	waitDAD(t, n.Server)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "[::1]:8283"))
	r = expect(t, n.Server, "refused", "bound_to_loopback", "[2001:db8:1::3]:8283")
	wantFirstFix(t, r, "Make the server listen on [::] (every address) rather than [::1]:8283, for example in Workerman:")
	if !hasFix(r, "new Worker('websocket://[::]:8283');") {
		t.Errorf("want the [::] snippet: %s", dump(r.Findings[0].Fix))
	}
	for _, line := range r.Findings[0].Fix {
		if strings.Contains(line, "127.0.0.1") {
			t.Errorf("a fix line names 127.0.0.1 for a server bound to ::1: %q", line)
		}
	}
}

// This machine has no default route: a private target is first of all
// unroutable from here.
func TestRejectNoRoutePrivate(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t) // the client has no default route
	r := expect(t, n.Client, "unreachable", "no_route", "10.99.0.5:8282")
	if r.Verdict.Confidence != "high" || !hasEvidence(r, "has no route to 10.99.0.5") {
		t.Errorf("want the missing route as high-confidence evidence: %s", dump(r))
	}
	wantFirstFix(t, r, "Check the routing table, the default gateway and any VPN that should carry this network:")
	if len(r.Findings) < 2 || r.Findings[1].Cause != "private_address" || r.Findings[1].Confidence != "low" {
		t.Errorf("the private address comes after, at low confidence: %s", dump(r))
	}
}
