package verdict

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/probe"
	"github.com/conndiag/conndiag/internal/target"
)

const wsRequest = "GET /chat HTTP/1.1\r\nHost: app.test:8282\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

func answered(sent, got string) probe.Exchange {
	return probe.Exchange{Sent: []byte(sent), SentN: len(sent), Received: []byte(got), ReceivedN: len(got), Reply: probe.Answered,
		Service: probe.Classify([]byte(got), []byte(sent)), Start: probe.StatusStart([]byte(got))}
}

func noAnswer(sent string, r probe.Reply) probe.Exchange {
	e := probe.Exchange{Sent: []byte(sent), SentN: len(sent), Reply: r}
	switch r {
	case probe.Reset:
		e.Err = syscall.ECONNRESET
	case probe.Closed:
		e.Err = errors.New("EOF")
	}
	return e
}

func wsAnswer(status int, hdr http.Header, body string) *probe.WebSocket {
	line := fmt.Sprintf("HTTP/1.1 %d %s", status, http.StatusText(status))
	raw := line + "\r\n\r\n" + body
	return &probe.WebSocket{HTTP: probe.HTTP{
		Exchange: answered(wsRequest, raw), Host: "app.test:8282", Path: "/chat",
		Status: status, StatusLine: line, Header: evidence.Header(hdr), Body: []byte(body),
	}, AcceptWant: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}
}

func wsNot(e probe.Exchange) *probe.WebSocket {
	return &probe.WebSocket{HTTP: probe.HTTP{Exchange: e, Path: "/chat", Header: evidence.Header{}}}
}

func try(kind probe.TryKind, e probe.Exchange) probe.Try {
	return probe.Try{Kind: kind, Exchange: e, Service: probe.Classify(e.Received, e.Sent)}
}

var (
	clientHello = string([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc})
	serverHello = string([]byte{0x16, 0x03, 0x03, 0x00, 0x7a, 0x02, 0x00, 0x00, 0x76})
	tlsAlert    = string([]byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46})
	frameWhoami = string(probe.EncodeFrame([]byte("whoami")))
	frameOK     = string(probe.EncodeFrame([]byte("ok:whoami")))
	leafCert    = probe.Cert{Subject: "CN=app.test", Issuer: "CN=R11,O=Let's Encrypt", DNSNames: []string{"app.test", "www.app.test"},
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}
)

