package verdict

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
)

// Ports, families and what a plain TCP connection shows (issue 11): the
// expected service on another port (wrong_port), a plain TCP server that
// resets or closes at once, a port that answers some SYNs and not others,
// and a name whose one address family fails (family_mismatch, name table).
// The rows are defined here and stand in the TCP and name tables.

// ---- wrong_port ----

// speaking are the other ports of the host that completed the target's
// protocol, nearest first (the order diagnose tried them in).
func (x tcp) speaking() []evidence.Elsewhere {
	var out []evidence.Elsewhere
	for _, e := range x.a.Elsewhere {
		if e.Speaks() {
			out = append(out, e)
		}
	}
	return out
}

// wrongPortApplies: the target port refused with a plain RST, nothing of
// this machine listens on it (a listener there explains the refusal
// better), and another port of the host speaks the target's protocol.
func (x tcp) wrongPortApplies() bool {
	return x.is(evidence.Refused) && x.icmp() == nil && (!x.a.Local || len(x.a.Listeners) == 0) && len(x.speaking()) > 0
}

var tcpWrongPort = Rule[tcp]{ID: "tcp.refused.wrong_port", Cause: CauseWrongPort, Conf: Medium, Outcome: OutcomeRefused,
	When: tcp.wrongPortApplies, Make: wrongPortDraft,
	Also: []Rule[tcp]{{ID: "tcp.refused.wrong_port_stopped", Cause: CauseNotListening, Conf: Low, When: always[tcp],
		Make: func(x tcp) Draft {
			other := x.speaking()[0].Port
			return Draft{Args: []any{"Addr", x.a.Addr.String()},
				Lines:   []i18n.Msg{i18n.M("portfamily.ev.maybe_stopped", "Other", other, "Port", x.port())},
				FixArgs: FixArgs{Port: x.port()}}
		}, Note: "the service on the other port may be another one, and the server meant for this port stopped"}},
	Note: "refused with an RST, while the target's own handshake succeeds on another port of the host (a probe port that accepted, or a listener of this machine)"}

func wrongPortDraft(x tcp) Draft {
	sp := x.speaking()
	e := sp[0]
	what := protoWhat(x.ev.Target.Protocol())
	lines := []i18n.Msg{connectLine(x.a)}
	if x.a.Local {
		lines = append(lines, i18n.M("ev.local_target", "Addr", x.dst().String()), i18n.M("ev.no_listener", "Port", x.port()))
	}
	lines = append(lines, elsewhereProof(e))
	if e.Listener {
		lines = append(lines, i18n.M("portfamily.ev.elsewhere.listener", "Other", e.Port))
	} else {
		lines = append(lines, i18n.M("portfamily.ev.elsewhere.probe", "Other", e.Port))
	}
	if len(sp) > 1 {
		var more []uint16
		for _, o := range sp[1:] {
			more = append(more, o.Port)
		}
		lines = append(lines, i18n.M("portfamily.ev.elsewhere.also", "What", what, "Ports", JoinPorts(more)))
	}
	if tried := elsewhereFailed(x.a); len(tried) > 0 {
		lines = append(lines, i18n.M("portfamily.ev.elsewhere.tried", "What", what, "Ports", JoinPorts(tried)))
	}
	t := x.ev.Target
	t.Port = e.Port
	return Draft{Summary: i18n.M("portfamily.wrong_port.summary", "Port", x.port(), "Other", e.Port, "What", what),
		Lines: lines,
		Fix: []i18n.Msg{i18n.M("portfamily.fix.wrong_port", "Other", e.Port, "URL", t.String(), "Port", x.port()),
			i18n.M("portfamily.fix.wrong_port.which", "Other", e.Port), listenCheckCmd(e.Port)}}
}

// elsewhereFailed are the ports that accepted without the protocol
// succeeding (a port that refused was not open: nothing was tried there).
func elsewhereFailed(a AddrEvidence) []uint16 {
	var out []uint16
	for _, e := range a.Elsewhere {
		if e.Connect.Kind == evidence.OK && !e.Speaks() {
			out = append(out, e.Port)
		}
	}
	return out
}

