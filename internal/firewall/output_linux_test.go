//go:build linux

package firewall

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/testbed"
)

// The OUTPUT evaluation against real rule sets: rules installed with the
// real tools in the client namespace of a testbed pair, read back with
// Reader (its commands run in that namespace), and checked twice: against
// the rule expected to decide, and against what the kernel actually does
// to a connection from that namespace.

// dialOutcome is what the kernel did to a connection from the client.
type dialOutcome string

const (
	dialOK      dialOutcome = "connected"
	dialTimeout dialOutcome = "timeout"
	dialRefused dialOutcome = "refused" // RST, or an ICMP error turned into an errno
)

// dialWait is how long a dial waits: an ICMPv6 error for a REJECT in the
// client's own OUTPUT answers only the SYN retransmitted after 1 s
// (measured on Linux 6.18), so a shorter wait would call it a drop.
const dialWait = 1600 * time.Millisecond

func dialFrom(t *testing.T, ns *testbed.NS, addr string) dialOutcome {
	t.Helper()
	c, err := ns.Dial(t, "tcp", addr, dialWait)
	if err == nil {
		c.Close()
		return dialOK
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return dialTimeout
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.EACCES) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EPERM) {
		return dialRefused
	}
	return dialOutcome("error: " + err.Error())
}

// dialAll dials every port at once (drops cost the whole wait each).
func dialAll(t *testing.T, ns *testbed.NS, dst netip.Addr, ws []outWant) map[uint16]dialOutcome {
	t.Helper()
	got := make([]dialOutcome, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = dialFrom(t, ns, netip.AddrPortFrom(dst, w.port).String())
		}()
	}
	wg.Wait()
	m := map[uint16]dialOutcome{}
	for i, w := range ws {
		m[w.port] = got[i]
	}
	return m
}

// want is one connection and the rule expected to decide it.
type outWant struct {
	port       uint16
	action     Action
	chain      string // "" when nothing decides (accept by policy)
	policy     bool
	rule       string // substring of the rule text
	rejectWith string
	manager    string
	kernel     dialOutcome
}

func (w outWant) check(t *testing.T, o Outgoing) {
	t.Helper()
	if o.Action != w.action || o.Uncertain || !o.Read {
		t.Errorf("port %d: %s uncertain=%v read=%v (decider %+v, notes %+v, problems %+v), want %s",
			w.port, o.Action, o.Uncertain, o.Read, o.Decider, o.Notes, o.Problems, w.action)
		return
	}
	if w.chain == "" {
		if o.Decider != nil && o.Action != Accept {
			t.Errorf("port %d: decider %+v, want none", w.port, *o.Decider)
		}
		return
	}
	d := o.Decider
	if d == nil || d.Chain != w.chain || d.Policy != w.policy || !strings.Contains(d.Rule, w.rule) || d.RejectWith != w.rejectWith {
		t.Errorf("port %d: decider %+v, want chain %s policy %v rule ~%q reject-with %q", w.port, d, w.chain, w.policy, w.rule, w.rejectWith)
		return
	}
	if !d.Policy && (!d.Counted || d.Packets == 0) {
		t.Errorf("port %d: the deciding rule's counters show no packet (%+v), yet the kernel saw the SYN", w.port, *d)
	}
	if o.Manager != w.manager {
		t.Errorf("port %d: manager %q, want %q", w.port, o.Manager, w.manager)
	}
}

// serve listens on the server for every port of ws.
func serve(t *testing.T, n *testbed.PairNet, ip netip.Addr, ws []outWant) {
	for _, w := range ws {
		n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", netip.AddrPortFrom(ip, w.port).String()))
	}
}

// runOut dials every port (so the rules' counters move and the kernel's
// own answer is known), reads the client's rule set and checks each.
func runOut(t *testing.T, n *testbed.PairNet, rd Reader, fam Family, dst, src netip.Addr, ws []outWant) (*Snapshot, map[uint16]Outgoing) {
	t.Helper()
	kernel := dialAll(t, n.Client, dst, ws)
	for _, w := range ws {
		if got := kernel[w.port]; got != w.kernel {
			t.Fatalf("port %d: the kernel says %s, the test expects %s: the rules are not what the test thinks", w.port, got, w.kernel)
		}
	}
	rd.Netns = n.Client.Name()
	snap := rd.Read(context.Background(), nil)
	if len(snap.Problems) > 0 {
		t.Fatalf("problems reading the rules: %+v", snap.Problems)
	}
	outs := map[uint16]Outgoing{}
	for _, w := range ws {
		c := Conn{Family: fam, Dst: dst, Port: w.port, OutIface: n.ClientIf, Src: src, Owner: &Owner{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}}
		o := snap.Outgoing(c)
		w.check(t, o)
		outs[w.port] = o
	}
	return snap, outs
}

