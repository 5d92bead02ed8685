package verdict

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/probe"
)

var protoVersionAlert = string([]byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46})

// tlsRefused is a verdict handshake the server refused with alert.
func tlsRefused(alert string) *probe.TLS {
	return &probe.TLS{Exchange: answered(clientHello, protoVersionAlert), ServerName: "app.test", Alert: alert,
		Err: errors.New("remote error: tls: " + alert)}
}

// legacyDone is the second handshake, completed with version and cipher.
func legacyDone(version, cipher string) *probe.TLS {
	t := tlsDone()
	t.Version, t.Cipher, t.ALPN = version, cipher, ""
	return t
}

func withLegacy(t, l *probe.TLS) *probe.TLS { t.Legacy = l; return t }

func certReq(t *probe.TLS) *probe.TLS {
	t.CertRequested, t.CertCAs = true, []string{"CN=Example Client CA,O=Example"}
	return t
}

// mss is the small-MSS retry with t or h, beside a control that stalled again.
func mss(stage string, t *probe.TLS, h *probe.HTTP) *evidence.MSSRetry {
	m := &evidence.MSSRetry{MSS: evidence.SmallMSS, Stage: stage, Connect: conn(neterr.OK, 0), TLS: t, HTTP: h}
	m.Control = &evidence.MSSRetry{Stage: stage, Connect: conn(neterr.OK, 0)}
	switch {
	case stage == "tls" || t != nil:
		m.Control.TLS = tlsFailed(noAnswer(clientHello, probe.Silent))
	default:
		m.Control.HTTP = &probe.HTTP{Exchange: noAnswer("GET / HTTP/1.1\r\n", probe.Silent)}
	}
	return m
}

func withControl(m *evidence.MSSRetry, c *evidence.MSSRetry) *evidence.MSSRetry {
	m.Control = c
	return m
}

// bigChain is a completed handshake with the leaf and three intermediates.
func bigChain() *probe.TLS {
	t := tlsDone()
	t.Chain = append(t.Chain, leafCert, leafCert, leafCert)
	t.ReceivedN, t.Duration = 9214, 4*time.Millisecond
	return t
}

// nginx400 is nginx's answer to a request without the certificate ssl_verify_client on requires.
const nginx400 = "<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>No required SSL certificate was sent</center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"

