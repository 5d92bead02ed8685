package verdict

import (
	"net/netip"
	"slices"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
)

// The name stage: every matching row adds a finding. A stressed user needs
// first the finding that changes what to do, so rows place their finding:
//
//   - lead: the proxy itself fails or refuses what the direct path accepts
//     (the client never gets past it); the CDN edge drops the port (the TCP
//     finding describes the edge, and opening the server's firewall would not
//     help); the name leads to the wrong machine (--expect-ip not among the
//     answers, a hosts entry overriding DNS while the connection fails,
//     another answer connecting where this one fails); the connection to a
//     CDN edge fails on a port it forwards.
//   - also: answers that differ while the connection works, a working CDN
//     edge or proxy, a working proxy where the direct path fails, address
//     rewriting that whoami shows.
//
// The outcome changes only when the proxy decides it: that is what the
// client experiences.

type name struct {
	ev        Evidence
	connected bool
}

func (x name) dns() DNS              { return x.ev.DNS }
func (x name) proxy() *ProxyEvidence { return x.ev.Proxy }

// proxyTested: a proxy applies to the target and was tried.
func (x name) proxyTested() bool {
	p := x.proxy()
	return p != nil && p.Choice.Applies() && p.Choice.URL != nil && p.Result != nil
}

func (x name) proxyStage(s evidence.ProxyStage) bool {
	return x.proxyTested() && x.proxy().Result.Stage == s
}

// proxyAgrees: the proxy cannot reach the target either (502/503/504, or a
// SOCKS refused/unreachable), as the direct path cannot.
func (x name) proxyAgrees() bool {
	if !x.proxyStage(evidence.StageRequest) || x.connected {
		return false
	}
	_, _, targetSide := proxyRequestLines(x)
	return targetSide
}

// expectMissing: --expect-ip is not among the system's answers.
func (x name) expectMissing() bool {
	d := x.dns()
	e := d.ExpectIP.Unmap()
	return e.IsValid() && len(d.Addresses) > 0 && !slices.Contains(d.Addresses, e)
}

// hostsOverride: the hosts file gave the answer, and DNS says otherwise.
func (x name) hostsOverride() bool {
	d := x.dns()
	return dnsHostsUsed(d) && d.Server != nil && len(d.Server.Addrs) > 0 && !dnsSameSet(d.Hosts.Addrs, d.Server.IPs())
}

// resolverDisagrees: --resolver answered with other addresses, or none.
func (x name) resolverDisagrees() bool {
	d := x.dns()
	r := d.Resolver
	if r == nil || len(d.Addresses) == 0 || !r.Responded() {
		return false
	}
	return len(r.Addrs) > 0 && !dnsOverlap(r.IPs(), d.Addresses) ||
		len(r.Addrs) == 0 && (r.RcodeName() == "NXDOMAIN" || r.NoAnswer())
}

// resolverOnly: the system found nothing; a resolver that did is a second opinion.
func (x name) resolverOnly() bool {
	d := x.dns()
	return len(d.Addresses) == 0 && d.Resolver != nil && len(d.Resolver.Addrs) > 0
}

func (x name) mismatch() bool {
	return x.expectMissing() || x.hostsOverride() || x.resolverDisagrees() || x.resolverOnly()
}

// edgeDropsPort finds an address whose CDN edge does not forward the
// target's port and where the connection failed.
func (x name) edgeDropsPort() (AddrEvidence, evidence.CDNMatch, bool) {
	for _, a := range x.ev.Addrs {
		m, ok := cdnEdgeOf(x.ev, a.Addr.Addr())
		if ok && !m.Provider.Forwards(x.ev.Target.Port) && cdnFailedAtEdge(a.Connect.Kind) {
			return a, m, true
		}
	}
	return AddrEvidence{}, evidence.CDNMatch{}, false
}

func (x name) edges() []evidence.CDNMatch {
	var ms []evidence.CDNMatch
	for _, m := range x.ev.CDN {
		if !m.Seen {
			ms = append(ms, m)
		}
	}
	return ms
}

