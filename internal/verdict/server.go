package verdict

import (
	"fmt"
	"net/netip"
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
	if proc := srvProcess(p.Listeners); proc != "" && !strings.HasPrefix(proc, "php") {
		// Not a PHP process: a Workerman line would not paste.
		return append([]i18n.Msg{i18n.M("server.fix.listen_all_proc", "Process", proc, "Listening", strings.Join(cov.listening, ", "))}, check...)
	}
	snippet := i18n.Snippet("new Worker('websocket://0.0.0.0:%d');", p.Port)
	if srvAllV6(p.Listeners) {
		// A server bound to ::1 or another IPv6 address serves IPv6: [::] keeps it.
		snippet = i18n.Snippet("new Worker('websocket://[::]:%d');", p.Port)
	}
	return append([]i18n.Msg{i18n.M("server.fix.listen_all", "Listening", strings.Join(cov.listening, ", ")), snippet}, check...)
}

// srvProcess is the name of the process that holds every listener, or ""
// when it is not known or they differ.
func srvProcess(ls []Listener) string {
	name := ""
	for _, l := range ls {
		if len(l.Owners) == 0 || name != "" && l.Owners[0].Process != name {
			return ""
		}
		name = l.Owners[0].Process
	}
	return name
}

// srvAllV6: every listener is bound to an IPv6 address (none to IPv4, an
// IPv4-mapped or the wildcard).
func srvAllV6(ls []Listener) bool {
	for _, l := range ls {
		if a := l.Addr.Addr(); a.Is4() || a.Is4In6() || a.IsUnspecified() {
			return false
		}
	}
	return len(ls) > 0
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

// srvFirewallDetail is the rule lines and the opening commands of the families whose rules stop the port.
func srvFirewallDetail(p PortEvidence, fw []FirewallEvidence) Draft {
	var f Draft
	seen := map[string]bool{}
	for _, e := range fw {
		r := e.Result
		d := r.Decider
		fam := srvFamilyName(r.Family)
		if d.Policy {
			f.Lines = append(f.Lines, i18n.M("server.ev.fw.policy", "Family", fam, "Backend", d.Backend, "Table", d.Table, "Chain", d.Chain, "Rule", d.Rule))
		} else {
			f.Lines = append(f.Lines, i18n.M("server.ev.fw.rule", "Family", fam, "Action", string(r.Action), "Backend", d.Backend, "Table", d.Table, "Chain", d.Chain, "Rule", d.Rule))
			if d.Counted {
				f.Lines = append(f.Lines, i18n.M("server.ev.fw.counters", "Packets", d.Packets))
			}
		}
		if r.Redirect != nil {
			f.Lines = append(f.Lines, srvRedirectLine(p.Port, r.Redirect))
		}
		for i, n := range r.Notes {
			if i >= 3 {
				break
			}
			if n.Unknown {
				f.Lines = append(f.Lines, i18n.M("server.ev.fw.unknown", "Rule", n.Rule, "Chain", n.Chain, "Why", n.Why))
			} else if n.Action == evidence.Accept || n.Jump != "" {
				f.Lines = append(f.Lines, i18n.M("server.ev.fw.only_some", "Rule", n.Rule, "Chain", n.Chain, "Why", n.Why))
			}
		}
		if r.Uncertain {
			f.Lines = append(f.Lines, i18n.M("server.ev.fw.uncertain"))
		}
		f.Lines = append(f.Lines, srvManagerLines(e, p.Port)...)
		if len(e.Open.Commands) > 0 && !seen[e.Open.Commands[0]] {
			seen[e.Open.Commands[0]] = true
			f.Fix = append(f.Fix, i18n.M("server.fix.open", "Manager", e.Open.Manager, "Family", fam))
			for _, c := range e.Open.Commands {
				f.Fix = append(f.Fix, i18n.CmdLine(c)) // built in internal/firewall; withheld when it carries shell syntax
			}
			switch e.Open.Manager {
			case evidence.ManagerIptables:
				f.Fix = append(f.Fix, i18n.M("server.fix.persist.iptables"), i18n.Cmd("netfilter-persistent save"), i18n.Cmd("service iptables save"))
			case evidence.ManagerNftables:
				f.Fix = append(f.Fix, i18n.M("server.fix.persist.nft"))
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

func srvLimitString(v uint64) string {
	if v == evidence.Unlimited {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
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
