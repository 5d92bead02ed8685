package verdict

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
)

// The TCP stage judges one address of the target from its connect and what
// was learned around it (other ports, route, neighbour, local listeners).
// The first row whose condition holds decides; its alternatives follow it.
// A connected address with a protocol step goes to the protocol tables.

// tcp is the evidence the TCP rows read: one address, and the target's evidence.
type tcp struct {
	ev Evidence
	a  AddrEvidence
}

func (x tcp) kind() evidence.Kind { return x.a.Connect.Kind }
func (x tcp) port() uint16        { return x.a.Addr.Port() }
func (x tcp) dst() netip.Addr     { return x.a.Addr.Addr().Unmap() }

func (x tcp) is(kinds ...evidence.Kind) bool {
	for _, k := range kinds {
		if x.kind() == k {
			return true
		}
	}
	return false
}

// unreachableKinds are the connect errors that say the address cannot be reached.
var unreachableKinds = []evidence.Kind{evidence.HostUnreachable, evidence.NetUnreachable, evidence.PermissionDenied, evidence.InvalidArgument}

// icmp is the error-queue entry of the connect, when the kernel kept one.
func (x tcp) icmp() *evidence.ICMP {
	if ic := x.a.Connect.ICMP; ic != nil && ic.Origin != 0 {
		return ic
	}
	return nil
}

// sourceFamilyMismatch: --source of one address family toward an address of
// the other cannot connect at all; the address itself was never tried.
func (x tcp) sourceFamilyMismatch() bool {
	src := x.ev.Source.Unmap()
	return src.IsValid() && x.kind() == evidence.InvalidArgument && src.Is4() != x.dst().Is4()
}

// bindInUse: binding a --source address to port 0 reserves the port
// exclusively, so exhaustion shows up at bind.
func (x tcp) bindInUse() bool {
	return x.a.Connect.Op == "bind" && x.a.Connect.ErrnoIs("EADDRINUSE")
}

func (x tcp) noLocalPort() bool { return x.kind() == evidence.AddrNotAvailable || x.bindInUse() }

// privateApplies: a private, CGNAT, link-local or loopback destination
// reached only through the default route is almost always a server's
// internal address used from outside its network. A specific route (LAN,
// VPN) means the network is meant to be reachable.
func (x tcp) privateApplies() bool {
	a := x.a
	if AddrClass(a.Addr.Addr()) == "" || a.Local || x.ev.Unchecked(evidence.UncheckedRoute) {
		return false
	}
	return a.Route == nil || a.Route.Default || a.Route.Type == "none"
}

// localRefusal: this machine's own routing table refuses the destination.
func (x tcp) localRefusal() bool {
	if r := x.a.Route; r != nil {
		switch r.Type {
		case "unreachable", "prohibit", "blackhole", "throw", "none":
			return true
		}
	}
	return false
}

func (x tcp) neighFailed() bool { return evidence.NeighFailed(x.a.Neigh) }

// listenersBy splits the local listeners on the target port into those on
// loopback (while the target is not) and those on another address.
func (x tcp) listenersBy() (loopback, other []string) {
	dst := x.dst()
	for _, l := range x.a.Listeners {
		la := l.Local.Addr().Unmap()
		switch {
		case la.IsUnspecified():
			// A wildcard listener would have accepted: something else refused.
		case la.IsLoopback() && !dst.IsLoopback():
			loopback = append(loopback, l.Local.String())
		case la != dst:
			other = append(other, l.Local.String())
		}
	}
	return loopback, other
}

// icmpOutcome: an ICMP error aborts the connect as "refused" (port
// unreachable) or "unreachable" (everything else).
func (x tcp) icmpOutcome() Outcome {
	if x.kind() == evidence.Refused {
		return OutcomeRefused
	}
	return OutcomeUnreachable
}

// tcpOutcome is what the client experiences, from how the connect ended.
func tcpOutcome(k evidence.Kind) Outcome {
	switch k {
	case evidence.OK:
		return OutcomeOK
	case evidence.Refused:
		return OutcomeRefused
	case evidence.Timeout:
		return OutcomeTimeout
	case evidence.HostUnreachable, evidence.NetUnreachable, evidence.PermissionDenied, evidence.InvalidArgument:
		return OutcomeUnreachable
	case evidence.AddrNotAvailable, evidence.AddrInUse:
		return OutcomeAddrUnavailable
	case evidence.Reset:
		return OutcomeReset
	}
	return OutcomeLocalError
}

