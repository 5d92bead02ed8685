//go:build linux

package integration

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/testbed"
)

// Ports, address families and honest evidence (issue 11), each against real
// kernel behaviour in namespaces.

// firstFix asserts the verdict's first fix line.
func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func firstFix(t *testing.T, r report, want string) {
	t.Helper()
	if len(r.Findings) == 0 || len(r.Findings[0].Fix) == 0 || r.Findings[0].Fix[0] != want {
		t.Errorf("first fix line: want %q\n%s", want, dump(r))
	}
}

// noEvidence fails when any finding's evidence contains substr.
func noEvidence(t *testing.T, r report, substr string) {
	t.Helper()
	if hasEvidence(r, substr) {
		t.Errorf("evidence must not say %q:\n%s", substr, dump(r))
	}
}

// dualName makes app.test resolve to the server's IPv4 and IPv6 addresses
// through the client's hosts file (IPv6 first, as getaddrinfo orders them).
func dualName(t *testing.T, n *testbed.PairNet) {
	t.Helper()
	if !n.ServerIP6.IsValid() {
		t.Skip("no IPv6 in this kernel")
	}
	n.Client.Hosts(t, "127.0.0.1 localhost\n198.51.100.3 app.test\n2001:db8:1::3 app.test\n")
	n.Client.ResolvConf(t, "nameserver 127.0.0.1\n")
}

// Only IPv6 listens: the refused IPv4 address is family_mismatch, medium,
// exit 1, with the working family in the evidence.
func TestCheckFamilyMismatchRefused(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	dualName(t, n)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "[2001:db8:1::3]:8282"))
	r := expectWith(t, n.Client, nil, "refused", "family_mismatch", "medium", "app.test:8282")
	mustEvidence(t, r, "IPv6 works: [2001:db8:1::3]:8282.", "IPv4 fails: 198.51.100.3:8282.")
	firstFix(t, r, "Make the server answer over IPv4 too: listen on 0.0.0.0 (or [::] with IPv4 mapping) and allow the port in the IPv4 firewall. On the server:")
}

// A dual-stack name whose IPv6 is dropped by the server's firewall while
// IPv4 connects.
func TestCheckFamilyMismatchDropped(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "ip6tables")
	n := testbed.Pair(t)
	dualName(t, n)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "[::]:8282"))
	n.Server.Run(t, "ip6tables", "-A", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	r := expectWith(t, n.Client, nil, "timeout", "family_mismatch", "medium", "app.test:8282")
	mustEvidence(t, r, "IPv4 works: 198.51.100.3:8282.", "IPv6 fails: [2001:db8:1::3]:8282.")
	firstFix(t, r, "Make the server answer over IPv6 too: listen on [::] (both families) and allow the port in the IPv6 firewall. On the server:")
}

// wrong_port: the WebSocket target port refuses while a probe port of the
// same host completes the WebSocket handshake. The refusal comes before the
// probe ports answer: the ports it cut short are tried too.
func TestCheckWrongPort(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Pair(t)
	n.Server.Start(t, bin, "listen", "--quiet", "ws://198.51.100.3:80")
	n.Server.WaitListening(t, "tcp", 80, 5*time.Second)
	// Port 22 silent, 443 closed: neither is an open port the handshake was
	// tried on in vain.
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "DROP")
	r := expectWith(t, n.Client, nil, "refused", "wrong_port", "medium", "ws://198.51.100.3:8282/")
	noEvidence(t, r, "without success")
	mustEvidence(t, r, "Port 80: the WebSocket handshake for / was accepted (HTTP 101 Switching Protocols)",
		"Port 80 is one of the probe ports (--probe-ports) and accepted the connection.")
	firstFix(t, r, "Point the client at port 80 (ws://198.51.100.3:80/); or, if the service belongs on port 8282, change the port it listens on and restart it.")
}

// A plain TCP server that accepts and resets at once (SO_LINGER 0) is not
// ok. The RST comes during the connect (ECONNRESET) or just after it,
// depending on when the server's accept runs: the same verdict either way.
func TestCheckAcceptReset(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	ln := n.Server.Listen(t, "tcp", "198.51.100.3:8282")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	r := expectWith(t, n.Client, nil, "reset", "reset_by_peer", "high", "tcp://198.51.100.3:8282")
	mustEvidence(t, r, "A server that drops a connection this fast, before reading anything, drops every client")
	firstFix(t, r, "Look at what accepts on port 8282 and at its log: if it forwards, start the backend it forwards to (or correct the backend's address); if it filters clients, allow this one. On the server:")
}

