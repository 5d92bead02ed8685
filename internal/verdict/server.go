package verdict

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
)

// The server audit's evidence types are defined in internal/evidence.
type (
	HostEvidence     = evidence.HostEvidence
	Limits           = evidence.Limits
	Listener         = evidence.Listener
	FirewallEvidence = evidence.FirewallEvidence
	WatchedSYN       = evidence.WatchedSYN
	Watch            = evidence.Watch
	PortEvidence     = evidence.PortEvidence
)

// Watched answers.
const (
	AnswerSynAck = evidence.AnswerSynAck
	AnswerRST    = evidence.AnswerRST
	AnswerNone   = evidence.AnswerNone
)

// Problem reports whether the findings hold something wrong: a finding of
// high or medium confidence. Low ones are hints about what cannot be seen.
func Problem(fs []Finding) bool {
	for _, f := range fs {
		if f.Confidence != Low {
			return true
		}
	}
	return false
}

// DecidePort turns one port's evidence into findings, most certain first.
func DecidePort(h HostEvidence, p PortEvidence) []Finding {
	var out []Finding
	conf := func(asked, unasked Confidence) Confidence {
		if p.Asked {
			return asked
		}
		return unasked
	}
	cov := srvCoverage(h, p)
	lines := srvListenerLines(p)
	fw := srvFirewallStops(p)

	if w := p.Watch; w != nil {
		out = append(out, srvWatchFindings(h, p, cov, fw, lines)...)
	}
	switch {
	case len(p.Listeners) == 0:
		f := newFinding(CauseNotListening, conf(High, Low), "Addr", "*:"+strconv.Itoa(int(p.Port)))
		f.Summary = i18n.M("server.not_listening.summary", "Port", p.Port)
		f = f.with(i18n.M("server.ev.no_listener", "Port", p.Port))
		if rd := srvRedirected(p); rd != nil {
			// Docker and other DNAT setups need no listener on the host itself.
			f.Confidence = Low
			f = f.with(srvRedirectLine(p.Port, rd))
		}
		out = append(out, f.fix(i18n.M("server.fix.start", "Port", p.Port), i18n.Cmd("ss -ltnp 'sport = :%d'", p.Port)))
	case len(cov.listening) > 0 && srvAllLoopback(p.Listeners):
		f := newFinding(CauseBoundToLoopback, conf(High, Low), "Port", p.Port).with(lines...)
		if len(cov.cannot) > 0 {
			f = f.with(i18n.M("server.ev.cannot_use", "Addrs", srvJoinAddrs(cov.cannot)))
		}
		out = append(out, f.fix(srvListenFix(h, p, cov)...))
	case len(cov.cannot) > 0:
		c := conf(Medium, Low)
		if cov.onlyV6Missing {
			c = Low // IPv4-only services are common; it matters when the name has an AAAA record
		}
		f := newFinding(CauseBoundToOtherAddress, c, "Port", p.Port, "Addr", srvJoinAddrs(cov.cannot))
		f.Summary = i18n.M("server.bound_to_other.summary", "Port", p.Port, "Listening", strings.Join(cov.listening, ", "), "Cannot", srvJoinAddrs(cov.cannot))
		f = f.with(lines...)
		if len(cov.can) > 0 {
			f = f.with(i18n.M("server.ev.can_use", "Addrs", srvJoinAddrs(cov.can)))
		}
		f = f.with(i18n.M("server.ev.cannot_use", "Addrs", srvJoinAddrs(cov.cannot)))
		out = append(out, f.fix(srvListenFix(h, p, cov)...))
	}
	if len(fw) > 0 && !srvHasCause(out, CauseFirewallLocal) {
		c := conf(High, Low)
		for _, e := range fw {
			if e.Result.Uncertain && c == High {
				c = Medium
			}
		}
		if srvAnswered(p.Watch) {
			c = Low // connections got through during the watch: the rule spares some clients
		}
		if srvAllLoopback(p.Listeners) && c == High {
			c = Medium // it bites once the server listens on 0.0.0.0, the fix that comes first
		}
		f := newFinding(CauseFirewallLocal, c, "Port", p.Port)
		out = append(out, srvFirewallDetail(f, p, fw))
	}
	for _, l := range p.Listeners {
		if l.Backlog > 0 && l.Queue >= l.Backlog {
			f := newFinding(CauseAcceptQueueOverflow, High).
				with(i18n.M("server.ev.queue", "Addr", l.Addr.String(), "Queue", l.Queue, "Backlog", l.Backlog))
			if h.OverflowGrowth > 0 {
				f = f.with(srvOverflowLine(h))
			}
			out = append(out, f.fix(srvQueueFix(h.Limits)...))
			break
		}
	}
	if f, ok := srvFdFinding(p); ok {
		out = append(out, f)
	}
	srvSortFindings(out)
	return out
}

