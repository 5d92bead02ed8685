package verdict

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
)

var (
	brPage = netip.MustParseAddr("198.51.100.7")
	brFrom = netip.AddrPortFrom(brPage, 41234)
)

// brOwn is the browser's connection to an endpoint of the listen that
// served the page.
func brOwn(port uint16, scheme string, s evidence.BrowserSide, v evidence.ServerSide) Browser {
	return Browser{URL: scheme + "://203.0.113.2:" + strconv.Itoa(int(port)) + "/", Scheme: scheme, Host: "203.0.113.2", Port: port,
		PagePort: 8080, PageFrom: brPage, Timeout: 4 * time.Second, Seen: s, Own: true, Server: v}
}

// brTyped is the browser's connection to a URL the person typed.
func brTyped(url string, s evidence.BrowserSide, check string) Browser {
	port := uint16(8282)
	if strings.Contains(url, ":8080") {
		port = 8080
	}
	return Browser{URL: url, Scheme: "ws", Host: "192.0.2.9", Port: port, PagePort: 8080, PageFrom: brPage,
		Timeout: 4 * time.Second, Seen: s, Check: check}
}

var (
	brFailed = evidence.BrowserSide{Errored: true, Error: 3 * time.Millisecond, Closed: true, Close: 4 * time.Millisecond, Code: 1006}
	brOpen   = evidence.BrowserSide{Opened: true, Open: 2 * time.Millisecond, Echo: true}
	brGaveUp = evidence.BrowserSide{GaveUp: true}
)

func brDeaths(ages ...time.Duration) evidence.BrowserSide {
	s := brOpen
	for _, a := range ages {
		s.Deaths = append(s.Deaths, Death{Age: a, Code: 1006})
	}
	s.Held = 75 * time.Second
	return s
}