// privateLow: when a host that never answered has an internal address,
// that may be why (an ICMP error from the address itself, or other ports
// answering, prove it reachable).
var privateLow = Rule[tcp]{ID: "tcp.private_possible", Cause: CausePrivateAddress, Conf: Low,
	When: func(x tcp) bool {
		ic := x.icmp()
		return !x.a.Alive() && (ic == nil || ic.From != x.a.Addr.Addr()) && x.privateApplies()
	},
	Make: privateDraft}

// privateUnchecked: where the routing table cannot be read (macOS,
// Windows), an internal address that never answered stays a possibility,
// said with what could not be checked, never a verdict.
var privateUnchecked = Rule[tcp]{ID: "tcp.private_unchecked", Cause: CausePrivateAddress, Conf: Low,
	When: func(x tcp) bool {
		return x.ev.Unchecked(evidence.UncheckedRoute) && AddrClass(x.a.Addr.Addr()) != "" && !x.a.Alive()
	},
	Make: func(x tcp) Draft {
		addr := x.a.Addr.Addr().String()
		return Draft{Args: []any{"Addr", addr}, Lines: []i18n.Msg{
			i18n.M("ev.addrclass", "Addr", addr, "Class", i18n.M("class."+AddrClass(x.a.Addr.Addr()))),
			i18n.M("platform.ev.route_unchecked", "Addr", addr)}}
	}, Note: "the route was not read on this system"}