// socat forwarding to a dead backend accepts, and closes before reading.
func TestCheckAcceptCloseForwarder(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "socat")
	n := testbed.Pair(t)
	n.Server.Start(t, "socat", "TCP-LISTEN:8282,bind=198.51.100.3,fork,reuseaddr", "TCP:127.0.0.1:9")
	n.Server.WaitListening(t, "tcp", 8282, 5*time.Second)
	r := expectWith(t, n.Client, nil, "reset", "proxy_upstream_failed", "medium", "198.51.100.3:8282")
	mustEvidence(t, r, "the server closed the connection (FIN)")
	firstFix(t, r, "Look at what accepts on port 8282 and at its log: if it forwards, start the backend it forwards to (or correct the backend's address); if it filters clients, allow this one. On the server:")
}

// The server drops two SYNs of every three to the port: not filtered after
// one round, but an intermittent path with the counts.
func TestCheckIntermittentLoss(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Pair(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "198.51.100.3:8282"))
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8282", "--syn", "-m", "statistic", "--mode", "nth", "--every", "3", "--packet", "2", "-j", "ACCEPT")
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8282", "--syn", "-j", "DROP")
	r := expectWith(t, n.Client, nil, "timeout", "unknown", "medium", "198.51.100.3:8282")
	// Which SYN gets through depends on the order the goroutines' SYNs go
	// out in on a busy machine (the rule passes every third to arrive): the
	// counts are held to each other, not to one order.
	line := regexp.MustCompile(`SYN (\d) to port 8282 was answered; (\d) of the (\d) sent before it got no answer`)
	var m []string
	for _, e := range r.Findings[0].Evidence {
		if m = line.FindStringSubmatch(e); m != nil {
			break
		}
	}
	if m == nil {
		t.Fatalf("no line with the SYN counts: %s", dump(r))
	}
	syn, lost, before := atoi(m[1]), atoi(m[2]), atoi(m[3])
	if syn < 2 || before != syn-1 || lost < 1 || lost > before {
		t.Errorf("SYN %d answered, %d of %d before it lost: %s", syn, lost, before, dump(r))
	}
	if want := fmt.Sprintf("answers some SYNs and not others: %d of %d got no answer", lost, syn); !strings.Contains(r.Findings[0].Summary, want) {
		t.Errorf("the summary must give the counts (%q): %s", want, dump(r))
	}
	firstFix(t, r, "Measure the loss toward the port, and on the server watch whether every SYN arrives and is answered:")
}

// An ICMP port-unreachable (iptables REJECT) is shown as what it is, never
// as a TCP RST: on the target port, and on the probe ports beside it.
func TestCheckICMPPortUnreachableNotRST(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Pair(t)
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "REJECT", "--reject-with", "icmp-port-unreachable")
	r := expectWith(t, n.Client, nil, "refused", "firewall_reject", "high", append(icmpArgs, "198.51.100.3:8282")...)
	mustEvidence(t, r, "198.51.100.3:8282: connection refused by an ICMP port unreachable from 198.51.100.3 after ")
	noEvidence(t, r, "(TCP RST)")
	firstFix(t, r, "On the server, open TCP port 8282 in the firewall it uses (one of):")

	// The target port dropped, a probe port rejected the same way: the
	// probe port is not said to be closed with an RST. The server's ICMP
	// rate limit is off so that each SYN gets its ICMP.
	n.Server.Sysctl(t, "net.ipv4.icmp_ratelimit", "0")
	n.Server.Iptables(t, "-I", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "80", "-j", "REJECT", "--reject-with", "icmp-port-unreachable")
	r = expectWith(t, n.Client, nil, "timeout", "filtered", "medium", "198.51.100.3:8282", "--probe-ports", "80")
	mustEvidence(t, r, "Port 80: refused by an ICMP port unreachable from 198.51.100.3 in ")
	noEvidence(t, r, "RST")
	// The time really waited, not the 3 s budget.
	mustEvidence(t, r, "198.51.100.3:8282: no answer to 6 SYNs within ")
	noEvidence(t, r, "3.0 s")
	firstFix(t, r, "On the server, open TCP port 8282 in the firewall it uses (one of):")
}

