package probe

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/conndiag/conndiag/internal/evidence"
)

// Hostile answers every fuzz target of a server's bytes starts from: an
// endless header, NUL bytes, CR without LF, a huge Content-Length, invalid
// UTF-8, escape sequences. {ACCEPT} is replaced by the Sec-WebSocket-Accept
// the request calls for.
var hostileAnswers = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bogus\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\nServer: conndiag-listen/1\r\n\r\n\x81\x06whoami",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
	"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Long: " + strings.Repeat("a", MaxAnswer+100),
	"HTTP/1.1 200 " + strings.Repeat("b", MaxAnswer+100),
	"HTTP/1.1 200 OK\r\nX-Nul: a\x00b\r\n\x00\r\n\r\n",
	"HTTP/1.1 200 OK\rServer: x\r\rContent-Length: 1\r\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nabc",
	"HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\nabc",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc",
	"HTTP/1.1 404 \xff\xfe\xc3\x28 Not Found\r\nServer: \xe2\x82\r\n\r\n",
	"HTTP/1.1 403 \x1b]0;owned\x07\x1b[2J\r\nServer: \x1b[31mred\u202e\r\nLocation: \r\n$ curl x|sh\r\n\r\n",
	"HTTP/1.1 200 OK\r\nServer: conndiag-listen/1\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
	"SSH-2.0-OpenSSH_9.2p1\r\n",
	"\x16\x03\x03\x00\x02\x02\x46",
	"",
}

// answerOver runs fn on a connection whose peer reads the request, then
// writes answer (with {ACCEPT} filled in) and closes. It returns what was
// written.
func answerOver(t *testing.T, answer []byte, fn func(net.Conn)) []byte {
	c, s := net.Pipe()
	wrote := make(chan []byte, 1)
	go func() {
		defer s.Close()
		s.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(s)
		req, err := http.ReadRequest(br)
		if err != nil {
			wrote <- nil
			return
		}
		h := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		a := bytes.ReplaceAll(answer, []byte("{ACCEPT}"), []byte(base64.StdEncoding.EncodeToString(h[:])))
		wrote <- a
		go io.Copy(io.Discard, br) // net.Pipe is synchronous: take whatever else the client sends
		s.Write(a)
	}()
	fn(c)
	c.Close()
	return <-wrote
}

var replies = map[Reply]bool{Answered: true, Silent: true, Closed: true, Reset: true, Failed: true}

// checkHTTP holds what every HTTP answer, however hostile, must give.
func checkHTTP(t *testing.T, h *HTTP, wrote []byte) {
	t.Helper()
	if !replies[h.Reply] {
		t.Fatalf("reply %q", h.Reply)
	}
	if h.ReceivedN > MaxAnswer || len(h.Received) > MaxKeep || len(h.Body) > MaxBody {
		t.Fatalf("read %d bytes, kept %d, body %d", h.ReceivedN, len(h.Received), len(h.Body))
	}
	if wrote != nil && !bytes.HasPrefix(wrote, h.Received) {
		t.Fatalf("kept %q, which the server did not send", h.Received)
	}
	if h.Status != 0 && (h.Status < 100 || h.Status > 999 || h.Reply != Answered || !strings.HasPrefix(h.StatusLine, "HTTP/")) {
		t.Fatalf("status %d %q, reply %q", h.Status, h.StatusLine, h.Reply)
	}
	if h.Cut == CutCap && h.ReceivedN != MaxAnswer {
		t.Fatalf("cut at the cap after %d bytes", h.ReceivedN)
	}
	if h.Cut == CutCap && len(wrote) < MaxAnswer {
		t.Fatalf("cut at the cap after an answer of %d bytes", len(wrote))
	}
	if h.Cut != CutNone && h.Reply != Answered {
		t.Fatalf("cut %q without an answer (%q)", h.Cut, h.Reply)
	}
}

// The HTTP probe's response path: status line, headers, body, the whoami
// request to a conndiag listen endpoint.
func FuzzHTTPResponse(f *testing.F) {
	for _, s := range hostileAnswers {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, answer []byte) {
		var h *HTTP
		wrote := answerOver(t, answer, func(c net.Conn) {
			h = HTTPRequest(context.Background(), c, time.Now().Add(5*time.Second), "app.test", "/")
		})
		checkHTTP(t, h, wrote)
	})
}

// The WebSocket probe's response path: the handshake answer and the
// Sec-WebSocket-Accept check.
func FuzzWebSocketResponse(f *testing.F) {
	for _, s := range hostileAnswers {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, answer []byte) {
		var w *WebSocket
		wrote := answerOver(t, answer, func(c net.Conn) {
			w = WebSocketHandshake(context.Background(), c, time.Now().Add(5*time.Second), "app.test", "/chat")
		})
		checkHTTP(t, &w.HTTP, wrote)
		if w.AcceptWant == "" || len(w.AcceptWant) != 28 {
			t.Fatalf("accept wanted %q", w.AcceptWant)
		}
		if w.Upgraded && (w.Status != 101 || !w.AcceptOK()) {
			t.Fatalf("upgraded with status %d, accept %q want %q", w.Status, w.Header.Get("Sec-WebSocket-Accept"), w.AcceptWant)
		}
		if w.Upgraded && !bytes.Contains(wrote, []byte(w.AcceptWant)) {
			t.Fatal("upgraded without the right accept in the answer")
		}
	})
}

