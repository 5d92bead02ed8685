//go:build linux

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/conndiag/conndiag/internal/testbed"
)

// The check page of conndiag listen in a real browser: Debian's Chromium,
// headless, in the client namespace of a Pair, driven over its debugging
// pipe with a fresh profile per test. listen runs in the server namespace.
// Each case loads the page in English, Arabic and Chinese (Accept-Language)
// on a phone-sized screen, asserts the rendered verdict's data-cause and
// texts, and saves a screenshot under the test's temp dir (and under
// $CONNDIAG_SCREENSHOTS when set).

const chromiumPath = "/usr/bin/chromium"

// pageLangs are the languages each case is shown in, with a test that the
// rendered summary is really in that language.
var pageLangs = []struct {
	lang, accept string
	dir          string
	script       *unicode.RangeTable
}{
	{"en", "en-US,en;q=0.9", "ltr", unicode.Latin},
	{"ar", "ar-EG,ar;q=0.9", "rtl", unicode.Arabic},
	{"zh", "zh-CN,zh;q=0.9", "ltr", unicode.Han},
}

// startBrowser starts Chromium inside ns with the flags this machine needs
// as root and a new empty profile; it is closed at cleanup.
func startBrowser(t *testing.T, ns *testbed.NS, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	testbed.RequireTool(t, chromiumPath)
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("ip not found")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(390, 844),
		// Run the browser inside the client namespace: the debugging pipe
		// (fds 3 and 4) survives ip netns exec, which execs the browser.
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			cmd.Args = append([]string{"ip", "netns", "exec", ns.Name(), cmd.Path}, cmd.Args[1:]...)
			cmd.Path = ip
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		}),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		cancelBrowser()
		cancelAlloc()
		t.Fatalf("starting chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	return bctx
}

// pageView is what a test reads of the rendered page.
type pageView struct {
	State     string            `json:"state"`
	Dir       string            `json:"dir"`
	Lang      string            `json:"lang"`
	Cause     string            `json:"cause"` // #verdict's data-cause
	Conf      string            `json:"confidence"`
	Summary   string            `json:"summary"` // #verdict's summary
	VerdictMS string            `json:"verdict_ms"`
	TypedMS   string            `json:"typed_ms"`
	Server    []string          `json:"server"` // the data-cause of each finding of the server's own check
	Causes    map[string]string `json:"causes"` // each attempt's URL → its data-cause
	Text      string            `json:"text"`   // the whole result
	Overflow  bool              `json:"overflow"`
}

const readView = `(() => {
  const v = document.getElementById("verdict");
  const causes = {};
  document.querySelectorAll("article.attempt").forEach(a => { causes[a.dataset.ws] = a.dataset.cause; });
  return {
    state: document.body.dataset.state || "",
    dir: document.documentElement.dir, lang: document.documentElement.lang,
    cause: v ? v.dataset.cause : "", confidence: v ? v.dataset.confidence : "", summary: v ? v.querySelector(".summary").textContent : "",
    verdict_ms: document.body.dataset.verdictMs || "", typed_ms: document.body.dataset.typedMs || "",
    causes: causes, text: document.getElementById("result").innerText,
    server: Array.from(document.querySelectorAll("article.attempt .server .finding")).map(f => f.dataset.cause),
    overflow: document.documentElement.scrollWidth > window.innerWidth + 1,
  };
})()`

// pageCase loads the page in one language, optionally checks a typed URL,
// waits for the verdict and checks it.
type pageCase struct {
	name    string
	page    string // the page's URL
	typed   string // a URL to enter in the form, "" for none
	cause   string // the expected #verdict data-cause
	attempt string // the attempt whose cause must equal cause ("" any)
	words   []string
	// server are the causes the server's own check may find (one of them,
	// in one of the languages); where it ran and found one, that cause
	// leads the verdict, since it measured what the browser could not.
	server []string
	later  bool // the verdict comes while the page holds its connections: wait for cause
	// confidence is the expected #verdict data-confidence ("" any).
	confidence string
	// explain is the cause conndiag explain must find in the console line
	// Chromium logged for the attempt ("" none is looked for).
	explain string
}

