package verdict

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/conndiag/conndiag/internal/cdn"
	"github.com/conndiag/conndiag/internal/dnsprobe"
	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/proxy"
	"github.com/conndiag/conndiag/internal/target"
)

// Name-level rules: the name leads somewhere other than the user thinks —
// another address than the server's (dns_mismatch), a CDN edge (cdn_in_path,
// cdn_port_not_proxied), a proxy (proxy_in_path) — plus what a conndiag
// listen endpoint's whoami answer shows about NAT and proxies in between.

// ProxyEvidence is the client's proxy configuration and the test of the proxy.
type ProxyEvidence struct {
	Choice proxy.Choice
	Result *proxy.Result // nil when no proxy applies to the target or it could not be tested
}

// AltConnect is a connect to an address another source gave for the name
// (the DNS answer a hosts entry overrides, --resolver's answer, --expect-ip).
type AltConnect struct {
	Addr   netip.AddrPort
	Result neterr.Result
}

// withName ranks the name-level findings against the connection verdict
// (out, fs). A stressed user needs first the finding that changes what to do:
//
//  1. proxy_in_path when the proxy itself fails or refuses what the direct
//     path accepts: the client never gets past it, so nothing else matters yet.
//  2. cdn_port_not_proxied: the edge drops the port, so the TCP finding
//     ("filtered", "host down") describes the edge and its fix (open the
//     server's firewall) would not help.
//  3. dns_mismatch when --expect-ip is not among the answers, when a hosts
//     entry overrides DNS and the connection fails, or when another answer
//     connects where this one fails: the client talks to the wrong machine.
//  4. cdn_in_path when the connection to an edge fails on a port it forwards:
//     the TCP findings below are about the edge, not the server.
//  5. the connection verdict (TCP or protocol) and its alternatives.
//  6. informative findings: answers that differ while the connection works,
//     a working CDN edge or proxy, a working proxy where the direct path fails,
//     address rewriting seen by whoami.
//
// The outcome changes only when the proxy decides it (1): that is what the
// client experiences. A working connection with a name-level verdict first
// (an unexpected address) keeps the outcome ok.
func withName(ev Evidence, out Outcome, fs []Finding) (Outcome, []Finding) {
	var before, after []Finding
	connected := nameConnected(ev)

	if f, pout, first, ok := proxyFinding(ev, connected); ok {
		if first {
			before = append(before, f)
			out = pout
		} else {
			after = append(after, f)
		}
	}
	notProxied, ok := cdnPortFinding(ev)
	if ok {
		before = append(before, notProxied)
	}
	if f, first, ok := dnsMismatch(ev, connected); ok {
		if first {
			before = append(before, f)
		} else {
			after = append(after, f)
		}
	}
	if f, first, ok := cdnInPath(ev); ok && !slices.ContainsFunc(before, nameIsCause(CauseCDNPortNotProxied)) {
		if first {
			before = append(before, f)
		} else {
			after = append(after, f)
		}
	}
	wlines, wfs := whoamiFindings(ev)
	after = append(after, wfs...)

	all := make([]Finding, 0, len(before)+len(fs)+len(after))
	at := map[Cause]int{}
	for g, group := range [][]Finding{before, fs, after} {
		for _, f := range group {
			i, dup := at[f.Cause]
			switch {
			case !dup:
				at[f.Cause] = len(all)
				all = append(all, f)
			case g != 1:
				// Two name-level views of one cause (the proxy settings and
				// whoami, say): one finding carries the evidence of both.
				all[i].Evidence = uniqueMsgs(append(all[i].Evidence, f.Evidence...))
			}
		}
	}
	if len(all) > 0 {
		v := &all[0]
		switch v.Cause {
		case CauseDNSMismatch, CauseDNSFailure:
		default:
			v.Evidence = append(v.Evidence, dnsProvenance(ev)...)
		}
		v.Evidence = append(v.Evidence, proxyContext(ev)...)
		v.Evidence = append(v.Evidence, wlines...)
	}
	return out, all
}

func nameIsCause(c Cause) func(Finding) bool { return func(f Finding) bool { return f.Cause == c } }

