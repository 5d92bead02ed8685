package verdict

import (
	"strconv"
	"strings"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
)

// The path stage reads what the TCP stage cannot see from the connect
// alone: the trace of the path (Path) and what an agent on the server saw
// (Agent). It is a first-match table consulted before the TCP table for an
// address that has either; when no row holds, the TCP table decides, and
// the path and the agent's answer are added to its finding as lines.
//
// The rows only sharpen the verdicts of silence and of rejections: the
// agent's view of the SYNs turns "filtered" into firewall_local or
// filtered_upstream with high confidence; the trace names the router that
// rejects, and tells a SYN that dies at the host's hop (the server's
// firewall or its security group) from one that dies before it.

// pathOf is the trace, nil when none ran.
func (x tcp) pathOf() *Path { return x.a.Path }

// agentSaw: the agent watched, and none of this client's retries connected
// meanwhile (the port was blocked the whole time).
func (x tcp) agentSaw() (*AgentWatch, bool) {
	ag := x.a.Agent
	if ag == nil || !ag.Watched || ag.Connected > 0 || !x.is(evidence.Timeout) {
		return nil, false
	}
	return ag, true
}

// agentSYNs splits the client's attempts the agent saw by the server's answer.
func agentSYNs(ag *AgentWatch) (none, answered []WatchedSYN) {
	if ag == nil {
		return nil, nil
	}
	for _, s := range ag.SYNs() {
		if s.Answer == AnswerNone {
			none = append(none, s)
		} else {
			answered = append(answered, s)
		}
	}
	return none, answered
}

// agentConf is high when the agent is the target host and its watch lost
// nothing, medium otherwise.
func (x tcp) agentConf() Confidence {
	ag := x.a.Agent
	if !ag.AtTarget || ag.Port.Watch != nil && ag.Port.Watch.KernelDrops > 0 {
		return Medium
	}
	return High
}

// silentAlive: the target port timed out while other ports of the host
// answered, on a remote host whose neighbour answers.
func (x tcp) silentAlive() bool {
	return x.is(evidence.Timeout) && x.a.Alive() && !x.a.Local && !x.neighFailed()
}

// pathDies is where the target port's SYN dies while the reference port's
// goes on (Path.DiesAt), and the host's hop.
func (x tcp) pathDies() (at, host int, ok bool) {
	p := x.pathOf()
	if p == nil {
		return 0, 0, false
	}
	at, ok = p.DiesAt()
	return at, p.HostHop(), ok
}

// routerReject: the trace ends in an ICMP rejection sent by a box that is
// not the target, not this machine.
func (x tcp) routerReject() (PathEnd, bool) {
	p := x.pathOf()
	if p == nil || x.a.ICMPFromLocal {
		return PathEnd{}, false
	}
	e := p.End()
	if e.Kind != evidence.EndRejected || e.ICMP == nil || e.From == x.dst() || !e.From.IsValid() {
		return PathEnd{}, false
	}
	return e, e.ICMP.Prohibited() || e.ICMP.PortUnreachable()
}

// pathTrusted: what the path and the agent show may decide. Not when this
// machine's own firewall stops the connection (the TCP table names its
// rule), nor, without the agent, when this machine's OUTPUT rules could not
// be read and the trace dies at its first hop: a local DROP of the port
// looks exactly like that.
func (x tcp) pathTrusted() bool {
	switch {
	case x.clientStopped() || x.localReject():
		return false
	case x.a.Agent == nil && x.outgoingUnread():
		at, _, dies := x.pathDies()
		return !dies || at > 1
	}
	return true
}