// srvCoverage splits the host's addresses into those a client can connect to
// on the port and those it cannot.
type srvCover struct {
	listening     []string // listener addresses as shown
	can, cannot   []netip.Addr
	onlyV6Missing bool
}

func srvCoverage(h HostEvidence, p PortEvidence) srvCover {
	var c srvCover
	for _, l := range p.Listeners {
		c.listening = append(c.listening, l.Addr.String())
	}
	for _, a := range h.Addrs {
		if srvAccepts(p.Listeners, a, h.Limits.BindV6Only) {
			c.can = append(c.can, a)
		} else {
			c.cannot = append(c.cannot, a)
		}
	}
	c.onlyV6Missing = len(c.cannot) > 0
	for _, a := range c.cannot {
		c.onlyV6Missing = c.onlyV6Missing && a.Is6() && !a.Is4In6()
	}
	c.onlyV6Missing = c.onlyV6Missing && len(c.can) > 0
	return c
}

// srvAccepts reports whether some listener takes connections to a.
func srvAccepts(ls []Listener, a netip.Addr, bindV6Only int) bool {
	a = a.Unmap()
	for _, l := range ls {
		la := l.Addr.Addr()
		switch {
		case la == netip.IPv4Unspecified():
			if a.Is4() {
				return true
			}
		case la == netip.IPv6Unspecified():
			v6only := l.V6Only == 1 || l.V6Only < 0 && bindV6Only == 1
			if a.Is6() || !v6only {
				return true
			}
		case la.Unmap() == a:
			return true
		}
	}
	return false
}

// srvListenFix names what the server listens on now and what to change:
// another address, IPv6 as well, or IPv4 on a [::] socket that is IPv6-only.
func srvListenFix(h HostEvidence, p PortEvidence, cov srvCover) []i18n.Msg {
	check := []i18n.Msg{i18n.M("server.fix.listen_check"), i18n.Cmd("ss -ltnp 'sport = :%d'", p.Port)}
	v6onlyWild, v4missing := false, false
	for _, l := range p.Listeners {
		if l.Addr.Addr() == netip.IPv6Unspecified() && (l.V6Only == 1 || l.V6Only < 0 && h.Limits.BindV6Only == 1) {
			v6onlyWild = true
		}
	}
	for _, a := range cov.cannot {
		v4missing = v4missing || a.Unmap().Is4()
	}
	switch {
	case v6onlyWild && v4missing:
		return append([]i18n.Msg{i18n.M("server.fix.v6only", "Port", p.Port), i18n.Cmd("sysctl -w net.ipv6.bindv6only=0")}, check...)
	case cov.onlyV6Missing:
		return append([]i18n.Msg{i18n.M("server.fix.listen_v6"), i18n.Snippet("new Worker('websocket://[::]:%d');", p.Port)}, check...)
	}
	return append([]i18n.Msg{i18n.M("server.fix.listen_all", "Listening", strings.Join(cov.listening, ", ")),
		i18n.Snippet("new Worker('websocket://0.0.0.0:%d');", p.Port)}, check...)
}

func srvAllLoopback(ls []Listener) bool {
	for _, l := range ls {
		if !l.Addr.Addr().Unmap().IsLoopback() {
			return false
		}
	}
	return len(ls) > 0
}

