package verdict

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/probe"
	"github.com/conndiag/conndiag/internal/target"
)

// Bodies as the real software sends them (captured from nginx 1.22, Python
// websockets 10.4, HAProxy 2.6, Envoy, Apache 2.4, Go net/http, Express).
const (
	nginx502    = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"
	nginx404    = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"
	nginx503    = "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"
	pyNoHTTP11  = "Failed to open a WebSocket connection: did not receive a valid HTTP request.\n"
	pyNoConn    = "Failed to open a WebSocket connection: invalid Connection header: close.\n\nYou cannot access a WebSocket server directly with a browser. You need a WebSocket client.\n"
	pyOrigin    = "Failed to open a WebSocket connection: invalid Origin header: http://app.test:8282.\n"
	pyShutdown  = "Failed to open a WebSocket connection: server shutting down.\n"
	haproxy503  = "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n"
	apache503   = "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>503 Service Unavailable</title>\n</head><body>\n<h1>Service Unavailable</h1>\n<hr>\n<address>Apache/2.4.57 (Debian) Server at app.test Port 80</address>\n</body></html>\n"
	expressMiss = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot GET /chat</pre>\n</body>\n</html>\n"
	pyHTTP404   = "<!DOCTYPE HTML>\n<html lang=\"en\">\n    <head>\n        <meta charset=\"utf-8\">\n        <title>Error response</title>\n"
)

var (
	pyServer  = http.Header{"Server": {"Python/3.11 websockets/10.4"}}
	nginxHdr  = http.Header{"Server": {"nginx/1.22.1"}}
	goNotFoun = http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "X-Content-Type-Options": {"nosniff"}}
)

func ws101() *probe.WebSocket {
	return &probe.WebSocket{HTTP: probe.HTTP{Exchange: answered(wsRequest, "HTTP/1.1 101 Switching Protocols\r\n\r\n"), Status: 101,
		StatusLine: "HTTP/1.1 101 Switching Protocols", Header: evidence.Header{}}, Upgraded: true}
}

func withOrigin(w *probe.WebSocket, origin string) *probe.WebSocket { w.Origin = origin; return w }

func hop(t *testing.T, raw string, w *probe.WebSocket) evidence.Retry {
	tg, err := target.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return evidence.Retry{URL: tg, WS: w}
}

// closed is a handshake, a fingerprint or the idle try that got a close without a byte.
func closedTry(kind probe.TryKind, sent string, r probe.Reply) probe.Try {
	e := noAnswer(sent, r)
	e.Duration = 400 * time.Microsecond
	return probe.Try{Kind: kind, Exchange: e}
}