func TestDecideTLSVerdicts(t *testing.T) {
	snap := newSnapshot(t)
	d := 3 * time.Second
	weak := func(ps ...probe.CertProblem) *probe.TLS { return tlsDone(ps...) }
	httpOK := &probe.HTTP{Exchange: answered("GET / HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\n"), Status: 200, StatusLine: "HTTP/1.1 200 OK", Header: evidence.Header{}}
	tests := []struct {
		name     string
		target   string
		p        ProtoEvidence
		outcome  Outcome
		cause    Cause
		conf     Confidence
		summary  string // the English summary starts so
		ev       string // a line of evidence that must be there
		firstFix string // the first fix line starts so
	}{
		{"TLS 1.1 only", "https://app.test/", ProtoEvidence{TLS: withLegacy(tlsRefused("protocol version not supported"),
			legacyDone("TLS 1.1", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"))},
			OutcomeTLSFailure, CauseTLSObsolete, High,
			"The server offers only TLS 1.1 (here with TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA): curl, browsers and Node 20 require TLS 1.2 or newer",
			"the server chose TLS 1.1 with TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "On the server, enable TLS 1.2 and 1.3. In nginx"},
		{"TLS 1.0, chosen despite the versions offered", "tls://app.test:993", ProtoEvidence{TLS: withLegacy(&probe.TLS{Exchange: answered(clientHello, serverHello),
			ServerName: "app.test", Err: errors.New("tls: server selected unsupported protocol version 301")}, legacyDone("TLS 1.0", "TLS_RSA_WITH_AES_128_CBC_SHA"))},
			OutcomeTLSFailure, CauseTLSObsolete, High, "The server offers only TLS 1.0", "server selected unsupported protocol version 301", "On the server, enable TLS 1.2 and 1.3"},
		{"3DES only", "https://app.test/", ProtoEvidence{TLS: withLegacy(tlsRefused("handshake failure"), legacyDone("TLS 1.2", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"))},
			OutcomeTLSFailure, CauseTLSObsolete, High, "The server offers only the cipher suite TLS_RSA_WITH_3DES_EDE_CBC_SHA (TLS 1.2)",
			`refused with the TLS alert "handshake failure"`, "On the server, enable current cipher suites"},
		{"RSA key exchange only", "wss://app.test/chat", ProtoEvidence{TLS: withLegacy(tlsRefused("handshake failure"), legacyDone("TLS 1.2", "TLS_RSA_WITH_AES_128_GCM_SHA256"))},
			OutcomeTLSFailure, CauseTLSObsolete, Medium, "The server offers only RSA key exchange (TLS_RSA_WITH_AES_128_GCM_SHA256)",
			"TLS_RSA_WITH_AES_128_GCM_SHA256", "On the server, enable current cipher suites"},
		{"only an older ClientHello is answered", "https://app.test/", ProtoEvidence{TLS: withLegacy(tlsRefused("handshake failure"), legacyDone("TLS 1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"))},
			OutcomeTLSFailure, CauseTLSObsolete, Medium, "The server refuses the ClientHello current clients send", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "Update the TLS library"},
		{"the legacy handshake is refused too", "https://app.test/", ProtoEvidence{TLS: withLegacy(tlsRefused("handshake failure"), tlsRefused("handshake failure"))},
			OutcomeTLSFailure, CauseUnknown, Medium, `The server refused the TLS handshake (alert "handshake failure")`,
			"A second handshake that also allowed TLS 1.0 and 1.1 and old cipher suites was refused too", "Compare the TLS versions"},
		{"SHA-1 certificate", "https://app.test/", ProtoEvidence{TLS: weak(probe.CertProblem{Kind: probe.WeakSignature, Detail: "SHA1-RSA"}), HTTP: httpOK},
			OutcomeTLSFailure, CauseTLSObsolete, High, "The certificate is signed with SHA1-RSA", "is signed with SHA1-RSA: browsers", "Have the certificate reissued"},
		{"RSA 1024 certificate", "https://app.test/", ProtoEvidence{TLS: weak(probe.CertProblem{Kind: probe.WeakKey, Detail: "RSA 1024"}), HTTP: httpOK},
			OutcomeTLSFailure, CauseTLSObsolete, Medium, "The certificate's key (RSA 1024 bits)", "OpenSSL at security level 2", "Have the certificate reissued"},
		{"expired and SHA-1", "https://app.test/", ProtoEvidence{TLS: weak(probe.CertProblem{Kind: probe.Expired},
			probe.CertProblem{Kind: probe.WeakSignature, Detail: "SHA1-RSA"}), HTTP: httpOK},
			OutcomeTLSFailure, CauseTLSCertificate, High, "The server's certificate expired", "is signed with SHA1-RSA", "Renew the certificate"},
		{"client certificate refused in the handshake (TLS 1.2)", "https://app.test/", ProtoEvidence{TLS: certReq(tlsRefused("handshake failure"))},
			OutcomeTLSFailure, CauseTLSClientCertificate, High, "The server requires a client certificate",
			"issued by one of: CN=Example Client CA,O=Example", "Give the client a certificate"},
		{"alert certificate required", "tls://app.test:8883", ProtoEvidence{TLS: tlsRefused("certificate required")},
			OutcomeTLSFailure, CauseTLSClientCertificate, High, "The server requires a client certificate", `alert "certificate required"`, "Give the client a certificate"},
		{"client certificate refused after the handshake (TLS 1.3)", "tls://app.test:8883", ProtoEvidence{TLS: func() *probe.TLS {
			t := certReq(tlsDone())
			t.LateAlert = "certificate required"
			return t
		}()},
			OutcomeTLSFailure, CauseTLSClientCertificate, High, "The server requires a client certificate", "TLS 1.3 servers check", "Give the client a certificate"},
		{"nginx ssl_verify_client on, https", "https://app.test/", ProtoEvidence{TLS: certReq(tlsDone()),
			HTTP: &probe.HTTP{Exchange: answered("GET / HTTP/1.1\r\n", "HTTP/1.1 400 Bad Request\r\n"), Status: 400, StatusLine: "HTTP/1.1 400 Bad Request",
				Header: evidence.Header{"Server": {"nginx/1.22.1"}}, Body: []byte(nginx400)}},
			OutcomeTLSFailure, CauseTLSClientCertificate, High, "The server requires a client certificate",
			`nginx's "No required SSL certificate was sent"`, "Give the client a certificate"},
		{"nginx ssl_verify_client on, wss", "wss://app.test:8443/chat", ProtoEvidence{TLS: certReq(tlsDone()),
			WS: wsAnswer(400, http.Header{"Server": {"nginx/1.22.1"}}, nginx400)},
			OutcomeTLSFailure, CauseTLSClientCertificate, High, "The server requires a client certificate",
			"ssl_verify_client on", "Give the client a certificate"},
		{"asked for a certificate, closed at the request", "https://app.test/", ProtoEvidence{TLS: certReq(tlsDone()),
			HTTP: &probe.HTTP{Exchange: noAnswer("GET / HTTP/1.1\r\n", probe.Closed)}},
			OutcomeTLSFailure, CauseTLSClientCertificate, Medium, "The server requires a client certificate", "closed the connection", "Give the client a certificate"},
		{"client certificate optional", "https://app.test/", ProtoEvidence{TLS: certReq(tlsDone()), HTTP: httpOK},
			OutcomeOK, CauseOK, High, "", "it is optional here", ""},
		{"tls:// asks for a certificate and does not refuse", "tls://app.test:8443", ProtoEvidence{TLS: certReq(tlsDone())},
			OutcomeOK, CauseOK, High, "", "check it with https:// too", ""},
		{"TLS stalls, small MSS completes", "https://app.test/", ProtoEvidence{TLS: tlsFailed(noAnswer(clientHello, probe.Silent)),
			Tries: []probe.Try{try(probe.TryHTTP, answered("GET / HTTP/1.1\r\n", "HTTP/1.1 400 Bad Request\r\nServer: nginx\r\n"))},
			MSS:   mss("tls", bigChain(), nil)},
			OutcomeTimeout, CauseMTUBlackhole, High, "Small packets pass but large ones never arrive: the answer to the TLS ClientHello stalled",
			"opened at the same time, stalled again", `On the routers, firewalls and tunnels`},
		{"TLS cut at the deadline, small MSS completes (IPv6 fix)", "wss://app.test/chat", ProtoEvidence{TLS: tlsFailed(cut(clientHello, serverHello, 1400, probe.CutDeadline, d)),
			MSS: mss("tls", bigChain(), nil)},
			OutcomeTimeout, CauseMTUBlackhole, High, "Small packets pass", "still incomplete (1400 bytes had come)", "On the routers"},
		{"HTTP answer stalls, small MSS completes", "http://app.test/", ProtoEvidence{HTTP: &probe.HTTP{Exchange: noAnswer("GET / HTTP/1.1\r\n", probe.Silent)},
			MSS: mss("http", nil, &probe.HTTP{Exchange: answered("GET / HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\n"), Status: 200, StatusLine: "HTTP/1.1 200 OK"})},
			OutcomeTimeout, CauseMTUBlackhole, High, "Small packets pass but large ones never arrive: the answer to the HTTP request stalled",
			"the same request was answered whole", "On the routers"},
		{"TLS stalls, small MSS completes, no control", "https://app.test/", ProtoEvidence{TLS: tlsFailed(noAnswer(clientHello, probe.Silent)),
			MSS: withControl(mss("tls", bigChain(), nil), nil)},
			OutcomeTimeout, CauseMTUBlackhole, Medium, "Small packets pass", "the same handshake completed", "On the routers"},
		{"TLS stalls once, both retries complete", "https://app.test/", ProtoEvidence{TLS: tlsFailed(noAnswer(clientHello, probe.Silent)),
			MSS: withControl(mss("tls", bigChain(), nil), &evidence.MSSRetry{Stage: "tls", Connect: conn(neterr.OK, 0), TLS: bigChain()})},
			OutcomeTimeout, CauseUnknown, Medium, "The answer to the TLS ClientHello stalled once", "got through too, in 4.0 ms", "Run the check a few times"},
		{"TLS stalls, small MSS stalls too", "https://app.test/", ProtoEvidence{TLS: tlsFailed(noAnswer(clientHello, probe.Silent)),
			MSS: mss("tls", tlsFailed(noAnswer(clientHello, probe.Silent)), nil)},
			OutcomeTLSFailure, CauseTLSUnexpected, Medium, "", "stalled the same way, so the path's MTU is not what holds the answer back", ""},
	}
	p := i18n.New("en")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pe := tt.p
			ev := protoEv(t, tt.target, &pe)
			if strings.Contains(tt.name, "IPv6") {
				ev.Addrs[0].Addr = netip.AddrPortFrom(netip.MustParseAddr("2001:db8::2"), ev.Addrs[0].Addr.Port())
			}
			out, fs := Decide(ev)
			snap.add(tt.name, out, fs)
			text := render(p, fs)
			if out != tt.outcome || fs[0].Cause != tt.cause || fs[0].Confidence != tt.conf {
				t.Fatalf("got %s / %s / %s, want %s / %s / %s\n%s", out, fs[0].Cause, fs[0].Confidence, tt.outcome, tt.cause, tt.conf, text)
			}
			if !strings.HasPrefix(p.Text(fs[0].Summary), tt.summary) {
				t.Errorf("summary %q\nwant it to start %q", p.Text(fs[0].Summary), tt.summary)
			}
			if !strings.Contains(text, tt.ev) {
				t.Errorf("want evidence %q in:\n%s", tt.ev, text)
			}
			if tt.firstFix != "" && (len(fs[0].Fix) == 0 || !strings.HasPrefix(p.Text(fs[0].Fix[0]), tt.firstFix)) {
				t.Errorf("first fix line must start %q:\n%s", tt.firstFix, text)
			}
			if strings.Contains(text, "<no value>") {
				t.Errorf("a message lacks an argument:\n%s", text)
			}
			if tt.cause == CauseMTUBlackhole {
				want := "iptables -I INPUT -p icmp --icmp-type fragmentation-needed -j ACCEPT"
				if strings.Contains(tt.name, "IPv6") {
					want = "ip6tables -I INPUT -p icmpv6 --icmpv6-type packet-too-big -j ACCEPT"
				}
				if !strings.Contains(text, want) || !strings.Contains(text, "--clamp-mss-to-pmtu") {
					t.Errorf("want %q and the MSS clamp:\n%s", want, text)
				}
			}
		})
	}
}
