package verdict

import (
	"strconv"
	"strings"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
)

// The server audit's tables: every matching row adds a finding, and a port's
// (or the host's) findings are shown most certain first, in rule order
// among equals. A cause shown twice keeps its first, most certain finding.

// srvPort is the evidence the port rows read, with what is derived from it once.
type srvPort struct {
	h     HostEvidence
	p     PortEvidence
	cov   srvCover
	fw    []FirewallEvidence // the families whose rules stop the port
	lines []i18n.Msg         // the listeners
	none  []WatchedSYN       // SYNs --watch saw unanswered
	rst   []WatchedSYN       // SYNs --watch saw reset
}

// noneV6: every unanswered SYN the watch saw is IPv6, so ip6tables opens the port.
func (x srvPort) noneV6() bool {
	for _, s := range x.none {
		if a := s.From.Addr(); a.Is4() || a.Is4In6() {
			return false
		}
	}
	return len(x.none) > 0
}

func newSrvPort(h HostEvidence, p PortEvidence) srvPort {
	x := srvPort{h: h, p: p, cov: srvCoverage(h, p), fw: srvFirewallStops(p), lines: srvListenerLines(p)}
	if w := p.Watch; w != nil {
		for _, s := range w.SYNs {
			switch s.Answer {
			case AnswerNone:
				x.none = append(x.none, s)
			case AnswerRST:
				x.rst = append(x.rst, s)
			}
		}
	}
	return x
}

// conf is the confidence of a finding about an asked port; one found
// listening (not asked) is only a hint.
func (x srvPort) conf(asked, unasked Confidence) Confidence {
	if x.p.Asked {
		return asked
	}
	return unasked
}

func (x srvPort) watched() bool   { return x.p.Watch != nil }
func (x srvPort) listening() bool { return len(x.p.Listeners) > 0 }

// overflowing: the listen queue overflowed while the audit watched.
func (x srvPort) overflowing() bool { return x.h.OverflowGrowth > 0 && x.listening() }

// dropsProven: unanswered SYNs prove the host drops them when a client
// retransmitted and still got no answer, or when no attempt was answered at
// all. A lone SYN, seen once among answered ones, may be one the watch
// caught at its end, before the answer.
func (x srvPort) dropsProven() bool {
	if len(x.none) == len(x.p.Watch.SYNs) {
		return true
	}
	for _, s := range x.none {
		if s.Count >= 2 {
			return true
		}
	}
	return false
}

// resetListening: a watched SYN was reset though a listener accepts its address.
func (x srvPort) resetListening() bool {
	for _, s := range x.rst {
		if srvAccepts(x.p.Listeners, s.To.Addr(), x.h.Limits.BindV6Only) {
			return true
		}
	}
	return false
}

func (x srvPort) queueFull() (Listener, bool) {
	for _, l := range x.p.Listeners {
		if l.Backlog > 0 && l.Queue >= l.Backlog {
			return l, true
		}
	}
	return Listener{}, false
}

// fdLimit is the listening process at or near its descriptor limit.
func (x srvPort) fdLimit() (evidence.Owner, Confidence, bool) {
	for _, l := range x.p.Listeners {
		for _, o := range l.Owners {
			if o.NoFile == nil || o.NoFile.Soft == 0 || o.NoFile.Soft == evidence.Unlimited {
				continue
			}
			open, soft := uint64(o.FDs), o.NoFile.Soft
			switch {
			case open+1 >= soft:
				return o, High, true
			case open*10 >= soft*9:
				return o, Medium, true
			}
		}
	}
	return evidence.Owner{}, "", false
}

func (x srvPort) firewallDraft(summary i18n.Msg, lines []i18n.Msg, fallback []i18n.Msg) Draft {
	d := Draft{Summary: summary, Args: []any{"Port", x.p.Port}, Lines: lines, Fix: fallback}
	if len(x.fw) > 0 {
		fw := srvFirewallDetail(x.p, x.fw)
		d.Lines = append(d.Lines, fw.Lines...)
		d.Fix = append([]i18n.Msg{}, fw.Fix...) // the commands of the firewall that stops it, or none
	}
	return d
}

