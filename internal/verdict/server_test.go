package verdict

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/firewall"
	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/i18n"
)

var (
	svV4   = netip.MustParseAddr("203.0.113.2")
	svV6   = netip.MustParseAddr("2001:db8:2::2")
	svPriv = netip.MustParseAddr("10.0.0.5")
	svHost = HostEvidence{Addrs: []netip.Addr{svV4, svV6}, Ports: []uint16{8282},
		Limits: Limits{Somaxconn: 4096, SynBacklog: 4096, TwReuse: 2, BindV6Only: 0, PortRange: host.PortRange{Lo: 32768, Hi: 60999},
			ConntrackCount: -1, ConntrackMax: -1}}
	svOwner = host.Owner{PID: 4242, Process: "php", FDs: 20, NoFile: &host.Rlimit{Soft: 1024, Hard: 524288}}
)

func svListen(addr string, v6only int8) Listener {
	return Listener{Addr: netip.MustParseAddrPort(addr), V6Only: v6only, Backlog: 511, Owners: []host.Owner{svOwner}}
}

func svDrop(fam firewall.Family, uncertain bool) FirewallEvidence {
	bin := "iptables"
	if fam == firewall.IPv6 {
		bin = "ip6tables"
	}
	return FirewallEvidence{
		Result: firewall.Result{Family: fam, Port: 8282, Action: firewall.Drop, Uncertain: uncertain,
			Decider: &firewall.Hit{Backend: firewall.BackendIptablesNft, Family: "ip", Table: "filter", Chain: "INPUT", Base: "INPUT",
				Rule: "-A INPUT -p tcp -m tcp --dport 8282 -j DROP", Pos: 3, Counted: true, Packets: 7}},
		Open: firewall.Opening{Manager: firewall.ManagerIptables, Commands: []string{bin + " -I INPUT -p tcp --dport 8282 -j ACCEPT"}},
	}
}

func svAccept(fam firewall.Family) FirewallEvidence {
	return FirewallEvidence{Result: firewall.Result{Family: fam, Port: 8282, Action: firewall.Accept}}
}

func svWatch(answers ...string) *Watch {
	w := &Watch{Duration: 3 * time.Second}
	for i, a := range answers {
		w.SYNs = append(w.SYNs, WatchedSYN{From: netip.AddrPortFrom(netip.MustParseAddr("198.51.100.2"), uint16(40000+i)),
			To: netip.AddrPortFrom(svV4, 8282), Count: 2, Answer: a})
	}
	return w
}

// svRender checks that every text of the findings renders completely.
func svRender(t *testing.T, fs []Finding) string {
	t.Helper()
	p := i18n.New("en")
	var b strings.Builder
	check := func(m i18n.Msg) {
		s := p.Text(m)
		if !m.IsCmd() && (s == m.ID || strings.Contains(s, "<no value>")) {
			t.Errorf("message %q renders as %q", m.ID, s)
		}
		b.WriteString(s + "\n")
	}
	for _, f := range fs {
		check(f.Summary)
		for _, m := range f.Evidence {
			check(m)
		}
		for _, m := range f.Fix {
			check(m)
		}
	}
	return b.String()
}

