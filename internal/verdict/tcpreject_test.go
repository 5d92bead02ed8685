package verdict

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/target"
)

// Every REJECT, and this machine's own firewall: the TCP rows of issue 11.

var (
	server6   = netip.MustParseAddrPort("[2001:db8:2::2]:8282")
	defRoute6 = &host.Route{Dst: netip.MustParsePrefix("::/0"), Gateway: netip.MustParseAddr("2001:db8:1::1"),
		Iface: "eth0", Type: "unicast", Default: true}
	onLink = &host.Route{Dst: netip.MustParsePrefix("203.0.113.0/24"), Iface: "eth0", Type: "unicast", OnLink: true}
	// The probe ports answer with RSTs: the host is up.
	answering = []PortProbe{{Port: 22, Kind: neterr.Refused, Duration: time.Millisecond}, {Port: 80, Kind: neterr.Refused, Duration: time.Millisecond}}
	silent    = []PortProbe{{Port: 22, Kind: neterr.Timeout}, {Port: 80, Kind: neterr.Timeout}}
)

// outDrop is an OUTPUT walk that stops the connection at rule h.
func outStop(action evidence.Action, h evidence.Hit, cmds ...string) *OutgoingEvidence {
	o := &OutgoingEvidence{Read: true, Result: evidence.FirewallResult{Action: action, Decider: &h, Chains: 1}}
	o.Manager = evidence.ManagerIptables
	if h.Backend == evidence.BackendNftables {
		o.Manager = evidence.ManagerNftables
	}
	if len(cmds) > 0 {
		o.Open = evidence.Opening{Manager: o.Manager, Commands: cmds}
	}
	return o
}

var (
	iptDrop = evidence.Hit{Backend: evidence.BackendIptablesNft, Family: "ip", Table: "filter", Chain: "OUTPUT", Base: "OUTPUT",
		Rule: "-A OUTPUT -d 203.0.113.2/32 -p tcp -m tcp --dport 8282 -j DROP", Pos: 1, Counted: true, Packets: 3}
	iptReject = evidence.Hit{Backend: evidence.BackendIptablesNft, Family: "ip", Table: "filter", Chain: "OUTPUT", Base: "OUTPUT",
		Rule: "-A OUTPUT -p tcp -m tcp --dport 8282 -j REJECT --reject-with icmp-port-unreachable", Pos: 2, Counted: true, Packets: 1,
		RejectWith: "icmp-port-unreachable"}
	nftReject6 = evidence.Hit{Backend: evidence.BackendNftables, Family: "inet", Table: "egress", Chain: "out", Base: "out",
		Rule: "ip6 daddr 2001:db8:2::2 tcp dport 8282 counter packets 1 bytes 80 reject", Handle: 7, Counted: true, Packets: 1,
		RejectWith: "port-unreachable"}
	nftPolicy = evidence.Hit{Backend: evidence.BackendNftables, Family: "ip", Table: "strict", Chain: "strict", Base: "strict",
		Policy: true, Rule: "policy drop"}
	unreadable = &OutgoingEvidence{NeedRoot: true, Problems: []evidence.RuleProblem{
		{What: "iptables-nft-save -c", Err: "Permission denied (you must be root)", NeedRoot: true},
		{What: "nft -j list ruleset", Err: "Operation not permitted (you must be root)", NeedRoot: true}}}
	brokenTool = &OutgoingEvidence{Problems: []evidence.RuleProblem{{What: "nft -j list ruleset", Err: "unsupported json_schema_version 2"}}}
	noTool     = &OutgoingEvidence{}
	letOut     = &OutgoingEvidence{Read: true, Result: evidence.FirewallResult{Action: evidence.Accept, Chains: 1}}
)

func withICMP6(r neterr.Result, typ, code uint8, from string) neterr.Result {
	r.ICMP = &neterr.ICMP{Origin: 3, Type: typ, Code: code, From: netip.MustParseAddr(from)}
	return r
}