// elsewhereTriedLine says, where the refusal stands as it is, that the
// target's protocol was tried on the host's other open ports in vain.
func elsewhereTriedLine(x tcp) []i18n.Msg {
	if tried := elsewhereFailed(x.a); len(tried) > 0 {
		return []i18n.Msg{i18n.M("portfamily.ev.elsewhere.tried", "What", protoWhat(x.ev.Target.Protocol()), "Ports", JoinPorts(tried))}
	}
	return nil
}

func protoWhat(p evidence.Protocol) i18n.Msg { return i18n.M("portfamily.what." + string(p)) }

// elsewhereProof is the line that shows the other port speaks the protocol.
func elsewhereProof(e evidence.Elsewhere) i18n.Msg {
	p := e.Proto
	switch {
	case p.WS != nil:
		return i18n.M("portfamily.ev.elsewhere.ws", "Other", e.Port, "Path", p.WS.Path, "Dur", Dur(p.WS.Duration))
	case p.HTTP != nil:
		return i18n.M("portfamily.ev.elsewhere.http", "Other", e.Port, "Path", p.HTTP.Path,
			"Status", escape.Bytes([]byte(p.HTTP.StatusLine), 100), "Dur", Dur(p.HTTP.Duration))
	case p.Message != nil:
		m := p.Message
		return i18n.M("portfamily.ev.elsewhere.message", "Other", e.Port, "What", protoWhat(p.Protocol),
			"Dur", Dur(m.Duration), "Bytes", show(m.Received, m.ReceivedN))
	}
	return i18n.M("portfamily.ev.elsewhere.tls", "Other", e.Port, "Version", p.TLS.Version, "Dur", Dur(p.TLS.Duration))
}

// ---- a plain TCP target that resets or closes at once ----

func (x tcp) afterAccept(r evidence.Reply) bool {
	return x.is(evidence.OK) && x.a.AfterAccept != nil && x.a.AfterAccept.Reply == r
}

var tcpAcceptReset = Rule[tcp]{ID: "tcp.accept_reset", Cause: CauseResetByPeer, Conf: High, Outcome: OutcomeReset,
	When: func(x tcp) bool { return x.afterAccept(evidence.ReplyReset) },
	Make: func(x tcp) Draft {
		return acceptDraft(x, "portfamily.accept_reset.summary", "portfamily.ev.accept.reset")
	},
	Also: []Rule[tcp]{{ID: "tcp.accept_reset.forwarder", Cause: CauseProxyUpstreamFailed, Conf: Low, When: always[tcp],
		Make: func(x tcp) Draft {
			return Draft{Lines: []i18n.Msg{i18n.M("portfamily.ev.accept.forwarder")}, Fix: acceptFix(x)}
		}, Note: "a forwarder whose backend refuses resets its client the same way"}},
	Note: "a plain TCP target: conndiag sends nothing and watches the accepted connection briefly"}

var tcpAcceptClose = Rule[tcp]{ID: "tcp.accept_close", Cause: CauseProxyUpstreamFailed, Conf: Medium, Outcome: OutcomeReset,
	When: func(x tcp) bool { return x.afterAccept(evidence.ReplyClosed) },
	Make: func(x tcp) Draft {
		return acceptDraft(x, "portfamily.accept_close.summary", "portfamily.ev.accept.closed")
	},
	Also: []Rule[tcp]{{ID: "tcp.accept_close.server", Cause: CauseResetByPeer, Conf: Low, When: always[tcp],
		Make: func(x tcp) Draft {
			return Draft{Args: []any{"Addr", x.a.Addr.String()}, Lines: []i18n.Msg{i18n.M("portfamily.ev.accept.self")}, Fix: acceptFix(x)}
		}, Note: "the server itself may close what it refuses: an address allow-list, a connection limit"}},
	Note: "closed without a byte before anything was sent: a forwarder with its backend down, as SPEC names it"}

func acceptDraft(x tcp, summary, line string) Draft {
	aa := x.a.AfterAccept
	addr := x.a.Addr.String()
	return Draft{Summary: i18n.M(summary, "Addr", addr, "Dur", Dur(aa.Duration)),
		Lines: []i18n.Msg{i18n.M("ev.connect.ok", "Addr", addr, "Dur", Dur(x.a.Connect.Duration)),
			i18n.M(line, "Dur", Dur(aa.Duration)), i18n.M("portfamily.ev.accept.why")},
		Fix: acceptFix(x)}
}