func nameConnected(ev Evidence) bool {
	for _, a := range ev.Addrs {
		if a.Connect.Kind == neterr.OK {
			return true
		}
	}
	return false
}

// ---- DNS ----

// dnsAddrList and dnsTTLList list at most maxListed addresses (bulk.go).
func dnsAddrList(as []netip.Addr) any {
	s := make([]string, 0, len(as))
	for _, a := range as {
		s = append(s, a.String())
	}
	return listArg(s)
}

func dnsTTLList(as []dnsprobe.Addr) any {
	s := make([]string, 0, len(as))
	for _, a := range as {
		s = append(s, fmt.Sprintf("%s (TTL %d)", a.IP, a.TTL))
	}
	return listArg(s)
}

func dnsChain(a *dnsprobe.Answer) string {
	names := make([]string, 0, len(a.Chain))
	for _, n := range a.Chain {
		names = append(names, strings.TrimSuffix(n, "."))
	}
	return strings.Join(names, " → ")
}

// dnsAnswerMsg says in a few words what one DNS answer was.
func dnsAnswerMsg(a *dnsprobe.Answer) i18n.Msg {
	switch {
	case !a.Responded():
		return i18n.M("dns.answer.none", "Err", a.Err)
	case len(a.Addrs) > 0 && len(a.Chain) > 0:
		return i18n.M("dns.answer.addrs_cname", "Addrs", dnsTTLList(a.Addrs), "Chain", dnsChain(a))
	case len(a.Addrs) > 0:
		return i18n.M("dns.answer.addrs", "Addrs", dnsTTLList(a.Addrs))
	case a.RcodeName() == "NXDOMAIN":
		return i18n.M("dns.answer.nxdomain")
	case a.RcodeName() == "SERVFAIL":
		return i18n.M("dns.answer.servfail")
	case a.NoAnswer():
		return i18n.M("dns.answer.noanswer")
	}
	return i18n.M("dns.answer.rcode", "Rcode", a.RcodeName())
}

// hostsUsed: the system's addresses came from the hosts file.
func dnsHostsUsed(d DNS) bool {
	return d.Hosts != nil && len(d.Addresses) > 0 && dnsOverlap(d.Hosts.Addrs, d.Addresses)
}

func dnsOverlap(a, b []netip.Addr) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func dnsSameSet(a, b []netip.Addr) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

// dnsProvenance says where the system's answer came from: the hosts file line,
// or the DNS server with the CNAME chain and TTLs, and what --resolver and
// --expect-ip add when they agree.
func dnsProvenance(ev Evidence) []i18n.Msg {
	d := ev.DNS
	if d.Literal {
		return nil
	}
	host := ev.Target.Host
	var out []i18n.Msg
	switch {
	case dnsHostsUsed(d):
		out = append(out, i18n.M("ev.dns.from_hosts", "Host", host, "File", d.Hosts.File, "Line", d.Hosts.Line, "Text", d.Hosts.Text))
	case d.Server != nil && len(d.Server.Addrs) > 0:
		out = append(out, i18n.M("ev.dns.from_server", "Host", host, "Server", d.Server.Server, "Answer", dnsAnswerMsg(d.Server)))
	}
	if r := d.Resolver; r != nil && len(d.Addresses) > 0 {
		if dnsSameSet(r.IPs(), d.Addresses) {
			out = append(out, i18n.M("ev.dns.resolver_agrees", "Server", r.Server, "Answer", dnsAnswerMsg(r)))
		} else {
			out = append(out, i18n.M("ev.dns.resolver_answer", "Server", r.Server, "Answer", dnsAnswerMsg(r)))
		}
	}
	if d.ExpectIP.IsValid() && slices.Contains(d.Addresses, d.ExpectIP.Unmap()) {
		out = append(out, i18n.M("ev.dns.expect_ok", "Addr", d.ExpectIP.String()))
	}
	return out
}

func dnsCompare(a, b i18n.Msg) i18n.Msg { return i18n.M("ev.dns.compare", "A", a, "B", b) }