func TestDecideWSVerdicts(t *testing.T) {
	snap := newSnapshot(t)
	owner := func(name string) []evidence.Owner { return []evidence.Owner{{PID: 4242, Process: name}} }
	closedWS := func(r probe.Reply) *probe.WebSocket { return wsNot(noAnswer(wsRequest, r)) }
	forwarderTries := func(r probe.Reply) []probe.Try {
		return []probe.Try{closedTry(probe.TryTLS, clientHello, r), closedTry(probe.TryFrame, frameWhoami, r),
			closedTry(probe.TryText, "whoami\n", r), closedTry(probe.TryIdle, "", probe.Closed)}
	}
	tlsClosed := &probe.TLS{Exchange: noAnswer(clientHello, probe.Closed), ServerName: "app.test", Err: errors.New("EOF")}
	tests := []struct {
		name    string
		target  string
		p       ProtoEvidence
		local   bool
		outcome Outcome
		cause   Cause
		conf    Confidence
		fix     string   // the first fix line, exactly
		not     []string // texts that must not appear
	}{
		// nginx in front of a WebSocket app, without the upgrade headers.
		{"nginx without upgrade headers, HTTP/1.0 to python", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(400, nginxHdr, pyNoHTTP11)}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, High,
			"nginx passed the handshake to the application without the upgrade: by default it speaks HTTP/1.0 to the upstream and drops the Upgrade and Connection headers. In the location that proxies to the application, add:",
			[]string{"Workerman", "new Worker"}},
		{"nginx with HTTP/1.1 but no Upgrade: python says 426", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(426, http.Header{"Server": {"nginx/1.22.1"}, "Upgrade": {"websocket"}}, pyNoConn)}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, High,
			"nginx passed the handshake to the application without the upgrade: by default it speaks HTTP/1.0 to the upstream and drops the Upgrade and Connection headers. In the location that proxies to the application, add:",
			[]string{"Workerman"}},
		{"nginx passes a bare 400 on", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(400, nginxHdr, "Bad Request")}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, Medium,
			"nginx passed the handshake to the application without the upgrade: by default it speaks HTTP/1.0 to the upstream and drops the Upgrade and Connection headers. In the location that proxies to the application, add:", nil},
		{"Apache without upgrade=websocket", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(426, http.Header{"Server": {"Apache/2.4.57 (Debian)"}}, "Upgrade Required")}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, High,
			"Apache passes the upgrade only when asked: on Apache 2.4.47 or later, add upgrade=websocket to the ProxyPass line of this path (your application's address in place of 127.0.0.1:8282; before 2.4.47, mod_proxy_wstunnel and a ws:// ProxyPass):", nil},
		{"Caddy passes the upgrade: the app refused", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(400, http.Header{"Server": {"Caddy"}}, "Bad Request")}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, Medium,
			"Caddy's reverse_proxy passes WebSocket upgrades by itself, so the application behind it refused the handshake: check that it serves WebSocket on this path, and that no header_up line overwrites Connection or Upgrade.", nil},
		{"Envoy without upgrade_configs", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(426, http.Header{"Server": {"envoy"}}, "Upgrade Required")}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, High,
			"Envoy forwards WebSocket upgrades only where the route (or the HTTP connection manager) allows them:", nil},
		{"IIS without the WebSocket feature", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(426, http.Header{"Server": {"Microsoft-IIS/10.0"}}, "")}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, High,
			"Install and enable the WebSocket Protocol feature of IIS (Server Manager: Web Server, Application Development, WebSocket Protocol); Application Request Routing then passes the upgrade.", nil},
		{"Cloudflare passes a 426 on", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(426, http.Header{"Server": {"cloudflare"}, "Cf-Ray": {"8f0c1a2b3c4d5e6f-FRA"}}, "Upgrade Required")}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, High,
			"Cloudflare passes WebSockets on its proxied ports, so the origin refused the handshake.", nil},
		{"an unnamed proxy: node ws says the Upgrade header is missing", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(400, http.Header{"Connection": {"close"}}, "Invalid Upgrade header")}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, High,
			"A proxy between this client and the WebSocket server did not pass the upgrade: it must speak HTTP/1.1 to the server and pass the Upgrade and Connection headers. In nginx, that is:", nil},
		{"a Workerman websocket worker behind a proxy that dropped the key", "ws://app.test/chat",
			ProtoEvidence{WS: func() *probe.WebSocket {
				w := wsAnswer(200, http.Header{"Server": {"workerman/4.1.15"}}, "<div style=\"text-align:center\"><h1>WebSocket</h1><hr>workerman/4.1.15</div>")
				w.StatusLine = "HTTP/1.1 200 WebSocket"
				return w
			}()}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, High,
			"A proxy between this client and the WebSocket server did not pass the upgrade: it must speak HTTP/1.1 to the server and pass the Upgrade and Connection headers. In nginx, that is:", nil},

		// A proxy whose application is down.
		{"nginx 502, dead upstream", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(502, http.Header{"Server": {"nginx/1.22.1"}, "Content-Type": {"text/html"}}, nginx502)}, false,
			OutcomeProtocolMismatch, CauseProxyUpstreamFailed, High,
			"nginx got no answer from its upstream (proxy_pass): the application behind it is down, or listens on another address or port. nginx's error log names the upstream it tried:",
			[]string{"Workerman", "ws_upgrade_rejected"}},
		{"nginx 504", "wss://app.test/chat",
			ProtoEvidence{TLS: tlsDone(), WS: wsAnswer(504, nginxHdr, "")}, false,
			OutcomeProtocolMismatch, CauseProxyUpstreamFailed, High,
			"nginx's upstream did not answer in time (proxy_connect_timeout, proxy_read_timeout): the application behind it hangs or is overloaded, or a firewall drops nginx's connection to it. nginx's error log names the upstream:", nil},
		{"nginx 503 (limit or maintenance)", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(503, nginxHdr, nginx503)}, false,
			OutcomeProtocolMismatch, CauseProxyUpstreamFailed, Medium,
			"nginx got no answer from its upstream (proxy_pass): the application behind it is down, or listens on another address or port. nginx's error log names the upstream it tried:", nil},
		{"HAProxy 503, no server", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(503, http.Header{"Content-Type": {"text/html"}}, haproxy503)}, false,
			OutcomeProtocolMismatch, CauseProxyUpstreamFailed, High,
			"HAProxy has no backend server up for this request (its health checks mark them down): start the application, or correct the server lines of the backend.", nil},
		{"Envoy 503, no healthy upstream", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(503, http.Header{"Server": {"envoy"}}, "no healthy upstream")}, false,
			OutcomeProtocolMismatch, CauseProxyUpstreamFailed, High,
			"Envoy has no healthy endpoint in the cluster of this route: start the application, or correct the cluster's address and health check.", nil},
		{"Apache 503, backend refused", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(503, http.Header{"Server": {"Apache/2.4.57 (Debian)"}}, apache503)}, false,
			OutcomeProtocolMismatch, CauseProxyUpstreamFailed, High,
			"Apache's mod_proxy could not reach the ProxyPass backend: the application is down or listens elsewhere. Apache's error log names it:", nil},
		{"Caddy 502, empty", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(502, http.Header{"Server": {"Caddy"}}, "")}, false,
			OutcomeProtocolMismatch, CauseProxyUpstreamFailed, High,
			"Caddy could not reach the reverse_proxy upstream: start the application, or correct the address; Caddy's log names the dial error.", nil},
		{"an AWS load balancer 503", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(503, http.Header{"Server": {"awselb/2.0"}}, "")}, false,
			OutcomeProtocolMismatch, CauseProxyUpstreamFailed, High,
			"The load balancer has no healthy target: check the target group's health checks, and that the application listens on the target port.", nil},
		{"IIS 502", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(502, http.Header{"Server": {"Microsoft-IIS/10.0"}}, "")}, false,
			OutcomeProtocolMismatch, CauseProxyUpstreamFailed, High,
			"IIS (Application Request Routing) could not reach the server it forwards to: start the application, or correct the rewrite rule's address.", nil},
		{"an unnamed gateway 502", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(502, http.Header{}, "Bad Gateway")}, false,
			OutcomeProtocolMismatch, CauseProxyUpstreamFailed, High,
			"Start the application behind the proxy, and check that the proxy's upstream address and port are the ones it listens on.", nil},
		{"Cloudflare 522", "wss://app.test/chat",
			ProtoEvidence{TLS: tlsDone(), WS: wsAnswer(522, http.Header{"Server": {"cloudflare"}, "Cf-Ray": {"8f0c1a2b3c4d5e6f-FRA"}}, "<!DOCTYPE html>")}, false,
			OutcomeProtocolMismatch, CauseProxyUpstreamFailed, High,
			"Cloudflare's connection to the origin timed out: the origin's firewall drops Cloudflare's addresses, or the origin is down or overloaded.", nil},
		{"Cloudflare 521 on http://", "http://app.test/",
			ProtoEvidence{HTTP: &probe.HTTP{Exchange: answered("GET / HTTP/1.1\r\n", "HTTP/1.1 521 \r\n\r\n"), Status: 521, StatusLine: "HTTP/1.1 521 ",
				Header: evidence.Header{"Server": {"cloudflare"}}}}, false,
			OutcomeProtocolMismatch, CauseProxyUpstreamFailed, High,
			"The origin refused Cloudflare's connection: the web server is down, or its firewall blocks Cloudflare's addresses (allow those listed at https://www.cloudflare.com/ips/).", nil},
		{"http:// nginx 502", "http://app.test/",
			ProtoEvidence{HTTP: &probe.HTTP{Exchange: answered("GET / HTTP/1.1\r\n", "HTTP/1.1 502 Bad Gateway\r\n\r\n"), Status: 502,
				StatusLine: "HTTP/1.1 502 Bad Gateway", Header: evidence.Header{"Server": {"nginx/1.22.1"}}, Body: []byte(nginx502)}}, false,
			OutcomeProtocolMismatch, CauseProxyUpstreamFailed, High,
			"nginx got no answer from its upstream (proxy_pass): the application behind it is down, or listens on another address or port. nginx's error log names the upstream it tried:", nil},
		{"the WebSocket server itself is shutting down", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(503, pyServer, pyShutdown)}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, Medium,
			"Wait for the server to come back, or look at its log and its connection limit.", nil},

		// 401 and 403: Origin, or authentication.
		{"Origin refused, the target's own accepted", "ws://app.test:8282/chat",
			ProtoEvidence{WS: withOrigin(wsAnswer(403, pyServer, "Failed to open a WebSocket connection: invalid Origin header: https://page.example.\n"), "https://page.example"),
				OriginRetry: &evidence.Retry{WS: withOrigin(ws101(), "http://app.test:8282")}}, false,
			OutcomeProtocolMismatch, CauseWSOriginRejected, High,
			"Add the page's origin, https://page.example, to the origins the WebSocket server allows (a client that is not a browser may also send no Origin at all).", nil},
		{"the target's own origin refused, none accepted (gorilla)", "ws://app.test:8282/chat",
			ProtoEvidence{WS: withOrigin(wsAnswer(403, http.Header{"Sec-Websocket-Version": {"13"}}, "Forbidden\n"), "http://app.test:8282"),
				OriginRetry: &evidence.Retry{WS: ws101()}}, false,
			OutcomeProtocolMismatch, CauseWSOriginRejected, High,
			"Add the page's origin, http://app.test:8282, to the origins the WebSocket server allows (a client that is not a browser may also send no Origin at all).", nil},
		{"node ws verifyClient refuses (401)", "ws://app.test:8282/chat",
			ProtoEvidence{WS: withOrigin(wsAnswer(401, http.Header{"Connection": {"close"}}, "Missing or invalid Sec-WebSocket-Key header"), "http://app.test:8282"),
				OriginRetry: &evidence.Retry{WS: ws101()}}, false,
			OutcomeProtocolMismatch, CauseWSOriginRejected, High,
			"Add the page's origin, http://app.test:8282, to the origins the WebSocket server allows (a client that is not a browser may also send no Origin at all).", nil},
		{"a Go server's own origin check", "ws://app.test:8282/chat",
			ProtoEvidence{WS: withOrigin(wsAnswer(403, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, "WebSocket protocol violation: request Origin not authorized"), "https://page.example"),
				OriginRetry: &evidence.Retry{WS: withOrigin(ws101(), "http://app.test:8282")}}, false,
			OutcomeProtocolMismatch, CauseWSOriginRejected, High,
			"Add the page's origin, https://page.example, to the origins the WebSocket server allows (a client that is not a browser may also send no Origin at all).", nil},
		{"the ws package refuses the origin in verifyClient", "ws://app.test:8282/chat",
			ProtoEvidence{WS: withOrigin(wsAnswer(401, http.Header{"Content-Type": {"text/html"}, "Content-Length": {"12"}}, "Unauthorized"), "https://page.example"),
				OriginRetry: &evidence.Retry{WS: withOrigin(ws101(), "http://app.test:8282")}}, false,
			OutcomeProtocolMismatch, CauseWSOriginRejected, High,
			"Add the page's origin, https://page.example, to the origins the WebSocket server allows (a client that is not a browser may also send no Origin at all).",
			[]string{"Workerman"}},
		{"Workerman refuses the origin in onWebSocketConnect", "ws://app.test:8282/chat",
			ProtoEvidence{WS: withOrigin(wsAnswer(403, http.Header{"Server": {"workerman/4.1.15"}}, ""), "https://page.example"),
				OriginRetry: &evidence.Retry{WS: withOrigin(ws101(), "http://app.test:8282")}}, false,
			OutcomeProtocolMismatch, CauseWSOriginRejected, High,
			"Add the page's origin, https://page.example, to the origins the WebSocket server allows (a client that is not a browser may also send no Origin at all).", nil},
		{"403 both ways, the server says it is the Origin", "ws://app.test:8282/chat",
			ProtoEvidence{WS: withOrigin(wsAnswer(403, pyServer, pyOrigin), "http://app.test:8282"),
				OriginRetry: &evidence.Retry{WS: wsAnswer(403, pyServer, "Failed to open a WebSocket connection: missing Origin header.\n")}}, false,
			OutcomeProtocolMismatch, CauseWSOriginRejected, Medium,
			"Check with the origin of the page that opens the socket; if the server refuses that one too, add it to the origins the server allows:", nil},
		{"403 both ways, the server does not say why", "ws://app.test:8282/chat",
			ProtoEvidence{WS: withOrigin(wsAnswer(403, nginxHdr, ""), "http://app.test:8282"),
				OriginRetry: &evidence.Retry{WS: wsAnswer(403, nginxHdr, "")}}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, Medium,
			"Send what the server expects before the upgrade (a token in the URL, a cookie, an Authorization header), or ask its owner which clients it allows.", nil},
		{"401 with WWW-Authenticate", "ws://app.test:8282/chat",
			ProtoEvidence{WS: withOrigin(wsAnswer(401, http.Header{"Server": {"nginx/1.22.1"}, "Www-Authenticate": {`Basic realm="chat"`}}, ""), "http://app.test:8282"),
				OriginRetry: &evidence.Retry{WS: wsAnswer(401, http.Header{"Www-Authenticate": {`Basic realm="chat"`}}, "")}}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, High,
			"Send the credentials it asks for (an Authorization header, or user:password@ in the URL for clients that support it).", nil},

		// Redirects, followed on the same host.
		{"nginx adds the slash: /ws to /ws/", "ws://app.test/ws",
			ProtoEvidence{WS: wsAnswer(301, http.Header{"Server": {"nginx/1.22.1"}, "Location": {"http://app.test/ws/"}}, ""),
				Redirects: []evidence.Retry{hop(t, "ws://app.test/ws/", ws101())}}, false,
			OutcomeProtocolMismatch, CauseWSPathNotFound, High, "Connect to ws://app.test/ws/.", nil},
		{"http to https, wss upgrades", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(301, http.Header{"Server": {"nginx/1.22.1"}, "Location": {"https://app.test/chat"}}, ""),
				Redirects: []evidence.Retry{hop(t, "wss://app.test/chat", ws101())}}, false,
			OutcomeProtocolMismatch, CauseTLSExpected, High, "Connect to wss://app.test/chat.", nil},
		{"http to https, nothing listens on 443", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(308, http.Header{"Location": {"https://app.test/chat"}}, ""),
				Redirects: []evidence.Retry{{URL: evidence.Target{Scheme: "wss", Host: "app.test", Port: 443, Path: "/chat"},
					DialErr: errors.New("connect: connection refused")}}}, false,
			OutcomeProtocolMismatch, CauseTLSExpected, Medium,
			"Use wss:// as the redirect says, and make the handshake work there; see what it answers:", nil},
		{"a redirect to a login page", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(302, http.Header{"Location": {"/login"}}, ""),
				Redirects: []evidence.Retry{hop(t, "ws://app.test/login", wsAnswer(200, http.Header{"Server": {"nginx/1.22.1"}}, "<html>"))}}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, High,
			"WebSocket clients, browsers included, do not follow redirects: use the URL where the server really accepts the handshake.", nil},
		{"a redirect to another host is not followed", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(307, http.Header{"Location": {"https://other.example/chat"}}, ""),
				RedirectStop: evidence.StopOtherHost, RedirectNext: "https://other.example/chat"}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, Medium,
			"WebSocket clients, browsers included, do not follow redirects: use the URL where the server really accepts the handshake.", nil},

		// 404: the path, only where WebSocket is shown.
		{"python websockets answers 404 for this path", "ws://app.test:8765/chat",
			ProtoEvidence{WS: wsAnswer(404, pyServer, "Not Found\n")}, false,
			OutcomeProtocolMismatch, CauseWSPathNotFound, High,
			"Use the path the WebSocket endpoint really has (this was /chat). A 404 comes from a web server or a framework's router; Workerman's websocket:// worker itself answers on every path. Behind nginx, check which location proxies to the WebSocket server.", nil},
		{"nginx 404 from its files", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(404, http.Header{"Server": {"nginx/1.22.1"}, "Content-Type": {"text/html"}}, nginx404)}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, Medium,
			"nginx answered /chat itself (from its files): no location proxies it to the WebSocket server. Add one, with your WebSocket server's address in proxy_pass:",
			[]string{"Workerman"}},
		{"Go's 404", "ws://app.test:8080/chat",
			ProtoEvidence{WS: wsAnswer(404, goNotFoun, "404 page not found\n")}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, Medium,
			"The Go server has no WebSocket handler at /chat (its router answered): register one there (gorilla/websocket shown), or use the path it has:", nil},
		{"Express's 404", "ws://app.test:3000/chat",
			ProtoEvidence{WS: wsAnswer(404, http.Header{"X-Powered-By": {"Express"}}, expressMiss)}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, Medium,
			"The Node.js (Express) app answers /chat as an ordinary route: attach a WebSocket server to the same HTTP server for this path (the ws package):", nil},
		{"a static file server's 404", "ws://app.test:8000/chat",
			ProtoEvidence{WS: wsAnswer(404, http.Header{"Server": {"SimpleHTTP/0.6 Python/3.11.2"}}, pyHTTP404)}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, Medium,
			"This is Python's http.server, which serves files and cannot speak WebSocket: point the client at the WebSocket server's port, not 8000.", nil},
		{"Apache 404", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(404, http.Header{"Server": {"Apache/2.4.57 (Debian)"}}, "")}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, Medium,
			"Apache answered /chat itself: proxy it to the WebSocket server (Apache 2.4.47 or later; your server's address in place of 127.0.0.1:8282):", nil},
		{"Caddy 404", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(404, http.Header{"Server": {"Caddy"}}, "")}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, Medium,
			"Caddy answered /chat itself: proxy it to the WebSocket server (reverse_proxy passes the upgrade by itself; your server's address in place of 127.0.0.1:8282):", nil},

		// A page where WebSocket was asked for.
		{"nginx serves its index page", "ws://app.test/chat",
			ProtoEvidence{WS: wsAnswer(200, nginxHdr, "<html>hi</html>")}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, High,
			"nginx answered /chat itself (from its files): no location proxies it to the WebSocket server. Add one, with your WebSocket server's address in proxy_pass:",
			[]string{"Workerman"}},
		{"an unknown server answers 405", "ws://app.test:8282/chat",
			ProtoEvidence{WS: wsAnswer(405, http.Header{"Server": {"gunicorn"}}, "")}, false,
			OutcomeProtocolMismatch, CauseWSUpgradeRejected, Medium,
			"The port is served by an HTTP server that does not take WebSocket at this path: point the client at the WebSocket endpoint, or serve WebSocket here.",
			[]string{"Workerman"}},

		// A server that closes before it reads a byte.
		{"socat to a dead backend, from afar", "ws://app.test:8282/chat",
			ProtoEvidence{WS: closedWS(probe.Closed), Tries: forwarderTries(probe.Closed)}, false,
			OutcomeProtocolMismatch, CauseProxyUpstreamFailed, Medium,
			"On the server, see which process holds port 8282: a forwarder there (socat, docker-proxy, haproxy, an SSH tunnel) has a backend that is down; start the application behind it, or point the forwarder at it:", nil},
		{"socat on this machine", "ws://127.0.0.1:8282/chat",
			ProtoEvidence{WS: closedWS(probe.Reset), Tries: forwarderTries(probe.Reset), Holders: owner("socat")}, true,
			OutcomeReset, CauseProxyUpstreamFailed, High,
			"socat passes the connections on to an application that is down or listens elsewhere. See where it forwards (its command line), then start that application or correct the address:", nil},
		{"docker-proxy on this machine", "http://127.0.0.1:8080/",
			ProtoEvidence{HTTP: &probe.HTTP{Exchange: noAnswer("GET / HTTP/1.1\r\n", probe.Closed)}, Tries: forwarderTries(probe.Closed), Holders: owner("docker-proxy")}, true,
			OutcomeProtocolMismatch, CauseProxyUpstreamFailed, High,
			"docker-proxy passes the connections on to an application that is down or listens elsewhere. See where it forwards (its command line), then start that application or correct the address:", nil},
		{"an application that hangs up at once, on this machine", "ws://127.0.0.1:8282/chat",
			ProtoEvidence{WS: closedWS(probe.Reset), Tries: forwarderTries(probe.Reset), Holders: owner("php")}, true,
			OutcomeReset, CauseResetByPeer, High,
			"php refuses every connection: look at its log and its limits (connections, allowed addresses); its command line:", nil},
		{"wss to a forwarder, from afar", "wss://app.test:8443/chat",
			ProtoEvidence{TLS: tlsClosed, Tries: []probe.Try{closedTry(probe.TryHTTP, "GET / HTTP/1.1\r\n", probe.Closed), closedTry(probe.TryIdle, "", probe.Closed)}}, false,
			OutcomeTLSFailure, CauseProxyUpstreamFailed, Medium,
			"On the server, see which process holds port 8443: a forwarder there (socat, docker-proxy, haproxy, an SSH tunnel) has a backend that is down; start the application behind it, or point the forwarder at it:", nil},
		{"wss to an application that hangs up, on this machine", "wss://127.0.0.1:8443/chat",
			ProtoEvidence{TLS: tlsClosed, Tries: []probe.Try{closedTry(probe.TryHTTP, "GET / HTTP/1.1\r\n", probe.Closed), closedTry(probe.TryIdle, "", probe.Reset)},
				Holders: owner("node")}, true,
			OutcomeTLSFailure, CauseResetByPeer, High,
			"node refuses every connection: look at its log and its limits (connections, allowed addresses); its command line:", nil},
		{"text:// to a forwarder, from afar", "text://app.test:5678",
			ProtoEvidence{Message: &probe.Message{Exchange: noAnswer("whoami\n", probe.Closed)},
				Tries: []probe.Try{closedTry(probe.TryTLS, clientHello, probe.Closed), closedTry(probe.TryHTTP, "GET / HTTP/1.1\r\n", probe.Closed),
					closedTry(probe.TryFrame, frameWhoami, probe.Closed), closedTry(probe.TryIdle, "", probe.Closed)}}, false,
			OutcomeProtocolMismatch, CauseProxyUpstreamFailed, Medium,
			"On the server, see which process holds port 5678: a forwarder there (socat, docker-proxy, haproxy, an SSH tunnel) has a backend that is down; start the application behind it, or point the forwarder at it:", nil},
		{"frame:// to an application that hangs up, on this machine", "frame://127.0.0.1:5678",
			ProtoEvidence{Message: &probe.Message{Exchange: noAnswer(frameWhoami, probe.Reset)},
				Tries: []probe.Try{closedTry(probe.TryTLS, clientHello, probe.Reset), closedTry(probe.TryIdle, "", probe.Reset)}, Holders: owner("php")}, true,
			OutcomeReset, CauseResetByPeer, High,
			"php refuses every connection: look at its log and its limits (connections, allowed addresses); its command line:", nil},
		{"a server that resets every connection at once, from afar, is not a forwarder", "ws://app.test:8282/chat",
			ProtoEvidence{WS: closedWS(probe.Reset), Tries: []probe.Try{closedTry(probe.TryTLS, clientHello, probe.Reset),
				closedTry(probe.TryFrame, frameWhoami, probe.Reset), closedTry(probe.TryText, "whoami\n", probe.Reset),
				closedTry(probe.TryIdle, "", probe.Reset)}}, false,
			OutcomeReset, CauseResetByPeer, High, "Check the server's logs and limits, and any proxy or IPS in between.", nil},
		{"a server that reads first and then closes is not a forwarder", "ws://app.test:8282/chat",
			ProtoEvidence{WS: closedWS(probe.Closed), Tries: []probe.Try{closedTry(probe.TryTLS, clientHello, probe.Closed),
				{Kind: probe.TryIdle, Exchange: probe.Exchange{Reply: probe.Silent, Duration: 200 * time.Millisecond}}}}, false,
			OutcomeProtocolMismatch, CauseNotHTTP, Medium,
			"The port speaks another protocol, not websocket. Point the client at the port of the websocket server, or make this one speak websocket; in Workerman:", nil},
		{"Redis behind ws:// answers the text line", "ws://app.test:6379/",
			ProtoEvidence{WS: closedWS(probe.Closed), Tries: []probe.Try{closedTry(probe.TryTLS, clientHello, probe.Silent),
				try(probe.TryText, answered("whoami\n", "-ERR unknown command 'whoami', with args beginning with: \r\n")),
				{Kind: probe.TryIdle, Exchange: probe.Exchange{Reply: probe.Silent, Duration: 200 * time.Millisecond}}}}, false,
			OutcomeProtocolMismatch, CauseOtherService, High,
			"Point the client at your own service's port, or move one of the two; see which process holds port 6379 (on the server):", nil},

		// TLS advice in the terms of the server that answered.
		{"wss to nginx's plain port", "wss://app.test:8080/chat",
			ProtoEvidence{TLS: tlsFailed(answered(clientHello, "HTTP/1.1 400 Bad Request\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n\r\n"+
				"<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"))}, false,
			OutcomeTLSFailure, CauseTLSUnexpected, High, "For a plain port, use ws:// instead, or enable TLS on the server.",
			[]string{"terminate TLS in nginx", "Workerman"}},
		{"wss to a Go server's plain port", "wss://app.test:8080/chat",
			ProtoEvidence{TLS: tlsFailed(answered(clientHello, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"))}, false,
			OutcomeTLSFailure, CauseTLSUnexpected, High, "For a plain port, use ws:// instead, or enable TLS on the server.", nil},
		{"wss to Apache's plain port, found by a plain request", "wss://app.test:8080/chat",
			ProtoEvidence{TLS: tlsFailed(noAnswer(clientHello, probe.Silent)),
				Tries: []probe.Try{try(probe.TryHTTP, answered("GET / HTTP/1.1\r\n", "HTTP/1.1 200 OK\r\nServer: Apache/2.4.57 (Debian)\r\n\r\n"))}}, false,
			OutcomeTLSFailure, CauseTLSUnexpected, High, "For a plain port, use ws:// instead, or enable TLS on the server.", []string{"Workerman"}},
		{"wss to Caddy's plain port", "wss://app.test:8080/chat",
			ProtoEvidence{TLS: tlsFailed(answered(clientHello, "HTTP/1.1 400 Bad Request\r\nServer: Caddy\r\n\r\n"))}, false,
			OutcomeTLSFailure, CauseTLSUnexpected, High, "For a plain port, use ws:// instead, or enable TLS on the server.", []string{"Workerman"}},
		{"ws to nginx's TLS port: no Workerman advice", "ws://app.test:443/chat",
			ProtoEvidence{WS: wsAnswer(400, nginxHdr, "<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n<hr><center>nginx/1.22.1</center>")}, false,
			OutcomeProtocolMismatch, CauseTLSExpected, High, "The port speaks TLS: connect with wss:// instead, or serve the plain protocol on another port.",
			[]string{"Workerman"}},
	}
	p := i18n.New("en")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pe := tt.p
			ev := protoEv(t, tt.target, &pe)
			ev.Addrs[0].Local = tt.local
			out, fs := Decide(ev)
			snap.add(tt.name, out, fs)
			text := render(p, fs)
			if out != tt.outcome || fs[0].Cause != tt.cause || fs[0].Confidence != tt.conf {
				t.Fatalf("got %s / %s / %s, want %s / %s / %s\n%s", out, fs[0].Cause, fs[0].Confidence, tt.outcome, tt.cause, tt.conf, text)
			}
			if len(fs[0].Fix) == 0 || p.Text(fs[0].Fix[0]) != tt.fix {
				t.Errorf("first fix line\n got: %q\nwant: %q\n%s", first(p, fs[0].Fix), tt.fix, text)
			}
			for _, s := range tt.not {
				if strings.Contains(text, s) {
					t.Errorf("the findings say %q:\n%s", s, text)
				}
			}
			for _, lang := range []string{"en", "ar", "zh"} {
				if s := render(i18n.New(lang), fs); strings.Contains(s, "<no value>") || strings.Contains(s, "wsverdict.") {
					t.Errorf("%s: a message lacks an argument or a text:\n%s", lang, s)
				}
			}
		})
	}
}

