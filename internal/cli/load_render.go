package cli

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/load"
	"github.com/conndiag/conndiag/internal/verdict"
)

// maxPreflightSources bounds the per-source lines of the preflight.
const maxPreflightSources = 8

func renderPreflight(w io.Writer, cfg load.Config, f load.Facts, p load.Prediction, pr *i18n.Printer, s style) {
	dst := cfg.Dst.String()
	fmt.Fprintf(w, "%s\n", s.head(pr.T("load.ui.preflight", "Dst", dst)))
	line := func(m i18n.Msg) { fmt.Fprintf(w, "  %s\n", pr.Text(m)) }
	if p.Ports < 0 {
		line(i18n.M("load.pre.ports.unknown", "Missing", strings.Join(f.Missing, ", ")))
	} else {
		usable := 0
		if len(p.Sources) > 0 {
			usable = p.Sources[0].Ports
		}
		line(i18n.M("load.pre.ports", "Lo", f.Range.Lo, "Hi", f.Range.Hi, "Usable", usable, "Excluded", f.Range.Size()-usable))
		for i, sc := range p.Sources {
			if i == maxPreflightSources {
				line(i18n.M("load.pre.sources.more", "N", len(p.Sources)-i, "Free", p.Ports))
				break
			}
			if sc.Addr.IsValid() {
				line(i18n.M("load.pre.source", "Src", sc.Addr.String(), "Used", sc.Used, "TW", sc.TimeWait, "Dst", dst, "Free", sc.Free))
			} else {
				line(i18n.M("load.pre.source.any", "Used", sc.Used, "TW", sc.TimeWait, "Dst", dst, "Free", sc.Free))
			}
		}
		meaning := i18n.M("twreuse." + strconv.Itoa(min(max(f.TwReuse, 0), 2)))
		if p.TwReused {
			line(i18n.M("load.pre.tw.reused", "N", f.TimeWaitAll, "V", f.TwReuse, "Meaning", meaning, "Dst", dst, "Delay", verdict.Dur(f.TwReuseDelay)))
		} else {
			line(i18n.M("load.pre.tw.kept", "N", f.TimeWaitAll, "V", f.TwReuse, "Meaning", meaning, "Dst", dst))
		}
	}
	if p.FDs >= 0 {
		line(i18n.M("load.pre.fds", "Soft", f.NoFileSoft, "Open", f.NoFileOpen, "Free", p.FDs))
	}
	if p.Conntrack >= 0 {
		line(i18n.M("load.pre.conntrack", "Count", f.ConntrackCount, "Max", f.ConntrackMax, "Free", p.Conntrack))
	} else {
		line(i18n.M("load.pre.conntrack.none"))
	}
	if p.Ceiling < 0 {
		line(i18n.M("load.pre.ceiling.unknown"))
	} else if cfg.Mode == load.Hold {
		fmt.Fprintf(w, "  → %s\n", s.head(pr.T("load.pre.ceiling", "N", p.Ceiling, "Dst", dst, "Limit", load.LimitText(p.Binding))))
	}
	switch {
	case cfg.Mode == load.Short && p.Ports >= 0 && p.TwReused:
		line(i18n.M("load.pre.short.reused", "Delay", verdict.Dur(f.TwReuseDelay), "Rate", fmt.Sprintf("%.0f", p.SustainedRate), "Dst", dst))
	case cfg.Mode == load.Short && p.Ports >= 0:
		line(i18n.M("load.pre.short.kept", "N", p.Ports, "Dst", dst, "Rate", fmt.Sprintf("%.1f", p.SustainedRate)))
	case cfg.Mode == load.Hold && p.Ceiling >= 0 && p.Want <= p.Ceiling:
		line(i18n.M("load.pre.enough", "Want", p.Want))
	case cfg.Mode == load.Hold && p.Ceiling >= 0:
		if p.NeedSources > 0 {
			line(i18n.M("load.pre.need.ports", "Want", p.Want, "Sources", p.NeedSources, "Range", p.NeedRangeSize))
		}
		if p.NeedNoFile > 0 {
			line(i18n.M("load.pre.need.fds", "Want", p.Want, "NoFile", p.NeedNoFile))
		}
		if p.NeedConntrack > 0 {
			line(i18n.M("load.pre.need.conntrack", "Want", p.Want, "N", p.NeedConntrack))
		}
	}
	fmt.Fprintln(w)
}

