//go:build linux

package integration

// The name leads elsewhere (issue 6): a DNS server inside a namespace,
// per-namespace hosts files, a namespace playing a CDN edge, and real HTTP
// CONNECT and SOCKS5 proxies, all driven through the real binary.

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netns"

	"github.com/conndiag/conndiag/internal/probe/probetest"
	"github.com/conndiag/conndiag/internal/testbed"
)

// record is what the test DNS server says about one name.
type record struct {
	a     []string // A and AAAA addresses, at the end of the CNAME when there is one
	cname string
	rcode int // dns.RcodeSuccess unless set
}

// dnsServer serves zone on addr:53 (UDP and TCP) inside ns; unknown names get NXDOMAIN.
func dnsServer(t *testing.T, ns *testbed.NS, addr string, zone map[string]record) {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.RecursionAvailable = true
		name, qt := strings.ToLower(q.Question[0].Name), q.Question[0].Qtype
		r, ok := zone[strings.TrimSuffix(name, ".")]
		if !ok {
			m.Rcode = dns.RcodeNameError
			w.WriteMsg(m)
			return
		}
		m.Rcode = r.rcode
		owner := name
		if r.cname != "" {
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 300}, Target: dns.Fqdn(r.cname)})
			owner = dns.Fqdn(r.cname)
		}
		for _, s := range r.a {
			ip := netip.MustParseAddr(s)
			hdr := dns.RR_Header{Name: owner, Class: dns.ClassINET, Ttl: 60}
			switch {
			case ip.Is4() && qt == dns.TypeA:
				hdr.Rrtype = dns.TypeA
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: ip.AsSlice()})
			case ip.Is6() && qt == dns.TypeAAAA:
				hdr.Rrtype = dns.TypeAAAA
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip.AsSlice()})
			}
		}
		w.WriteMsg(m)
	})
	pc := ns.ListenPacket(t, "udp", addr+":53")
	ln := ns.Listen(t, "tcp", addr+":53")
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		go s.ActivateAndServe()
		t.Cleanup(func() { s.Shutdown() })
	}
}

// nameNet is a Chain whose client asks the DNS server on the router.
func nameNet(t *testing.T, zone map[string]record) *testbed.ChainNet {
	n := testbed.Chain(t)
	dnsServer(t, n.Router, "198.51.100.1", zone)
	n.Client.Hosts(t, "127.0.0.1 localhost\n")
	n.Client.ResolvConf(t, "nameserver 198.51.100.1\noptions timeout:1 attempts:1\n")
	return n
}

// checkWith runs `env ENV... conndiag check --json ARGS` in ns and decodes the one report.
func checkWith(t *testing.T, ns *testbed.NS, env []string, args ...string) (report, int) {
	t.Helper()
	argv := append(append(append([]string{}, env...), bin, "check", "--json"), args...)
	stdout, stderr, code := testbed.Exec(t, ns, "env", argv...)
	var r report
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &r); err != nil {
		t.Fatalf("check %v %v: %v\nstdout:\n%s\nstderr:\n%s", env, args, err, stdout, stderr)
	}
	return r, code
}

// expectWith asserts outcome and verdict (cause and confidence) and the exit code.
func expectWith(t *testing.T, ns *testbed.NS, env []string, outcome, cause, conf string, args ...string) report {
	t.Helper()
	r, code := checkWith(t, ns, env, args...)
	if r.Outcome != outcome || r.Verdict.Cause != cause || (conf != "" && r.Verdict.Confidence != conf) {
		t.Fatalf("check %v %v: got %s / %s (%s), want %s / %s (%s)\n%s", env, args, r.Outcome, r.Verdict.Cause, r.Verdict.Confidence, outcome, cause, conf, dump(r))
	}
	if want := map[bool]int{true: 0, false: 1}[cause == "ok"]; code != want {
		t.Fatalf("check %v: exit %d, want %d\n%s", args, code, want, dump(r))
	}
	return r
}

func hasFinding(r report, cause string) bool {
	for _, f := range r.Findings {
		if f.Cause == cause {
			return true
		}
	}
	return false
}