func runPageCase(t *testing.T, bctx context.Context, c pageCase) {
	t.Helper()
	shots := os.Getenv("CONNDIAG_SCREENSHOTS")
	done := make(chan error, len(pageLangs))
	views := make([]pageView, len(pageLangs))
	var mu sync.Mutex
	consoles := make([][]string, len(pageLangs)) // what each tab's console logged of WebSockets
	var violations []string                      // what the page's own policy refused
	for i, l := range pageLangs {
		go func() {
			done <- func() error {
				tctx, cancel := chromedp.NewContext(bctx)
				defer cancel()
				tctx, cancelT := context.WithTimeout(tctx, 60*time.Second)
				defer cancelT()
				if _, err := chromedp.Call(tctx, network.Enable, network.EnableParams{}); err != nil {
					return fmt.Errorf("network.enable: %w", err)
				}
				if err := chromedp.Listen(tctx, func(ev any) {
					if e, ok := ev.(*cdplog.EventEntryAdded); ok && e.Entry != nil {
						mu.Lock()
						switch {
						case strings.HasPrefix(e.Entry.Text, "WebSocket connection to"):
							consoles[i] = append(consoles[i], e.Entry.Text)
						case strings.Contains(e.Entry.Text, "Content Security Policy"):
							violations = append(violations, e.Entry.Text)
						}
						mu.Unlock()
					}
				}); err != nil {
					return err
				}
				if _, err := chromedp.Call(tctx, cdplog.Enable, cdp.Empty{}); err != nil {
					return fmt.Errorf("log.enable: %w", err)
				}
				if _, err := chromedp.Call(tctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
					Headers: network.Headers{"Accept-Language": l.accept}}); err != nil {
					return fmt.Errorf("setting Accept-Language: %w", err)
				}
				steps := []chromedp.Action[chromedp.Void]{
					chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)),
					chromedp.Navigate(c.page),
				}
				if c.typed != "" {
					// The listen's own endpoints first, then the typed URL.
					steps = append(steps,
						chromedp.Poll[chromedp.Void](`document.body.dataset.state === "done"`, chromedp.WithPollingTimeout(30*time.Second)),
						chromedp.SendKeys(chromedp.CSS("#url"), c.typed),
						chromedp.Click(chromedp.CSS("#go")),
						chromedp.Poll[chromedp.Void](`document.body.dataset.typedMs !== undefined`,
							chromedp.WithPollingTimeout(40*time.Second)))
				} else {
					steps = append(steps, chromedp.Poll[chromedp.Void](`document.body.dataset.state === "done"`, chromedp.WithPollingTimeout(30*time.Second)))
				}
				if c.later {
					want := fmt.Sprintf(`v.dataset.cause === %q`, c.cause)
					if c.confidence != "" {
						want += fmt.Sprintf(` && v.dataset.confidence === %q`, c.confidence)
					}
					steps = append(steps, chromedp.Poll[chromedp.Void](
						`(v => `+want+`)(document.getElementById("verdict") || {dataset: {}})`,
						chromedp.WithPollingTimeout(40*time.Second)))
				}
				if err := chromedp.Do(tctx, steps...); err != nil {
					return fmt.Errorf("%s: %w", l.lang, err)
				}
				v, err := chromedp.Run(tctx, chromedp.Evaluate[pageView](readView))
				if err != nil {
					return fmt.Errorf("%s: reading the page: %w", l.lang, err)
				}
				views[i] = v
				png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
				if err != nil {
					return fmt.Errorf("%s: screenshot: %w", l.lang, err)
				}
				name := fmt.Sprintf("%s-%s.png", strings.ReplaceAll(c.name, " ", "_"), l.lang)
				if err := os.WriteFile(filepath.Join(t.TempDir(), name), png, 0o644); err != nil {
					return err
				}
				if shots != "" {
					_ = os.WriteFile(filepath.Join(shots, name), png, 0o644)
				}
				return nil
			}()
		}()
	}
	for range pageLangs {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	if len(violations) > 0 {
		t.Errorf("the page's Content-Security-Policy refused some of the page itself: %q", violations)
	}
	mu.Unlock()
	if c.explain != "" {
		// What the page tells the person to do: paste the console line into explain.
		mu.Lock()
		var line string
		for _, l := range consoles[0] {
			if strings.Contains(l, "'"+c.attempt) {
				line = l
			}
		}
		mu.Unlock()
		if line == "" {
			t.Errorf("Chromium's console logged nothing for %s: %q", c.attempt, consoles[0])
		} else {
			cmd := exec.Command(bin, "explain", "--json", "-")
			cmd.Stdin = strings.NewReader(line + "\n")
			out, _ := cmd.Output()
			if !strings.Contains(string(out), `"cause":"`+c.explain+`"`) && !strings.Contains(string(out), `"cause": "`+c.explain+`"`) {
				t.Errorf("conndiag explain of the console line %q does not find %s:\n%s", line, c.explain, out)
			}
			t.Logf("console: %s", line)
		}
	}
	checked := func(v pageView) bool { return len(v.Server) > 0 && slices.Contains(c.server, v.Server[0]) }
	if len(c.server) > 0 {
		// One check every 10 s for each address: the three tabs share one,
		// so one language shows the server's check and the others say why not.
		if !slices.ContainsFunc(views, checked) {
			t.Errorf("no language shows the server's check finding one of %v: %+v", c.server, views)
		}
	}
	for i, l := range pageLangs {
		v := views[i]
		want := c.cause
		if checked(v) {
			want = v.Server[0]
		}
		if v.Cause != want {
			t.Errorf("%s: verdict %q, want %q\n%s", l.lang, v.Cause, want, v.Text)
		}
		if c.confidence != "" && v.Conf != c.confidence {
			t.Errorf("%s: confidence %q, want %q\n%s", l.lang, v.Conf, c.confidence, v.Text)
		}
		if c.attempt != "" && v.Causes[c.attempt] != want {
			t.Errorf("%s: %s: %q, want %q (attempts %v)", l.lang, c.attempt, v.Causes[c.attempt], want, v.Causes)
		}
		if v.Lang != l.lang || v.Dir != l.dir {
			t.Errorf("%s: the page is lang=%q dir=%q", l.lang, v.Lang, v.Dir)
		}
		if !hasScript(v.Summary, l.script) {
			t.Errorf("%s: the verdict's summary is not in %s: %q", l.lang, l.lang, v.Summary)
		}
		for _, bad := range []string{"<no value>", "page.sum.", "page.ev.", "cause."} {
			if strings.Contains(v.Text, bad) {
				t.Errorf("%s: the page shows %q:\n%s", l.lang, bad, v.Text)
			}
		}
		for _, w := range c.words {
			if !strings.Contains(v.Text, w) {
				t.Errorf("%s: the page does not say %q:\n%s", l.lang, w, v.Text)
			}
		}
		if v.Overflow {
			t.Errorf("%s: the page is wider than a phone's screen", l.lang)
		}
		if c.typed != "" {
			t.Logf("%s %s: verdict %s; the typed URL's %s ms after the click", c.name, l.lang, v.Cause, v.TypedMS)
		} else {
			t.Logf("%s %s: verdict %s after %s ms", c.name, l.lang, v.Cause, v.VerdictMS)
		}
	}
}

