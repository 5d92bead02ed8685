package page

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/verdict"
)

//go:embed assets
var assets embed.FS

var (
	// Parsed when first served, not at every conndiag start.
	pageTmpl   = sync.OnceValue(func() *template.Template { return template.Must(template.ParseFS(assets, "assets/page.html")) })
	resultTmpl = sync.OnceValue(func() *template.Template { return template.Must(template.ParseFS(assets, "assets/result.html")) })
	pageJS     = mustRead("assets/page.js")
	pageCSS    = mustRead("assets/page.css")
)

// CSP is the Content-Security-Policy of the page and its answers: nothing
// from elsewhere, and no script or style but the page's own (by hash), so
// that even markup that slipped through escaping could not run.
var CSP = "default-src 'none'; script-src '" + hash(pageJS) + "'; style-src '" + hash(pageCSS) + "'; " +
	"connect-src 'self' ws: wss:; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

func mustRead(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Info is what the server saw of the page's own request (the old info page).
type Info struct {
	Client, Server string
	Headers        map[string]string
	Version        string
}

type kv struct{ K, V string }

// jsTarget is a target as the page's script gets it.
type jsTarget struct {
	Token   string `json:"token"`
	URL     string `json:"url"`
	HoldURL string `json:"hold_url,omitempty"`
}

type jsConfig struct {
	Session    string            `json:"session"`
	TimeoutMS  int64             `json:"timeout_ms"`
	HoldMS     int64             `json:"hold_ms"`
	Targets    []jsTarget        `json:"targets"`
	ReportURL  string            `json:"report_url"`
	PrepareURL string            `json:"prepare_url"`
	Texts      map[string]string `json:"texts"`
}

// Paths of the page's requests.
const (
	ReportPath  = "/.conndiag/report"
	PreparePath = "/.conndiag/prepare"
)

// WritePage writes the check page for a session.
func WritePage(w io.Writer, s Session, info Info, timeout, hold time.Duration) error {
	p := i18n.New(s.Lang)
	cfg := jsConfig{Session: s.ID, TimeoutMS: timeout.Milliseconds(), HoldMS: hold.Milliseconds(),
		ReportURL: ReportPath, PrepareURL: PreparePath, Targets: []jsTarget{},
		Texts: map[string]string{"bad_scheme": p.T("page.form.bad_scheme"), "report_failed": p.T("page.report_failed", "Err", "")}}
	for _, t := range s.Targets {
		cfg.Targets = append(cfg.Targets, jsTarget{Token: t.Token, URL: t.URL, HoldURL: t.HoldURL})
	}
	// What the request carried is the client's bytes: shown escaped (no
	// control or bidi character reaches the page), as the terminal shows them.
	var headers []kv
	for k, v := range info.Headers {
		headers = append(headers, kv{escape.String(k), escape.String(v)})
	}
	sort.Slice(headers, func(i, j int) bool { return headers[i].K < headers[j].K })
	var skipped []string
	for _, u := range s.Skipped {
		skipped = append(skipped, p.T("page.skipped", "URI", u))
	}
	v := map[string]any{
		"Lang": s.Lang, "Dir": Dir(s.Lang), "Version": info.Version,
		"Title":       p.T("page.title"),
		"Intro":       p.T("page.intro", "Port", s.PagePort),
		"Testing":     p.T("page.testing", "Timeout", verdict.Dur(timeout)),
		"NoScript":    p.T("page.noscript"),
		"FormLabel":   p.T("page.form.label"),
		"FormButton":  p.T("page.form.button"),
		"FormNote":    p.T("page.form.note", "Every", verdict.Dur(CheckEvery)),
		"LimitsTitle": p.T("page.limits"),
		"LimitsText":  p.T("page.limits.text", "Timeout", verdict.Dur(timeout)),
		"InfoTitle":   p.T("listen.http.title"), "ClientLabel": p.T("listen.http.client"), "ServerLabel": p.T("listen.http.server"),
		"InfoNote": p.T("listen.http.note"), "Client": escape.String(info.Client), "Server": escape.String(info.Server), "Headers": headers,
		"Skipped": skipped,
		"Config":  cfg,
		"JS":      template.JS(pageJS),
		"CSS":     template.CSS(pageCSS),
	}
	if len(s.Targets) == 0 {
		v["None"] = p.T("page.none")
	}
	return pageTmpl().Execute(w, v)
}

// Result is one connection judged: the browser's view (the findings of
// verdict.DecideBrowser) and, for a typed URL, the server's check.
type Result struct {
	Browser  evidence.Browser
	Findings []verdict.Finding
	Check    *CheckRun // nil: no check for this connection
}

type fixLine struct {
	Text template.HTML
	Cmd  bool
}

type findingView struct {
	Cause, ConfCode, Conf, URL string
	Summary                    template.HTML
	OK                         bool
	Evidence                   []template.HTML
	Fix                        []fixLine
	EvidenceLabel, FixLabel    string
}

type attemptView struct {
	URL, Cause            string
	BrowserTitle          string
	ServerTitle           template.HTML
	Browser, Server       []findingView
	Console, ConsolePaste template.HTML
	ConsoleLine           string // what Chromium's console prints, in English whatever its language
	ServerNote            template.HTML
}

func view(p *i18n.Printer, f verdict.Finding) findingView {
	v := findingView{Cause: string(f.Cause), ConfCode: string(f.Confidence), Conf: p.T("ui.confidence." + string(f.Confidence)),
		Summary: htmlText(p, f.Summary), OK: f.Cause == verdict.CauseOK,
		EvidenceLabel: p.T("ui.evidence"), FixLabel: p.T("ui.fix")}
	for _, m := range f.Evidence {
		v.Evidence = append(v.Evidence, htmlText(p, m))
	}
	for _, m := range f.Fix {
		v.Fix = append(v.Fix, fixLine{Text: htmlText(p, m), Cmd: m.IsCmd()})
	}
	return v
}

// htmlText renders m for the page as Printer.Text does (every argument
// escaped), then HTML-escaped, with each string argument (a URL, an
// address, a peer's words) set in a <bdi>, so that it keeps its own
// direction inside Arabic text rather than being reordered with it.
func htmlText(p *i18n.Printer, m i18n.Msg) template.HTML {
	if m.IsCmd() || len(m.Args) == 0 {
		return template.HTML(template.HTMLEscapeString(p.Text(m)))
	}
	marked := i18n.Msg{ID: m.ID, Args: make(map[string]any, len(m.Args))}
	var vals []string
	for k, v := range m.Args {
		if s, ok := v.(string); ok && s != "" {
			marked.Args[k] = marker(len(vals))
			vals = append(vals, s)
			continue
		}
		marked.Args[k] = v
	}
	pairs := make([]string, 0, 2*len(vals))
	for i, v := range vals {
		pairs = append(pairs, marker(i), "<bdi>"+template.HTMLEscapeString(escape.String(v))+"</bdi>")
	}
	// One pass: what a replacement inserts is never scanned again.
	return template.HTML(strings.NewReplacer(pairs...).Replace(template.HTMLEscapeString(p.Text(marked))))
}

// marker stands in for argument i while a message is rendered: private-use
// characters, which neither the catalog nor the escaping produce.
func marker(i int) string { return "\uE000" + strconv.Itoa(i) + "\uE001" }

// bare: the browser told the page only that it failed (or nothing at all),
// so its console knows more than the page.
func bare(b evidence.Browser) bool {
	s := b.Seen
	return s.Thrown == "" && !s.Opened
}

// WriteResult writes the verdict fragment the page shows: the first
// connection that does not work (or the first one) as the verdict, then
// each connection with its evidence and fix.
func WriteResult(w io.Writer, lang string, rs []Result, holding bool, hold time.Duration) error {
	p := i18n.New(lang)
	var atts []attemptView
	var top *findingView
	var held time.Duration
	deaths := false
	for _, r := range rs {
		if len(r.Findings) == 0 {
			continue
		}
		a := attemptView{URL: escape.String(r.Browser.URL), Cause: string(r.Findings[0].Cause), BrowserTitle: p.T("page.browser")}
		for _, f := range r.Findings {
			a.Browser = append(a.Browser, view(p, f))
		}
		if r.Findings[0].Cause != verdict.CauseOK && bare(r.Browser) {
			a.Console, a.ConsolePaste = htmlText(p, i18n.M("page.console")), htmlText(p, i18n.M("page.console.paste"))
			a.ConsoleLine = "WebSocket connection to '" + a.URL + "' failed: …"
		}
		if r.Check != nil {
			a.ServerTitle = htmlText(p, i18n.M("page.server", "URL", r.Browser.URL))
			if r.Check.Note.ID != "" {
				a.ServerNote = htmlText(p, r.Check.Note)
			}
			for _, f := range r.Check.Findings {
				a.Server = append(a.Server, view(p, f))
			}
		}
		if top == nil || top.OK && r.Findings[0].Cause != verdict.CauseOK {
			v := view(p, r.Findings[0])
			v.URL = a.URL
			top = &v
		}
		held = max(held, r.Browser.Seen.Held)
		deaths = deaths || len(r.Browser.Seen.Deaths) > 0
		atts = append(atts, a)
	}
	data := map[string]any{"Top": top, "Attempts": atts}
	switch {
	case holding:
		data["Hold"] = p.T("page.hold", "Dur", verdict.Dur(hold))
	case held > 0 && !deaths:
		data["Hold"] = p.T("page.hold.done", "Dur", verdict.Dur(held))
	}
	return resultTmpl().Execute(w, data)
}