func srvListenerLines(p PortEvidence) []i18n.Msg {
	var out []i18n.Msg
	for _, l := range p.Listeners {
		backlog := "?"
		if l.Backlog > 0 {
			backlog = strconv.Itoa(int(l.Backlog))
		}
		switch {
		case len(l.Owners) > 0:
			o := l.Owners[0]
			out = append(out, i18n.M("server.ev.listener", "Addr", l.Addr.String(), "Process", o.Process, "PID", o.PID, "Backlog", backlog))
		case l.OwnerHidden:
			out = append(out, i18n.M("server.ev.listener.hidden", "Addr", l.Addr.String(), "UID", l.UID, "Backlog", backlog))
		default:
			out = append(out, i18n.M("server.ev.listener.noowner", "Addr", l.Addr.String(), "UID", l.UID, "Backlog", backlog))
		}
		if l.Addr.Addr() == netip.IPv6Unspecified() {
			switch l.V6Only {
			case 1:
				out = append(out, i18n.M("server.ev.v6only", "Addr", l.Addr.String()))
			case 0:
				out = append(out, i18n.M("server.ev.dualstack", "Addr", l.Addr.String()))
			}
		}
	}
	return out
}

func srvJoinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// srvFirewallStops are the families whose rule set drops or rejects the port,
// among those a listener serves (all of them when none listens).
func srvFirewallStops(p PortEvidence) []FirewallEvidence {
	var out []FirewallEvidence
	for _, e := range p.Firewall {
		r := e.Result
		if r.Action != evidence.Drop && r.Action != evidence.Reject {
			continue
		}
		// A loopback-only server is to be moved to 0.0.0.0: the rule bites then.
		if len(p.Listeners) > 0 && !srvAllLoopback(p.Listeners) && !srvServesFamily(p.Listeners, r.Family) {
			continue
		}
		out = append(out, e)
	}
	return out
}

func srvServesFamily(ls []Listener, f evidence.Family) bool {
	for _, l := range ls {
		a := l.Addr.Addr()
		if a.Unmap().IsLoopback() {
			continue
		}
		if f == evidence.IPv4 && (a.Is4() || a.Is4In6() || a == netip.IPv6Unspecified() && l.V6Only != 1) ||
			f == evidence.IPv6 && a.Is6() && !a.Is4In6() {
			return true
		}
	}
	return false
}

func srvRedirected(p PortEvidence) *evidence.Redirect {
	for _, e := range p.Firewall {
		if e.Result.Redirect != nil {
			return e.Result.Redirect
		}
	}
	return nil
}

func srvRedirectLine(port uint16, rd *evidence.Redirect) i18n.Msg {
	to := "this host"
	if rd.Addr.IsValid() {
		to = rd.Addr.String()
	}
	if rd.Port != 0 {
		to += ":" + strconv.Itoa(int(rd.Port))
	}
	return i18n.M("server.ev.fw.redirect", "Port", port, "To", to, "Rule", rd.Rule)
}

func srvFamilyName(f evidence.Family) string {
	if f == evidence.IPv6 {
		return "IPv6"
	}
	return "IPv4"
}

// srvFirewallDetail adds the rule lines and the opening commands to f.
func srvFirewallDetail(f Finding, p PortEvidence, fw []FirewallEvidence) Finding {
	seen := map[string]bool{}
	for _, e := range fw {
		r := e.Result
		d := r.Decider
		fam := srvFamilyName(r.Family)
		if d.Policy {
			f = f.with(i18n.M("server.ev.fw.policy", "Family", fam, "Backend", d.Backend, "Table", d.Table, "Chain", d.Chain, "Rule", d.Rule))
		} else {
			f = f.with(i18n.M("server.ev.fw.rule", "Family", fam, "Action", string(r.Action), "Backend", d.Backend, "Table", d.Table, "Chain", d.Chain, "Rule", d.Rule))
			if d.Counted {
				f = f.with(i18n.M("server.ev.fw.counters", "Packets", d.Packets))
			}
		}
		if r.Redirect != nil {
			f = f.with(srvRedirectLine(p.Port, r.Redirect))
		}
		for i, n := range r.Notes {
			if i >= 3 {
				break
			}
			if n.Unknown {
				f = f.with(i18n.M("server.ev.fw.unknown", "Rule", n.Rule, "Chain", n.Chain, "Why", n.Why))
			} else if n.Action == evidence.Accept || n.Jump != "" {
				f = f.with(i18n.M("server.ev.fw.only_some", "Rule", n.Rule, "Chain", n.Chain, "Why", n.Why))
			}
		}
		if r.Uncertain {
			f = f.with(i18n.M("server.ev.fw.uncertain"))
		}
		f = f.with(srvManagerLines(e, p.Port)...)
		if len(e.Open.Commands) > 0 && !seen[e.Open.Commands[0]] {
			seen[e.Open.Commands[0]] = true
			f = f.fix(i18n.M("server.fix.open", "Manager", e.Open.Manager, "Family", fam))
			for _, c := range e.Open.Commands {
				f = f.fix(i18n.CmdLine(c)) // built in internal/firewall; withheld when it carries shell syntax
			}
			switch e.Open.Manager {
			case evidence.ManagerIptables:
				f = f.fix(i18n.M("server.fix.persist.iptables"), i18n.Cmd("netfilter-persistent save"), i18n.Cmd("service iptables save"))
			case evidence.ManagerNftables:
				f = f.fix(i18n.M("server.fix.persist.nft"))
			}
		}
	}
	return f
}