func mustEvidence(t *testing.T, r report, substrs ...string) {
	t.Helper()
	for _, s := range substrs {
		if !hasEvidence(r, s) {
			t.Errorf("missing evidence %q:\n%s", s, dump(r))
		}
	}
}

func hasProbe(r report, name, result string) bool {
	for _, p := range r.Probes {
		if p.Name == name && p.Result == result {
			return true
		}
	}
	return false
}

// NXDOMAIN, SERVFAIL and no answer are dns_failure, each named.
func TestCheckDNSFailureRcodes(t *testing.T) {
	testbed.RequireRoot(t)
	n := nameNet(t, map[string]record{
		"app.test":   {a: []string{"203.0.113.2"}},
		"fail.test":  {rcode: dns.RcodeServerFailure},
		"empty.test": {},
	})
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "203.0.113.2:8282"))

	for _, tt := range []struct{ name, ev, probe string }{
		{"nosuch.test", "answered NXDOMAIN", "nxdomain"},
		{"fail.test", "answered SERVFAIL", "servfail"},
		{"empty.test", "with no A or AAAA record for empty.test (no answer)", "no_answer"},
	} {
		r := expectWith(t, n.Client, nil, "dns_failure", "dns_failure", "high", tt.name+":8282")
		mustEvidence(t, r, "The DNS server 198.51.100.1:53 answered", tt.ev)
		if !hasProbe(r, "dns_server", tt.probe) {
			t.Errorf("%s: want a dns_server probe %q: %s", tt.name, tt.probe, dump(r))
		}
	}
	r := expectWith(t, n.Client, nil, "ok", "ok", "high", "app.test:8282")
	mustEvidence(t, r, "app.test was resolved by the DNS server 198.51.100.1:53 (from resolv.conf): 203.0.113.2 (TTL 60)")
}

// The hosts file overrides DNS with a stale address: dns_mismatch, both answers side by side.
func TestCheckHostsOverride(t *testing.T) {
	testbed.RequireRoot(t)
	n := nameNet(t, map[string]record{"app.test": {a: []string{"203.0.113.2"}}})
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "203.0.113.2:8282"))
	// 203.0.113.1 is the router: it answers port 8282 with a RST.
	n.Client.Hosts(t, "127.0.0.1 localhost\n203.0.113.1 app.test\n")

	r := expectWith(t, n.Client, nil, "refused", "dns_mismatch", "high", "app.test:8282")
	mustEvidence(t, r,
		"hosts file: 203.0.113.1   ≠   DNS server 198.51.100.1:53: 203.0.113.2 (TTL 60)",
		`line 2: "203.0.113.1 app.test" overrides what DNS says`,
		"203.0.113.2:8282, the other answer, accepts connections")
	if !hasFinding(r, "not_listening") {
		t.Errorf("the connection finding for the hosts address follows: %s", dump(r))
	}

	// An entry that agrees with DNS is no mismatch; the line is still named.
	n.Client.Hosts(t, "127.0.0.1 localhost\n203.0.113.2 app.test\n")
	r = expectWith(t, n.Client, nil, "ok", "ok", "high", "app.test:8282")
	mustEvidence(t, r, `app.test comes from the hosts file /etc/hosts, line 2: "203.0.113.2 app.test"`)
	if hasFinding(r, "dns_mismatch") {
		t.Errorf("hosts and DNS agree: %s", dump(r))
	}
}