func dnsSystemSide(ev Evidence) i18n.Msg {
	if dnsHostsUsed(ev.DNS) {
		return i18n.M("dns.side.hosts", "Addrs", dnsAddrList(ev.DNS.Addresses))
	}
	return i18n.M("dns.side.system", "Addrs", dnsAddrList(ev.DNS.Addresses))
}

func dnsAltLines(ev Evidence, from []netip.Addr) (lines []i18n.Msg, connects bool) {
	for _, alt := range ev.DNS.Alt {
		if !slices.Contains(from, alt.Addr.Addr()) {
			continue
		}
		if alt.Result.Kind == neterr.OK {
			connects = true
			lines = append(lines, i18n.M("ev.dns.alt_ok", "Addr", alt.Addr.String(), "Dur", Dur(alt.Result.Duration)))
		} else {
			lines = append(lines, i18n.M("ev.dns.alt_fail", "Addr", alt.Addr.String(), "Kind", string(alt.Result.Kind)))
		}
	}
	return lines, connects
}

// dnsMismatch compares the system's answer with the hosts file, the DNS
// server, --resolver and --expect-ip. Where several disagree, one finding
// carries all of them, with the answers side by side.
func dnsMismatch(ev Evidence, connected bool) (Finding, bool, bool) {
	d := ev.DNS
	host := ev.Target.Host
	var (
		lines []i18n.Msg
		conf  = Low
		first bool
		fix   []i18n.Msg
		found bool
	)
	raise := func(c Confidence, f bool) {
		found = true
		if c.rank() < conf.rank() {
			conf = c
		}
		first = first || f
	}

	if e := d.ExpectIP.Unmap(); e.IsValid() && len(d.Addresses) > 0 && !slices.Contains(d.Addresses, e) {
		if d.Literal {
			lines = append(lines, i18n.M("ev.dns.expect_literal", "Addr", d.Addresses[0].String(), "Expect", e.String()))
			raise(Medium, true)
			fix = append(fix, i18n.M("fix.dns.expect_literal", "Expect", e.String()))
		} else {
			lines = append(lines, dnsCompare(dnsSystemSide(ev), i18n.M("dns.side.expect", "Addr", e.String())))
			raise(High, true)
			fix = append(fix, i18n.M("fix.dns.expect", "Host", host, "Expect", e.String()))
		}
		alt, _ := dnsAltLines(ev, []netip.Addr{e})
		lines = append(lines, alt...)
	}

	if dnsHostsUsed(d) && d.Server != nil && len(d.Server.Addrs) > 0 && !dnsSameSet(d.Hosts.Addrs, d.Server.IPs()) {
		lines = append(lines,
			dnsCompare(i18n.M("dns.side.hosts", "Addrs", dnsAddrList(d.Hosts.Addrs)), i18n.M("dns.side.server", "Server", d.Server.Server, "Answer", dnsAnswerMsg(d.Server))),
			i18n.M("ev.dns.hosts_line", "File", d.Hosts.File, "Line", d.Hosts.Line, "Text", d.Hosts.Text))
		alt, _ := dnsAltLines(ev, d.Server.IPs())
		lines = append(lines, alt...)
		// A hosts entry is a deliberate local override: when the connection
		// fails, it comes first even if the DNS address fails too.
		if !connected {
			raise(High, true)
		} else {
			raise(Medium, false)
		}
		fix = append(fix, i18n.M("fix.dns.hosts", "File", d.Hosts.File, "Line", d.Hosts.Line),
			i18n.Cmd("sed -i '%d s/^/# /' %s", d.Hosts.Line, d.Hosts.File))
	}

	if r := d.Resolver; r != nil && len(d.Addresses) > 0 && r.Responded() {
		disagree := len(r.Addrs) > 0 && !dnsOverlap(r.IPs(), d.Addresses) ||
			len(r.Addrs) == 0 && (r.RcodeName() == "NXDOMAIN" || r.NoAnswer())
		if disagree {
			lines = append(lines, dnsCompare(dnsSystemSide(ev), i18n.M("dns.side.resolver", "Server", r.Server, "Answer", dnsAnswerMsg(r))))
			if !dnsHostsUsed(d) && d.Server != nil && d.Server.Responded() {
				lines = append(lines, i18n.M("ev.dns.from_server", "Host", host, "Server", d.Server.Server, "Answer", dnsAnswerMsg(d.Server)))
			}
			alt, altOK := dnsAltLines(ev, r.IPs())
			lines = append(lines, alt...)
			switch {
			case !connected && altOK:
				raise(High, true)
			default:
				raise(Medium, false)
			}
			fix = append(fix, i18n.M("fix.dns.resolvers"), i18n.Cmd("dig +short %s @%s", host, dnsServerArg(r.Server)))
			if d.Server != nil && d.Server.Responded() {
				fix = append(fix, i18n.Cmd("dig +short %s @%s", host, dnsServerArg(d.Server.Server)))
			}
			if ttl := dnsMaxTTL(d.Server); ttl > 0 {
				fix = append(fix, i18n.M("fix.dns.ttl", "TTL", ttl))
			}
		}
	}

	if len(d.Addresses) == 0 {
		// The system found nothing; a resolver that did is a second opinion.
		if r := d.Resolver; r != nil && len(r.Addrs) > 0 {
			lines = append(lines, dnsCompare(i18n.M("dns.side.system_none"), i18n.M("dns.side.resolver", "Server", r.Server, "Answer", dnsAnswerMsg(r))))
			alt, _ := dnsAltLines(ev, r.IPs())
			lines = append(lines, alt...)
			raise(Medium, false)
			fix = append(fix, i18n.M("fix.dns.resolvers"), i18n.Cmd("dig +short %s @%s", host, dnsServerArg(r.Server)))
		}
	}
	if !found {
		return Finding{}, false, false
	}
	lines = uniqueMsgs(lines)
	for _, m := range ev.CDN {
		if m.ByRange() && !m.Seen && slices.Contains(d.Addresses, m.Addr) {
			lines = append(lines, i18n.M("ev.dns.cdn_explains", "Addr", m.Addr.String(), "Provider", cdnProvider(m.Provider)))
			break
		}
	}
	f := newFinding(CauseDNSMismatch, conf).with(lines...).fix(fix...).fix(i18n.M("cause.dns_mismatch.fix"))
	return f, first, true
}

