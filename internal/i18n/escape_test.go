package i18n_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/i18n"
)

var hostileArgs = []string{
	"\x1b[2J\x1b[H",
	"\x1b]0;pwned\x07",
	"CN=evil\r\n$ curl x|sh",
	"evil\u202egnp.exe",
	"a\u2066b\u2069\u200f",
	"\u2028x\u2029",
	"\u009b31m",
	"\x7f\xff\xfe",
}

type stringer string

func (s stringer) String() string { return string(s) }

func TestTextEscapesArguments(t *testing.T) {
	for _, lang := range i18n.Languages() {
		p := i18n.New(lang)
		for _, h := range hostileArgs {
			for _, v := range []any{h, stringer(h), errors.New(h), []string{h}} {
				got := p.Text(i18n.M("ev.proto.cert.self_signed", "Subject", v))
				if !escape.IsSafe(got) {
					t.Errorf("%s: %T %q rendered raw: %q", lang, v, h, got)
				}
				if !strings.Contains(got, escape.String(h)) {
					t.Errorf("%s: %q rendered as %q, want its escaped form %q in it", lang, h, got, escape.String(h))
				}
			}
		}
	}
}

func TestTextKeepsOwnTextsAndNumbers(t *testing.T) {
	en := i18n.New("en")
	// A nested message is our own text: rendered, never escaped.
	got := en.Text(i18n.M("ev.ports.twreuse", "V", 2, "Meaning", i18n.M("twreuse.2")))
	if want := "net.ipv4.tcp_tw_reuse = 2: TIME_WAIT ports are reused for loopback connections only."; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// Arabic and Chinese catalog texts, and Arabic or Chinese outside names, come through whole.
	for _, tt := range []struct{ lang, name string }{{"ar", "خادم.مثال"}, {"zh", "服务器.例子"}, {"en", `C:\dir`}} {
		p := i18n.New(tt.lang)
		texts, err := i18n.Texts(tt.lang)
		if err != nil {
			t.Fatal(err)
		}
		got := p.Text(i18n.M("ev.proto.cert.self_signed", "Subject", tt.name))
		want := strings.ReplaceAll(texts["ev.proto.cert.self_signed"], "{{.Subject}}", tt.name)
		if got != want {
			t.Errorf("%s: got %q, want %q", tt.lang, got, want)
		}
	}
	// Numbers stay numbers: a zero still reads as false in {{if}}.
	got = en.Text(i18n.M("ev.proto.http.timing", "DNS", "", "Connect", "1 ms", "TLS", "", "FirstByte", "2 ms"))
	if strings.Contains(got, "DNS") || strings.Contains(got, "TLS") {
		t.Errorf("empty arguments shown: %q", got)
	}
	if got := en.Text(i18n.M("ui.took", "Dur", time.Duration(0))); strings.Contains(got, `\x`) {
		t.Errorf("a duration was escaped: %q", got)
	}
	addr := netip.MustParseAddr("2001:db8::1")
	if got := en.Text(i18n.M("ui.exchange", "Addr", addr)); !strings.Contains(got, "2001:db8::1") {
		t.Errorf("address rendered as %q", got)
	}
}

// TestCatalogRendersSafely renders every message of every language, first
// with plain arguments and then with hostile ones in every placeholder. With
// plain arguments the output is the catalog text filled in as the template
// says (the catalog is not mangled); with hostile arguments it is the same
// with the escaped values, and nothing unsafe is left.
func TestCatalogRendersSafely(t *testing.T) {
	for _, lang := range i18n.Languages() {
		p := i18n.New(lang)
		texts, err := i18n.Texts(lang)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for id, text := range texts {
			tmpl, err := template.New(id).Parse(text)
			if err != nil {
				t.Fatalf("%s %s: %v", lang, id, err)
			}
			for i, h := range append([]string{"plain-value"}, hostileArgs...) {
				kv, data := []any{}, map[string]any{}
				for _, name := range strings.Split(args(text), ",") {
					if name != "" {
						kv = append(kv, name, h)
						data[name] = escape.String(h)
					}
				}
				if i > 0 && len(kv) == 0 {
					break
				}
				var want strings.Builder
				if err := tmpl.Execute(&want, data); err != nil {
					t.Fatalf("%s %s: %v", lang, id, err)
				}
				got := p.Text(i18n.M(id, kv...))
				if got != want.String() {
					t.Errorf("%s %s: rendered %q, want %q", lang, id, got, want.String())
				}
				if !escape.IsSafe(got) {
					t.Errorf("%s %s: unsafe output %q", lang, id, got)
				}
				n++
			}
		}
		if n < len(texts) {
			t.Errorf("%s: rendered %d of %d messages", lang, n, len(texts))
		}
	}
}
