package verdict

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/neterr"
)

// Decide turns the evidence for one target into an outcome and ranked findings.
// The first finding is the verdict.
func Decide(ev Evidence) (Outcome, []Finding) {
	if len(ev.Addrs) == 0 {
		return withName(ev, OutcomeDNSFailure, []Finding{dnsFailure(ev)})
	}
	type result struct {
		out Outcome
		fs  []Finding
	}
	results := make([]result, len(ev.Addrs))
	for i, a := range ev.Addrs {
		out, fs := decideAddr(ev, a)
		if len(fs) > 0 && len(a.Trace) > 0 {
			fs[0] = fs[0].with(traceLines(a.Trace)...)
		}
		results[i] = result{out, fs}
	}
	// One working address is enough for a client that tries them all; the
	// broken ones are still reported after the verdict.
	main := 0
	for i, r := range results {
		if r.out == OutcomeOK {
			main = i
			break
		}
	}
	out, findings := results[main].out, append([]Finding(nil), results[main].fs...)
	seen := map[Cause]bool{}
	for _, f := range findings {
		seen[f.Cause] = true
	}
	for i, r := range results {
		if i == main {
			continue
		}
		for _, f := range r.fs {
			if !seen[f.Cause] {
				seen[f.Cause] = true
				if out == OutcomeOK && f.Confidence == High {
					f.Confidence = Medium // a problem of one address only
				}
				findings = append(findings, f)
			}
		}
	}
	out, findings = withName(ev, out, findings) // name.go ranks DNS, CDN and proxy findings against these
	return out, withSkipped(ev, findings)
}

func dnsFailure(ev Evidence) Finding {
	f := newFinding(CauseDNSFailure, High, "Host", ev.Target.Host)
	if lines, fix, ok := dnsFailureDetail(ev); ok { // the rcode, from the DNS server asked directly
		return f.with(lines...).fix(fix...)
	}
	switch {
	case ev.DNS.NotFound:
		f = f.with(i18n.M("ev.dns.nxdomain", "Host", ev.Target.Host))
	case ev.DNS.Timeout:
		f = f.with(i18n.M("ev.dns.timeout", "Host", ev.Target.Host, "Dur", Dur(ev.DNS.Duration)))
	case ev.DNS.Err != "":
		f = f.with(i18n.M("ev.dns.error", "Host", ev.Target.Host, "Err", ev.DNS.Err))
	default:
		f = f.with(i18n.M("ev.dns.noanswer", "Host", ev.Target.Host))
	}
	return f.fix(i18n.M("cause.dns_failure.fix"), i18n.Cmd("getent ahosts %s", ev.Target.Host))
}

func decideAddr(ev Evidence, a AddrEvidence) (Outcome, []Finding) {
	c := a.Connect
	port := a.Addr.Port()
	if f, ok := sourceFamily(ev, a); ok {
		return OutcomeLocalError, []Finding{f}
	}
	if c.Op == "bind" && c.Errno == syscall.EADDRINUSE {
		// Binding a --source address to port 0 reserves the port exclusively, so exhaustion shows up here.
		return OutcomeAddrUnavailable, addrNotAvailable(ev, a)
	}
	switch c.Kind {
	case neterr.OK:
		if a.Proto != nil {
			return decideProto(ev, a)
		}
		f := newFinding(CauseOK, High, "Addr", a.Addr.String()).
			with(i18n.M("ev.connect.ok", "Addr", a.Addr.String(), "Dur", Dur(c.Duration)))
		return OutcomeOK, []Finding{f}
	case neterr.AddrNotAvailable:
		return OutcomeAddrUnavailable, addrNotAvailable(ev, a)
	case neterr.TooManyFiles:
		return OutcomeLocalError, []Finding{fdExhausted(a)}
	case neterr.Reset:
		f := newFinding(CauseResetByPeer, High, "Addr", a.Addr.String()).with(connectLine(a))
		return OutcomeReset, []Finding{f.fix(i18n.M("cause.reset_by_peer.fix"))}
	}

	// From here on the connection failed on the way: refused, unreachable or silent.
	if f, ok := icmpFinding(a); ok {
		out := OutcomeUnreachable
		if c.Kind == neterr.Refused {
			out = OutcomeRefused
		}
		fs := []Finding{f}
		// An ICMP error from the destination itself, or other ports answering, prove it reachable.
		if f.Cause != CausePrivateAddress && !a.Alive() && c.ICMP.From != a.Addr.Addr() {
			if pf, ok := privateFinding(a, Low); ok {
				fs = append(fs, pf)
			}
		}
		return out, fs
	}
	if f, ok := localRouteFinding(a); ok {
		return OutcomeUnreachable, []Finding{f}
	}

	switch c.Kind {
	case neterr.Refused:
		return OutcomeRefused, refused(a, port)
	case neterr.Timeout:
		return OutcomeTimeout, silent(a, port)
	case neterr.HostUnreachable, neterr.NetUnreachable, neterr.PermissionDenied, neterr.InvalidArgument:
		if pf, ok := privateFinding(a, Medium); ok {
			return OutcomeUnreachable, []Finding{pf}
		}
		if c.Kind == neterr.PermissionDenied {
			f := newFinding(CauseFirewallReject, Medium, "Addr", a.Addr.String()).with(connectLine(a)).
				with(i18n.M("ev.eacces"))
			return OutcomeUnreachable, []Finding{f.fix(i18n.M("fix.local_firewall"), i18n.Cmd("iptables -S OUTPUT"), i18n.Cmd("nft list ruleset"))}
		}
		if NeighFailed(a.Neigh) {
			return OutcomeUnreachable, []Finding{neighFinding(a)}
		}
		f := newFinding(CauseHostUnreachable, Medium, "Addr", a.Addr.Addr().String()).with(connectLine(a)).with(routeLines(a)...)
		return OutcomeUnreachable, []Finding{f.fix(i18n.M("cause.host_unreachable.fix"))}
	}
	f := newFinding(CauseUnknown, Low).with(connectLine(a)).with(routeLines(a)...)
	return OutcomeLocalError, []Finding{f.fix(i18n.M("cause.unknown.fix"))}
}

