//go:build linux

package integration

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/testbed"
)

// icmpArgs are for checks whose outcome rests on one ICMP error from a router
// or server. Routers rate-limit those errors per client (ip_error and
// icmp_send even draw on the same token bucket), so probe-port SYNs racing
// the target's can starve it: send the target's SYN alone, and give the
// kernel's SYN retransmits time to draw a fresh ICMP should the first be
// swallowed. The answer normally comes at once.
var icmpArgs = []string{"--probe-ports", "", "--timeout", "10s"}

func TestCheckOK(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "198.51.100.3:8282"))
	r := expect(t, n.Client, "ok", "ok", "198.51.100.3:8282")
	if r.Findings[0].Confidence != "high" {
		t.Errorf("ok must be high confidence: %s", dump(r))
	}
	if n.ServerIP6.IsValid() {
		n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "[2001:db8:1::3]:8282"))
		expect(t, n.Client, "ok", "ok", "[2001:db8:1::3]:8282")
	}
}

func TestCheckNotListening(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	r := expect(t, n.Client, "refused", "not_listening", "198.51.100.3:8282")
	if !hasEvidence(r, "connection refused") {
		t.Errorf("the RST must be shown as evidence: %s", dump(r))
	}
	if n.ServerIP6.IsValid() {
		expect(t, n.Client, "refused", "not_listening", "tcp://[2001:db8:1::3]:8282")
	}
}

// Every address of a name is tried and reported.
func TestCheckEveryAddressOfAName(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	if !n.ServerIP6.IsValid() {
		t.Skip("no IPv6 in this kernel")
	}
	n.Client.Hosts(t, "127.0.0.1 localhost\n198.51.100.3 app.test\n2001:db8:1::3 app.test\n")
	n.Client.ResolvConf(t, "nameserver 127.0.0.1\n")
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "[2001:db8:1::3]:8282"))
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "198.51.100.3:8282"))
	r := expect(t, n.Client, "ok", "ok", "app.test:8282")
	if len(r.Addresses) != 2 {
		t.Fatalf("both addresses must be tried: %s", dump(r))
	}
	connects := 0
	for _, p := range r.Probes {
		if p.Name == "tcp_connect" {
			connects++
		}
	}
	if connects != 2 {
		t.Errorf("want one tcp_connect probe per address, got %d: %s", connects, dump(r))
	}
	// One family refused is family_mismatch, not ok: TestCheckFamilyMismatchRefused.
}

func TestCheckDNSFailure(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	n.Client.Hosts(t, "127.0.0.1 localhost\n198.51.100.3 app.test\n")
	// Nothing listens on the namespace's loopback: every DNS query is refused at once.
	n.Client.ResolvConf(t, "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
	expect(t, n.Client, "dns_failure", "dns_failure", "nosuch.test:80")
	// The hosts file is part of the system resolver.
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "198.51.100.3:8282"))
	expect(t, n.Client, "ok", "ok", "app.test:8282")
}

// A DROP rule on the server: the port is silent while other ports answer.
// The verdict must come from the measured round trip, not the full timeout.
func TestCheckFiltered(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Pair(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "198.51.100.3:8282"))
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	r := expect(t, n.Client, "timeout", "filtered", "198.51.100.3:8282", "--timeout", "20s")
	if r.DurationMS >= 20000 {
		t.Errorf("filtered must be decided from the other ports' round trip, not the 20 s timeout (took %d ms)", r.DurationMS)
	}
	if !hasEvidence(r, "the host is up") {
		t.Errorf("the answering probe port must be evidence: %s", dump(r))
	}
}

// Behind a router, a host that drops everything cannot be told from one
// that is down. (On the client's own link it answers ARP: filtered, see
// TestRejectReachableNeighbour.)
func TestCheckHostDown(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Chain(t)
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "-j", "DROP")
	expect(t, n.Client, "timeout", "host_down", "203.0.113.2:8282", "--timeout", "1s")
}

