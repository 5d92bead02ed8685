//go:build linux

package integration

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/testbed"
)

const agentToken = "integration-agent-token-0123"

// startAgent runs conndiag listen --agent on the chain's server, for port
// 8282 only, and waits until it listens on 8080.
func startAgent(t *testing.T, n *testbed.ChainNet, extra ...string) *testbed.Proc {
	t.Helper()
	args := append([]string{bin, "listen", "http://0.0.0.0:8080", "--agent", "--agent-ports", "8282", "--agent-token", agentToken}, extra...)
	p := n.Server.Start(t, args...)
	n.Server.WaitListening(t, "tcp", 8080, 10*time.Second)
	return p
}

// agentCheck runs check --json --agent against the chain's server port and
// returns the report and its one agent record.
func agentCheck(t *testing.T, ns *testbed.NS, target, token string, args ...string) pathReport {
	t.Helper()
	all := append([]string{"check", "--json", target, "--agent", "http://203.0.113.2:8080", "--agent-token", token}, args...)
	stdout, stderr, _ := testbed.Exec(t, ns, bin, all...)
	var r pathReport
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &r); err != nil {
		t.Fatalf("check %v: %v\nstdout:\n%s\nstderr:\n%s", all, err, stdout, stderr)
	}
	if len(r.Agent) != 1 {
		t.Fatalf("check %v: want one agent record, got %d\n%s\nstderr:\n%s", all, len(r.Agent), dump(r), stderr)
	}
	return r
}

// A DROP in the server's own INPUT chain: the agent sees the SYNs arrive
// unanswered and names the rule: firewall_local, high.
func TestAgentDropOnServer(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Chain(t)
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	startAgent(t, n)
	r := agentCheck(t, n.Client, "203.0.113.2:8282", agentToken)
	if r.Outcome != "timeout" || r.Verdict.Cause != "firewall_local" || r.Verdict.Confidence != "high" {
		t.Fatalf("got %s / %s (%s), want timeout / firewall_local (high)\n%s", r.Outcome, r.Verdict.Cause, r.Verdict.Confidence, dump(r))
	}
	a := r.Agent[0]
	if !a.Watched || a.Client != "198.51.100.2" || len(a.SYNs) == 0 || a.Connected != 0 {
		t.Fatalf("agent record: %s", dump(a))
	}
	for _, s := range a.SYNs {
		if !strings.HasPrefix(s.From, "198.51.100.2:") || s.Answered != "none" {
			t.Errorf("SYN %+v: want from 198.51.100.2, unanswered", s)
		}
	}
	if !hasEvidence(r.report, "--dport 8282 -j DROP") {
		t.Errorf("the dropping rule must be named:\n%s", dump(r.report))
	}
	// The human output says the same, and shows the path it traced.
	human, _, _ := testbed.Exec(t, n.Client, bin, "check", "--no-color", "203.0.113.2:8282", "--agent", "http://203.0.113.2:8080", "--agent-token", agentToken)
	for _, want := range []string{"firewall_local", "-A INPUT -p tcp -m tcp --dport 8282 -j DROP", "Path to 203.0.113.2:8282", "filtered after hop 1"} {
		if !strings.Contains(human, want) {
			t.Errorf("human output without %q:\n%s", want, human)
		}
	}
	t.Logf("human output:\n%s", human)
}

// A DROP on the router: the agent on the server sees none of the SYNs:
// filtered_upstream, high.
func TestAgentDropOnRouter(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Chain(t)
	n.Router.Iptables(t, "-A", "FORWARD", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	startAgent(t, n)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "0.0.0.0:8282"))
	r := agentCheck(t, n.Client, "203.0.113.2:8282", agentToken)
	if r.Outcome != "timeout" || r.Verdict.Cause != "filtered_upstream" || r.Verdict.Confidence != "high" {
		t.Fatalf("got %s / %s (%s), want timeout / filtered_upstream (high)\n%s", r.Outcome, r.Verdict.Cause, r.Verdict.Confidence, dump(r))
	}
	if a := r.Agent[0]; !a.Watched || len(a.SYNs) != 0 || a.Tries == 0 {
		t.Fatalf("agent record: want a watch with no SYN after some tries: %s", dump(a))
	}
}