func renderLoad(w io.Writer, r *load.Report, p *i18n.Printer, s style) {
	v := r.Findings[0]
	mark, paint := "✗", s.bad
	if v.Cause == verdict.CauseOK {
		mark, paint = "✓", s.good
	}
	fmt.Fprintf(w, "%s %s  %s  %s\n", paint(mark), paint(string(v.Cause)), r.Config.Target.String(), confParen(p, v.Confidence))
	fmt.Fprintf(w, "  %s\n\n", s.head(p.Text(v.Summary)))
	line := func(m i18n.Msg) { fmt.Fprintf(w, "  %s\n", p.Text(m)) }
	dur := verdict.Dur(r.Duration)
	if r.Config.Mode == load.Hold {
		line(i18n.M("load.ui.reached.hold", "Peak", r.PeakOpen, "Want", r.Config.Hold, "Est", r.Established, "Attempted", r.Attempted, "Dur", dur))
		line(i18n.M("load.ui.peakrate", "Rate", fmt.Sprintf("%.0f", r.PeakRate)))
	} else {
		avg := float64(r.Established) / max(r.Duration.Seconds(), 1e-3)
		line(i18n.M("load.ui.reached.short", "Est", r.Established, "Attempted", r.Attempted, "Dur", dur,
			"Rate", fmt.Sprintf("%.0f", avg), "Peak", fmt.Sprintf("%.0f", r.PeakRate)))
	}
	connect := i18n.M("load.ui.connect")
	if r.Config.Rate > 0 {
		connect = i18n.M("load.ui.connect.planned")
	}
	latencyLine(w, p, connect, r.Connect)
	if r.Handshake.Count > 0 {
		latencyLine(w, p, i18n.M("load.ui.handshake"), r.Handshake)
	}
	if len(r.Errors) > 0 {
		line(i18n.M("load.ui.errors", "List", errorsText(r.Errors)))
	} else {
		line(i18n.M("load.ui.noerrors"))
	}
	if len(r.Deaths) > 0 {
		line(i18n.M("load.ui.closed", "N", len(r.Deaths), "Groups", deathGroupsText(r.Deaths)))
	}
	if r.PingsSent > 0 {
		line(i18n.M("load.ui.pings", "Sent", r.PingsSent, "Pongs", r.PongsSeen))
	}
	if r.RSSStartKiB > 0 && r.PeakOpen >= 1000 && r.Config.Mode == load.Hold {
		per := float64(r.RSSPeakKiB-r.RSSStartKiB) / float64(r.PeakOpen)
		line(i18n.M("load.ui.memory", "Start", r.RSSStartKiB, "Peak", r.RSSPeakKiB, "Per", fmt.Sprintf("%.2f", max(per, 0))))
	}
	if r.WallStop {
		line(i18n.M("load.ui.wallstop"))
	}
	if r.Interrupted {
		line(i18n.M("load.ui.interrupted", "Dur", dur))
	}
	if len(v.Evidence) > 0 {
		fmt.Fprintf(w, "\n  %s\n", s.head(p.T("ui.evidence")))
		for _, e := range v.Evidence {
			fmt.Fprintf(w, "    • %s\n", p.Text(e))
		}
	}
	if len(v.Fix) > 0 && v.Cause != verdict.CauseOK {
		fmt.Fprintf(w, "\n  %s\n", s.head(p.T("ui.fix")))
		writeFix(w, v.Fix, p, s, "    ")
	}
	if len(r.Findings) > 1 {
		writeAlso(w, r.Findings[1:], p, s, "  ")
	}
}

func latencyLine(w io.Writer, p *i18n.Printer, what i18n.Msg, l load.Latency) {
	ms := func(v float64) string { return verdict.Dur(time.Duration(v * float64(time.Millisecond))) }
	fmt.Fprintf(w, "  %s\n", p.T("load.ui.latency", "What", p.Text(what), "P50", ms(l.P50), "P90", ms(l.P90), "P99", ms(l.P99), "Max", ms(l.Max), "N", l.Count))
}