// applyOpening pastes the offered command into a shell in the client
// namespace, as a person would, and checks the connection then passes.
func applyOpening(t *testing.T, n *testbed.PairNet, snap *Snapshot, o Outgoing, c Conn) {
	t.Helper()
	op := snap.OutgoingOpening(o, c)
	if len(op.Commands) != 1 {
		t.Fatalf("port %d: opening %+v", c.Port, op)
	}
	checkCommand(t, "opening", op.Commands[0])
	n.Client.Run(t, "sh", "-c", op.Commands[0])
	if got := dialFrom(t, n.Client, netip.AddrPortFrom(c.Dst, c.Port).String()); got != dialOK {
		t.Errorf("after %q the connection is %s", op.Commands[0], got)
	}
}

func TestOutputIptablesReal(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Pair(t)
	ws := []outWant{
		{port: 8280, action: Accept, kernel: dialOK},
		{port: 8281, action: Drop, chain: "OUTPUT", rule: "-d 198.51.100.3/32 -p tcp -m tcp --dport 8281 -j DROP", manager: ManagerIptables, kernel: dialTimeout},
		{port: 8282, action: Reject, chain: "OUTPUT", rule: "--dport 8282 -j REJECT --reject-with tcp-reset", rejectWith: "tcp-reset", manager: ManagerIptables, kernel: dialRefused},
		{port: 8283, action: Reject, chain: "egress", rule: "--dport 8283 -j REJECT", rejectWith: "icmp-port-unreachable", manager: ManagerIptables, kernel: dialRefused},
		{port: 8284, action: Drop, chain: "egress", rule: "--uid-owner " + strconv.Itoa(os.Getuid()), manager: ManagerIptables, kernel: dialTimeout},
		{port: 8285, action: Accept, chain: "egress", rule: "--dport 8285 -j ACCEPT", kernel: dialOK},
	}
	serve(t, n, n.ServerIP, ws)
	ipt := func(args ...string) { n.Client.Iptables(t, args...) }
	ipt("-A", "OUTPUT", "-p", "tcp", "-d", "198.51.100.3", "--dport", "8281", "-j", "DROP")
	ipt("-A", "OUTPUT", "-p", "tcp", "--dport", "8282", "-j", "REJECT", "--reject-with", "tcp-reset")
	ipt("-N", "egress")
	ipt("-A", "OUTPUT", "-o", n.ClientIf, "-j", "egress")
	ipt("-A", "egress", "-p", "tcp", "--dport", "8285", "-j", "ACCEPT")
	ipt("-A", "egress", "-p", "tcp", "--dport", "8283", "-j", "REJECT")
	ipt("-A", "egress", "-m", "owner", "--uid-owner", strconv.Itoa(os.Getuid()), "-p", "tcp", "--dport", "8284", "-j", "DROP")
	// Rules that must not decide: other destinations, other owners, other
	// interfaces, and a source this machine does not use.
	ipt("-I", "OUTPUT", "-p", "tcp", "-d", "192.0.2.1", "-j", "DROP")
	ipt("-I", "OUTPUT", "-p", "tcp", "-s", "192.0.2.9", "-j", "DROP")
	// (Not a plain "-o lo -j DROP": a REJECT's own answer to this machine
	// leaves through lo, and would be dropped.)
	ipt("-I", "OUTPUT", "-o", "lo", "-p", "tcp", "--syn", "-j", "DROP")
	ipt("-I", "egress", "-m", "owner", "--uid-owner", "54321", "-j", "DROP")
	snap, outs := runOut(t, n, Reader{}, IPv4, n.ServerIP, n.ClientIP, ws)
	if o := outs[8281]; o.Decider != nil && (o.Decider.Backend != BackendIptablesNft || o.Decider.Table != "filter" || o.Decider.Base != "OUTPUT" || o.Decider.Pos != 4) {
		t.Errorf("8281 decider %+v", *o.Decider)
	}
	c := Conn{Family: IPv4, Dst: n.ServerIP, Port: 8281, OutIface: n.ClientIf, Src: n.ClientIP}
	applyOpening(t, n, snap, outs[8281], c)
}