func srvManagerLines(e FirewallEvidence, port uint16) []i18n.Msg {
	var out []i18n.Msg
	if e.UFWOn && e.Result.Family == evidence.IPv4 {
		if e.UFWRule != nil {
			out = append(out, i18n.M("server.ev.ufw.rule", "Port", port, "Tuple", e.UFWRule.Tuple))
		} else if e.UFWAction != "" {
			out = append(out, i18n.M("server.ev.ufw.default", "Port", port, "Policy", e.UFWAction))
		}
	}
	if e.FirewalldOn && e.FirewalldZone != "" && e.Result.Family == evidence.IPv4 {
		if e.FirewalldHow != "" {
			out = append(out, i18n.M("server.ev.firewalld.allowed", "Zone", e.FirewalldZone, "How", e.FirewalldHow))
		} else {
			out = append(out, i18n.M("server.ev.firewalld.not_allowed", "Zone", e.FirewalldZone, "Port", port))
		}
	}
	return out
}

// srvWatchFindings draws findings from the SYNs --watch saw.
func srvWatchFindings(h HostEvidence, p PortEvidence, cov srvCover, fw []FirewallEvidence, lines []i18n.Msg) []Finding {
	w := p.Watch
	dur := Dur(w.Duration)
	if len(w.SYNs) == 0 {
		f := newFinding(CauseFilteredUpstream, Medium, "Port", p.Port)
		f.Summary = i18n.M("server.watch.upstream.summary", "Port", p.Port)
		f = f.with(i18n.M("server.ev.watch.none", "Port", p.Port, "Dur", dur))
		if len(p.Listeners) > 0 && len(fw) == 0 {
			f = f.with(i18n.M("server.ev.watch.ready", "Port", p.Port))
		}
		f = f.fix(i18n.M("server.fix.upstream", "Port", p.Port))
		if place, ok := srvCloudPlace(h.Cloud, p.Port); ok {
			f = f.fix(place)
		}
		return []Finding{f.fix(i18n.Cmd("traceroute -T -p %d SERVER_PUBLIC_IP", p.Port))}
	}
	var none, rst []WatchedSYN
	for _, s := range w.SYNs {
		switch s.Answer {
		case AnswerNone:
			none = append(none, s)
		case AnswerRST:
			rst = append(rst, s)
		}
	}
	synLines := srvWatchLines(w)
	var out []Finding
	if len(none) > 0 {
		if h.OverflowGrowth > 0 && len(p.Listeners) > 0 {
			f := newFinding(CauseAcceptQueueOverflow, High).with(synLines...).with(srvOverflowLine(h))
			out = append(out, f.fix(srvQueueFix(h.Limits)...))
		} else {
			f := newFinding(CauseFirewallLocal, High, "Port", p.Port)
			f.Summary = i18n.M("server.watch.dropped.summary", "Port", p.Port, "N", len(none))
			f = f.with(synLines...)
			if len(fw) > 0 {
				f = srvFirewallDetail(f, p, fw)
			} else if p.Firewall != nil {
				f = f.with(i18n.M("server.ev.watch.unexplained"))
			}
			if len(fw) == 0 {
				f = f.fix(hostFirewallFix(p.Port)...)
			}
			out = append(out, f)
		}
	}
	if len(rst) > 0 {
		listening := false
		for _, s := range rst {
			listening = listening || srvAccepts(p.Listeners, s.To.Addr(), h.Limits.BindV6Only)
		}
		switch {
		case len(p.Listeners) == 0:
			// not_listening below carries the proof.
		case listening:
			f := newFinding(CauseFirewallLocal, High, "Port", p.Port)
			f.Summary = i18n.M("server.watch.reset.summary", "Port", p.Port)
			f = f.with(synLines...).with(lines...)
			if len(fw) > 0 {
				f = srvFirewallDetail(f, p, fw)
			}
			out = append(out, f)
		}
	}
	return out
}