// --resolver disagrees with the system's DNS server, and --expect-ip with both.
func TestCheckResolverAndExpectIP(t *testing.T) {
	testbed.RequireRoot(t)
	n := nameNet(t, map[string]record{
		"app.test":  {a: []string{"203.0.113.1"}}, // stale: the router
		"good.test": {a: []string{"203.0.113.2"}},
	})
	// A second DNS server, on the server host, knows the right address.
	dnsServer(t, n.Server, "203.0.113.2", map[string]record{
		"app.test":  {a: []string{"203.0.113.2"}},
		"good.test": {a: []string{"203.0.113.2"}},
	})
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "203.0.113.2:8282"))

	r := expectWith(t, n.Client, nil, "refused", "dns_mismatch", "high", "app.test:8282", "--resolver", "203.0.113.2")
	mustEvidence(t, r,
		"this machine resolves it to 203.0.113.1   ≠   --resolver 203.0.113.2:53: 203.0.113.2 (TTL 60)",
		"203.0.113.2:8282, the other answer, accepts connections")
	if !hasProbe(r, "dns_resolver", "noerror") || !hasProbe(r, "tcp_connect_alt", "ok") {
		t.Errorf("probes: %s", dump(r))
	}

	r = expectWith(t, n.Client, nil, "ok", "ok", "high", "good.test:8282", "--resolver", "203.0.113.2:53")
	mustEvidence(t, r, "--resolver 203.0.113.2:53 gives the same addresses")

	// The connection works, but not to the machine the user means: exit 1.
	r = expectWith(t, n.Client, nil, "ok", "dns_mismatch", "high", "good.test:8282", "--expect-ip", "203.0.113.9", "--timeout", "1s")
	mustEvidence(t, r, "this machine resolves it to 203.0.113.2   ≠   expected (--expect-ip): 203.0.113.9")
	if !hasFinding(r, "ok") {
		t.Errorf("the working connection is still reported: %s", dump(r))
	}
	r = expectWith(t, n.Client, nil, "refused", "dns_mismatch", "high", "app.test:8282", "--expect-ip", "203.0.113.2")
	mustEvidence(t, r, "203.0.113.2:8282, the other answer, accepts connections")
	expectWith(t, n.Client, nil, "ok", "ok", "high", "good.test:8282", "--expect-ip", "203.0.113.2")
}

// The server host plays a CDN edge that forwards only 80 and 443 and drops every other port.
func TestCheckCDNEdge(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := nameNet(t, map[string]record{
		"app.test": {cname: "app.test.cdn.cloudflare.net", a: []string{"203.0.113.2"}},
	})
	for _, p := range []string{"80", "443"} {
		n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "203.0.113.2:"+p))
	}
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "-m", "multiport", "!", "--dports", "80,443", "-j", "DROP")
	ranges := filepath.Join(t.TempDir(), "edges.txt")
	if err := os.WriteFile(ranges, []byte("# the test edge\n203.0.113.2/32 Test CDN\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	r := expectWith(t, n.Client, nil, "timeout", "cdn_port_not_proxied", "medium", "203.0.113.2:8282", "--cdn-ranges", ranges)
	mustEvidence(t, r, "listed as an edge of Test CDN in "+ranges+" line 2", "port 8282 is not one of them")
	if len(r.Findings) < 2 || r.Findings[1].Cause != "filtered" {
		t.Errorf("the TCP finding follows the CDN verdict: %s", dump(r))
	}
	r = expectWith(t, n.Client, nil, "ok", "ok", "high", "203.0.113.2:443", "--cdn-ranges", ranges)
	if !hasFinding(r, "cdn_in_path") {
		t.Errorf("a working edge is still reported as cdn_in_path: %s", dump(r))
	}
	// Without the list, the same address is no CDN.
	r = expectWith(t, n.Client, nil, "timeout", "filtered", "", "203.0.113.2:8282")
	if hasFinding(r, "cdn_port_not_proxied") || hasFinding(r, "cdn_in_path") {
		t.Errorf("no list, no CDN: %s", dump(r))
	}
	// A CNAME into Cloudflare: its documented port list makes it certain.
	r = expectWith(t, n.Client, nil, "timeout", "cdn_port_not_proxied", "high", "ws://app.test:8282/")
	mustEvidence(t, r, "CNAME app.test.cdn.cloudflare.net, an edge name of Cloudflare", "Cloudflare forwards only these ports")
	found := false
	for _, f := range r.Findings[0].Fix {
		found = found || strings.Contains(f, "Cloudflare Spectrum")
	}
	if !found {
		t.Errorf("the TCP-proxy product is among the fixes: %s", dump(r))
	}
}

// dialIn dials addr from inside ns on a locked thread, so a proxy serving in
// the test process can reach the target from the router namespace.
func dialIn(ns *testbed.NS, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer orig.Close()
	h, err := netns.GetFromName(ns.Name())
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	c, derr := net.DialTimeout("tcp", addr, 2*time.Second)
	if err := netns.Set(orig); err == nil {
		runtime.UnlockOSThread() // else the thread dies with the goroutine
	}
	return c, derr
}

// serveConns accepts on ln and runs h per connection until cleanup.
func serveConns(t *testing.T, ln net.Listener, h func(net.Conn)) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				h(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
}

func pipe(a, b net.Conn) {
	go io.Copy(a, b)
	io.Copy(b, a)
}

// connectProxy is an HTTP CONNECT proxy that dials from ns; deny answers 403 to everything.
func connectProxy(ns *testbed.NS, deny bool) func(net.Conn) {
	return func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil || req.Method != http.MethodConnect {
			io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\n\r\n")
			return
		}
		if deny {
			io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
			return
		}
		up, err := dialIn(ns, req.Host)
		if err != nil {
			io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
			return
		}
		defer up.Close()
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
		pipe(c, up)
	}
}