func TestDecidePort(t *testing.T) {
	snap := newSnapshot(t)
	v4only := svHost
	v4only.Addrs = []netip.Addr{svV4}
	overflow := v4only
	overflow.OverflowGrowth, overflow.OverflowTotal, overflow.Audit = 12, 40, 3*time.Second
	aws := svHost
	aws.Cloud = "aws"
	dnat := svAccept(firewall.IPv4)
	dnat.Result.Redirect = &firewall.Redirect{Hit: firewall.Hit{Rule: "-A DOCKER -p tcp --dport 8282 -j DNAT --to-destination 172.17.0.2:80"},
		Addr: netip.MustParseAddr("172.17.0.2"), Port: 80}
	dnat.Result.Forwarded = true
	full := svListen("0.0.0.0:8282", -1)
	full.Queue, full.Backlog = 128, 128
	atLimit := svListen("0.0.0.0:8282", -1)
	atLimit.Owners = []host.Owner{{PID: 7, Process: "node", FDs: 1024, NoFile: &host.Rlimit{Soft: 1024, Hard: 4096}}}
	nearLimit := svListen("0.0.0.0:8282", -1)
	nearLimit.Owners = []host.Owner{{PID: 7, Process: "node", FDs: 950, NoFile: &host.Rlimit{Soft: 1024, Hard: 4096}}}
	unlimited := svListen("0.0.0.0:8282", -1)
	unlimited.Owners = []host.Owner{{PID: 7, Process: "node", FDs: 5000, NoFile: &host.Rlimit{Soft: host.Unlimited, Hard: host.Unlimited}}}
	hidden := Listener{Addr: netip.MustParseAddrPort("127.0.0.1:8282"), V6Only: -1, UID: 33, OwnerHidden: true}

	tests := []struct {
		name   string
		h      HostEvidence
		p      PortEvidence
		causes []Cause      // in order; nil for a clean port
		confs  []Confidence // of the same findings
		text   []string     // substrings of the rendered findings
	}{
		{"clean wildcard dual-stack", svHost, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("[::]:8282", 0)},
			Firewall: []FirewallEvidence{svAccept(firewall.IPv4), svAccept(firewall.IPv6)}}, nil, nil, nil},
		{"clean: two wildcards", svHost, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("0.0.0.0:8282", -1), svListen("[::]:8282", 1)}},
			nil, nil, nil},
		{"nothing listens", svHost, PortEvidence{Port: 8282, Asked: true},
			[]Cause{CauseNotListening}, []Confidence{High}, []string{"No socket listens on TCP port 8282", "ss -ltnp 'sport = :8282'"}},
		{"nothing listens, but DNAT forwards it", svHost, PortEvidence{Port: 8282, Asked: true, Firewall: []FirewallEvidence{dnat}},
			[]Cause{CauseNotListening}, []Confidence{Low}, []string{"redirected to 172.17.0.2:80"}},
		{"loopback only, asked", svHost, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("127.0.0.1:8282", -1)}},
			[]Cause{CauseBoundToLoopback}, []Confidence{High}, []string{"Clients that connect to 203.0.113.2, 2001:db8:2::2 are refused", "php (pid 4242)", "0.0.0.0"}},
		{"loopback only, and the firewall drops the port", v4only, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("127.0.0.1:8282", -1)},
			Firewall: []FirewallEvidence{svDrop(firewall.IPv4, false)}},
			[]Cause{CauseBoundToLoopback, CauseFirewallLocal}, []Confidence{High, Medium}, []string{"iptables -I INPUT -p tcp --dport 8282 -j ACCEPT"}},
		{"loopback only, found listening", svHost, PortEvidence{Port: 8282, Listeners: []Listener{svListen("[::1]:8282", 1)}},
			[]Cause{CauseBoundToLoopback}, []Confidence{Low}, nil},
		{"loopback, owner hidden", svHost, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{hidden}},
			[]Cause{CauseBoundToLoopback}, []Confidence{High}, []string{"uid 33", "only be seen as root"}},
		{"specific address", HostEvidence{Addrs: []netip.Addr{svPriv, svV4}, Limits: svHost.Limits},
			PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("10.0.0.5:8282", -1)}},
			[]Cause{CauseBoundToOtherAddress}, []Confidence{Medium},
			[]string{"listens on 10.0.0.5:8282 only: clients that connect to 203.0.113.2 are refused", "Clients can connect to: 10.0.0.5."}},
		{"IPv4 wildcard on a dual-stack host", svHost, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("0.0.0.0:8282", -1)}},
			[]Cause{CauseBoundToOtherAddress}, []Confidence{Low}, []string{"2001:db8:2::2 are refused"}},
		{"[::] with IPV6_V6ONLY", svHost, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("[::]:8282", 1)}},
			[]Cause{CauseBoundToOtherAddress}, []Confidence{Medium}, []string{"IPV6_V6ONLY set", "203.0.113.2 are refused"}},
		{"[::] unknown V6Only, bindv6only=1", func() HostEvidence { h := svHost; h.Limits.BindV6Only = 1; return h }(),
			PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("[::]:8282", -1)}},
			[]Cause{CauseBoundToOtherAddress}, []Confidence{Medium}, nil},
		{"firewall drops IPv4", v4only, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("0.0.0.0:8282", -1)},
			Firewall: []FirewallEvidence{svDrop(firewall.IPv4, false)}},
			[]Cause{CauseFirewallLocal}, []Confidence{High},
			[]string{"IPv4: drop by iptables-nft, table filter, chain INPUT: -A INPUT -p tcp -m tcp --dport 8282 -j DROP",
				"matched 7 packets", "Open it with iptables", "iptables -I INPUT -p tcp --dport 8282 -j ACCEPT", "netfilter-persistent save"}},
		{"firewall drops a family nobody listens on", svHost, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("0.0.0.0:8282", -1)},
			Firewall: []FirewallEvidence{svAccept(firewall.IPv4), svDrop(firewall.IPv6, false)}},
			[]Cause{CauseBoundToOtherAddress}, []Confidence{Low}, nil},
		{"firewall drops, rules not all understood", v4only, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("0.0.0.0:8282", -1)},
			Firewall: []FirewallEvidence{svDrop(firewall.IPv4, true)}},
			[]Cause{CauseFirewallLocal}, []Confidence{Medium}, []string{"could not be evaluated"}},
		{"firewall drops an unasked port", v4only, PortEvidence{Port: 3306, Listeners: []Listener{svListen("0.0.0.0:3306", -1)},
			Firewall: []FirewallEvidence{svDrop(firewall.IPv4, false)}},
			[]Cause{CauseFirewallLocal}, []Confidence{Low}, nil},
		{"nothing listens and the firewall drops", v4only, PortEvidence{Port: 8282, Asked: true, Firewall: []FirewallEvidence{svDrop(firewall.IPv4, false)}},
			[]Cause{CauseNotListening, CauseFirewallLocal}, []Confidence{High, High}, nil},
		{"watch: no SYN arrives", aws, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("[::]:8282", 0)},
			Firewall: []FirewallEvidence{svAccept(firewall.IPv4)}, Watch: svWatch()},
			[]Cause{CauseFilteredUpstream}, []Confidence{Medium},
			[]string{"Watched port 8282 for 3.0 s: no SYN arrived", "lost before they arrive", "EC2 console", "Custom TCP, port 8282"}},
		{"watch: SYNs unanswered, rule found", v4only, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("0.0.0.0:8282", -1)},
			Firewall: []FirewallEvidence{svDrop(firewall.IPv4, false)}, Watch: svWatch(AnswerNone, AnswerNone)},
			[]Cause{CauseFirewallLocal}, []Confidence{High},
			[]string{"get no answer: its own firewall drops them", "SYN from 198.51.100.2:40000 to 203.0.113.2:8282 (seen 2×): no answer", "--dport 8282 -j DROP"}},
		{"watch: SYNs unanswered, no rule found", v4only, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("0.0.0.0:8282", -1)},
			Firewall: []FirewallEvidence{svAccept(firewall.IPv4)}, Watch: svWatch(AnswerNone)},
			[]Cause{CauseFirewallLocal}, []Confidence{High}, []string{"rp_filter", "ufw allow 8282/tcp"}},
		{"watch: SYNs unanswered while the queue overflows", overflow, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("0.0.0.0:8282", -1)},
			Watch: svWatch(AnswerNone)},
			[]Cause{CauseAcceptQueueOverflow}, []Confidence{High}, []string{"grew by 12"}},
		{"watch: reset although listening", v4only, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("0.0.0.0:8282", -1)},
			Watch: svWatch(AnswerRST)},
			[]Cause{CauseFirewallLocal}, []Confidence{High}, []string{"answered with a reset although a socket listens", "answered with RST"}},
		{"watch: reset, nothing listens", v4only, PortEvidence{Port: 8282, Asked: true, Watch: svWatch(AnswerRST)},
			[]Cause{CauseNotListening}, []Confidence{High}, nil},
		{"watch: answered although a rule drops", v4only, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("0.0.0.0:8282", -1)},
			Firewall: []FirewallEvidence{svDrop(firewall.IPv4, false)}, Watch: svWatch(AnswerSynAck)},
			[]Cause{CauseFirewallLocal}, []Confidence{Low}, nil},
		{"watch: all answered", v4only, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("0.0.0.0:8282", -1)},
			Watch: svWatch(AnswerSynAck, AnswerSynAck)}, nil, nil, nil},
		{"watch: one SYN at the window's end unanswered among answered ones", v4only, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("0.0.0.0:8282", -1)},
			Firewall: []FirewallEvidence{svAccept(firewall.IPv4)}, Watch: func() *Watch {
				w := svWatch(AnswerSynAck, AnswerSynAck, AnswerSynAck, AnswerNone)
				w.SYNs[3].Count = 1
				return w
			}()}, []Cause{CauseFirewallLocal}, []Confidence{Low}, []string{"1 of 4 attempts", "never retransmitted"}},
		{"watch: unanswered and retransmitted, but the watch's socket dropped packets", v4only, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("0.0.0.0:8282", -1)},
			Firewall: []FirewallEvidence{svAccept(firewall.IPv4)}, Watch: func() *Watch {
				w := svWatch(AnswerSynAck, AnswerNone)
				w.KernelDrops = 40
				return w
			}()}, []Cause{CauseFirewallLocal}, []Confidence{Medium}, []string{"dropped 40 packets"}},
		{"accept queue full", v4only, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{full}},
			[]Cause{CauseAcceptQueueOverflow}, []Confidence{High}, []string{"128 connections wait", "/etc/sysctl.d/60-conndiag.conf"}},
		{"descriptors exhausted", v4only, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{atLimit}},
			[]Cause{CauseFDExhausted}, []Confidence{High}, []string{"node (pid 7) has 1024 descriptors open; its limit is 1024 (hard limit 4096)", "prlimit --pid 7"}},
		{"descriptors nearly exhausted", v4only, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{nearLimit}},
			[]Cause{CauseFDExhausted}, []Confidence{Medium}, []string{"950 of its 1024"}},
		{"no descriptor limit", v4only, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{unlimited}}, nil, nil, nil},
	}
	for _, tt := range tests {
		fs := DecidePort(tt.h, tt.p)
		snap.add(tt.name, "", fs)
		var got []Cause
		var confs []Confidence
		for _, f := range fs {
			got = append(got, f.Cause)
			confs = append(confs, f.Confidence)
		}
		if !slices.Equal(got, tt.causes) || tt.confs != nil && !slices.Equal(confs, tt.confs) {
			t.Errorf("%s: got %v %v, want %v %v", tt.name, got, confs, tt.causes, tt.confs)
			continue
		}
		text := svRender(t, fs)
		for _, s := range tt.text {
			if !strings.Contains(text, s) {
				t.Errorf("%s: %q missing from:\n%s", tt.name, s, text)
			}
		}
		wantProblem := false
		for _, c := range tt.confs {
			wantProblem = wantProblem || c != Low
		}
		if Problem(fs) != wantProblem {
			t.Errorf("%s: Problem = %v", tt.name, Problem(fs))
		}
	}
}

