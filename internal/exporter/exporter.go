// Package exporter is conndiag serve: a Prometheus exporter in
// blackbox_exporter's conventions whose /probe runs one diagnosis and says
// why a target fails, not only that it does.
//
// GET /probe?target=T&module=M answers from a fresh registry per request
// with probe_success, probe_duration_seconds, probe_dns_lookup_time_seconds,
// conndiag_probe_phase_duration_seconds{phase}, conndiag_probe_outcome
// {outcome} and conndiag_probe_cause{cause,confidence} (SPEC.md "Exporter
// metrics"); debug=true gives the diagnosis as text with those metrics. The
// X-Prometheus-Scrape-Timeout-Seconds header, less --timeout-offset, bounds
// the probe, and the timeout per connection attempt is sized so the
// diagnosis ends before that (plan.go). /metrics serves the exporter's own
// metrics, / a landing page with the last probes, POST /-/reload re-reads
// the configuration (a bad one is refused and the old one kept).
//
// An exporter others can reach must not become their port scanner: a
// target outside the allow-list (loopback only by default) is answered 403
// before any packet or DNS query leaves, probes run at most Concurrency at
// once, and a request chooses only the target, a module the configuration
// defines, and debug; files, source addresses and settings come from the
// configuration alone.
package exporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/conndiag/conndiag/internal/diagnose"
	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

// Defaults of Options fields left zero.
const (
	DefaultConcurrency   = 16
	DefaultHistory       = 100
	DefaultTimeoutOffset = 500 * time.Millisecond
	// waitingPerSlot bounds the requests that wait for a probe slot: more
	// than this many per slot are answered 503 at once.
	waitingPerSlot = 4
)

// Options configure an Exporter. Zero values mean the defaults.
type Options struct {
	// ConfigFile is the configuration (TOML); "" for the built-in one:
	// the default module and loopback targets only.
	ConfigFile string
	// Timeout is the timeout per connection attempt of a module that sets none.
	Timeout time.Duration
	// TimeoutOffset is taken off Prometheus' scrape timeout (default 0.5 s);
	// negative for none.
	TimeoutOffset time.Duration
	Concurrency   int // probes at once
	History       int // probes kept for the landing page; negative for none
	Printer       *i18n.Printer
	// Render writes the human report of a diagnosis, for debug=true.
	Render func(io.Writer, diagnose.Report)
	// Check runs one diagnosis; nil: diagnose.Check.
	Check func(context.Context, target.Target, diagnose.Options) diagnose.Report
	// Log receives what the operator should know (reloads); nil: dropped.
	Log     func(i18n.Msg)
	Version string
	Now     func() time.Time
}

// Exporter serves /probe and the rest. Make one with New.
type Exporter struct {
	opt     Options
	cfg     atomic.Pointer[Config]
	slots   chan struct{}
	waiting atomic.Int64
	hist    *history

	reloadMu sync.Mutex
	reg      *prometheus.Registry
	probes   *prometheus.CounterVec
	took     *prometheus.HistogramVec
	refused  *prometheus.CounterVec
	inFlight prometheus.Gauge
	reloadOK prometheus.Gauge
	reloadAt prometheus.Gauge
}

