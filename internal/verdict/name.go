package verdict

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
)

// Name-level rules: the name leads somewhere other than the user thinks —
// another address than the server's (dns_mismatch), a CDN edge (cdn_in_path,
// cdn_port_not_proxied), a proxy (proxy_in_path) — plus what a conndiag
// listen endpoint's whoami answer shows about NAT and proxies in between.

// ProxyEvidence is the client's proxy configuration and the test of the proxy.
type ProxyEvidence = evidence.ProxyEvidence

// AltConnect is a connect to an address another source gave for the name.
type AltConnect = evidence.AltConnect

// ---- DNS ----

// dnsAddrList and dnsTTLList list at most maxListed addresses (bulk.go).
func dnsAddrList(as []netip.Addr) any {
	s := make([]string, 0, len(as))
	for _, a := range as {
		s = append(s, a.String())
	}
	return listArg(s)
}

func dnsTTLList(as []evidence.DNSAddr) any {
	s := make([]string, 0, len(as))
	for _, a := range as {
		s = append(s, fmt.Sprintf("%s (TTL %d)", a.IP, a.TTL))
	}
	return listArg(s)
}

func dnsChain(a *evidence.DNSAnswer) string {
	names := make([]string, 0, len(a.Chain))
	for _, n := range a.Chain {
		names = append(names, strings.TrimSuffix(n, "."))
	}
	return strings.Join(names, " → ")
}

// dnsAnswerMsg says in a few words what one DNS answer was.
func dnsAnswerMsg(a *evidence.DNSAnswer) i18n.Msg {
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
		if alt.Result.Kind == evidence.OK {
			connects = true
			lines = append(lines, i18n.M("ev.dns.alt_ok", "Addr", alt.Addr.String(), "Dur", Dur(alt.Result.Duration)))
		} else {
			lines = append(lines, i18n.M("ev.dns.alt_fail", "Addr", alt.Addr.String(), "Kind", string(alt.Result.Kind)))
		}
	}
	return lines, connects
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

func dnsMaxTTL(a *evidence.DNSAnswer) uint32 {
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

func cdnProvider(p evidence.CDNProvider) i18n.Msg {
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
func cdnEdgeOf(ev Evidence, a netip.Addr) (evidence.CDNMatch, bool) {
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
	return evidence.CDNMatch{}, false
}

func cdnMatchLine(m evidence.CDNMatch) i18n.Msg {
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

func cdnFailedAtEdge(k evidence.Kind) bool {
	return k == evidence.Timeout || k == evidence.Refused || k == evidence.Reset
}

// cdnSuggestPorts are the forwarded ports that fit the target: the TLS ones for wss/https/tls.
func cdnSuggestPorts(p evidence.CDNProvider, tls bool) []uint16 {
	if tls && len(p.HTTPSPorts) > 0 {
		return p.HTTPSPorts
	}
	if !tls && len(p.HTTPPorts) > 0 {
		return p.HTTPPorts
	}
	return p.Ports()
}

// ---- proxy ----

func proxyDirectLine(ev Evidence, connected bool) i18n.Msg {
	if connected {
		for _, a := range ev.Addrs {
			if a.Connect.Kind == evidence.OK {
				return i18n.M("ev.proxy.direct_ok", "Addr", a.Addr.String())
			}
		}
	}
	return i18n.M("ev.proxy.direct_fails")
}

func proxyBypassFix(ev Evidence, c evidence.ProxyChoice) []i18n.Msg {
	return []i18n.Msg{
		i18n.M("fix.proxy.bypass", "Var", c.Var),
		i18n.Cmd(`export NO_PROXY="${NO_PROXY:+$NO_PROXY,}%s" no_proxy="${no_proxy:+$no_proxy,}%s"`, ev.Target.Host, ev.Target.Host),
	}
}

func proxyOutcome(k evidence.Kind) Outcome {
	switch k {
	case evidence.Refused:
		return OutcomeRefused
	case evidence.Timeout:
		return OutcomeTimeout
	case evidence.HostUnreachable, evidence.NetUnreachable, evidence.PermissionDenied:
		return OutcomeUnreachable
	case evidence.Reset:
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

func whoamiSeenCDN(ev Evidence, a netip.Addr) *evidence.CDNMatch {
	for i, m := range ev.CDN {
		if m.Seen && m.Addr == a {
			return &ev.CDN[i]
		}
	}
	return nil
}