// An address on the client's own link that nobody has: the neighbour entry fails.
func TestCheckHostUnreachableOnLink(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	r := expect(t, n.Client, "timeout", "host_unreachable", "198.51.100.99:8282")
	if r.Findings[0].Confidence != "high" || !hasEvidence(r, "INCOMPLETE") && !hasEvidence(r, "FAILED") {
		t.Errorf("the failed neighbour entry must be the evidence: %s", dump(r))
	}
}

// A router that has no way on answers ICMP host unreachable.
func TestCheckHostUnreachableFromRouter(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Chain(t)
	n.Router.IP(t, "route", "add", "unreachable", "192.0.2.0/24")
	r := expect(t, n.Client, "unreachable", "host_unreachable", append([]string{"192.0.2.10:8282"}, icmpArgs...)...)
	if !hasEvidence(r, "from 198.51.100.1") {
		t.Errorf("the router's ICMP must be evidence: %s", dump(r))
	}
}

// chainRejecting is a client–router–server chain whose server listens on
// 203.0.113.2:8282 and whose server (or router) REJECTs that port
// --reject-with with, and the address the ICMP comes from.
func chainRejecting(t *testing.T, onRouter bool, with string) (*testbed.ChainNet, string) {
	t.Helper()
	n := testbed.Chain(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "203.0.113.2:8282"))
	if onRouter {
		n.Router.Iptables(t, "-A", "FORWARD", "-p", "tcp", "--dport", "8282", "-j", "REJECT", "--reject-with", with)
		return n, "198.51.100.1"
	}
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "REJECT", "--reject-with", with)
	return n, "203.0.113.2"
}

func TestCheckFirewallReject(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	cases := []struct {
		name, with string
		onRouter   bool
		outcome    string
		icmp       string
	}{
		{"admin-prohibited on server", "icmp-admin-prohibited", false, "unreachable", "code 13"},
		{"host-prohibited on server", "icmp-host-prohibited", false, "unreachable", "code 10"},
		{"port-unreachable on server", "icmp-port-unreachable", false, "refused", "code 3"},
		{"port-unreachable on router", "icmp-port-unreachable", true, "refused", "code 3"},
		{"admin-prohibited on router", "icmp-admin-prohibited", true, "unreachable", "code 13"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, from := chainRejecting(t, c.onRouter, c.with)
			r := expect(t, n.Client, c.outcome, "firewall_reject", append([]string{"203.0.113.2:8282"}, icmpArgs...)...)
			if r.Verdict.Confidence != "high" || !hasEvidence(r, c.icmp) || !hasEvidence(r, "from "+from) {
				t.Errorf("want the ICMP %s from %s as high-confidence evidence: %s", c.icmp, from, dump(r))
			}
		})
	}
}

// nftables' plain reject is an ICMP port unreachable too.
func TestCheckFirewallRejectNft(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "nft")
	n := testbed.Pair(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "198.51.100.3:8282"))
	n.Server.Nft(t, `table inet filter {
	chain input { type filter hook input priority 0; tcp dport 8282 reject; }
}`)
	expect(t, n.Client, "refused", "firewall_reject", "198.51.100.3:8282")
}

func TestCheckNoRoute(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t) // the client has no default route
	r := expect(t, n.Client, "unreachable", "no_route", "192.0.2.10:8282")
	if r.DurationMS > 2000 {
		t.Logf("no_route took %d ms; the kernel answers at once", r.DurationMS)
	}
	for _, kind := range []string{"unreachable", "blackhole", "prohibit"} {
		t.Run(kind, func(t *testing.T) {
			n.Client.IP(t, "route", "replace", kind, "192.0.2.0/24")
			r := expect(t, n.Client, "unreachable", "no_route", "192.0.2.10:8282")
			if !hasEvidence(r, kind) {
				t.Errorf("the %s route must be named: %s", kind, dump(r))
			}
		})
	}
}

// A server's internal address used from outside its network: the router
// either says unreachable or drops it silently.
func TestCheckPrivateAddress(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Chain(t)
	n.Router.IP(t, "route", "add", "unreachable", "10.99.0.0/16")
	n.Router.IP(t, "route", "add", "blackhole", "172.20.0.0/16")
	n.Router.IP(t, "route", "add", "blackhole", "100.64.0.0/10")
	expect(t, n.Client, "unreachable", "private_address", append([]string{"10.99.0.5:8282"}, icmpArgs...)...)
	expect(t, n.Client, "timeout", "private_address", "172.20.0.5:8282", "--timeout", "1s")
	expect(t, n.Client, "timeout", "private_address", "100.64.1.2:8282", "--timeout", "1s")
}