var pathRules = []Rule[tcp]{
	{ID: "path.agent.overflow", Cause: CauseAcceptQueueOverflow, Conf: High, ConfOf: tcp.agentConf,
		When: func(x tcp) bool {
			ag, ok := x.agentSaw()
			none, _ := agentSYNs(ag)
			return ok && len(none) > 0 && ag.OverflowGrowth > 0 && len(ag.Port.Listeners) > 0
		},
		Make: func(x tcp) Draft {
			ag := x.a.Agent
			lines := append([]i18n.Msg{connectLine(x.a), agentArrivedLine(x, ag)}, srvWatchLines(ag.Port.Watch)...)
			lines = append(lines, i18n.M("agent.ev.overflow", "N", ag.OverflowGrowth))
			return Draft{Summary: i18n.M("agent.overflow.summary", "Port", x.port()), Lines: append(lines, agentNotTargetLines(x)...),
				Fix: []i18n.Msg{i18n.M("cause.accept_queue_overflow.fix"), i18n.M("server.fix.backlog"), i18n.Cmd("nstat -az TcpExtListenOverflows TcpExtListenDrops")}}
		}, Note: "the agent saw this client's SYNs unanswered while the server's ListenOverflows grew; medium when the agent is not at the target address or its watch dropped packets"},
	{ID: "path.agent.dropped", Cause: CauseFirewallLocal, Conf: High, ConfOf: tcp.agentConf,
		When: func(x tcp) bool {
			ag, ok := x.agentSaw()
			none, answered := agentSYNs(ag)
			return ok && len(none) > 0 && len(answered) == 0
		},
		Make: agentDroppedDraft,
		Note: "the agent on the server saw this client's SYNs arrive and none answered: the host drops them; the rule is named when the agent could read the rules; medium when the agent is not at the target address or its watch dropped packets"},
	{ID: "path.agent.answer_lost", Cause: CauseFilteredUpstream, Conf: Medium,
		When: func(x tcp) bool {
			_, ok := x.agentSaw()
			_, answered := agentSYNs(x.a.Agent)
			return ok && len(answered) > 0
		},
		Make: func(x tcp) Draft {
			ag := x.a.Agent
			lines := append([]i18n.Msg{connectLine(x.a), agentArrivedLine(x, ag)}, srvWatchLines(ag.Port.Watch)...)
			return Draft{Summary: i18n.M("agent.answer_lost.summary", "Port", x.port()), Lines: append(lines, agentNotTargetLines(x)...),
				Fix: append([]i18n.Msg{i18n.M("agent.fix.answer_lost")}, localRulesFix(i18n.M("agent.fix.answer_lost.local"), "INPUT", x.v6())...)}
		}, Note: "the server answered this client's SYNs and the answers never came back"},
	{ID: "path.agent.none_arrived", Cause: CauseFilteredUpstream, Conf: High, ConfOf: tcp.agentConf,
		When: func(x tcp) bool {
			ag, ok := x.agentSaw()
			return ok && len(ag.SYNs()) == 0 && ag.Tries > 0 && ag.Port.Watch.KernelDrops == 0
		},
		Make: agentLostDraft,
		Note: "the agent on the server saw none of the SYNs this client sent while it watched; medium when the agent is not at the target address or its watch dropped packets"},

	{ID: "path.trace.reject_router", Cause: CauseFirewallReject, Conf: High,
		When: func(x tcp) bool { _, ok := x.routerReject(); return ok },
		Make: func(x tcp) Draft {
			e, _ := x.routerReject()
			p := x.pathOf()
			from := e.From.String()
			lines := []i18n.Msg{connectLine(x.a)}
			if x.icmp() != nil {
				lines = append(lines, icmpLine(x.a))
			}
			lines = append(lines, i18n.M("trace.ev.reject_router", "Hop", e.Hop, "From", from, "Mark", e.Mark, "ICMP", e.ICMP.Describe()))
			if h := p.HostHop(); h > e.Hop && p.RefPort != 0 {
				lines = append(lines, i18n.M("trace.ev.host_behind", "Ref", p.RefPort, "Host", h))
			}
			return Draft{Args: []any{"Where", i18n.M("trace.where.router_hop", "Addr", from, "Hop", e.Hop)}, Lines: lines,
				Fix: []i18n.Msg{i18n.M("fix.reject.router", "From", from, "Port", x.port())}}
		},
		Also: []Rule[tcp]{privateLow}, Note: "the trace ends in an ICMP prohibited or port unreachable sent by a router, not by the server: the router is named with its hop"},
	{ID: "path.trace.filtered_host", Cause: CauseFiltered, Conf: Medium,
		When: func(x tcp) bool {
			at, host, ok := x.pathDies()
			return ok && x.silentAlive() && at == host
		},
		Make: func(x tcp) Draft {
			p := x.pathOf()
			at, host, _ := x.pathDies()
			lines := append([]i18n.Msg{connectLine(x.a)}, otherLines(x.a)...)
			lines = append(lines, i18n.M("trace.ev.dies_at_host", "Port", x.port(), "Last", lastAnswer(p, at), "Hop", at, "Ref", p.RefPort, "Host", host))
			fix := append(openPortFix(x.port(), x.v6()), agentFix(x.port())...)
			return Draft{Summary: i18n.M("trace.filtered_host.summary", "Port", x.port(), "Hop", host), Lines: lines, Fix: append(fix, watchFix(x.port())...)}
		}, Note: "the SYN passes every router and dies at the host's hop, which another port's trace reached: the server's firewall or its security group"},
	{ID: "path.trace.filtered_upstream", Cause: CauseFilteredUpstream, Conf: Medium,
		When: func(x tcp) bool {
			at, host, ok := x.pathDies()
			return ok && x.silentAlive() && at < host
		},
		Make: func(x tcp) Draft {
			p := x.pathOf()
			at, host, _ := x.pathDies()
			box := p.RefAt(at).From.String()
			lines := append([]i18n.Msg{connectLine(x.a)}, otherLines(x.a)...)
			if last := lastAnswer(p, at); last > 0 {
				lines = append(lines, i18n.M("trace.ev.dies_before", "Port", x.port(), "Last", last, "LastAddr", p.At(last).From.String(),
					"Hop", at, "Box", box, "Ref", p.RefPort, "Host", host))
			} else {
				lines = append(lines, i18n.M("trace.ev.dies_first", "Port", x.port(), "Box", box, "Ref", p.RefPort, "Host", host))
			}
			fix := []i18n.Msg{i18n.M("trace.fix.upstream", "Box", box, "Hop", at, "Port", x.port()), tracerouteCmd(x.a.Addr)}
			return Draft{Summary: i18n.M("trace.upstream.summary", "Port", x.port(), "Hop", at, "Box", box, "Host", host),
				Lines: lines, Fix: append(fix, agentFix(x.port())...)}
		}, Note: "the SYN dies at an earlier hop than the host's, which another port's trace passes: a box on the way drops the port; the hop is named"},
}

