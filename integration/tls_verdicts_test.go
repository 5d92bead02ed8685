//go:build linux

package integration

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/testbed"
)

// pki is a test CA, a chain of intermediates below it, and certificates
// they issued, written as PEM files.
type pki struct {
	dir    string
	ca     string // the root, for SSL_CERT_FILE and nginx's ssl_client_certificate
	signer *x509.Certificate
	key    *rsa.PrivateKey
	chain  []*x509.Certificate // the intermediates, the root's child first
	serial int64
}

func newPKI(t *testing.T, intermediates int) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	root, key := p.issue(t, nil, nil, &x509.Certificate{Subject: pkix.Name{CommonName: "conndiag test root CA", Organization: []string{"conndiag tests"}},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign})
	p.ca = p.write(t, "ca.pem", root)
	p.signer, p.key = root, key
	for i := range intermediates {
		c, k := p.issue(t, p.signer, p.key, &x509.Certificate{
			Subject: pkix.Name{CommonName: fmt.Sprintf("conndiag test intermediate CA %d", i+1), Organization: []string{"conndiag tests"},
				OrganizationalUnit: []string{"a long organizational unit name so that the chain is as big as real ones are"}},
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign})
		p.chain = append([]*x509.Certificate{c}, p.chain...)
		p.signer, p.key = c, k
	}
	return p
}

func (p *pki) issue(t *testing.T, parent *x509.Certificate, parentKey *rsa.PrivateKey, tmpl *x509.Certificate) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl.SerialNumber = big.NewInt(p.serial)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

