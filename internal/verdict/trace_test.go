package verdict

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/neterr"
)

var (
	r1    = netip.MustParseAddr("198.51.100.1")
	r2    = netip.MustParseAddr("192.0.2.2")
	srvIP = server.Addr()
)

func router(ttl int, from netip.Addr) Hop {
	return Hop{TTL: ttl, Kind: HopRouter, From: from, RTT: 50 * time.Microsecond,
		ICMP: &evidence.ICMP{Origin: evidence.OriginICMP, Type: 11, From: from}}
}

func silentHop(ttl int) Hop { return Hop{TTL: ttl, Kind: HopSilent} }

func reached(ttl int, open bool) Hop {
	return Hop{TTL: ttl, Kind: HopReached, From: srvIP, Open: open, RTT: 80 * time.Microsecond}
}

func rejected(ttl int, from netip.Addr, code uint8) Hop {
	return Hop{TTL: ttl, Kind: HopError, From: from, RTT: 60 * time.Microsecond,
		ICMP: &evidence.ICMP{Origin: evidence.OriginICMP, Type: 3, Code: code, From: from}}
}

// path builds a trace toward server with the reference port 22.
func path(hops []Hop, ref []Hop) *Path {
	p := &Path{Dst: server, Hops: hops, Max: 16, Wait: 200 * time.Millisecond}
	if ref != nil {
		p.RefPort, p.Ref = 22, ref
	}
	return p
}

func silentAddr(p *Path, ag *AgentWatch) AddrEvidence {
	return AddrEvidence{Addr: server, Route: defRoute, Connect: neterr.Result{Kind: neterr.Timeout, Duration: 200 * time.Millisecond},
		SYNs: 3, Wait: 200 * time.Millisecond, RTT: 80 * time.Microsecond,
		Others: []PortProbe{{Port: 22, Kind: neterr.OK, Duration: 80 * time.Microsecond}}, Path: p, Agent: ag}
}

func agentWatch(syns ...WatchedSYN) *AgentWatch {
	return &AgentWatch{URL: "http://203.0.113.2:8080", AtTarget: true, Watched: true, SeenAs: netip.MustParseAddr("198.51.100.2"),
		Duration: 2 * time.Second, Tries: 3, Port: PortEvidence{Port: 8282, Asked: true,
			Listeners: []Listener{{Addr: netip.MustParseAddrPort("0.0.0.0:8282")}},
			Watch:     &Watch{Duration: 2 * time.Second, SYNs: syns}}}
}

func clientSYN(port uint16, count int, answer string) WatchedSYN {
	return WatchedSYN{From: netip.AddrPortFrom(netip.MustParseAddr("198.51.100.2"), port), To: server, Count: count, Answer: answer}
}

func dropRule() []FirewallEvidence {
	return []FirewallEvidence{{Result: evidence.FirewallResult{Family: evidence.IPv4, Port: 8282, Action: evidence.Drop,
		Decider: &evidence.Hit{Backend: evidence.BackendIptablesNft, Family: "ip", Table: "filter", Chain: "INPUT",
			Rule: "-A INPUT -p tcp -m tcp --dport 8282 -j DROP", Pos: 1}},
		Open: evidence.Opening{Manager: evidence.ManagerIptables, Commands: []string{"iptables -I INPUT 1 -p tcp --dport 8282 -j ACCEPT"}}}}
}