var portRules = []Rule[srvPort]{
	// What --watch saw.
	{ID: "server.watch.no_syn", Cause: CauseFilteredUpstream, Conf: Medium,
		When: func(x srvPort) bool { return x.watched() && len(x.p.Watch.SYNs) == 0 && x.p.Asked },
		Make: func(x srvPort) Draft {
			port := x.p.Port
			lines := []i18n.Msg{i18n.M("server.ev.watch.none", "Port", port, "Dur", Dur(x.p.Watch.Duration))}
			if x.listening() && len(x.fw) == 0 {
				lines = append(lines, i18n.M("server.ev.watch.ready"))
			}
			fix := []i18n.Msg{i18n.M("server.fix.upstream", "Port", port)}
			if place, ok := cloudPlace(x.h.Cloud, port); ok {
				fix = append(fix, place)
			}
			return Draft{Summary: i18n.M("server.watch.upstream.summary", "Port", port), Lines: lines,
				Fix: append(fix, i18n.Cmd("traceroute -T -p %d SERVER_PUBLIC_IP", port))}
		}, Note: "no SYN arrived while the client tried: dropped before the host; only for a port named on the command line (a listening port nobody tried proves nothing)"},
	{ID: "server.watch.overflow", Cause: CauseAcceptQueueOverflow, Conf: High,
		When: func(x srvPort) bool { return len(x.none) > 0 && x.overflowing() },
		Make: func(x srvPort) Draft {
			return Draft{Lines: append(srvWatchLines(x.p.Watch), srvOverflowLine(x.h)), Fix: srvQueueFix(x.h.Limits)}
		}, Note: "unanswered SYNs while ListenOverflows grew"},
	{ID: "server.watch.dropped", Cause: CauseFirewallLocal, Conf: High,
		ConfOf: func(x srvPort) Confidence {
			if x.p.Watch.KernelDrops > 0 {
				return Medium // the watch may have missed the answers
			}
			return High
		},
		When: func(x srvPort) bool { return len(x.none) > 0 && !x.overflowing() && x.dropsProven() },
		Make: func(x srvPort) Draft {
			lines := srvWatchLines(x.p.Watch)
			if len(x.fw) == 0 && x.p.Firewall != nil {
				lines = append(lines, i18n.M("server.ev.watch.unexplained"))
			}
			lines = append(lines, kernelDropLines(x.p.Watch)...)
			return x.firewallDraft(i18n.M("server.watch.dropped.summary", "Port", x.p.Port), lines, hostFirewallFix(x.p.Port, x.noneV6()))
		}, Note: "SYNs arrived and the host did not answer: retransmitted unanswered, or none answered; medium when the watch's socket dropped packets"},
	{ID: "server.watch.some_unanswered", Cause: CauseFirewallLocal, Conf: Low,
		When: func(x srvPort) bool { return len(x.none) > 0 && !x.overflowing() && !x.dropsProven() },
		Make: func(x srvPort) Draft {
			lines := append(srvWatchLines(x.p.Watch), i18n.M("server.ev.watch.edge"))
			lines = append(lines, kernelDropLines(x.p.Watch)...)
			return x.firewallDraft(i18n.M("server.watch.some_unanswered.summary", "None", len(x.none), "All", len(x.p.Watch.SYNs), "Port", x.p.Port),
				lines, watchFix(x.p.Port))
		}, Note: "single unanswered SYNs among answered ones: not proof, the watch may have ended before their answer"},
	{ID: "server.watch.reset", Cause: CauseFirewallLocal, Conf: High,
		When: func(x srvPort) bool { return len(x.rst) > 0 && x.listening() && x.resetListening() },
		Make: func(x srvPort) Draft {
			lines := append(srvWatchLines(x.p.Watch), x.lines...)
			return x.firewallDraft(i18n.M("server.watch.reset.summary", "Port", x.p.Port), lines, []i18n.Msg{})
		}, Note: "SYNs to an address a listener accepts were reset"},

	// Who listens where.
	{ID: "server.not_listening", Cause: CauseNotListening, Conf: High,
		ConfOf: func(x srvPort) Confidence {
			if srvRedirected(x.p) != nil {
				return Low // Docker and other DNAT setups need no listener on the host itself
			}
			return x.conf(High, Low)
		},
		When: func(x srvPort) bool { return !x.listening() },
		Make: func(x srvPort) Draft {
			port := x.p.Port
			lines := []i18n.Msg{i18n.M("server.ev.no_listener", "Port", port)}
			if rd := srvRedirected(x.p); rd != nil {
				lines = append(lines, srvRedirectLine(port, rd))
			}
			return Draft{Summary: i18n.M("server.not_listening.summary", "Port", port), Lines: lines,
				Fix: []i18n.Msg{i18n.M("server.fix.start", "Port", port), listenCheckCmd(port)}}
		}, Note: "high for an asked port, low for a DNAT'd one or one not asked"},
	{ID: "server.loopback", Cause: CauseBoundToLoopback, Conf: High,
		ConfOf: func(x srvPort) Confidence { return x.conf(High, Low) },
		When:   func(x srvPort) bool { return len(x.cov.listening) > 0 && srvAllLoopback(x.p.Listeners) },
		Make: func(x srvPort) Draft {
			lines := x.lines
			if len(x.cov.cannot) > 0 {
				lines = append(lines, i18n.M("server.ev.cannot_use", "Addrs", srvJoinAddrs(x.cov.cannot)))
			}
			return Draft{Args: []any{"Port", x.p.Port}, Lines: lines, Fix: srvListenFix(x.h, x.p, x.cov)}
		}},
	{ID: "server.other_address", Cause: CauseBoundToOtherAddress, Conf: Medium,
		ConfOf: func(x srvPort) Confidence {
			if x.cov.onlyV6Missing {
				return Low // IPv4-only services are common; it matters when the name has an AAAA record
			}
			return x.conf(Medium, Low)
		},
		When: func(x srvPort) bool { return len(x.cov.cannot) > 0 && x.listening() && !srvAllLoopback(x.p.Listeners) },
		Make: func(x srvPort) Draft {
			lines := x.lines
			if len(x.cov.can) > 0 {
				lines = append(lines, i18n.M("server.ev.can_use", "Addrs", srvJoinAddrs(x.cov.can)))
			}
			lines = append(lines, i18n.M("server.ev.cannot_use", "Addrs", srvJoinAddrs(x.cov.cannot)))
			return Draft{Summary: i18n.M("server.bound_to_other.summary", "Port", x.p.Port, "Listening", strings.Join(x.cov.listening, ", "), "Cannot", srvJoinAddrs(x.cov.cannot)),
				Lines: lines, Fix: srvListenFix(x.h, x.p, x.cov)}
		}, Note: "some of the host's addresses get no listener; low when only IPv6 ones miss"},

	// What the rules say.
	{ID: "server.firewall", Cause: CauseFirewallLocal, Conf: High,
		ConfOf: func(x srvPort) Confidence {
			c := x.conf(High, Low)
			for _, e := range x.fw {
				if e.Result.Uncertain && c == High {
					c = Medium
				}
			}
			if srvAnswered(x.p.Watch) {
				c = Low // connections got through during the watch: the rule spares some clients
			}
			if srvAllLoopback(x.p.Listeners) && c == High {
				c = Medium // it bites once the server listens on 0.0.0.0, the fix that comes first
			}
			return c
		},
		When: func(x srvPort) bool { return len(x.fw) > 0 },
		Make: func(x srvPort) Draft { return x.firewallDraft(i18n.Msg{}, nil, nil) },
		Note: "a rule drops or rejects a new connection to the port; medium when a rule was not understood or the server listens on loopback only, low when the watch saw connections get through"},

	// Limits.
	{ID: "server.queue_full", Cause: CauseAcceptQueueOverflow, Conf: High,
		When: func(x srvPort) bool { _, ok := x.queueFull(); return ok },
		Make: func(x srvPort) Draft {
			l, _ := x.queueFull()
			lines := []i18n.Msg{i18n.M("server.ev.queue", "Addr", l.Addr.String(), "Queue", l.Queue, "Backlog", l.Backlog)}
			if x.h.OverflowGrowth > 0 {
				lines = append(lines, srvOverflowLine(x.h))
			}
			return Draft{Lines: lines, Fix: srvQueueFix(x.h.Limits)}
		}, Note: "connections waiting to be accepted fill the backlog"},
	{ID: "server.fd", Cause: CauseFDExhausted, Conf: High,
		ConfOf: func(x srvPort) Confidence { _, c, _ := x.fdLimit(); return c },
		When:   func(x srvPort) bool { _, _, ok := x.fdLimit(); return ok },
		Make: func(x srvPort) Draft {
			o, c, _ := x.fdLimit()
			d := Draft{Lines: []i18n.Msg{i18n.M("server.ev.fd", "Process", o.Process, "PID", o.PID, "Open", uint64(o.FDs), "Soft", o.NoFile.Soft, "Hard", srvLimitString(o.NoFile.Hard))},
				Fix: []i18n.Msg{i18n.M("server.fix.fd"), i18n.Cmd("prlimit --pid %d --nofile=65535:65535", o.PID), i18n.Cmd("ls /proc/%d/fd | wc -l", o.PID)}}
			if c == Medium {
				d.Summary = i18n.M("server.fd.near.summary", "Port", x.p.Port, "Process", o.Process, "PID", o.PID, "Open", uint64(o.FDs), "Limit", o.NoFile.Soft)
			}
			return d
		}, Note: "high at the limit, medium above 90 % of it"},
}

