//go:build linux

package integration

import (
	"testing"

	"github.com/conndiag/conndiag/internal/testbed"
)

// --trace finds the hop after which the SYN is lost, and the box that rejects.
func TestCheckTrace(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Chain(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "203.0.113.2:22"))
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8283", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited")

	r := expect(t, n.Client, "timeout", "filtered", "203.0.113.2:8282", "--trace")
	if !hasEvidence(r, "Hop 1: 198.51.100.1") || !hasEvidence(r, "lost after 198.51.100.1 (hop 1)") {
		t.Errorf("want the router as hop 1 and the loss after it: %s", dump(r))
	}
	r = expect(t, n.Client, "unreachable", "firewall_reject", "203.0.113.2:8283", "--trace")
	if !hasEvidence(r, "Hop 2: 203.0.113.2 answered") || !hasEvidence(r, "ends at 203.0.113.2") {
		t.Errorf("want the path to end at the rejecting server: %s", dump(r))
	}
	// Without --trace, no path.
	r = expect(t, n.Client, "timeout", "filtered", "203.0.113.2:8282")
	if hasEvidence(r, "Hop 1") {
		t.Errorf("trace lines without --trace: %s", dump(r))
	}
}