func TestDecidePath(t *testing.T) {
	snap := newSnapshot(t)
	dropAtHost := path([]Hop{router(1, r1), silentHop(2)}, []Hop{router(1, r1), reached(2, true)})
	dropAtR1 := path([]Hop{router(1, r1), silentHop(2)}, []Hop{router(1, r1), router(2, r2), reached(3, true)})
	dropFirst := path([]Hop{silentHop(1)}, []Hop{router(1, r1), reached(2, true)})
	noRef := path([]Hop{router(1, r1), silentHop(2)}, nil)
	// No router answers either port (they do not answer traces, or their
	// ICMP limit toward this host is spent), the other port reaches the host.
	quietRouters := path([]Hop{silentHop(1)}, []Hop{silentHop(1), silentHop(2), reached(3, true)})
	quietRouter := path([]Hop{router(1, r1), silentHop(2)}, []Hop{router(1, r1), silentHop(2), reached(3, true)})
	rejectByRouter := path([]Hop{rejected(1, r1, 13)}, []Hop{router(1, r1), reached(2, true)})
	rejectByServer := path([]Hop{router(1, r1), rejected(2, srvIP, 13)}, nil)
	open := path([]Hop{router(1, r1), reached(2, true)}, nil)

	withFW := agentWatch(clientSYN(40001, 2, AnswerNone), clientSYN(40002, 2, AnswerNone), clientSYN(40003, 1, AnswerNone))
	withFW.Port.Firewall = dropRule()
	unread := agentWatch(clientSYN(40001, 2, AnswerNone))
	unread.FirewallErr = "the firewall rules of port 8282 could not be read: run as root"
	rulesClean := agentWatch(clientSYN(40001, 2, AnswerNone))
	rulesClean.Port.Firewall = []FirewallEvidence{{Result: evidence.FirewallResult{Family: evidence.IPv4, Port: 8282, Action: evidence.Accept}}}
	elsewhere := agentWatch(clientSYN(40001, 2, AnswerNone))
	elsewhere.AtTarget = false
	lost := agentWatch()
	lost.Port.Firewall = []FirewallEvidence{{Result: evidence.FirewallResult{Family: evidence.IPv4, Port: 8282, Action: evidence.Accept}}}
	lost.Cloud = "aws"
	answered := agentWatch(clientSYN(40001, 1, AnswerSynAck))
	overflow := agentWatch(clientSYN(40001, 2, AnswerNone))
	overflow.OverflowGrowth = 6
	connected := agentWatch()
	connected.Connected = 1
	refusedPort := &AgentWatch{URL: "http://203.0.113.2:8080", Refusal: evidence.AgentRefusedPort, Allowed: []uint16{9000, 9001}, Err: "not allowed"}
	refusedToken := &AgentWatch{URL: "http://203.0.113.2:8080", Refusal: evidence.AgentRefusedToken, Err: "the token does not match"}
	noRoot := &AgentWatch{URL: "http://203.0.113.2:8080", Refusal: evidence.AgentNoRoot, Err: "needs root"}
	busy := &AgentWatch{URL: "http://203.0.113.2:8080", Refusal: evidence.AgentBusy, Err: "busy"}
	family := &AgentWatch{URL: "http://203.0.113.2:8080", Refusal: evidence.AgentFamily, SeenAs: netip.MustParseAddr("2001:db8:1::2")}
	odd := &AgentWatch{URL: "http://203.0.113.2:8080", Refusal: evidence.AgentCannotWatch, Err: "capture: no such device"}
	unreachable := &AgentWatch{URL: "http://203.0.113.2:8080", Err: "dial tcp 203.0.113.2:8080: i/o timeout"}

	rejectConnect := withICMP(conn(neterr.HostUnreachable, syscall.EHOSTUNREACH), 3, 13, "198.51.100.1")
	tests := []struct {
		name    string
		a       AddrEvidence
		outcome Outcome
		cause   Cause
		conf    Confidence
		rule    string
	}{
		{"trace: dies at the host's hop", silentAddr(dropAtHost, nil), OutcomeTimeout, CauseFiltered, Medium, "path.trace.filtered_host"},
		{"trace: dies after the first of two routers", silentAddr(dropAtR1, nil), OutcomeTimeout, CauseFilteredUpstream, Medium, "path.trace.filtered_upstream"},
		{"trace: no hop answers the target port", silentAddr(dropFirst, nil), OutcomeTimeout, CauseFilteredUpstream, Medium, "path.trace.filtered_upstream"},
		{"trace: no reference port", silentAddr(noRef, nil), OutcomeTimeout, CauseFiltered, Medium, "tcp.silent.filtered"},
		{"trace: dies at the host's hop, this machine's OUTPUT drops", func() AddrEvidence {
			a := silentAddr(dropAtHost, nil)
			a.Outgoing = outStop(evidence.Drop, iptDrop)
			return a
		}(), OutcomeTimeout, CauseClientFirewall, High, "tcp.client_firewall"},
		{"trace: no hop answers, this machine's OUTPUT unreadable", func() AddrEvidence {
			a := silentAddr(dropFirst, nil)
			a.Outgoing = unreadable
			return a
		}(), OutcomeTimeout, CauseFiltered, Medium, "tcp.silent.filtered"},
		{"trace: dies after the first router, this machine's OUTPUT unreadable", func() AddrEvidence {
			a := silentAddr(dropAtR1, nil)
			a.Outgoing = unreadable
			return a
		}(), OutcomeTimeout, CauseFilteredUpstream, Medium, "path.trace.filtered_upstream"},

		{"trace: a router that answers neither trace", silentAddr(quietRouter, nil), OutcomeTimeout, CauseFiltered, Medium, "tcp.silent.filtered"},
		{"trace: no router answers either trace", silentAddr(quietRouters, nil), OutcomeTimeout, CauseFiltered, Medium, "tcp.silent.filtered"},
		{"trace: a router rejects", AddrEvidence{Addr: server, Route: defRoute, Connect: rejectConnect, Path: rejectByRouter},
			OutcomeUnreachable, CauseFirewallReject, High, "path.trace.reject_router"},
		{"trace: a router rejects, the connect saw no ICMP", silentAddr(rejectByRouter, nil), OutcomeTimeout, CauseFirewallReject, High, "path.trace.reject_router"},
		{"trace: the server rejects", AddrEvidence{Addr: server, Route: defRoute,
			Connect: withICMP(conn(neterr.HostUnreachable, syscall.EHOSTUNREACH), 3, 13, "203.0.113.2"), Path: rejectByServer},
			OutcomeUnreachable, CauseFirewallReject, High, "tcp.icmp.prohibited"},
		{"trace: open, with --trace", AddrEvidence{Addr: server, Connect: conn(neterr.OK, 0), Path: open}, OutcomeOK, CauseOK, High, "tcp.ok"},

		{"agent: dropped by a rule it names", silentAddr(dropAtHost, withFW), OutcomeTimeout, CauseFirewallLocal, High, "path.agent.dropped"},
		{"agent: dropped, rules unread", silentAddr(nil, unread), OutcomeTimeout, CauseFirewallLocal, High, "path.agent.dropped"},
		{"agent: dropped, the rules let it through", silentAddr(nil, rulesClean), OutcomeTimeout, CauseFirewallLocal, High, "path.agent.dropped"},
		{"agent: dropped, asked elsewhere", silentAddr(nil, elsewhere), OutcomeTimeout, CauseFirewallLocal, Medium, "path.agent.dropped"},
		{"agent: none arrived", silentAddr(dropAtR1, lost), OutcomeTimeout, CauseFilteredUpstream, High, "path.agent.none_arrived"},
		{"agent: answered, the answer lost", silentAddr(nil, answered), OutcomeTimeout, CauseFilteredUpstream, Medium, "path.agent.answer_lost"},
		{"agent: listen queue overflows", silentAddr(nil, overflow), OutcomeTimeout, CauseAcceptQueueOverflow, High, "path.agent.overflow"},
		{"agent: a retry connected", silentAddr(nil, connected), OutcomeTimeout, CauseFiltered, Medium, "tcp.silent.filtered"},
		{"agent: port refused", silentAddr(dropAtHost, refusedPort), OutcomeTimeout, CauseFiltered, Medium, "path.trace.filtered_host"},
		{"agent: token refused", silentAddr(nil, refusedToken), OutcomeTimeout, CauseFiltered, Medium, "tcp.silent.filtered"},
		{"agent: no root", silentAddr(nil, noRoot), OutcomeTimeout, CauseFiltered, Medium, "tcp.silent.filtered"},
		{"agent: busy", silentAddr(nil, busy), OutcomeTimeout, CauseFiltered, Medium, "tcp.silent.filtered"},
		{"agent: sees this client by the other family", silentAddr(nil, family), OutcomeTimeout, CauseFiltered, Medium, "tcp.silent.filtered"},
		{"agent: cannot watch", silentAddr(nil, odd), OutcomeTimeout, CauseFiltered, Medium, "tcp.silent.filtered"},
		{"agent: unreachable", silentAddr(nil, unreachable), OutcomeTimeout, CauseFiltered, Medium, "tcp.silent.filtered"},
	}
	en := i18n.New("en")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, fs := Decide(ev1(tt.a))
			snap.add(tt.name, out, fs)
			if out != tt.outcome || fs[0].Cause != tt.cause || fs[0].Confidence != tt.conf || fs[0].Rule != tt.rule {
				t.Fatalf("got %s / %s (%s) by %s, want %s / %s (%s) by %s", out, fs[0].Cause, fs[0].Confidence, fs[0].Rule,
					tt.outcome, tt.cause, tt.conf, tt.rule)
			}
			var all []string
			for _, m := range fs[0].Evidence {
				all = append(all, en.Text(m))
			}
			text := strings.Join(all, "\n")
			// A row of another table still says where the path ended and what the agent said.
			if tt.a.Path != nil && !strings.HasPrefix(tt.rule, "path.") && !strings.Contains(text, "The trace") {
				t.Errorf("no line about the trace:\n%s", text)
			}
			if tt.a.Agent != nil && !strings.HasPrefix(tt.rule, "path.agent.") && !strings.Contains(text, "agent") {
				t.Errorf("no line about the agent:\n%s", text)
			}
		})
	}
}