var tcpRules = []Rule[tcp]{
	{ID: "tcp.source_family", Cause: CauseSourceAddressInvalid, Conf: High, Outcome: OutcomeLocalError,
		When: tcp.sourceFamilyMismatch, Make: sourceFamilyDraft},
	{ID: "tcp.source_not_local", Cause: CauseSourceAddressInvalid, Conf: High, Outcome: OutcomeAddrUnavailable,
		When: func(x tcp) bool {
			return x.noLocalPort() && x.a.Connect.Op == "bind" && x.ev.Source.IsValid() && !x.ev.SourceLocal
		},
		Make: func(x tcp) Draft {
			src := x.ev.Source.String()
			return Draft{Args: []any{"Source", src}, Lines: []i18n.Msg{connectLine(x.a), i18n.M("ev.source_not_local", "Source", src)}}
		}},
	{ID: "tcp.ports_exhausted", Cause: CauseEphemeralPortsExhausted, Conf: High, Outcome: OutcomeAddrUnavailable,
		When: tcp.noLocalPort, Make: portsDraft},
	{ID: "tcp.ports_nobufs", Cause: CauseEphemeralPortsExhausted, Conf: Medium, Outcome: OutcomeAddrUnavailable,
		When: func(x tcp) bool { return x.a.Connect.Name() == "WSAENOBUFS" },
		Make: func(x tcp) Draft {
			d := portsDraft(x)
			d.Lines = append(d.Lines, i18n.M("platform.ev.nobufs"))
			return d
		}, Note: "Windows answers WSAENOBUFS (10055) when its dynamic ports are used up; it can also be memory, hence medium"},
	tcpAcceptReset, tcpAcceptClose,
	{ID: "tcp.ok", Cause: CauseOK, Conf: High,
		When: func(x tcp) bool { return x.is(evidence.OK) },
		Make: func(x tcp) Draft {
			return Draft{Args: []any{"Addr", x.a.Addr.String()},
				Lines: append([]i18n.Msg{i18n.M("ev.connect.ok", "Addr", x.a.Addr.String(), "Dur", Dur(x.a.Connect.Duration))}, acceptLines(x.a)...)}
		}},
	{ID: "tcp.fd_system", Cause: CauseFDExhausted, Conf: High,
		When: func(x tcp) bool { return x.is(evidence.TooManyFiles) && x.a.Connect.ErrnoIs("ENFILE") },
		Make: func(x tcp) Draft {
			return Draft{Lines: []i18n.Msg{connectLine(x.a)},
				Fix: []i18n.Msg{i18n.M("cause.fd_exhausted.fix"), i18n.Cmd("sysctl fs.file-nr fs.file-max")}}
		}, Note: "ENFILE: the system's file table is full"},
	{ID: "tcp.fd_own", Cause: CauseFDExhausted, Conf: High,
		When: func(x tcp) bool { return x.is(evidence.TooManyFiles) },
		Make: fdOwnDraft, Note: "EMFILE: the process out of descriptors is conndiag itself; the socket was never made, so nothing is said of the target"},
	{ID: "tcp.reset", Cause: CauseResetByPeer, Conf: High,
		When: func(x tcp) bool { return x.is(evidence.Reset) },
		Make: func(x tcp) Draft {
			// The RST came right after the kernel's handshake, before the
			// connect returned: the same as a reset at once after accept.
			return Draft{Args: []any{"Addr", x.a.Addr.String()},
				Lines: []i18n.Msg{connectLine(x.a), i18n.M("portfamily.ev.accept.why")}, Fix: acceptFix(x)}
		}},

	// This machine's own firewall: its OUTPUT rules, read when the connect
	// failed in a way one of them explains, or an ICMP error this machine
	// sent about its own connection.
	{ID: "tcp.client_firewall", Cause: CauseClientFirewall, Conf: High,
		ConfOf: func(x tcp) Confidence {
			if x.a.Outgoing.Result.Uncertain {
				return Medium
			}
			return High
		},
		When: tcp.clientStopped, Make: clientFirewallDraft,
		Note: "the OUTPUT walk drops or rejects the connection and the connect ended as that rule makes it end; medium when a rule on the way was not understood or a rule source could not be read"},
	{ID: "tcp.client_firewall.icmp_local", Cause: CauseClientFirewall, Conf: High,
		When: tcp.localReject, Make: localRejectDraft,
		Note: "an ICMP port unreachable or prohibited from this machine itself, or a host/net unreachable that is no failed ARP/NDP lookup (other ports answer, the neighbour answers, or it came at once); the rule is named only when the rules could be read"},

	// From here on the connection failed on the way: refused, unreachable or
	// silent. An ICMP error names the box that answered.
	{ID: "tcp.icmp.prohibited", OutcomeOf: tcp.icmpOutcome, Cause: CauseFirewallReject, Conf: High,
		When: func(x tcp) bool { ic := x.icmp(); return ic != nil && ic.Prohibited() },
		Make: func(x tcp) Draft { return rejectDraft(x, "ev.icmp.prohibited") },
		Also: []Rule[tcp]{privateLow}, Note: "ICMP administratively/host/net prohibited"},
	{ID: "tcp.icmp.port_unreachable", OutcomeOf: tcp.icmpOutcome, Cause: CauseFirewallReject, Conf: High,
		When: func(x tcp) bool { ic := x.icmp(); return ic != nil && ic.PortUnreachable() },
		Make: func(x tcp) Draft { return rejectDraft(x, "ev.icmp.port_unreachable") },
		Also: []Rule[tcp]{privateLow}, Note: "a REJECT rule's ICMP port unreachable, not a closed port's RST"},
	{ID: "tcp.icmp.unreachable_per_port", OutcomeOf: tcp.icmpOutcome, Cause: CauseFirewallReject, Conf: High,
		When: tcp.unreachablePerPort, Make: unreachablePerPortDraft,
		Note: "an ICMP host or net unreachable for this port while other ports of the host answer, or sent by the host itself: a REJECT --reject-with icmp-host-unreachable / icmp-net-unreachable, not routing"},
	{ID: "tcp.icmp.unreachable_private", OutcomeOf: tcp.icmpOutcome, Cause: CausePrivateAddress, Conf: High,
		When: func(x tcp) bool { ic := x.icmp(); return ic != nil && ic.HostOrNetUnreachable() && x.privateApplies() },
		Make: func(x tcp) Draft {
			d := privateDraft(x)
			d.Lines = append(d.Lines, icmpLine(x.a))
			return d
		}},
	{ID: "tcp.icmp.neighbour", OutcomeOf: tcp.icmpOutcome, Cause: CauseHostUnreachable, Conf: High,
		When: func(x tcp) bool { ic := x.icmp(); return ic != nil && ic.HostOrNetUnreachable() && x.a.ICMPFromLocal },
		Make: func(x tcp) Draft {
			d := neighDraft(x)
			d.Lines = append(d.Lines, icmpLine(x.a))
			return d
		},
		Also: []Rule[tcp]{privateLow}, Note: "the kernel answers itself when the ARP/NDP lookup fails"},
	{ID: "tcp.icmp.unreachable", OutcomeOf: tcp.icmpOutcome, Cause: CauseHostUnreachable, Conf: High,
		When: func(x tcp) bool { ic := x.icmp(); return ic != nil && ic.HostOrNetUnreachable() },
		Make: func(x tcp) Draft {
			lines := []i18n.Msg{connectLine(x.a), icmpLine(x.a), i18n.M("ev.icmp.unreachable", "From", x.icmp().From.String())}
			return Draft{Args: []any{"Addr", x.a.Addr.Addr().String()}, Lines: append(lines, routeLines(x.a)...),
				Fix: []i18n.Msg{i18n.M("cause.host_unreachable.fix"), tracerouteCmd(x.a.Addr)}}
		},
		Also: []Rule[tcp]{privateLow}},
	{ID: "tcp.route.refused", Cause: CauseNoRoute, Conf: High, Outcome: OutcomeUnreachable,
		When: tcp.localRefusal,
		Make: func(x tcp) Draft {
			return Draft{Args: []any{"Addr", x.a.Addr.Addr().String()}, Lines: append([]i18n.Msg{connectLine(x.a)}, routeLines(x.a)...),
				FixArgs: FixArgs{Addr: x.a.Addr.Addr()}}
		}, Also: []Rule[tcp]{privateLow},
		Note: "route type unreachable, prohibit, blackhole, throw, or no route at all: without a route nothing leaves, whatever the address (a private one is listed after)"},

	// Refused: an RST. On this machine the listening sockets tell why.
	tcpWrongPort,
	{ID: "tcp.refused.local_none", Cause: CauseNotListening, Conf: High,
		When: func(x tcp) bool { return x.is(evidence.Refused) && x.a.Local && len(x.a.Listeners) == 0 },
		Make: func(x tcp) Draft {
			return Draft{Args: []any{"Addr", x.a.Addr.String()}, Lines: append(append(localLines(x), i18n.M("ev.no_listener", "Port", x.port())), elsewhereTriedLine(x)...),
				Fix: []i18n.Msg{i18n.M("cause.not_listening.fix", "Port", x.port()), listenCheckCmd(x.port())}}
		}},
	{ID: "tcp.refused.local_loopback", Cause: CauseBoundToLoopback, Conf: High,
		When: func(x tcp) bool {
			lo, _ := x.listenersBy()
			return x.is(evidence.Refused) && x.a.Local && len(lo) > 0
		},
		Make: func(x tcp) Draft {
			lo, _ := x.listenersBy()
			return Draft{Summary: i18n.M("rejects.bound_to_loopback.summary", "Port", x.port(), "Listening", strings.Join(lo, ", ")),
				Lines: localLines(x), FixArgs: x.listenArgs(lo)}
		}},
	{ID: "tcp.refused.local_other", Cause: CauseBoundToOtherAddress, Conf: High,
		When: func(x tcp) bool {
			_, other := x.listenersBy()
			return x.is(evidence.Refused) && x.a.Local && len(other) > 0
		},
		Make: func(x tcp) Draft {
			_, other := x.listenersBy()
			return Draft{Args: []any{"Port", x.port(), "Addr", x.dst().String()}, Lines: localLines(x),
				Fix: append([]i18n.Msg{i18n.M("fix.use_listen_addr", "Addrs", strings.Join(other, ", "))}, listenAllFix(x.listenArgs(other))...)}
		}},
	{ID: "tcp.refused.local_firewall", Cause: CauseFirewallReject, Conf: Medium,
		When: func(x tcp) bool { return x.is(evidence.Refused) && x.a.Local },
		Make: func(x tcp) Draft {
			return Draft{Args: []any{"Where", i18n.M("where.this_machine")},
				Lines: append(localLines(x), i18n.M("ev.listener_but_refused")),
				Fix:   localRulesFix(i18n.M("fix.reject.local", "Port", x.port()), "INPUT", x.v6())}
		}, Note: "a wildcard listener exists, yet the connection was refused"},
	{ID: "tcp.refused", Cause: CauseNotListening, Conf: Medium,
		When: func(x tcp) bool { return x.is(evidence.Refused) },
		Make: func(x tcp) Draft {
			return Draft{Args: []any{"Addr", x.a.Addr.String()},
				Lines:   append([]i18n.Msg{connectLine(x.a), i18n.M("ev.rst_meaning", "Addr", x.a.Addr.Addr().String(), "Port", x.port())}, elsewhereTriedLine(x)...),
				FixArgs: FixArgs{Port: x.port()}}
		},
		Also: []Rule[tcp]{{ID: "tcp.refused.maybe_loopback", Cause: CauseBoundToLoopback, Conf: Low, When: always[tcp],
			Make: func(x tcp) Draft {
				return Draft{Args: []any{"Port", x.port()}, Lines: []i18n.Msg{i18n.M("ev.remote_cannot_see_listeners")}, FixArgs: x.fixArgs()}
			}}}},

	// Silent: no answer from the target port within the wait.
	{ID: "tcp.silent.neighbour", Cause: CauseHostUnreachable, Conf: High,
		When: func(x tcp) bool { return x.is(evidence.Timeout) && x.neighFailed() }, Make: neighDraft,
		Note: "neighbour entry INCOMPLETE or FAILED"},
	{ID: "tcp.silent.local", Cause: CauseFirewallLocal, Conf: Medium,
		When: func(x tcp) bool { return x.is(evidence.Timeout) && x.a.Local },
		Make: func(x tcp) Draft {
			lines := []i18n.Msg{connectLine(x.a), i18n.M("ev.local_target", "Addr", x.a.Addr.Addr().String())}
			lines = append(lines, listenerLines(x.a)...)
			return Draft{Args: []any{"Port", x.port()}, Lines: append(lines, i18n.M("ev.local_silent")),
				Fix: append(localRulesFix(i18n.M("fix.local_silent", "Port", x.port()), "INPUT", x.v6()),
					i18n.M("fix.server_audit"), i18n.Cmd("conndiag server %d", x.port()))}
		},
		Also: []Rule[tcp]{{ID: "tcp.silent.local_queue", Cause: CauseAcceptQueueOverflow, Conf: Low, When: always[tcp],
			Make: func(tcp) Draft { return Draft{Lines: []i18n.Msg{i18n.M("ev.local_queue")}} }}},
		Note: "the target is this very machine: nothing on a path can have dropped the SYN"},
	{ID: "tcp.silent.private", Cause: CausePrivateAddress, Conf: Medium,
		When: func(x tcp) bool { return x.is(evidence.Timeout) && x.privateApplies() && !x.a.Alive() },
		Make: privateDraft,
		Also: []Rule[tcp]{{ID: "tcp.silent.private_down", Cause: CauseHostDown, Conf: Low, When: always[tcp],
			Make: func(x tcp) Draft { return Draft{Args: []any{"Addr", x.a.Addr.Addr().String()}} }}, clientUnchecked}},
	{ID: "tcp.silent.others_unreachable", Cause: CauseHostUnreachable, Conf: Medium,
		When: func(x tcp) bool { return x.is(evidence.Timeout) && !x.a.Alive() && x.a.OthersUnreachable() },
		Make: func(x tcp) Draft {
			lines := append([]i18n.Msg{connectLine(x.a)}, otherLines(x.a)...)
			lines = append(append(lines, i18n.M("ev.others_unreachable")), routeLines(x.a)...)
			return Draft{Args: []any{"Addr", x.a.Addr.Addr().String()}, Lines: lines,
				Fix: []i18n.Msg{i18n.M("cause.host_unreachable.fix"), tracerouteCmd(x.a.Addr)}}
		}, Note: "routers rate-limit ICMP, so another port's unreachable stands for the target port's"},
	{ID: "tcp.silent.filtered", Cause: CauseFiltered, Conf: Medium,
		When: func(x tcp) bool { return x.is(evidence.Timeout) && x.a.Alive() },
		Make: func(x tcp) Draft {
			lines := append(append([]i18n.Msg{connectLine(x.a)}, otherLines(x.a)...), outClearLines(x)...)
			return Draft{Args: []any{"Port", x.port()}, Lines: lines, FixArgs: x.fixArgs()}
		},
		Also: []Rule[tcp]{{ID: "tcp.silent.where_filtered", Cause: CauseFilteredUpstream, Conf: Low, When: always[tcp],
			Make: func(x tcp) Draft {
				return Draft{Lines: []i18n.Msg{i18n.M("ev.cannot_see_server")}, FixArgs: x.fixArgs()}
			}, Note: "the dropping box cannot be seen from the client"}, clientUnchecked},
		Note: "other ports of the host answered"},
	{ID: "tcp.silent.neighbour_answers", Cause: CauseFiltered, Conf: Medium,
		ConfOf: func(x tcp) Confidence {
			if x.a.Neigh == "REACHABLE" {
				return Medium
			}
			return Low
		},
		When: func(x tcp) bool { return x.is(evidence.Timeout) && x.onLinkAnswers() },
		Make: neighAnswersDraft,
		Also: []Rule[tcp]{{ID: "tcp.silent.neighbour_stale", Cause: CauseHostDown, Conf: Low,
			When: func(x tcp) bool { return x.a.Neigh != "REACHABLE" },
			Make: func(x tcp) Draft {
				return Draft{Args: []any{"Addr", x.dst().String()}, Lines: []i18n.Msg{i18n.M("rejects.ev.neigh_old")}}
			},
			Note: "a STALE, DELAY or PROBE entry was confirmed before this check, not during it"}, clientUnchecked},
		Note: "the host is on the local link and its neighbour entry is REACHABLE (medium) or STALE/DELAY/PROBE (low): it answers ARP/NDP, so it is up and drops every port probed; never host_down"},
	{ID: "tcp.silent.host_down", Cause: CauseHostDown, Conf: Medium,
		When: func(x tcp) bool { return x.is(evidence.Timeout) },
		Make: func(x tcp) Draft {
			lines := append(append([]i18n.Msg{connectLine(x.a)}, otherLines(x.a)...), routeLines(x.a)...)
			return Draft{Args: []any{"Addr", x.a.Addr.Addr().String()}, Lines: append(lines, outClearLines(x)...)}
		},
		Also: []Rule[tcp]{{ID: "tcp.silent.all_filtered", Cause: CauseFiltered, Conf: Low, When: always[tcp],
			Make: func(x tcp) Draft {
				return Draft{Args: []any{"Port", x.port()}, Lines: []i18n.Msg{i18n.M("ev.all_filtered")}, Fix: openPortFix(x.port(), x.v6())}
			}}, privateUnchecked, clientUnchecked},
		Note: "no other port answered either"},

	// Unreachable without an ICMP error or a refusing route.
	{ID: "tcp.unreachable.private", Cause: CausePrivateAddress, Conf: Medium,
		When: func(x tcp) bool { return x.is(unreachableKinds...) && x.privateApplies() }, Make: privateDraft},
	{ID: "tcp.eacces", Cause: CauseClientFirewall, Conf: Medium,
		When: func(x tcp) bool { return x.is(evidence.PermissionDenied) },
		Make: func(x tcp) Draft {
			lines := append([]i18n.Msg{connectLine(x.a), i18n.M("rejects.ev.eacces", "Errno", x.a.Connect.Name())}, outReadLines(x)...)
			fix := localRulesFix(i18n.M("fix.local_firewall"), "OUTPUT", x.v6())
			if x.outgoingNeedRoot() {
				fix = append([]i18n.Msg{i18n.M("rejects.fix.out.as_root")}, fix...)
			}
			return Draft{Lines: lines, Fix: fix}
		}, Note: "EACCES or EPERM from connect itself, with neither an ICMP error nor a prohibit route: this machine refused (its firewall, a cgroup or LSM policy); the rule is named by tcp.client_firewall when the rules show it"},
	{ID: "tcp.unreachable.neighbour", Cause: CauseHostUnreachable, Conf: High,
		When: func(x tcp) bool { return x.is(unreachableKinds...) && x.neighFailed() }, Make: neighDraft},
	{ID: "tcp.unreachable", Cause: CauseHostUnreachable, Conf: Medium,
		When: func(x tcp) bool { return x.is(unreachableKinds...) },
		Make: func(x tcp) Draft {
			return Draft{Args: []any{"Addr", x.a.Addr.Addr().String()}, Lines: append([]i18n.Msg{connectLine(x.a)}, routeLines(x.a)...)}
		},
		Also: []Rule[tcp]{privateUnchecked}},
	{ID: "tcp.unknown", Cause: CauseUnknown, Conf: Low, Outcome: OutcomeLocalError, When: always[tcp],
		Make: func(x tcp) Draft { return Draft{Lines: append([]i18n.Msg{connectLine(x.a)}, routeLines(x.a)...)} }},
}