func kernelDropLines(w *Watch) []i18n.Msg {
	if w.KernelDrops == 0 {
		return nil
	}
	return []i18n.Msg{i18n.M("server.ev.watch.kernel_drops", "N", w.KernelDrops)}
}

// DecidePort turns one port's evidence into findings, most certain first.
func DecidePort(h HostEvidence, p PortEvidence) []Finding {
	fs, _ := decideAll(portRules, newSrvPort(h, p))
	return rank(fs, true)
}

// srvHost is the evidence the host rows read.
type srvHost struct {
	h     HostEvidence
	ports string // the audited ports, for sentences
}

// one is the port a cloud console place names: several ports say PORT.
func (x srvHost) one() uint16 {
	if len(x.h.Ports) == 1 {
		return x.h.Ports[0]
	}
	return 0
}

func (x srvHost) public() bool {
	for _, a := range x.h.Addrs {
		if AddrClass(a) == "" {
			return true
		}
	}
	return false
}

func (x srvHost) conntrackFull() bool {
	l := x.h.Limits
	return l.ConntrackMax > 0 && l.ConntrackCount >= 0 && l.ConntrackCount*10 >= l.ConntrackMax*9
}

func (x srvHost) portsBusy() bool {
	size := x.h.Limits.PortRange.Size()
	return size > 0 && x.h.Limits.BusiestCount*2 >= size
}