func hasScript(s string, tab *unicode.RangeTable) bool {
	for _, r := range s {
		if unicode.Is(tab, r) {
			return true
		}
	}
	return false
}

// pageListen starts conndiag listen in the server namespace and waits for
// its ports.
func pageListen(t *testing.T, n *testbed.PairNet, ports []int, args ...string) {
	t.Helper()
	n.Server.Start(t, append([]string{bin, "listen", "--quiet"}, args...)...)
	for _, p := range ports {
		n.Server.WaitListening(t, "tcp", p, 10*time.Second)
	}
}

func TestPageWorkingEndpoint(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	pageListen(t, n, []int{8080, 8282}, "http://0.0.0.0:8080", "websocket://0.0.0.0:8282")
	b := startBrowser(t, n.Client)
	ws := "ws://" + n.ServerIP.String() + ":8282/"
	runPageCase(t, b, pageCase{name: "ok", page: "http://" + n.ServerIP.String() + ":8080/", cause: "ok", attempt: ws, words: []string{ws}})
}

func TestPageDroppedPort(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Pair(t)
	pageListen(t, n, []int{8080, 8282}, "http://0.0.0.0:8080", "websocket://0.0.0.0:8282")
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8282", "-j", "DROP")
	b := startBrowser(t, n.Client)
	ws := "ws://" + n.ServerIP.String() + ":8282/"
	runPageCase(t, b, pageCase{name: "filtered", page: "http://" + n.ServerIP.String() + ":8080/", cause: "filtered", attempt: ws,
		words: []string{"8282", "iptables -I INPUT -p tcp --dport 8282 -j ACCEPT"}})
}

func TestPageClosedPort(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	pageListen(t, n, []int{8080, 8282}, "http://0.0.0.0:8080", "websocket://0.0.0.0:8282")
	b := startBrowser(t, n.Client)
	// Not a port of the Fetch standard's bad ports (9 is one: Chromium
	// would refuse it without sending anything).
	typed := "ws://" + n.ServerIP.String() + ":8383/"
	runPageCase(t, b, pageCase{name: "not_listening", page: "http://" + n.ServerIP.String() + ":8080/", typed: typed,
		cause: "not_listening", attempt: typed, words: []string{"conndiag explain -"}, explain: "not_listening",
		// wrong_port: the server's check finds the WebSocket handshake on 8282 of the same host.
		server: []string{"not_listening", "wrong_port"}})
}