func TestDecideHost(t *testing.T) {
	snap := newSnapshot(t)
	lim := svHost.Limits
	tests := []struct {
		name  string
		h     HostEvidence
		cause []Cause
		conf  []Confidence
		text  []string
	}{
		{"clean", svHost, nil, nil, nil},
		{"cloud", func() HostEvidence {
			h := svHost
			h.Cloud, h.DMIVendor, h.DMIProduct = "tencent", "Tencent Cloud", "CVM"
			return h
		}(), []Cause{CauseFilteredUpstream}, []Confidence{Low}, []string{"runs on Tencent Cloud (CVM)", "安全组", "TCP 8282", "allow TCP:8282 from"}},
		{"panel", func() HostEvidence { h := svHost; h.Panel, h.PanelPort = "baota", "8888"; return h }(),
			[]Cause{CauseFirewallLocal}, []Confidence{Low}, []string{"aaPanel", "port: 8888", "allow TCP port 8282"}},
		{"private only", HostEvidence{Addrs: []netip.Addr{svPriv, netip.MustParseAddr("fd00::5")}, Ports: []uint16{80}, Limits: lim},
			[]Cause{CausePrivateAddress}, []Confidence{Low}, []string{"only private addresses (10.0.0.5, fd00::5)"}},
		{"overflow, no full queue seen", func() HostEvidence {
			h := svHost
			h.OverflowGrowth, h.OverflowTotal, h.Audit = 3, 3, 50*time.Millisecond
			return h
		}(), []Cause{CauseAcceptQueueOverflow}, []Confidence{High}, []string{"grew by 3 during the last 50 ms"}},
		{"overflow attributed to a port", func() HostEvidence {
			h := svHost
			h.OverflowGrowth, h.QueueFullPorts = 3, []uint16{8282}
			return h
		}(), nil, nil, nil},
		{"conntrack nearly full", func() HostEvidence {
			h := svHost
			h.Limits.ConntrackCount, h.Limits.ConntrackMax = 60000, 65536
			return h
		}(), []Cause{CauseFirewallLocal}, []Confidence{Medium}, []string{"60000 of 65536", "nf_conntrack_max=131072"}},
		{"conntrack full", func() HostEvidence {
			h := svHost
			h.Limits.ConntrackCount, h.Limits.ConntrackMax = 65536, 65536
			return h
		}(), []Cause{CauseFirewallLocal}, []Confidence{High}, nil},
		{"outgoing ports running out", func() HostEvidence {
			h := svHost
			h.Limits.Busiest, h.Limits.BusiestCount, h.Limits.TimeWait = netip.MustParseAddrPort("10.0.0.9:3306"), 20000, 19000
			return h
		}(), []Cause{CauseEphemeralPortsExhausted}, []Confidence{Medium},
			[]string{"20000 of its 28232 local ports", "19000 sockets in TIME_WAIT", "ip_local_port_range = 10000 65000", "tcp_tw_reuse = 1"}},
	}
	for _, tt := range tests {
		fs := DecideHost(tt.h)
		snap.add(tt.name, "", fs)
		var got []Cause
		var confs []Confidence
		for _, f := range fs {
			got = append(got, f.Cause)
			confs = append(confs, f.Confidence)
		}
		if !slices.Equal(got, tt.cause) || !slices.Equal(confs, tt.conf) {
			t.Errorf("%s: got %v %v, want %v %v", tt.name, got, confs, tt.cause, tt.conf)
			continue
		}
		text := svRender(t, fs)
		for _, s := range tt.text {
			if !strings.Contains(text, s) {
				t.Errorf("%s: %q missing from:\n%s", tt.name, s, text)
			}
		}
	}
}

