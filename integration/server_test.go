//go:build linux

package integration

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/testbed"
)

// serverReport is the part of `conndiag server --json` the tests read.
type serverReport struct {
	Host  string `json:"host"`
	Ports []struct {
		Port      int `json:"port"`
		Listeners []struct {
			Address string `json:"address"`
			Port    int    `json:"port"`
			PID     int    `json:"pid"`
			Process string `json:"process"`
			Backlog int    `json:"backlog"`
			V6Only  *bool  `json:"v6only"`
		} `json:"listeners"`
		Firewall []struct {
			Family  string   `json:"family"`
			Action  string   `json:"action"`
			Backend string   `json:"backend"`
			Table   string   `json:"table"`
			Chain   string   `json:"chain"`
			Rule    string   `json:"rule"`
			Policy  bool     `json:"policy"`
			Packets *uint64  `json:"packets"`
			Open    []string `json:"open"`
		} `json:"firewall"`
		SYNs *[]struct {
			From     string `json:"from"`
			Answered string `json:"answered"`
		} `json:"syns"`
		Findings []srvFinding `json:"findings"`
	} `json:"ports"`
	Findings   []srvFinding `json:"findings"`
	NotChecked []string     `json:"not_checked"`
}

type srvFinding struct {
	Cause      string   `json:"cause"`
	Confidence string   `json:"confidence"`
	Summary    string   `json:"summary"`
	Evidence   []string `json:"evidence"`
	Fix        []string `json:"fix"`
}

func parseServer(t *testing.T, stdout, stderr string, code int) serverReport {
	t.Helper()
	var r serverReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("server: stdout is not one JSON object (exit %d): %v\nstdout:\n%s\nstderr:\n%s", code, err, stdout, stderr)
	}
	return r
}

// server runs `conndiag server --json ARGS` in ns.
func server(t *testing.T, ns *testbed.NS, args ...string) (serverReport, int) {
	t.Helper()
	stdout, stderr, code := testbed.Exec(t, ns, bin, append([]string{"server", "--json"}, args...)...)
	return parseServer(t, stdout, stderr, code), code
}

// expectPort asserts the first finding of the only port and the exit code.
func expectPort(t *testing.T, r serverReport, code int, cause, conf string, wantCode int) srvFinding {
	t.Helper()
	if len(r.Ports) != 1 {
		t.Fatalf("want one port, got %s", dump(r))
	}
	fs := r.Ports[0].Findings
	if len(fs) == 0 || fs[0].Cause != cause || fs[0].Confidence != conf {
		t.Fatalf("want %s (%s) first, got %s", cause, conf, dump(r.Ports[0]))
	}
	if code != wantCode {
		t.Fatalf("exit %d, want %d: %s", code, wantCode, dump(r))
	}
	return fs[0]
}

func contains(list []string, substr string) bool {
	for _, s := range list {
		if strings.Contains(s, substr) {
			return true
		}
	}
	return false
}

func TestServerLoopbackOnly(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	n.Server.Listen(t, "tcp", "127.0.0.1:8282")
	r, code := server(t, n.Server, "8282")
	f := expectPort(t, r, code, "bound_to_loopback", "high", 1)
	ls := r.Ports[0].Listeners
	// The test process itself holds the listener.
	if len(ls) != 1 || ls[0].Address != "127.0.0.1" || ls[0].Port != 8282 || ls[0].PID != os.Getpid() || ls[0].Process == "" || ls[0].Backlog == 0 {
		t.Errorf("listener: %s", dump(ls))
	}
	if !contains(f.Evidence, "Clients that connect to 198.51.100.3") || !contains(f.Fix, "0.0.0.0") {
		t.Errorf("must name the addresses clients cannot use and the fix: %s", dump(f))
	}
}

func TestServerSpecificAddress(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	n.Server.AddAddr(t, n.ServerIf, "203.0.113.9/24")
	n.Server.Listen(t, "tcp", "203.0.113.9:8282")
	r, code := server(t, n.Server, "8282")
	f := expectPort(t, r, code, "bound_to_other_address", "medium", 1)
	if !strings.Contains(f.Summary, "listens on 203.0.113.9:8282 only") || !strings.Contains(f.Summary, "198.51.100.3") {
		t.Errorf("summary must name where it listens and the addresses refused: %s", f.Summary)
	}
	if !contains(f.Evidence, "Clients can connect to: 203.0.113.9.") {
		t.Errorf("evidence: %s", dump(f))
	}
}

