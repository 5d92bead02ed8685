package page

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/verdict"
)

const tok = "AbCdEfGh12345678"

func TestParseReport(t *testing.T) {
	good := `{"session":"` + tok + `","attempts":[{"token":"Tok_en-123","url":"ws://192.0.2.1:8282/?conndiag=x",` +
		`"events":[{"type":"error","ms":3.5},{"type":"close","ms":4,"code":1006}]}]}`
	if r, err := ParseReport([]byte(good)); err != nil || len(r.Attempts) != 1 || r.Attempts[0].Side().Code != 1006 {
		t.Fatalf("good report: %+v %v", r, err)
	}
	att := func(s string) string { return `{"session":"` + tok + `","attempts":[` + s + `]}` }
	a := func(extra string) string { return att(`{"token":"Tok_en-123","url":"ws://h/"` + extra + `}`) }
	for _, c := range []struct{ name, body string }{
		{"empty", ``},
		{"not an object", `[]`},
		{"two objects", good + good},
		{"trailing garbage", good + `x`},
		{"unknown field", `{"session":"` + tok + `","attempts":[],"x":1}`},
		{"short session", `{"session":"abc","attempts":[]}`},
		{"session with markup", `{"session":"<script>alert(1)</script>","attempts":[]}`},
		{"bad token", att(`{"token":"a b c d e f g h","url":"ws://h/"}`)},
		{"token twice", att(`{"token":"Tok_en-123","url":"ws://h/"},{"token":"Tok_en-123","url":"ws://h/"}`)},
		{"http url", att(`{"token":"Tok_en-123","url":"http://h/"}`)},
		{"javascript url", att(`{"token":"Tok_en-123","url":"javascript:alert(1)"}`)},
		{"url with newline", att(`{"token":"Tok_en-123","url":"ws://h/\n"}`)},
		{"unknown event", a(`,"events":[{"type":"hack","ms":1}]`)},
		{"event twice", a(`,"events":[{"type":"open","ms":1},{"type":"open","ms":2}]`)},
		{"negative time", a(`,"events":[{"type":"open","ms":-1}]`)},
		{"huge time", a(`,"events":[{"type":"open","ms":1e300}]`)},
		{"close code", a(`,"events":[{"type":"close","ms":1,"code":70000}]`)},
		{"long reason", a(`,"events":[{"type":"close","ms":1,"code":1000,"reason":"` + strings.Repeat("x", 124) + `"}]`)},
		{"invalid utf-8", a(`,"thrown":"\xff\xfe"`)},
		{"long exception", a(`,"thrown":"SecurityError","thrown_msg":"` + strings.Repeat("x", 301) + `"}`)},
		{"too many events", a(`,"events":[` + strings.Repeat(`{"type":"open","ms":1},`, 8) + `{"type":"open","ms":1}]`)},
		{"too many deaths", a(`,"deaths":[` + strings.Repeat(`{"age_ms":1,"code":1006},`, 16) + `{"age_ms":1,"code":1006}]`)},
		{"held time", a(`,"held_ms":-5`)},
		{"too large", `{"session":"` + tok + `","attempts":[],"pad":"` + strings.Repeat(" ", MaxReport) + `"}`},
	} {
		if _, err := ParseReport([]byte(c.body)); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	many := make([]string, MaxAttempts+1)
	for i := range many {
		many[i] = `{"token":"Tok_en-` + strings.Repeat("1", i+3) + `","url":"ws://h/"}`
	}
	if _, err := ParseReport([]byte(att(strings.Join(many, ",")))); err == nil {
		t.Error("more attempts than MaxAttempts accepted")
	}
}

func TestParseWS(t *testing.T) {
	for _, s := range []string{"ws://h/", "wss://example.com/ws?x=1", "ws://[2001:db8::1]:8080/", "ws://192.0.2.1:1/"} {
		if _, err := ParseWS(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range []string{"", "http://h/", "ws:///x", "ws://u:p@h/", "ws://h/#f", "ws://h:0/", "ws://h:65536/",
		"ws://h:+80/", "ws:opaque", "ws://h/ x", "ws://h/\x00", "ws://\u202e/", "ws://h/\xff", "ws://" + strings.Repeat("a", 2050) + "/"} {
		if _, err := ParseWS(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func FuzzParseReport(f *testing.F) {
	f.Add([]byte(`{"session":"` + tok + `","attempts":[{"token":"Tok_en-123","url":"ws://h/","events":[{"type":"close","ms":1,"code":1006,"reason":"<b>"}],"deaths":[{"age_ms":60000,"code":1006}]}]}`))
	f.Add([]byte(`{"session":"` + tok + `","attempts":[{"token":"Tok_en-123","url":"ws://h/","thrown":"SecurityError","thrown_msg":"\u202e</script>"}]}`))
	f.Add([]byte(`{"session":"` + tok + `","attempts":null}`))
	f.Add([]byte(`{"session":1e999}`))
	f.Add([]byte("\xef\xbb\xbf{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseReport(b)
		if err != nil {
			return
		}
		if len(b) > MaxReport || len(r.Attempts) > MaxAttempts || !ValidToken(r.Session) {
			t.Fatalf("out of bounds accepted: %d bytes, %d attempts", len(b), len(r.Attempts))
		}
		for _, a := range r.Attempts {
			if len(a.Events) > maxEvents || len(a.Deaths) > maxDeaths || len(a.ThrownMsg) > maxText {
				t.Fatal("out of bounds attempt accepted")
			}
			s := a.Side()
			if s.Open < 0 || s.Close < 0 || s.Held < 0 {
				t.Fatal("negative duration")
			}
		}
		// What was accepted renders, escaped.
		var out bytes.Buffer
		for _, a := range r.Attempts {
			u, _ := ParseWS(a.URL)
			br := evidence.Browser{URL: a.URL, Scheme: u.Scheme, Host: u.Hostname(), Port: Port(u), Timeout: Timeout, Seen: a.Side()}
			if err := WriteResult(&out, "ar", []Result{{Browser: br, Findings: verdict.DecideBrowser(br, nil)}}, false, Hold); err != nil {
				t.Fatal(err)
			}
		}
		if bytes.Contains(out.Bytes(), []byte("<script")) || bytes.Contains(out.Bytes(), []byte("\u202e")) {
			t.Fatalf("markup or a bidi override passed through:\n%s", out.Bytes())
		}
	})
}

func FuzzParseWS(f *testing.F) {
	for _, s := range []string{"ws://h/", "wss://[::1]:443/x?y#z", "ws://a@b/", "ws://h:99999/", "ws://%zz/", "ws://h/\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseWS(s)
		if err != nil {
			return
		}
		if u.Scheme != "ws" && u.Scheme != "wss" || u.Hostname() == "" || u.User != nil || len(s) > maxURL {
			t.Fatalf("%q accepted as %#v", s, u)
		}
		if p := Port(u); p == 0 {
			t.Fatalf("%q: port 0", s)
		}
	})
}

// Bytes a peer or a page chose (a close reason, an exception's message, a
// request header) reach the page as text: no markup, no bidi override.
func TestRenderingEscapes(t *testing.T) {
	hostile := "<img src=x onerror=alert(1)>\u202e\x1b[2J</script>&amp;\"'"
	br := evidence.Browser{URL: "ws://192.0.2.1:8282/", Scheme: "ws", Host: "192.0.2.1", Port: 8282, Timeout: Timeout,
		Seen: evidence.BrowserSide{Opened: true, Closed: true, Close: 40 * time.Millisecond, Code: 4000, Reason: hostile, Thrown: ""},
		Own:  true, Server: evidence.ServerSide{Arrived: true, Upgraded: true, Ended: true, End: hostile}}
	thrown := evidence.Browser{URL: "wss://192.0.2.1/", Scheme: "wss", Host: "192.0.2.1", Port: 443, Timeout: Timeout,
		Seen: evidence.BrowserSide{Thrown: "SecurityError", ThrownMsg: hostile}}
	for _, lang := range []string{"en", "ar", "zh"} {
		var out bytes.Buffer
		rs := []Result{{Browser: br, Findings: verdict.DecideBrowser(br, nil)}, {Browser: thrown, Findings: verdict.DecideBrowser(thrown, nil)}}
		if err := WriteResult(&out, lang, rs, false, Hold); err != nil {
			t.Fatal(err)
		}
		s := out.String()
		for _, bad := range []string{"<img", "</script", "\u202e", "\x1b"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s: %q reached the page:\n%s", lang, bad, s)
			}
		}
		if !strings.Contains(s, "&lt;img src=x") || !strings.Contains(s, `\xe2\x80\xae`) {
			t.Errorf("%s: the hostile reason is not shown escaped:\n%s", lang, s)
		}
		if !strings.Contains(s, `data-cause="`) || !strings.Contains(s, `id="verdict"`) {
			t.Errorf("%s: no verdict element with data-cause:\n%s", lang, s)
		}
		// Verdict first, evidence next, fix last.
		v, e, f := strings.Index(s, `id="verdict"`), strings.Index(s, `class="evidence"`), strings.Index(s, `class="fix"`)
		if v < 0 || e < v || f >= 0 && f < e {
			t.Errorf("%s: verdict at %d, evidence at %d, fix at %d", lang, v, e, f)
		}
	}

	var out bytes.Buffer
	s := Session{ID: tok, Lang: "ar", PagePort: 8080, Targets: []Target{{Token: tok, URL: "ws://h:8282/?conndiag=" + tok}},
		Skipped: []string{"ws://127.0.0.1:1/" + hostile}}
	info := Info{Client: hostile, Server: "192.0.2.1:8080", Headers: map[string]string{"X-Evil": hostile, hostile: "v"}, Version: "test"}
	if err := WritePage(&out, s, info, Timeout, Hold); err != nil {
		t.Fatal(err)
	}
	page := out.String()
	if n := strings.Count(page, "<script"); n != 2 {
		t.Errorf("the page has %d <script elements, want 2 (config and code)", n)
	}
	for _, bad := range []string{"<img", "\u202e", "\x1b", "http://", "https://"} {
		if bad == "http://" || bad == "https://" {
			// No external assets: the only URLs are in the texts and the form's example.
			for _, tag := range []string{`src="http`, `href="http`, `src="//`, `href="//`, "@import", "url("} {
				if strings.Contains(page, tag) {
					t.Errorf("the page loads something from outside: %q", tag)
				}
			}
			continue
		}
		if strings.Contains(page, bad) {
			t.Errorf("%q reached the page", bad)
		}
	}
	// The Content-Security-Policy lets run exactly the page's own script and style.
	between := func(open, close string) string {
		i := strings.Index(page, open)
		if i < 0 {
			t.Fatalf("no %s in the page", open)
		}
		rest := page[i+len(open):]
		return rest[:strings.Index(rest, close)]
	}
	if js := between("<script>", "</script>"); !strings.Contains(CSP, "'"+hash(js)+"'") || hash(js) != hash(pageJS) {
		t.Errorf("the page's script does not have the hash the policy allows")
	}
	if css := between("<style>", "</style>"); !strings.Contains(CSP, "'"+hash(css)+"'") {
		t.Errorf("the page's style does not have the hash the policy allows")
	}
	if strings.Contains(CSP, "unsafe") {
		t.Errorf("the policy allows unsafe sources: %s", CSP)
	}
	if !strings.Contains(page, `lang="ar" dir="rtl"`) {
		t.Error("an Arabic page is not right-to-left")
	}
	cfg := page[strings.Index(page, `id="cfg">`)+len(`id="cfg">`):]
	cfg = cfg[:strings.Index(cfg, "</script>")]
	var c jsConfig
	if err := json.Unmarshal([]byte(cfg), &c); err != nil || c.Session != tok || len(c.Targets) != 1 {
		t.Errorf("the page's configuration %s: %v", cfg, err)
	}
}

func TestLang(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "en"}, {"ar-EG,ar;q=0.9", "ar"}, {"zh-CN", "zh"}, {"zh-TW,zh;q=0.8", "zh"}, {"fr-FR,ar;q=0.5", "ar"},
		{"de", "en"}, {"en-GB", "en"}, {";;;\x00", "en"}, {strings.Repeat("a-", 5000), "en"},
	} {
		if got := Lang(c.in); got != c.want {
			t.Errorf("Lang(%q) = %s, want %s", c.in, got, c.want)
		}
	}
	if Dir("ar") != "rtl" || Dir("zh") != "ltr" || !Known("ZH") || Known("fr") {
		t.Error("Dir/Known")
	}
}

func TestPageHost(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"example.com:8080", "example.com"}, {"Example.COM", "example.com"}, {"[2001:db8::1]:80", "2001:db8::1"},
		{"192.0.2.1:8080", "192.0.2.1"}, {"ex\"ample.com", ""}, {"<script>", ""}, {"[fe80::1%eth0]:80", ""}, {"", ""},
	} {
		if got := PageHost(c.in); got != c.want {
			t.Errorf("PageHost(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTargets(t *testing.T) {
	n := 0
	token := func() string { n++; return "token" + strings.Repeat("x", n) }
	eps := []Endpoint{
		{URI: "http://0.0.0.0:8080", Addr: netip.MustParseAddrPort("0.0.0.0:8080"), HTTP: true},
		{URI: "websocket://0.0.0.0:8282", Addr: netip.MustParseAddrPort("0.0.0.0:8282"), WebSocket: true},
		{URI: "wss://[::]:8443", Addr: netip.MustParseAddrPort("[::]:8443"), WebSocket: true, TLS: true},
		{URI: "websocket://127.0.0.1:9000", Addr: netip.MustParseAddrPort("127.0.0.1:9000"), WebSocket: true},
		{URI: "websocket://192.0.2.7:9001", Addr: netip.MustParseAddrPort("192.0.2.7:9001"), WebSocket: true},
	}
	ts, skipped := Targets(eps, "example.com", netip.MustParseAddr("192.0.2.1"), token)
	var shown []string
	for _, tg := range ts {
		shown = append(shown, tg.Shown)
		if !strings.Contains(tg.URL, "?conndiag="+tg.Token) || tg.HoldURL == tg.URL {
			t.Errorf("%+v: no token of its own", tg)
		}
	}
	want := "ws://example.com:8282/ wss://example.com:8443/ ws://192.0.2.7:9001/"
	if strings.Join(shown, " ") != want || len(skipped) != 1 || skipped[0] != "websocket://127.0.0.1:9000" {
		t.Errorf("targets %v skipped %v, want %s and the loopback one", shown, skipped, want)
	}
	ts, skipped = Targets(eps, "127.0.0.1", netip.MustParseAddr("127.0.0.1"), token)
	if len(ts) != 4 || len(skipped) != 0 {
		t.Errorf("a browser on this machine reaches the loopback endpoint too: %v %v", ts, skipped)
	}

	local := func(a netip.Addr) bool { return a == netip.MustParseAddr("192.0.2.1") }
	for _, c := range []struct {
		url  string
		want int
	}{
		{"ws://example.com:8282/app", 1}, {"wss://192.0.2.1:8443/", 2}, {"ws://192.0.2.1:8080/", 0},
		{"ws://example.org:8282/", -1}, {"ws://198.51.100.1:8282/", -1}, {"ws://example.com/", -1},
	} {
		u, _ := url.Parse(c.url)
		if got := Own(eps, u, "example.com", local); got != c.want {
			t.Errorf("Own(%s) = %d, want %d", c.url, got, c.want)
		}
	}
	u, _ := url.Parse("ws://example.com:8282/app?x=1")
	if tg := Typed(u, 1, "tokA12345", "tokB12345"); !strings.Contains(tg.URL, "conndiag=tokA12345") || !strings.Contains(tg.URL, "x=1") || tg.Shown != u.String() {
		t.Errorf("typed own URL %+v", tg)
	}
	if tg := Typed(u, -1, "tokA12345", "tokB12345"); tg.URL != u.String() {
		t.Errorf("a URL elsewhere gets a token: %+v", tg)
	}
}

func TestMatch(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	client := netip.MustParseAddr("192.0.2.9")
	peer := netip.AddrPortFrom(client, 40000)
	other := netip.MustParseAddrPort("198.51.100.1:40000")
	ws := Endpoint{WebSocket: true}
	wss := Endpoint{WebSocket: true, TLS: true}
	rs := []Seen{
		{At: t0.Add(time.Second), Peer: peer, Token: "mine12345", Request: true, Upgraded: true},
		{At: t0.Add(2 * time.Second), Peer: peer, Token: "theirs123", Request: true, Status: 400},
	}
	if v := Match(rs, "mine12345", client, t0, ws); !v.Arrived || !v.Upgraded || v.From != peer {
		t.Errorf("by token: %+v", v)
	}
	if v := Match(rs, "absent123", client, t0, ws); v.Arrived {
		t.Errorf("a connection with another token was taken: %+v", v)
	}
	tlsFail := []Seen{
		{At: t0.Add(-time.Second), Peer: peer, TLSFailed: true, TLSErr: "old"},
		{At: t0.Add(time.Second), Peer: netip.AddrPortFrom(other.Addr(), 1), TLSFailed: true, TLSErr: "other client"},
		{At: t0.Add(time.Second), Peer: peer, TLSFailed: true, TLSErr: "bad certificate"},
	}
	if v := Match(tlsFail, "absent123", client, t0, wss); !v.Arrived || v.TLSErr != "bad certificate" {
		t.Errorf("a failed TLS handshake from the page's client: %+v", v)
	}
	if v := Match(tlsFail[:2], "absent123", client, t0, wss); v.Arrived {
		t.Errorf("a connection from before the page, or from another address, was taken: %+v", v)
	}
}

// A report is judged at once unless a connection of the page's client to
// the failed attempt's endpoint is still in progress there.
func TestPending(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	client := netip.MustParseAddr("192.0.2.9")
	peer := netip.AddrPortFrom(client, 40000)
	sess := Session{Created: t0, Client: client, Targets: []Target{{Token: "tokA12345", Endpoint: 0}, {Token: "tokB12345", Endpoint: -1}}}
	failed := Report{Attempts: []Attempt{{Token: "tokA12345", Events: []Event{{Type: "error"}, {Type: "close", Code: 1006}}}}}
	opened := Report{Attempts: []Attempt{{Token: "tokA12345", Events: []Event{{Type: "open"}}}}}
	elsewhere := Report{Attempts: []Attempt{{Token: "tokB12345", Events: []Event{{Type: "error"}}}}}
	for _, c := range []struct {
		name string
		r    Report
		seen []Seen
		want bool
	}{
		{"nothing arrived (refused, dropped)", failed, nil, false},
		{"accepted, TLS not yet judged", failed, []Seen{{At: t0.Add(time.Second), Peer: peer}}, true},
		{"TLS failure recorded", failed, []Seen{{At: t0.Add(time.Second), Peer: peer, TLSFailed: true}}, false},
		{"not HTTP recorded", failed, []Seen{{At: t0.Add(time.Second), Peer: peer, NotHTTP: true}}, false},
		{"ended", failed, []Seen{{At: t0.Add(time.Second), Peer: peer, Ended: true}}, false},
		{"its own handshake came", failed, []Seen{{At: t0.Add(time.Second), Peer: peer}, {At: t0.Add(time.Second), Peer: peer, Token: "tokA12345", Request: true, Status: 403}}, false},
		{"from before the page", failed, []Seen{{At: t0.Add(-time.Second), Peer: peer}}, false},
		{"from another client", failed, []Seen{{At: t0.Add(time.Second), Peer: netip.MustParseAddrPort("198.51.100.1:1")}}, false},
		{"the browser opened it", opened, []Seen{{At: t0.Add(time.Second), Peer: peer}}, false},
		{"a URL elsewhere", elsewhere, []Seen{{At: t0.Add(time.Second), Peer: peer}}, false},
	} {
		if got := sess.Pending(c.r, func(int) []Seen { return c.seen }); got != c.want {
			t.Errorf("%s: Pending = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSessionsBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ss := Sessions{Max: 3, TTL: time.Minute, Now: func() time.Time { return now }}
	for i := range 5 {
		ss.Add(&Session{ID: "session" + strings.Repeat("x", i+1), Created: now})
	}
	if _, ok := ss.Get("sessionx"); ok {
		t.Error("the oldest session beyond Max is kept")
	}
	if _, ok := ss.Get("sessionxxxxx"); !ok {
		t.Error("the newest session is gone")
	}
	now = now.Add(2 * time.Minute)
	if _, ok := ss.Get("sessionxxxxx"); ok {
		t.Error("a session older than TTL is kept")
	}
	ss.Add(&Session{ID: "fresh12345", Created: now})
	for i := range MaxTyped + 2 {
		ok := ss.AddTyped("fresh12345", Target{Token: "typed" + strings.Repeat("y", i+4), Typed: true}, nil)
		if ok != (i < MaxTyped) {
			t.Fatalf("typed URL %d: %v", i+1, ok)
		}
	}
	ss.Add(&Session{ID: "full123456", Created: now, Targets: make([]Target, MaxAttempts)})
	if ss.AddTyped("full123456", Target{Typed: true}, nil) {
		t.Error("a typed URL beyond what a report may carry")
	}
	if ss.AddTyped("unknown123", Target{}, nil) {
		t.Error("a typed URL for an unknown session")
	}
}

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := Limiter{Every: 10 * time.Second, Max: 4, Now: func() time.Time { return now }}
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	rel, _, _ := l.Begin(a)
	if rel == nil {
		t.Fatal("the first check is refused")
	}
	if r, _, busy := l.Begin(b); r != nil || !busy {
		t.Error("a second check at the same time")
	}
	rel()
	if r, wait, _ := l.Begin(a); r != nil || wait != 10*time.Second {
		t.Errorf("a second check of the same address within its window (wait %s)", wait)
	}
	now = now.Add(10 * time.Second)
	r, _, _ := l.Begin(a)
	if r == nil {
		t.Fatal("a check after the window is refused")
	}
	r()
	for i := range 100 {
		now = now.Add(time.Millisecond)
		if r, _, _ := l.Begin(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})); r != nil {
			r()
		}
	}
	if len(l.last) > 4 {
		t.Errorf("the limiter remembers %d addresses, Max 4", len(l.last))
	}
}

func TestCheckAllowed(t *testing.T) {
	P := netip.MustParseAddr
	for _, c := range []struct {
		client string
		addrs  []string
		ok     bool
	}{
		{"127.0.0.1", []string{"127.0.0.1"}, true},
		{"127.0.0.1", []string{"10.0.0.1", "8.8.8.8"}, true},
		{"10.0.0.5", []string{"10.0.0.1"}, true},
		{"10.0.0.5", []string{"127.0.0.1"}, false},
		{"8.8.4.4", []string{"10.0.0.1"}, false},
		{"8.8.4.4", []string{"100.64.0.1"}, false},
		{"8.8.4.4", []string{"1.1.1.1", "192.168.0.1"}, false},
		{"8.8.4.4", []string{"1.1.1.1"}, true},
		{"127.0.0.1", []string{"169.254.169.254"}, false},
		{"10.0.0.5", []string{"fe80::1"}, false},
		{"8.8.4.4", []string{"::ffff:10.0.0.1"}, false},
		{"8.8.4.4", []string{"fd00::1"}, false},
		{"8.8.4.4", []string{}, false},
	} {
		var as []netip.Addr
		for _, a := range c.addrs {
			as = append(as, P(a))
		}
		if _, ok := CheckAllowed(P(c.client), as); ok != c.ok {
			t.Errorf("client %s, %v: %v, want %v", c.client, c.addrs, ok, c.ok)
		}
	}
}
