package exporter

import (
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/conndiag/conndiag/internal/escape"
)

// landing is the page at /: what the exporter probes and the last probes.
// html/template escapes every value for HTML; targets are also escaped
// with escape.String first, so a target with control or bidi characters
// cannot reorder the table.
var landing = template.Must(template.New("landing").Parse(`<!doctype html>
<html lang="{{.Lang}}" dir="{{.Dir}}">
<head><meta charset="utf-8"><title>{{.Title}}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:start}.bad{color:#b00;font-weight:bold}.ok{color:#070}code{background:#eee}</style></head>
<body>
<h1>{{.Title}}</h1>
<p>{{.Intro}}</p>
<p><a href="metrics">{{.MetricsLink}}</a></p>
<p>{{.ConfigLine}}</p>
<h2>{{.AllowHead}}</h2>
<ul>{{range .Allow}}<li>{{.}}</li>{{end}}</ul>
<h2>{{.ModulesHead}}</h2>
<table>{{range .Modules}}<tr><th><code>{{.Name}}</code></th><td>{{.Summary}}</td></tr>{{end}}</table>
<h2>{{.RecentHead}}</h2>
{{if .Rows}}<table>
<tr>{{range .Cols}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr><td>{{.Time}}</td><td><code>{{.Module}}</code></td><td><code>{{.Target}}</code></td><td class="{{.Class}}" data-cause="{{.Cause}}">{{.Result}}</td><td>{{.Duration}}</td><td>{{if .ID}}<a href="logs?id={{.ID}}">{{$.DetailsLink}}</a>{{end}}</td></tr>
{{end}}</table>{{else}}<p>{{.NoneYet}}</p>{{end}}
</body></html>
`))

type landingModule struct{ Name, Summary string }

type landingRow struct {
	ID                                  int64
	Time, Module, Target, Cause, Result string
	Class, Duration                     string
}

func (e *Exporter) serveLanding(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	pr := e.opt.Printer
	cfg := e.cfg.Load()
	d := struct {
		Lang, Dir, Title, Intro, MetricsLink, ConfigLine string
		AllowHead, ModulesHead, RecentHead, NoneYet      string
		DetailsLink                                      string
		Allow                                            []string
		Modules                                          []landingModule
		Cols                                             []string
		Rows                                             []landingRow
	}{
		Lang: pr.Lang, Dir: "ltr", Title: pr.T("serve.page.title"), Intro: pr.T("serve.page.intro"),
		MetricsLink: pr.T("serve.page.metrics"), AllowHead: pr.T("serve.page.allow"),
		ModulesHead: pr.T("serve.page.modules"), RecentHead: pr.T("serve.page.recent"),
		NoneYet: pr.T("serve.page.none"), DetailsLink: pr.T("serve.page.details"),
	}
	if pr.Lang == "ar" {
		d.Dir = "rtl"
	}
	if cfg.File == "" {
		d.ConfigLine = pr.T("serve.page.config_builtin")
	} else {
		d.ConfigLine = pr.T("serve.page.config", "File", cfg.File)
	}
	d.Allow = e.allowLines(cfg.Allow)
	for _, n := range cfg.ModuleNames() {
		d.Modules = append(d.Modules, landingModule{Name: n, Summary: e.moduleSummary(cfg.Modules[n])})
	}
	d.Cols = []string{pr.T("serve.page.col.time"), pr.T("serve.page.col.module"), pr.T("serve.page.col.target"),
		pr.T("serve.page.col.result"), pr.T("serve.page.col.duration"), pr.T("serve.page.col.details")}
	for _, en := range e.hist.list() {
		row := landingRow{Time: en.Time.Format(time.DateTime), Module: en.Module, Target: escape.String(en.Target), Cause: en.Cause}
		switch {
		case en.Refused:
			row.Result, row.Class = pr.T("serve.page.refused"), "bad"
		case en.CutShort:
			row.Result, row.Class, row.ID = pr.T("serve.page.cut"), "bad", en.ID
		case en.Cause == "":
			row.Result, row.Class, row.ID = "-", "bad", en.ID
		default:
			row.Result, row.ID = en.Cause+" ("+pr.T("ui.confidence."+en.Confidence)+")", en.ID
			row.Class = "bad"
			if en.Success {
				row.Class = "ok"
			}
		}
		if !en.Refused {
			row.Duration = en.Duration.Round(time.Millisecond).String()
		}
		d.Rows = append(d.Rows, row)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = landing.Execute(w, d)
}

// allowLines says what the allow-list lets through.
func (e *Exporter) allowLines(a Allow) []string {
	pr := e.opt.Printer
	var out []string
	if len(a.Networks) > 0 {
		nets := make([]string, len(a.Networks))
		for i, p := range a.Networks {
			nets[i] = p.String()
		}
		out = append(out, pr.T("serve.page.allow_networks", "List", strings.Join(nets, ", ")))
	}
	if len(a.Names) > 0 {
		out = append(out, pr.T("serve.page.allow_names", "List", strings.Join(a.Names, ", ")))
	}
	return out
}

// AllowSummary is one line for the startup message.
func (e *Exporter) AllowSummary() string {
	return strings.Join(e.allowLines(e.cfg.Load().Allow), "; ")
}
