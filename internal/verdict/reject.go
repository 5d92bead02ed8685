package verdict

import (
	"strings"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
)

// What the TCP rows about rejections and this machine's own firewall read
// and say: a per-port ICMP host or net unreachable (a REJECT rule, not
// routing), this machine's OUTPUT rules (client_firewall), and a silent
// host whose neighbour entry shows it answers ARP/NDP.

func (x tcp) v6() bool { return !x.dst().Is4() }

// fixArgs are the port, address and family the fix builders need.
func (x tcp) fixArgs() FixArgs { return FixArgs{Port: x.port(), Addr: x.dst(), V6: x.v6()} }

// listenArgs: the fix of a server bound to the addresses on (as shown).
func (x tcp) listenArgs(on []string) FixArgs {
	fa := x.fixArgs()
	fa.Listening = on
	return fa
}

// unreachablePerPort: an ICMP host or net unreachable for this port, sent
// by another box, while the host is shown reachable: other ports of it
// answered, or the ICMP came from the destination itself (a host that
// answers is not unreachable). Routing cannot fail for one port only: a
// REJECT --reject-with icmp-host-unreachable / icmp-net-unreachable did it.
func (x tcp) unreachablePerPort() bool {
	ic := x.icmp()
	if ic == nil || !ic.HostOrNetUnreachable() || x.a.ICMPFromLocal {
		return false
	}
	return ic.From == x.a.Addr.Addr() || x.a.Alive()
}

// clientStopped: this machine's own OUTPUT rules drop or reject the
// connection, and the connect ended the way such a rule makes it end. An
// ICMP error from another box proves the SYN left this machine.
func (x tcp) clientStopped() bool {
	o := x.a.Outgoing
	if !o.Stops() || x.a.Local || x.icmp() != nil && !x.a.ICMPFromLocal {
		return false
	}
	if o.Result.Action == evidence.Drop {
		return x.is(evidence.Timeout, evidence.PermissionDenied)
	}
	// A REJECT answers with an RST or an ICMP error from this machine; its
	// answer can also be lost (a rule dropping traffic on lo), or come only
	// for a retransmitted SYN after the wait: then it is silence.
	return x.is(evidence.Timeout, evidence.Refused, evidence.HostUnreachable, evidence.NetUnreachable, evidence.PermissionDenied)
}

// localReject: an ICMP error that this machine sent itself about a
// connection to another machine. Only its own firewall sends a port
// unreachable or a prohibited; a host or net unreachable is also what a
// failed ARP/NDP lookup gives, but that takes about 3 s and leaves the
// neighbour entry INCOMPLETE or FAILED.
func (x tcp) localReject() bool {
	ic := x.icmp()
	if ic == nil || !x.a.ICMPFromLocal || x.a.Local {
		return false
	}
	switch {
	case ic.PortUnreachable(), ic.Prohibited():
		return true
	case ic.HostOrNetUnreachable():
		return !x.neighFailed() && (x.a.Alive() || evidence.NeighAnswers(x.a.Neigh) || x.a.Connect.Duration < neighFailAfter)
	}
	return false
}

// neighFailAfter: a failed ARP/NDP lookup ends the connect after 3
// unanswered probes a second apart; a REJECT's answer comes at once.
const neighFailAfter = 2500 * time.Millisecond

// onLinkAnswers: the destination is on the local link (it is its own next
// hop) and its neighbour entry shows it answers ARP/NDP.
func (x tcp) onLinkAnswers() bool {
	return x.a.Route != nil && x.a.NextHop == x.dst() && evidence.NeighAnswers(x.a.Neigh)
}

// outgoingUnread: this machine's OUTPUT rules were to be read and could not be.
func (x tcp) outgoingUnread() bool { o := x.a.Outgoing; return o != nil && !o.Read }

// outgoingNeedRoot: they could not be read for want of root.
func (x tcp) outgoingNeedRoot() bool { return x.outgoingUnread() && x.a.Outgoing.NeedRoot }

// outgoingClear: the rules were read and let the connection out, certainly.
func (x tcp) outgoingClear() bool {
	o := x.a.Outgoing
	return o != nil && o.Read && o.Result.Action == evidence.Accept && !o.Result.Uncertain
}