// whoami is the first conndiag listen endpoint's view of this client, and
// how it differs from the client's own address.
func (x name) whoami() (a AddrEvidence, seen, local netip.Addr, ok bool) {
	i := slices.IndexFunc(x.ev.Addrs, func(a AddrEvidence) bool { return a.Whoami != nil })
	if i < 0 {
		return AddrEvidence{}, netip.Addr{}, netip.Addr{}, false
	}
	a = x.ev.Addrs[i]
	// A zone names an interface of one side: the server's view has none.
	return a, a.Whoami.Client.Addr().Unmap().WithZone(""), a.Connect.Local.Addr().Unmap().WithZone(""), true
}

func (x name) whoamiRewritten() bool {
	_, seen, local, ok := x.whoami()
	return ok && seen.IsValid() && local.IsValid() && seen != local
}

func (x name) whoamiCDN() *evidence.CDNMatch {
	if !x.whoamiRewritten() {
		return nil
	}
	_, seen, _, _ := x.whoami()
	return whoamiSeenCDN(x.ev, seen)
}

// whoamiNAT: an ordinary NAT, a private client address seen as a public one.
func (x name) whoamiNAT() bool {
	_, seen, local, _ := x.whoami()
	return x.whoamiRewritten() && AddrClass(local) != "" && AddrClass(seen) == ""
}

func leadIf(lead bool) Place {
	if lead {
		return PlaceLead
	}
	return PlaceAlso
}