// uniqueMsgs drops repeated lines (the same other answer seen from two sources).
func uniqueMsgs(ms []i18n.Msg) []i18n.Msg {
	seen := map[string]bool{}
	out := make([]i18n.Msg, 0, len(ms))
	for _, m := range ms {
		k := fmt.Sprintf("%s %s %v", m.ID, m.Cmd, m.Args)
		if !seen[k] {
			seen[k] = true
			out = append(out, m)
		}
	}
	return out
}

// dnsServerArg is dig's server argument: the address, and -p PORT when the
// port is not 53 (so several words, each quoted when not a plain word).
func dnsServerArg(hostport string) i18n.Verbatim {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		if ap.Port() != 53 {
			return i18n.Verbatim(fmt.Sprintf("%s -p %d", escape.Quote(ap.Addr().String()), ap.Port()))
		}
		return i18n.Verbatim(escape.Quote(ap.Addr().String()))
	}
	return i18n.Verbatim(escape.Quote(hostport))
}

func dnsMaxTTL(a *dnsprobe.Answer) uint32 {
	var m uint32
	if a != nil {
		for _, x := range a.Addrs {
			m = max(m, x.TTL)
		}
	}
	return m
}

// dnsFailureDetail names what the DNS server said: NXDOMAIN, SERVFAIL, no
// answer, another rcode, or nothing. ok is false without a direct answer.
func dnsFailureDetail(ev Evidence) (lines, fix []i18n.Msg, ok bool) {
	a := ev.DNS.Server
	if a == nil {
		return nil, nil, false
	}
	host, srv, name := ev.Target.Host, a.Server, strings.TrimSuffix(a.Name, ".")
	trace := i18n.Cmd("dig +trace %s", host)
	switch {
	case !a.Responded():
		lines = append(lines, i18n.M("ev.dns.server_silent", "Server", srv, "Err", a.Err))
		fix = append(fix, i18n.M("fix.dns.server", "Server", srv), i18n.Cmd("cat /etc/resolv.conf"), i18n.Cmd("dig %s @1.1.1.1", host))
	case len(a.Addrs) > 0:
		lines = append(lines, i18n.M("ev.dns.server_has_addrs", "Server", srv, "Answer", dnsAnswerMsg(a), "Err", ev.DNS.Err))
		fix = append(fix, i18n.M("fix.dns.system"), i18n.Cmd("getent ahosts %s", host))
	case a.RcodeName() == "NXDOMAIN":
		lines = append(lines, i18n.M("ev.dns.rcode_nxdomain", "Server", srv, "Name", name))
		fix = append(fix, i18n.M("fix.dns.nxdomain"), trace)
	case a.RcodeName() == "SERVFAIL":
		lines = append(lines, i18n.M("ev.dns.rcode_servfail", "Server", srv, "Name", name))
		fix = append(fix, i18n.M("fix.dns.servfail"), trace, i18n.Cmd("dig +cd %s @%s", host, dnsServerArg(srv)))
	case a.NoAnswer():
		lines = append(lines, i18n.M("ev.dns.rcode_noanswer", "Server", srv, "Name", name))
		fix = append(fix, i18n.M("fix.dns.noanswer"), i18n.Cmd("dig %s A", host), i18n.Cmd("dig %s AAAA", host))
	default:
		lines = append(lines, i18n.M("ev.dns.rcode_other", "Server", srv, "Rcode", a.RcodeName()))
		fix = append(fix, i18n.M("fix.dns.server", "Server", srv), i18n.Cmd("cat /etc/resolv.conf"))
	}
	if len(a.Chain) > 0 {
		lines = append(lines, i18n.M("ev.dns.chain", "Name", name, "Chain", dnsChain(a)))
	}
	return lines, fix, true
}