// A dual-stack wildcard listener, no firewall: nothing wrong, exit 0.
func TestServerCleanHost(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", ":8282"))
	r, code := server(t, n.Server, "8282")
	if code != 0 || len(r.Ports) != 1 {
		t.Fatalf("exit %d: %s", code, dump(r))
	}
	for _, f := range append(r.Ports[0].Findings, r.Findings...) {
		if f.Confidence != "low" {
			t.Errorf("clean host, yet %s", dump(f))
		}
	}
	ls := r.Ports[0].Listeners
	if len(ls) != 1 || ls[0].Address != "::" || ls[0].V6Only == nil || *ls[0].V6Only {
		t.Errorf("want one dual-stack [::] listener: %s", dump(ls))
	}
	// Without PORT, every listening port is audited.
	all, code := server(t, n.Server)
	if code != 0 || len(all.Ports) != 1 || all.Ports[0].Port != 8282 {
		t.Errorf("no PORT: exit %d, %s", code, dump(all))
	}
	// The human form leads with the verdict per port.
	stdout, _, code := testbed.Exec(t, n.Server, bin, "server", "8282")
	if code != 0 || !strings.HasPrefix(stdout, "✓ port 8282  no problem found\n") || !strings.Contains(stdout, "Listening: [::]:8282") {
		t.Errorf("human output (exit %d):\n%s", code, stdout)
	}
}

func TestServerNotListening(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	r, code := server(t, n.Server, "8282")
	expectPort(t, r, code, "not_listening", "high", 1)
	stdout, _, _ := testbed.Exec(t, n.Server, bin, "server", "8282")
	if !strings.HasPrefix(stdout, "✗ not_listening  port 8282  (certain)\n") {
		t.Errorf("human output must lead with the verdict:\n%s", stdout)
	}
}

func TestServerIptablesDrop(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "0.0.0.0:8282"))
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT")
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	r, code := server(t, n.Server, "8282")
	f := expectPort(t, r, code, "firewall_local", "high", 1)
	if !contains(f.Evidence, "chain INPUT: -A INPUT -p tcp -m tcp --dport 8282 -j DROP") {
		t.Errorf("the rule must be named: %s", dump(f))
	}
	if !contains(f.Fix, "iptables -I INPUT -p tcp --dport 8282 -j ACCEPT") {
		t.Errorf("the opening command must be given: %s", dump(f))
	}
	fw := r.Ports[0].Firewall
	if len(fw) == 0 || fw[0].Family != "ipv4" || fw[0].Action != "drop" || fw[0].Table != "filter" || fw[0].Chain != "INPUT" || fw[0].Policy {
		t.Errorf("firewall: %s", dump(fw))
	}
	// Port 22 is allowed; nothing listens there.
	r, code = server(t, n.Server, "22")
	expectPort(t, r, code, "not_listening", "high", 1)
	if len(r.Ports[0].Findings) != 1 {
		t.Errorf("22 is open in the firewall: %s", dump(r.Ports[0]))
	}
}

func TestServerIptablesReject(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "0.0.0.0:8282"))
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "REJECT", "--reject-with", "tcp-reset")
	r, code := server(t, n.Server, "8282")
	f := expectPort(t, r, code, "firewall_local", "high", 1)
	if !contains(f.Evidence, "IPv4: reject by") || !contains(f.Evidence, "--reject-with tcp-reset") {
		t.Errorf("evidence: %s", dump(f))
	}
}

func TestServerNftables(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "nft")
	n := testbed.Pair(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", ":8282"))
	n.Server.Nft(t, `table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif "lo" accept
		tcp dport 22 counter accept
	}
}`)
	r, code := server(t, n.Server, "8282")
	f := expectPort(t, r, code, "firewall_local", "high", 1)
	if !contains(f.Evidence, "policy drop") || !contains(f.Fix, "nft insert rule inet filter input tcp dport 8282 accept") {
		t.Errorf("must name the policy and the nft command: %s", dump(f))
	}
	fams := map[string]string{}
	for _, fw := range r.Ports[0].Firewall {
		fams[fw.Family] = fw.Action
		if fw.Backend != "nftables" || !fw.Policy {
			t.Errorf("firewall: %s", dump(fw))
		}
	}
	if n.ServerIP6.IsValid() && (fams["ipv4"] != "drop" || fams["ipv6"] != "drop") {
		t.Errorf("the inet table drops both families: %v", fams)
	}
}