func TestDecideBrowser(t *testing.T) {
	snap := newSnapshot(t)
	upgraded := evidence.ServerSide{Arrived: true, From: brFrom, Upgraded: true}
	checkFindings := func(c Cause) []Finding {
		return []Finding{{Cause: c, Confidence: High, Summary: i18n.M("cause."+string(c)+".summary", "Status", 200), Rule: "websocket.http_200"}}
	}
	tests := []struct {
		name  string
		b     Browser
		check []Finding
		cause Cause
		conf  Confidence
		rule  string
	}{
		{"working endpoint", brOwn(8282, "ws", brOpen, upgraded), nil, CauseOK, High, "browser.ok"},
		{"open but the server saw no 101", brOwn(8282, "ws", brOpen, evidence.ServerSide{}), nil, CauseOK, Medium, "browser.ok"},
		{"typed URL opens", brTyped("ws://192.0.2.9:8282/", brOpen, "ok"), nil, CauseOK, High, "browser.ok"},
		{"mixed content", func() Browser {
			b := brOwn(8282, "ws", evidence.BrowserSide{Thrown: "SecurityError", ThrownMsg: "An insecure WebSocket connection may not be initiated from a page loaded over HTTPS."}, evidence.ServerSide{})
			b.PageTLS = true
			return b
		}(), nil, CauseBlockedByClient, High, "browser.mixed_content"},
		{"security error on a plain page", brOwn(6000, "ws", evidence.BrowserSide{Thrown: "SecurityError", ThrownMsg: "The port 6000 is not allowed."}, evidence.ServerSide{}),
			nil, CauseBlockedByClient, Medium, "browser.thrown_security"},
		{"syntax error", brTyped("ws://a b/", evidence.BrowserSide{Thrown: "SyntaxError", ThrownMsg: "The URL is invalid."}, ""), nil, CauseUnknown, Medium, "browser.thrown"},
		{"listen's own idle timeout", brOwn(8282, "ws", brDeaths(10*time.Second),
			evidence.ServerSide{Arrived: true, From: brFrom, Upgraded: true, Ended: true, End: "idle_timeout", Age: 10 * time.Second}),
			nil, CauseIdleTimeout, High, "browser.idle_listen"},
		{"two deaths at the same age", brOwn(8282, "ws", brDeaths(60*time.Second, 60500*time.Millisecond), upgraded), nil, CauseIdleTimeout, High, "browser.idle"},
		{"one death, still open on the server", brOwn(8282, "ws", brDeaths(100*time.Second), upgraded), nil, CauseIdleTimeout, Medium, "browser.idle_once"},
		{"deaths at different ages", brTyped("ws://192.0.2.9:8282/", brDeaths(20*time.Second, 61*time.Second), ""), nil, CauseIdleTimeout, Low, "browser.idle_once"},
		{"wss to a plain port", brOwn(8282, "wss", brFailed, evidence.ServerSide{Arrived: true, From: brFrom, Status: 400, NotHTTP: true}),
			nil, CauseTLSUnexpected, High, "browser.tls_unexpected"},
		{"ws to a TLS port", brOwn(8443, "ws", brFailed, evidence.ServerSide{TLS: true, Arrived: true, From: brFrom, TLSFailed: true,
			TLSErr: "tls: first record does not look like a TLS handshake"}), nil, CauseTLSExpected, High, "browser.tls_expected"},
		{"self-signed certificate", brOwn(8443, "wss", brFailed, evidence.ServerSide{TLS: true, Arrived: true, From: brFrom, TLSFailed: true,
			TLSErr: "remote error: tls: bad certificate"}), nil, CauseTLSCertificate, Medium, "browser.tls_certificate"},
		{"handshake to the http port", brOwn(8080, "ws", brFailed, evidence.ServerSide{HTTP: true, Arrived: true, From: brFrom, Status: 200}),
			nil, CauseWSUpgradeRejected, High, "browser.ws_rejected"},
		{"handshake to a text port", brOwn(5678, "ws", brFailed, evidence.ServerSide{Plain: true, Arrived: true, From: brFrom, Ended: true, End: "client_closed"}),
			nil, CauseNotHTTP, High, "browser.not_http"},
		{"handshake got 404", brOwn(8081, "ws", brFailed, evidence.ServerSide{Arrived: true, From: brFrom, Status: 404}), nil, CauseWSPathNotFound, High, "browser.ws_path"},
		{"handshake got 403", brOwn(8081, "ws", brFailed, evidence.ServerSide{Arrived: true, From: brFrom, Status: 403}), nil, CauseWSOriginRejected, High, "browser.ws_origin"},
		{"closed right after open", brOwn(8282, "ws", evidence.BrowserSide{Opened: true, Open: 2 * time.Millisecond, Closed: true, Close: 30 * time.Millisecond, Code: 1006},
			evidence.ServerSide{Arrived: true, From: netip.MustParseAddrPort("10.1.1.1:5000"), Upgraded: true, Ended: true, End: "reset", Age: 28 * time.Millisecond}),
			nil, CauseResetByPeer, Medium, "browser.closed_early"},
		{"closed cleanly right after open", brTyped("ws://192.0.2.9:8282/", evidence.BrowserSide{Opened: true, Open: 2 * time.Millisecond, Closed: true,
			Close: 9 * time.Millisecond, Code: 1008, Reason: "policy", Clean: true}, ""), nil, CauseResetByPeer, Low, "browser.closed_early"},
		{"101 sent, browser failed", brOwn(8282, "ws", brFailed, upgraded), nil, CauseProxyInPath, Low, "browser.upgraded_not_open"},
		{"arrived without a request", brOwn(8282, "ws", brGaveUp, evidence.ServerSide{Arrived: true, From: brFrom}), nil, CauseUnknown, Low, "browser.no_request"},
		{"never arrived: dropped", brOwn(8282, "ws", brGaveUp, evidence.ServerSide{}), nil, CauseFiltered, Medium, "browser.filtered"},
		{"never arrived: refused on the way", brOwn(8282, "ws", brFailed, evidence.ServerSide{}), nil, CauseFirewallReject, Medium, "browser.refused_own"},
		{"typed URL: server reaches it", brTyped("ws://192.0.2.9:8282/", brGaveUp, "ok"), nil, CauseClientFirewall, Medium, "browser.server_reaches"},
		{"typed URL: refused, check agrees", brTyped("ws://192.0.2.9:8282/", brFailed, "not_listening"), checkFindings(CauseNotListening), CauseNotListening, Medium, "browser.refused"},
		{"typed URL: refused, no check", brTyped("ws://192.0.2.9:8282/", brFailed, ""), nil, CauseNotListening, Low, "browser.refused"},
		{"typed URL: a port browsers refuse", func() Browser {
			b := brTyped("ws://192.0.2.9:6000/", brFailed, "ok")
			b.Port = 6000
			return b
		}(), checkFindings(CauseOK), CauseBlockedByClient, High, "browser.bad_port"},
		{"own endpoint on a port browsers refuse", brOwn(6667, "ws", brFailed, evidence.ServerSide{}), nil, CauseBlockedByClient, High, "browser.bad_port"},
		{"typed URL: check names the protocol", brTyped("ws://192.0.2.9:8080/", brFailed, "ws_upgrade_rejected"), checkFindings(CauseWSUpgradeRejected),
			CauseWSUpgradeRejected, High, "websocket.http_200"},
		{"typed URL: no answer, check agrees", brTyped("ws://192.0.2.9:8282/", brGaveUp, "filtered"), nil, CauseFiltered, Medium, "browser.timeout"},
		{"typed URL: no answer", brTyped("ws://192.0.2.9:8282/", brGaveUp, ""), nil, CauseFiltered, Low, "browser.timeout"},
		{"nothing happened", brTyped("ws://192.0.2.9:8282/", evidence.BrowserSide{}, ""), nil, CauseUnknown, Low, "browser.unknown"},
	}
	for _, tt := range tests {
		fs := DecideBrowser(tt.b, tt.check)
		if len(fs) == 0 {
			t.Errorf("%s: no finding", tt.name)
			continue
		}
		if fs[0].Cause != tt.cause || fs[0].Confidence != tt.conf || fs[0].Rule != tt.rule {
			t.Errorf("%s: got %s (%s) by %s, want %s (%s) by %s", tt.name, fs[0].Cause, fs[0].Confidence, fs[0].Rule, tt.cause, tt.conf, tt.rule)
		}
		snap.add(tt.name, Catalog(fs[0].Cause).Outcome, fs)
	}
}

// The alternatives of a failure that never arrived are listed after it,
// in the order a person should rule them out.
func TestDecideBrowserAlternatives(t *testing.T) {
	fs := DecideBrowser(brOwn(8282, "ws", brFailed, evidence.ServerSide{}), nil)
	var got []Cause
	for _, f := range fs {
		got = append(got, f.Cause)
	}
	want := []Cause{CauseFirewallReject, CauseProxyInPath, CauseBlockedByClient}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	fs = DecideBrowser(brOwn(8282, "ws", brGaveUp, evidence.ServerSide{}), nil)
	if len(fs) != 2 || fs[1].Cause != CauseClientFirewall {
		t.Errorf("a dropped port lists the browser's own network after it: %+v", fs)
	}
}