func TestOutputIptablesLegacyReal(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables-legacy")
	n := testbed.Pair(t)
	if out, err := n.Client.Try("iptables-legacy", "-w", "5", "-L", "OUTPUT"); err != nil {
		t.Skipf("iptables-legacy does not work here (no ip_tables module?): %v: %s", err, out)
	}
	ws := []outWant{
		{port: 8280, action: Accept, kernel: dialOK},
		{port: 8281, action: Drop, chain: "OUTPUT", rule: "--dport 8281 -j DROP", manager: ManagerIptables, kernel: dialTimeout},
		{port: 8282, action: Reject, chain: "OUTPUT", rule: "--reject-with icmp-admin-prohibited", rejectWith: "icmp-admin-prohibited", manager: ManagerIptables, kernel: dialRefused},
	}
	serve(t, n, n.ServerIP, ws)
	leg := func(args ...string) { n.Client.Run(t, append([]string{"iptables-legacy", "-w", "5"}, args...)...) }
	leg("-A", "OUTPUT", "-p", "tcp", "--dport", "8281", "-j", "DROP")
	leg("-A", "OUTPUT", "-p", "tcp", "-d", "198.51.100.0/24", "--dport", "8282", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited")
	snap, outs := runOut(t, n, Reader{}, IPv4, n.ServerIP, n.ClientIP, ws)
	if d := outs[8281].Decider; d != nil && d.Backend != BackendIptablesLegacy {
		t.Errorf("backend %q", d.Backend)
	}
	applyOpening(t, n, snap, outs[8282], Conn{Family: IPv4, Dst: n.ServerIP, Port: 8282, OutIface: n.ClientIf, Src: n.ClientIP})
}

func TestOutputIp6tablesReal(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "ip6tables")
	n := testbed.Pair(t)
	if !n.ClientIP6.IsValid() {
		t.Skip("no IPv6 in this kernel")
	}
	// Wait for duplicate address detection to finish on both ends.
	n.Client.Run(t, "sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0")
	ws := []outWant{
		{port: 8280, action: Accept, kernel: dialOK},
		{port: 8281, action: Reject, chain: "OUTPUT", rule: "icmp6-adm-prohibited", rejectWith: "icmp6-adm-prohibited", manager: ManagerIptables, kernel: dialRefused},
	}
	serve(t, n, n.ServerIP6, ws)
	waitDial6(t, n)
	n.Client.Run(t, "ip6tables", "-w", "5", "-A", "OUTPUT", "-p", "tcp", "-d", n.ServerIP6.String(), "--dport", "8281", "-j", "REJECT", "--reject-with", "icmp6-adm-prohibited")
	snap, outs := runOut(t, n, Reader{}, IPv6, n.ServerIP6, n.ClientIP6, ws)
	applyOpening(t, n, snap, outs[8281], Conn{Family: IPv6, Dst: n.ServerIP6, Port: 8281, OutIface: n.ClientIf, Src: n.ClientIP6})
}

// waitDial6 waits until IPv6 addresses are usable (DAD) on the link.
func waitDial6(t *testing.T, n *testbed.PairNet) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := n.Client.IP(t, "-6", "addr", "show", "dev", n.ClientIf) + n.Server.IP(t, "-6", "addr", "show", "dev", n.ServerIf)
		if !strings.Contains(out, "tentative") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("IPv6 addresses still tentative:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestOutputNftReal(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "nft")
	n := testbed.Pair(t)
	ws := []outWant{
		{port: 8280, action: Accept, kernel: dialOK},
		{port: 8281, action: Drop, chain: "out", rule: "ip daddr 198.51.100.3 tcp dport 8281 counter", manager: ManagerNftables, kernel: dialTimeout},
		{port: 8282, action: Reject, chain: "out", rule: "reject with tcp reset", rejectWith: "tcp-reset", manager: ManagerNftables, kernel: dialRefused},
		{port: 8283, action: Reject, chain: "more", rule: "tcp dport 8283", rejectWith: "port-unreachable", manager: ManagerNftables, kernel: dialRefused},
		{port: 8284, action: Drop, chain: "more", rule: "meta skuid", manager: ManagerNftables, kernel: dialTimeout},
		{port: 8286, action: Drop, chain: "strict", policy: true, rule: "policy drop", manager: ManagerNftables, kernel: dialTimeout},
		{port: 8287, action: Drop, chain: "late", rule: "tcp dport 8287", manager: ManagerNftables, kernel: dialTimeout},
	}
	serve(t, n, n.ServerIP, ws)
	n.Client.Nft(t, `
table inet egress {
	set blocked { type ipv4_addr; elements = { 192.0.2.1, 192.0.2.2 } }
	chain out {
		type filter hook output priority 0; policy accept;
		ip daddr @blocked counter drop
		oifname "lo" tcp flags syn counter drop
		ip saddr 192.0.2.9 counter drop
		ip daddr 198.51.100.3 tcp dport 8281 counter drop
		tcp dport 8282 counter reject with tcp reset
		oifname "`+n.ClientIf+`" jump more
	}
	chain more {
		meta skuid 54321 counter drop
		tcp dport 8283 counter reject
		meta skuid `+strconv.Itoa(os.Getuid())+` tcp dport 8284 counter drop
	}
}
table ip strict {
	chain strict {
		type filter hook output priority 10; policy drop;
		meta l4proto != tcp accept # a REJECT's ICMP answer passes here too
		tcp dport != 8286 accept
	}
}
table ip late {
	chain late {
		type filter hook postrouting priority 0; policy accept;
		tcp dport 8287 counter drop
	}
}`)
	snap, outs := runOut(t, n, Reader{}, IPv4, n.ServerIP, n.ClientIP, ws)
	if d := outs[8281].Decider; d != nil && (d.Family != "inet" || d.Table != "egress" || d.Base != "out" || d.Handle == 0) {
		t.Errorf("8281 decider %+v", *d)
	}
	applyOpening(t, n, snap, outs[8282], Conn{Family: IPv4, Dst: n.ServerIP, Port: 8282, OutIface: n.ClientIf, Src: n.ClientIP})
}