// A port browsers refuse (X11's 6000, a Fetch "bad port"): nothing is
// sent, whether or not something listens there.
func TestPageBadPort(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	pageListen(t, n, []int{8080, 6000}, "http://0.0.0.0:8080", "websocket://0.0.0.0:6000")
	b := startBrowser(t, n.Client)
	ws := "ws://" + n.ServerIP.String() + ":6000/"
	runPageCase(t, b, pageCase{name: "bad_port", page: "http://" + n.ServerIP.String() + ":8080/", cause: "blocked_by_client", attempt: ws,
		confidence: "high", words: []string{"6000", "443"}, explain: "blocked_by_client"})
}

func TestPageHTTPOnlyPort(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	pageListen(t, n, []int{8080, 8282}, "http://0.0.0.0:8080", "websocket://0.0.0.0:8282")
	b := startBrowser(t, n.Client)
	typed := "ws://" + n.ServerIP.String() + ":8080/"
	runPageCase(t, b, pageCase{name: "ws_upgrade_rejected", page: "http://" + n.ServerIP.String() + ":8080/", typed: typed,
		cause: "ws_upgrade_rejected", attempt: typed, words: []string{"200"}, explain: "ws_upgrade_rejected"})
}

func TestPageMixedContent(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	pageListen(t, n, []int{8443, 8282}, "https://0.0.0.0:8443", "websocket://0.0.0.0:8282")
	b := startBrowser(t, n.Client, chromedp.IgnoreCertErrors)
	ws := "ws://" + n.ServerIP.String() + ":8282/"
	runPageCase(t, b, pageCase{name: "blocked_by_client", page: "https://" + n.ServerIP.String() + ":8443/", cause: "blocked_by_client", attempt: ws,
		words: []string{"SecurityError", "wss://" + n.ServerIP.String() + ":8282/"}})
}

// The listen's own --idle-timeout closes the connections the page holds
// open: both die at the same age, and the server saw itself close them.
func TestPageIdleTimeout(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	pageListen(t, n, []int{8080, 8282}, "--idle-timeout", "3s", "--page-hold", "30s", "http://0.0.0.0:8080", "websocket://0.0.0.0:8282")
	b := startBrowser(t, n.Client)
	ws := "ws://" + n.ServerIP.String() + ":8282/"
	runPageCase(t, b, pageCase{name: "idle_timeout", page: "http://" + n.ServerIP.String() + ":8080/", cause: "idle_timeout", attempt: ws,
		later: true, words: []string{"--idle-timeout"}})
}

// A wss:// endpoint with listen's self-signed certificate: the browser
// refuses it and tells the page nothing; the server saw the TLS handshake
// fail from that browser's address.
func TestPageCertificateRefused(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	pageListen(t, n, []int{8080, 8443}, "http://0.0.0.0:8080", "wss://0.0.0.0:8443")
	b := startBrowser(t, n.Client)
	wss := "wss://" + n.ServerIP.String() + ":8443/"
	runPageCase(t, b, pageCase{name: "tls_certificate", page: "http://" + n.ServerIP.String() + ":8080/", cause: "tls_certificate", attempt: wss,
		words: []string{"conndiag explain -"}})
}

// The person's own URL goes through nginx with proxy_read_timeout 3s: the
// page holds it and a second connection opened 5 s later, both die at about
// 3 s, and the verdict is idle_timeout, certain.
func TestPageIdleTimeoutBehindNginx(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "nginx")
	n := testbed.Pair(t)
	pageListen(t, n, []int{8080, 8282}, "--page-hold", "30s", "http://0.0.0.0:8080", "websocket://0.0.0.0:8282")
	n.Server.Nginx(t, "", `  server {
    listen 0.0.0.0:8090;
    location / {
      proxy_pass http://127.0.0.1:8282;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 3s;
    }
  }`, 8090)
	b := startBrowser(t, n.Client)
	typed := "ws://" + n.ServerIP.String() + ":8090/"
	runPageCase(t, b, pageCase{name: "idle_timeout_nginx", page: "http://" + n.ServerIP.String() + ":8080/", typed: typed,
		cause: "idle_timeout", attempt: typed, later: true, confidence: "high", words: []string{typed}})
}