// The named hop is the one the finding says.
func TestPathNamesTheHop(t *testing.T) {
	en := i18n.New("en")
	texts := func(a AddrEvidence) string {
		_, fs := Decide(ev1(a))
		s := en.Text(fs[0].Summary)
		for _, m := range append(fs[0].Evidence, fs[0].Fix...) {
			s += "\n" + en.Text(m)
		}
		return s
	}
	up := texts(silentAddr(path([]Hop{router(1, r1), silentHop(2)}, []Hop{router(1, r1), router(2, r2), reached(3, true)}), nil))
	if !strings.Contains(up, "before hop 2 (192.0.2.2)") || !strings.Contains(up, "hop 1 (198.51.100.1)") {
		t.Errorf("the upstream finding must name hops 1 and 2:\n%s", up)
	}
	host := texts(silentAddr(path([]Hop{router(1, r1), silentHop(2)}, []Hop{router(1, r1), reached(2, true)}), nil))
	if !strings.Contains(host, "server's hop (2)") {
		t.Errorf("the host finding must name hop 2:\n%s", host)
	}
	rej := texts(AddrEvidence{Addr: server, Route: defRoute, Connect: withICMP(conn(neterr.HostUnreachable, syscall.EHOSTUNREACH), 3, 13, "198.51.100.1"),
		Path: path([]Hop{rejected(1, r1, 13)}, nil)})
	if !strings.Contains(rej, "router 198.51.100.1 at hop 1") {
		t.Errorf("the reject finding must name the router and its hop:\n%s", rej)
	}
	// As a Linux router answers: time exceeded at TTL 2 (the TTL is checked
	// before the forwarding rules), the rejection at TTL 3; it sits at hop 2.
	rej2 := texts(AddrEvidence{Addr: server, Route: defRoute, Connect: withICMP(conn(neterr.HostUnreachable, syscall.EHOSTUNREACH), 3, 13, "192.0.2.2"),
		Path: path([]Hop{router(1, r1), router(2, r2), rejected(3, r2, 13)}, nil)})
	if !strings.Contains(rej2, "router 192.0.2.2 at hop 2") {
		t.Errorf("the reject finding must name the router at the hop of its time exceeded:\n%s", rej2)
	}
}