func acceptFix(x tcp) []i18n.Msg {
	return []i18n.Msg{i18n.M("portfamily.fix.accept", "Port", x.port()), i18n.Cmd("ss -ltnp 'sport = :%d'", x.port())}
}

// acceptLines are what the watch of a working plain TCP connection showed.
func acceptLines(a AddrEvidence) []i18n.Msg {
	aa := a.AfterAccept
	if aa == nil {
		return nil
	}
	switch aa.Reply {
	case evidence.ReplyAnswered:
		return []i18n.Msg{i18n.M("portfamily.ev.accept.spoke", "Dur", Dur(aa.Duration), "Bytes", show(aa.Received, aa.ReceivedN))}
	case evidence.ReplySilent:
		return []i18n.Msg{i18n.M("portfamily.ev.accept.silent", "Dur", Dur(aa.Duration))}
	}
	return nil
}

// ---- a port that answers some SYNs and not others ----

// lossRules judge the SYNs of an address that got no answer although a
// later one did; decideAddr applies them beside the TCP or protocol verdict.
var lossRules = []Rule[tcp]{
	{ID: "tcp.loss.intermittent", Cause: CauseUnknown, Conf: Medium, Outcome: OutcomeTimeout,
		When: func(x tcp) bool { return x.a.Lost > 0 },
		Make: func(x tcp) Draft {
			a := x.a
			addr := a.Addr.Addr().String()
			lines := []i18n.Msg{connectLine(a),
				i18n.M("portfamily.ev.lost", "Lost", a.Lost, "Before", a.AnsweredSYN-1, "Port", x.port(), "N", a.AnsweredSYN)}
			lines = append(lines, otherLines(a)...)
			lines = append(lines, i18n.M("portfamily.ev.lost_where"))
			return Draft{Summary: i18n.M("portfamily.intermittent.summary", "Port", x.port(), "Addr", addr, "Lost", a.Lost, "Sent", a.AnsweredSYN),
				Lines: lines,
				Fix: append([]i18n.Msg{i18n.M("portfamily.fix.intermittent"), i18n.Cmd("mtr -T -P %d -c 100 %s", x.port(), a.Addr.Addr().WithZone(""))},
					watchFix(x.port())...)}
		},
		Also: []Rule[tcp]{{ID: "tcp.loss.queue", Cause: CauseAcceptQueueOverflow, Conf: Low,
			When: func(x tcp) bool { return x.a.Alive() },
			Make: func(x tcp) Draft { return Draft{Lines: []i18n.Msg{i18n.M("portfamily.ev.lost_queue")}} },
			Note: "a full listen queue drops SYNs and answers later ones once it has room"}},
		Note: "SYNs sent at least two round trips before the one answered got no answer: not filtered, lost; the verdict when the connection otherwise works, else listed beside it"},
}

// withLoss adds the loss finding to an address's verdict: it is the verdict
// when the connection otherwise works (what the client meets is connections
// that stall), and stands beside any other verdict.
func withLoss(x tcp, out Outcome, fs []Finding) (Outcome, []Finding) {
	lf, lout, ok := decideFirst(lossRules, x)
	if !ok {
		return out, fs
	}
	if out == OutcomeOK {
		return lout, lf // the connect and handshake lines are in the loss finding's evidence
	}
	for i := range lf {
		lf[i].place = PlaceAlso
	}
	return out, append(fs, lf...)
}

// ---- family_mismatch (a row of the name table) ----