// ---- CDN ----

func cdnProvider(p cdn.Provider) i18n.Msg {
	if p.Name == "" {
		return i18n.M("cdn.unnamed")
	}
	return i18n.M("cdn.named", "Name", p.Name)
}

func cdnPortList(ps []uint16) string {
	s := make([]string, 0, len(ps))
	for _, p := range ps {
		s = append(s, fmt.Sprint(p))
	}
	return strings.Join(s, ", ")
}

// cdnEdgeOf finds the CDN behind address a: a range match, else the provider
// the name's CNAME chain leads to.
func cdnEdgeOf(ev Evidence, a netip.Addr) (cdn.Match, bool) {
	for _, m := range ev.CDN {
		if m.ByRange() && !m.Seen && m.Addr == a.Unmap() {
			return m, true
		}
	}
	for _, m := range ev.CDN {
		if !m.ByRange() && !m.Seen {
			return m, true
		}
	}
	return cdn.Match{}, false
}

func cdnMatchLine(m cdn.Match) i18n.Msg {
	switch {
	case m.Seen:
		return i18n.M("ev.cdn.seen", "Addr", m.Addr.String(), "Provider", cdnProvider(m.Provider), "Prefix", m.Range.Prefix.String())
	case m.ByRange() && strings.HasPrefix(m.Range.Source, "ranges/"):
		return i18n.M("ev.cdn.range", "Addr", m.Addr.String(), "Provider", cdnProvider(m.Provider), "Prefix", m.Range.Prefix.String(), "Date", m.Range.Date)
	case m.ByRange():
		return i18n.M("ev.cdn.range_file", "Addr", m.Addr.String(), "Provider", cdnProvider(m.Provider), "Prefix", m.Range.Prefix.String(), "File", m.Range.Source, "Line", m.Range.Line)
	}
	return i18n.M("ev.cdn.cname", "Name", m.CNAME, "Provider", cdnProvider(m.Provider), "Suffix", m.Suffix)
}

func cdnFailedAtEdge(k neterr.Kind) bool {
	return k == neterr.Timeout || k == neterr.Refused || k == neterr.Reset
}