var nameRules = []Rule[name]{
	// The proxy the client goes through, judged against the direct path.
	{ID: "name.proxy.untested", Cause: CauseProxyInPath, Conf: Low, Place: PlaceAlso,
		When: func(x name) bool { p := x.proxy(); return p != nil && p.Choice.Applies() && p.Choice.URL == nil },
		Make: func(x name) Draft {
			c := x.proxy().Choice
			return Draft{Lines: []i18n.Msg{proxyUses(x), i18n.M("ev.proxy.untested", "Var", c.Var, "Why", c.Bad)}, Fix: proxyBypassFix(x.ev, c)}
		}, Note: "the value is not a proxy URL a client can use, or one conndiag cannot test"},
	{ID: "name.proxy.only_proxy_works", Cause: CauseProxyInPath, Conf: Medium, Place: PlaceAlso,
		When: func(x name) bool { return x.proxyStage(evidence.StageOK) && !x.connected },
		Make: func(x name) Draft {
			c := x.proxy().Choice
			return Draft{Summary: i18n.M("summary.proxy.only_proxy", "URL", c.Raw),
				Lines: []i18n.Msg{proxyUses(x), proxyTunnelLine(x), proxyDirectLine(x.ev, false), i18n.M("ev.proxy.only_proxy_works")},
				Fix:   []i18n.Msg{i18n.M("fix.proxy.use", "Var", c.Var, "URL", c.Raw)}}
		}},
	{ID: "name.proxy.works", Cause: CauseProxyInPath, Conf: Low, Place: PlaceAlso,
		When: func(x name) bool { return x.proxyStage(evidence.StageOK) && x.connected },
		Make: func(x name) Draft {
			c := x.proxy().Choice
			return Draft{Summary: i18n.M("summary.proxy.works", "URL", c.Raw),
				Lines: []i18n.Msg{proxyUses(x), proxyTunnelLine(x), i18n.M("ev.proxy.direct_ok_too")},
				Fix:   append([]i18n.Msg{i18n.M("fix.proxy.informative")}, proxyBypassFix(x.ev, c)...)}
		}, Note: "the proxy and the direct path both work"},
	{ID: "name.proxy.agrees", Cause: CauseProxyInPath, Conf: Medium, Place: PlaceAlso,
		When: name.proxyAgrees,
		Make: func(x name) Draft {
			c := x.proxy().Choice
			lines, _, _ := proxyRequestLines(x)
			lines = append(append([]i18n.Msg{proxyUses(x)}, lines...), proxyDirectLine(x.ev, false), i18n.M("ev.proxy.agrees"))
			return Draft{Summary: i18n.M("summary.proxy.agrees", "URL", c.Raw), Lines: lines, Fix: proxyBypassFix(x.ev, c)}
		}, Note: "the proxy cannot reach the target either, as the direct path cannot"},
	{ID: "name.proxy.fails", Cause: CauseProxyInPath, Conf: High, Place: PlaceLead,
		When: func(x name) bool { return x.proxyTested() && !x.proxyStage(evidence.StageOK) && !x.proxyAgrees() },
		Make: func(x name) Draft {
			c, r := x.proxy().Choice, x.proxy().Result
			lines, out := proxyFailLines(x)
			lines = append(append([]i18n.Msg{proxyUses(x)}, lines...), proxyDirectLine(x.ev, x.connected))
			addr := r.Addr.String()
			fix := []i18n.Msg{i18n.M("fix.proxy.dead", "Addr", addr, "Var", c.Var)}
			if r.Stage == evidence.StageRequest {
				fix = []i18n.Msg{i18n.M("fix.proxy.rules", "Addr", addr)}
			}
			return Draft{Lines: lines, Fix: append(fix, proxyBypassFix(x.ev, c)...), Outcome: out}
		}, Note: "the proxy's failure is what the client meets: the outcome is the proxy's"},

	{ID: "name.cdn_port_not_proxied", Cause: CauseCDNPortNotProxied, Conf: High, Place: PlaceLead,
		ConfOf: func(x name) Confidence {
			if _, m, _ := x.edgeDropsPort(); m.Provider.Documented {
				return High
			}
			return Medium
		},
		When: func(x name) bool { _, _, ok := x.edgeDropsPort(); return ok },
		Make: cdnPortDraft, Note: "high when the provider documents its port list, else medium"},

	// Where the name leads: one finding carries every disagreement, the answers side by side.
	{ID: "name.dns.expect_literal", Cause: CauseDNSMismatch, Conf: Medium, Place: PlaceLead, Part: true,
		When: func(x name) bool { return x.expectMissing() && x.dns().Literal },
		Make: func(x name) Draft {
			d, e := x.dns(), x.dns().ExpectIP.Unmap()
			alt, _ := dnsAltLines(x.ev, []netip.Addr{e})
			return Draft{Lines: append([]i18n.Msg{i18n.M("ev.dns.expect_literal", "Addr", d.Addresses[0].String(), "Expect", e.String())}, alt...),
				Fix: []i18n.Msg{i18n.M("fix.dns.expect_literal", "Expect", e.String())}}
		}, Note: "the target is an address other than --expect-ip"},
	{ID: "name.dns.expect_ip", Cause: CauseDNSMismatch, Conf: High, Place: PlaceLead, Part: true,
		When: func(x name) bool { return x.expectMissing() && !x.dns().Literal },
		Make: func(x name) Draft {
			e := x.dns().ExpectIP.Unmap()
			alt, _ := dnsAltLines(x.ev, []netip.Addr{e})
			return Draft{Lines: append([]i18n.Msg{dnsCompare(dnsSystemSide(x.ev), i18n.M("dns.side.expect", "Addr", e.String()))}, alt...),
				Fix: []i18n.Msg{i18n.M("fix.dns.expect", "Host", x.ev.Target.Host, "Expect", e.String())}}
		}, Note: "--expect-ip is not among the name's addresses"},
	{ID: "name.dns.hosts_override", Cause: CauseDNSMismatch, Conf: High, Part: true,
		ConfOf:  func(x name) Confidence { return map[bool]Confidence{true: Medium, false: High}[x.connected] },
		PlaceOf: func(x name) Place { return leadIf(!x.connected) },
		When:    name.hostsOverride,
		Make: func(x name) Draft {
			d := x.dns()
			lines := []i18n.Msg{
				dnsCompare(i18n.M("dns.side.hosts", "Addrs", dnsAddrList(d.Hosts.Addrs)), i18n.M("dns.side.server", "Server", d.Server.Server, "Answer", dnsAnswerMsg(d.Server))),
				i18n.M("ev.dns.hosts_line", "File", d.Hosts.File, "Line", d.Hosts.Line, "Text", d.Hosts.Text)}
			alt, _ := dnsAltLines(x.ev, d.Server.IPs())
			return Draft{Lines: append(lines, alt...),
				Fix: []i18n.Msg{i18n.M("fix.dns.hosts", "File", d.Hosts.File, "Line", d.Hosts.Line),
					i18n.Cmd("sed -i '%d s/^/# /' %s", d.Hosts.Line, d.Hosts.File)}}
		}, Note: "a hosts entry is a deliberate local override: high and first when the connection fails, even if the DNS address fails too"},
	{ID: "name.dns.resolver_disagrees", Cause: CauseDNSMismatch, Conf: High, Part: true,
		ConfOf:  func(x name) Confidence { return map[bool]Confidence{true: High, false: Medium}[x.resolverDecides()] },
		PlaceOf: func(x name) Place { return leadIf(x.resolverDecides()) },
		When:    name.resolverDisagrees,
		Make: func(x name) Draft {
			d, host := x.dns(), x.ev.Target.Host
			r := d.Resolver
			lines := []i18n.Msg{dnsCompare(dnsSystemSide(x.ev), i18n.M("dns.side.resolver", "Server", r.Server, "Answer", dnsAnswerMsg(r)))}
			if !dnsHostsUsed(d) && d.Server != nil && d.Server.Responded() {
				lines = append(lines, i18n.M("ev.dns.from_server", "Host", host, "Server", d.Server.Server, "Answer", dnsAnswerMsg(d.Server)))
			}
			alt, _ := dnsAltLines(x.ev, r.IPs())
			fix := []i18n.Msg{i18n.M("fix.dns.resolvers"), i18n.Cmd("dig +short %s @%s", host, dnsServerArg(r.Server))}
			if d.Server != nil && d.Server.Responded() {
				fix = append(fix, i18n.Cmd("dig +short %s @%s", host, dnsServerArg(d.Server.Server)))
			}
			if ttl := dnsMaxTTL(d.Server); ttl > 0 {
				fix = append(fix, i18n.M("fix.dns.ttl", "TTL", ttl))
			}
			return Draft{Lines: append(lines, alt...), Fix: fix}
		}, Note: "high and first when the connection fails and the resolver's address connects"},
	{ID: "name.dns.resolver_only", Cause: CauseDNSMismatch, Conf: Medium, Place: PlaceAlso, Part: true,
		When: name.resolverOnly,
		Make: func(x name) Draft {
			r := x.dns().Resolver
			alt, _ := dnsAltLines(x.ev, r.IPs())
			lines := []i18n.Msg{dnsCompare(i18n.M("dns.side.system_none"), i18n.M("dns.side.resolver", "Server", r.Server, "Answer", dnsAnswerMsg(r)))}
			return Draft{Lines: append(lines, alt...),
				Fix: []i18n.Msg{i18n.M("fix.dns.resolvers"), i18n.Cmd("dig +short %s @%s", x.ev.Target.Host, dnsServerArg(r.Server))}}
		}, Note: "the system found no address; --resolver did"},
	{ID: "name.dns.cdn_explains", Cause: CauseDNSMismatch, Conf: Low, Place: PlaceAlso, Part: true,
		When: func(x name) bool { _, ok := x.cdnAnswer(); return ok && x.mismatch() },
		Make: func(x name) Draft {
			m, _ := x.cdnAnswer()
			return Draft{Lines: []i18n.Msg{i18n.M("ev.dns.cdn_explains", "Addr", m.Addr.String(), "Provider", cdnProvider(m.Provider))}, Fix: []i18n.Msg{}}
		}, Note: "a CDN edge among the answers explains answers that differ by place"},

	{ID: "name.cdn_in_path", Cause: CauseCDNInPath, Conf: High,
		PlaceOf: func(x name) Place { return leadIf(!x.connected && len(x.ev.Addrs) > 0) },
		When:    func(x name) bool { return len(x.edges()) > 0 },
		Make:    cdnInPathDraft, Note: "first when the connection to the edge fails on a port it forwards"},

	// What a conndiag listen endpoint saw of this client.
	{ID: "name.whoami.cdn", Cause: CauseCDNInPath, Conf: Medium, Place: PlaceAlso,
		When: func(x name) bool { return x.whoamiCDN() != nil },
		Make: func(x name) Draft {
			_, seen, local, _ := x.whoami()
			return Draft{Summary: i18n.M("summary.whoami.cdn"),
				Lines: []i18n.Msg{i18n.M("ev.whoami.client", "Seen", seen.String(), "Local", local.String()), cdnMatchLine(*x.whoamiCDN())},
				Fix:   []i18n.Msg{i18n.M("fix.cdn.origin", "Host", x.ev.Target.Host)}}
		}, Note: "the server saw a CDN edge's address as the client"},
	{ID: "name.whoami.rewritten", Cause: CauseProxyInPath, Conf: Low, Place: PlaceAlso,
		When: func(x name) bool { return x.whoamiRewritten() && x.whoamiCDN() == nil && !x.whoamiNAT() },
		Make: func(x name) Draft {
			_, seen, local, _ := x.whoami()
			return Draft{Summary: i18n.M("summary.whoami.rewritten"),
				Lines: []i18n.Msg{i18n.M("ev.whoami.client", "Seen", seen.String(), "Local", local.String()),
					i18n.M("ev.whoami.rewritten", "Local", local.String())},
				Fix: []i18n.Msg{i18n.M("fix.whoami")}}
		}, Note: "the server saw another client address, not one NAT explains"},

	nameFamilyMismatch,
}