// srvAnswered: some SYN seen by the watch got a SYN-ACK.
func srvAnswered(w *Watch) bool {
	if w == nil {
		return false
	}
	for _, s := range w.SYNs {
		if s.Answer == AnswerSynAck {
			return true
		}
	}
	return false
}

func srvWatchLines(w *Watch) []i18n.Msg {
	const show = 5
	var out []i18n.Msg
	for i, s := range w.SYNs {
		if i >= show {
			out = append(out, i18n.M("server.ev.watch.more", "N", len(w.SYNs)-show+w.Untracked))
			break
		}
		out = append(out, i18n.M("server.ev.watch.syn", "From", s.From.String(), "To", s.To.String(), "Count", s.Count, "Answer", srvAnswerMsg(s.Answer)))
	}
	return out
}

func srvAnswerMsg(a string) i18n.Msg {
	switch a {
	case AnswerSynAck:
		return i18n.M("server.answer.syn_ack")
	case AnswerRST:
		return i18n.M("server.answer.rst")
	}
	return i18n.M("server.answer.none")
}

func srvOverflowLine(h HostEvidence) i18n.Msg {
	return i18n.M("server.ev.overflow", "N", h.OverflowGrowth, "Total", h.OverflowTotal, "Dur", Dur(h.Audit))
}

func srvQueueFix(l Limits) []i18n.Msg {
	fx := []i18n.Msg{i18n.M("cause.accept_queue_overflow.fix"), i18n.M("server.fix.backlog")}
	if snip := SysctlSnippet(SysctlAdvice(l, true, false)); snip != "" {
		fx = append(fx, i18n.M("server.fix.sysctl"), i18n.CmdLine(snip))
	}
	return fx
}

// srvFdFinding: the listening process is at or near its descriptor limit.
func srvFdFinding(p PortEvidence) (Finding, bool) {
	for _, l := range p.Listeners {
		for _, o := range l.Owners {
			if o.NoFile == nil || o.NoFile.Soft == 0 || o.NoFile.Soft == evidence.Unlimited {
				continue
			}
			open, soft := uint64(o.FDs), o.NoFile.Soft
			var c Confidence
			switch {
			case open+1 >= soft:
				c = High
			case open*10 >= soft*9:
				c = Medium
			default:
				continue
			}
			f := newFinding(CauseFDExhausted, c)
			if c == Medium {
				f.Summary = i18n.M("server.fd.near.summary", "Port", p.Port, "Process", o.Process, "PID", o.PID, "Open", open, "Limit", soft)
			}
			f = f.with(i18n.M("server.ev.fd", "Process", o.Process, "PID", o.PID, "Open", open, "Soft", soft, "Hard", srvLimitString(o.NoFile.Hard)))
			return f.fix(i18n.M("server.fix.fd"), i18n.Cmd("prlimit --pid %d --nofile=65535:65535", o.PID),
				i18n.Cmd("ls /proc/%d/fd | wc -l", o.PID)), true
		}
	}
	return Finding{}, false
}

