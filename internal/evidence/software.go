package evidence

import (
	"bytes"
	"strconv"
	"strings"
)

// Software names who answered an HTTP request, as far as the answer itself
// shows: the Server header, a header only one product sends, or the
// product's own error page. App is a WebSocket server library whose words
// the answer carries: its refusal, passed through a proxy or sent itself.
type Software struct {
	Name    string // a Soft constant; "" when the answer does not say
	Version string // from the Server header, raw (escape it to show it)
	Server  string // the Server header as sent, raw
	// Proxy: Name is a reverse proxy, load balancer or CDN, which usually
	// forwards to an application behind it.
	Proxy bool
	// OwnPage: the body is Name's own error page, so Name answered itself
	// rather than passing on the application's answer.
	OwnPage bool
	// App is the WebSocket library that refused (a Soft constant), "" when
	// no such words came back.
	App string
}

// The software conndiag recognises in an HTTP answer.
const (
	SoftNginx      = "nginx" // also OpenResty and Tengine
	SoftApache     = "apache"
	SoftCaddy      = "caddy"
	SoftHAProxy    = "haproxy"
	SoftEnvoy      = "envoy"
	SoftIIS        = "iis"
	SoftCloudflare = "cloudflare"
	SoftCloudFront = "cloudfront"
	SoftAWSELB     = "awselb"
	SoftGoogle     = "google_frontend"
	SoftProxy      = "proxy" // a Via header: some proxy, unnamed
	SoftWorkerman  = "workerman"
	SoftNode       = "node" // Node.js (Express)
	SoftGo         = "go"   // Go's net/http
	SoftPythonWS   = "python_websockets"
	SoftNodeWS     = "node_ws" // the ws package
	SoftSocketIO   = "socketio"
	SoftGoWS       = "go_websocket" // gorilla/websocket, coder/websocket
	SoftWSLibrary  = "websocket_library"
	SoftPythonHTTP = "python_http" // http.server: a file server
	SoftListen     = "conndiag_listen"
	SoftOther      = "other" // a Server header conndiag does not know
)

// WebSocket reports whether the answer came from a WebSocket server (the
// one that answered, or the library whose refusal it carries).
func (s Software) WebSocket() bool {
	return s.App != "" || s.Name == SoftPythonWS
}

// Is reports whether Name is one of names.
func (s Software) Is(names ...string) bool {
	for _, n := range names {
		if s.Name == n {
			return true
		}
	}
	return false
}

// MaybeWorkerman: the answer is Workerman's, or says nothing about who
// sent it, so Workerman advice may apply.
func (s Software) MaybeWorkerman() bool {
	return s.Name == SoftWorkerman || s.App == SoftWorkerman || s.Name == "" && s.App == ""
}

// Software is who answered, from the status, headers and body.
func (h *HTTP) Software() Software {
	if h == nil {
		return Software{}
	}
	return Identify(h.Status, h.StatusLine, h.Header, h.Body)
}

var serverProducts = []struct {
	prefix string // the Server header's start, lower case
	name   string
	proxy  bool
}{
	{"nginx", SoftNginx, true}, {"openresty", SoftNginx, true}, {"tengine", SoftNginx, true},
	{"apache", SoftApache, true}, {"caddy", SoftCaddy, true}, {"envoy", SoftEnvoy, true},
	{"istio-envoy", SoftEnvoy, true}, {"haproxy", SoftHAProxy, true}, {"microsoft-iis", SoftIIS, true},
	{"cloudflare", SoftCloudflare, true}, {"cloudfront", SoftCloudFront, true}, {"awselb", SoftAWSELB, true},
	{"google frontend", SoftGoogle, true}, {"workerman", SoftWorkerman, false},
	{"simplehttp", SoftPythonHTTP, false}, {"basehttp", SoftPythonHTTP, false},
	{"conndiag-listen", SoftListen, false},
}

