package diagnose

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/capture"
	"github.com/conndiag/conndiag/internal/cloud"
	"github.com/conndiag/conndiag/internal/firewall"
	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/verdict"
)

// fakeHost is a server host made of plain values, read by fake host readers,
// so every rule of the server audit runs without root and without a network.
type fakeHost struct {
	socks     []host.DiagSocket
	owners    map[uint64][]host.Owner
	addrs     []string
	sysctl    map[string]int
	rules     string // iptables-save output; "" with rulesErr: unreadable
	needRoot  bool
	dmi       cloud.DMI
	panel     *cloud.Panel
	watch     *capture.Result
	watchErr  error
	overflows []uint64 // ListenOverflows at the first and second read
	cancel    bool     // the context ends during the watch
}

type fakeWatcher struct {
	res    capture.Result
	cancel context.CancelFunc
}

func (w fakeWatcher) Run(ctx context.Context, d time.Duration) (capture.Result, error) {
	if w.cancel != nil {
		w.cancel()
	}
	return w.res, nil
}

func listenSock(addr string, inode uint64, queue, backlog uint32) host.DiagSocket {
	return host.DiagSocket{Socket: host.Socket{Local: netip.MustParseAddrPort(addr), State: host.StateListen, Inode: inode},
		V6Only: -1, RQueue: queue, WQueue: backlog}
}

func (f fakeHost) readers(t *testing.T, cancel context.CancelFunc) HostReaders {
	calls := 0
	return HostReaders{
		Hostname: func() (string, error) { return "web1", nil },
		Euid:     func() int { return 0 },
		Counters: func() (host.TCPCounters, error) {
			n := uint64(0)
			if len(f.overflows) == 2 {
				n = f.overflows[min(calls, 1)]
			}
			calls++
			return host.TCPCounters{ListenOverflows: n}, nil
		},
		Sockets: func() ([]host.DiagSocket, bool, error) { return f.socks, false, nil },
		Procs: func(map[uint64]bool) (host.ProcScan, error) {
			return host.ProcScan{Owners: f.owners, Running: map[string]bool{}}, nil
		},
		Addrs: func() ([]host.Addr, error) {
			var out []host.Addr
			for _, a := range f.addrs {
				out = append(out, host.Addr{Prefix: netip.MustParsePrefix(a), Iface: "eth0"})
			}
			return out, nil
		},
		Route: func(netip.Addr) (host.Route, error) { return host.Route{Iface: "eth0", Type: "unicast"}, nil },
		Sysctl: func(name string) (int, error) {
			if v, ok := f.sysctl[name]; ok {
				return v, nil
			}
			defaults := map[string]int{"net.core.somaxconn": 4096, "net.ipv4.tcp_max_syn_backlog": 4096, "net.ipv4.tcp_tw_reuse": 2,
				"net.ipv4.tcp_max_tw_buckets": 262144, "net.ipv6.bindv6only": 0}
			if v, ok := defaults[name]; ok {
				return v, nil
			}
			return 0, errors.New("no such sysctl")
		},
		PortRange: func() (host.PortRange, error) { return host.PortRange{Lo: 32768, Hi: 60999}, nil },
		Firewall: func(context.Context) *firewall.Snapshot {
			if f.rules == "" {
				return &firewall.Snapshot{Problems: []firewall.Problem{{What: "iptables-save", Err: "Permission denied (you must be root)", NeedRoot: f.needRoot}}}
			}
			tables, err := firewall.ParseIptablesSave(strings.NewReader(f.rules), firewall.BackendIptablesNft, "ip")
			if err != nil {
				t.Fatal(err)
			}
			return &firewall.Snapshot{Rules: firewall.Ruleset{Tables: tables}, Read: []string{"iptables-nft-save"}}
		},
		DMI:   func() cloud.DMI { return f.dmi },
		Panel: func() *cloud.Panel { return f.panel },
		Watch: func([]uint16) (Watcher, error) {
			if f.watchErr != nil {
				return nil, f.watchErr
			}
			w := fakeWatcher{res: *f.watch}
			if f.cancel {
				w.cancel = cancel
			}
			return w, nil
		},
	}
}

const acceptAll = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
`

const drop8282 = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
[7:420] -A INPUT -p tcp -m tcp --dport 8282 -j DROP
COMMIT
`

func syns(answers ...capture.Answer) *capture.Result {
	r := &capture.Result{Duration: 3 * time.Second}
	for i, a := range answers {
		r.SYNs = append(r.SYNs, capture.SYN{From: netip.AddrPortFrom(netip.MustParseAddr("198.51.100.2"), uint16(40000+i)),
			To: netip.MustParseAddrPort("203.0.113.2:8282"), Count: 2, Answer: a})
	}
	return r
}