// A %25-zoned IPv6 link-local URL target works; an unknown interface is bad input.
func TestCheckZonedLinkLocal(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	if !n.ServerIP6.IsValid() {
		t.Skip("no IPv6 in this kernel")
	}
	n.Client.IP(t, "addr", "add", "fe80::2/64", "dev", n.ClientIf, "nodad")
	n.Server.IP(t, "addr", "add", "fe80::3/64", "dev", n.ServerIf, "nodad")
	n.Server.Start(t, bin, "listen", "--quiet", "ws://[::]:8282")
	n.Server.WaitListening(t, "tcp", 8282, 5*time.Second)
	r := expectWith(t, n.Client, nil, "ok", "ok", "high", "ws://[fe80::3%25"+n.ClientIf+"]:8282/")
	if len(r.Findings) != 1 || r.Target != "ws://[fe80::3%25"+n.ClientIf+"]:8282/" {
		t.Errorf("the zone is this machine's, not a rewrite in between: want ok alone for the target as given\n%s", dump(r))
	}
	mustEvidence(t, r, "[fe80::3%"+n.ClientIf+"]:8282: TCP connected in ",
		"The server saw this client as fe80::2, the address it connected from: no NAT or proxy in between.")
	noEvidence(t, r, "on the server, not at")
	expectWith(t, n.Client, nil, "ok", "ok", "high", "[fe80::3%"+n.ClientIf+"]:8282")
	_, stderr, code := testbed.Exec(t, n.Client, bin, "check", "ws://[fe80::3%25nosuch0]:8282/")
	if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "nosuch0") {
		t.Errorf("an unknown interface: want one line on stderr and exit 2, got exit %d: %q", code, stderr)
	}
}

// server --watch with no port judges only the listening ports that got SYNs,
// and says so: a listening port no client tried is not "dropped upstream".
func TestServerWatchUnaskedPorts(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", ":8282"))
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", ":8283"))
	p := startWatch(t, n.Server, "2s", "")
	dialUntilDone(t, n.Client, "198.51.100.3:8282", p)
	r, code := watchResult(t, p)
	for _, port := range r.Ports {
		for _, f := range port.Findings {
			if f.Cause == "filtered_upstream" {
				t.Errorf("port %d got no SYN and was not named: it is not judged: %s", port.Port, dump(port))
			}
		}
	}
	if !contains(r.NotChecked, "--watch was given no port: only the listening ports that received SYNs are judged (8282); 1 others received none within ") {
		t.Errorf("the note must say which ports were judged: %s", dump(r))
	}
	if code != 0 {
		t.Errorf("exit %d: %s", code, dump(r))
	}
}

// --timeout has an upper bound: above it is bad input.
func TestCheckTimeoutBound(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	stdout, stderr, code := testbed.Exec(t, n.Client, bin, "check", "--timeout", "6m", "198.51.100.3:8282")
	if code != 2 || stdout != "" || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "at most 5m") {
		t.Errorf("--timeout 6m: exit %d, stdout %q, stderr %q; want exit 2 and one line", code, stdout, stderr)
	}
}

// This machine has no IPv6 route toward a dual-stack name: family_mismatch
// whose fix is on this side, not the server's.
func TestCheckFamilyMismatchNoRouteHere(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Chain(t)
	if !n.ServerIP6.IsValid() {
		t.Skip("no IPv6 in this kernel")
	}
	n.Client.IP(t, "-6", "route", "del", "default")
	n.Client.Hosts(t, "127.0.0.1 localhost\n203.0.113.2 app.test\n2001:db8:2::2 app.test\n")
	n.Client.ResolvConf(t, "nameserver 127.0.0.1\n")
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "[::]:8282"))
	r := expectWith(t, n.Client, nil, "unreachable", "family_mismatch", "medium", "app.test:8282")
	mustEvidence(t, r, "IPv4 works: 203.0.113.2:8282.", "IPv6 fails: [2001:db8:2::2]:8282.")
	firstFix(t, r, "This machine has no route for IPv6: the failure is on this side, not the server's. Give this machine IPv6 connectivity (a default route; ask the network's administrator), or make the client use IPv4. This machine's routes:")
	if !hasFinding(r, "no_route") {
		t.Errorf("the IPv6 address's own verdict stands beside: %s", dump(r))
	}
}