var hostRules = []Rule[srvHost]{
	{ID: "host.cloud", Cause: CauseFilteredUpstream, Conf: Low,
		When: func(x srvHost) bool { return x.h.Cloud != "" },
		Make: func(x srvHost) Draft {
			d := Draft{Summary: i18n.M("server.cloud.summary", "Provider", cloudName(x.h.Cloud), "Ports", x.ports),
				Lines: []i18n.Msg{i18n.M("server.ev.dmi", "Vendor", x.h.DMIVendor, "Product", x.h.DMIProduct)}, Fix: []i18n.Msg{}}
			if place, ok := cloudPlace(x.h.Cloud, x.one()); ok {
				d.Fix = append(d.Fix, place)
			}
			return d
		}, Note: "the provider's firewall cannot be seen from the host"},
	{ID: "host.panel", Cause: CauseFirewallLocal, Conf: Low,
		When: func(x srvHost) bool { return x.h.Panel != "" },
		Make: func(x srvHost) Draft {
			port := x.h.PanelPort
			if port == "" {
				port = "?"
			}
			return Draft{Summary: i18n.M("server.panel.summary"),
				Lines: []i18n.Msg{i18n.M("server.ev.panel", "Path", "/www/server/panel", "Port", port)},
				Fix:   []i18n.Msg{i18n.M("server.fix.panel", "Ports", x.ports)}}
		}, Note: "BaoTa / aaPanel keeps its own firewall"},
	{ID: "host.private", Cause: CausePrivateAddress, Conf: Low,
		When: func(x srvHost) bool { return len(x.h.Addrs) > 0 && !x.public() },
		Make: func(x srvHost) Draft {
			addrs := srvJoinAddrs(x.h.Addrs)
			return Draft{Summary: i18n.M("server.private.summary", "Addrs", addrs), Lines: []i18n.Msg{i18n.M("server.ev.addrs", "Addrs", addrs)},
				Fix: []i18n.Msg{i18n.M("server.fix.private")}}
		}, Note: "no public address: clients outside reach it only through NAT or a load balancer"},
	{ID: "host.overflow", Cause: CauseAcceptQueueOverflow, Conf: High,
		When: func(x srvHost) bool { return x.h.OverflowGrowth > 0 && len(x.h.QueueFullPorts) == 0 },
		Make: func(x srvHost) Draft {
			return Draft{Lines: []i18n.Msg{srvOverflowLine(x.h)}, Fix: srvQueueFix(x.h.Limits)}
		}, Note: "ListenOverflows grew during the audit"},
	{ID: "host.conntrack", Cause: CauseFirewallLocal, Conf: Medium,
		ConfOf: func(x srvHost) Confidence {
			if l := x.h.Limits; l.ConntrackCount >= l.ConntrackMax {
				return High
			}
			return Medium
		},
		When: srvHost.conntrackFull,
		Make: func(x srvHost) Draft {
			l := x.h.Limits
			return Draft{Summary: i18n.M("server.conntrack.summary", "Count", l.ConntrackCount, "Max", l.ConntrackMax),
				Lines: []i18n.Msg{i18n.M("server.ev.conntrack", "Count", l.ConntrackCount, "Max", l.ConntrackMax)},
				Fix:   []i18n.Msg{i18n.M("server.fix.conntrack"), i18n.Cmd("sysctl -w net.netfilter.nf_conntrack_max=%d", l.ConntrackMax*2)}}
		}, Note: "the connection tracking table is above 90 % (high when full)"},
	{ID: "host.ports", Cause: CauseEphemeralPortsExhausted, Conf: Medium,
		When: srvHost.portsBusy,
		Make: func(x srvHost) Draft {
			l := x.h.Limits
			size := l.PortRange.Size()
			lines := []i18n.Msg{
				i18n.M("server.ev.outgoing", "N", l.BusiestCount, "Dst", l.Busiest.String(), "Size", size, "Range", l.PortRange.String()),
				i18n.M("ev.ports.timewait", "N", l.TimeWait)}
			if l.TwReuse >= 0 && l.TwReuse <= 2 {
				lines = append(lines, twReuseLine(l.TwReuse))
			}
			fix := []i18n.Msg{i18n.M("fix.ports.spread")}
			if snip := SysctlSnippet(SysctlAdvice(l, false, true)); snip != "" {
				fix = append(fix, i18n.M("server.fix.sysctl"), i18n.CmdLine(snip))
			}
			return Draft{Summary: i18n.M("server.ports.summary", "Dst", l.Busiest.String(), "N", l.BusiestCount, "Size", size), Lines: lines, Fix: fix}
		}, Note: "one destination holds half the ephemeral range or more"},
}

// DecideHost turns what was learned about the host as a whole into findings.
func DecideHost(h HostEvidence) []Finding {
	fs, _ := decideAll(hostRules, srvHost{h: h, ports: srvPortList(h.Ports)})
	return rank(fs, true)
}

// srvPortList names the audited ports, or "?" for none.
func srvPortList(ps []uint16) string {
	if len(ps) == 0 {
		return "?"
	}
	return JoinPorts(ps)
}

// JoinPorts is "22, 80, 443".
func JoinPorts(ps []uint16) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ", ")
}