// unreachablePerPortDraft names the box that rejects and what it means.
func unreachablePerPortDraft(x tcp) Draft {
	ic := x.icmp()
	meaning := i18n.M("rejects.ev.icmp.unreachable_per_port", "From", ic.From.String(), "Name", ic.Describe(), "Port", x.port(), "Addr", x.dst().String())
	if ic.From == x.a.Addr.Addr() {
		meaning = i18n.M("rejects.ev.icmp.unreachable_self", "From", ic.From.String(), "Name", ic.Describe(), "Port", x.port())
	}
	d := Draft{Args: []any{"Where", whereICMP(x.a)}, Lines: []i18n.Msg{connectLine(x.a), icmpLine(x.a), meaning}}
	d.Lines = append(d.Lines, otherLines(withoutCanceled(x.a))...)
	if ic.From == x.a.Addr.Addr() {
		d.Fix = openPortFix(x.port(), x.v6())
	} else {
		d.Fix = []i18n.Msg{i18n.M("fix.reject.router", "From", ic.From.String(), "Port", x.port())}
	}
	return d
}

// withoutCanceled is a with the probe ports that were cut short left out:
// the ICMP from the server itself settled the verdict before they answered,
// and a probe cut short says nothing.
func withoutCanceled(a AddrEvidence) AddrEvidence {
	var others []PortProbe
	for _, p := range a.Others {
		if p.Kind != evidence.Canceled {
			others = append(others, p)
		}
	}
	a.Others = others
	return a
}

// clientFirewallDraft names this machine's own rule that stops the
// connection, and how to let it out.
func clientFirewallDraft(x tcp) Draft {
	o := x.a.Outgoing
	r := o.Result
	h := r.Decider
	d := Draft{Lines: []i18n.Msg{connectLine(x.a)}}
	if ic := x.icmp(); ic != nil {
		d.Lines = append(d.Lines, icmpLine(x.a), i18n.M("rejects.ev.out.icmp_self", "From", ic.From.String()))
	}
	at := outRuleAt(*h)
	switch {
	case r.Action == evidence.Reject && h.RejectWith != "":
		d.Lines = append(d.Lines, i18n.M("rejects.ev.out.reject_with", "With", h.RejectWith, "At", at, "Rule", h.Rule))
	case r.Action == evidence.Reject:
		d.Lines = append(d.Lines, i18n.M("rejects.ev.out.reject", "At", at, "Rule", h.Rule))
	default:
		d.Lines = append(d.Lines, i18n.M("rejects.ev.out.drop", "At", at, "Rule", h.Rule))
	}
	if h.Counted && !h.Policy {
		d.Lines = append(d.Lines, i18n.M("server.ev.fw.counters", "Packets", h.Packets))
	}
	d.Lines = append(d.Lines, outUFWLines(o)...)
	if r.Action == evidence.Reject && x.is(evidence.Timeout) {
		d.Lines = append(d.Lines, i18n.M("rejects.ev.out.reject_silent"))
	}
	if r.Uncertain {
		d.Lines = append(d.Lines, i18n.M("server.ev.fw.uncertain"))
	}
	if len(o.Open.Commands) > 0 {
		d.Fix = append(d.Fix, i18n.M("rejects.fix.out.open", "Manager", o.Open.Manager))
		for _, c := range o.Open.Commands {
			d.Fix = append(d.Fix, i18n.CmdLine(c)) // built in internal/firewall; withheld when it carries shell syntax
		}
	}
	d.Fix = append(d.Fix, outListFix(x, len(o.Open.Commands) > 0)...)
	return d
}

// outRuleAt says where the rule is, in its own tool's terms.
func outRuleAt(h evidence.Hit) i18n.Msg {
	switch {
	case h.Policy:
		return i18n.M("rejects.out.at.policy", "Backend", h.Backend, "Table", h.Table, "Chain", h.Chain)
	case h.Backend == evidence.BackendNftables:
		return i18n.M("rejects.out.at.nft", "Family", h.Family, "Table", h.Table, "Chain", h.Chain, "Handle", h.Handle)
	}
	return i18n.M("rejects.out.at.iptables", "Backend", h.Backend, "Table", h.Table, "Chain", h.Chain, "Pos", h.Pos)
}

func outUFWLines(o *OutgoingEvidence) []i18n.Msg {
	switch {
	case !o.UFWOn:
		return nil
	case o.UFWRule != nil:
		return []i18n.Msg{i18n.M("rejects.ev.out.ufw_rule", "Tuple", o.UFWRule.Tuple)}
	case o.UFWAction != "":
		return []i18n.Msg{i18n.M("rejects.ev.out.ufw_policy", "Policy", o.UFWAction)}
	}
	return nil
}