// socksProxy is a SOCKS5 server (RFC 1928, no authentication, CONNECT) that dials from ns.
func socksProxy(ns *testbed.NS) func(net.Conn) {
	return func(c net.Conn) {
		b := make([]byte, 262)
		if _, err := io.ReadFull(c, b[:2]); err != nil || b[0] != 5 {
			return
		}
		if _, err := io.ReadFull(c, b[:b[1]]); err != nil {
			return
		}
		c.Write([]byte{5, 0})
		if _, err := io.ReadFull(c, b[:4]); err != nil || b[1] != 1 {
			return
		}
		var host string
		switch b[3] {
		case 1:
			io.ReadFull(c, b[:4])
			host = netip.AddrFrom4([4]byte(b[:4])).String()
		case 3:
			io.ReadFull(c, b[:1])
			l := int(b[0])
			io.ReadFull(c, b[:l])
			host = string(b[:l])
		case 4:
			io.ReadFull(c, b[:16])
			host = netip.AddrFrom16([16]byte(b[:16])).String()
		default:
			return
		}
		if _, err := io.ReadFull(c, b[:2]); err != nil {
			return
		}
		up, err := dialIn(ns, net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(b[:2])))))
		if err != nil {
			c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0}) // connection refused
			return
		}
		defer up.Close()
		c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
		pipe(c, up)
	}
}

// Proxies in the router namespace, working and dead; the client's environment points at them.
func TestCheckProxies(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Chain(t)
	probetest.ServeHTTP(t, n.Server.Listen(t, "tcp", "203.0.113.2:8282"), probetest.HTTP("nginx/1.24.0"), nil)
	serveConns(t, n.Router.Listen(t, "tcp", "198.51.100.1:3128"), connectProxy(n.Router, false))
	serveConns(t, n.Router.Listen(t, "tcp", "198.51.100.1:3129"), connectProxy(n.Router, true))
	serveConns(t, n.Router.Listen(t, "tcp", "198.51.100.1:1080"), socksProxy(n.Router))
	const web, raw = "http://203.0.113.2:8282/", "203.0.113.2:8282"

	// A working HTTP proxy: the connection is ok, and the proxy is reported.
	r := expectWith(t, n.Client, []string{"HTTP_PROXY=http://198.51.100.1:3128"}, "ok", "ok", "high", web)
	if !hasFinding(r, "proxy_in_path") || !hasEvidence(r, "the CONNECT to 203.0.113.2:8282 works") {
		t.Errorf("working proxy: %s", dump(r))
	}
	// A dead proxy is the verdict, even though the server answers directly.
	r = expectWith(t, n.Client, []string{"http_proxy=198.51.100.1:3999"}, "refused", "proxy_in_path", "high", web)
	mustEvidence(t, r, "The proxy at 198.51.100.1:3999 cannot be reached: refused", "Directly, without the proxy, 203.0.113.2:8282 accepts connections")
	// A proxy that refuses the CONNECT answers differently from the direct path.
	r = expectWith(t, n.Client, []string{"HTTP_PROXY=http://198.51.100.1:3129"}, "refused", "proxy_in_path", "high", web)
	mustEvidence(t, r, "with 403 Forbidden")
	// NO_PROXY exempts the target: the dead proxy does not matter.
	r = expectWith(t, n.Client, []string{"HTTP_PROXY=http://198.51.100.1:3999", "NO_PROXY=203.0.113.0/24"}, "ok", "ok", "high", web)
	if hasFinding(r, "proxy_in_path") || !hasEvidence(r, "NO_PROXY=203.0.113.0/24 exempts this target") {
		t.Errorf("exempted: %s", dump(r))
	}
	// Plain TCP clients ignore HTTP_PROXY.
	r = expectWith(t, n.Client, []string{"HTTP_PROXY=http://198.51.100.1:3999"}, "ok", "ok", "high", raw)
	if hasFinding(r, "proxy_in_path") {
		t.Errorf("HTTP_PROXY does not apply to a tcp target: %s", dump(r))
	}

	// SOCKS5 through ALL_PROXY.
	r = expectWith(t, n.Client, []string{"ALL_PROXY=socks5://198.51.100.1:1080"}, "ok", "ok", "high", raw)
	if !hasFinding(r, "proxy_in_path") || !hasProbe(r, "proxy_socks5", "ok") {
		t.Errorf("working SOCKS5 proxy: %s", dump(r))
	}
	r = expectWith(t, n.Client, []string{"all_proxy=socks5h://198.51.100.1:1999"}, "refused", "proxy_in_path", "high", raw)
	mustEvidence(t, r, "The proxy at 198.51.100.1:1999 cannot be reached")
	// A SOCKS5 URL pointing at the HTTP proxy: the handshake fails.
	// (The HTTP proxy waits for a request line that never comes: --timeout bounds the wait.)
	r = expectWith(t, n.Client, []string{"ALL_PROXY=socks5://198.51.100.1:3128"}, "protocol_mismatch", "proxy_in_path", "high", raw, "--timeout", "1s")
	mustEvidence(t, r, "does not speak socks5")
	// Nothing listens on the target: the proxy agrees with the direct path, which leads.
	r = expectWith(t, n.Client, []string{"ALL_PROXY=socks5://198.51.100.1:1080"}, "refused", "not_listening", "", "203.0.113.2:9999")
	if !hasFinding(r, "proxy_in_path") || !hasEvidence(r, `with "connection refused"`) {
		t.Errorf("the proxy's answer follows: %s", dump(r))
	}
}

