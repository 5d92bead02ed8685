package evidence

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

func TestIdentify(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		soft    string
		proxy   bool
		ownPage bool
		app     string
	}{
		{"nginx's own 502", "HTTP/1.1 502 Bad Gateway\r\nServer: nginx/1.22.1\r\n\r\n<html>\r\n<hr><center>nginx/1.22.1</center>\r\n", SoftNginx, true, true, ""},
		{"python websockets behind nginx", "HTTP/1.1 400 Bad Request\r\nServer: nginx/1.22.1\r\n\r\nFailed to open a WebSocket connection: did not receive a valid HTTP request.\n", SoftNginx, true, false, SoftPythonWS},
		{"python websockets alone", "HTTP/1.1 403 Forbidden\r\nServer: Python/3.11 websockets/10.4\r\n\r\n", SoftPythonWS, false, false, SoftPythonWS},
		{"a version header names a WebSocket server", "HTTP/1.1 404 Not Found\r\nSec-WebSocket-Version: 13\r\n\r\n", "", false, false, SoftWSLibrary},
		{"Go's 404", "HTTP/1.1 404 Not Found\r\nX-Content-Type-Options: nosniff\r\n\r\n404 page not found\n", SoftGo, false, false, ""},
		{"Express", "HTTP/1.1 404 Not Found\r\nX-Powered-By: Express\r\n\r\n<pre>Cannot GET /chat</pre>", SoftNode, false, false, ""},
		{"Cloudflare by its ray", "HTTP/1.1 522 \r\nCF-RAY: 1-FRA\r\n\r\n", SoftCloudflare, true, false, ""},
		{"HAProxy's page without a Server header", "HTTP/1.1 503 Service Unavailable\r\n\r\n<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n", SoftHAProxy, true, true, ""},
		{"Caddy's empty 502", "HTTP/1.1 502 Bad Gateway\r\nServer: Caddy\r\n\r\n", SoftCaddy, true, true, ""},
		{"an unknown server", "HTTP/1.1 400 Bad Request\r\nServer: frobnicator\r\n\r\n", SoftOther, false, false, ""},
		{"the ws package refuses in verifyClient", "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: 12\r\n\r\nUnauthorized", "", false, false, SoftNodeWS},
		{"the same, read by Go's client, which drops Connection: close", "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/html\r\nContent-Length: 12\r\n\r\nUnauthorized", "", false, false, SoftNodeWS},
		{"a page that happens to say its status", "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: 12\r\nDate: Wed, 02 Dec 2026 15:46:50 GMT\r\n\r\nUnauthorized", "", false, false, ""},
		{"nothing said", "HTTP/1.1 400 Bad Request\r\n\r\nBad Request", "", false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, line, h, body, ok := ParseHead([]byte(tt.raw))
			if !ok {
				t.Fatalf("ParseHead(%q) failed", tt.raw)
			}
			s := Identify(code, line, h, body)
			if s.Name != tt.soft || s.Proxy != tt.proxy || s.OwnPage != tt.ownPage || s.App != tt.app {
				t.Errorf("got %+v, want name %q proxy %v own page %v app %q", s, tt.soft, tt.proxy, tt.ownPage, tt.app)
			}
		})
	}
}

func TestParseHeadCut(t *testing.T) {
	for _, raw := range []string{"", "HTTP/1.1", "HTTP/1.1 2000 OK\r\n", "SSH-2.0-OpenSSH\r\n", "HTTP/1.1 abc OK\r\n", "\x16\x03\x01\x00"} {
		if _, _, _, _, ok := ParseHead([]byte(raw)); ok {
			t.Errorf("ParseHead(%q) accepted it", raw)
		}
	}
	code, _, h, body, ok := ParseHead([]byte("HTTP/1.1 301 Moved\r\nLocation: /ws/\r\nX-Cut"))
	if !ok || code != 301 || h.Get("Location") != "/ws/" || body != nil {
		t.Errorf("a head cut short: %d %v %q %v", code, h, body, ok)
	}
}

func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
		"HTTP/1.1 502 Bad Gateway\r\nServer: nginx\r\n\r\n<hr><center>nginx",
		"HTTP/1.1 200 WebSocket\r\nServer: workerman\r\n\r\n",
		"HTTP/1.1 400 \r\n:\r\n: :\r\n\r\n\x00\xff",
		"HTTP/1.1 404\n" + string(bytes.Repeat([]byte("A: b\n"), 200)),
		"HTTP/1.1 302 Found\r\nLocation: \x1b[31mhttps://evil\u202e\r\n\r\n",
		"HTTP/9 999 " + string(bytes.Repeat([]byte{0xff}, 100)),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		code, line, h, body, ok := ParseHead(b)
		if !ok {
			return
		}
		if code < 100 || code > 999 || len(h) > 64 || len(body) > maxHead {
			t.Fatalf("code %d, %d headers, body %d bytes", code, len(h), len(body))
		}
		s := Identify(code, line, h, body)
		if !utf8.ValidString(s.Name) || len(s.Version) > 4096 {
			t.Fatalf("identified %+v", s)
		}
	})
}