func tlsDone(problems ...probe.CertProblem) *probe.TLS {
	return &probe.TLS{Exchange: answered(clientHello, serverHello), Done: true, ServerName: "app.test",
		Version: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256", ALPN: "http/1.1", Chain: []probe.Cert{leafCert}, Problems: problems}
}

func tlsFailed(e probe.Exchange) *probe.TLS {
	return &probe.TLS{Exchange: e, ServerName: "app.test", Err: errors.New("tls: first record does not look like a TLS handshake")}
}

func protoEv(t *testing.T, raw string, p *ProtoEvidence) Evidence {
	t.Helper()
	tg, err := target.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p.Protocol = tg.Protocol()
	p.Timeout, p.Wait = 3*time.Second, 200*time.Millisecond
	a := AddrEvidence{Addr: netip.AddrPortFrom(netip.MustParseAddr("203.0.113.2"), tg.Port), Connect: conn(neterr.OK, 0), Proto: p}
	return Evidence{Target: tg, DNS: DNS{Addresses: []netip.Addr{a.Addr.Addr()}, Duration: time.Millisecond}, Addrs: []AddrEvidence{a}}
}

func TestDecideProtocol(t *testing.T) {
	snap := newSnapshot(t)
	goTLS400 := "Client sent an HTTP request to an HTTPS server.\n"
	tests := []struct {
		name    string
		target  string
		p       ProtoEvidence
		outcome Outcome
		cause   Cause
		conf    Confidence
		ev      string // a line of evidence that must be there
	}{
		{"ws upgraded", "ws://app.test:8282/chat", ProtoEvidence{WS: &probe.WebSocket{HTTP: probe.HTTP{
			Exchange: answered(wsRequest, "HTTP/1.1 101 Switching Protocols\r\n\r\n"), Path: "/chat", Status: 101,
			StatusLine: "HTTP/1.1 101 Switching Protocols", Header: evidence.Header{"Sec-Websocket-Accept": {"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}}},
			Upgraded: true, AcceptWant: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}},
			OutcomeOK, CauseOK, High, "WebSocket handshake accepted"},
		{"ws to http:// worker", "ws://app.test:8282/chat", ProtoEvidence{WS: wsAnswer(200, http.Header{"Server": {"workerman"}}, "hello")},
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, High, "Server header: workerman"},
		{"ws path 404", "ws://app.test:8282/chat", ProtoEvidence{WS: wsAnswer(404, http.Header{}, "404 page not found\n")},
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, Medium, "404 page not found"},
		{"ws path 404 from a WebSocket server", "ws://app.test:8282/chat", ProtoEvidence{WS: wsAnswer(404, http.Header{"Sec-Websocket-Version": {"13"}}, "")},
			OutcomeProtocolMismatch, CauseWSPathNotFound, High, "/chat"},
		{"ws redirect", "ws://app.test/chat", ProtoEvidence{WS: wsAnswer(301, http.Header{"Location": {"https://app.test/chat"}}, "")},
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, Medium, "https://app.test/chat"},
		{"ws to Go TLS port: 400 says HTTPS", "ws://app.test:8282/chat", ProtoEvidence{WS: wsAnswer(400, http.Header{}, goTLS400)},
			OutcomeProtocolMismatch, CauseTLSExpected, High, "expects TLS"},
		{"ws 400, ClientHello answered", "ws://app.test:8282/chat", ProtoEvidence{WS: wsAnswer(400, http.Header{}, "Bad Request"),
			Tries: []probe.Try{try(probe.TryTLS, answered(clientHello, serverHello))}},
			OutcomeProtocolMismatch, CauseTLSExpected, High, "fresh connection"},
		{"ws 400, no TLS", "ws://app.test:8282/chat", ProtoEvidence{WS: wsAnswer(400, http.Header{}, "Bad Request"),
			Tries: []probe.Try{try(probe.TryTLS, answered(clientHello, "HTTP/1.1 400 Bad Request\r\n"))}},
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, Medium, "400"},
		{"ws 101 with a wrong accept", "ws://app.test:8282/chat", ProtoEvidence{WS: wsAnswer(101, http.Header{"Sec-Websocket-Accept": {"bogus"}}, "")},
			OutcomeProtocolMismatch, CauseUnknown, Medium, "bogus"},
		{"ws to text echo", "ws://app.test:8282/chat", ProtoEvidence{WS: wsNot(answered(wsRequest, "GET /chat HTTP/1.1\r\n"))},
			OutcomeProtocolMismatch, CauseNotHTTP, High, "echo"},
		{"ws to text worker", "ws://app.test:8282/chat", ProtoEvidence{WS: wsNot(answered(wsRequest, "hello\n"))},
			OutcomeProtocolMismatch, CauseNotHTTP, High, "lines of text"},
		{"ws to frame reply", "ws://app.test:8282/chat", ProtoEvidence{WS: wsNot(answered(wsRequest, frameOK))},
			OutcomeProtocolMismatch, CauseNotHTTP, High, "length-prefixed frames"},
		{"ws to SSH", "ws://app.test:22/", ProtoEvidence{WS: wsNot(answered(wsRequest, "SSH-2.0-OpenSSH_9.2p1\r\n"))},
			OutcomeProtocolMismatch, CauseOtherService, High, "SSH-2.0-OpenSSH_9.2p1"},
		{"ws to Redis", "ws://app.test:6379/", ProtoEvidence{WS: wsNot(answered(wsRequest, "-ERR wrong number of arguments for 'get' command\r\n"))},
			OutcomeProtocolMismatch, CauseOtherService, High, "Redis"},
		{"ws to a TLS port answering with an alert", "ws://app.test:8443/", ProtoEvidence{WS: wsNot(answered(wsRequest, tlsAlert))},
			OutcomeProtocolMismatch, CauseTLSExpected, High, "TLS alert"},
		{"ws silent", "ws://app.test:8282/chat", ProtoEvidence{WS: wsNot(noAnswer(wsRequest, probe.Silent)),
			Tries: []probe.Try{try(probe.TryTLS, noAnswer(clientHello, probe.Silent)), try(probe.TryFrame, noAnswer(frameWhoami, probe.Silent))}},
			OutcomeProtocolMismatch, CauseNotHTTP, Medium, "No answer to the WebSocket handshake within 3.0 s"},
		{"ws silent, TLS port", "ws://app.test:8282/chat", ProtoEvidence{WS: wsNot(noAnswer(wsRequest, probe.Silent)),
			Tries: []probe.Try{try(probe.TryTLS, answered(clientHello, serverHello))}},
			OutcomeProtocolMismatch, CauseTLSExpected, High, "TLS ServerHello"},
		{"ws closed, frame server", "ws://app.test:8282/chat", ProtoEvidence{WS: wsNot(noAnswer(wsRequest, probe.Closed)),
			Tries: []probe.Try{try(probe.TryTLS, noAnswer(clientHello, probe.Closed)), try(probe.TryFrame, answered(frameWhoami, frameOK))}},
			OutcomeProtocolMismatch, CauseNotHTTP, High, "length-prefixed frames"},
		{"ws closed, nothing known", "ws://app.test:8282/chat", ProtoEvidence{WS: wsNot(noAnswer(wsRequest, probe.Closed))},
			OutcomeProtocolMismatch, CauseNotHTTP, Medium, "closed the connection"},
		{"ws reset", "ws://app.test:8282/chat", ProtoEvidence{WS: wsNot(noAnswer(wsRequest, probe.Reset)),
			Tries: []probe.Try{try(probe.TryTLS, noAnswer(clientHello, probe.Reset))}},
			OutcomeReset, CauseResetByPeer, High, "reset the connection"},
		{"http 200", "http://app.test/", ProtoEvidence{HTTP: &probe.HTTP{Exchange: answered("GET / HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\n"),
			Status: 200, StatusLine: "HTTP/1.1 200 OK", Header: evidence.Header{"Server": {"nginx"}}, FirstByte: 2 * time.Millisecond}},
			OutcomeOK, CauseOK, High, "Phases: DNS 1.0 ms, TCP connect 1.0 ms, first byte 2.0 ms"},
		{"http to a binary protocol", "http://app.test:9000/", ProtoEvidence{HTTP: &probe.HTTP{Exchange: answered("GET / HTTP/1.1\r\n", "\x01\x02\x03\x04\x05")}},
			OutcomeProtocolMismatch, CauseNotHTTP, High, `\x01\x02`},
		{"wss to a plain HTTP port", "wss://app.test:8282/chat", ProtoEvidence{TLS: tlsFailed(answered(clientHello, "HTTP/1.1 400 Bad Request\r\n\r\n"))},
			OutcomeTLSFailure, CauseTLSUnexpected, High, "plain HTTP answer"},
		{"wss to a plain port that waits", "wss://app.test:8282/chat", ProtoEvidence{TLS: tlsFailed(noAnswer(clientHello, probe.Silent)),
			Tries: []probe.Try{try(probe.TryHTTP, answered("GET / HTTP/1.1\r\n", "HTTP/1.1 400 Bad Request\r\n"))}},
			OutcomeTLSFailure, CauseTLSUnexpected, High, "plain HTTP request got"},
		{"wss to a silent port", "wss://app.test:8282/chat", ProtoEvidence{TLS: tlsFailed(noAnswer(clientHello, probe.Silent)),
			Tries: []probe.Try{try(probe.TryHTTP, noAnswer("GET / HTTP/1.1\r\n", probe.Silent))}},
			OutcomeTLSFailure, CauseTLSUnexpected, Medium, "answers a ClientHello at once"},
		{"wss reset", "wss://app.test:8282/chat", ProtoEvidence{TLS: tlsFailed(noAnswer(clientHello, probe.Reset))},
			OutcomeReset, CauseResetByPeer, High, "TLS ClientHello"},
		{"tls to SSH", "tls://app.test:22", ProtoEvidence{TLS: tlsFailed(answered(clientHello, "SSH-2.0-OpenSSH_9.2p1\r\n"))},
			OutcomeProtocolMismatch, CauseOtherService, High, "an SSH server"},
		{"tls alert", "tls://203.0.113.2:443", ProtoEvidence{TLS: &probe.TLS{Exchange: answered(clientHello, tlsAlert), Alert: "unrecognized name",
			Err: errors.New("remote error: tls: unrecognized name")}},
			OutcomeTLSFailure, CauseUnknown, Medium, "SNI"},
		{"tls ok", "tls://app.test:443", ProtoEvidence{TLS: tlsDone()}, OutcomeOK, CauseOK, High, "TLS 1.3"},
		{"wss expired, ws fine", "wss://app.test/chat", ProtoEvidence{TLS: tlsDone(probe.CertProblem{Kind: probe.Expired}),
			WS: &probe.WebSocket{HTTP: probe.HTTP{Status: 101, Path: "/chat", Header: evidence.Header{}}, Upgraded: true}},
			OutcomeTLSFailure, CauseTLSCertificate, High, "expired on 2026-04-01 00:00 UTC"},
		{"https wrong name", "https://app.test/", ProtoEvidence{TLS: tlsDone(probe.CertProblem{Kind: probe.WrongName, Name: "api.test"}),
			HTTP: &probe.HTTP{Status: 200, StatusLine: "HTTP/1.1 200 OK", Header: evidence.Header{}}},
			OutcomeTLSFailure, CauseTLSCertificate, High, "for app.test, www.app.test; the client asked for api.test"},
		{"wss untrusted", "wss://app.test/chat", ProtoEvidence{TLS: tlsDone(probe.CertProblem{Kind: probe.Untrusted}),
			WS: wsAnswer(404, http.Header{}, "")},
			OutcomeTLSFailure, CauseTLSCertificate, High, "issued by CN=R11,O=Let's Encrypt"},
		{"text echo", "text://app.test:5678", ProtoEvidence{Message: &probe.Message{Exchange: answered("whoami\n", "whoami\n")}},
			OutcomeOK, CauseOK, High, `answered: whoami\n`},
		{"text silent", "text://app.test:5678", ProtoEvidence{Message: &probe.Message{Exchange: noAnswer("whoami\n", probe.Silent)}},
			OutcomeOK, CauseOK, High, "no answer within 200 ms"},
		{"text to a web server", "text://app.test:8080", ProtoEvidence{Message: &probe.Message{Exchange: answered("whoami\n", "HTTP/1.1 400 Bad Request\r\n"),
			Service: probe.Service{Name: probe.SvcHTTP, Detail: "HTTP/1.1 400 Bad Request"}}},
			OutcomeProtocolMismatch, CauseOtherService, High, "an HTTP server"},
		{"text to a TLS port", "text://app.test:8443", ProtoEvidence{Message: &probe.Message{Exchange: answered("whoami\n", tlsAlert),
			Service: probe.Service{Name: probe.SvcTLS, Detail: "TLS alert: protocol version"}}},
			OutcomeProtocolMismatch, CauseTLSExpected, High, "TLS record"},
		{"text to a frame worker", "text://app.test:5678", ProtoEvidence{Message: &probe.Message{Exchange: noAnswer("whoami\n", probe.Closed)},
			Tries: []probe.Try{try(probe.TryTLS, noAnswer(clientHello, probe.Closed)), try(probe.TryFrame, answered(frameWhoami, frameOK))}},
			OutcomeProtocolMismatch, CauseOtherService, High, "a Workerman frame server"},
		{"text closed, nothing known", "text://app.test:5678", ProtoEvidence{Message: &probe.Message{Exchange: noAnswer("whoami\n", probe.Closed)}},
			OutcomeProtocolMismatch, CauseUnknown, Low, "closed the connection"},
		{"text reset", "text://app.test:5678", ProtoEvidence{Message: &probe.Message{Exchange: noAnswer("whoami\n", probe.Reset)}},
			OutcomeReset, CauseResetByPeer, High, "reset"},
		{"frame answered", "frame://app.test:5678", ProtoEvidence{Message: &probe.Message{Exchange: answered(frameWhoami, frameOK),
			Service: probe.Service{Name: probe.SvcFrame}}},
			OutcomeOK, CauseOK, High, "ok:whoami"},
		{"frame to a text echo", "frame://app.test:5678", ProtoEvidence{Message: &probe.Message{Exchange: answered(frameWhoami, "\x00\x00\x00\n"),
			Service: probe.Service{Name: probe.SvcEcho}}},
			OutcomeProtocolMismatch, CauseOtherService, High, `\x00\x00\x00\n`},
		{"wss silent, a service that waits answers plain HTTP", "wss://app.test:6379/", ProtoEvidence{TLS: tlsFailed(noAnswer(clientHello, probe.Silent)),
			Tries: []probe.Try{try(probe.TryHTTP, answered("GET / HTTP/1.1\r\n", "-ERR unknown command 'GET'\r\n"))}},
			OutcomeProtocolMismatch, CauseOtherService, High, "Redis"},
		{"wss closed at once, nothing known", "wss://app.test:8282/chat", ProtoEvidence{TLS: tlsFailed(noAnswer(clientHello, probe.Closed))},
			OutcomeTLSFailure, CauseUnknown, Low, "closed the connection"},
		{"tls failed otherwise", "tls://app.test:443", ProtoEvidence{TLS: &probe.TLS{Exchange: probe.Exchange{Sent: []byte(clientHello), Reply: probe.Failed},
			Err: errors.New("tls: oversized record received")}},
			OutcomeTLSFailure, CauseUnknown, Low, "oversized record"},
		{"ws to binary, ClientHello answered", "ws://app.test:8443/", ProtoEvidence{WS: wsNot(answered(wsRequest, "\x01\x02\x03")),
			Tries: []probe.Try{try(probe.TryTLS, answered(clientHello, serverHello))}},
			OutcomeProtocolMismatch, CauseTLSExpected, High, "TLS ServerHello"},
		{"ws silent, the port is Redis", "ws://app.test:6379/", ProtoEvidence{WS: wsNot(noAnswer(wsRequest, probe.Silent)),
			Tries: []probe.Try{try(probe.TryHTTP, answered("GET / HTTP/1.1\r\n", "-ERR unknown command 'GET'\r\n"))}},
			OutcomeProtocolMismatch, CauseOtherService, High, "Redis"},
		{"ws failed otherwise", "ws://app.test:8282/chat", ProtoEvidence{WS: &probe.WebSocket{HTTP: probe.HTTP{Exchange: probe.Exchange{Reply: probe.Failed},
			Path: "/chat", Header: evidence.Header{}, Err: errors.New("write: broken pipe")}}},
			OutcomeProtocolMismatch, CauseUnknown, Low, "broken pipe"},
		{"text to a conndiag listen endpoint", "text://app.test:5678", ProtoEvidence{Message: &probe.Message{Exchange: answered("whoami\n", "{}\n"),
			Whoami: &probe.Whoami{Proto: "text", Version: "1.0"}}},
			OutcomeOK, CauseOK, High, "5678"},
		{"text closed, TLS port", "text://app.test:8443", ProtoEvidence{Message: &probe.Message{Exchange: noAnswer("whoami\n", probe.Closed)},
			Tries: []probe.Try{try(probe.TryTLS, answered(clientHello, serverHello))}},
			OutcomeProtocolMismatch, CauseTLSExpected, High, "TLS ServerHello"},
		{"text closed, web server", "text://app.test:8080", ProtoEvidence{Message: &probe.Message{Exchange: noAnswer("whoami\n", probe.Closed)},
			Tries: []probe.Try{try(probe.TryHTTP, answered("GET / HTTP/1.1\r\n", "HTTP/1.1 400 Bad Request\r\n"))}},
			OutcomeProtocolMismatch, CauseOtherService, High, "an HTTP server"},
		{"frame closed, text worker", "frame://app.test:5678", ProtoEvidence{Message: &probe.Message{Exchange: noAnswer(frameWhoami, probe.Closed)},
			Tries: []probe.Try{try(probe.TryText, answered("whoami\n", "whoami\n"))}},
			OutcomeProtocolMismatch, CauseOtherService, High, "text"},
		{"text failed otherwise", "text://app.test:5678", ProtoEvidence{Message: &probe.Message{Exchange: probe.Exchange{Reply: probe.Failed}}},
			OutcomeProtocolMismatch, CauseUnknown, Low, "text"},
		{"frame to garbage", "frame://app.test:5678", ProtoEvidence{Message: &probe.Message{Exchange: answered(frameWhoami, "\x01\x02\x03\x04\x05"),
			Service: probe.Service{Name: probe.SvcBinary}}},
			OutcomeProtocolMismatch, CauseUnknown, Low, "not a frame"},
	}
	p := i18n.New("en")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pe := tt.p
			out, fs := Decide(protoEv(t, tt.target, &pe))
			snap.add(tt.name, out, fs)
			if out != tt.outcome || fs[0].Cause != tt.cause || fs[0].Confidence != tt.conf {
				t.Fatalf("got %s / %s / %s, want %s / %s / %s\n%s", out, fs[0].Cause, fs[0].Confidence, tt.outcome, tt.cause, tt.conf, render(p, fs))
			}
			text := render(p, fs)
			if !strings.Contains(text, tt.ev) {
				t.Errorf("want evidence %q in:\n%s", tt.ev, text)
			}
			if strings.Contains(text, "<no value>") {
				t.Errorf("a message lacks an argument:\n%s", text)
			}
		})
	}
}

// render prints findings as text and fails on any message ID the catalog lacks.
func render(p *i18n.Printer, fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(string(f.Cause) + ": " + p.Text(f.Summary) + "\n")
		for _, m := range append(append([]i18n.Msg{}, f.Evidence...), f.Fix...) {
			b.WriteString("  " + p.Text(m) + "\n")
		}
	}
	return b.String()
}