// deathGroup is held connections that died at one age (to 100 ms) with one code.
type deathGroup struct {
	AgeMS float64 `json:"age_ms"`
	Code  int     `json:"code"`
	Reset bool    `json:"reset,omitempty"`
	Count int     `json:"count"`
}

const maxDeathGroups = 50

func deathGroups(ds []load.Death) []deathGroup {
	type key struct {
		age   int64
		code  int
		reset bool
	}
	m := map[key]int{}
	for _, d := range ds {
		m[key{d.Age.Milliseconds() / 100, d.Code, d.Reset}]++
	}
	out := make([]deathGroup, 0, len(m))
	for k, n := range m {
		out = append(out, deathGroup{AgeMS: float64(k.age * 100), Code: k.code, Reset: k.reset, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].AgeMS < out[j].AgeMS
	})
	if len(out) > maxDeathGroups {
		out = out[:maxDeathGroups]
	}
	return out
}

func deathGroupsText(ds []load.Death) string {
	gs := deathGroups(ds)
	var parts []string
	for i, g := range gs {
		if i == 5 {
			parts = append(parts, "…")
			break
		}
		age := verdict.Dur(time.Duration(g.AgeMS * float64(time.Millisecond)))
		code := strconv.Itoa(g.Code)
		if g.Code == 0 {
			code = "FIN"
			if g.Reset {
				code = "RST"
			}
		}
		parts = append(parts, fmt.Sprintf("%s @ %s ×%d", code, age, g.Count))
	}
	return strings.Join(parts, ", ")
}

// The JSON of SPEC.md's load object, and more.
type jsonLatency struct {
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
	Count int64   `json:"count"`
}

type jsonSourceCap struct {
	Address  string `json:"address,omitempty"`
	Ports    int    `json:"ports"`
	Used     int    `json:"used"`
	TimeWait int    `json:"time_wait"`
	Free     int    `json:"free"`
}

type jsonPreflight struct {
	Ceiling       int             `json:"ceiling"`
	Limit         string          `json:"limit,omitempty"`
	Ports         int             `json:"ports"`
	FDs           int             `json:"fds"`
	Conntrack     int             `json:"conntrack"`
	PortRange     string          `json:"port_range,omitempty"`
	TwReuse       int             `json:"tcp_tw_reuse"`
	TwReused      bool            `json:"time_wait_reused"`
	TimeWait      int             `json:"time_wait"`
	Sources       []jsonSourceCap `json:"sources"`
	NeedSources   int             `json:"need_sources,omitempty"`
	NeedRangeSize int             `json:"need_range_size,omitempty"`
	NeedNoFile    uint64          `json:"need_nofile,omitempty"`
	NeedConntrack int             `json:"need_conntrack,omitempty"`
	SustainedRate float64         `json:"sustained_rate,omitempty"`
	Missing       []string        `json:"missing,omitempty"`
}

type jsonFailure struct {
	Cause  verdict.Cause `json:"cause"`
	Phase  string        `json:"phase"`
	Errno  string        `json:"errno,omitempty"`
	Error  string        `json:"error"`
	Source string        `json:"source,omitempty"`
	AtMS   float64       `json:"at_ms"`
	Open   int64         `json:"open"`
	// Connecting: attempts in flight then; Attempt: attempts started by then.
	Connecting int64 `json:"connecting"`
	Attempt    int64 `json:"attempt"`
}

type jsonClosed struct {
	Count  int            `json:"count"`
	ByCode map[string]int `json:"by_code"`
	Groups []deathGroup   `json:"groups"`
}