func ownerAt(open int, soft uint64) map[uint64][]host.Owner {
	return map[uint64][]host.Owner{1: {{PID: 42, Process: "php", FDs: open, NoFile: &host.Rlimit{Soft: soft, Hard: 4 * soft}}}}
}

// Every rule of the server audit, reached through Audit with fake host
// readers: what the audit gathers reaches the rules, and the report says it.
func TestAuditRules(t *testing.T) {
	pub := []string{"203.0.113.2/24"}
	busy := []host.DiagSocket{listenSock("0.0.0.0:8282", 1, 0, 511)}
	for i := range 20000 {
		busy = append(busy, host.DiagSocket{Socket: host.Socket{Local: netip.AddrPortFrom(netip.MustParseAddr("203.0.113.2"), uint16(32768+i)),
			Remote: netip.MustParseAddrPort("198.51.100.9:3306"), State: host.StateEstablished}})
	}
	tests := []struct {
		name  string
		host  fakeHost
		ports []uint16
		watch bool
		port  []string // rules of the port's findings, in order
		host_ []string // rules of the host's findings
	}{
		{name: "clean", host: fakeHost{socks: []host.DiagSocket{listenSock("0.0.0.0:8282", 1, 0, 511)}, addrs: pub, rules: acceptAll},
			ports: []uint16{8282}},
		{name: "nothing listens", host: fakeHost{addrs: pub, rules: acceptAll}, ports: []uint16{8282},
			port: []string{"server.not_listening"}},
		{name: "loopback only, and a rule drops it", host: fakeHost{socks: []host.DiagSocket{listenSock("127.0.0.1:8282", 1, 0, 511)}, addrs: pub, rules: drop8282},
			ports: []uint16{8282}, port: []string{"server.loopback", "server.firewall"}},
		{name: "another address", host: fakeHost{socks: []host.DiagSocket{listenSock("203.0.113.2:8282", 1, 0, 511)},
			addrs: []string{"203.0.113.2/24", "198.51.100.5/24"}, rules: acceptAll},
			ports: []uint16{8282}, port: []string{"server.other_address"}},
		{name: "queue full, descriptors at the limit", host: fakeHost{socks: []host.DiagSocket{listenSock("0.0.0.0:8282", 1, 511, 511)},
			owners: ownerAt(1024, 1024), addrs: pub, rules: acceptAll},
			ports: []uint16{8282}, port: []string{"server.queue_full", "server.fd"}},
		{name: "watch: no SYN, on AWS with BaoTa", host: fakeHost{socks: []host.DiagSocket{listenSock("0.0.0.0:8282", 1, 0, 511)}, addrs: pub, rules: acceptAll,
			dmi: cloud.DMI{SysVendor: "Amazon EC2", ProductName: "t3.micro"}, panel: &cloud.Panel{ID: "baota", Port: "8888"}, watch: syns()},
			ports: []uint16{8282}, watch: true, port: []string{"server.watch.no_syn"}, host_: []string{"host.cloud", "host.panel"}},
		{name: "watch: dropped by the rule", host: fakeHost{socks: []host.DiagSocket{listenSock("0.0.0.0:8282", 1, 0, 511)}, addrs: pub, rules: drop8282,
			watch: syns(capture.None, capture.None)},
			ports: []uint16{8282}, watch: true, port: []string{"server.watch.dropped"}},
		{name: "watch: one lone SYN unanswered", host: fakeHost{socks: []host.DiagSocket{listenSock("0.0.0.0:8282", 1, 0, 511)}, addrs: pub, rules: acceptAll,
			watch: func() *capture.Result {
				r := syns(capture.SynAck, capture.SynAck, capture.None)
				r.SYNs[2].Count = 1
				return r
			}()},
			ports: []uint16{8282}, watch: true, port: []string{"server.watch.some_unanswered"}},
		{name: "watch: reset while listening", host: fakeHost{socks: []host.DiagSocket{listenSock("0.0.0.0:8282", 1, 0, 511)}, addrs: pub, rules: acceptAll,
			watch: syns(capture.RST)},
			ports: []uint16{8282}, watch: true, port: []string{"server.watch.reset"}},
		{name: "watch: unanswered while the queue overflows", host: fakeHost{socks: []host.DiagSocket{listenSock("0.0.0.0:8282", 1, 0, 511)}, addrs: pub, rules: acceptAll,
			watch: syns(capture.None), overflows: []uint64{10, 25}},
			ports: []uint16{8282}, watch: true, port: []string{"server.watch.overflow"}, host_: []string{"host.overflow"}},
		{name: "private addresses, conntrack full, one destination takes the ports", host: fakeHost{socks: busy,
			addrs: []string{"10.0.0.5/24"}, rules: acceptAll,
			sysctl: map[string]int{"net.netfilter.nf_conntrack_count": 65536, "net.netfilter.nf_conntrack_max": 65536}},
			ports: []uint16{8282}, host_: []string{"host.conntrack", "host.ports", "host.private"}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			opt := AuditOptions{Ports: tt.ports, Readers: tt.host.readers(t, cancel)}
			if tt.watch {
				opt.Watch = 3 * time.Second
			}
			rep, err := Audit(ctx, opt)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Ports) != 1 {
				t.Fatalf("%d ports audited", len(rep.Ports))
			}
			got := rules(rep.Ports[0].Findings)
			if !slices.Equal(got, tt.port) {
				t.Errorf("port rules %v, want %v", got, tt.port)
			}
			if got := rules(rep.Findings); !slices.Equal(got, tt.host_) {
				t.Errorf("host rules %v, want %v", got, tt.host_)
			}
			if clean := len(tt.port) == 0 && len(tt.host_) == 0; rep.Problem() == clean && !strings.Contains(tt.name, "lone") {
				t.Errorf("Problem() = %v for %v / %v", rep.Problem(), tt.port, tt.host_)
			}
			for _, id := range append(got, rules(rep.Findings)...) {
				seen[id] = true
			}
		})
	}
	for _, r := range verdict.Rules() {
		if (r.Stage == "server-port" || r.Stage == "server-host") && !seen[r.ID] {
			t.Errorf("no Audit case reaches rule %s", r.ID)
		}
	}
}