// ownPages are phrases of the error pages proxies make themselves.
var ownPages = []struct {
	text string
	name string
}{
	{"<hr><center>nginx", SoftNginx}, {"<hr><center>openresty", SoftNginx}, {"<hr><center>tengine", SoftNginx},
	{"Powered by Tengine", SoftNginx},
	{"<address>Apache", SoftApache},
	{"No server is available to handle this request", SoftHAProxy},
	{"The server returned an invalid or incomplete response", SoftHAProxy},
	{"The server didn't respond in time", SoftHAProxy},
	{"no healthy upstream", SoftEnvoy}, {"upstream connect error or disconnect/reset before headers", SoftEnvoy},
	{"upstream request timeout", SoftEnvoy},
	{"cf-error-details", SoftCloudflare}, {"cf-wrapper", SoftCloudflare},
}

// wsRefusals are what WebSocket libraries answer a handshake they refuse.
var wsRefusals = []struct {
	text string
	app  string
}{
	{"Failed to open a WebSocket connection", SoftPythonWS},
	{"Invalid handshake data for websocket", SoftWorkerman},
	{"<h1>WebSocket</h1><hr>workerman", SoftWorkerman},
	{"Missing or invalid Sec-WebSocket-Key header", SoftNodeWS},
	{"Missing or invalid Sec-WebSocket-Version header", SoftNodeWS},
	{"Invalid Upgrade header", SoftNodeWS},
	{"WebSocket protocol violation", SoftGoWS},
	{"websocket: the client is not using the websocket protocol", SoftGoWS},
	{`Can "Upgrade" only to "WebSocket"`, SoftWSLibrary},
	{`"Transport unknown"`, SoftSocketIO},
	{`"Session ID unknown"`, SoftSocketIO},
	{"Bad handshake method", SoftSocketIO},
}

// Identify names who answered from the status (code and line), header and
// body start.
func Identify(code int, statusLine string, h Header, body []byte) Software {
	var s Software
	s.Server = h.Get("Server")
	if srv := strings.ToLower(strings.TrimSpace(s.Server)); srv != "" {
		s.Name = SoftOther
		for _, p := range serverProducts {
			if strings.HasPrefix(srv, p.prefix) {
				s.Name, s.Proxy = p.name, p.proxy
				break
			}
		}
		if strings.Contains(srv, "websockets/") {
			s.Name = SoftPythonWS
		}
		s.Version = serverVersion(s.Server)
	}
	for _, p := range ownPages {
		if bytes.Contains(body, []byte(p.text)) && (s.Name == "" || s.Name == p.name || s.Name == SoftOther) {
			s.Name, s.Proxy, s.OwnPage = p.name, true, true
			break
		}
	}
	switch {
	case s.Name != "" && s.Name != SoftOther:
	case h.Get("Cf-Ray") != "":
		s.Name, s.Proxy = SoftCloudflare, true
	case h.Get("X-Amz-Cf-Id") != "":
		s.Name, s.Proxy = SoftCloudFront, true
	case strings.EqualFold(h.Get("X-Powered-By"), "Express") || bytes.HasPrefix(bytes.TrimSpace(stripPre(body)), []byte("Cannot GET /")):
		s.Name = SoftNode
	case s.Name == "" && bytes.Equal(body, []byte("404 page not found\n")) && h.Get("X-Content-Type-Options") == "nosniff":
		s.Name = SoftGo
	case s.Name == "" && h.Get("Via") != "":
		s.Name, s.Proxy = SoftProxy, true
	}
	_, reason := statusParts(statusLine)
	for _, r := range wsRefusals {
		if bytes.Contains(body, []byte(r.text)) {
			s.App = r.app
			break
		}
	}
	switch {
	case s.App != "":
	case code == 200 && strings.EqualFold(reason, "WebSocket") && s.Name == SoftWorkerman:
		s.App = SoftWorkerman // Workerman's websocket:// worker refusing a request without Sec-WebSocket-Key
	case nodeWSAbort(code, reason, h, body):
		s.App = SoftNodeWS
	case code != 101 && code != 0 && (h.Get("Sec-Websocket-Version") != "" || strings.EqualFold(h.Get("Upgrade"), "websocket")):
		s.App = SoftWSLibrary // RFC 6455 4.4: a WebSocket server names the versions it speaks
	case s.Name == SoftPythonWS:
		s.App = SoftPythonWS
	}
	if (s.Name == SoftCaddy || s.Name == SoftAWSELB) && code >= 500 && len(bytes.TrimSpace(body)) == 0 {
		s.OwnPage = true // Caddy and ELB answer a dead backend with an empty body
	}
	return s
}