func (p *pki) write(t *testing.T, name string, certs ...*x509.Certificate) string {
	t.Helper()
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func (p *pki) writeKey(t *testing.T, name string, k *rsa.PrivateKey) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// leaf issues a server (or client) certificate for names and writes it with
// the intermediates after it (the full chain a server sends) and its key.
func (p *pki) leaf(t *testing.T, name string, client bool, names ...string) (chain, key string) {
	t.Helper()
	eku := x509.ExtKeyUsageServerAuth
	if client {
		eku = x509.ExtKeyUsageClientAuth
	}
	c, k := p.issue(t, p.signer, p.key, &x509.Certificate{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{eku}})
	return p.write(t, name+".pem", append([]*x509.Certificate{c}, p.chain...)...), p.writeKey(t, name+".key", k)
}

// startNginx runs nginx in ns with the given server blocks and waits for port.
func startNginx(t *testing.T, ns *testbed.NS, port int, servers string) {
	t.Helper()
	ns.Nginx(t, "", servers, port)
}

// firstFix is the first fix line of the verdict finding.
func firstFixLine(r report) string {
	if len(r.Findings) == 0 || len(r.Findings[0].Fix) == 0 {
		return ""
	}
	return r.Findings[0].Fix[0]
}

func probeResult(r report, name string) string {
	for _, p := range r.Probes {
		if p.Name == name {
			return p.Result
		}
	}
	return ""
}

// expectTLS runs one check with the test CA trusted and asserts outcome,
// cause, confidence, exit code and the first fix line.
func expectTLS(t *testing.T, ns *testbed.NS, ca, target, outcome, cause, conf, fix string, args ...string) report {
	t.Helper()
	r, code := checkEnv(t, ns, []string{"SSL_CERT_FILE=" + ca}, append([]string{target}, args...)...)
	if r.Outcome != outcome || r.Verdict.Cause != cause || r.Verdict.Confidence != conf {
		t.Fatalf("%s: got %s / %s (%s), want %s / %s (%s)\n%s", target, r.Outcome, r.Verdict.Cause, r.Verdict.Confidence, outcome, cause, conf, dump(r))
	}
	if want := map[bool]int{true: 0, false: 1}[cause == "ok"]; code != want {
		t.Errorf("%s: exit %d, want %d", target, code, want)
	}
	if fix != "" && firstFixLine(r) != fix {
		t.Errorf("%s: first fix line\n%q\nwant\n%q", target, firstFixLine(r), fix)
	}
	return r
}

// nginx offering only TLS 1.0 and 1.1 (which OpenSSL 3 allows only at
// security level 0) is tls_obsolete: what it offers is found by the second
// handshake, and curl, a current client, fails on it too.
func TestTLSVerdictNginxTLS11Only(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	p := newPKI(t, 1)
	cert, key := p.leaf(t, "server", false, "app.test")
	startNginx(t, n.Server, 8443, fmt.Sprintf(`  server {
    listen 198.51.100.3:8443 ssl;
    ssl_certificate %s;
    ssl_certificate_key %s;
    ssl_protocols TLSv1 TLSv1.1;
    ssl_ciphers DEFAULT:@SECLEVEL=0;
    location / { return 200 "hello\n"; }
  }`, cert, key))
	n.Client.Hosts(t, "127.0.0.1 localhost\n198.51.100.3 app.test\n")
	n.Client.ResolvConf(t, "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")

	for _, target := range []string{"https://app.test:8443/", "wss://app.test:8443/chat", "tls://app.test:8443"} {
		r := expectTLS(t, n.Client, p.ca, target, "tls_failure", "tls_obsolete", "high",
			"On the server, enable TLS 1.2 and 1.3. In nginx (in the server block, then nginx -s reload):", "--timeout", "2s")
		if !strings.HasPrefix(r.Findings[0].Summary, "The server offers only TLS 1.1") ||
			!hasEvidence(r, "the server chose TLS 1.1 with TLS_ECDHE_RSA_WITH_AES_") ||
			!hasEvidence(r, `refused with the TLS alert "protocol version not supported"`) {
			t.Errorf("%s: want what is offered and what was refused: %s", target, dump(r.Findings[0]))
		}
		if fix := strings.Join(r.Findings[0].Fix, "\n"); !strings.Contains(fix, "ssl_protocols TLSv1.2 TLSv1.3;") {
			t.Errorf("%s: want the nginx line: %s", target, fix)
		}
		if probeResult(r, "tls_handshake") != "alert" || probeResult(r, "tls_handshake_legacy") != "ok" {
			t.Errorf("%s: want the refused handshake and the legacy one: %s", target, dump(r.Probes))
		}
	}

	// What conndiag says, a current client confirms.
	if _, err := n.Client.Try("curl", "--version"); err == nil {
		out, err := n.Client.Try("curl", "-sS", "--cacert", p.ca, "-o", "/dev/null", "https://app.test:8443/")
		if err == nil {
			t.Errorf("curl connected to a TLS 1.1-only server: %s", out)
		}
		if out, err := n.Client.Try("curl", "-sS", "--cacert", p.ca, "--tlsv1.1", "--tls-max", "1.1", "--ciphers", "DEFAULT:@SECLEVEL=0", "https://app.test:8443/"); err != nil || !strings.Contains(out, "hello") {
			t.Errorf("an old client must connect (the server does answer TLS 1.1): %v %s", err, out)
		}
	}
}

// nginx with ssl_verify_client on completes the handshake and answers 400
// "No required SSL certificate was sent", on https:// and wss:// alike; with
// ssl_verify_client optional the same server is fine; curl --cert with a
// certificate from the accepted CA gets through.
func TestTLSVerdictNginxClientCertificate(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	p := newPKI(t, 0)
	cert, key := p.leaf(t, "server", false, "app.test")
	ccert, ckey := p.leaf(t, "client", true, "client.app.test")
	block := func(port int, verify string) string {
		return fmt.Sprintf(`  server {
    listen 198.51.100.3:%d ssl;
    ssl_certificate %s;
    ssl_certificate_key %s;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_client_certificate %s;
    ssl_verify_client %s;
    location / { return 200 "hello\n"; }
  }
`, port, cert, key, p.ca, verify)
	}
	startNginx(t, n.Server, 8444, block(8443, "on")+block(8444, "optional"))
	n.Server.WaitListening(t, "tcp", 8443, 10*time.Second)
	n.Client.Hosts(t, "127.0.0.1 localhost\n198.51.100.3 app.test\n")
	n.Client.ResolvConf(t, "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")

	give := "Give the client a certificate signed by an issuer the server accepts, with its key; test it with:"
	for _, target := range []string{"https://app.test:8443/", "wss://app.test:8443/chat"} {
		r := expectTLS(t, n.Client, p.ca, target, "tls_failure", "tls_client_certificate", "high", give, "--timeout", "2s")
		if !hasEvidence(r, `The answer is nginx's "No required SSL certificate was sent"`) ||
			!hasEvidence(r, "issued by one of: CN=conndiag test root CA,O=conndiag tests") {
			t.Errorf("%s: want nginx's answer and the accepted issuer: %s", target, dump(r.Findings[0]))
		}
		fix := strings.Join(r.Findings[0].Fix, "\n")
		if !strings.Contains(fix, "curl --cert client.crt --key client.key https://app.test:8443/") || !strings.Contains(fix, "ssl_verify_client optional;") {
			t.Errorf("%s: want curl --cert and the nginx line: %s", target, fix)
		}
	}
	r := expectTLS(t, n.Client, p.ca, "https://app.test:8444/", "ok", "ok", "high", "", "--timeout", "2s")
	if !hasEvidence(r, "it is optional here") {
		t.Errorf("optional: want the line that says so: %s", dump(r))
	}

	// The fix works: curl with a certificate of the accepted CA gets the page.
	if _, err := n.Client.Try("curl", "--version"); err == nil {
		out, err := n.Client.Try("curl", "-sS", "--cacert", p.ca, "--cert", ccert, "--key", ckey, "https://app.test:8443/")
		if err != nil || !strings.Contains(out, "hello") {
			t.Errorf("curl --cert: %v %s", err, out)
		}
	}
}

// A router whose link toward the client carries only 1280-byte packets and
// whose "fragmentation needed" is dropped, in front of nginx with a big
// certificate chain: TCP connects, small answers pass, the handshake stalls;
// a fresh connection announcing MSS 536 completes it. With the ICMP let
// through, path MTU discovery works and the same check is ok.
func TestTLSVerdictMTUBlackhole(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	c := testbed.Chain(t)
	p := newPKI(t, 3)
	names := []string{"app.test"}
	for i := range 40 {
		names = append(names, fmt.Sprintf("service-%02d.a-rather-long-subdomain-name-as-real-certificates-carry.app.test", i))
	}
	cert, key := p.leaf(t, "server", false, names...)
	startNginx(t, c.Server, 8443, fmt.Sprintf(`  server {
    listen 203.0.113.2:8443 ssl;
    ssl_certificate %s;
    ssl_certificate_key %s;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 200 "hello\n"; }
  }`, cert, key))
	if st, _ := os.Stat(cert); st.Size() < 6000 {
		t.Fatalf("the chain must be big: %d bytes of PEM", st.Size())
	}
	c.Client.Hosts(t, "127.0.0.1 localhost\n203.0.113.2 app.test\n")
	c.Client.ResolvConf(t, "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
	// The router forwards at most 1280 bytes toward the client and tells no one.
	c.Router.IP(t, "route", "replace", "198.51.100.0/24", "dev", c.RouterClientIf, "src", c.RouterClientIP.String(), "mtu", "1280")
	c.Router.Iptables(t, "-A", "OUTPUT", "-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP")

	r := expectTLS(t, c.Client, p.ca, "https://app.test:8443/", "timeout", "mtu_blackhole", "high",
		`On the routers, firewalls and tunnels between here and the server, and on the server, let ICMP "fragmentation needed" (type 3 code 4; IPv6: "packet too big") through:`,
		"--timeout", "2s")
	for _, want := range []string{"No answer to the TLS ClientHello within 2.0 s.", "On a fresh connection announcing MSS 536 (TCP_MAXSEG), the same handshake completed",
		"a plain HTTP request got: HTTP/1.1 400 Bad Request", "A fresh connection with the usual MSS, opened at the same time, stalled again"} {
		if !hasEvidence(r, want) {
			t.Errorf("want evidence %q: %s", want, dump(r.Findings[0]))
		}
	}
	if probeResult(r, "tls_handshake") != "silent" || probeResult(r, "tcp_connect_small_mss") != "ok" || probeResult(r, "tls_handshake_small_mss") != "ok" ||
		probeResult(r, "tls_handshake_default_mss") != "silent" {
		t.Errorf("want the three attempts: the stalled one, the small-MSS one that completed, its control that stalled: %s", dump(r.Probes))
	}
	if fix := strings.Join(r.Findings[0].Fix, "\n"); !strings.Contains(fix, "iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu") ||
		!strings.Contains(fix, "iptables -I FORWARD -p icmp --icmp-type fragmentation-needed -j ACCEPT") {
		t.Errorf("want the ICMP and MSS clamping lines: %s", fix)
	}

	// The control: the same path with "fragmentation needed" let through.
	c.Router.Iptables(t, "-D", "OUTPUT", "-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP")
	r = expectTLS(t, c.Client, p.ca, "https://app.test:8443/", "ok", "ok", "high", "", "--timeout", "2s")
	if probeResult(r, "tcp_connect_small_mss") != "" {
		t.Errorf("no small-MSS retry when nothing stalls: %s", dump(r.Probes))
	}
}

// openssl s_server -Verify 1 requires a client certificate: on TLS 1.3 it
// completes the handshake and then refuses with the alert certificate
// required (116), on TLS 1.2 it refuses the handshake after its
// CertificateRequest. Both are tls_client_certificate on a tls:// target,
// naming the issuer the server accepts.
func TestTLSVerdictOpenSSLClientCertificate(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "openssl")
	n := testbed.Pair(t)
	p := newPKI(t, 0)
	cert, key := p.leaf(t, "server", false, "app.test")
	for port, version := range map[int]string{8445: "-tls1_3", 8446: "-tls1_2"} {
		n.Server.Start(t, "openssl", "s_server", "-quiet", "-www", "-accept", fmt.Sprint(port), "-cert", cert, "-key", key,
			"-Verify", "1", "-CAfile", p.ca, version)
		n.Server.WaitListening(t, "tcp", port, 10*time.Second)
	}
	n.Client.Hosts(t, "127.0.0.1 localhost\n198.51.100.3 app.test\n")
	n.Client.ResolvConf(t, "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")

	give := "Give the client a certificate signed by an issuer the server accepts, with its key; test it with:"
	for _, tt := range []struct{ target, evidence string }{
		{"tls://app.test:8445", `the server refused the connection with the TLS alert "certificate required"`},
		{"tls://app.test:8446", `the server refused the handshake with the TLS alert "handshake failure"`},
	} {
		r := expectTLS(t, n.Client, p.ca, tt.target, "tls_failure", "tls_client_certificate", "high", give, "--timeout", "2s")
		if !hasEvidence(r, tt.evidence) || !hasEvidence(r, "issued by one of: CN=conndiag test root CA,O=conndiag tests") {
			t.Errorf("%s: want %q and the accepted issuer: %s", tt.target, tt.evidence, dump(r.Findings[0]))
		}
	}
}
