package listen

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/page"
	"github.com/conndiag/conndiag/internal/verdict"
)

// pageConfig is the part of the page's embedded configuration the tests read.
type pageConfig struct {
	Session string `json:"session"`
	Targets []struct {
		Token, URL string
	} `json:"targets"`
}

var cfgRE = regexp.MustCompile(`<script type="application/json" id="cfg">([^<]*)</script>`)

// loadPage GETs the check page as a browser would and returns its configuration.
func loadPage(t *testing.T, base, lang string) (pageConfig, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Accept-Language", lang)
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := cfgRE.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no configuration in the page:\n%s", b)
	}
	var cfg pageConfig
	if err := json.Unmarshal(m[1], &cfg); err != nil {
		t.Fatalf("configuration %s: %v", m[1], err)
	}
	if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("the page has no security headers: %v", resp.Header)
	}
	return cfg, string(b)
}

func client() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
}

func postJSON(t *testing.T, url string, v any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(v)
	resp, err := client().Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

var causeRE = regexp.MustCompile(`id="verdict" class="[^"]*" data-cause="([a-z_]+)"`)

// The page's whole round trip without a browser: the endpoints it lists,
// the token in each URL, what the server saw of a connection that carries
// it, and the verdict.
func TestPageJoinsWhatTheServerSaw(t *testing.T) {
	bothDrivers(t, func(t *testing.T, cfg Config) {
		ts := serve(t, cfg, "http://127.0.0.1:0", "ws://127.0.0.1:0", "text://127.0.0.1:0")
		base := "http://" + ts.urls["http"]
		pc, html := loadPage(t, base, "ar,en;q=0.5")
		if !strings.Contains(html, `lang="ar" dir="rtl"`) {
			t.Errorf("Accept-Language ar does not give an Arabic page")
		}
		if len(pc.Targets) != 1 || !strings.HasPrefix(pc.Targets[0].URL, "ws://"+ts.urls["ws"]+"/?conndiag=") {
			t.Fatalf("targets %+v, want the ws endpoint", pc.Targets)
		}
		tgt := pc.Targets[0]
		c, _, err := websocket.DefaultDialer.Dial(tgt.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		rep := page.Report{Session: pc.Session, Attempts: []page.Attempt{{Token: tgt.Token, URL: tgt.URL,
			Events: []page.Event{{Type: "open", MS: 2}, {Type: "message", MS: 3}}}}}
		code, body := postJSON(t, base+page.ReportPath, rep)
		if code != 200 {
			t.Fatalf("report: %d %s", code, body)
		}
		if m := causeRE.FindStringSubmatch(body); m == nil || m[1] != "ok" {
			t.Fatalf("verdict: %s", body)
		}
		t.Log(body)
		if !strings.Contains(body, "101 Switching Protocols") {
			t.Errorf("the verdict does not say the server saw the handshake complete:\n%s", body)
		}

		// A typed URL at the http endpoint: the handshake gets 200.
		code, body = postJSON(t, base+page.PreparePath, map[string]string{"session": pc.Session, "url": "ws://" + ts.urls["http"] + "/app"})
		var prep struct{ Token, URL, Error string }
		if err := json.Unmarshal([]byte(body), &prep); code != 200 || err != nil || prep.Error != "" || !strings.Contains(prep.URL, "conndiag="+prep.Token) {
			t.Fatalf("prepare: %d %s", code, body)
		}
		_, resp, err := websocket.DefaultDialer.Dial(prep.URL, nil)
		if err == nil || resp == nil || resp.StatusCode != 200 {
			t.Fatalf("the http endpoint upgraded: %v %v", err, resp)
		}
		rep.Attempts = append(rep.Attempts, page.Attempt{Token: prep.Token, URL: prep.URL,
			Events: []page.Event{{Type: "error", MS: 2}, {Type: "close", MS: 3, Code: 1006}}})
		code, body = postJSON(t, base+page.ReportPath, rep)
		if m := causeRE.FindStringSubmatch(body); code != 200 || m == nil || m[1] != "ws_upgrade_rejected" {
			t.Fatalf("typed http endpoint: %d %s", code, body)
		}

		// A typed URL at the text endpoint: no HTTP at all.
		_, body = postJSON(t, base+page.PreparePath, map[string]string{"session": pc.Session, "url": "ws://" + ts.urls["text"] + "/"})
		_ = json.Unmarshal([]byte(body), &prep)
		if _, _, err := websocket.DefaultDialer.Dial(prep.URL, nil); err == nil {
			t.Fatal("the text endpoint upgraded")
		}
		rep.Attempts = []page.Attempt{{Token: prep.Token, URL: prep.URL, Events: []page.Event{{Type: "error", MS: 2}, {Type: "close", MS: 3, Code: 1006}}}}
		_, body = postJSON(t, base+page.ReportPath, rep)
		if m := causeRE.FindStringSubmatch(body); m == nil || m[1] != "not_http" {
			t.Fatalf("typed text endpoint: %s", body)
		}
	})
}

// A connection that never arrived, next to an HTTP request that did.
func TestPageNothingArrived(t *testing.T) {
	ts := serve(t, Config{}, "http://127.0.0.1:0", "ws://127.0.0.1:0")
	base := "http://" + ts.urls["http"]
	pc, _ := loadPage(t, base, "zh-CN")
	tgt := pc.Targets[0]
	rep := page.Report{Session: pc.Session, Attempts: []page.Attempt{{Token: tgt.Token, URL: tgt.URL, GaveUp: true}}}
	_, body := postJSON(t, base+page.ReportPath, rep)
	if m := causeRE.FindStringSubmatch(body); m == nil || m[1] != "filtered" {
		t.Fatalf("verdict: %s", body)
	}
	if !strings.Contains(body, "iptables -I INPUT -p tcp --dport "+strings.Split(ts.urls["ws"], ":")[1]+" -j ACCEPT") {
		t.Errorf("no firewall command:\n%s", body)
	}
}

// A wss endpoint whose certificate the browser refuses: the connection
// arrives, its TLS handshake fails, and no token can be read; the page finds
// it by the client's address.
func TestPageCertificateRefused(t *testing.T) {
	ts := serve(t, Config{}, "http://127.0.0.1:0", "wss://127.0.0.1:0")
	base := "http://" + ts.urls["http"]
	pc, _ := loadPage(t, base, "en")
	tgt := pc.Targets[0]
	d := websocket.Dialer{TLSClientConfig: &tls.Config{}} // verifies: the self-signed certificate fails
	if _, _, err := d.Dial(tgt.URL, nil); err == nil {
		t.Fatal("the self-signed certificate was accepted")
	}
	time.Sleep(50 * time.Millisecond)
	rep := page.Report{Session: pc.Session, Attempts: []page.Attempt{{Token: tgt.Token, URL: tgt.URL,
		Events: []page.Event{{Type: "error", MS: 4}, {Type: "close", MS: 5, Code: 1006}}}}}
	_, body := postJSON(t, base+page.ReportPath, rep)
	if m := causeRE.FindStringSubmatch(body); m == nil || m[1] != "tls_certificate" {
		t.Fatalf("verdict: %s", body)
	}
}

// The server's own check of a typed URL elsewhere runs once per address
// in its window, and says why when it does not.
func TestPageServerCheck(t *testing.T) {
	var ran int
	cfg := Config{Check: func(ctx context.Context, url string) ([]verdict.Finding, []netip.Addr) {
		ran++
		return []verdict.Finding{{Cause: verdict.CauseNotListening, Confidence: verdict.High,
				Summary: i18n.M("cause.not_listening.summary", "Addr", "192.0.2.1:9")}},
			[]netip.Addr{netip.MustParseAddr("127.0.0.1")}
	}}
	ts := serve(t, cfg, "http://127.0.0.1:0", "ws://127.0.0.1:0")
	base := "http://" + ts.urls["http"]
	pc, _ := loadPage(t, base, "en")
	check := func(url string) string {
		t.Helper()
		_, body := postJSON(t, base+page.PreparePath, map[string]string{"session": pc.Session, "url": url})
		var prep struct{ Token, URL, Error string }
		_ = json.Unmarshal([]byte(body), &prep)
		if prep.Error != "" {
			return "error: " + prep.Error
		}
		if strings.Contains(prep.URL, "conndiag=") {
			t.Errorf("a URL elsewhere gets the token: %s", prep.URL)
		}
		rep := page.Report{Session: pc.Session, Attempts: []page.Attempt{{Token: prep.Token, URL: prep.URL,
			Events: []page.Event{{Type: "error", MS: 2}, {Type: "close", MS: 3, Code: 1006}}}}}
		_, out := postJSON(t, base+page.ReportPath, rep)
		return out
	}
	first := check("ws://127.0.0.2:9/")
	if ran != 1 || !strings.Contains(first, `class="server"`) || !strings.Contains(first, "192.0.2.1:9") {
		t.Fatalf("the server's check did not run or is not shown (ran %d):\n%s", ran, first)
	}
	second := check("ws://127.0.0.3:9/")
	if ran != 1 || !strings.Contains(second, "one check every") {
		t.Fatalf("a second check within the window ran (ran %d) or the page does not say why not:\n%s", ran, second)
	}
	if got := check("http://example.com/"); !strings.HasPrefix(got, "error: ") {
		t.Errorf("an http:// URL was taken: %s", got)
	}
}

// What the page posts is bounded and checked before anything else.
func TestPageRefusesBadPosts(t *testing.T) {
	ts := serve(t, Config{}, "http://127.0.0.1:0", "ws://127.0.0.1:0")
	base := "http://" + ts.urls["http"]
	pc, _ := loadPage(t, base, "en")
	post := func(ctype string, body []byte) int {
		resp, err := client().Post(base+page.ReportPath, ctype, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	good, _ := json.Marshal(page.Report{Session: pc.Session})
	for _, c := range []struct {
		name  string
		ctype string
		body  []byte
		want  int
	}{
		{"a form (another site's)", "application/x-www-form-urlencoded", good, http.StatusUnsupportedMediaType},
		{"too large", "application/json", bytes.Repeat([]byte(" "), page.MaxReport+10), http.StatusRequestEntityTooLarge},
		{"unknown session", "application/json", []byte(`{"session":"AAAAAAAAAAAAAAAAAAAAAA","attempts":[]}`), http.StatusBadRequest},
		{"unknown field", "application/json", []byte(`{"session":"` + pc.Session + `","x":1}`), http.StatusBadRequest},
		{"good", "application/json", good, http.StatusOK},
	} {
		if got := post(c.ctype, c.body); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	resp, err := client().Get(base + page.ReportPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET of the report path: %d", resp.StatusCode)
	}
}

func TestSeenLogIsBounded(t *testing.T) {
	l := newSeenLog()
	peer := netip.MustParseAddrPort("192.0.2.1:1000")
	first := l.begin(peer)
	for range 3 * seenRing {
		l.begin(peer)
	}
	l.update(first, func(s *page.Seen) { s.Token = "overwritten" })
	rs := l.recent()
	if len(rs) != seenRing {
		t.Fatalf("%d entries, want %d", len(rs), seenRing)
	}
	for _, r := range rs {
		if r.Token != "" {
			t.Fatal("an entry overwritten meanwhile was updated")
		}
	}
	var nilLog *seenLog
	if nilLog.begin(peer) != 0 || nilLog.recent() != nil {
		t.Error("the log of a server without a page records")
	}
}

func TestTokenOf(t *testing.T) {
	for _, c := range []struct{ req, want string }{
		{"GET /?conndiag=AbCdEfGh12 HTTP/1.1\r\nHost: x\r\n\r\n", "AbCdEfGh12"},
		{"GET /chat?room=1&conndiag=AbCdEfGh12&x=2 HTTP/1.1\r\n", "AbCdEfGh12"},
		{"GET /?conndiag=short HTTP/1.1\r\n", ""},
		{"GET /?conndiag=<script>alert(1)</script> HTTP/1.1\r\n", ""},
		{"GET / HTTP/1.1\r\nX: ?conndiag=AbCdEfGh12\r\n", ""},
		{"garbage", ""},
	} {
		if got := tokenOf([]byte(c.req)); got != c.want {
			t.Errorf("tokenOf(%q) = %q, want %q", c.req, got, c.want)
		}
	}
	if statusOf([]byte("HTTP/1.1 404 Not Found\r\n")) != 404 || statusOf([]byte("nope")) != 0 {
		t.Error("statusOf")
	}
}

func FuzzTokenOf(f *testing.F) {
	for _, s := range []string{"GET /?conndiag=AbCdEfGh12 HTTP/1.1\r\n", "GET /?a&conndiag=&conndiag=AbCdEfGh12 HTTP/1.1", "\x16\x03\x01\x02\x00", "GET ?conndiag=<x> \n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if tok := tokenOf(b); tok != "" && !page.ValidToken(tok) {
			t.Fatalf("tokenOf(%q) = %q, not a valid token", b, tok)
		}
		_ = statusOf(b)
	})
}
