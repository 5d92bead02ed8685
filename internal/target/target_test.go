package target

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in     string
		scheme string
		host   string
		port   uint16
		path   string
		proto  Protocol
		tls    bool
		str    string
	}{
		{"example.com:80", "tcp", "example.com", 80, "", TCP, false, "example.com:80"},
		{"  10.0.0.1:22 ", "tcp", "10.0.0.1", 22, "", TCP, false, "10.0.0.1:22"},
		{"[2001:db8::1]:8080", "tcp", "2001:db8::1", 8080, "", TCP, false, "[2001:db8::1]:8080"},
		{"tcp://host:9000", "tcp", "host", 9000, "", TCP, false, "tcp://host:9000"},
		{"TCP://host:9000/", "tcp", "host", 9000, "", TCP, false, "tcp://host:9000"},
		{"ws://example.test", "ws", "example.test", 80, "/", WebSocket, false, "ws://example.test:80/"},
		{"ws://example.test:8282/chat?x=1", "ws", "example.test", 8282, "/chat?x=1", WebSocket, false, "ws://example.test:8282/chat?x=1"},
		{"ws://h:1?room=2", "ws", "h", 1, "/?room=2", WebSocket, false, "ws://h:1/?room=2"},
		{"websocket://0.0.0.0:8282", "websocket", "0.0.0.0", 8282, "/", WebSocket, false, "websocket://0.0.0.0:8282/"},
		{"wss://example.test/socket", "wss", "example.test", 443, "/socket", WebSocket, true, "wss://example.test:443/socket"},
		{"wss://[::1]:9443", "wss", "::1", 9443, "/", WebSocket, true, "wss://[::1]:9443/"},
		{"http://a.b", "http", "a.b", 80, "/", HTTP, false, "http://a.b:80/"},
		{"https://a.b:8443/x#frag", "https", "a.b", 8443, "/x", HTTP, true, "https://a.b:8443/x"},
		{"text://127.0.0.1:5678", "text", "127.0.0.1", 5678, "", Text, false, "text://127.0.0.1:5678"},
		{"frame://h:5679", "frame", "h", 5679, "", Frame, false, "frame://h:5679"},
		{"tls://h:993", "tls", "h", 993, "", TLSOnly, true, "tls://h:993"},
		{"ssl://h:993", "ssl", "h", 993, "", TLSOnly, true, "ssl://h:993"},
		{"under_score.local:1", "tcp", "under_score.local", 1, "", TCP, false, "under_score.local:1"},
		{"[fe80::1%eth0]:80", "tcp", "fe80::1%eth0", 80, "", TCP, false, "[fe80::1%eth0]:80"},
		{"ws://[fe80::1%25eth0]:80/", "ws", "fe80::1%eth0", 80, "/", WebSocket, false, "ws://[fe80::1%25eth0]:80/"},
		{"tcp://[fe80::1%eth0]:80", "tcp", "fe80::1%eth0", 80, "", TCP, false, "tcp://[fe80::1%25eth0]:80"},
		{"h:65535", "tcp", "h", 65535, "", TCP, false, "h:65535"},
		// An internationalised name is looked up in punycode.
		{"bücher.example:80", "tcp", "xn--bcher-kva.example", 80, "", TCP, false, "xn--bcher-kva.example:80"},
		{"ws://例え.テスト:8282/chat", "ws", "xn--r8jz45g.xn--zckzah", 8282, "/chat", WebSocket, false, "ws://xn--r8jz45g.xn--zckzah:8282/chat"},
		// A number in a label other than the last is a host name.
		{"10.example:80", "tcp", "10.example", 80, "", TCP, false, "10.example:80"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got.Scheme != tt.scheme || got.Host != tt.host || got.Port != tt.port || got.Path != tt.path {
			t.Errorf("Parse(%q) = %+v, want scheme %q host %q port %d path %q", tt.in, got, tt.scheme, tt.host, tt.port, tt.path)
		}
		if got.Protocol() != tt.proto || got.TLS() != tt.tls {
			t.Errorf("Parse(%q): protocol %q tls %v, want %q %v", tt.in, got.Protocol(), got.TLS(), tt.proto, tt.tls)
		}
		if got.String() != tt.str {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.in, got.String(), tt.str)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, reason string }{
		{"", "empty"},
		{"example.com", "port is missing"},
		{"tcp://example.com", "port is missing"},
		{"text://h", "port is missing"},
		{"frame://h", "port is missing"},
		{"tls://h", "port is missing"},
		{"h:0", "not a number"},
		{"h:65536", "not a number"},
		{"h:-1", "not a number"},
		{"h:+80", "not a number"},
		{"h:http", "not a number"},
		{"h:", "port is empty"},
		{":80", "host is missing"},
		{"ftp://h:21", "unknown scheme"},
		{"2001:db8::1:80", "needs brackets"},
		{"[2001:db8::1:80", "missing ']'"},
		{"[10.0.0.1]:80", "not an IPv6 address"},
		{"[::1]x", "unexpected"},
		{"[fe80::1]:80", "needs its interface"},
		{"bad host:80", "space"},
		{"h\x00:80", "control"},
		{"user@h:80", "user information"},
		{"ex$mple.com:80", "not a valid host name"},
		{"a..b:80", "not a valid host name"},
		{"text://h:1/path", "take no path"},
		{strings.Repeat("a", 64) + ".com:80", "not a valid host name"},
		{strings.Repeat("a.", 130) + "com:80", "longer than 253"},
		// Meant as IPv4 addresses, not host names for DNS.
		{"256.1.1.1:80", "256 is above 255"},
		{"10.99.2:8080", "it has 3 numbers, an IPv4 address has four (some programs read it as 10.99.0.2)"},
		{"0x0a.0x63.0.2:8080", "0x0a is hexadecimal or octal (some programs read it as 10.99.0.2)"},
		{"010.0.0.1:80", "010 is hexadecimal or octal (some programs read it as 8.0.0.1)"},
		{"1.2.3.4.5:80", "it has 5 numbers"},
		{"example.123:80", "not an IPv4 address"},
		{"1.2.x.4:80", "not an IPv4 address"},
		{"4294967296:80", "not an IPv4 address"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		var te *Error
		if !errors.As(err, &te) {
			t.Errorf("Parse(%q) = %v, want *Error", tt.in, err)
			continue
		}
		if !strings.Contains(te.Reason, tt.reason) {
			t.Errorf("Parse(%q) reason %q, want it to contain %q", tt.in, te.Reason, tt.reason)
		}
		if !strings.Contains(err.Error(), "accepted forms") || strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q) error %q must be one line naming the accepted forms", tt.in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"example.com:80", "[::1]:1", "ws://h/p?q", "wss://[2001:db8::1]:443/x", "text://h:1",
		"frame://h:2", "tls://h:3", "h:", "[", "]:", "://", "ws://:80", "http://h:99999", "a..b:1", "websocket://0.0.0.0:8282"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.Contains(s, "\n") {
				t.Fatalf("multi-line error for %q", s)
			}
			return
		}
		if got.Port == 0 || got.Host == "" {
			t.Fatalf("Parse(%q) accepted without host or port: %+v", s, got)
		}
		// The canonical form must parse back to the same target.
		again, err := Parse(got.String())
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", s, got.String(), err)
		}
		if again.Scheme != got.Scheme || again.Host != got.Host || again.Port != got.Port || again.Path != got.Path {
			t.Fatalf("round trip of %q: %+v != %+v", s, again, got)
		}
	})
}

// A zone must name an interface of this machine: the connect would only fail with EINVAL.
func TestCheckZone(t *testing.T) {
	old := interfaceExists
	defer func() { interfaceExists = old }()
	interfaceExists = func(z string) bool { return z == "eth0" || z == "2" }
	for in, ok := range map[string]bool{
		"ws://[fe80::1%25eth0]:80/": true, "[fe80::1%2]:80": true, "[2001:db8::1]:80": true, "example.com:80": true,
		"ws://[fe80::1%25nosuch0]:80/": false, "[fe80::1%7]:80": false,
	} {
		tg, err := Parse(in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		err = CheckZone(tg)
		if (err == nil) != ok {
			t.Errorf("CheckZone(%q) = %v, want ok %v", in, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "names no interface") {
			t.Errorf("CheckZone(%q): %v", in, err)
		}
	}
	// The real lookup knows the loopback interface.
	interfaceExists = old
	if runtime.GOOS != "linux" {
		return
	}
	if tg, _ := Parse("[fe80::1%lo]:80"); CheckZone(tg) != nil {
		t.Errorf("lo is an interface everywhere Linux runs: %v", CheckZone(tg))
	}
}