// firewalld filters outgoing connections through policies; its nft
// layout for a policy from HOST, loaded here by nft (firewalld itself is
// not installed), names the policy for the command.
func TestOutputFirewalldPolicyReal(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "nft")
	n := testbed.Pair(t)
	ws := []outWant{
		{port: 8280, action: Accept, chain: "filter_OUT_policy_restrict-out_allow", rule: "tcp dport 8280 counter", kernel: dialOK},
		{port: 8281, action: Reject, chain: "filter_OUT_policy_restrict-out", rule: "reject with icmpx admin-prohibited", rejectWith: "admin-prohibited", manager: ManagerFirewalld, kernel: dialRefused},
	}
	serve(t, n, n.ServerIP, ws)
	n.Client.Nft(t, `
table inet firewalld {
	chain filter_OUTPUT {
		type filter hook output priority filter + 10; policy accept;
		ct state { established, related } accept
		oifname "lo" accept
		jump filter_OUTPUT_POLICIES
	}
	chain filter_OUTPUT_POLICIES {
		oifname "`+n.ClientIf+`" jump filter_OUT_policy_restrict-out
		return
	}
	chain filter_OUT_policy_restrict-out {
		jump filter_OUT_policy_restrict-out_pre
		jump filter_OUT_policy_restrict-out_log
		jump filter_OUT_policy_restrict-out_deny
		jump filter_OUT_policy_restrict-out_allow
		jump filter_OUT_policy_restrict-out_post
		counter reject with icmpx admin-prohibited
	}
	chain filter_OUT_policy_restrict-out_pre { }
	chain filter_OUT_policy_restrict-out_log { }
	chain filter_OUT_policy_restrict-out_deny { }
	chain filter_OUT_policy_restrict-out_allow {
		tcp dport 8280 counter accept
	}
	chain filter_OUT_policy_restrict-out_post { }
}`)
	snap, outs := runOut(t, n, Reader{}, IPv4, n.ServerIP, n.ClientIP, ws)
	op := snap.OutgoingOpening(outs[8281], Conn{Family: IPv4, Dst: n.ServerIP, Port: 8281})
	if len(op.Commands) != 1 || op.Commands[0] != "firewall-cmd --permanent --policy=restrict-out --add-port=8281/tcp && firewall-cmd --reload" {
		t.Errorf("opening %+v", op)
	}
}