func always[X any](X) bool { return true }

// decideAddr judges one address: the protocol tables when TCP connected and
// the protocol step ran, the TCP table otherwise.
func decideAddr(ev Evidence, a AddrEvidence) (Outcome, []Finding) {
	x := tcp{ev, a}
	if a.Connect.Kind == evidence.OK && a.Proto != nil {
		out, fs := decideProto(ev, a)
		return withLoss(x, out, fs)
	}
	fs, out, ok := []Finding(nil), Outcome(""), false
	if (a.Path != nil || a.Agent != nil) && x.pathTrusted() {
		fs, out, ok = decideFirst(pathRules, x)
	}
	if !ok {
		fs, out, _ = decideFirst(tcpRules, x) // tcp.unknown always holds
	}
	if out == "" {
		out = tcpOutcome(x.kind())
	}
	return withLoss(x, out, fs)
}

// ---- drafts shared by several rows ----

// fdOwnDraft: conndiag ran out of its own descriptors, with how to raise the limit.
func fdOwnDraft(x tcp) Draft {
	a := x.a
	d := Draft{Summary: i18n.M("bulk.fd_own.summary", "Addr", a.Addr.String()), Lines: []i18n.Msg{connectLine(a)}}
	if a.NoFile != nil {
		d.Lines = append(d.Lines, i18n.M("ev.nofile", "Soft", a.NoFile.Soft, "Hard", a.NoFile.Hard, "Open", a.NoFile.Open))
	}
	d.Lines = append(d.Lines, i18n.M("bulk.ev.fd_own"))
	want := uint64(4096)
	if a.NoFile != nil && a.NoFile.Soft != evidence.Unlimited {
		want = max(want, 2*a.NoFile.Soft)
	}
	d.Fix = []i18n.Msg{i18n.M("bulk.fd_own.fix"), i18n.Cmd("ulimit -n %d", want)}
	if a.NoFile != nil && a.NoFile.Hard != evidence.Unlimited && want > a.NoFile.Hard {
		d.Fix = append(d.Fix, i18n.M("bulk.fd_own.fix_hard", "Hard", a.NoFile.Hard))
	}
	return d
}