// lastAnswer is the last hop before at that answered the target port's SYN (0: none).
func lastAnswer(p *Path, at int) int {
	for t := at - 1; t > 0; t-- {
		if p.At(t).Answered() {
			return t
		}
	}
	return 0
}

func agentArrivedLine(x tcp, ag *AgentWatch) i18n.Msg {
	return i18n.M("agent.ev.arrived", "URL", ag.URL, "Port", x.port(), "Dur", Dur(ag.Duration), "Tries", ag.Tries,
		"N", len(ag.SYNs()), "Seen", ag.SeenAs.String())
}

func agentNotTargetLines(x tcp) []i18n.Msg {
	ag := x.a.Agent
	var out []i18n.Msg
	if !ag.AtTarget {
		out = append(out, i18n.M("agent.ev.not_target", "URL", ag.URL, "Addr", x.dst().String()))
	}
	if ag.Port.Watch != nil {
		out = append(out, kernelDropLines(ag.Port.Watch)...)
	}
	return out
}

func agentDroppedDraft(x tcp) Draft {
	ag := x.a.Agent
	pe := ag.Port
	lines := append([]i18n.Msg{connectLine(x.a), agentArrivedLine(x, ag)}, srvWatchLines(pe.Watch)...)
	fix := hostFirewallFix(x.port(), x.v6())
	switch stops := srvFirewallStops(pe); {
	case len(stops) > 0:
		d := srvFirewallDetail(pe, stops)
		lines = append(lines, d.Lines...)
		if len(d.Fix) > 0 {
			fix = d.Fix
		}
	case pe.Firewall != nil:
		lines = append(lines, i18n.M("server.ev.watch.unexplained"))
	default:
		why := ag.FirewallErr
		if why == "" {
			why = "-"
		}
		lines = append(lines, i18n.M("agent.ev.rules_unread", "Why", why))
	}
	return Draft{Summary: i18n.M("agent.dropped.summary", "Port", x.port()), Lines: append(lines, agentNotTargetLines(x)...), Fix: fix}
}

