package verdict

import (
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/cdn"
	"github.com/conndiag/conndiag/internal/dnsprobe"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/proxy"
	"github.com/conndiag/conndiag/internal/target"
)

func nTarget(s string) target.Target {
	t, err := target.Parse(s)
	if err != nil {
		panic(err)
	}
	return t
}

func nAddrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func nAnswer(server, rcode string, addrs ...string) *dnsprobe.Answer {
	a := &dnsprobe.Answer{Server: server, Name: "app.test.", Rcode: dnsprobe.NoResponse, Duration: time.Millisecond}
	switch rcode {
	case "NOERROR":
		a.Rcode = 0
	case "NXDOMAIN":
		a.Rcode = 3
	case "SERVFAIL":
		a.Rcode = 2
	case "REFUSED":
		a.Rcode = 5
	default:
		a.Err = "connection refused"
	}
	for _, s := range addrs {
		a.Addrs = append(a.Addrs, dnsprobe.Addr{IP: netip.MustParseAddr(s), TTL: 300})
	}
	return a
}

// nAddr is one address with a connect result; a silent port gets a live probe port so it is "filtered".
func nAddr(ap string, k neterr.Kind) AddrEvidence {
	a := AddrEvidence{Addr: netip.MustParseAddrPort(ap), Connect: neterr.Result{Kind: k, Duration: time.Millisecond}, Timeout: 3 * time.Second}
	if k == neterr.OK {
		a.Connect.Local = netip.MustParseAddrPort("198.51.100.2:40000")
	}
	if k == neterr.Timeout {
		a.Connect.Duration = 3 * time.Second
		a.Others = []PortProbe{{Port: 80, Kind: neterr.OK, Duration: time.Millisecond}}
	}
	return a
}

func nEv(tgt string, d DNS, addrs ...AddrEvidence) Evidence {
	if len(d.Addresses) == 0 {
		for _, a := range addrs {
			d.Addresses = append(d.Addresses, a.Addr.Addr())
		}
	}
	return Evidence{Target: nTarget(tgt), DNS: d, Addrs: addrs}
}

func cfMatch(addr string) cdn.Match {
	p, _ := cdn.ProviderByName("cloudflare")
	a := netip.MustParseAddr(addr)
	return cdn.Match{Provider: p, Addr: a, Range: cdn.Range{Prefix: netip.PrefixFrom(a, 32), Provider: p, Source: "ranges/cloudflare.txt", Date: "2026-11-25"}}
}

func userMatch(addr string) cdn.Match {
	a := netip.MustParseAddr(addr)
	return cdn.Match{Provider: cdn.Provider{}, Addr: a, Range: cdn.Range{Prefix: netip.PrefixFrom(a, 32), Source: "edges.txt", Line: 1}}
}

func nProxy(raw string, r *proxy.Result) *ProxyEvidence {
	u, _ := url.Parse(raw)
	return &ProxyEvidence{Choice: proxy.Choice{Set: []proxy.Setting{{Var: "HTTP_PROXY", Value: raw}}, Var: "HTTP_PROXY", URL: u, Raw: raw}, Result: r}
}

func nTexts(ms []i18n.Msg) string {
	p := i18n.New("en")
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(p.Text(m))
		b.WriteString("\n")
	}
	return b.String()
}

func nAllText(fs []Finding) string {
	p := i18n.New("en")
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(string(f.Cause) + ": " + p.Text(f.Summary) + "\n")
		b.WriteString(nTexts(f.Evidence))
		b.WriteString(nTexts(f.Fix))
	}
	return b.String()
}