func srvLimitString(v uint64) string {
	if v == evidence.Unlimited {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

// DecideHost turns what was learned about the host as a whole into findings.
func DecideHost(h HostEvidence) []Finding {
	var out []Finding
	ports := srvPortList(h.Ports)
	if h.Cloud != "" {
		f := newFinding(CauseFilteredUpstream, Low, "Port", ports)
		f.Summary = i18n.M("server.cloud.summary", "Provider", srvCloudName(h.Cloud), "Ports", ports)
		f = f.with(i18n.M("server.ev.dmi", "Vendor", h.DMIVendor, "Product", h.DMIProduct))
		one := uint16(0) // several ports: the place says PORT
		if len(h.Ports) == 1 {
			one = h.Ports[0]
		}
		if place, ok := srvCloudPlace(h.Cloud, one); ok {
			f = f.fix(place)
		}
		out = append(out, f)
	}
	if h.Panel != "" {
		f := newFinding(CauseFirewallLocal, Low, "Port", ports)
		f.Summary = i18n.M("server.panel.summary", "Ports", ports)
		port := h.PanelPort
		if port == "" {
			port = "?"
		}
		f = f.with(i18n.M("server.ev.panel", "Path", "/www/server/panel", "Port", port))
		out = append(out, f.fix(i18n.M("server.fix.panel", "Ports", ports)))
	}
	if len(h.Addrs) > 0 {
		public := false
		for _, a := range h.Addrs {
			public = public || AddrClass(a) == ""
		}
		if !public {
			f := newFinding(CausePrivateAddress, Low, "Addr", srvJoinAddrs(h.Addrs))
			f.Summary = i18n.M("server.private.summary", "Addrs", srvJoinAddrs(h.Addrs))
			f = f.with(i18n.M("server.ev.addrs", "Addrs", srvJoinAddrs(h.Addrs)))
			out = append(out, f.fix(i18n.M("server.fix.private")))
		}
	}
	if h.OverflowGrowth > 0 && len(h.QueueFullPorts) == 0 {
		f := newFinding(CauseAcceptQueueOverflow, High).with(srvOverflowLine(h))
		out = append(out, f.fix(srvQueueFix(h.Limits)...))
	}
	l := h.Limits
	if l.ConntrackMax > 0 && l.ConntrackCount >= 0 && l.ConntrackCount*10 >= l.ConntrackMax*9 {
		c := Medium
		if l.ConntrackCount >= l.ConntrackMax {
			c = High
		}
		f := newFinding(CauseFirewallLocal, c, "Port", ports)
		f.Summary = i18n.M("server.conntrack.summary", "Count", l.ConntrackCount, "Max", l.ConntrackMax)
		f = f.with(i18n.M("server.ev.conntrack", "Count", l.ConntrackCount, "Max", l.ConntrackMax))
		f = f.fix(i18n.M("server.fix.conntrack"), i18n.Cmd("sysctl -w net.netfilter.nf_conntrack_max=%d", l.ConntrackMax*2))
		out = append(out, f)
	}
	if size := l.PortRange.Size(); size > 0 && l.BusiestCount*2 >= size {
		f := newFinding(CauseEphemeralPortsExhausted, Medium, "Dst", l.Busiest.String())
		f.Summary = i18n.M("server.ports.summary", "Dst", l.Busiest.String(), "N", l.BusiestCount, "Size", size)
		f = f.with(
			i18n.M("server.ev.outgoing", "N", l.BusiestCount, "Dst", l.Busiest.String(), "Size", size, "Range", l.PortRange.String()),
			i18n.M("ev.ports.timewait", "N", l.TimeWait),
		)
		if l.TwReuse >= 0 && l.TwReuse <= 2 {
			f = f.with(i18n.M("ev.ports.twreuse", "V", l.TwReuse, "Meaning", i18n.M("twreuse."+strconv.Itoa(l.TwReuse))))
		}
		f = f.fix(i18n.M("fix.ports.spread"))
		if snip := SysctlSnippet(SysctlAdvice(l, false, true)); snip != "" {
			f = f.fix(i18n.M("server.fix.sysctl"), i18n.CmdLine(snip))
		}
		out = append(out, f)
	}
	srvSortFindings(out)
	return out
}

func srvPortList(ps []uint16) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p))
	}
	if len(s) == 0 {
		return "?"
	}
	return strings.Join(s, ", ")
}

var srvCloudNames = map[string]string{
	"aws": "Amazon Web Services (EC2)", "google": "Google Cloud (Compute Engine)", "azure": "Microsoft Azure",
	"alibaba": "Alibaba Cloud (ECS)", "tencent": "Tencent Cloud (CVM)", "huawei": "Huawei Cloud (ECS)",
	"oracle": "Oracle Cloud", "digitalocean": "DigitalOcean", "hetzner": "Hetzner Cloud", "vultr": "Vultr",
	"linode": "Linode (Akamai)",
}

func srvCloudName(id string) string {
	if n, ok := srvCloudNames[id]; ok {
		return n
	}
	return id
}