// Messages are looked up by IDs built at run time (service.NAME, reply.X,
// the ui.step.NAME of the exchange): each must exist.
func TestProtocolMessageIDs(t *testing.T) {
	en, err := i18n.Texts("en")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range []string{probe.SvcTLS, probe.SvcHTTP, probe.SvcSSH, probe.SvcSMTP, probe.SvcFTP, probe.SvcSMTPOrFTP,
		probe.SvcPOP3, probe.SvcIMAP, probe.SvcMySQL, probe.SvcPostgres, probe.SvcRedis, probe.SvcVNC, probe.SvcAMQP,
		probe.SvcTelnet, probe.SvcMemcached, probe.SvcEcho, probe.SvcFrame, probe.SvcText, probe.SvcBinary} {
		ids = append(ids, "service."+s)
	}
	for _, r := range []probe.Reply{probe.Answered, probe.Silent, probe.Closed, probe.Reset, probe.Failed} {
		ids = append(ids, "reply."+string(r))
	}
	for _, s := range []string{"tls", "websocket", "http", "text", "frame", "tcp", "try_tls", "try_http", "try_frame", "try_text"} {
		ids = append(ids, "ui.step."+s)
	}
	for _, id := range ids {
		if _, ok := en[id]; !ok {
			t.Errorf("%s is missing from locales/en.toml", id)
		}
	}
	// Every step name the exchange can produce is in the list above.
	pe := &ProtoEvidence{Protocol: target.Text, TLS: &probe.TLS{}, Message: &probe.Message{},
		Tries: []probe.Try{{Kind: probe.TryTLS}, {Kind: probe.TryHTTP}, {Kind: probe.TryFrame}, {Kind: probe.TryText}}}
	for _, st := range pe.Steps() {
		if _, ok := en["ui.step."+st.Name]; !ok {
			t.Errorf("step %q has no ui.step message", st.Name)
		}
	}
}