// The target is this very machine: the listening sockets are read.
func TestCheckSameHostListeners(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	n.Server.AddAddr(t, n.ServerIf, "198.51.100.4/24")
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "127.0.0.1:8282"))
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "198.51.100.4:9000"))

	r := expect(t, n.Server, "refused", "bound_to_loopback", "198.51.100.3:8282")
	if r.Verdict.Confidence != "high" || !hasEvidence(r, "127.0.0.1:8282") {
		t.Errorf("want high confidence naming the loopback listener: %s", dump(r))
	}
	r = expect(t, n.Server, "refused", "bound_to_other_address", "198.51.100.3:9000")
	if r.Verdict.Confidence != "high" || !hasEvidence(r, "198.51.100.4:9000") {
		t.Errorf("want high confidence naming the other listener: %s", dump(r))
	}
	r = expect(t, n.Server, "refused", "not_listening", "198.51.100.3:9999")
	if r.Verdict.Confidence != "high" {
		t.Errorf("same host, no listener: high confidence: %s", dump(r))
	}
	expect(t, n.Server, "ok", "ok", "127.0.0.1:8282")
}

// A DROP rule on this very machine: nothing on a path can be blamed.
func TestCheckSameHostDrop(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Pair(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "0.0.0.0:8282"))
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	r := expect(t, n.Server, "timeout", "firewall_local", "198.51.100.3:8282", "--timeout", "1s")
	if !hasEvidence(r, "Listening: ") {
		t.Errorf("the listener must be shown, proving the server runs: %s", dump(r))
	}
}

func TestCheckSourceAddressInvalid(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "198.51.100.3:8282"))
	expect(t, n.Client, "addr_unavailable", "source_address_invalid", "198.51.100.3:8282", "--source", "198.51.100.77")
	expect(t, n.Client, "ok", "ok", "198.51.100.3:8282", "--source", "198.51.100.2")
}

// A client namespace with four ephemeral ports, all held open toward the server.
func TestCheckEphemeralPortsExhausted(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	n.Client.Sysctl(t, "net.ipv4.ip_local_port_range", "40000 40003")
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "198.51.100.3:8282"))
	held := 0
	for i := 0; i < 10; i++ {
		c, err := n.Client.Dial(t, "tcp", "198.51.100.3:8282", 2*time.Second)
		if err != nil {
			if !strings.Contains(err.Error(), "cannot assign requested address") {
				t.Fatalf("dial %d: %v", i, err)
			}
			break
		}
		_ = c
		held++
	}
	if held == 0 || held > 4 {
		t.Fatalf("held %d connections with a 4-port range", held)
	}
	r := expect(t, n.Client, "addr_unavailable", "ephemeral_ports_exhausted", "198.51.100.3:8282")
	if !hasEvidence(r, "40000–40003") || !hasEvidence(r, fmt.Sprintf("%d sockets of this machine already use", held)) {
		ss, _ := n.Client.Try("ss", "-tan")
		t.Errorf("want the port range and the %d sockets in use as evidence: %s\nss -tan in the client:\n%s", held, dump(r), ss)
	}
	if !strings.Contains(strings.Join(r.Findings[0].Fix, "\n"), "sysctl -w net.ipv4.ip_local_port_range") {
		t.Errorf("want the sysctl fix: %s", dump(r))
	}
}

// Several targets: JSON Lines in the order given, exit 1 when any fails.
func TestCheckManyTargets(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "198.51.100.3:8282"))
	rs, code := check(t, n.Client, "198.51.100.3:8282", "198.51.100.3:8283")
	if len(rs) != 2 || rs[0].Verdict.Cause != "ok" || rs[1].Verdict.Cause != "not_listening" || code != 1 {
		t.Fatalf("got %d reports, exit %d: %s", len(rs), code, dump(rs))
	}
	_ = net.IPv4len
}