func (x name) resolverDecides() bool {
	_, altOK := dnsAltLines(x.ev, x.dns().Resolver.IPs())
	return !x.connected && altOK
}

// cdnAnswer: one of the system's answers lies in a CDN's range.
func (x name) cdnAnswer() (evidence.CDNMatch, bool) {
	for _, m := range x.ev.CDN {
		if m.ByRange() && !m.Seen && slices.Contains(x.dns().Addresses, m.Addr) {
			return m, true
		}
	}
	return evidence.CDNMatch{}, false
}

// withName adds the name stage's findings to the connection verdict (out,
// fs), ranks them, and gives the verdict finding the name's context: where
// the answer came from, proxy settings that do not apply, what whoami saw.
func withName(ev Evidence, out Outcome, fs []Finding) (Outcome, []Finding) {
	x := name{ev: ev, connected: nameConnected(ev)}
	nfs, nout := decideAll(nameRules, x)
	if nout != "" {
		out = nout
	}
	all := rank(append(nfs, fs...), false)
	if len(all) > 0 {
		v := &all[0]
		switch v.Cause {
		case CauseDNSMismatch, CauseDNSFailure:
		default:
			v.Evidence = append(v.Evidence, dnsProvenance(ev)...)
		}
		v.Evidence = append(v.Evidence, proxyContext(ev)...)
		v.Evidence = append(v.Evidence, whoamiLines(x)...)
	}
	return out, all
}