// A conndiag listen endpoint is named in the evidence with the address it sees.
func TestDecideProtocolWhoami(t *testing.T) {
	pe := &ProtoEvidence{Message: &probe.Message{Exchange: answered("whoami\n", `{"conndiag":"listen"}`+"\n")}}
	ev := protoEv(t, "text://app.test:5678", pe)
	ev.Addrs[0].Whoami = &Whoami{Proto: "text", Version: "1.0", Client: netip.MustParseAddrPort("192.0.2.7:40000"),
		Server: netip.MustParseAddrPort("203.0.113.2:5678")}
	pe.Message.Whoami = &probe.Whoami{Proto: "text"}
	out, fs := Decide(ev)
	text := render(i18n.New("en"), fs)
	if out != OutcomeOK || !strings.Contains(text, "conndiag test endpoint") || !strings.Contains(text, "sees this client as 192.0.2.7:40000") {
		t.Errorf("got %s:\n%s", out, text)
	}

	ws := wsAnswer(200, http.Header{"Server": {"conndiag-listen/1.0"}}, "")
	_, fs = Decide(protoEv(t, "ws://app.test:8080/", &ProtoEvidence{WS: ws}))
	if text := render(i18n.New("en"), fs); !strings.Contains(text, "conndiag test endpoint (conndiag listen 1.0)") {
		t.Errorf("the Server header alone must name the endpoint:\n%s", text)
	}
}