// New loads the configuration and returns the exporter.
func New(opt Options) (*Exporter, error) {
	if opt.Timeout <= 0 {
		opt.Timeout = diagnose.DefaultTimeout
	}
	switch {
	case opt.TimeoutOffset == 0:
		opt.TimeoutOffset = DefaultTimeoutOffset
	case opt.TimeoutOffset < 0:
		opt.TimeoutOffset = 0
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = DefaultConcurrency
	}
	switch {
	case opt.History == 0:
		opt.History = DefaultHistory
	case opt.History < 0:
		opt.History = 0
	}
	if opt.Printer == nil {
		opt.Printer = i18n.New("en")
	}
	if opt.Check == nil {
		opt.Check = diagnose.Check
	}
	if opt.Log == nil {
		opt.Log = func(i18n.Msg) {}
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Version == "" {
		opt.Version = "dev"
	}
	e := &Exporter{opt: opt, slots: make(chan struct{}, opt.Concurrency), hist: &history{max: opt.History}}
	e.initMetrics()
	cfg := Builtin()
	if opt.ConfigFile != "" {
		var err error
		if cfg, err = LoadConfig(opt.ConfigFile); err != nil {
			return nil, err
		}
	}
	e.cfg.Store(cfg)
	e.reloadOK.Set(1)
	e.reloadAt.Set(float64(opt.Now().Unix()))
	return e, nil
}

func (e *Exporter) initMetrics() {
	e.reg = prometheus.NewRegistry()
	e.probes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "conndiag_exporter_probes_total", Help: "Probes run, by module and result (success, failure, cut_short).",
	}, []string{"module", "result"})
	e.took = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "conndiag_exporter_probe_duration_seconds", Help: "How long probes took, by module.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
	}, []string{"module"})
	e.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "conndiag_exporter_refused_total",
		Help: "Probe requests refused before anything was sent, by reason (not_allowed, unknown_module, bad_request, busy).",
	}, []string{"reason"})
	for _, r := range []string{"not_allowed", "unknown_module", "bad_request", "busy"} {
		e.refused.WithLabelValues(r)
	}
	e.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "conndiag_exporter_probes_in_flight", Help: "Probes running now."})
	slots := prometheus.NewGauge(prometheus.GaugeOpts{Name: "conndiag_exporter_probe_slots", Help: "Probes that may run at once (--concurrency)."})
	slots.Set(float64(e.opt.Concurrency))
	e.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "conndiag_exporter_config_last_reload_successful", Help: "Whether the last configuration reload succeeded.",
	})
	e.reloadAt = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "conndiag_exporter_config_last_reload_success_timestamp_seconds", Help: "When the configuration was last loaded.",
	})
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "conndiag_exporter_build_info", Help: "The conndiag version, always 1."}, []string{"version"})
	info.WithLabelValues(e.opt.Version).Set(1)
	e.reg.MustRegister(e.probes, e.took, e.refused, e.inFlight, slots, e.reloadOK, e.reloadAt, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// Config is the configuration in force.
func (e *Exporter) Config() *Config { return e.cfg.Load() }

// Concurrency is how many probes run at once.
func (e *Exporter) Concurrency() int { return e.opt.Concurrency }

// Reload re-reads the configuration file. A configuration that does not
// load is refused and the one in force stays.
func (e *Exporter) Reload() error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	if e.opt.ConfigFile == "" {
		return ErrNoConfig
	}
	c, err := LoadConfig(e.opt.ConfigFile)
	if err != nil {
		e.reloadOK.Set(0)
		e.opt.Log(i18n.M("serve.log.reload_failed", "Err", err.Error()))
		return err
	}
	e.cfg.Store(c)
	e.reloadOK.Set(1)
	e.reloadAt.Set(float64(e.opt.Now().Unix()))
	e.opt.Log(i18n.M("serve.log.reloaded", "File", c.File, "List", strings.Join(c.ModuleNames(), ", ")))
	return nil
}

// ErrNoConfig is Reload without a configuration file.
var ErrNoConfig = errors.New("no configuration file was given (--config): there is nothing to reload")

// Handler serves /probe, /metrics, /-/reload, /-/healthy, /logs and the
// landing page.
func (e *Exporter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/probe", e.serveProbe)
	mux.Handle("/metrics", promhttp.InstrumentMetricHandler(e.reg, promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{Registry: e.reg})))
	mux.HandleFunc("/-/reload", e.serveReload)
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "Healthy\n")
	})
	mux.HandleFunc("/logs", e.serveLogs)
	mux.HandleFunc("/", e.serveLanding)
	return securityHeaders(mux)
}