// A wrong token and a port outside --agent-ports are refused; the verdict
// stays what the client alone can tell (filtered, medium), and says why
// the agent did not help.
func TestAgentRefuses(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Chain(t)
	// Two checks back to back trace the same path: the router's ICMP burst
	// toward this client would leave the second trace's hop 1 silent (and
	// its verdict filtered_upstream). The agent's refusals are the subject.
	noICMPLimit(t, n.Router)
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8282:8283", "-j", "DROP")
	p := startAgent(t, n)

	r := agentCheck(t, n.Client, "203.0.113.2:8282", "not-the-agent-token")
	if a := r.Agent[0]; a.Watched || a.Refusal != "token" || len(a.SYNs) != 0 {
		t.Errorf("wrong token: want refusal token, no watch: %s", dump(a))
	}
	if r.Verdict.Cause != "filtered" || r.Verdict.Confidence != "medium" || !hasEvidence(r.report, "refused the token") {
		t.Errorf("wrong token: want filtered (medium) saying the token was refused:\n%s", dump(r.report))
	}

	r = agentCheck(t, n.Client, "203.0.113.2:8283", agentToken)
	if a := r.Agent[0]; a.Watched || a.Refusal != "port" {
		t.Errorf("port 8283: want refusal port: %s", dump(a))
	}
	if r.Verdict.Cause != "filtered" || !hasEvidence(r.report, "it may watch: 8282") {
		t.Errorf("port 8283: want filtered saying which ports the agent may watch:\n%s", dump(r.report))
	}
	// The agent logged both refusals, and never the token.
	deadline := time.Now().Add(5 * time.Second)
	for !(strings.Contains(p.Stderr(), "refused (token)") && strings.Contains(p.Stderr(), "refused (port)")) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if e := p.Stderr(); !strings.Contains(e, "refused (token)") || !strings.Contains(e, "refused (port), port 8283") || strings.Contains(e, "not-the-agent-token") {
		t.Errorf("agent log:\n%s", e)
	}
	// A token given with --agent-token is not echoed at start.
	if out := p.Stdout(); !strings.Contains(out, "--agent-token TOKEN") || strings.Contains(out, agentToken) {
		t.Errorf("startup lines must show the client's command with TOKEN, not the token given:\n%s", out)
	}
}

// Another client's SYNs to the same port during the watch are not reported
// to this client: only its own address's.
func TestAgentOtherClientNotReported(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Chain(t)
	n.Client.AddAddr(t, n.ClientIf, "198.51.100.3/24")
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	startAgent(t, n)

	// The other client: connects from 198.51.100.3 again and again while
	// this client's check runs.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var others int
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.Client.Do(t, func() {
			d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.MustParseAddrPort("198.51.100.3:0"))}
			for ctx.Err() == nil {
				c, err := d.DialContext(withTimeout(ctx, 150*time.Millisecond), "tcp", "203.0.113.2:8282")
				if err == nil {
					c.Close()
				}
				others++
			}
		})
	}()
	r := agentCheck(t, n.Client, "203.0.113.2:8282", agentToken, "--source", "198.51.100.2")
	cancel()
	wg.Wait()
	if others < 5 {
		t.Fatalf("the other client made only %d attempts", others)
	}
	a := r.Agent[0]
	if !a.Watched || len(a.SYNs) == 0 {
		t.Fatalf("want this client's SYNs: %s", dump(a))
	}
	for _, s := range a.SYNs {
		if !strings.HasPrefix(s.From, "198.51.100.2:") {
			t.Errorf("reported a SYN from %s, not this client's", s.From)
		}
	}
	if r.Verdict.Cause != "firewall_local" || r.Verdict.Confidence != "high" {
		t.Errorf("got %s (%s), want firewall_local (high)", r.Verdict.Cause, r.Verdict.Confidence)
	}
}