// icmpFinding reads the ICMP error the kernel kept, which names the box that answered.
func icmpFinding(a AddrEvidence) (Finding, bool) {
	ic := a.Connect.ICMP
	if ic == nil || ic.Origin == 0 {
		return Finding{}, false
	}
	icmpLine := i18n.M("ev.icmp", "Type", ic.Type, "Code", ic.Code, "Name", ic.Describe(), "From", ic.From.String())
	from, where := ic.From.String(), whereICMP(a)
	switch {
	case ic.Prohibited():
		f := newFinding(CauseFirewallReject, High, "From", from, "Where", where).
			with(connectLine(a), icmpLine, i18n.M("ev.icmp.prohibited", "From", from))
		return f.fix(rejectFix(a)...), true
	case ic.PortUnreachable():
		f := newFinding(CauseFirewallReject, High, "From", from, "Where", where).
			with(connectLine(a), icmpLine, i18n.M("ev.icmp.port_unreachable", "From", from))
		return f.fix(rejectFix(a)...), true
	case ic.HostOrNetUnreachable():
		if pf, ok := privateFinding(a, High); ok {
			return pf.with(icmpLine), true
		}
		if a.ICMPFromLocal {
			// The kernel answers itself when the neighbour (ARP/NDP) lookup fails.
			return neighFinding(a).with(icmpLine), true
		}
		f := newFinding(CauseHostUnreachable, High, "Addr", a.Addr.Addr().String()).
			with(connectLine(a), icmpLine, i18n.M("ev.icmp.unreachable", "From", from)).with(routeLines(a)...)
		return f.fix(i18n.M("cause.host_unreachable.fix"), i18n.Cmd("traceroute -T -p %d %s", a.Addr.Port(), a.Addr.Addr())), true
	}
	return Finding{}, false
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

func rejectFix(a AddrEvidence) []i18n.Msg {
	port := a.Addr.Port()
	ic := a.Connect.ICMP
	switch {
	case a.ICMPFromLocal:
		return []i18n.Msg{i18n.M("fix.reject.local", "Port", port), i18n.Cmd("iptables -S OUTPUT"), i18n.Cmd("nft list ruleset")}
	case ic.From == a.Addr.Addr():
		return openPortFix(port)
	}
	return []i18n.Msg{i18n.M("fix.reject.router", "From", ic.From.String(), "Port", port)}
}

// openPortFix is how to open a TCP port on the server, for each common
// firewall and in the cloud, and how to audit it there.
func openPortFix(port uint16) []i18n.Msg {
	return append(hostFirewallFix(port),
		i18n.M("fix.open_port.cloud", "Port", port),
		i18n.M("fix.server_audit"),
		i18n.Cmd("conndiag server %d", port),
	)
}

// hostFirewallFix is how to open a TCP port in the host's own firewall.
func hostFirewallFix(port uint16) []i18n.Msg {
	return []i18n.Msg{
		i18n.M("fix.open_port", "Port", port),
		i18n.Cmd("iptables -I INPUT -p tcp --dport %d -j ACCEPT", port),
		i18n.Cmd("nft insert rule inet filter input tcp dport %d accept", port),
		i18n.Cmd("ufw allow %d/tcp", port),
		i18n.Cmd("firewall-cmd --permanent --add-port=%d/tcp && firewall-cmd --reload", port),
	}
}

// localRouteFinding: this machine's own routing table refuses the destination.
func localRouteFinding(a AddrEvidence) (Finding, bool) {
	r := a.Route
	if r == nil {
		return Finding{}, false
	}
	switch r.Type {
	case "unreachable", "prohibit", "blackhole", "throw", "none":
	default:
		return Finding{}, false
	}
	if pf, ok := privateFinding(a, Medium); ok && r.Type == "none" {
		return pf, true
	}
	f := newFinding(CauseNoRoute, High, "Addr", a.Addr.Addr().String()).with(connectLine(a)).with(routeLines(a)...)
	return f.fix(i18n.M("cause.no_route.fix"), i18n.Cmd("ip route get %s", a.Addr.Addr())), true
}

func refused(a AddrEvidence, port uint16) []Finding {
	if a.Local {
		return refusedLocal(a, port)
	}
	f := newFinding(CauseNotListening, Medium, "Addr", a.Addr.String()).
		with(connectLine(a), i18n.M("ev.rst_meaning", "Addr", a.Addr.Addr().String(), "Port", port)).
		fix(i18n.M("cause.not_listening.fix", "Port", port), i18n.Cmd("ss -ltnp 'sport = :%d'", port),
			i18n.M("fix.server_audit"), i18n.Cmd("conndiag server %d", port))
	loop := newFinding(CauseBoundToLoopback, Low, "Port", port).
		with(i18n.M("ev.remote_cannot_see_listeners")).
		fix(listenAllFix(port)...)
	return []Finding{f, loop}
}

// refusedLocal knows the listening sockets, because the target is this machine.
func refusedLocal(a AddrEvidence, port uint16) []Finding {
	dst := a.Addr.Addr().Unmap()
	var loopback, other []string
	for _, l := range a.Listeners {
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
	lines := []i18n.Msg{connectLine(a), i18n.M("ev.local_target", "Addr", dst.String())}
	for _, l := range a.Listeners {
		lines = append(lines, i18n.M("ev.listener", "Addr", l.Local.String()))
	}
	switch {
	case len(a.Listeners) == 0:
		f := newFinding(CauseNotListening, High, "Addr", a.Addr.String()).with(lines...).
			with(i18n.M("ev.no_listener", "Port", port))
		return []Finding{f.fix(i18n.M("cause.not_listening.fix", "Port", port), i18n.Cmd("ss -ltnp 'sport = :%d'", port))}
	case len(loopback) > 0 && !dst.IsLoopback():
		f := newFinding(CauseBoundToLoopback, High, "Port", port).with(lines...)
		return []Finding{f.fix(listenAllFix(port)...)}
	case len(other) > 0:
		f := newFinding(CauseBoundToOtherAddress, High, "Port", port, "Addr", dst.String()).with(lines...)
		return []Finding{f.fix(append([]i18n.Msg{i18n.M("fix.use_listen_addr", "Addrs", strings.Join(other, ", "))}, listenAllFix(port)...)...)}
	}
	f := newFinding(CauseFirewallReject, Medium, "From", dst.String(), "Where", i18n.M("where.this_machine")).
		with(lines...).with(i18n.M("ev.listener_but_refused"))
	return []Finding{f.fix(i18n.M("fix.reject.local", "Port", port), i18n.Cmd("iptables -S INPUT"), i18n.Cmd("nft list ruleset"))}
}

func listenAllFix(port uint16) []i18n.Msg {
	return []i18n.Msg{
		i18n.M("fix.listen_all", "Port", port),
		i18n.Snippet("new Worker('websocket://0.0.0.0:%d');", port),
		i18n.M("fix.listen_check"),
		i18n.Cmd("ss -ltnp 'sport = :%d'", port),
	}
}

// silent: the target port never answered.
func silent(a AddrEvidence, port uint16) []Finding {
	if NeighFailed(a.Neigh) {
		return []Finding{neighFinding(a)}
	}
	if a.Local {
		return silentLocal(a, port)
	}
	// Other ports answering prove the address is reachable from here, so it
	// is neither an unreachable internal address nor a host that is down.
	if pf, ok := privateFinding(a, Medium); ok && !a.Alive() {
		down := newFinding(CauseHostDown, Low, "Addr", a.Addr.Addr().String())
		return []Finding{pf, down.fix(i18n.M("cause.host_down.fix"))}
	}
	if !a.Alive() && a.othersUnreachable() {
		// Routers rate-limit their ICMP errors, so with several SYNs in flight
		// the target port's may go unanswered while another port's is not.
		f := newFinding(CauseHostUnreachable, Medium, "Addr", a.Addr.Addr().String()).
			with(connectLine(a)).with(otherLines(a)...).with(i18n.M("ev.others_unreachable")).with(routeLines(a)...)
		return []Finding{f.fix(i18n.M("cause.host_unreachable.fix"), i18n.Cmd("traceroute -T -p %d %s", port, a.Addr.Addr()))}
	}
	if a.Alive() {
		f := newFinding(CauseFiltered, Medium, "Port", port).with(connectLine(a)).with(otherLines(a)...)
		f = f.fix(openPortFix(port)...).fix(i18n.M("fix.watch", "Port", port), i18n.Cmd("conndiag server --watch 60s %d", port))
		return []Finding{f, whereFiltered(port)}
	}
	f := newFinding(CauseHostDown, Medium, "Addr", a.Addr.Addr().String()).with(connectLine(a)).with(otherLines(a)...).with(routeLines(a)...)
	f = f.fix(i18n.M("cause.host_down.fix"))
	filt := newFinding(CauseFiltered, Low, "Port", port).with(i18n.M("ev.all_filtered")).fix(openPortFix(port)...)
	return []Finding{f, filt}
}

// silentLocal: the target is this very machine, so nothing on a path can
// have dropped the SYN: its own firewall did, or a full listen queue.
func silentLocal(a AddrEvidence, port uint16) []Finding {
	f := newFinding(CauseFirewallLocal, Medium, "Port", port).
		with(connectLine(a), i18n.M("ev.local_target", "Addr", a.Addr.Addr().String()))
	for _, l := range a.Listeners {
		f = f.with(i18n.M("ev.listener", "Addr", l.Local.String()))
	}
	f = f.with(i18n.M("ev.local_silent")).
		fix(i18n.M("fix.local_silent", "Port", port), i18n.Cmd("iptables -S INPUT"), i18n.Cmd("nft list ruleset"),
			i18n.M("fix.server_audit"), i18n.Cmd("conndiag server %d", port))
	queue := newFinding(CauseAcceptQueueOverflow, Low).with(i18n.M("ev.local_queue")).
		fix(i18n.M("cause.accept_queue_overflow.fix"), i18n.Cmd("nstat -az TcpExtListenOverflows TcpExtListenDrops"))
	return []Finding{f, queue}
}

// whereFiltered says honestly that the dropping box cannot be seen from the client.
func whereFiltered(port uint16) Finding {
	return newFinding(CauseFilteredUpstream, Low, "Port", port).
		with(i18n.M("ev.cannot_see_server")).
		fix(i18n.M("fix.watch", "Port", port), i18n.Cmd("conndiag server --watch 60s %d", port))
}

func neighFinding(a AddrEvidence) Finding {
	hop := a.NextHop
	if !hop.IsValid() {
		hop = a.Addr.Addr()
	}
	iface := ""
	if a.Route != nil {
		iface = a.Route.Iface
	}
	f := newFinding(CauseHostUnreachable, High, "Addr", hop.String()).with(connectLine(a))
	if a.Neigh != "" {
		f = f.with(i18n.M("ev.neigh", "Hop", hop.String(), "Iface", iface, "State", a.Neigh))
	}
	return f.fix(i18n.M("fix.neigh", "Hop", hop.String()), i18n.Cmd("ip neigh show %s", hop))
}

// NeighFailed reports whether a neighbour-table state means nothing answered
// ARP/NDP for that address on the link.
func NeighFailed(state string) bool { return state == "INCOMPLETE" || state == "FAILED" }

// sourceFamily: --source of one address family toward an address of the
// other cannot connect at all; the address itself was never tried.
func sourceFamily(ev Evidence, a AddrEvidence) (Finding, bool) {
	src := ev.Source.Unmap()
	if !src.IsValid() || a.Connect.Kind != neterr.InvalidArgument || src.Is4() == a.Addr.Addr().Unmap().Is4() {
		return Finding{}, false
	}
	fam := func(x netip.Addr) string {
		if x.Unmap().Is4() {
			return "IPv4"
		}
		return "IPv6"
	}
	dst := a.Addr.Addr().Unmap()
	f := Finding{Cause: CauseSourceAddressInvalid, Confidence: High,
		Summary: i18n.M("source.family.summary", "Source", src.String(), "SrcFamily", fam(src), "Addr", dst.String(), "DstFamily", fam(dst))}
	return f.fix(i18n.M("source.family.fix", "Family", fam(dst)), i18n.Cmd("ip -br addr")), true
}

func addrNotAvailable(ev Evidence, a AddrEvidence) []Finding {
	c := a.Connect
	if c.Op == "bind" && ev.Source.IsValid() && !ev.SourceLocal {
		f := newFinding(CauseSourceAddressInvalid, High, "Source", ev.Source.String()).
			with(connectLine(a), i18n.M("ev.source_not_local", "Source", ev.Source.String()))
		return []Finding{f.fix(i18n.M("cause.source_address_invalid.fix"), i18n.Cmd("ip -br addr"))}
	}
	f := newFinding(CauseEphemeralPortsExhausted, High, "Dst", a.Addr.String()).with(connectLine(a))
	if u := a.Usage; u != nil {
		f = f.with(
			i18n.M("ev.ports.range", "Lo", u.Range.Lo, "Hi", u.Range.Hi, "N", u.Range.Size()),
			i18n.M("ev.ports.todest", "N", u.ToDest, "TW", u.TimeWaitToDest, "Dst", a.Addr.String()),
			i18n.M("ev.ports.timewait", "N", u.TimeWait),
			i18n.M("ev.ports.twreuse", "V", u.TwReuse, "Meaning", i18n.M("twreuse."+strconv.Itoa(u.TwReuse))),
		)
	}
	return []Finding{f.fix(
		i18n.M("fix.ports.range"),
		i18n.Cmd(`sysctl -w net.ipv4.ip_local_port_range="%s"`, recommendedPortRangeValue),
		i18n.M("fix.ports.twreuse"),
		i18n.Cmd("sysctl -w net.ipv4.tcp_tw_reuse=1"),
		i18n.M("fix.ports.persist"),
		i18n.CmdLine(sysctlCommand("60-conndiag-ports.conf", []SysctlLine{
			{Key: "net.ipv4.ip_local_port_range", Value: recommendedPortRangeValue},
			{Key: "net.ipv4.tcp_tw_reuse", Value: "1"},
		})),
		i18n.M("fix.ports.spread"),
	)}
}

// privateFinding: a private, CGNAT, link-local or loopback destination reached
// only through the default route is almost always a server's internal address
// used from outside its network.
func privateFinding(a AddrEvidence, conf Confidence) (Finding, bool) {
	class := AddrClass(a.Addr.Addr())
	if class == "" || a.Local {
		return Finding{}, false
	}
	if a.Route != nil && !a.Route.Default && a.Route.Type != "none" {
		return Finding{}, false // a specific route (LAN, VPN): the network is meant to be reachable
	}
	f := newFinding(CausePrivateAddress, conf, "Addr", a.Addr.Addr().String()).
		with(connectLine(a), i18n.M("ev.addrclass", "Addr", a.Addr.Addr().String(), "Class", i18n.M("class."+class))).
		with(routeLines(a)...)
	return f.fix(i18n.M("cause.private_address.fix")), true
}

// AddrClass names the special-purpose range of a, or "" for a global address.
func AddrClass(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case a.IsLoopback():
		return "loopback"
	case a.IsLinkLocalUnicast():
		return "link_local"
	case a.Is4() && cgnat.Contains(a):
		return "cgnat"
	case a.Is6() && a.IsPrivate():
		return "ula"
	case a.IsPrivate():
		return "private"
	}
	return ""
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// recommendedPortRange is the ephemeral range conndiag advises: wide, yet
// above the ports servers usually listen on, so a restarted server does not
// find its port taken by an outgoing connection.
var (
	recommendedPortRange      = host.PortRange{Lo: 10000, Hi: 65000}
	recommendedPortRangeValue = fmt.Sprintf("%d %d", recommendedPortRange.Lo, recommendedPortRange.Hi) // sysctl syntax
)

func connectLine(a AddrEvidence) i18n.Msg {
	c := a.Connect
	addr := a.Addr.String()
	switch c.Kind {
	case neterr.Refused:
		return i18n.M("ev.connect.refused", "Addr", addr, "Dur", Dur(c.Duration))
	case neterr.Timeout:
		if a.Wait > 0 {
			return i18n.M("ev.connect.timeout_adaptive", "Addr", addr, "SYNs", a.SYNs, "Wait", Dur(a.Wait), "RTT", Dur(a.RTT))
		}
		return i18n.M("ev.connect.timeout", "Addr", addr, "Timeout", Dur(a.Timeout))
	}
	errText := ""
	if c.Err != nil {
		errText = c.Err.Error()
	}
	if c.Errno != 0 {
		return i18n.M("ev.connect.errno", "Addr", addr, "Op", c.Op, "Errno", errnoName(c.Errno), "Text", c.Errno.Error(), "Dur", Dur(c.Duration))
	}
	return i18n.M("ev.connect.error", "Addr", addr, "Err", errText, "Dur", Dur(c.Duration))
}

func otherLines(a AddrEvidence) []i18n.Msg {
	var out []i18n.Msg
	for _, p := range a.Others {
		switch p.Kind {
		case neterr.OK:
			out = append(out, i18n.M("ev.port.open", "Port", p.Port, "Dur", Dur(p.Duration)))
		case neterr.Refused:
			out = append(out, i18n.M("ev.port.refused", "Port", p.Port, "Dur", Dur(p.Duration)))
		case neterr.Timeout:
			out = append(out, i18n.M("ev.port.silent", "Port", p.Port))
		default:
			out = append(out, i18n.M("ev.port.other", "Port", p.Port, "Kind", string(p.Kind)))
		}
	}
	return out
}

func routeLines(a AddrEvidence) []i18n.Msg {
	dst := a.Addr.Addr().String()
	r := a.Route
	switch {
	case r == nil && a.RouteErr != "":
		return []i18n.Msg{i18n.M("ev.route.error", "Dst", dst, "Err", a.RouteErr)}
	case r == nil:
		return nil
	case r.Type == "none":
		return []i18n.Msg{i18n.M("ev.route.none", "Dst", dst)}
	case r.Type == "local":
		return []i18n.Msg{i18n.M("ev.route.local", "Dst", dst, "Iface", r.Iface)}
	case r.Type != "unicast" && r.Type != "":
		return []i18n.Msg{i18n.M("ev.route.type", "Dst", dst, "Type", r.Type, "Prefix", r.Dst.String())}
	case r.Default:
		return []i18n.Msg{i18n.M("ev.route.default", "Dst", dst, "Gateway", r.Gateway.String(), "Iface", r.Iface)}
	case r.OnLink || !r.Gateway.IsValid():
		return []i18n.Msg{i18n.M("ev.route.onlink", "Dst", dst, "Iface", r.Iface, "Prefix", r.Dst.String())}
	}
	return []i18n.Msg{i18n.M("ev.route.via", "Dst", dst, "Prefix", r.Dst.String(), "Gateway", r.Gateway.String(), "Iface", r.Iface)}
}

// Dur formats a duration for people: "0.4 ms", "212 ms", "3.0 s".
func Dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0 ms"
	case d < time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func errnoName(e syscall.Errno) string {
	if n, ok := errnoNames[e]; ok {
		return n
	}
	return fmt.Sprintf("errno %d", int(e))
}

var errnoNames = map[syscall.Errno]string{
	syscall.ECONNREFUSED: "ECONNREFUSED", syscall.ETIMEDOUT: "ETIMEDOUT", syscall.EHOSTUNREACH: "EHOSTUNREACH",
	syscall.ENETUNREACH: "ENETUNREACH", syscall.EADDRNOTAVAIL: "EADDRNOTAVAIL", syscall.EADDRINUSE: "EADDRINUSE",
	syscall.EMFILE: "EMFILE", syscall.ENFILE: "ENFILE", syscall.EACCES: "EACCES", syscall.EPERM: "EPERM",
	syscall.ECONNRESET: "ECONNRESET", syscall.EINVAL: "EINVAL",
}