// Server is an http.Server for h with the request limits an exporter that
// others can reach needs: bounded headers and slow clients cut off, and a
// write timeout past the longest probe.
func Server(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      maxTimeout + 15*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		h.ServeHTTP(w, r)
	})
}

// fail answers code with one line of text.
func (e *Exporter) fail(w http.ResponseWriter, code int, m i18n.Msg) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, e.opt.Printer.Text(m))
}

// probeParams are the only parameters /probe takes: everything else a
// probe uses comes from the configuration.
var probeParams = map[string]bool{"target": true, "module": true, "debug": true}

func (e *Exporter) serveProbe(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		e.fail(w, http.StatusMethodNotAllowed, i18n.M("serve.err.method", "Path", "/probe", "Methods", "GET"))
		return
	}
	start := e.opt.Now()
	q := r.URL.Query()
	for k, vs := range q {
		if !probeParams[k] {
			e.refused.WithLabelValues("bad_request").Inc()
			e.fail(w, http.StatusBadRequest, i18n.M("serve.err.param", "Name", k))
			return
		}
		if len(vs) > 1 {
			e.refused.WithLabelValues("bad_request").Inc()
			e.fail(w, http.StatusBadRequest, i18n.M("serve.err.param_twice", "Name", k))
			return
		}
	}
	debug := false
	switch v := q.Get("debug"); v {
	case "", "false":
	case "true":
		debug = true
	default:
		e.refused.WithLabelValues("bad_request").Inc()
		e.fail(w, http.StatusBadRequest, i18n.M("serve.err.debug", "Value", v))
		return
	}
	cfg := e.cfg.Load()
	name := q.Get("module")
	if name == "" {
		name = DefaultModule
	}
	mod, ok := cfg.Modules[name]
	if !ok {
		e.refused.WithLabelValues("unknown_module").Inc()
		e.fail(w, http.StatusBadRequest, i18n.M("serve.err.module", "Module", name, "List", strings.Join(cfg.ModuleNames(), ", ")))
		return
	}
	raw := q.Get("target")
	if raw == "" {
		e.refused.WithLabelValues("bad_request").Inc()
		e.fail(w, http.StatusBadRequest, i18n.M("serve.err.target_missing"))
		return
	}
	t, msg, ok := moduleTarget(mod, raw)
	if !ok {
		e.refused.WithLabelValues("bad_request").Inc()
		e.fail(w, http.StatusBadRequest, msg)
		return
	}
	if !cfg.Allow.Permits(t) {
		e.refused.WithLabelValues("not_allowed").Inc()
		e.hist.add(entry{Time: start, Module: name, Target: raw, Refused: true})
		e.fail(w, http.StatusForbidden, i18n.M("serve.err.denied", "Target", raw))
		return
	}
	attempt := mod.Timeout
	if attempt <= 0 {
		attempt = e.opt.Timeout
	}
	p, err := makePlan(r.Header.Get(ScrapeTimeoutHeader), e.opt.TimeoutOffset, attempt, t)
	if err != nil {
		e.refused.WithLabelValues("bad_request").Inc()
		e.fail(w, http.StatusBadRequest, i18n.M("serve.err.scrape_timeout", "Header", ScrapeTimeoutHeader, "Value", r.Header.Get(ScrapeTimeoutHeader)))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), p.Deadline)
	defer cancel()

	waited, ok := e.acquire(ctx)
	if !ok {
		e.refused.WithLabelValues("busy").Inc()
		if ctx.Err() != nil && r.Context().Err() == nil {
			e.fail(w, http.StatusServiceUnavailable, i18n.M("serve.err.busy_deadline", "N", e.opt.Concurrency, "Dur", p.Deadline.String()))
		} else {
			e.fail(w, http.StatusServiceUnavailable, i18n.M("serve.err.busy", "N", e.opt.Concurrency))
		}
		return
	}
	e.inFlight.Inc()
	// Time spent waiting for a slot is gone from the deadline: the
	// attempts shrink to what is left.
	if dl, ok := ctx.Deadline(); ok && waited {
		left := time.Until(dl) * 9 / 10 / time.Duration(sequential(t))
		p.Attempt = min(p.Attempt, max(time.Millisecond, left.Truncate(time.Millisecond)))
	}
	rep := e.opt.Check(ctx, t, e.diagnoseOptions(mod, p))
	took := e.opt.Now().Sub(start)
	e.inFlight.Dec()
	<-e.slots

	result := "failure"
	reg := probeRegistry(rep, took)
	success := false
	switch {
	case rep.Cancelled:
		result = "cut_short"
	case isSuccess(rep):
		result, success = "success", true
	}
	e.probes.WithLabelValues(name, result).Inc()
	e.took.WithLabelValues(name).Observe(took.Seconds())

	text := e.debugText(rep, reg, mod, p, took)
	en := entry{Time: start, Module: name, Target: raw, CutShort: rep.Cancelled, Success: success, Duration: took, Debug: text}
	if !rep.Cancelled && len(rep.Findings) > 0 {
		en.Cause, en.Confidence = string(rep.Findings[0].Cause), string(rep.Findings[0].Confidence)
	}
	e.hist.add(en)

	if debug {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, text)
		return
	}
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// acquire takes a probe slot, waiting until ctx ends (waited says it had
// to); too many waiting already is a refusal at once.
func (e *Exporter) acquire(ctx context.Context) (waited, ok bool) {
	select {
	case e.slots <- struct{}{}:
		return false, true
	default:
	}
	if e.waiting.Add(1) > int64(waitingPerSlot*e.opt.Concurrency) {
		e.waiting.Add(-1)
		return false, false
	}
	defer e.waiting.Add(-1)
	select {
	case e.slots <- struct{}{}:
		return true, true
	case <-ctx.Done():
		return true, false
	}
}