// outListFix: list this machine's outgoing rules to find or narrow the one
// at fault; or: after the commands that let the connection out.
func outListFix(x tcp, or bool) []i18n.Msg {
	msg := i18n.M("rejects.fix.out.list", "Port", x.port(), "Addr", x.dst().String())
	if or {
		msg = i18n.M("rejects.fix.out.or_list")
	}
	return localRulesFix(msg, "OUTPUT", x.v6())
}

// localRejectDraft: this machine answered its own SYN with an ICMP error;
// the rule could not be named (the rules were not read, or the walk found
// none that rejects).
func localRejectDraft(x tcp) Draft {
	ic := x.icmp()
	d := Draft{Lines: []i18n.Msg{connectLine(x.a), icmpLine(x.a), i18n.M("rejects.ev.out.icmp_self", "From", ic.From.String())}}
	if x.a.Neigh != "" && ic.HostOrNetUnreachable() {
		d.Lines = append(d.Lines, i18n.M("rejects.ev.neigh_not_failed", "Hop", x.a.NextHop.String(), "State", x.a.Neigh))
	}
	d.Lines = append(d.Lines, outReadLines(x)...)
	d.Fix = outUnreadFix(x)
	return d
}

// outUnreadFix: how to find the rule when it could not be named; reading
// the rules needs root, and so do the commands that list them.
func outUnreadFix(x tcp) []i18n.Msg {
	if x.outgoingNeedRoot() {
		return append([]i18n.Msg{i18n.M("rejects.fix.out.as_root")}, outListFix(x, false)...)
	}
	return outListFix(x, false)
}

// outReadLines say what reading this machine's OUTPUT rules gave, when it
// names no rule: not readable (and why), or read without a rule that stops
// the connection.
func outReadLines(x tcp) []i18n.Msg {
	o := x.a.Outgoing
	switch {
	case o == nil:
		return nil
	case !o.Read && o.NeedRoot:
		var what []string
		for _, p := range o.Problems {
			what = append(what, p.What)
		}
		return []i18n.Msg{i18n.M("rejects.ev.out.unread_root", "Why", strings.Join(what, ", "))}
	case !o.Read && len(o.Problems) > 0:
		var why []string
		for _, p := range o.Problems {
			why = append(why, p.What+": "+p.Err)
		}
		return []i18n.Msg{i18n.M("rejects.ev.out.unread", "Why", strings.Join(why, "; "))}
	case !o.Read:
		return []i18n.Msg{i18n.M("rejects.ev.out.no_tool")}
	}
	return outClearLines(x)
}

// outClearLines: the rules were read and let the connection out.
func outClearLines(x tcp) []i18n.Msg {
	o := x.a.Outgoing
	switch {
	case o == nil || !o.Read || o.Result.Action != evidence.Accept:
		return nil
	case o.Result.Uncertain:
		return []i18n.Msg{i18n.M("rejects.ev.out.accept_uncertain")}
	}
	return []i18n.Msg{i18n.M("rejects.ev.out.accept")}
}

// clientUnchecked is listed after a silent port's verdict when this
// machine's own OUTPUT rules could not be read: a DROP there looks the
// same, and only root can tell.
var clientUnchecked = Rule[tcp]{ID: "tcp.client_firewall.unchecked", Cause: CauseClientFirewall, Conf: Low,
	When: tcp.outgoingUnread,
	Make: func(x tcp) Draft {
		return Draft{Lines: append(outReadLines(x), i18n.M("rejects.ev.out.same_silence")),
			Fix: outUnreadFix(x)}
	}, Note: "this machine's OUTPUT rules could not be read (not root): a DROP there cannot be ruled out"}

// neighAnswersDraft: every probed port is silent, yet the host answers
// ARP/NDP on the local link.
func neighAnswersDraft(x tcp) Draft {
	a := x.a
	iface := ""
	if a.Route != nil {
		iface = a.Route.Iface
	}
	id := "rejects.ev.neigh_answers"
	if a.Neigh != "REACHABLE" {
		id = "rejects.ev.neigh_answered"
	}
	lines := append([]i18n.Msg{connectLine(a)}, otherLines(a)...)
	lines = append(lines, i18n.M(id, "Hop", x.dst().String(), "Iface", iface, "State", a.Neigh))
	lines = append(lines, outClearLines(x)...)
	fa := x.fixArgs()
	return Draft{Summary: i18n.M("rejects.neigh_answers.summary", "Addr", x.dst().String(), "Port", x.port()),
		Lines: lines, Fix: append(openPortFix(fa.Port, fa.V6), watchFix(fa.Port)...)}
}