func rules(fs []verdict.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule)
	}
	return out
}

// Without root the firewall cannot be read: a port with nothing else wrong
// is not clean, and says why.
func TestAuditUnreadableFirewallIsNotClean(t *testing.T) {
	f := fakeHost{socks: []host.DiagSocket{listenSock("0.0.0.0:8282", 1, 0, 511)}, addrs: []string{"203.0.113.2/24"}, needRoot: true}
	rep, err := Audit(context.Background(), AuditOptions{Ports: []uint16{8282}, Readers: f.readers(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Problem() || rep.Complete() {
		t.Fatalf("Problem %v, Complete %v: want no problem, not complete", rep.Problem(), rep.Complete())
	}
	if u := rep.Ports[0].Unchecked; len(u) != 1 || u[0].ID != "server.unchecked.firewall_root" {
		t.Errorf("unchecked %v", u)
	}
}

// Ctrl-C during the watch: the report says it was cut short.
func TestAuditCancelledWatch(t *testing.T) {
	f := fakeHost{socks: []host.DiagSocket{listenSock("0.0.0.0:8282", 1, 0, 511)}, addrs: []string{"203.0.113.2/24"}, rules: acceptAll,
		watch: syns(), cancel: true}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rep, err := Audit(ctx, AuditOptions{Ports: []uint16{8282}, Watch: time.Minute, Readers: f.readers(t, cancel)})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Cancelled {
		t.Error("a watch ended by Ctrl-C is not reported as cancelled")
	}
}

// The watch needs root; without it the audit says so and goes on.
func TestAuditWatchNotPermitted(t *testing.T) {
	f := fakeHost{socks: []host.DiagSocket{listenSock("0.0.0.0:8282", 1, 0, 511)}, addrs: []string{"203.0.113.2/24"}, rules: acceptAll,
		watchErr: capture.ErrNotPermitted}
	rep, err := Audit(context.Background(), AuditOptions{Ports: []uint16{8282}, Watch: time.Second, Readers: f.readers(t, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(rep.WatchErr, capture.ErrNotPermitted) || len(rep.NotChecked) == 0 || rep.Ports[0].Watched {
		t.Errorf("WatchErr %v, not checked %v, watched %v", rep.WatchErr, rep.NotChecked, rep.Ports[0].Watched)
	}
}

// The clock is the audit's own: the durations it reports come from it.
func TestAuditClock(t *testing.T) {
	f := fakeHost{socks: []host.DiagSocket{listenSock("0.0.0.0:8282", 1, 0, 511)}, addrs: []string{"203.0.113.2/24"}, rules: acceptAll}
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { at = at.Add(250 * time.Millisecond); return at }
	rep, err := Audit(context.Background(), AuditOptions{Ports: []uint16{8282}, Readers: f.readers(t, nil), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Duration != 500*time.Millisecond || rep.HostEv.Audit != 250*time.Millisecond {
		t.Errorf("durations %v / %v from the fake clock", rep.Duration, rep.HostEv.Audit)
	}
}

// Sockets that cannot be read stop the audit with the one error it has.
func TestAuditNoSockets(t *testing.T) {
	rd := fakeHost{}.readers(t, nil)
	rd.Sockets = func() ([]host.DiagSocket, bool, error) { return nil, false, errors.New("no netlink, no /proc") }
	if _, err := Audit(context.Background(), AuditOptions{Readers: rd}); !errors.Is(err, ErrNoSockets) {
		t.Errorf("err %v", err)
	}
}