// moduleTarget parses raw as the module probes it: a host:port target takes
// the module's protocol; a target naming another one is refused.
func moduleTarget(m Module, raw string) (target.Target, i18n.Msg, bool) {
	t, err := target.Parse(raw)
	if err != nil {
		return target.Target{}, i18n.M("serve.err.target_bad", "Err", err.Error()), false
	}
	if m.Scheme == "" {
		return t, i18n.Msg{}, true
	}
	if !strings.Contains(t.Raw, "://") {
		t, err = target.Parse(m.Scheme + "://" + t.Raw)
		if err != nil {
			return target.Target{}, i18n.M("serve.err.target_bad", "Err", err.Error()), false
		}
		return t, i18n.Msg{}, true
	}
	if evidence.Schemes[t.Scheme] != evidence.Schemes[m.Scheme] {
		return target.Target{}, i18n.M("serve.err.scheme", "Module", m.Name, "Want", m.Scheme, "Target", raw, "Got", t.Scheme), false
	}
	return t, i18n.Msg{}, true
}

// noEnv hides the exporter's environment from the diagnosis: a probe
// measures the direct path, never through a proxy the process happens to
// have in HTTP_PROXY.
func noEnv(string) string { return "" }

func (e *Exporter) diagnoseOptions(m Module, p plan) diagnose.Options {
	return diagnose.Options{
		Timeout:      p.Attempt,
		ProbePorts:   m.ProbePorts,
		ExpectIP:     m.ExpectIP,
		ResolverAddr: m.Resolver,
		CDNRanges:    m.CDNRanges,
		Getenv:       noEnv,
	}
}

func isSuccess(r diagnose.Report) bool {
	return !r.Cancelled && len(r.Findings) > 0 && r.Findings[0].Cause == verdict.CauseOK && r.Outcome == verdict.OutcomeOK
}