// whoamiLines say what whoami showed that is no finding: a direct path, NAT,
// a server address other than the one dialed.
func whoamiLines(x name) []i18n.Msg {
	a, seen, local, ok := x.whoami()
	if !ok {
		return nil
	}
	var lines []i18n.Msg
	switch {
	case !seen.IsValid() || !local.IsValid():
	case seen == local:
		lines = append(lines, i18n.M("ev.whoami.direct", "Seen", seen.String()))
	case x.whoamiCDN() == nil && x.whoamiNAT():
		lines = append(lines, i18n.M("ev.whoami.nat", "Seen", seen.String(), "Local", local.String(), "Class", i18n.M("class."+AddrClass(local))))
	}
	if srv := a.Whoami.Server; srv.IsValid() && (srv.Addr().Unmap().WithZone("") != a.Addr.Addr().Unmap().WithZone("") || srv.Port() != a.Addr.Port()) {
		lines = append(lines, i18n.M("ev.whoami.server", "Server", netip.AddrPortFrom(srv.Addr().Unmap(), srv.Port()).String(), "Dialed", a.Addr.String()))
	}
	return lines
}

func cdnPortDraft(x name) Draft {
	a, m, _ := x.edgeDropsPort()
	p, port := m.Provider, x.ev.Target.Port
	portsLine := i18n.M("ev.cdn.ports_assumed", "Provider", cdnProvider(p), "Ports", cdnPortList(p.Ports()), "Port", port)
	if p.Documented {
		portsLine = i18n.M("ev.cdn.ports", "Provider", cdnProvider(p), "Ports", cdnPortList(p.Ports()), "Port", port)
	}
	fix := []i18n.Msg{i18n.M("fix.cdn.port", "Provider", cdnProvider(p), "Ports", cdnPortList(cdnSuggestPorts(p, x.ev.Target.TLS()))),
		i18n.M("fix.cdn.dns_only", "Host", x.ev.Target.Host)}
	if p.TCPProduct != "" {
		fix = append(fix, i18n.M("fix.cdn.tcp_product", "Product", p.TCPProduct))
	} else {
		fix = append(fix, i18n.M("fix.cdn.tcp_product_any"))
	}
	return Draft{Lines: []i18n.Msg{cdnMatchLine(m), portsLine, connectLine(a)}, Fix: fix}
}