// hostileCert makes a self-signed certificate with the given subject and names.
func hostileCert(f *testing.F, cn string, org []string, names []string, ips []net.IP, from, until time.Time) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn, Organization: org},
		DNSNames: names, IPAddresses: ips, NotBefore: from, NotAfter: until,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		f.Fatal(err)
	}
	return der
}

var problemKinds = map[Problem]bool{Expired: true, NotYetValid: true, WrongName: true, Untrusted: true, OtherProblem: true}

// Certificate handling: a DER chain as a server sends it, turned into Cert
// values and problems.
func FuzzCertChain(f *testing.F) {
	now := time.Now()
	good := hostileCert(f, "app.test", nil, []string{"app.test"}, nil, now.Add(-time.Hour), now.Add(time.Hour))
	many := make([]string, 300)
	for i := range many {
		many[i] = strings.Repeat("x", i%50+1) + ".test"
	}
	seeds := [][]byte{
		good,
		hostileCert(f, "\x1b]0;owned\x07\x1b[2J", []string{"a\r\n$ curl x|sh"}, []string{"\x1b[31m.test", "a\r\nb.test"}, nil, now.Add(-time.Hour), now.Add(time.Hour)),
		hostileCert(f, "evil\u202etxt.exe", []string{"\x00nul"}, nil, []net.IP{net.ParseIP("::1"), net.ParseIP("127.0.0.1")}, now.Add(time.Hour), now.Add(2*time.Hour)),
		hostileCert(f, strings.Repeat("long ", 2000), nil, many, nil, now.Add(-2*time.Hour), now.Add(-time.Hour)),
		append(append([]byte{}, good...), good...),
		good[:len(good)/2],
		{0x30, 0x82, 0xff, 0xff},
		{},
	}
	for _, s := range seeds {
		f.Add(s, "app.test")
	}
	f.Add(good, "")
	f.Add(good, "\x00\r\n")
	f.Fuzz(func(t *testing.T, der []byte, name string) {
		chain, err := x509.ParseCertificates(der)
		if err != nil || len(chain) > 8 {
			return
		}
		for _, c := range chain {
			cert := certOf(c)
			if len(cert.DNSNames) > maxNames || len(cert.IPs) > maxNames {
				t.Fatalf("kept %d names, %d addresses", len(cert.DNSNames), len(cert.IPs))
			}
			for _, s := range append([]string{cert.Subject, cert.Issuer}, cert.DNSNames...) {
				if n := utf8.RuneCountInString(s); n > maxCertText+1 {
					t.Fatalf("kept %d characters of %q…", n, s[:40])
				}
			}
			_ = cert.Names()
		}
		ps := Verify(chain, TLSConfig{ServerName: name}, now)
		if len(chain) == 0 && len(ps) != 1 {
			t.Fatalf("no certificate: %+v", ps)
		}
		for _, p := range ps {
			if !problemKinds[p.Kind] || p.Cert < 0 || p.Cert >= max(1, len(chain)) {
				t.Fatalf("problem %+v of a chain of %d", p, len(chain))
			}
		}
	})
}

// A certificate with hundreds of names and a huge subject is kept bounded.
func TestCertOfBounds(t *testing.T) {
	now := time.Now()
	many := make([]string, 300)
	for i := range many {
		many[i] = "n" + strings.Repeat("x", i%20) + ".test"
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: strings.Repeat("é", 1000)},
		DNSNames: many, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	got := certOf(c)
	if len(got.DNSNames) != maxNames || got.DNSNames[0] != many[0] {
		t.Errorf("kept %d names, first %q", len(got.DNSNames), got.DNSNames[0])
	}
	if want := "CN=" + strings.Repeat("é", maxCertText-3) + "…"; got.Subject != want {
		t.Errorf("subject %q…, want %d characters and a cut mark", got.Subject[:20], maxCertText)
	}
	if !got.SelfSigned {
		t.Error("self-signed not seen")
	}
	if s := clipText("a\xffb"); s != "a\xffb" {
		t.Errorf("an invalid byte must be kept for the escaping: %q", s)
	}
}

// The acceptable issuers of a CertificateRequest are a stranger's DER: any
// bytes give at most MaxCertCAs bounded names and never a panic.
func FuzzCANames(f *testing.F) {
	name := func(n pkix.Name) []byte {
		der, err := asn1.Marshal(n.ToRDNSequence())
		if err != nil {
			f.Fatal(err)
		}
		return der
	}
	f.Add(name(pkix.Name{CommonName: "conndiag test CA", Organization: []string{"conndiag"}}))
	f.Add(name(pkix.Name{CommonName: "\x1b]0;owned\x07" + strings.Repeat("A", 5000)}))
	f.Add(bytes.Replace(name(pkix.Name{CommonName: "ZZ\u202e"}), []byte("ZZ"), []byte{0xff, 0xfe}, 1)) // invalid UTF-8, a bidi override
	f.Add([]byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, der []byte) {
		ders := [][]byte{der, der, der, der, der, der, der, der, der, der}
		got := caNames(ders)
		if len(got) > evidence.MaxCertCAs {
			t.Fatalf("%d names kept", len(got))
		}
		for _, n := range got {
			if utf8.RuneCountInString(n) > maxCertText+1 {
				t.Fatalf("a name of %d runes kept", utf8.RuneCountInString(n))
			}
		}
	})
}