func sourceFamilyDraft(x tcp) Draft {
	fam := func(a netip.Addr) string {
		if a.Unmap().Is4() {
			return "IPv4"
		}
		return "IPv6"
	}
	src, dst := x.ev.Source.Unmap(), x.dst()
	return Draft{Summary: i18n.M("source.family.summary", "Source", src.String(), "SrcFamily", fam(src), "Addr", dst.String(), "DstFamily", fam(dst)),
		Fix: []i18n.Msg{i18n.M("source.family.fix", "Family", fam(dst)), i18n.Cmd("ip -br addr")}}
}

func portsDraft(x tcp) Draft {
	d := Draft{Args: []any{"Dst", x.a.Addr.String()}, Lines: []i18n.Msg{connectLine(x.a)}}
	u := x.a.Usage
	if u != nil {
		d.FixArgs.OS = u.OS
	}
	switch {
	case u != nil && u.NoSockets:
		// macOS, FreeBSD, Windows: the range is read, the socket table is not.
		d.Lines = append(d.Lines,
			i18n.M("platform.ev.ports.range", "Lo", u.Range.Lo, "Hi", u.Range.Hi, "N", u.Range.Size(), "Setting", rangeSetting(u.OS)),
			i18n.M("platform.ev.ports.nosockets", "Dst", x.a.Addr.String()))
	case u != nil:
		d.Lines = append(d.Lines,
			i18n.M("ev.ports.range", "Lo", u.Range.Lo, "Hi", u.Range.Hi, "N", u.Range.Size()),
			i18n.M("ev.ports.todest", "N", u.ToDest, "TW", u.TimeWaitToDest, "Dst", x.a.Addr.String()),
			i18n.M("ev.ports.timewait", "N", u.TimeWait),
			twReuseLine(u.TwReuse),
		)
	}
	return d
}