func cdnInPathDraft(x name) Draft {
	ms := x.edges()
	var lines []i18n.Msg
	for _, m := range ms {
		lines = append(lines, cdnMatchLine(m))
	}
	p := ms[0].Provider
	if x.connected {
		lines = append(lines, i18n.M("ev.cdn.works", "Provider", cdnProvider(p)))
	} else if len(x.ev.Addrs) > 0 {
		lines = append(lines, i18n.M("ev.cdn.edge_failed", "Provider", cdnProvider(p), "Port", x.ev.Target.Port))
	}
	fix := []i18n.Msg{i18n.M("fix.cdn.origin", "Host", x.ev.Target.Host)}
	if x.ev.Target.Protocol() == evidence.ProtoWebSocket {
		fix = append(fix, i18n.M("fix.cdn.websocket", "Provider", cdnProvider(p), "Ports", cdnPortList(p.Ports())))
	}
	return Draft{Lines: lines, Fix: fix}
}

func proxyUses(x name) i18n.Msg {
	c := x.proxy().Choice
	return i18n.M("ev.proxy.uses", "Var", c.Var, "URL", c.Raw)
}

func proxyTunnelLine(x name) i18n.Msg {
	r := x.proxy().Result
	return i18n.M("ev.proxy.tunnel_ok", "Target", r.Asked, "Dur", Dur(r.Duration))
}

// proxyRequestLines: the proxy answered the CONNECT with a failure. targetSide
// says the failure is the target's (the proxy cannot reach it either).
func proxyRequestLines(x name) (lines []i18n.Msg, out Outcome, targetSide bool) {
	r := x.proxy().Result
	if r.Status != 0 {
		lines = append(lines, i18n.M("ev.proxy.status", "Target", r.Asked, "Status", r.StatusText))
		switch r.Status {
		case 407:
			lines = append(lines, i18n.M("ev.proxy.auth"))
		case 403:
			lines = append(lines, i18n.M("ev.proxy.forbidden", "Port", x.ev.Target.Port))
		}
		out = OutcomeRefused
		if r.Status == 504 {
			out = OutcomeTimeout
		}
		return lines, out, r.Status == 502 || r.Status == 503 || r.Status == 504
	}
	lines = append(lines, i18n.M("ev.proxy.reply", "Target", r.Asked, "Reply", r.Reply))
	switch r.Reply {
	case "connection refused":
		return lines, OutcomeRefused, true
	case "network unreachable", "host unreachable", "TTL expired":
		return lines, OutcomeUnreachable, true
	}
	return lines, OutcomeRefused, false
}

// proxyFailLines say where the way through the proxy broke, and what the client meets then.
func proxyFailLines(x name) ([]i18n.Msg, Outcome) {
	r := x.proxy().Result
	addr := r.Addr.String()
	switch r.Stage {
	case evidence.StageResolve:
		return []i18n.Msg{i18n.M("ev.proxy.resolve_failed", "Err", r.Err)}, OutcomeDNSFailure
	case evidence.StageConnect:
		return []i18n.Msg{i18n.M("ev.proxy.connect_failed", "Addr", addr, "Kind", string(r.Connect.Kind), "Dur", Dur(r.Connect.Duration))}, proxyOutcome(r.Connect.Kind)
	case evidence.StageTLS:
		return []i18n.Msg{i18n.M("ev.proxy.tls_failed", "Addr", addr, "Err", r.Err)}, OutcomeTLSFailure
	case evidence.StageHandshake:
		return []i18n.Msg{i18n.M("ev.proxy.handshake_failed", "Addr", addr, "Scheme", r.Scheme, "Err", r.Err)}, OutcomeProtocolMismatch
	case evidence.StageRequest:
		lines, out, _ := proxyRequestLines(x)
		return lines, out
	}
	return nil, ""
}