func TestRejects(t *testing.T) {
	snap := newSnapshot(t)
	timeout := func(a AddrEvidence) AddrEvidence {
		a.Connect = conn(neterr.Timeout, 0)
		if a.Alive() {
			a.Connect = silentFor(200 * time.Millisecond)
			a.Wait, a.RTT, a.SYNs = 200*time.Millisecond, time.Millisecond, 6
		} else {
			a.Timeout, a.SYNs = 3*time.Second, 1
		}
		return a
	}
	uncertain := outStop(evidence.Drop, iptDrop)
	uncertain.Result.Uncertain = true
	ufw := outStop(evidence.Drop, evidence.Hit{Backend: evidence.BackendIptablesNft, Family: "ip", Table: "filter", Chain: "ufw-user-output", Base: "OUTPUT",
		Rule: "-A ufw-user-output -d 203.0.113.2/32 -p tcp -m tcp --dport 8282 -j DROP", Pos: 1, Counted: true, Packets: 2},
		"ufw insert 1 allow out to 203.0.113.2 port 8282 proto tcp")
	ufw.Manager, ufw.Open.Manager, ufw.UFWOn, ufw.UFWAction = evidence.ManagerUFW, evidence.ManagerUFW, true, "deny"
	ufw.UFWRule = &evidence.UFWRule{Action: "deny", Proto: "tcp", DPort: "8282", Dst: "203.0.113.2", Out: true, Tuple: "deny tcp 8282 203.0.113.2 any 0.0.0.0/0 out"}
	ufwPolicy := outStop(evidence.Drop, evidence.Hit{Backend: evidence.BackendIptablesNft, Family: "ip", Table: "filter", Chain: "OUTPUT", Base: "OUTPUT",
		Policy: true, Rule: ":OUTPUT DROP"}, "ufw allow out to 203.0.113.2 port 8282 proto tcp")
	ufwPolicy.Manager, ufwPolicy.Open.Manager, ufwPolicy.UFWOn, ufwPolicy.UFWAction = evidence.ManagerUFW, evidence.ManagerUFW, true, "drop"
	acceptUncertain := &OutgoingEvidence{Read: true, Result: evidence.FirewallResult{Action: evidence.Accept, Uncertain: true}}

	tests := []struct {
		name    string
		a       AddrEvidence
		outcome Outcome
		cause   Cause
		conf    Confidence
		fix     string // the first command of the fix (its start), "" when not checked
	}{
		// A per-port host or net unreachable is a REJECT rule, not routing.
		{"host unreachable from the server for one port, other ports answer", AddrEvidence{Addr: server, Route: defRoute, Others: answering,
			Connect: withICMP(conn(neterr.HostUnreachable, syscall.EHOSTUNREACH), 3, 1, "203.0.113.2")},
			OutcomeUnreachable, CauseFirewallReject, High, "iptables -I INPUT -p tcp --dport 8282 -j ACCEPT"},
		{"net unreachable from the server for one port, other ports answer", AddrEvidence{Addr: server, Route: defRoute, Others: answering,
			Connect: withICMP(conn(neterr.NetUnreachable, syscall.ENETUNREACH), 3, 0, "203.0.113.2")},
			OutcomeUnreachable, CauseFirewallReject, High, "iptables -I INPUT"},
		{"host unreachable from a router for one port, other ports answer", AddrEvidence{Addr: server, Route: defRoute, Others: answering,
			Connect: withICMP(conn(neterr.HostUnreachable, syscall.EHOSTUNREACH), 3, 1, "198.51.100.1")},
			OutcomeUnreachable, CauseFirewallReject, High, ""},
		{"net unreachable from a router for one port, other ports answer", AddrEvidence{Addr: server, Route: defRoute, Others: answering,
			Connect: withICMP(conn(neterr.NetUnreachable, syscall.ENETUNREACH), 3, 0, "198.51.100.1")},
			OutcomeUnreachable, CauseFirewallReject, High, ""},
		{"host unreachable sent by the server itself, no probe ports", AddrEvidence{Addr: server, Route: defRoute,
			Connect: withICMP(conn(neterr.HostUnreachable, syscall.EHOSTUNREACH), 3, 1, "203.0.113.2")},
			OutcomeUnreachable, CauseFirewallReject, High, "iptables -I INPUT"},
		{"host unreachable sent by the server itself, probe ports cut short", AddrEvidence{Addr: server, Route: defRoute,
			Others:  []PortProbe{{Port: 22, Kind: neterr.Canceled}, {Port: 80, Kind: neterr.Canceled}},
			Connect: withICMP(conn(neterr.HostUnreachable, syscall.EHOSTUNREACH), 3, 1, "203.0.113.2")},
			OutcomeUnreachable, CauseFirewallReject, High, "iptables -I INPUT"},
		{"private address, router rejects one port, other ports answer", AddrEvidence{Addr: private, Route: defRoute, Others: answering,
			Connect: withICMP(conn(neterr.HostUnreachable, syscall.EHOSTUNREACH), 3, 1, "198.51.100.1")},
			OutcomeUnreachable, CauseFirewallReject, High, ""},
		{"IPv6 address unreachable from the server for one port", AddrEvidence{Addr: server6, Route: defRoute6, Others: answering,
			Connect: withICMP6(conn(neterr.HostUnreachable, syscall.EHOSTUNREACH), 1, 3, "2001:db8:2::2")},
			OutcomeUnreachable, CauseFirewallReject, High, "ip6tables -I INPUT -p tcp --dport 8282 -j ACCEPT"},
		{"router unreachable and nothing else answers stays host_unreachable", AddrEvidence{Addr: server, Route: defRoute, Others: silent,
			Connect: withICMP(conn(neterr.HostUnreachable, syscall.EHOSTUNREACH), 3, 1, "198.51.100.1")},
			OutcomeUnreachable, CauseHostUnreachable, High, "traceroute"},

		// This machine's own OUTPUT rules.
		{"client OUTPUT DROP, other ports answer", timeout(AddrEvidence{Addr: server, Route: defRoute, Others: answering,
			Outgoing: outStop(evidence.Drop, iptDrop, "iptables -I OUTPUT -p tcp -d 203.0.113.2 --dport 8282 -j ACCEPT")}),
			OutcomeTimeout, CauseClientFirewall, High, "iptables -I OUTPUT -p tcp -d 203.0.113.2 --dport 8282 -j ACCEPT"},
		{"client OUTPUT DROP of the whole host", timeout(AddrEvidence{Addr: server, Route: defRoute, Others: silent,
			Outgoing: outStop(evidence.Drop, iptDrop, "iptables -I OUTPUT -p tcp -d 203.0.113.2 --dport 8282 -j ACCEPT")}),
			OutcomeTimeout, CauseClientFirewall, High, "iptables -I OUTPUT"},
		{"client OUTPUT REJECT, ICMP from this machine", AddrEvidence{Addr: server, Route: defRoute, ICMPFromLocal: true,
			Connect:  withICMP(conn(neterr.Refused, syscall.ECONNREFUSED), 3, 3, "198.51.100.2"),
			Outgoing: outStop(evidence.Reject, iptReject, "iptables -I OUTPUT -p tcp -d 203.0.113.2 --dport 8282 -j ACCEPT")},
			OutcomeRefused, CauseClientFirewall, High, "iptables -I OUTPUT"},
		{"client OUTPUT REJECT whose answer was swallowed on lo", timeout(AddrEvidence{Addr: server, Route: defRoute, Others: answering,
			Outgoing: outStop(evidence.Reject, iptReject, "iptables -I OUTPUT -p tcp -d 203.0.113.2 --dport 8282 -j ACCEPT")}),
			OutcomeTimeout, CauseClientFirewall, High, "iptables -I OUTPUT"},
		{"client nft REJECT, IPv6, ICMPv6 from this machine", AddrEvidence{Addr: server6, Route: defRoute6, ICMPFromLocal: true,
			Connect:  withICMP6(conn(neterr.Refused, syscall.ECONNREFUSED), 1, 4, "2001:db8:1::2"),
			Outgoing: outStop(evidence.Reject, nftReject6, "nft insert rule inet egress out ip6 daddr 2001:db8:2::2 tcp dport 8282 accept")},
			OutcomeRefused, CauseClientFirewall, High, "nft insert rule inet egress out"},
		{"client nft policy drop", timeout(AddrEvidence{Addr: server, Route: defRoute, Others: answering,
			Outgoing: outStop(evidence.Drop, nftPolicy, "nft insert rule ip strict strict ip daddr 203.0.113.2 tcp dport 8282 accept")}),
			OutcomeTimeout, CauseClientFirewall, High, "nft insert rule ip strict strict"},
		{"client ufw deny out", timeout(AddrEvidence{Addr: server, Route: defRoute, Others: answering, Outgoing: ufw}),
			OutcomeTimeout, CauseClientFirewall, High, "ufw insert 1 allow out"},
		{"client ufw default deny outgoing", timeout(AddrEvidence{Addr: server, Route: defRoute, Others: answering, Outgoing: ufwPolicy}),
			OutcomeTimeout, CauseClientFirewall, High, "ufw allow out"},
		{"client OUTPUT DROP after a rule not understood", timeout(AddrEvidence{Addr: server, Route: defRoute, Others: answering, Outgoing: uncertain}),
			OutcomeTimeout, CauseClientFirewall, Medium, "iptables -S OUTPUT"},
		{"client OUTPUT REJECT, rules unreadable without root", AddrEvidence{Addr: server, Route: defRoute, ICMPFromLocal: true,
			Connect: withICMP(conn(neterr.Refused, syscall.ECONNREFUSED), 3, 3, "198.51.100.2"), Outgoing: unreadable},
			OutcomeRefused, CauseClientFirewall, High, "iptables -S OUTPUT"},
		{"client OUTPUT REJECT icmp-host-unreachable at once, neighbour reachable", AddrEvidence{Addr: server, Route: defRoute, ICMPFromLocal: true,
			NextHop: netip.MustParseAddr("198.51.100.1"), Neigh: "REACHABLE",
			Connect: withICMP(conn(neterr.HostUnreachable, syscall.EHOSTUNREACH), 3, 1, "198.51.100.2"), Outgoing: unreadable},
			OutcomeUnreachable, CauseClientFirewall, High, "iptables -S OUTPUT"},
		{"client IPv6 REJECT adm-prohibited, the walk misses it", AddrEvidence{Addr: server6, Route: defRoute6, ICMPFromLocal: true,
			Connect: withICMP6(conn(neterr.PermissionDenied, syscall.EACCES), 1, 1, "2001:db8:1::2"), Outgoing: acceptUncertain},
			OutcomeUnreachable, CauseClientFirewall, High, "ip6tables -S OUTPUT"},
		{"EPERM from connect, rules unreadable", AddrEvidence{Addr: server, Route: defRoute,
			Connect: conn(neterr.PermissionDenied, syscall.EPERM), Outgoing: unreadable},
			OutcomeUnreachable, CauseClientFirewall, Medium, "iptables -S OUTPUT"},
		{"EACCES from connect, a rule drops it", AddrEvidence{Addr: server, Route: defRoute,
			Connect: conn(neterr.PermissionDenied, syscall.EACCES), Outgoing: outStop(evidence.Drop, iptDrop, "iptables -I OUTPUT -p tcp -d 203.0.113.2 --dport 8282 -j ACCEPT")},
			OutcomeUnreachable, CauseClientFirewall, High, "iptables -I OUTPUT"},
		{"a rule drops it but the server's ICMP came back: not this machine", AddrEvidence{Addr: server, Route: defRoute,
			Connect:  withICMP(conn(neterr.HostUnreachable, syscall.EHOSTUNREACH), 3, 13, "203.0.113.2"),
			Outgoing: outStop(evidence.Drop, iptDrop)},
			OutcomeUnreachable, CauseFirewallReject, High, "iptables -I INPUT"},
		{"filtered, this machine's OUTPUT rules unreadable", timeout(AddrEvidence{Addr: server, Route: defRoute, Others: answering, Outgoing: unreadable}),
			OutcomeTimeout, CauseFiltered, Medium, "iptables -I INPUT"},
		{"filtered, the rule set could not be parsed", timeout(AddrEvidence{Addr: server, Route: defRoute, Others: answering, Outgoing: brokenTool}),
			OutcomeTimeout, CauseFiltered, Medium, "iptables -I INPUT"},
		{"filtered, no firewall tool on this machine", timeout(AddrEvidence{Addr: server, Route: defRoute, Others: answering, Outgoing: noTool}),
			OutcomeTimeout, CauseFiltered, Medium, "iptables -I INPUT"},
		{"filtered, this machine's OUTPUT rules let it out", timeout(AddrEvidence{Addr: server, Route: defRoute, Others: answering, Outgoing: letOut}),
			OutcomeTimeout, CauseFiltered, Medium, "iptables -I INPUT"},
		{"host down, this machine's OUTPUT rules show nothing certain", timeout(AddrEvidence{Addr: server, Route: defRoute, Others: silent, Outgoing: acceptUncertain}),
			OutcomeTimeout, CauseHostDown, Medium, ""},
		{"host down, OUTPUT rules unreadable", timeout(AddrEvidence{Addr: server, Route: defRoute, Others: silent, Outgoing: unreadable}),
			OutcomeTimeout, CauseHostDown, Medium, ""},
		{"IPv6 filtered", timeout(AddrEvidence{Addr: server6, Route: defRoute6, Others: answering}),
			OutcomeTimeout, CauseFiltered, Medium, "ip6tables -I INPUT -p tcp --dport 8282 -j ACCEPT"},
		{"IPv6 all filtered after host down", timeout(AddrEvidence{Addr: server6, Route: defRoute6, Others: silent}),
			OutcomeTimeout, CauseHostDown, Medium, ""},

		// A host that answers ARP/NDP is up.
		{"silent on-link host whose neighbour entry is REACHABLE", timeout(AddrEvidence{Addr: server, Route: onLink, NextHop: server.Addr(),
			Neigh: "REACHABLE", Others: silent, Outgoing: letOut}),
			OutcomeTimeout, CauseFiltered, Medium, "iptables -I INPUT"},
		{"silent on-link host whose neighbour entry is DELAY", timeout(AddrEvidence{Addr: server, Route: onLink, NextHop: server.Addr(),
			Neigh: "DELAY", Others: silent}),
			OutcomeTimeout, CauseFiltered, Low, "iptables -I INPUT"},
		{"silent host behind a REACHABLE gateway is still host_down", timeout(AddrEvidence{Addr: server, Route: defRoute, NextHop: defRoute.Gateway,
			Neigh: "REACHABLE", Others: silent}),
			OutcomeTimeout, CauseHostDown, Medium, ""},

		// No route at all comes before a private address.
		{"no default route, private target", AddrEvidence{Addr: private, Route: &host.Route{Type: "none", Errno: syscall.ENETUNREACH},
			Connect: conn(neterr.NetUnreachable, syscall.ENETUNREACH)}, OutcomeUnreachable, CauseNoRoute, High, "ip route get 10.20.0.5"},

		// The listen fix names the address bound.
		{"refused local, bound to 127.0.0.2", AddrEvidence{Addr: server, Local: true, Connect: conn(neterr.Refused, syscall.ECONNREFUSED),
			Listeners: []host.Socket{listener("127.0.0.2:8282")}}, OutcomeRefused, CauseBoundToLoopback, High, "new Worker('websocket://0.0.0.0:8282');"},
		{"refused local IPv6, bound to ::1", AddrEvidence{Addr: server6, Local: true, Connect: conn(neterr.Refused, syscall.ECONNREFUSED),
			Listeners: []host.Socket{listener("[::1]:8282")}}, OutcomeRefused, CauseBoundToLoopback, High, "new Worker('websocket://[::]:8282');"},
		{"refused local IPv6, bound to another address", AddrEvidence{Addr: server6, Local: true, Connect: conn(neterr.Refused, syscall.ECONNREFUSED),
			Listeners: []host.Socket{listener("[2001:db8:2::7]:8282")}}, OutcomeRefused, CauseBoundToOtherAddress, High, "new Worker('websocket://[::]:8282');"},
		{"refused remote IPv6: maybe loopback", AddrEvidence{Addr: server6, Route: defRoute6, Connect: conn(neterr.Refused, syscall.ECONNREFUSED)},
			OutcomeRefused, CauseNotListening, Medium, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := ev1(tt.a)
			ev.Target = target.Target{Scheme: "tcp", Host: tt.a.Addr.Addr().String(), Port: tt.a.Addr.Port()}
			out, fs := Decide(ev)
			snap.add(tt.name, out, fs)
			if len(fs) == 0 {
				t.Fatalf("no findings")
			}
			if out != tt.outcome || fs[0].Cause != tt.cause || fs[0].Confidence != tt.conf {
				t.Fatalf("got %s / %s (%s), want %s / %s (%s)", out, fs[0].Cause, fs[0].Confidence, tt.outcome, tt.cause, tt.conf)
			}
			if tt.fix != "" {
				if got := firstCmd(fs[0].Fix); !strings.HasPrefix(got, tt.fix) {
					t.Errorf("first command of the fix %q, want %q…", got, tt.fix)
				}
			}
			p := i18n.New("en")
			for _, f := range fs {
				if f.Cause == CauseHostDown && (tt.a.Neigh == "REACHABLE" && tt.a.NextHop == tt.a.Addr.Addr()) {
					t.Errorf("a REACHABLE neighbour is never host_down")
				}
				for _, m := range f.Fix {
					if c := m.Cmd; tt.a.Addr.Addr().Is6() && strings.HasPrefix(c, "iptables") {
						t.Errorf("an IPv6 target gets an IPv4 command: %s", c)
					}
					if strings.Contains(p.Text(m), "127.0.0.1") && len(tt.a.Listeners) > 0 {
						t.Errorf("the listen fix names 127.0.0.1 for a server bound to %s: %s", tt.a.Listeners[0].Local, p.Text(m))
					}
				}
			}
		})
	}
}

// firstCmd is the first command (or snippet) of a fix.
func firstCmd(fix []i18n.Msg) string {
	for _, m := range fix {
		if m.IsCmd() {
			return m.Cmd
		}
	}
	return ""
}