func TestNameRanking(t *testing.T) {
	snap := newSnapshot(t)
	const ws = "ws://app.test:8282/"
	sys := "203.0.113.2:8282"
	other := "203.0.113.9:8282"
	hosts := &dnsprobe.HostsEntry{File: "/etc/hosts", Line: 3, Text: "203.0.113.2 app.test", Lines: 1, Addrs: nAddrs("203.0.113.2")}
	dnsSrv := "198.51.100.1:53"

	tests := []struct {
		name    string
		ev      Evidence
		outcome Outcome
		causes  []Cause // the first findings, in order; the first is the verdict
		conf    Confidence
		want    []string // substrings of the rendered findings
		not     []string
	}{
		{name: "expect-ip differs, connection works: the verdict is the mismatch, the outcome stays ok",
			ev:      nEv(ws, DNS{ExpectIP: netip.MustParseAddr("203.0.113.9"), Server: nAnswer(dnsSrv, "NOERROR", "203.0.113.2")}, nAddr(sys, neterr.OK)),
			outcome: OutcomeOK, causes: []Cause{CauseDNSMismatch, CauseOK}, conf: High,
			want: []string{"this machine resolves it to 203.0.113.2   ≠   expected (--expect-ip): 203.0.113.9"}},
		{name: "expect-ip among the answers",
			ev:      nEv(ws, DNS{ExpectIP: netip.MustParseAddr("203.0.113.2"), Server: nAnswer(dnsSrv, "NOERROR", "203.0.113.2")}, nAddr(sys, neterr.OK)),
			outcome: OutcomeOK, causes: []Cause{CauseOK}, conf: High, not: []string{"dns_mismatch"},
			want: []string{"203.0.113.2 (--expect-ip) is among the addresses", "resolved by the DNS server 198.51.100.1:53 (from resolv.conf): 203.0.113.2 (TTL 300)"}},
		{name: "expect-ip differs from a literal target",
			ev:      nEv("203.0.113.2:8282", DNS{Literal: true, ExpectIP: netip.MustParseAddr("203.0.113.9")}, nAddr(sys, neterr.Refused)),
			outcome: OutcomeRefused, causes: []Cause{CauseDNSMismatch, CauseNotListening}, conf: Medium,
			want: []string{"not the expected 203.0.113.9"}},
		{name: "expect-ip differs and the expected address answers",
			ev: nEv(ws, DNS{ExpectIP: netip.MustParseAddr("203.0.113.9"),
				Alt: []AltConnect{{Addr: netip.MustParseAddrPort(other), Result: neterr.Result{Kind: neterr.OK}}}}, nAddr(sys, neterr.Refused)),
			outcome: OutcomeRefused, causes: []Cause{CauseDNSMismatch, CauseNotListening}, conf: High,
			want: []string{"203.0.113.9:8282, the other answer, accepts connections"}},
		{name: "hosts override, connection fails: the override first",
			ev:      nEv(ws, DNS{Hosts: hosts, Server: nAnswer(dnsSrv, "NOERROR", "203.0.113.9")}, nAddr(sys, neterr.Refused)),
			outcome: OutcomeRefused, causes: []Cause{CauseDNSMismatch, CauseNotListening}, conf: High,
			want: []string{"hosts file: 203.0.113.2   ≠   DNS server 198.51.100.1:53: 203.0.113.9 (TTL 300)", "/etc/hosts line 3", "sed -i '3 s/^/# /' /etc/hosts"}},
		{name: "hosts override, connection works: reported after ok",
			ev:      nEv(ws, DNS{Hosts: hosts, Server: nAnswer(dnsSrv, "NOERROR", "203.0.113.9")}, nAddr(sys, neterr.OK)),
			outcome: OutcomeOK, causes: []Cause{CauseOK, CauseDNSMismatch}, conf: High},
		{name: "name only in the hosts file: no mismatch, the line is the evidence",
			ev:      nEv(ws, DNS{Hosts: hosts, Server: nAnswer(dnsSrv, "NXDOMAIN")}, nAddr(sys, neterr.OK)),
			outcome: OutcomeOK, causes: []Cause{CauseOK}, conf: High, not: []string{"dns_mismatch"},
			want: []string{"app.test comes from the hosts file /etc/hosts, line 3"}},
		{name: "resolvers disagree, the other answer connects where this one fails",
			ev: nEv(ws, DNS{Server: nAnswer(dnsSrv, "NOERROR", "203.0.113.2"), Resolver: nAnswer("192.0.2.53:53", "NOERROR", "203.0.113.9"),
				Alt: []AltConnect{{Addr: netip.MustParseAddrPort(other), Result: neterr.Result{Kind: neterr.OK}}}}, nAddr(sys, neterr.Refused)),
			outcome: OutcomeRefused, causes: []Cause{CauseDNSMismatch, CauseNotListening}, conf: High,
			want: []string{"--resolver 192.0.2.53:53: 203.0.113.9 (TTL 300)", "dig +short app.test @192.0.2.53"}},
		{name: "resolvers disagree, both fail: the connection finding first",
			ev: nEv(ws, DNS{Server: nAnswer(dnsSrv, "NOERROR", "203.0.113.2"), Resolver: nAnswer("192.0.2.53:5353", "NOERROR", "203.0.113.9"),
				Alt: []AltConnect{{Addr: netip.MustParseAddrPort(other), Result: neterr.Result{Kind: neterr.Refused}}}}, nAddr(sys, neterr.Refused)),
			outcome: OutcomeRefused, causes: []Cause{CauseNotListening, CauseBoundToLoopback, CauseDNSMismatch}, conf: Medium,
			want: []string{"does not accept connections either", "dig +short app.test @192.0.2.53 -p 5353"}},
		{name: "resolvers disagree, connection works",
			ev:      nEv(ws, DNS{Resolver: nAnswer("192.0.2.53:53", "NXDOMAIN")}, nAddr(sys, neterr.OK)),
			outcome: OutcomeOK, causes: []Cause{CauseOK, CauseDNSMismatch}, conf: High,
			want: []string{"NXDOMAIN (the name does not exist)"}},
		{name: "resolvers overlap: no mismatch",
			ev:      nEv(ws, DNS{Resolver: nAnswer("192.0.2.53:53", "NOERROR", "203.0.113.2", "203.0.113.3")}, nAddr(sys, neterr.OK)),
			outcome: OutcomeOK, causes: []Cause{CauseOK}, conf: High, not: []string{"dns_mismatch"},
			want: []string{"--resolver 192.0.2.53:53 answers"}},
		{name: "Cloudflare edge, port 8282 dropped: cdn_port_not_proxied before filtered",
			ev: func() Evidence {
				e := nEv(ws, DNS{}, nAddr(sys, neterr.Timeout))
				e.CDN = []cdn.Match{cfMatch("203.0.113.2")}
				return e
			}(),
			outcome: OutcomeTimeout, causes: []Cause{CauseCDNPortNotProxied, CauseFiltered}, conf: High,
			want: []string{"Cloudflare forwards only these ports to your server: 80, 443, 2052", "Cloudflare Spectrum", "such as 80, 8080, 8880"},
			not:  []string{string(CauseCDNInPath)}},
		{name: "wss to a Cloudflare edge on 8282: the TLS ports are suggested",
			ev: func() Evidence {
				e := nEv("wss://app.test:8282/", DNS{}, nAddr(sys, neterr.Refused))
				e.CDN = []cdn.Match{cfMatch("203.0.113.2")}
				return e
			}(),
			outcome: OutcomeRefused, causes: []Cause{CauseCDNPortNotProxied, CauseNotListening}, conf: High,
			want: []string{"such as 443, 2053, 2083, 2087, 2096, 8443"}},
		{name: "an edge from --cdn-ranges without a port list: medium",
			ev: func() Evidence {
				e := nEv(ws, DNS{}, nAddr(sys, neterr.Timeout))
				e.CDN = []cdn.Match{userMatch("203.0.113.2")}
				return e
			}(),
			outcome: OutcomeTimeout, causes: []Cause{CauseCDNPortNotProxied, CauseFiltered}, conf: Medium,
			want: []string{"listed as an edge of the CDN in edges.txt line 1", "No port list is known for the CDN", "(80, 443)"}},
		{name: "edge on 443 works: ok, cdn_in_path after",
			ev: func() Evidence {
				e := nEv("wss://app.test/", DNS{}, nAddr("203.0.113.2:443", neterr.OK))
				e.CDN = []cdn.Match{cfMatch("203.0.113.2")}
				return e
			}(),
			outcome: OutcomeOK, causes: []Cause{CauseOK, CauseCDNInPath}, conf: High,
			want: []string{"203.0.113.2 is in Cloudflare's published edge range 203.0.113.2/32 (built-in list of 2026-11-25)"}},
		{name: "edge fails on a forwarded port: cdn_in_path first",
			ev: func() Evidence {
				e := nEv("wss://app.test:8443/", DNS{}, nAddr("203.0.113.2:8443", neterr.Timeout))
				e.CDN = []cdn.Match{cfMatch("203.0.113.2")}
				return e
			}(),
			outcome: OutcomeTimeout, causes: []Cause{CauseCDNInPath, CauseFiltered}, conf: High,
			want: []string{"Port 8443 is one Cloudflare forwards"}},
		{name: "CNAME to Cloudflare, no range match",
			ev: func() Evidence {
				e := nEv(ws, DNS{}, nAddr(sys, neterr.Refused))
				p, _ := cdn.ProviderByName("cloudflare")
				e.CDN = []cdn.Match{{Provider: p, CNAME: "app.test.cdn.cloudflare.net", Suffix: "cdn.cloudflare.net"}}
				return e
			}(),
			outcome: OutcomeRefused, causes: []Cause{CauseCDNPortNotProxied, CauseNotListening}, conf: High,
			want: []string{"CNAME app.test.cdn.cloudflare.net, an edge name of Cloudflare"}},
		{name: "expect-ip and a Cloudflare edge: the port first, the mismatch explained",
			ev: func() Evidence {
				e := nEv(ws, DNS{ExpectIP: netip.MustParseAddr("203.0.113.9")}, nAddr(sys, neterr.Timeout))
				e.CDN = []cdn.Match{cfMatch("203.0.113.2")}
				return e
			}(),
			outcome: OutcomeTimeout, causes: []Cause{CauseCDNPortNotProxied, CauseDNSMismatch, CauseFiltered}, conf: High,
			want: []string{"the record is proxied through the CDN"}},
		{name: "proxy dead, direct works",
			ev: func() Evidence {
				e := nEv(ws, DNS{}, nAddr(sys, neterr.OK))
				e.Proxy = nProxy("http://198.51.100.1:3999", &proxy.Result{Scheme: "http", Stage: proxy.StageConnect, Addr: netip.MustParseAddrPort("198.51.100.1:3999"),
					Connect: neterr.Result{Kind: neterr.Refused}})
				return e
			}(),
			outcome: OutcomeRefused, causes: []Cause{CauseProxyInPath, CauseOK}, conf: High,
			want: []string{"The proxy at 198.51.100.1:3999 cannot be reached: refused", "the proxy is what is in the way", "NO_PROXY"}},
		{name: "proxy forbids, direct works",
			ev: func() Evidence {
				e := nEv(ws, DNS{}, nAddr(sys, neterr.OK))
				e.Proxy = nProxy("http://198.51.100.1:3128", &proxy.Result{Scheme: "http", Stage: proxy.StageRequest, Status: 403, StatusText: "403 Forbidden", Asked: "app.test:8282"})
				return e
			}(),
			outcome: OutcomeRefused, causes: []Cause{CauseProxyInPath, CauseOK}, conf: High,
			want: []string{"with 403 Forbidden", "forbid this destination"}},
		{name: "proxy cannot reach the target, nor can the direct path",
			ev: func() Evidence {
				e := nEv(ws, DNS{}, nAddr(sys, neterr.Refused))
				e.Proxy = nProxy("http://198.51.100.1:3128", &proxy.Result{Scheme: "http", Stage: proxy.StageRequest, Status: 502, StatusText: "502 Bad Gateway"})
				return e
			}(),
			outcome: OutcomeRefused, causes: []Cause{CauseNotListening, CauseBoundToLoopback, CauseProxyInPath}, conf: Medium,
			want: []string{"cannot reach the target either"}},
		{name: "socks proxy says host unreachable, direct works",
			ev: func() Evidence {
				e := nEv(ws, DNS{}, nAddr(sys, neterr.OK))
				e.Proxy = nProxy("socks5://198.51.100.1:1080", &proxy.Result{Scheme: "socks5", Stage: proxy.StageRequest, Reply: "host unreachable"})
				return e
			}(),
			outcome: OutcomeUnreachable, causes: []Cause{CauseProxyInPath, CauseOK}, conf: High,
			want: []string{"with \"host unreachable\""}},
		{name: "proxy speaks another protocol",
			ev: func() Evidence {
				e := nEv(ws, DNS{}, nAddr(sys, neterr.OK))
				e.Proxy = nProxy("socks5://198.51.100.1:3128", &proxy.Result{Scheme: "socks5", Stage: proxy.StageHandshake, Err: "unexpected protocol version 72"})
				return e
			}(),
			outcome: OutcomeProtocolMismatch, causes: []Cause{CauseProxyInPath, CauseOK}, conf: High,
			want: []string{"does not speak socks5: unexpected protocol version 72"}},
		{name: "proxy works, direct works: informative",
			ev: func() Evidence {
				e := nEv(ws, DNS{}, nAddr(sys, neterr.OK))
				e.Proxy = nProxy("http://198.51.100.1:3128", &proxy.Result{Scheme: "http", Stage: proxy.StageOK, Status: 200, Asked: "app.test:8282"})
				return e
			}(),
			outcome: OutcomeOK, causes: []Cause{CauseOK, CauseProxyInPath}, conf: High,
			want: []string{"the tunnel through it works"}},
		{name: "proxy works, direct fails: the direct finding first",
			ev: func() Evidence {
				e := nEv(ws, DNS{}, nAddr(sys, neterr.Timeout))
				e.Proxy = nProxy("http://198.51.100.1:3128", &proxy.Result{Scheme: "http", Stage: proxy.StageOK, Status: 200, Asked: "app.test:8282"})
				return e
			}(),
			outcome: OutcomeTimeout, causes: []Cause{CauseFiltered, CauseFilteredUpstream, CauseProxyInPath}, conf: Medium,
			want: []string{"Through the proxy http://198.51.100.1:3128 the target answers; directly it does not"}},
		{name: "proxy exempted by NO_PROXY",
			ev: func() Evidence {
				e := nEv(ws, DNS{}, nAddr(sys, neterr.OK))
				e.Proxy = nProxy("http://198.51.100.1:3128", nil)
				e.Proxy.Choice.Bypass, e.Proxy.Choice.BypassValue = "NO_PROXY", ".test"
				return e
			}(),
			outcome: OutcomeOK, causes: []Cause{CauseOK}, conf: High, not: []string{"proxy_in_path"},
			want: []string{"NO_PROXY=.test exempts this target"}},
		{name: "the system finds no address, --resolver does",
			ev:      nEv(ws, DNS{NotFound: true, Err: "lookup app.test: no such host", Resolver: nAnswer("1.1.1.1:53", "NOERROR", "203.0.113.2")}),
			outcome: OutcomeDNSFailure, causes: []Cause{CauseDNSFailure, CauseDNSMismatch}, conf: High,
			want: []string{"1.1.1.1:53"}},
		{name: "proxy value not testable",
			ev: func() Evidence {
				e := nEv(ws, DNS{}, nAddr(sys, neterr.OK))
				e.Proxy = &ProxyEvidence{Choice: proxy.Choice{Set: []proxy.Setting{{Var: "HTTP_PROXY"}}, Var: "HTTP_PROXY", Raw: "socks4://p:1080", Bad: "the scheme socks4 is not one conndiag can test"}}
				return e
			}(),
			outcome: OutcomeOK, causes: []Cause{CauseOK, CauseProxyInPath}, conf: High},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, fs := Decide(tt.ev)
			snap.add(tt.name, out, fs)
			var got []Cause
			for _, f := range fs {
				got = append(got, f.Cause)
			}
			if out != tt.outcome || len(got) < len(tt.causes) || !slices.Equal(got[:len(tt.causes)], tt.causes) || fs[0].Confidence != tt.conf {
				t.Fatalf("got %s %v (%s), want %s %v (%s)\n%s", out, got, fs[0].Confidence, tt.outcome, tt.causes, tt.conf, nAllText(fs))
			}
			text := nAllText(fs)
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("missing %q in:\n%s", w, text)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(text, w+":") {
					t.Errorf("unexpected %q in:\n%s", w, text)
				}
			}
		})
	}
}