// cdnPortFinding: the target's port is one the edge does not forward, and the connection failed there.
func cdnPortFinding(ev Evidence) (Finding, bool) {
	port := ev.Target.Port
	for _, a := range ev.Addrs {
		m, ok := cdnEdgeOf(ev, a.Addr.Addr())
		if !ok || m.Provider.Forwards(port) || !cdnFailedAtEdge(a.Connect.Kind) {
			continue
		}
		p := m.Provider
		conf := Medium
		portsLine := i18n.M("ev.cdn.ports_assumed", "Provider", cdnProvider(p), "Ports", cdnPortList(p.Ports()), "Port", port)
		if p.Documented {
			conf = High
			portsLine = i18n.M("ev.cdn.ports", "Provider", cdnProvider(p), "Ports", cdnPortList(p.Ports()), "Port", port)
		}
		f := newFinding(CauseCDNPortNotProxied, conf).with(cdnMatchLine(m), portsLine, connectLine(a))
		f = f.fix(i18n.M("fix.cdn.port", "Provider", cdnProvider(p), "Ports", cdnPortList(cdnSuggestPorts(p, ev.Target.TLS()))))
		f = f.fix(i18n.M("fix.cdn.dns_only", "Host", ev.Target.Host))
		if p.TCPProduct != "" {
			f = f.fix(i18n.M("fix.cdn.tcp_product", "Product", p.TCPProduct))
		} else {
			f = f.fix(i18n.M("fix.cdn.tcp_product_any"))
		}
		return f, true
	}
	return Finding{}, false
}

// cdnSuggestPorts are the forwarded ports that fit the target: the TLS ones for wss/https/tls.
func cdnSuggestPorts(p cdn.Provider, tls bool) []uint16 {
	if tls && len(p.HTTPSPorts) > 0 {
		return p.HTTPSPorts
	}
	if !tls && len(p.HTTPPorts) > 0 {
		return p.HTTPPorts
	}
	return p.Ports()
}

// cdnInPath: the name leads to an edge. first when the connection to the
// edge failed on a port it forwards: the TCP findings then describe the edge.
func cdnInPath(ev Evidence) (Finding, bool, bool) {
	var ms []cdn.Match
	for _, m := range ev.CDN {
		if !m.Seen {
			ms = append(ms, m)
		}
	}
	if len(ms) == 0 {
		return Finding{}, false, false
	}
	f := newFinding(CauseCDNInPath, High)
	for _, m := range ms {
		f = f.with(cdnMatchLine(m))
	}
	p := ms[0].Provider
	first := false
	if nameConnected(ev) {
		f = f.with(i18n.M("ev.cdn.works", "Provider", cdnProvider(p)))
	} else if len(ev.Addrs) > 0 {
		first = true
		f = f.with(i18n.M("ev.cdn.edge_failed", "Provider", cdnProvider(p), "Port", ev.Target.Port))
	}
	f = f.fix(i18n.M("fix.cdn.origin", "Host", ev.Target.Host))
	if ev.Target.Protocol() == target.WebSocket {
		f = f.fix(i18n.M("fix.cdn.websocket", "Provider", cdnProvider(p), "Ports", cdnPortList(p.Ports())))
	}
	return f, first, true
}

// ---- proxy ----

func proxyDirectLine(ev Evidence, connected bool) i18n.Msg {
	if connected {
		for _, a := range ev.Addrs {
			if a.Connect.Kind == neterr.OK {
				return i18n.M("ev.proxy.direct_ok", "Addr", a.Addr.String())
			}
		}
	}
	return i18n.M("ev.proxy.direct_fails")
}

func proxyBypassFix(ev Evidence, c proxy.Choice) []i18n.Msg {
	return []i18n.Msg{
		i18n.M("fix.proxy.bypass", "Var", c.Var),
		i18n.Cmd(`export NO_PROXY="${NO_PROXY:+$NO_PROXY,}%s" no_proxy="${no_proxy:+$no_proxy,}%s"`, ev.Target.Host, ev.Target.Host),
	}
}