func TestSysctlAdvice(t *testing.T) {
	modern := Limits{Somaxconn: 4096, SynBacklog: 4096, TwReuse: 2, PortRange: host.PortRange{Lo: 32768, Hi: 60999}}
	if got := SysctlAdvice(modern, false, false); len(got) != 0 {
		t.Errorf("modern defaults need nothing: %+v", got)
	}
	old := Limits{Somaxconn: 128, SynBacklog: 512, TwReuse: 0, PortRange: host.PortRange{Lo: 32768, Hi: 60999}}
	got := SysctlFile(SysctlAdvice(old, false, false))
	if got != "net.core.somaxconn = 4096\n" {
		t.Errorf("old kernel: %q", got)
	}
	got = SysctlFile(SysctlAdvice(modern, true, true))
	want := "net.core.somaxconn = 16384\nnet.ipv4.tcp_max_syn_backlog = 16384\nnet.ipv4.ip_local_port_range = 10000 65000\nnet.ipv4.tcp_tw_reuse = 1\n"
	if got != want {
		t.Errorf("queue and ports:\n%s\nwant\n%s", got, want)
	}
	unknown := Limits{Somaxconn: -1, SynBacklog: -1, TwReuse: -1}
	if got := SysctlAdvice(unknown, true, true); len(got) != 0 {
		t.Errorf("unknown values: %+v", got)
	}
	if s := SysctlSnippet(SysctlAdvice(old, false, false)); s != `printf 'net.core.somaxconn = 4096\n' > /etc/sysctl.d/60-conndiag.conf && sysctl --system` {
		t.Errorf("snippet %s", s)
	}
	if SysctlSnippet(nil) != "" {
		t.Error("no lines, no snippet")
	}
}