func TestDNSFailureNamesTheRcode(t *testing.T) {
	snap := newSnapshot(t)
	tests := []struct {
		rcode string
		want  string
		fix   string
	}{
		{"NXDOMAIN", "answered NXDOMAIN: the name app.test does not exist", "dig +trace app.test"},
		{"SERVFAIL", "answered SERVFAIL for app.test:", "dig +cd app.test @198.51.100.1"},
		{"NOERROR", "no A or AAAA record for app.test (no answer)", "dig app.test AAAA"},
		{"REFUSED", "answered REFUSED", "cat /etc/resolv.conf"},
		{"", "did not answer: connection refused", "dig app.test @1.1.1.1"},
	}
	for _, tt := range tests {
		ev := nEv("app.test:80", DNS{Err: "lookup app.test: no such host", Server: nAnswer("198.51.100.1:53", tt.rcode)})
		out, fs := Decide(ev)
		snap.add(tt.rcode, out, fs)
		if out != OutcomeDNSFailure || fs[0].Cause != CauseDNSFailure || len(fs) != 1 {
			t.Fatalf("%s: %s %v", tt.rcode, out, fs)
		}
		text := nAllText(fs)
		if !strings.Contains(text, tt.want) || !strings.Contains(text, tt.fix) {
			t.Errorf("%s: want %q and %q in:\n%s", tt.rcode, tt.want, tt.fix, text)
		}
	}
	// A resolver that does know the name is a second opinion after the failure.
	ev := nEv("app.test:80", DNS{Server: nAnswer("198.51.100.1:53", "NXDOMAIN"), Resolver: nAnswer("192.0.2.53:53", "NOERROR", "203.0.113.2")})
	_, fs := Decide(ev)
	if len(fs) != 2 || fs[0].Cause != CauseDNSFailure || fs[1].Cause != CauseDNSMismatch || fs[1].Confidence != Medium {
		t.Fatalf("got %v", fs)
	}
	if text := nAllText(fs); !strings.Contains(text, "this machine resolves it to nothing   ≠   --resolver 192.0.2.53:53: 203.0.113.2") {
		t.Errorf("answers side by side:\n%s", text)
	}
	// A CNAME chain that ends nowhere is shown.
	a := nAnswer("198.51.100.1:53", "NOERROR")
	a.Chain = []string{"app.test.cdn.cloudflare.net."}
	_, fs = Decide(nEv("app.test:80", DNS{Server: a}))
	if text := nAllText(fs); !strings.Contains(text, "CNAME chain: app.test → app.test.cdn.cloudflare.net.") {
		t.Errorf("chain:\n%s", text)
	}
}