// proxyFinding judges the proxy the client goes through against the direct path.
func proxyFinding(ev Evidence, connected bool) (f Finding, out Outcome, first, ok bool) {
	p := ev.Proxy
	if p == nil || !p.Choice.Applies() {
		return Finding{}, "", false, false
	}
	c := p.Choice
	uses := i18n.M("ev.proxy.uses", "Var", c.Var, "URL", c.Raw)
	if c.URL == nil {
		// The value is not a proxy URL a client can use, or one conndiag cannot test.
		f = newFinding(CauseProxyInPath, Low).with(uses, i18n.M("ev.proxy.untested", "Var", c.Var, "Why", c.Bad)).fix(proxyBypassFix(ev, c)...)
		return f, "", false, true
	}
	r := p.Result
	if r == nil {
		return Finding{}, "", false, false
	}
	f = newFinding(CauseProxyInPath, High).with(uses)
	addr := r.Addr.String()
	switch r.Stage {
	case proxy.StageOK:
		f = f.with(i18n.M("ev.proxy.tunnel_ok", "Target", r.Asked, "Dur", Dur(r.Duration)))
		if !connected {
			f.Confidence = Medium
			f.Summary = i18n.M("summary.proxy.only_proxy", "URL", c.Raw)
			f = f.with(proxyDirectLine(ev, false), i18n.M("ev.proxy.only_proxy_works")).fix(i18n.M("fix.proxy.use", "Var", c.Var, "URL", c.Raw))
			return f, "", false, true
		}
		f.Confidence = Low
		f.Summary = i18n.M("summary.proxy.works", "URL", c.Raw)
		f = f.with(i18n.M("ev.proxy.direct_ok_too")).fix(i18n.M("fix.proxy.informative")).fix(proxyBypassFix(ev, c)...)
		return f, "", false, true
	case proxy.StageResolve:
		f = f.with(i18n.M("ev.proxy.resolve_failed", "Err", r.Err))
		out = OutcomeDNSFailure
	case proxy.StageConnect:
		f = f.with(i18n.M("ev.proxy.connect_failed", "Addr", addr, "Kind", string(r.Connect.Kind), "Dur", Dur(r.Connect.Duration)))
		out = proxyOutcome(r.Connect.Kind)
	case proxy.StageTLS:
		f = f.with(i18n.M("ev.proxy.tls_failed", "Addr", addr, "Err", r.Err))
		out = OutcomeTLSFailure
	case proxy.StageHandshake:
		f = f.with(i18n.M("ev.proxy.handshake_failed", "Addr", addr, "Scheme", r.Scheme, "Err", r.Err))
		out = OutcomeProtocolMismatch
	case proxy.StageRequest:
		var targetSide bool
		if r.Status != 0 {
			f = f.with(i18n.M("ev.proxy.status", "Target", r.Asked, "Status", r.StatusText))
			switch r.Status {
			case 407:
				f = f.with(i18n.M("ev.proxy.auth"))
			case 403:
				f = f.with(i18n.M("ev.proxy.forbidden", "Port", ev.Target.Port))
			}
			targetSide = r.Status == 502 || r.Status == 503 || r.Status == 504
			out = OutcomeRefused
			if r.Status == 504 {
				out = OutcomeTimeout
			}
		} else {
			f = f.with(i18n.M("ev.proxy.reply", "Target", r.Asked, "Reply", r.Reply))
			out = OutcomeRefused
			switch r.Reply {
			case "connection refused":
				targetSide = true
			case "network unreachable", "host unreachable", "TTL expired":
				targetSide, out = true, OutcomeUnreachable
			}
		}
		if targetSide && !connected {
			// The proxy cannot reach the target either: it agrees with the direct path.
			f.Confidence = Medium
			f.Summary = i18n.M("summary.proxy.agrees", "URL", c.Raw)
			f = f.with(proxyDirectLine(ev, false), i18n.M("ev.proxy.agrees")).fix(proxyBypassFix(ev, c)...)
			return f, "", false, true
		}
	}
	f = f.with(proxyDirectLine(ev, connected))
	if r.Stage == proxy.StageRequest {
		f = f.fix(i18n.M("fix.proxy.rules", "Addr", addr))
	} else {
		f = f.fix(i18n.M("fix.proxy.dead", "Addr", addr, "Var", c.Var))
	}
	return f.fix(proxyBypassFix(ev, c)...), out, true, true
}