func withTimeout(ctx context.Context, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(ctx, d)
	time.AfterFunc(d, cancel)
	return c
}

// Without root on the server the agent says it cannot watch: the verdict
// stays the client's own (filtered, medium) and says to start it with sudo.
func TestAgentWithoutRoot(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "setpriv")
	testbed.RequireTool(t, "iptables")
	n := testbed.Chain(t)
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	// The test binary's directory is private; nobody needs a copy it can run.
	dir := t.TempDir()
	nb := filepath.Join(dir, "conndiag")
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(nb, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := n.Server.Start(t, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", nb,
		"listen", "http://0.0.0.0:8080", "--agent", "--agent-ports", "8282", "--agent-token", agentToken)
	n.Server.WaitListening(t, "tcp", 8080, 10*time.Second)
	r := agentCheck(t, n.Client, "203.0.113.2:8282", agentToken)
	if a := r.Agent[0]; a.Watched || a.Refusal != "no_root" {
		t.Errorf("want refusal no_root: %s", dump(a))
	}
	if r.Verdict.Cause != "filtered" || r.Verdict.Confidence != "medium" || !hasEvidence(r.report, "runs without root") {
		t.Errorf("want filtered (medium) saying the agent runs without root:\n%s", dump(r.report))
	}
	if !strings.Contains(p.Stderr(), "without root") {
		t.Errorf("the agent must warn at start that it cannot watch:\n%s", p.Stderr())
	}
}

// Without --agent-token the agent makes one, prints it with the command to
// run on the client, and accepts it.
func TestAgentGeneratedToken(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Chain(t)
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	p := n.Server.Start(t, bin, "listen", "http://0.0.0.0:8080", "--agent", "--agent-ports", "8282")
	n.Server.WaitListening(t, "tcp", 8080, 10*time.Second)
	var token string
	deadline := time.Now().Add(5 * time.Second)
	for token == "" && time.Now().Before(deadline) {
		if m := regexp.MustCompile(`agent: token ([0-9a-f]{32}) `).FindStringSubmatch(p.Stdout()); m != nil {
			token = m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	if token == "" {
		t.Fatalf("no generated token in the startup lines:\n%s", p.Stdout())
	}
	if want := "conndiag check SERVER:8282 --agent http://SERVER:8080 --agent-token " + token; !strings.Contains(p.Stdout(), want) {
		t.Errorf("the startup lines must show the client's command %q:\n%s", want, p.Stdout())
	}
	r := agentCheck(t, n.Client, "203.0.113.2:8282", token)
	if !r.Agent[0].Watched || r.Verdict.Cause != "firewall_local" || r.Verdict.Confidence != "high" {
		t.Errorf("with the generated token: %s", dump(r))
	}
}

// An IPv6 target with the agent asked over IPv4: the agent would watch for
// the client's IPv4 address while the SYNs come from its IPv6 one, so the
// client does not take "none seen" for "none arrived": it says why the
// agent could not tell, and the verdict stays its own.
func TestAgentOtherFamily(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "ip6tables")
	n := testbed.Chain(t)
	if !n.ServerIP6.IsValid() {
		t.Skip("no IPv6 in this kernel")
	}
	n.Server.Run(t, "ip6tables", "-w", "5", "-A", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	startAgent(t, n)
	r := agentCheck(t, n.Client, "["+n.ServerIP6.String()+"]:8282", agentToken)
	if a := r.Agent[0]; a.Watched || a.Refusal != "family" || a.Client != "198.51.100.2" {
		t.Errorf("want refusal family, seen as 198.51.100.2: %s", dump(a))
	}
	if r.Verdict.Cause != "filtered" || r.Verdict.Confidence != "medium" || !hasEvidence(r.report, "of the same family") {
		t.Errorf("want filtered (medium) saying the agent could not see this family:\n%s", dump(r.report))
	}
}