// ufw's own layout, restored with the real iptables, with a user rule
// "deny out to 198.51.100.3 port 8281" and the outgoing policy deny; the
// ufw files are read from a scratch root.
func TestOutputUFWReal(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables-restore")
	n := testbed.Pair(t)
	layout := string(readTestdata(t, "ufw-save.txt"))
	// "ufw default deny outgoing": the policy, and no accepting of every
	// new outgoing connection in ufw-track-output.
	layout = strings.Replace(layout, ":OUTPUT ACCEPT [0:0]", ":OUTPUT DROP [0:0]", 1)
	var kept []string
	for _, l := range strings.Split(layout, "\n") {
		if !strings.HasPrefix(l, "[0:0] -A ufw-track-output") {
			kept = append(kept, l)
		}
	}
	layout = strings.Join(kept, "\n")
	userOut := "[0:0] -A ufw-user-output -d 198.51.100.3/32 -p tcp -m tcp --dport 8281 -j DROP\n" +
		"[0:0] -A ufw-user-output -d 198.51.100.3/32 -p tcp -m tcp --dport 8280 -j ACCEPT\n"
	i := strings.Index(layout, "[0:0] -A ufw-before-output -o lo -j ACCEPT")
	if i < 0 {
		t.Fatal("ufw-save.txt changed: no ufw-before-output rule")
	}
	layout = layout[:i] + userOut + layout[i:]
	if out, err := runIn(n.Client, layout, "iptables-restore", "-w", "5", "-c"); err != nil {
		t.Fatalf("iptables-restore: %v\n%s", err, out)
	}
	ws := []outWant{
		{port: 8280, action: Accept, chain: "ufw-user-output", rule: "--dport 8280 -j ACCEPT", kernel: dialOK},
		{port: 8281, action: Drop, chain: "ufw-user-output", rule: "--dport 8281 -j DROP", manager: ManagerUFW, kernel: dialTimeout},
		{port: 8282, action: Drop, chain: "OUTPUT", policy: true, rule: ":OUTPUT DROP", manager: ManagerUFW, kernel: dialTimeout},
	}
	serve(t, n, n.ServerIP, ws)
	root := t.TempDir()
	for name, body := range map[string]string{
		"etc/ufw/ufw.conf": "ENABLED=yes\n",
		"etc/default/ufw":  "DEFAULT_INPUT_POLICY=\"DROP\"\nDEFAULT_OUTPUT_POLICY=\"DROP\"\n",
		"etc/ufw/user.rules": "*filter\n### RULES ###\n" +
			"### tuple ### deny tcp 8281 198.51.100.3 any 0.0.0.0/0 out\n-A ufw-user-output -p tcp -d 198.51.100.3 --dport 8281 -j DROP\n" +
			"### tuple ### allow tcp 8280 198.51.100.3 any 0.0.0.0/0 out\n-A ufw-user-output -p tcp -d 198.51.100.3 --dport 8280 -j ACCEPT\n" +
			"### END RULES ###\nCOMMIT\n",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	snap, outs := runOut(t, n, Reader{Root: root}, IPv4, n.ServerIP, n.ClientIP, ws)
	for port, want := range map[uint16]struct{ action, tuple string }{
		8280: {"allow", "allow tcp 8280"}, 8281: {"deny", "deny tcp 8281"}, 8282: {"drop", ""},
	} {
		o := outs[port]
		if !o.UFWOn || o.UFWAction != want.action || (o.UFWRule == nil) != (want.tuple == "") || o.UFWRule != nil && !strings.Contains(o.UFWRule.Tuple, want.tuple) {
			t.Errorf("port %d: ufw %v %q %+v, want %s %q", port, o.UFWOn, o.UFWAction, o.UFWRule, want.action, want.tuple)
		}
	}
	c := Conn{Family: IPv4, Dst: n.ServerIP, Port: 8281, OutIface: n.ClientIf, Src: n.ClientIP}
	if op := snap.OutgoingOpening(outs[8281], c); len(op.Commands) != 1 || op.Commands[0] != "ufw insert 1 allow out to 198.51.100.3 port 8281 proto tcp" {
		t.Errorf("opening %+v", op)
	}
	c.Port = 8282
	if op := snap.OutgoingOpening(outs[8282], c); len(op.Commands) != 1 || op.Commands[0] != "ufw allow out to 198.51.100.3 port 8282 proto tcp" {
		t.Errorf("opening %+v", op)
	}
}

// Without root the rules cannot be read: nothing is concluded.
func TestOutputUnreadable(t *testing.T) {
	snap := &Snapshot{Problems: []Problem{{What: "iptables-nft-save -c", Err: "Permission denied (you must be root)", NeedRoot: true}}}
	o := snap.Outgoing(Conn{Family: IPv4, Dst: netip.MustParseAddr("198.51.100.3"), Port: 8282})
	if o.Read || !o.Uncertain || len(o.Problems) != 1 || o.Manager != "" {
		t.Errorf("%+v", o)
	}
}

// runIn runs argv in ns with stdin.
func runIn(ns *testbed.NS, stdin string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testbed.ExecTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name()}, argv...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