// srvCloudPlace is where in the provider's console the port is opened.
func srvCloudPlace(id string, port uint16) (i18n.Msg, bool) {
	p := "PORT"
	if port != 0 {
		p = strconv.Itoa(int(port))
	}
	var m i18n.Msg
	switch id {
	case "aws":
		m = i18n.M("server.place.aws", "Port", p)
	case "google":
		m = i18n.M("server.place.google", "Port", p)
	case "azure":
		m = i18n.M("server.place.azure", "Port", p)
	case "alibaba":
		m = i18n.M("server.place.alibaba", "Port", p)
	case "tencent":
		m = i18n.M("server.place.tencent", "Port", p)
	case "huawei":
		m = i18n.M("server.place.huawei", "Port", p)
	case "oracle":
		m = i18n.M("server.place.oracle", "Port", p)
	case "digitalocean":
		m = i18n.M("server.place.digitalocean", "Port", p)
	case "hetzner":
		m = i18n.M("server.place.hetzner", "Port", p)
	case "vultr":
		m = i18n.M("server.place.vultr", "Port", p)
	case "linode":
		m = i18n.M("server.place.linode", "Port", p)
	default:
		return i18n.Msg{}, false
	}
	return m, true
}

func srvHasCause(fs []Finding, c Cause) bool {
	for _, f := range fs {
		if f.Cause == c {
			return true
		}
	}
	return false
}

// srvSortFindings puts the most certain first, keeping the rule order among equals.
func srvSortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Confidence.rank() < fs[j].Confidence.rank() })
}

// SysctlLine is one recommended kernel setting.
type SysctlLine struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Now   string `json:"now"` // the current value
}

// SysctlAdvice recommends settings from the limits: somaxconn when it is
// below today's default (128 before Linux 5.4), plus those for listen-queue
// overflow (queue) and local port exhaustion (ports).
func SysctlAdvice(l Limits, queue, ports bool) []SysctlLine {
	var out []SysctlLine
	add := func(key, value string, now int) {
		out = append(out, SysctlLine{key, value, strconv.Itoa(now)})
	}
	if l.Somaxconn >= 0 && l.Somaxconn < 4096 || queue && l.Somaxconn >= 0 && l.Somaxconn < 65535 {
		v := 4096
		if queue {
			v = max(4096, min(l.Somaxconn*4, 65535))
		}
		add("net.core.somaxconn", strconv.Itoa(v), l.Somaxconn)
	}
	// Below somaxconn, tcp_max_syn_backlog only matters once queues overflow
	// (SYN cookies, on by default, take over before that).
	if queue && l.SynBacklog >= 0 && l.SynBacklog < 65535 {
		v := max(4096, min(l.SynBacklog*4, 65535))
		add("net.ipv4.tcp_max_syn_backlog", strconv.Itoa(v), l.SynBacklog)
	}
	if ports {
		// Starting at 10000 keeps outgoing ports off the usual server ports
		// (80, 3306, 8080, 8282, ...), which a wider range could take first.
		if l.PortRange.Size() > 0 && l.PortRange.Size() < recommendedPortRange.Size() {
			out = append(out, SysctlLine{"net.ipv4.ip_local_port_range", recommendedPortRangeValue, fmt.Sprintf("%d %d", l.PortRange.Lo, l.PortRange.Hi)})
		}
		if l.TwReuse != 1 && l.TwReuse >= 0 {
			add("net.ipv4.tcp_tw_reuse", "1", l.TwReuse)
		}
	}
	return out
}

// SysctlFile is the content of a /etc/sysctl.d file with the lines.
func SysctlFile(lines []SysctlLine) string {
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%s = %s\n", l.Key, l.Value)
	}
	return b.String()
}

// SysctlSnippet is a command that writes the lines to /etc/sysctl.d and
// loads them, or "" for no lines.
func SysctlSnippet(lines []SysctlLine) string {
	return sysctlCommand("60-conndiag.conf", lines)
}

// sysctlCommand writes lines to /etc/sysctl.d/FILE with one printf and
// loads them, or "" for no lines.
func sysctlCommand(file string, lines []SysctlLine) string {
	if len(lines) == 0 {
		return ""
	}
	return fmt.Sprintf("printf '%s' > /etc/sysctl.d/%s && sysctl --system", strings.ReplaceAll(SysctlFile(lines), "\n", `\n`), file)
}