// familyOf names an address's family for people.
func familyOf(a netip.Addr) string {
	if a.Unmap().Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// familySplit sorts the tried addresses by family and whether each works
// (its own verdict is ok). ok: one family works somewhere and the other
// fails everywhere.
func familySplit(ev Evidence) (works, fails []AddrEvidence, ok bool) {
	if ev.DNS.Literal || len(ev.Addrs) < 2 {
		return nil, nil, false
	}
	good := map[bool][]AddrEvidence{}
	bad := map[bool][]AddrEvidence{}
	for _, a := range ev.Addrs {
		v4 := a.Addr.Addr().Unmap().Is4()
		if out, _ := decideAddr(ev, a); out == OutcomeOK {
			good[v4] = append(good[v4], a)
		} else {
			bad[v4] = append(bad[v4], a)
		}
	}
	for _, v4 := range []bool{true, false} {
		if len(good[v4]) > 0 && len(good[!v4]) == 0 && len(bad[!v4]) > 0 {
			return good[v4], bad[!v4], true
		}
	}
	return nil, nil, false
}

var nameFamilyMismatch = Rule[name]{ID: "name.family_mismatch", Cause: CauseFamilyMismatch, Conf: Medium, Place: PlaceLead,
	When: func(x name) bool { _, _, ok := familySplit(x.ev); return ok },
	Make: familyDraft,
	Note: "one family connects, every address of the other fails: the verdict is not ok although curl and browsers get through; the outcome is what a client of the failing family meets"}

func familyDraft(x name) Draft {
	works, fails, _ := familySplit(x.ev)
	host := x.ev.Target.Host
	wf, ff := familyOf(works[0].Addr.Addr()), familyOf(fails[0].Addr.Addr())
	addrs := func(as []AddrEvidence) any {
		s := make([]string, 0, len(as))
		for _, a := range as {
			s = append(s, a.Addr.String())
		}
		return listArg(s)
	}
	lines := []i18n.Msg{
		i18n.M("portfamily.ev.family.works", "Family", wf, "Addrs", addrs(works)),
		i18n.M("portfamily.ev.family.fails", "Family", ff, "Addrs", addrs(fails)),
	}
	for _, a := range append(append([]AddrEvidence{}, works...), fails...)[:min(maxListed, len(works)+len(fails))] {
		lines = append(lines, connectLine(a))
	}
	first := x.ev.Addrs[0]
	if slices.ContainsFunc(fails, func(a AddrEvidence) bool { return a.Addr == first.Addr }) {
		lines = append(lines, i18n.M("portfamily.ev.family.first_fails", "Addr", first.Addr.Addr().String(), "Family", ff))
	} else {
		lines = append(lines, i18n.M("portfamily.ev.family.first_works", "Addr", first.Addr.Addr().String(), "Works", wf, "Fails", ff))
	}
	port := x.ev.Target.Port
	fix := []i18n.Msg{}
	// This machine has no route for the failing family: the server is not
	// what to change (a client without IPv6 meets a name with AAAA).
	noRoute := !slices.ContainsFunc(fails, func(a AddrEvidence) bool { return !(tcp{x.ev, a}).localRefusal() })
	switch {
	case noRoute:
		routes := i18n.CmdLine("ip -4 route show")
		if ff == "IPv6" {
			routes = i18n.CmdLine("ip -6 route show")
		}
		fix = append(fix, i18n.M("portfamily.fix.family.no_route", "Family", ff, "Works", wf), routes)
	case ff == "IPv6":
		fix = append(fix, i18n.M("portfamily.fix.family.v6"),
			i18n.Cmd("ss -ltn 'sport = :%d'", port), i18n.Cmd("ip6tables -I INPUT -p tcp --dport %d -j ACCEPT", port))
	default:
		fix = append(fix, i18n.M("portfamily.fix.family.v4"),
			i18n.Cmd("ss -ltn 'sport = :%d'", port), i18n.Cmd("iptables -I INPUT -p tcp --dport %d -j ACCEPT", port))
	}
	client := "portfamily.fix.family.client_v6"
	if wf == "IPv4" {
		client = "portfamily.fix.family.client_v4"
	}
	if !noRoute { // the name's records are right: this machine cannot use one family
		fix = append(fix, i18n.M("portfamily.fix.family.name", "Host", host), i18n.Cmd("getent ahosts %s", host))
	}
	fix = append(fix, i18n.M(client, "Addr", works[0].Addr.Addr().String()))
	out, _ := decideAddr(x.ev, fails[0])
	return Draft{Summary: i18n.M("portfamily.family.summary", "Host", host, "Works", wf, "Fails", ff),
		Lines: lines, Fix: fix, Outcome: out}
}

// icmpName names an ICMP error for a line: its description, or its numbers.
func icmpName(ic *evidence.ICMP) string {
	if d := ic.Describe(); d != "" {
		return d
	}
	return fmt.Sprintf("ICMP type %d code %d", ic.Type, ic.Code)
}
