package probe

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"GET / HTTP/1.1\r\n", 0, `GET / HTTP/1.1\r\n`},
		{"tab\there\\", 0, `tab\there\\`},
		{"\x00\x00\x00\nwhoami", 0, `\x00\x00\x00\nwhoami`},
		{"\x1b[31mred\x1b[0m", 0, `\x1b[31mred\x1b[0m`}, // no terminal control gets through
		{"\xff\xfe", 0, `\xff\xfe`},
		{"你好\n", 0, `你好\n`},
		{"a\u202eb", 0, `a\xe2\x80\xaeb`}, // bidi override
		{"\u0085", 0, `\xc2\x85`},         // C1 control
		{"abcdef", 4, "abcd…"},
		{"ab\r\n", 3, `ab…`},
	}
	for _, tt := range tests {
		if got := Escape([]byte(tt.in), tt.max); got != tt.want {
			t.Errorf("Escape(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func frame(payload string) []byte { return EncodeFrame([]byte(payload)) }

func TestClassify(t *testing.T) {
	mysql := append([]byte{0x4a, 0, 0, 0, 0x0a}, []byte("8.0.36-0ubuntu0.22.04.1\x00\x08\x00\x00\x00abcdefgh")...)
	mysqlErr := append([]byte{0x45, 0, 0, 0, 0xff, 0x6a, 0x04}, []byte("Host '198.51.100.2' is not allowed to connect to this MySQL server")...)
	pg := []byte("E\x00\x00\x00\x4fSFATAL\x00VFATAL\x00C08P01\x00Minvalid length of startup packet\x00Fpostmaster.c\x00\x00")
	tests := []struct {
		got, sent string
		want      string
		detail    string
	}{
		{"", "GET /", SvcNone, ""},
		{"HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n", "GET /", SvcHTTP, "HTTP/1.1 200 OK"},
		// Python's http.server to "whoami\n": an HTTP/0.9 error, the page alone.
		{"<!DOCTYPE HTML>\n<html lang=\"en\">\n    <head>\n        <meta charset=\"utf-8\">\n        <title>Error response</title>", "whoami\n", SvcHTTP, "<!DOCTYPE HTML>"},
		{"\r\n<HTML><HEAD><TITLE>400 Bad Request</TITLE>", "whoami\n", SvcHTTP, ""},
		{"<htm", "whoami\n", SvcText, "<htm"},
		{"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", "", SvcSSH, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"},
		{"220 mail.example.com ESMTP Postfix (Debian/GNU)\r\n", "", SvcSMTP, "220 mail.example.com ESMTP Postfix (Debian/GNU)"},
		{"220 (vsFTPd 3.0.3)\r\n", "", SvcFTP, "220 (vsFTPd 3.0.3)"},
		{"220-Welcome\r\n", "", SvcSMTPOrFTP, "220-Welcome"},
		{"+OK Dovecot ready.\r\n", "", SvcPOP3, "+OK Dovecot ready."},
		{"* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n", "", SvcIMAP, "* OK [CAPABILITY IMAP4rev1] Dovecot ready."},
		{"-ERR unknown command 'whoami'\r\n", "whoami\n", SvcRedis, "-ERR unknown command 'whoami'"},
		{"+PONG\r\n", "PING\r\n", SvcRedis, "+PONG"},
		{"-NOAUTH Authentication required.\r\n", "", SvcRedis, "-NOAUTH Authentication required."},
		{string(mysql), "", SvcMySQL, "8.0.36-0ubuntu0.22.04.1"},
		{string(mysqlErr), "", SvcMySQL, "Host '198.51.100.2' is not allowed to connect to this MySQL server"},
		{string(pg), "GET / HTTP/1.1\r\n", SvcPostgres, "invalid length of startup packet"},
		{"RFB 003.008\n", "", SvcVNC, "RFB 003.008"},
		{"AMQP\x00\x00\x09\x01", "GET /", SvcAMQP, "AMQP"},
		{"\xff\xfd\x18\xff\xfd\x20", "", SvcTelnet, ""},
		{"ERROR\r\n", "GET / HTTP/1.1\r\n", SvcMemcached, "ERROR"},
		{"\x15\x03\x03\x00\x02\x02\x46", "GET /", SvcTLS, "TLS alert: protocol version"},
		{"\x16\x03\x03\x00\x7a\x02\x00\x00\x76", "", SvcTLS, "TLS ServerHello"},
		{"GET /chat HTTP/1.1\r\n", "GET /chat HTTP/1.1\r\nHost: x\r\n\r\n", SvcEcho, "GET /chat HTTP/1.1"},
		{"whoami\n", "whoami\n", SvcEcho, "whoami"},
		{"\x00\x00\x00\n", "\x00\x00\x00\nwhoami", SvcEcho, "\x00\x00\x00"},
		{string(frame("ok:whoami")), string(frame("whoami")), SvcFrame, "ok:whoami"},
		{"hello, world\n", "GET /", SvcText, "hello, world"},
		{"你好\n", "GET /", SvcText, "你好"},
		{"\x01\x02\x03\x04\x05", "GET /", SvcBinary, ""},
	}
	for _, tt := range tests {
		got := Classify([]byte(tt.got), []byte(tt.sent))
		if got.Name != tt.want || got.Detail != tt.detail {
			t.Errorf("Classify(%q) = %q %q, want %q %q", tt.got, got.Name, got.Detail, tt.want, tt.detail)
		}
	}
}

func TestParseStatusLine(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
		code int
	}{
		{"HTTP/1.1 200 OK", true, 200},
		{"HTTP/1.0 404 Not Found", true, 404},
		{"HTTP/1.1 101", true, 101},
		{"HTTP/2 200", true, 200},
		{"HTTP/1.1 20 OK", false, 0},
		{"HTTP/1.1 +20 OK", false, 0},
		{"HTTP/1.1 099 Low", false, 0},
		{"HTTP/9.9 200 OK", false, 0},
		{"GET / HTTP/1.1", false, 0},
		{"", false, 0},
	}
	for _, tt := range tests {
		sl, ok := ParseStatusLine(tt.line)
		if ok != tt.ok || sl.Code != tt.code {
			t.Errorf("ParseStatusLine(%q) = %+v, %v; want code %d, %v", tt.line, sl, ok, tt.code, tt.ok)
		}
	}
}

func TestParseFrame(t *testing.T) {
	tests := []struct {
		in      []byte
		payload string
		total   int
		st      FrameState
	}{
		{frame("whoami"), "whoami", 10, FrameComplete},
		{append(frame("a"), 'x'), "a", 5, FrameComplete}, // a second frame begins
		{frame(""), "", 4, FrameComplete},
		{frame("whoami")[:7], "", 10, FrameIncomplete},
		{[]byte{0, 0}, "", 0, FrameIncomplete},
		{[]byte{0, 0, 0, 3, 'x'}, "", 0, FrameInvalid},      // shorter than its own header
		{[]byte("GET / HTTP/1.1\r\n"), "", 0, FrameInvalid}, // "GET " = 1.2 GB
	}
	for _, tt := range tests {
		p, total, st := ParseFrame(tt.in)
		if string(p) != tt.payload || total != tt.total || st != tt.st {
			t.Errorf("ParseFrame(%q) = %q, %d, %v; want %q, %d, %v", tt.in, p, total, st, tt.payload, tt.total, tt.st)
		}
	}
	if got := frame("whoami"); !bytes.Equal(got, []byte("\x00\x00\x00\x0awhoami")) {
		t.Errorf("EncodeFrame(whoami) = %q", got)
	}
}

func TestParseWhoami(t *testing.T) {
	w, ok := ParseWhoami([]byte(`{"conndiag":"listen","version":"1.2.0","proto":"text","client":"198.51.100.2:40000","server":"[::ffff:198.51.100.3]:5678"}` + "\n"))
	if !ok || w.Proto != "text" || w.Version != "1.2.0" ||
		w.Client != netip.MustParseAddrPort("198.51.100.2:40000") || w.Server != netip.MustParseAddrPort("198.51.100.3:5678") {
		t.Errorf("got %+v, %v", w, ok)
	}
	for _, bad := range []string{"", "whoami", `{"conndiag":"other"}`, `{"conndiag":`, `["listen"]`} {
		if _, ok := ParseWhoami([]byte(bad)); ok {
			t.Errorf("ParseWhoami(%q) accepted", bad)
		}
	}
	if w, ok := ParseWhoami([]byte(`{"conndiag":"listen","client":"nonsense","version":"\u001b[2J"}`)); !ok || w.Client.IsValid() || strings.ContainsRune(w.Version, 0x1b) {
		t.Errorf("bad fields must be dropped or escaped: %+v", w)
	}
}

func TestListenVersion(t *testing.T) {
	tests := []struct {
		in, v string
		ok    bool
	}{
		{"conndiag-listen/1.0.0", "1.0.0", true},
		{"Conndiag-Listen/dev (linux)", "dev", true},
		{"nginx/1.24.0", "", false},
		{"conndiag-listen", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		v, ok := ListenVersion(tt.in)
		if v != tt.v || ok != tt.ok {
			t.Errorf("ListenVersion(%q) = %q, %v", tt.in, v, ok)
		}
	}
}

func TestAcceptFor(t *testing.T) {
	// The example of RFC 6455 section 1.3.
	req := []byte("GET /chat HTTP/1.1\r\nHost: server.example.com\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	if got := acceptFor(req); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("acceptFor = %q", got)
	}
}

var knownServices = map[string]bool{
	SvcNone: true, SvcTLS: true, SvcHTTP: true, SvcSSH: true, SvcSMTP: true, SvcFTP: true, SvcSMTPOrFTP: true,
	SvcPOP3: true, SvcIMAP: true, SvcMySQL: true, SvcPostgres: true, SvcRedis: true, SvcVNC: true, SvcAMQP: true,
	SvcTelnet: true, SvcMemcached: true, SvcEcho: true, SvcFrame: true, SvcText: true, SvcBinary: true,
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\n\r\n", "SSH-2.0-x\r\n", "220 x ESMTP\r\n", "+OK\r\n", "* OK\r\n", "-ERR x\r\n",
		"\x4a\x00\x00\x00\x0a8.0\x00", "\x05\x00\x00\x00\xff\x01\x02#", "E\x00\x00\x00\x08SFATAL\x00", "\x15\x03\x03\x00\x02\x02\x28",
		"\x16\x03\x01\x00\x05\x01", "\x00\x00\x00\x0awhoami", "\xff\xfb", "RFB 003.008\n", "AMQP\x00",
		// Hostile: an endless header cut at MaxKeep, NUL, CR without LF, invalid UTF-8, ESC sequences, a huge length.
		"HTTP/1.1 101 Switching Protocols\r\nX-Long: " + strings.Repeat("a", MaxKeep), "SSH-2.0-\x00\x00", "220 \rSMTP\r",
		"\xff\xfe\xc3\x28", "\x1b]0;owned\x07\x1b[2J\r\n$ curl x|sh\n", "\x7f\xff\xff\xffpayload", "E\xff\xff\xff\xffSM\x00",
	} {
		f.Add([]byte(s), []byte("GET / HTTP/1.1\r\n"))
	}
	f.Fuzz(func(t *testing.T, got, sent []byte) {
		s := Classify(got, sent)
		if !knownServices[s.Name] {
			t.Fatalf("unknown service %q", s.Name)
		}
		if (len(got) == 0) != (s.Name == SvcNone) {
			t.Fatalf("service %q for %d bytes", s.Name, len(got))
		}
		if len(s.Detail) > 4*maxDetail+4 {
			t.Fatalf("detail of %d bytes", len(s.Detail))
		}
		_, _ = describeTLS(got)
	})
}

func FuzzParseStatusLine(f *testing.F) {
	for _, s := range []string{"HTTP/1.1 200 OK", "HTTP/1.0 404", "HTTP/2 101 Switching", "HTTP/1.1 -01", "ICY 200 OK"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		sl, ok := ParseStatusLine(line)
		if ok && (sl.Code < 100 || sl.Code > 999 || !strings.HasPrefix(line, sl.Proto+" ")) {
			t.Fatalf("accepted %q as %+v", line, sl)
		}
	})
}

func FuzzParseFrame(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x0awhoami"))
	f.Add([]byte("\x00\x00\x00\x04"))
	f.Add([]byte("\xff\xff\xff\xff"))
	f.Add([]byte("\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, total, st := ParseFrame(b)
		switch st {
		case FrameComplete:
			if total < 4 || total > len(b) || len(p) != total-4 || total > MaxFrame {
				t.Fatalf("complete frame %d of %d bytes, payload %d", total, len(b), len(p))
			}
			if !bytes.Equal(EncodeFrame(p), b[:total]) {
				t.Fatal("does not round-trip")
			}
		case FrameIncomplete:
			if len(b) >= 4 && int(binary.BigEndian.Uint32(b)) <= len(b) {
				t.Fatal("incomplete although whole")
			}
		}
	})
}

func FuzzParseWhoami(f *testing.F) {
	f.Add([]byte(`{"conndiag":"listen","version":"1","proto":"tcp","client":"127.0.0.1:1","server":"127.0.0.1:2"}`))
	f.Add([]byte(`{"conndiag":"listen","client":"[::1]:1"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, ok := ParseWhoami(b)
		if !ok {
			return
		}
		for _, s := range []string{w.Proto, w.Version} {
			if utf8.RuneCountInString(s) > 65 || strings.ContainsAny(s, "\x00\x1b\r\n") {
				t.Fatalf("unsafe field %q", s)
			}
		}
	})
}

func FuzzEscape(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\n\x1b[2J\xff"), 20)
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		s := Escape(b, max)
		for _, r := range s {
			if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r >= 0x202a && r <= 0x202e {
				t.Fatalf("control character %U in %q", r, s)
			}
		}
		if !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 %q", s)
		}
	})
}