// The listen-address fix names what the server listens on now, and what to
// change for the clients that are refused.
func ownedBy(l Listener, process string) Listener {
	if process == "" {
		l.Owners = nil
		return l
	}
	l.Owners = []host.Owner{{PID: 99, Process: process}}
	return l
}

func TestServerListenFix(t *testing.T) {
	snap := newSnapshot(t)
	bindV6Only := svHost
	bindV6Only.Limits.BindV6Only = 1
	tests := []struct {
		name      string
		h         HostEvidence
		listen    []Listener
		want, not []string
	}{
		{"specific address", HostEvidence{Addrs: []netip.Addr{svPriv, svV4}, Limits: svHost.Limits}, []Listener{svListen("10.0.0.5:8282", -1)},
			[]string{"rather than 10.0.0.5:8282", "websocket://0.0.0.0:8282", "which addresses it listens on"}, []string{"127.0.0.1"}},
		{"::1", svHost, []Listener{svListen("[::1]:8282", 1)}, []string{"rather than [::1]:8282"}, []string{"127.0.0.1"}},
		{"127.0.0.1", svHost, []Listener{svListen("127.0.0.1:8282", -1)}, []string{"rather than 127.0.0.1:8282"}, nil},
		{"IPv4 wildcard, IPv6 refused", svHost, []Listener{svListen("0.0.0.0:8282", -1)},
			[]string{"Only IPv6 clients are refused", "websocket://[::]:8282"}, []string{"rather than", "websocket://0.0.0.0"}},
		{"[::] with IPV6_V6ONLY", svHost, []Listener{svListen("[::]:8282", 1)},
			[]string{"IPv6 clients only", "0.0.0.0:8282 as well", "sysctl -w net.ipv6.bindv6only=0"}, []string{"rather than"}},
		{"[::] under bindv6only=1", bindV6Only, []Listener{svListen("[::]:8282", -1)},
			[]string{"IPv6 clients only", "sysctl -w net.ipv6.bindv6only=0"}, nil},
		// Not PHP: no Workerman line, the process named.
		{"python3 on 127.0.0.1", svHost, []Listener{ownedBy(svListen("127.0.0.1:8282", -1), "python3")},
			[]string{"Make python3 listen on 0.0.0.0", "rather than 127.0.0.1:8282", "ss -ltnp"}, []string{"Worker("}},
		{"unknown owner", svHost, []Listener{ownedBy(svListen("127.0.0.1:8282", -1), "")},
			[]string{"websocket://0.0.0.0:8282"}, nil},
	}
	for _, tt := range tests {
		fs := DecidePort(tt.h, PortEvidence{Port: 8282, Asked: true, Listeners: tt.listen})
		snap.add(tt.name, "", fs)
		if len(fs) == 0 {
			t.Errorf("%s: no finding", tt.name)
			continue
		}
		var fix strings.Builder
		for _, m := range fs[0].Fix {
			fix.WriteString(i18n.New("en").Text(m) + "\n")
		}
		for _, s := range tt.want {
			if !strings.Contains(fix.String(), s) {
				t.Errorf("%s: %q missing from the fix:\n%s", tt.name, s, fix.String())
			}
		}
		for _, s := range tt.not {
			if strings.Contains(fix.String(), s) {
				t.Errorf("%s: %q must not be in the fix:\n%s", tt.name, s, fix.String())
			}
		}
	}
}