// nodeWSAbort: the answer the ws package writes itself when it refuses a
// handshake (abortHandshake: verifyClient said no, a bad key): exactly
// Connection, Content-Type text/html and Content-Length, no Date (Node's
// own HTTP server always sends one), and the reason phrase as the body.
// Connection may be missing: Go's HTTP client drops "Connection: close".
func nodeWSAbort(code int, reason string, h Header, body []byte) bool {
	if code < 400 || reason == "" || string(body) != reason || h.Get("Content-Type") != "text/html" || h.Get("Content-Length") == "" {
		return false
	}
	for k := range h {
		if k != "Connection" && k != "Content-Type" && k != "Content-Length" {
			return false
		}
	}
	return h.Get("Connection") == "" || h.Get("Connection") == "close"
}

// stripPre drops Express's "<!DOCTYPE html>…<pre>" around "Cannot GET /path".
func stripPre(b []byte) []byte {
	if i := bytes.Index(b, []byte("<pre>")); i >= 0 {
		return b[i+len("<pre>"):]
	}
	return b
}

// serverVersion is the version of the Server header's first product ("nginx/1.22.1" → "1.22.1").
func serverVersion(server string) string {
	_, v, ok := strings.Cut(server, "/")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(v, " ("); i >= 0 {
		v = v[:i]
	}
	return clip(v)
}

// statusParts splits "HTTP/1.1 200 OK" into 200 and "OK".
func statusParts(line string) (int, string) {
	_, rest, ok := strings.Cut(line, " ")
	if !ok {
		return 0, ""
	}
	code, reason, _ := strings.Cut(rest, " ")
	n, err := strconv.Atoi(code)
	if err != nil || len(code) != 3 {
		return 0, ""
	}
	return n, reason
}

// maxHead bounds what ParseHead reads of a raw answer.
const maxHead = 16 << 10

// ParseHead reads the status line, header and body start of a raw HTTP
// answer (bytes a probe kept, which may stop anywhere). ok is false when b
// does not start with a whole HTTP status line. Header lines are taken as
// far as they came; a body is what follows the blank line.
func ParseHead(b []byte) (code int, statusLine string, h Header, body []byte, ok bool) {
	if len(b) > maxHead {
		b = b[:maxHead]
	}
	end := bytes.IndexByte(b, '\n')
	if end < 0 {
		return 0, "", nil, nil, false
	}
	statusLine = string(bytes.TrimSuffix(b[:end], []byte("\r")))
	if code, _ = statusParts(statusLine); code < 100 || !strings.HasPrefix(statusLine, "HTTP/") {
		return 0, "", nil, nil, false
	}
	h = Header{}
	rest := b[end+1:]
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		var line []byte
		if i < 0 {
			line, rest = rest, nil // a header line cut short: taken as it is
		} else {
			line, rest = rest[:i], rest[i+1:]
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			return code, statusLine, h, rest, true
		}
		k, v, found := bytes.Cut(line, []byte(":"))
		if !found || len(k) == 0 || len(h) >= 64 {
			continue
		}
		key := canonicalKey(string(bytes.TrimSpace(k)))
		h[key] = append(h[key], string(bytes.TrimSpace(v)))
	}
	return code, statusLine, h, nil, true
}
