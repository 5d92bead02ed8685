package escape

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// hostile is what a certificate, a server, a process or a chain name may carry.
var hostile = []string{
	"\x1b[2J\x1b[H",                 // clear the screen
	"\x1b]0;pwned\x07",              // OSC: set the window title
	"evil.example\r\n$ curl x|sh",   // a fake fix line
	"evil\u202egnp.exe",             // right-to-left override
	"a\u2066b\u2069c\u200fd\u061ce", // isolates and marks
	"line\u2028sep\u2029para",       // Unicode line and paragraph separators
	"c1\u009b31mred",                // C1 CSI
	"del\x7f",                       // DEL
	"bad\xff\xfeutf8",               // invalid UTF-8
	"bom\ufeff",                     // zero-width no-break space
	"nul\x00byte",                   // NUL
	"tab\there",                     // TAB
}

func TestBytes(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"GET / HTTP/1.1\r\n", 0, `GET / HTTP/1.1\r\n`},
		{"tab\there\\", 0, `tab\there\\`},
		{"\x00\x00\x00\nwhoami", 0, `\x00\x00\x00\nwhoami`},
		{"\x1b[31mred\x1b[0m", 0, `\x1b[31mred\x1b[0m`},
		{"\xff\xfe", 0, `\xff\xfe`},
		{"你好\n", 0, `你好\n`},
		{"مرحبا", 0, "مرحبا"},
		{"a\u202eb", 0, `a\xe2\x80\xaeb`},
		{"\u0085", 0, `\xc2\x85`},
		{"\u200e\u200f\u061c", 0, `\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c`},
		{"\u2066x\u2069", 0, `\xe2\x81\xa6x\xe2\x81\xa9`},
		{"\u2028", 0, `\xe2\x80\xa8`},
		{"\ufeff", 0, `\xef\xbb\xbf`},
		{"\ufffd", 0, "\ufffd"}, // a real replacement character is text
		{"abcdef", 4, "abcd…"},
		{"ab\r\n", 3, `ab…`},
		{"\x1b", 3, `…`}, // an escape is not cut in half
		{"", 0, ""},
	}
	for _, tt := range tests {
		if got := Bytes([]byte(tt.in), tt.max); got != tt.want {
			t.Errorf("Bytes(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}

func TestString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{`C:\path\x1b`, `C:\path\x1b`}, // backslashes stay: String is idempotent
		{"CN=evil\r\n$ curl x|sh", `CN=evil\r\n$ curl x|sh`},
		{"\x1b]0;pwned\x07", `\x1b]0;pwned\x07`},
		{"evil\u202egnp", `evil\xe2\x80\xaegnp`},
		{"nginx\x7f", `nginx\x7f`},
		{"bad\xffutf8", `bad\xffutf8`},
		{"例子.中国", "例子.中国"},
		{"مثال.إختبار", "مثال.إختبار"},
		{"emoji 🙂", "emoji 🙂"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if IsSafe(tt.in) != (tt.in == tt.want) {
			t.Errorf("IsSafe(%q) = %v", tt.in, IsSafe(tt.in))
		}
	}
	for _, h := range hostile {
		got := String(h)
		if !IsSafe(got) || got == h {
			t.Errorf("String(%q) = %q: not escaped", h, got)
		}
		if String(got) != got {
			t.Errorf("String is not idempotent on %q", got)
		}
		if b := Bytes([]byte(h), 0); String(b) != b {
			t.Errorf("String(Bytes(%q)) = %q: escaped twice", h, String(b))
		}
	}
}

func FuzzString(f *testing.F) {
	for _, h := range hostile {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := String(s)
		if !IsSafe(got) || !utf8.ValidString(got) {
			t.Fatalf("String(%q) = %q is not safe to show", s, got)
		}
		for _, r := range got {
			if unsafe(r) {
				t.Fatalf("unsafe rune %U in %q", r, got)
			}
		}
		if String(got) != got {
			t.Fatalf("String not idempotent: %q → %q", got, String(got))
		}
		if IsSafe(s) != (got == s) {
			t.Fatalf("IsSafe(%q) = %v but String changed it to %q", s, IsSafe(s), got)
		}
		b := Bytes([]byte(s), 0)
		if !IsSafe(b) || String(b) != b {
			t.Fatalf("Bytes(%q) = %q is not shown as it is", s, b)
		}
		if !strings.Contains(s, "\\") && IsSafe(s) && b != s {
			t.Fatalf("Bytes changed safe text %q to %q", s, b)
		}
	})
}