func TestWhoami(t *testing.T) {
	snap := newSnapshot(t)
	w := func(local, seen, server string) Evidence {
		a := nAddr("203.0.113.2:8282", neterr.OK)
		a.Connect.Local = netip.MustParseAddrPort(local)
		a.Whoami = &Whoami{Proto: "tcp", Client: netip.MustParseAddrPort(seen), Server: netip.MustParseAddrPort(server)}
		return nEv("203.0.113.2:8282", DNS{Literal: true}, a)
	}
	tests := []struct {
		name   string
		ev     Evidence
		causes []Cause
		want   string
	}{
		{"same address", w("198.51.100.2:40000", "198.51.100.2:40001", "203.0.113.2:8282"), []Cause{CauseOK}, "no NAT or proxy in between"},
		{"private client behind NAT", w("192.168.1.20:40000", "198.51.100.7:61000", "203.0.113.2:8282"), []Cause{CauseOK}, "192.168.1.20 is a private (RFC 1918) address, translated by a NAT router"},
		{"public client rewritten", w("198.51.100.2:40000", "198.51.100.7:61000", "203.0.113.2:8282"), []Cause{CauseOK, CauseProxyInPath}, "a transparent proxy, a VPN"},
		{"server behind DNAT", w("198.51.100.2:40000", "198.51.100.2:40001", "10.0.0.5:9000"), []Cause{CauseOK}, "arrived at 10.0.0.5:9000 on the server, not at 203.0.113.2:8282"},
		{"seen from a CDN edge", func() Evidence {
			e := w("198.51.100.2:40000", "104.16.1.1:61000", "203.0.113.2:8282")
			m := cfMatch("104.16.1.1")
			m.Seen = true
			e.CDN = []cdn.Match{m}
			return e
		}(), []Cause{CauseOK, CauseCDNInPath}, "The server sees connections arriving from a CDN edge"},
	}
	// A link-local target's zone names an interface of this machine; the
	// server sees the same addresses without it: nothing rewrites them.
	zoned := func() Evidence {
		a := nAddr("[fe80::3%eth0]:8282", neterr.OK)
		a.Connect.Local = netip.MustParseAddrPort("[fe80::2%eth0]:40000")
		a.Whoami = &Whoami{Proto: "websocket", Client: netip.MustParseAddrPort("[fe80::2]:40000"), Server: netip.MustParseAddrPort("[fe80::3]:8282")}
		return nEv("[fe80::3%eth0]:8282", DNS{Literal: true}, a)
	}()
	tests = append(tests, struct {
		name   string
		ev     Evidence
		causes []Cause
		want   string
	}{"zoned link-local, nothing in between", zoned, []Cause{CauseOK}, "no NAT or proxy in between"})
	// The proxy settings and whoami both point at a proxy: one finding holds both.
	withProxy := w("198.51.100.2:40000", "198.51.100.7:61000", "203.0.113.2:8282")
	withProxy.Proxy = nProxy("socks5://198.51.100.1:1080", &proxy.Result{Scheme: "socks5", Stage: proxy.StageOK, Asked: "203.0.113.2:8282"})
	tests = append(tests, struct {
		name   string
		ev     Evidence
		causes []Cause
		want   string
	}{"whoami and a working proxy", withProxy, []Cause{CauseOK, CauseProxyInPath}, "The server saw this client as 198.51.100.7, while it connected from 198.51.100.2"})

	for _, tt := range tests {
		out, fs := Decide(tt.ev)
		snap.add(tt.name, out, fs)
		var got []Cause
		for _, f := range fs {
			got = append(got, f.Cause)
		}
		if out != OutcomeOK || !slices.Equal(got, tt.causes) {
			t.Errorf("%s: %s %v, want %v", tt.name, out, got, tt.causes)
		}
		if text := nAllText(fs); !strings.Contains(text, tt.want) {
			t.Errorf("%s: missing %q in:\n%s", tt.name, tt.want, text)
		}
		if text := nAllText(fs); tt.name == "zoned link-local, nothing in between" && strings.Contains(text, "arrived at") {
			t.Errorf("%s: a zone is not a different server address:\n%s", tt.name, text)
		}
		for _, f := range fs[1:] {
			if f.Cause != CauseOK && f.Confidence == High {
				t.Errorf("%s: whoami evidence is never certain about the cause: %v", tt.name, f)
			}
		}
	}
}