// cut is an answer that began and was not read to its end.
func cut(sent, got string, total int, c probe.Cut, d time.Duration) probe.Exchange {
	e := answered(sent, got[:min(len(got), probe.MaxKeep)])
	e.ReceivedN, e.Cut, e.Duration = total, c, d
	return e
}

// An answer cut at the byte cap or unfinished at the deadline proves no
// protocol: unknown, medium for a whole HTTP status line, low otherwise;
// never not_http or other_service with certainty.
func TestDecideCutAnswer(t *testing.T) {
	snap := newSnapshot(t)
	endless101 := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Long: " + strings.Repeat("a", 3000)
	endless200 := "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 3000)
	const d = 3 * time.Second
	tests := []struct {
		name    string
		target  string
		p       ProtoEvidence
		outcome Outcome
		cause   Cause
		conf    Confidence
		summary string // the English summary, exactly
		ev      string // a line of evidence that must be there
	}{
		{"ws endless header after 101", "ws://app.test:8282/chat",
			ProtoEvidence{WS: wsNot(cut(wsRequest, endless101, probe.MaxAnswer, probe.CutCap, 20*time.Millisecond))},
			OutcomeProtocolMismatch, CauseUnknown, Medium,
			"An HTTP server answered (HTTP/1.1 101 Switching Protocols), but its header does not end: conndiag stopped reading after 65536 bytes, and clients give up too.",
			`The answer was cut at 65536 bytes, the most conndiag reads of one answer: HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n`},
		{"http endless header after 200", "http://app.test/",
			ProtoEvidence{HTTP: &probe.HTTP{Exchange: cut("GET / HTTP/1.1\r\n", endless200, probe.MaxAnswer, probe.CutCap, 20*time.Millisecond)}},
			OutcomeProtocolMismatch, CauseUnknown, Medium,
			"An HTTP server answered (HTTP/1.1 200 OK), but its header does not end: conndiag stopped reading after 65536 bytes, and clients give up too.",
			"(65536 bytes)"},
		{"endless status line", "ws://app.test:8282/chat",
			ProtoEvidence{WS: wsNot(cut(wsRequest, "HTTP/1.1 200 "+strings.Repeat("x", 3000), probe.MaxAnswer, probe.CutCap, 20*time.Millisecond))},
			OutcomeProtocolMismatch, CauseUnknown, Low,
			"The answer to the WebSocket handshake does not end: conndiag stopped reading after 65536 bytes without a complete answer.",
			"cut at 65536 bytes"},
		{"ws stall after the status line", "ws://app.test:8282/chat",
			ProtoEvidence{WS: wsNot(cut(wsRequest, "HTTP/1.1 101 Switching Protocols\r\n", 34, probe.CutDeadline, d))},
			OutcomeTimeout, CauseUnknown, Medium,
			"An HTTP server answered (HTTP/1.1 101 Switching Protocols) but did not finish its answer within 3.0 s: it stalled, or it sends too slowly.",
			`After 3.0 s the answer to the WebSocket handshake was still incomplete (34 bytes had come): HTTP/1.1 101 Switching Protocols\r\n`},
		{"http trickle", "http://app.test:8080/",
			ProtoEvidence{HTTP: &probe.HTTP{Exchange: cut("GET / HTTP/1.1\r\n", "HTTP/1.", 7, probe.CutDeadline, d)}},
			OutcomeTimeout, CauseUnknown, Low,
			"The server began to answer the HTTP request but had not finished after 3.0 s; the bytes that came are too few to tell what it speaks.",
			"(7 bytes had come): HTTP/1."},
		{"a start that looks like SSH is no proof", "ws://app.test:8282/chat",
			ProtoEvidence{WS: wsNot(cut(wsRequest, "SSH-2.0-Open", 12, probe.CutDeadline, d))},
			OutcomeTimeout, CauseUnknown, Low,
			"The server began to answer the WebSocket handshake but had not finished after 3.0 s; the bytes that came are too few to tell what it speaks.",
			"SSH-2.0-Open"},
		{"escape sequences are shown escaped", "ws://app.test:8282/chat",
			ProtoEvidence{WS: wsNot(cut(wsRequest, "\x1b]0;owned\x07\x1b[2J\r", 13, probe.CutDeadline, d))},
			OutcomeTimeout, CauseUnknown, Low,
			"The server began to answer the WebSocket handshake but had not finished after 3.0 s; the bytes that came are too few to tell what it speaks.",
			`\x1b]0;owned\x07\x1b[2J\r`},
		{"cut, but a fresh ClientHello got TLS", "ws://app.test:8282/chat",
			ProtoEvidence{WS: wsNot(cut(wsRequest, "\x00\x01", 2, probe.CutDeadline, d)), Tries: []probe.Try{try(probe.TryTLS, answered(clientHello, serverHello))}},
			OutcomeProtocolMismatch, CauseTLSExpected, High, "", "TLS ServerHello"},
		{"cut after a TLS record header", "ws://app.test:8282/chat",
			ProtoEvidence{WS: wsNot(cut(wsRequest, tlsAlert[:5], 5, probe.CutDeadline, d))},
			OutcomeProtocolMismatch, CauseTLSExpected, High, "", "TLS alert"},
		{"wss, two bytes then a stall", "wss://app.test:8443/chat",
			ProtoEvidence{TLS: tlsFailed(cut(clientHello, "\x16\x03", 2, probe.CutDeadline, d))},
			OutcomeTimeout, CauseUnknown, Low,
			"The server began to answer the TLS ClientHello but had not finished after 3.0 s; the bytes that came are too few to tell what it speaks.",
			`\x16\x03`},
		{"wss, a ServerHello that stops", "wss://app.test:8443/chat",
			ProtoEvidence{TLS: tlsFailed(cut(clientHello, serverHello, 9, probe.CutDeadline, d))},
			OutcomeTimeout, CauseUnknown, Low,
			"The server began to answer the TLS ClientHello but had not finished after 3.0 s; the bytes that came are too few to tell what it speaks.",
			"TLS ServerHello"},
		{"wss, a record header that stops, a fresh ClientHello answered", "wss://app.test:8443/chat",
			ProtoEvidence{TLS: tlsFailed(cut(clientHello, "\x16\x03", 2, probe.CutDeadline, d)), Tries: []probe.Try{try(probe.TryTLS, answered(clientHello, serverHello))}},
			OutcomeProtocolMismatch, CauseTLSExpected, High, "", "TLS ServerHello"},
		{"wss, plain bytes that stop still prove plain", "wss://app.test:8443/chat",
			ProtoEvidence{TLS: tlsFailed(cut(clientHello, "HTTP/1.1 400", 12, probe.CutDeadline, d))},
			OutcomeTLSFailure, CauseTLSUnexpected, High, "", "HTTP/1.1 400"},
		{"the same start, whole, is not_http", "http://app.test:8080/",
			ProtoEvidence{HTTP: &probe.HTTP{Exchange: answered("GET / HTTP/1.1\r\n", "hello\n")}},
			OutcomeProtocolMismatch, CauseNotHTTP, High, "", "hello"},
	}
	p := i18n.New("en")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pe := tt.p
			out, fs := Decide(protoEv(t, tt.target, &pe))
			snap.add(tt.name, out, fs)
			text := render(p, fs)
			if out != tt.outcome || fs[0].Cause != tt.cause || fs[0].Confidence != tt.conf {
				t.Fatalf("got %s / %s / %s, want %s / %s / %s\n%s", out, fs[0].Cause, fs[0].Confidence, tt.outcome, tt.cause, tt.conf, text)
			}
			if tt.summary != "" && p.Text(fs[0].Summary) != tt.summary {
				t.Errorf("summary %q\nwant    %q", p.Text(fs[0].Summary), tt.summary)
			}
			if !strings.Contains(text, tt.ev) {
				t.Errorf("want evidence %q in:\n%s", tt.ev, text)
			}
			if strings.Contains(text, "<no value>") || strings.ContainsAny(text, "\x1b\x07") {
				t.Errorf("a message lacks an argument or shows raw control bytes:\n%s", text)
			}
			for _, lang := range []string{"ar", "zh"} {
				if s := render(i18n.New(lang), fs); strings.Contains(s, "<no value>") {
					t.Errorf("%s: a message lacks an argument:\n%s", lang, s)
				}
			}
		})
	}
}