// Where the trace ended, as the evidence says it: silence with no router
// answering either port, the other port reaching the host, names the
// routers' ICMP limit; silence from hop 1 with no other port, only that.
func TestPathEndLine(t *testing.T) {
	en := i18n.New("en")
	tests := []struct {
		name string
		p    *Path
		want string
	}{
		{"no router answers either port", path([]Hop{silentHop(1)}, []Hop{silentHop(1), silentHop(2), reached(3, true)}),
			"no answer from any router, on either port, though port 22 of the same host is reached at hop 3"},
		{"a router answers the other port", path([]Hop{silentHop(1)}, []Hop{router(1, r1), reached(2, true)}),
			"no answer from any hop"},
		{"the host is the first hop", path([]Hop{silentHop(1)}, []Hop{reached(1, true)}), "no answer from any hop"},
		{"no other port", path([]Hop{silentHop(1)}, nil), "no answer from any hop"},
		{"answers, then silence", path([]Hop{router(1, r1), silentHop(2)}, nil), "answers up to hop 1 (198.51.100.1), then silence"},
		{"rejected", path([]Hop{router(1, r1), rejected(2, r2, 13)}, nil), "ends at hop 2: 192.0.2.2 answers !A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := en.Text(pathEndLine(*tt.p)); !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want it to contain %q", got, tt.want)
			}
		})
	}
}