type jsonLoad struct {
	Target      string                  `json:"target"`
	Address     string                  `json:"address"`
	Mode        load.Mode               `json:"mode"`
	Attempted   int64                   `json:"attempted"`
	Established int64                   `json:"established"`
	PeakOpen    int64                   `json:"peak_open"`
	PeakRate    float64                 `json:"peak_rate"`
	Errors      map[verdict.Cause]int64 `json:"errors"`
	Connect     jsonLatency             `json:"connect_ms"`
	Handshake   *jsonLatency            `json:"handshake_ms,omitempty"`
	Preflight   jsonPreflight           `json:"preflight"`
	First       *jsonFailure            `json:"first_failure,omitempty"`
	Closed      jsonClosed              `json:"closed"`
	PingsSent   int64                   `json:"pings_sent"`
	Pongs       int64                   `json:"pongs"`
	RSS         map[string]int64        `json:"client_rss_kib,omitempty"`
	WallStop    bool                    `json:"stopped_at_wall"`
	Interrupted bool                    `json:"interrupted"`
	DurationMS  int64                   `json:"duration_ms"`
	Verdict     jsonVerdict             `json:"verdict"`
	Findings    []jsonFinding           `json:"findings"`
}

func latencyJSON(l load.Latency) jsonLatency {
	return jsonLatency{P50: l.P50, P90: l.P90, P99: l.P99, Max: l.Max, Count: l.Count}
}

func loadJSON(r *load.Report, p *i18n.Printer) jsonLoad {
	j := jsonLoad{Target: r.Config.Target.String(), Address: r.Config.Dst.String(), Mode: r.Config.Mode,
		Attempted: r.Attempted, Established: r.Established, PeakOpen: r.PeakOpen, PeakRate: r.PeakRate,
		Errors: r.Errors, Connect: latencyJSON(r.Connect), PingsSent: r.PingsSent, Pongs: r.PongsSeen,
		WallStop: r.WallStop, Interrupted: r.Interrupted, DurationMS: r.Duration.Milliseconds(),
		Findings: findingsJSON(r.Findings, p)}
	if j.Errors == nil {
		j.Errors = map[verdict.Cause]int64{}
	}
	if r.Handshake.Count > 0 {
		h := latencyJSON(r.Handshake)
		j.Handshake = &h
	}
	if len(r.Findings) > 0 {
		j.Verdict = jsonVerdict{r.Findings[0].Cause, r.Findings[0].Confidence}
	}
	pf, f := r.Preflight, r.Facts
	j.Preflight = jsonPreflight{Ceiling: pf.Ceiling, Limit: string(pf.Binding), Ports: pf.Ports, FDs: pf.FDs, Conntrack: pf.Conntrack,
		TwReuse: f.TwReuse, TwReused: pf.TwReused, TimeWait: f.TimeWaitAll, Sources: []jsonSourceCap{},
		NeedSources: pf.NeedSources, NeedRangeSize: pf.NeedRangeSize, NeedNoFile: pf.NeedNoFile, NeedConntrack: pf.NeedConntrack,
		SustainedRate: pf.SustainedRate, Missing: f.Missing}
	if f.Range.Size() > 0 {
		j.Preflight.PortRange = f.Range.String()
	}
	for _, sc := range pf.Sources {
		js := jsonSourceCap{Ports: sc.Ports, Used: sc.Used, TimeWait: sc.TimeWait, Free: sc.Free}
		if sc.Addr.IsValid() {
			js.Address = sc.Addr.String()
		}
		j.Preflight.Sources = append(j.Preflight.Sources, js)
	}
	if fl := r.First; fl != nil {
		jf := &jsonFailure{Cause: fl.Cause, Phase: string(fl.Phase), Errno: fl.Errno, Error: fl.Text,
			AtMS: float64(fl.At) / float64(time.Millisecond), Open: fl.Open, Connecting: fl.Connecting, Attempt: fl.Attempt}
		if fl.Source.IsValid() {
			jf.Source = fl.Source.String()
		}
		j.First = jf
	}
	j.Closed = jsonClosed{Count: len(r.Deaths), ByCode: map[string]int{}, Groups: deathGroups(r.Deaths)}
	for _, d := range r.Deaths {
		j.Closed.ByCode[strconv.Itoa(d.Code)]++
	}
	if r.RSSStartKiB > 0 {
		j.RSS = map[string]int64{"start": r.RSSStartKiB, "peak": r.RSSPeakKiB}
	}
	return j
}