// A conndiag listen endpoint behind a NAT router reports another client
// address than the client's own: the whoami evidence shows it.
func TestCheckWhoamiThroughNAT(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Chain(t)
	probetest.ServeHTTP(t, n.Server.Listen(t, "tcp", "203.0.113.2:8282"), probetest.WebSocket("/", "conndiag-listen/test"), nil)

	r := expectWith(t, n.Client, nil, "ok", "ok", "high", "ws://203.0.113.2:8282/")
	mustEvidence(t, r, "The server saw this client as 198.51.100.2, the address it connected from")

	n.Router.Iptables(t, "-t", "nat", "-A", "POSTROUTING", "-o", n.RouterServerIf, "-j", "MASQUERADE")
	r = expectWith(t, n.Client, nil, "ok", "ok", "high", "ws://203.0.113.2:8282/")
	mustEvidence(t, r, "The server saw this client as 203.0.113.1, while it connected from 198.51.100.2")
	if !hasFinding(r, "proxy_in_path") {
		t.Errorf("a public client address rewritten on the way is a low proxy_in_path finding: %s", dump(r))
	}
}

// Bad values of the name flags: one line on stderr, exit 2.
func TestCheckNameFlagsBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("203.0.113.0/24 ok\nexample.com\n"), 0o644)
	for _, args := range [][]string{
		{"--expect-ip", "not-an-ip"},
		{"--resolver", "dns.example"},
		{"--resolver", "192.0.2.1:0"},
		{"--cdn-ranges", filepath.Join(dir, "missing.txt")},
		{"--cdn-ranges", bad},
		{"--cdn-ranges", dir},
	} {
		cmd := exec.Command(bin, append([]string{"check", "--json", "127.0.0.1:1"}, args...)...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err == nil {
			code = 0
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if code != 2 || stdout.Len() != 0 || len(lines) != 1 || !strings.HasPrefix(lines[0], "conndiag: error: ") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, stdout.String(), stderr.String())
		}
		if args[0] == "--cdn-ranges" && args[1] == bad && !strings.Contains(stderr.String(), "line 2") {
			t.Errorf("the bad line must be named: %q", stderr.String())
		}
	}
}