// debugText is what debug=true answers: the human report (or why there is
// none), how the probe was timed, the metrics, and the module.
func (e *Exporter) debugText(r diagnose.Report, reg *prometheus.Registry, m Module, p plan, took time.Duration) string {
	pr := e.opt.Printer
	var b bytes.Buffer
	if r.Cancelled {
		fmt.Fprintln(&b, pr.T("serve.debug.cut", "Dur", p.Deadline.String()))
	} else if e.opt.Render != nil {
		e.opt.Render(&b, r)
	}
	fmt.Fprintln(&b)
	var why i18n.Msg
	switch {
	case p.Scrape == 0:
		why = i18n.M("serve.debug.why_none", "Max", maxTimeout.String())
	case p.Scrape-e.opt.TimeoutOffset < p.Scrape/2:
		why = i18n.M("serve.debug.why_half", "Scrape", p.Scrape.String(), "Offset", e.opt.TimeoutOffset.String())
	default:
		why = i18n.M("serve.debug.why_header", "Scrape", p.Scrape.String(), "Offset", e.opt.TimeoutOffset.String())
	}
	fmt.Fprintln(&b, pr.T("serve.debug.plan", "Deadline", p.Deadline.String(), "Why", why, "Attempt", p.Attempt.String(),
		"Took", took.Round(100*time.Microsecond).String()))
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, pr.T("serve.debug.metrics"))
	if mfs, err := reg.Gather(); err == nil {
		for _, mf := range mfs {
			expfmt.MetricFamilyToText(&b, mf)
		}
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, pr.T("serve.debug.module", "Module", m.Name, "Settings", e.moduleSummary(m)))
	return b.String()
}

// moduleSummary is one line saying what a module does.
func (e *Exporter) moduleSummary(m Module) string {
	pr := e.opt.Printer
	var parts []string
	if m.Scheme != "" {
		parts = append(parts, pr.T("serve.mod.protocol", "Scheme", m.Scheme))
	} else {
		parts = append(parts, pr.T("serve.mod.protocol_any"))
	}
	if m.Timeout > 0 {
		parts = append(parts, pr.T("serve.mod.timeout", "Dur", m.Timeout.String()))
	} else {
		parts = append(parts, pr.T("serve.mod.timeout", "Dur", e.opt.Timeout.String()))
	}
	switch {
	case m.ProbePorts == nil:
		parts = append(parts, pr.T("serve.mod.ports", "List", portList(diagnose.DefaultProbePorts)))
	case len(m.ProbePorts) == 0:
		parts = append(parts, pr.T("serve.mod.ports_none"))
	default:
		parts = append(parts, pr.T("serve.mod.ports", "List", portList(m.ProbePorts)))
	}
	if m.ExpectIP.IsValid() {
		parts = append(parts, pr.T("serve.mod.expect", "IP", m.ExpectIP.String()))
	}
	if m.Resolver.IsValid() {
		parts = append(parts, pr.T("serve.mod.resolver", "Addr", m.Resolver.String()))
	}
	if m.CDNRanges != nil {
		parts = append(parts, pr.T("serve.mod.cdn", "N", m.CDNRanges.Len(), "File", m.CDNFile))
	}
	return strings.Join(parts, "; ")
}

func portList(ps []uint16) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ",")
}

func (e *Exporter) serveReload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		e.fail(w, http.StatusMethodNotAllowed, i18n.M("serve.err.method", "Path", "/-/reload", "Methods", "POST"))
		return
	}
	if err := e.Reload(); err != nil {
		code := http.StatusInternalServerError // as blackbox_exporter
		if errors.Is(err, ErrNoConfig) {
			code = http.StatusBadRequest
		}
		e.fail(w, code, i18n.M("serve.err.reload", "Err", err.Error()))
		return
	}
	c := e.cfg.Load()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, e.opt.Printer.T("serve.log.reloaded", "File", c.File, "List", strings.Join(c.ModuleNames(), ", ")))
}

func (e *Exporter) serveLogs(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.URL.Query().Get("id"), 10, 64)
	en, ok := e.hist.get(id)
	if err != nil || !ok || en.Refused {
		e.fail(w, http.StatusNotFound, i18n.M("serve.err.logs", "ID", r.URL.Query().Get("id"), "N", e.opt.History))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, en.Debug)
}