func proxyOutcome(k neterr.Kind) Outcome {
	switch k {
	case neterr.Refused:
		return OutcomeRefused
	case neterr.Timeout:
		return OutcomeTimeout
	case neterr.HostUnreachable, neterr.NetUnreachable, neterr.PermissionDenied:
		return OutcomeUnreachable
	case neterr.Reset:
		return OutcomeReset
	}
	return OutcomeLocalError
}

// proxyContext explains proxy settings that do not apply to this target.
func proxyContext(ev Evidence) []i18n.Msg {
	p := ev.Proxy
	if p == nil || !p.Choice.Any() || p.Choice.Applies() {
		return nil
	}
	c := p.Choice
	var vars []string
	for _, s := range c.Set {
		vars = append(vars, s.Var)
	}
	switch {
	case c.Bypass == "loopback":
		return []i18n.Msg{i18n.M("ev.proxy.bypass_loopback", "Var", c.Var)}
	case c.Bypass != "":
		return []i18n.Msg{i18n.M("ev.proxy.bypass", "Var", c.Var, "NoProxy", c.Bypass, "Value", c.BypassValue)}
	}
	return []i18n.Msg{i18n.M("ev.proxy.not_for_scheme", "Vars", strings.Join(vars, ", "), "Scheme", ev.Target.Scheme)}
}

// ---- whoami ----

// whoamiFindings compares the address a conndiag listen endpoint saw with
// the client's own: a difference means NAT, a proxy or a CDN in between.
func whoamiFindings(ev Evidence) (lines []i18n.Msg, fs []Finding) {
	// One endpoint's view is enough: the others saw the same client.
	i := slices.IndexFunc(ev.Addrs, func(a AddrEvidence) bool { return a.Whoami != nil })
	if i < 0 {
		return nil, nil
	}
	a, w := ev.Addrs[i], ev.Addrs[i].Whoami
	seen, local := w.Client.Addr().Unmap(), a.Connect.Local.Addr().Unmap()
	if seen.IsValid() && local.IsValid() {
		switch m := whoamiSeenCDN(ev, seen); {
		case seen == local:
			lines = append(lines, i18n.M("ev.whoami.direct", "Seen", seen.String()))
		case m != nil:
			f := newFinding(CauseCDNInPath, Medium)
			f.Summary = i18n.M("summary.whoami.cdn")
			f = f.with(
				i18n.M("ev.whoami.client", "Seen", seen.String(), "Local", local.String()), cdnMatchLine(*m))
			fs = append(fs, f.fix(i18n.M("fix.cdn.origin", "Host", ev.Target.Host)))
		case AddrClass(local) != "" && AddrClass(seen) == "":
			// Ordinary NAT: a private client address translated to a public one.
			lines = append(lines, i18n.M("ev.whoami.nat", "Seen", seen.String(), "Local", local.String(), "Class", i18n.M("class."+AddrClass(local))))
		default:
			f := newFinding(CauseProxyInPath, Low)
			f.Summary = i18n.M("summary.whoami.rewritten")
			f = f.with(i18n.M("ev.whoami.client", "Seen", seen.String(), "Local", local.String()),
				i18n.M("ev.whoami.rewritten", "Local", local.String()))
			fs = append(fs, f.fix(i18n.M("fix.whoami")))
		}
	}
	if srv := w.Server; srv.IsValid() && (srv.Addr().Unmap() != a.Addr.Addr().Unmap() || srv.Port() != a.Addr.Port()) {
		lines = append(lines, i18n.M("ev.whoami.server", "Server", netip.AddrPortFrom(srv.Addr().Unmap(), srv.Port()).String(), "Dialed", a.Addr.String()))
	}
	return lines, fs
}

func whoamiSeenCDN(ev Evidence, a netip.Addr) *cdn.Match {
	for i, m := range ev.CDN {
		if m.Seen && m.Addr == a {
			return &ev.CDN[i]
		}
	}
	return nil
}