// rangeSetting names where a system keeps its local port range.
func rangeSetting(goos string) string {
	switch goos {
	case "darwin", "freebsd":
		return "net.inet.ip.portrange.first/last"
	case "windows":
		return "netsh int ipv4 show dynamicport tcp"
	}
	return "net.ipv4.ip_local_port_range"
}

func twReuseLine(v int) i18n.Msg {
	return i18n.M("ev.ports.twreuse", "V", v, "Meaning", i18n.M("twreuse."+strconv.Itoa(v)))
}

func privateDraft(x tcp) Draft {
	addr := x.a.Addr.Addr().String()
	lines := []i18n.Msg{connectLine(x.a), i18n.M("ev.addrclass", "Addr", addr, "Class", i18n.M("class."+AddrClass(x.a.Addr.Addr())))}
	return Draft{Args: []any{"Addr", addr}, Lines: append(lines, routeLines(x.a)...)}
}

// neighDraft: nothing answered ARP/NDP for the next hop on the local link.
func neighDraft(x tcp) Draft {
	a := x.a
	hop := a.NextHop
	if !hop.IsValid() {
		hop = a.Addr.Addr()
	}
	iface := ""
	if a.Route != nil {
		iface = a.Route.Iface
	}
	d := Draft{Args: []any{"Addr", hop.String()}, Lines: []i18n.Msg{connectLine(a)},
		Fix: []i18n.Msg{i18n.M("fix.neigh", "Hop", hop.String()), i18n.Cmd("ip neigh show %s", hop)}}
	if a.Neigh != "" {
		d.Lines = append(d.Lines, i18n.M("ev.neigh", "Hop", hop.String(), "Iface", iface, "State", a.Neigh))
	}
	return d
}