func first(p *i18n.Printer, fix []i18n.Msg) string {
	if len(fix) == 0 {
		return ""
	}
	return p.Text(fix[0])
}

// The names the rules build at run time exist in every language.
func TestWSVerdictMessageIDs(t *testing.T) {
	var ids []string
	for _, s := range []string{evidence.SoftNginx, evidence.SoftApache, evidence.SoftCaddy, evidence.SoftHAProxy, evidence.SoftEnvoy,
		evidence.SoftIIS, evidence.SoftCloudflare, evidence.SoftCloudFront, evidence.SoftAWSELB, evidence.SoftGoogle, evidence.SoftProxy,
		evidence.SoftWorkerman, evidence.SoftNode, evidence.SoftGo, evidence.SoftPythonWS, evidence.SoftNodeWS, evidence.SoftSocketIO,
		evidence.SoftGoWS, evidence.SoftWSLibrary, evidence.SoftPythonHTTP, evidence.SoftListen} {
		ids = append(ids, "wsverdict.sw."+s)
	}
	for c := 520; c <= 527; c++ {
		ids = append(ids, "wsverdict.fix.cloudflare."+itoa3(c))
	}
	for _, s := range []string{evidence.SoftHAProxy, evidence.SoftEnvoy, evidence.SoftCaddy, evidence.SoftAWSELB, evidence.SoftIIS} {
		ids = append(ids, "wsverdict.fix.upstream."+s)
	}
	for _, s := range []evidence.RedirectStop{evidence.StopOtherHost, evidence.StopScheme, evidence.StopLimit, evidence.StopLoop, evidence.StopBad} {
		ids = append(ids, "wsverdict.ev.redirect_stop."+string(s))
	}
	pe := &ProtoEvidence{Protocol: target.WebSocket, WS: &probe.WebSocket{}, Tries: []probe.Try{{Kind: probe.TryIdle}},
		OriginRetry: &evidence.Retry{TLS: &probe.TLS{}, WS: &probe.WebSocket{}}, Redirects: []evidence.Retry{{TLS: &probe.TLS{}, WS: &probe.WebSocket{}}}}
	for _, st := range pe.Steps() {
		ids = append(ids, "ui.step."+st.Name)
	}
	for _, lang := range []string{"en", "ar", "zh"} {
		texts, err := i18n.Texts(lang)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if _, ok := texts[id]; !ok {
				t.Errorf("%s: %s is missing", lang, id)
			}
		}
	}
}

func itoa3(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}