func agentLostDraft(x tcp) Draft {
	ag := x.a.Agent
	port := x.port()
	lines := []i18n.Msg{connectLine(x.a), i18n.M("agent.ev.none_arrived", "URL", ag.URL, "Port", port, "Dur", Dur(ag.Duration),
		"Tries", ag.Tries, "Seen", ag.SeenAs.String())}
	if len(ag.Port.Listeners) > 0 && ag.Port.Firewall != nil && len(srvFirewallStops(ag.Port)) == 0 {
		lines = append(lines, i18n.M("agent.ev.ready", "Port", port))
	}
	if at, _, ok := x.pathDies(); ok {
		lines = append(lines, i18n.M("agent.ev.trace_dies", "Hop", at, "Box", x.pathOf().RefAt(at).From.String()))
	}
	fix := []i18n.Msg{i18n.M("server.fix.upstream", "Port", port)}
	if place, ok := cloudPlace(ag.Cloud, port); ok {
		fix = append(fix, place)
	}
	return Draft{Summary: i18n.M("agent.lost.summary", "Port", port), Lines: append(lines, agentNotTargetLines(x)...),
		Fix: append(fix, tracerouteCmd(x.a.Addr))}
}

// agentFix offers the agent, which tells the two sides apart with one command.
func agentFix(port uint16) []i18n.Msg {
	return []i18n.Msg{i18n.M("agent.fix.try"),
		i18n.Cmd("conndiag listen http://0.0.0.0:8080 --agent --agent-ports %d", port),
		i18n.M("agent.fix.try.client"),
		i18n.Cmd("conndiag check SERVER:%d --agent http://SERVER:8080 --agent-token TOKEN", port)}
}

// pathLines are what the path and the agent add to a finding that another
// table made: where the trace ended, and why the agent could not settle it
// (a path row already says what the trace showed).
func pathLines(a AddrEvidence, rule string) []i18n.Msg {
	var out []i18n.Msg
	if p := a.Path; p != nil && len(p.Hops) > 0 && !strings.HasPrefix(rule, "path.") {
		out = append(out, pathEndLine(*p))
	}
	if ag := a.Agent; ag != nil && !strings.HasPrefix(rule, "path.agent.") {
		out = append(out, agentStatusLine(ag))
	}
	return out
}

func pathEndLine(p Path) i18n.Msg {
	e := p.End()
	switch e.Kind {
	case evidence.EndOpen, evidence.EndClosed:
		return i18n.M("trace.ev.end.reached", "Hop", e.Hop, "Mark", e.Mark)
	case evidence.EndRejected:
		return i18n.M("trace.ev.end.rejected", "Hop", e.Hop, "From", e.From.String(), "Mark", e.Mark, "ICMP", e.ICMP.Describe())
	}
	if e.Hop == 0 {
		if host := p.HostHop(); p.RefPort != 0 && host > 1 && !anyRouter(p) {
			return i18n.M("trace.ev.end.silent_routers", "Ref", p.RefPort, "Host", host)
		}
		return i18n.M("trace.ev.end.silent")
	}
	return i18n.M("trace.ev.end.filtered", "Hop", e.Hop, "From", e.From.String())
}

// anyRouter: some router answered either trace with time exceeded.
func anyRouter(p Path) bool {
	for _, hs := range [][]Hop{p.Hops, p.Ref} {
		for _, h := range hs {
			if h.Kind == HopRouter {
				return true
			}
		}
	}
	return false
}

func agentStatusLine(ag *AgentWatch) i18n.Msg {
	switch {
	case ag.Watched && ag.Connected > 0:
		return i18n.M("agent.ev.connected", "URL", ag.URL, "N", ag.Connected, "Tries", ag.Tries)
	case ag.Watched:
		return i18n.M("agent.ev.watched", "URL", ag.URL, "N", len(ag.SYNs()), "Dur", Dur(ag.Duration))
	}
	switch ag.Refusal {
	case evidence.AgentRefusedToken:
		return i18n.M("agent.ev.refused.token", "URL", ag.URL)
	case evidence.AgentRefusedPort:
		ports := make([]string, 0, len(ag.Allowed))
		for _, p := range ag.Allowed {
			ports = append(ports, strconv.Itoa(int(p)))
		}
		return i18n.M("agent.ev.refused.port", "URL", ag.URL, "Allowed", strings.Join(ports, ","))
	case evidence.AgentBusy:
		return i18n.M("agent.ev.refused.busy", "URL", ag.URL)
	case evidence.AgentNoRoot:
		return i18n.M("agent.ev.refused.no_root", "URL", ag.URL)
	case evidence.AgentFamily:
		return i18n.M("agent.ev.family", "URL", ag.URL, "Seen", ag.SeenAs.String())
	case "":
		return i18n.M("agent.ev.unreachable", "URL", ag.URL, "Err", ag.Err)
	}
	return i18n.M("agent.ev.refused.other", "URL", ag.URL, "Code", ag.Refusal, "Err", ag.Err)
}