// rejectDraft: a firewall answered with an ICMP error; where it sits decides the fix.
func rejectDraft(x tcp, meaning string) Draft {
	ic := x.icmp()
	from := ic.From.String()
	d := Draft{Args: []any{"Where", whereICMP(x.a)},
		Lines: []i18n.Msg{connectLine(x.a), icmpLine(x.a), i18n.M(meaning, "From", from)}}
	port := x.port()
	switch {
	case x.a.ICMPFromLocal:
		d.Fix = localRulesFix(i18n.M("fix.reject.local", "Port", port), "OUTPUT", x.v6())
	case ic.From == x.a.Addr.Addr():
		d.Fix = openPortFix(port, x.v6())
	default:
		d.Fix = []i18n.Msg{i18n.M("fix.reject.router", "From", from, "Port", port)}
	}
	return d
}

func whereICMP(a AddrEvidence) i18n.Msg {
	ic := a.Connect.ICMP
	switch {
	case a.ICMPFromLocal:
		return i18n.M("where.this_machine")
	case ic.From == a.Addr.Addr():
		return i18n.M("where.server", "Addr", ic.From.String())
	}
	return i18n.M("where.router", "Addr", ic.From.String())
}

// localLines: the target is this machine, so its listeners are known.
func localLines(x tcp) []i18n.Msg {
	lines := []i18n.Msg{connectLine(x.a), i18n.M("ev.local_target", "Addr", x.dst().String())}
	return append(lines, listenerLines(x.a)...)
}

func listenerLines(a AddrEvidence) []i18n.Msg {
	var out []i18n.Msg
	for _, l := range a.Listeners {
		out = append(out, i18n.M("ev.listener", "Addr", l.Local.String()))
	}
	return out
}

func tracerouteCmd(ap netip.AddrPort) i18n.Msg {
	return i18n.Cmd("traceroute -T -p %d %s", ap.Port(), ap.Addr())
}
