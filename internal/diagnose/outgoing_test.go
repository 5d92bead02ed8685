package diagnose

import (
	"context"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/firewall"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/verdict"
)

func TestWantsOutgoing(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("OUTPUT rules are read on Linux only")
	}
	icmp := &evidence.ICMP{Origin: 2, Type: 3, Code: 3, From: netip.MustParseAddr("198.51.100.2")}
	for _, c := range []struct {
		name string
		ev   verdict.AddrEvidence
		want bool
	}{
		{"silence", verdict.AddrEvidence{Connect: neterr.Result{Kind: neterr.Timeout}}, true},
		{"ICMP from this machine", verdict.AddrEvidence{ICMPFromLocal: true, Connect: neterr.Result{Kind: neterr.Refused, ICMP: icmp}}, true},
		{"EPERM from connect", verdict.AddrEvidence{Connect: neterr.Result{Kind: neterr.PermissionDenied, Errno: syscall.EPERM}}, true},
		{"EACCES of a prohibit route", verdict.AddrEvidence{Route: &evidence.Route{Type: "prohibit"},
			Connect: neterr.Result{Kind: neterr.PermissionDenied, Errno: syscall.EACCES}}, false},
		{"a closed port's RST", verdict.AddrEvidence{Connect: neterr.Result{Kind: neterr.Refused}}, false},
		{"connected", verdict.AddrEvidence{Connect: neterr.Result{Kind: neterr.OK}}, false},
		{"silence toward this machine", verdict.AddrEvidence{Local: true, Connect: neterr.Result{Kind: neterr.Timeout}}, false},
	} {
		if got := wantsOutgoing(&c.ev); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// The walk of a real iptables-save layout for the connection tried, as evidence.
func TestOutgoingEvidence(t *testing.T) {
	const save = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
[0:0] -A OUTPUT -o lo -j ACCEPT
[3:180] -A OUTPUT -d 203.0.113.2/32 -p tcp -m tcp --dport 8282 -j DROP
COMMIT
`
	tables, err := firewall.ParseIptablesSave(strings.NewReader(save), firewall.BackendIptablesNft, "ip")
	if err != nil {
		t.Fatal(err)
	}
	snap := &firewall.Snapshot{Rules: firewall.Ruleset{Tables: tables}, Read: []string{"iptables-nft-save -c"}}
	c := firewall.Conn{Family: firewall.IPv4, Dst: netip.MustParseAddr("203.0.113.2"), Port: 8282, OutIface: "eth0",
		Src: netip.MustParseAddr("198.51.100.2")}
	o := outgoingEvidence(snap, c)
	if !o.Stops() || o.Result.Decider.Pos != 2 || o.Result.Decider.Packets != 3 || o.Manager != evidence.ManagerIptables {
		t.Fatalf("%+v", o)
	}
	if len(o.Open.Commands) != 1 || o.Open.Commands[0] != "iptables -I OUTPUT -p tcp -d 203.0.113.2 --dport 8282 -j ACCEPT" {
		t.Errorf("opening %+v", o.Open)
	}
	c.Port = 8283
	if o := outgoingEvidence(snap, c); o.Stops() || !o.Read || o.Result.Action != evidence.Accept {
		t.Errorf("another port: %+v", o)
	}

	// Not root: nothing read, and it says why; no command is offered.
	unread := &firewall.Snapshot{Problems: []firewall.Problem{{What: "nft -j list ruleset", Err: "Operation not permitted", NeedRoot: true}}}
	o = outgoingEvidence(unread, c)
	if o.Read || o.Stops() || !o.NeedRoot || len(o.Problems) != 1 || !strings.Contains(o.Problems[0].Err, "Operation not permitted") || len(o.Open.Commands) > 0 {
		t.Errorf("unreadable: %+v", o)
	}
}

// One reading serves the silent targets of a few seconds; a reading cut
// short by ctx is not kept.
func TestRuleCache(t *testing.T) {
	saved := readRules
	defer func() { readRules = saved }()
	var reads atomic.Int32
	readRules = func(ctx context.Context) *firewall.Snapshot { reads.Add(1); return &firewall.Snapshot{} }
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	var c ruleCache
	c.get(context.Background(), clock)
	c.get(context.Background(), clock)
	if reads.Load() != 1 {
		t.Fatalf("%d reads within %v, want 1", reads.Load(), rulesFresh)
	}
	now = now.Add(rulesFresh)
	c.get(context.Background(), clock)
	if reads.Load() != 2 {
		t.Fatalf("%d reads after %v, want 2", reads.Load(), rulesFresh)
	}
	var d ruleCache
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d.get(ctx, clock)
	d.get(context.Background(), clock)
	if reads.Load() != 4 {
		t.Fatalf("a cancelled reading was kept (%d reads)", reads.Load())
	}
}

// How long a router's host or net unreachable waits for the probe ports.
func TestUnreachableGrace(t *testing.T) {
	ms := time.Millisecond
	for _, tt := range []struct {
		name                                 string
		icmpAfter, elapsed, minWait, timeout time.Duration
		want                                 time.Duration
	}{
		{"LAN: the minimum wait", 300 * time.Microsecond, ms, 200 * ms, 3 * time.Second, 199 * ms},
		{"far router: ten of its round trips", 40 * ms, 41 * ms, 200 * ms, 3 * time.Second, 359 * ms},
		{"capped by the timeout", 500 * ms, 510 * ms, 200 * ms, 3 * time.Second, 2490 * ms},
		{"already past it", ms, 300 * ms, 200 * ms, 3 * time.Second, 0},
	} {
		if got := unreachableGrace(tt.icmpAfter, tt.elapsed, tt.minWait, tt.timeout); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