// startWatch runs `conndiag server --watch D --json PORT` in ns (no PORT
// when port is empty) and waits until it watches.
func startWatch(t *testing.T, ns *testbed.NS, d string, port string) *testbed.Proc {
	t.Helper()
	args := []string{bin, "server", "--watch", d, "--json"}
	if port != "" { // none: every listening port is watched
		args = append(args, port)
	}
	p := ns.Start(t, args...)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Stderr(), "Watching TCP port") {
		select {
		case <-p.Done():
			t.Fatalf("server --watch ended early: %v\nstdout:\n%s\nstderr:\n%s", p.Err(), p.Stdout(), p.Stderr())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server --watch did not start watching:\n%s", p.Stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

// dialUntilDone connects from ns to addr, again and again, until p ends.
func dialUntilDone(t *testing.T, ns *testbed.NS, addr string, p *testbed.Proc) {
	t.Helper()
	for {
		select {
		case <-p.Done():
			return
		default:
		}
		if c, err := ns.Dial(t, "tcp", addr, 700*time.Millisecond); err == nil {
			c.Close()
		}
	}
}

func watchResult(t *testing.T, p *testbed.Proc) (serverReport, int) {
	t.Helper()
	<-p.Done()
	code := 0
	if err := p.Err(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("server --watch: %v", err)
		}
		code = ee.ExitCode()
	}
	return parseServer(t, p.Stdout(), p.Stderr(), code), code
}

// The SYNs reach the server and its own firewall drops them.
func TestServerWatchLocalDrop(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "0.0.0.0:8282"))
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	p := startWatch(t, n.Server, "3s", "8282")
	dialUntilDone(t, n.Client, "198.51.100.3:8282", p)
	r, code := watchResult(t, p)
	f := expectPort(t, r, code, "firewall_local", "high", 1)
	syns := r.Ports[0].SYNs
	if syns == nil || len(*syns) == 0 {
		t.Fatalf("no SYNs reported: %s", dump(r.Ports[0]))
	}
	for _, s := range *syns {
		if s.Answered != "none" || !strings.HasPrefix(s.From, "198.51.100.2:") {
			t.Errorf("SYN %s", dump(s))
		}
	}
	if !strings.Contains(f.Summary, "get no answer") || !contains(f.Evidence, "--dport 8282 -j DROP") {
		t.Errorf("finding: %s", dump(f))
	}
	// The rule's counter is read after the watch, so it counts those SYNs.
	if fw := r.Ports[0].Firewall; len(fw) == 0 || fw[0].Packets == nil || *fw[0].Packets == 0 || contains(f.Evidence, "matched 0 packets") {
		t.Errorf("the DROP rule's counter must include the SYNs seen: %s", dump(r.Ports[0]))
	}
}

// The SYNs never arrive: the router in front of the server drops them.
func TestServerWatchUpstream(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Chain(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", ":8282"))
	n.Router.Iptables(t, "-A", "FORWARD", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	p := startWatch(t, n.Server, "3s", "8282")
	dialUntilDone(t, n.Client, "203.0.113.2:8282", p)
	r, code := watchResult(t, p)
	f := expectPort(t, r, code, "filtered_upstream", "medium", 1)
	if syns := r.Ports[0].SYNs; syns == nil || len(*syns) != 0 {
		t.Errorf("want an empty syns list: %s", dump(r.Ports[0]))
	}
	if !contains(f.Evidence, "no SYN arrived") {
		t.Errorf("finding: %s", dump(f))
	}
}

// Answered SYNs: the port works, exit 0.
func TestServerWatchAnswered(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", ":8282"))
	p := startWatch(t, n.Server, "2s", "8282")
	dialUntilDone(t, n.Client, "198.51.100.3:8282", p)
	r, code := watchResult(t, p)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, dump(r))
	}
	syns := r.Ports[0].SYNs
	if syns == nil || len(*syns) == 0 || (*syns)[0].Answered != "syn-ack" {
		t.Errorf("syns: %s", dump(r.Ports[0]))
	}
}

// Without root: the rules, other users' processes and the watch are out of
// reach; the audit says so and reports the rest.
func TestServerWithoutRoot(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "setpriv")
	n := testbed.Pair(t)
	n.Server.Listen(t, "tcp", "127.0.0.1:8282")
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	// The test binary's directory is private; nobody needs a copy it can run.
	dir, err := os.MkdirTemp("", "conndiag-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
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
	asNobody := []string{"--reuid=65534", "--regid=65534", "--clear-groups", nb, "server", "--json"}
	stdout, stderr, code := testbed.Exec(t, n.Server, "setpriv", append(asNobody, "8282")...)
	r := parseServer(t, stdout, stderr, code)
	f := expectPort(t, r, code, "bound_to_loopback", "high", 1)
	if !contains(f.Evidence, "only be seen as root") {
		t.Errorf("the hidden owner must be explained: %s", dump(f))
	}
	if !contains(r.NotChecked, "needs root (CAP_NET_ADMIN)") || !contains(r.NotChecked, "/proc/PID/fd") {
		t.Errorf("not_checked must say what needs root: %s", dump(r.NotChecked))
	}
	stdout, stderr, code = testbed.Exec(t, n.Server, "setpriv", append(asNobody, "--watch", "1s", "8282")...)
	r = parseServer(t, stdout, stderr, code)
	if code != 3 || !strings.Contains(stderr, "needs root (CAP_NET_RAW)") || !contains(r.NotChecked, "CAP_NET_RAW") {
		t.Errorf("--watch without root: exit %d, stderr %q, not_checked %v", code, stderr, r.NotChecked)
	}
}

func TestServerBadInput(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	for _, args := range [][]string{
		{"server", "99999"},
		{"server", "http"},
		{"server", "0"},
		{"server", "--watch", "-1s", "80"},
		{"server", "--watch", "soon", "80"},
		{"server", "--watch", "0s", "80"},
	} {
		stdout, stderr, code := testbed.Exec(t, n.Server, bin, args...)
		if code != 2 || stdout != "" || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, "conndiag: error: ") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and one line on stderr", args, code, stdout, stderr)
		}
	}
}
