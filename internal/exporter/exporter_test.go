package exporter

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/conndiag/conndiag/internal/diagnose"
	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

// parseMetrics reads a Prometheus text-format body.
func parseMetrics(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("not the Prometheus text format: %v\n%s", err, body)
	}
	return mfs
}

// series flattens families into "name{l="v",...}" → value, labels sorted.
func series(mfs map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(ls)
			key := name
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			var v float64
			switch {
			case m.Gauge != nil:
				v = m.Gauge.GetValue()
			case m.Counter != nil:
				v = m.Counter.GetValue()
			case m.Histogram != nil:
				v = float64(m.Histogram.GetSampleCount())
			}
			out[key] = v
		}
	}
	return out
}

type fixture struct {
	e     *Exporter
	srv   *httptest.Server
	calls atomic.Int64
}

func newFixture(t *testing.T, opt Options) *fixture {
	t.Helper()
	f := &fixture{}
	check := opt.Check
	if check == nil {
		check = diagnose.Check
	}
	opt.Check = func(ctx context.Context, tg target.Target, o diagnose.Options) diagnose.Report {
		f.calls.Add(1)
		return check(ctx, tg, o)
	}
	if opt.Render == nil {
		opt.Render = func(w io.Writer, r diagnose.Report) {
			fmt.Fprintf(w, "RENDERED %s %s\n", r.Target, r.Findings[0].Cause)
		}
	}
	e, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	f.e = e
	f.srv = httptest.NewServer(e.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) get(t *testing.T, path string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, string, http.Header) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b), res.Header
}

func probePath(tg string, extra ...string) string {
	q := url.Values{"target": {tg}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "/probe?" + q.Encode()
}

// report builds a diagnosis as diagnose.Check would return it.
func report(tg target.Target, out verdict.Outcome, c verdict.Cause, conf verdict.Confidence, ev evidence.Evidence) diagnose.Report {
	ev.Target = tg
	return diagnose.Report{Target: tg, Outcome: out, Findings: []verdict.Finding{{Cause: c, Confidence: conf}}, Evidence: ev, Duration: time.Millisecond}
}

// The metrics of SPEC.md "Exporter metrics", exactly, for each kind of report.
func TestProbeMetrics(t *testing.T) {
	addr := func(k evidence.Kind, d time.Duration, p *evidence.ProtoEvidence) evidence.AddrEvidence {
		return evidence.AddrEvidence{Connect: evidence.Connect{Kind: k, Duration: d}, Proto: p}
	}
	ms := time.Millisecond
	tests := []struct {
		name   string
		target string
		rep    func(target.Target) diagnose.Report
		want   map[string]float64
	}{
		{"filtered", "10.0.0.1:8282", func(tg target.Target) diagnose.Report {
			return report(tg, verdict.OutcomeTimeout, verdict.CauseFiltered, verdict.Medium,
				evidence.Evidence{DNS: evidence.DNS{Literal: true}, Addrs: []evidence.AddrEvidence{addr(evidence.Timeout, 200*ms, nil)}})
		}, map[string]float64{
			"probe_success": 0, "probe_dns_lookup_time_seconds": 0,
			`conndiag_probe_phase_duration_seconds{phase="dns"}`:         0,
			`conndiag_probe_phase_duration_seconds{phase="connect"}`:     0.2,
			`conndiag_probe_outcome{outcome="timeout"}`:                  1,
			`conndiag_probe_cause{cause="filtered",confidence="medium"}`: 1,
		}},
		{"wss ok", "wss://app.test/chat", func(tg target.Target) diagnose.Report {
			p := &evidence.ProtoEvidence{Protocol: evidence.ProtoWebSocket, TLS: &evidence.TLS{Exchange: evidence.Exchange{Duration: 3 * ms}},
				WS: &evidence.WebSocket{HTTP: evidence.HTTP{Exchange: evidence.Exchange{Duration: 4 * ms}}}}
			return report(tg, verdict.OutcomeOK, verdict.CauseOK, verdict.High, evidence.Evidence{
				DNS:   evidence.DNS{Duration: 5 * ms},
				Addrs: []evidence.AddrEvidence{addr(evidence.Refused, 9*ms, nil), addr(evidence.OK, 2*ms, p)},
			})
		}, map[string]float64{
			"probe_success": 1, "probe_dns_lookup_time_seconds": 0.005,
			`conndiag_probe_phase_duration_seconds{phase="dns"}`:       0.005,
			`conndiag_probe_phase_duration_seconds{phase="connect"}`:   0.002, // the address that connected
			`conndiag_probe_phase_duration_seconds{phase="tls"}`:       0.003,
			`conndiag_probe_phase_duration_seconds{phase="handshake"}`: 0.004,
			`conndiag_probe_outcome{outcome="ok"}`:                     1,
			`conndiag_probe_cause{cause="ok",confidence="high"}`:       1,
		}},
		{"ws refused: the phases it never reached are 0", "ws://10.0.0.1:80/", func(tg target.Target) diagnose.Report {
			return report(tg, verdict.OutcomeRefused, verdict.CauseNotListening, verdict.High,
				evidence.Evidence{DNS: evidence.DNS{Literal: true}, Addrs: []evidence.AddrEvidence{addr(evidence.Refused, ms, nil)}})
		}, map[string]float64{
			"probe_success": 0, "probe_dns_lookup_time_seconds": 0,
			`conndiag_probe_phase_duration_seconds{phase="dns"}`:            0,
			`conndiag_probe_phase_duration_seconds{phase="connect"}`:        0.001,
			`conndiag_probe_phase_duration_seconds{phase="handshake"}`:      0,
			`conndiag_probe_outcome{outcome="refused"}`:                     1,
			`conndiag_probe_cause{cause="not_listening",confidence="high"}`: 1,
		}},
		{"dns failure", "nx.test:80", func(tg target.Target) diagnose.Report {
			return report(tg, verdict.OutcomeDNSFailure, verdict.CauseDNSFailure, verdict.High,
				evidence.Evidence{DNS: evidence.DNS{NotFound: true, Duration: 7 * ms}})
		}, map[string]float64{
			"probe_success": 0, "probe_dns_lookup_time_seconds": 0.007,
			`conndiag_probe_phase_duration_seconds{phase="dns"}`:          0.007,
			`conndiag_probe_phase_duration_seconds{phase="connect"}`:      0,
			`conndiag_probe_outcome{outcome="dns_failure"}`:               1,
			`conndiag_probe_cause{cause="dns_failure",confidence="high"}`: 1,
		}},
		{"a working connection to the wrong place is no success", "app.test:80", func(tg target.Target) diagnose.Report {
			return report(tg, verdict.OutcomeOK, verdict.CauseDNSMismatch, verdict.High,
				evidence.Evidence{Addrs: []evidence.AddrEvidence{addr(evidence.OK, ms, nil)}})
		}, map[string]float64{
			"probe_success": 0, "probe_dns_lookup_time_seconds": 0,
			`conndiag_probe_phase_duration_seconds{phase="dns"}`:           0,
			`conndiag_probe_phase_duration_seconds{phase="connect"}`:       0.001,
			`conndiag_probe_outcome{outcome="ok"}`:                         1,
			`conndiag_probe_cause{cause="dns_mismatch",confidence="high"}`: 1,
		}},
		{"cut short: no verdict", "10.0.0.1:80", func(tg target.Target) diagnose.Report {
			r := report(tg, verdict.OutcomeTimeout, verdict.CauseHostDown, verdict.Medium,
				evidence.Evidence{DNS: evidence.DNS{Literal: true}, Addrs: []evidence.AddrEvidence{addr(evidence.Canceled, 50*ms, nil)}})
			r.Cancelled = true
			return r
		}, map[string]float64{
			"probe_success": 0, "probe_dns_lookup_time_seconds": 0,
			`conndiag_probe_phase_duration_seconds{phase="dns"}`:     0,
			`conndiag_probe_phase_duration_seconds{phase="connect"}`: 0.05,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{
				ConfigFile: writeConfig(t, "[allow]\nnetworks = [\"0.0.0.0/0\"]\nnames = [\"*\"]\n"),
				Check: func(_ context.Context, tg target.Target, _ diagnose.Options) diagnose.Report {
					return tt.rep(tg)
				},
			})
			code, body, h := f.get(t, probePath(tt.target))
			if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
				t.Fatalf("status %d, %s\n%s", code, h.Get("Content-Type"), body)
			}
			got := series(parseMetrics(t, body))
			d, ok := got["probe_duration_seconds"]
			if !ok || d < 0 {
				t.Errorf("probe_duration_seconds missing or negative: %v", got)
			}
			delete(got, "probe_duration_seconds")
			for k, v := range tt.want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
				}
			}
			for k := range got {
				if _, ok := tt.want[k]; !ok {
					t.Errorf("unexpected series %s", k)
				}
			}
		})
	}
}

// loopbackPorts gives an open loopback port, whose server holds each
// connection until the client closes it (one that closes at once is not ok),
// and a closed one.
func loopbackPorts(tb testing.TB) (open, closed string) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	closed = cl.Addr().String()
	cl.Close()
	return ln.Addr().String(), closed
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "serve.toml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Real diagnoses of loopback targets, the default configuration.
func TestProbeLoopback(t *testing.T) {
	openAddr, closedAddr := loopbackPorts(t)
	_, openPort, _ := net.SplitHostPort(openAddr)

	f := newFixture(t, Options{Render: nil})
	for _, tt := range []struct {
		target, cause, success string
	}{
		{openAddr, "ok", "1"},
		{"localhost:" + openPort, "ok", "1"},
		{closedAddr, "not_listening", "0"},
	} {
		code, body, _ := f.get(t, probePath(tt.target))
		if code != http.StatusOK {
			t.Fatalf("%s: status %d\n%s", tt.target, code, body)
		}
		got := series(parseMetrics(t, body))
		found := false
		for k, v := range got {
			if strings.HasPrefix(k, `conndiag_probe_cause{cause="`+tt.cause+`"`) && v == 1 {
				found = true
			}
		}
		if !found || fmt.Sprint(got["probe_success"]) != tt.success {
			t.Errorf("%s: want cause %s and probe_success %s:\n%s", tt.target, tt.cause, tt.success, body)
		}
	}
}

// A target outside the allow-list is refused before Check is called: no
// connection and no DNS query can come of it.
func TestProbeRefusesTargetsOutsideTheAllowList(t *testing.T) {
	// Not diagnose.Check: should the allow-list break, the test must not
	// send packets off this machine.
	f := newFixture(t, Options{Check: func(_ context.Context, tg target.Target, _ diagnose.Options) diagnose.Report {
		t.Errorf("Check ran for %s", tg)
		return report(tg, verdict.OutcomeOK, verdict.CauseOK, verdict.High, evidence.Evidence{})
	}})
	for _, tg := range []string{"10.0.0.1:80", "0.0.0.0:22", "[::]:22", "example.com:80", "ws://example.com/", "[fe80::1%25eth0]:22", "foo.localhost:80"} {
		code, body, _ := f.get(t, probePath(tg))
		if code != http.StatusForbidden || !strings.Contains(body, "is not in this exporter's allow-list, so nothing was sent to it") {
			t.Errorf("%s: status %d\n%s", tg, code, body)
		}
	}
	if n := f.calls.Load(); n != 0 {
		t.Fatalf("Check ran %d times for refused targets", n)
	}
	_, metrics, _ := f.get(t, "/metrics")
	if got := series(parseMetrics(t, metrics))[`conndiag_exporter_refused_total{reason="not_allowed"}`]; got != 7 {
		t.Errorf("conndiag_exporter_refused_total{reason=\"not_allowed\"} = %v, want 7", got)
	}
	_, page, _ := f.get(t, "/")
	if !strings.Contains(page, "example.com:80") || !strings.Contains(page, "refused: not in the allow-list") {
		t.Errorf("the landing page must list refused targets:\n%s", page)
	}
}

// What a request may not do, each with its answer; none reaches Check.
func TestProbeBadRequests(t *testing.T) {
	f := newFixture(t, Options{ConfigFile: writeConfig(t, "[modules.ws]\nprotocol = \"ws\"\n")})
	tests := []struct {
		path   string
		header []string
		code   int
		want   string
	}{
		{probePath("127.0.0.1:1", "module", "nope"), nil, 400, `Unknown module "nope" (modules: default, ws).`},
		{probePath("127.0.0.1:1", "module", "x\x1b[2J"), nil, 400, `Unknown module "x\x1b[2J"`},
		{"/probe", nil, 400, "The target parameter is missing"},
		{probePath("127.0.0.1"), nil, 400, `bad target "127.0.0.1": port is missing`},
		{probePath("127.0.0.1:1") + "&source=10.0.0.2", nil, 400, `Unknown parameter "source": /probe takes target, module and debug only`},
		{probePath("127.0.0.1:1") + "&timeout=60s", nil, 400, `Unknown parameter "timeout"`},
		{probePath("127.0.0.1:1") + "&cdn_ranges=/etc/shadow", nil, 400, `Unknown parameter "cdn_ranges"`},
		{probePath("127.0.0.1:1") + "&target=127.0.0.1:2", nil, 400, `The parameter "target" is given more than once.`},
		{probePath("127.0.0.1:1", "debug", "yes"), nil, 400, `debug must be true or false, not "yes".`},
		{probePath("http://127.0.0.1:1/", "module", "ws"), nil, 400, `Module "ws" probes ws:// targets, and "http://127.0.0.1:1/" is a http:// target.`},
		{probePath("127.0.0.1:1"), []string{ScrapeTimeoutHeader, "soon"}, 400, `The X-Prometheus-Scrape-Timeout-Seconds header "soon" is not a number of seconds.`},
		{probePath("127.0.0.1:1"), []string{ScrapeTimeoutHeader, "-3"}, 400, `is not a number of seconds`},
	}
	for _, tt := range tests {
		code, body, _ := f.get(t, tt.path, tt.header...)
		if code != tt.code || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %q, want %d %q", tt.path, code, body, tt.code, tt.want)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+probePath("127.0.0.1:1"), nil)
	if code, body, h := do(t, req); code != http.StatusMethodNotAllowed || h.Get("Allow") != "GET" {
		t.Errorf("POST /probe: %d %s", code, body)
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("Check ran %d times for bad requests", n)
	}
}

// The module decides everything the diagnosis uses; the exporter's
// environment (a proxy) does not leak in.
func TestProbeModuleOptions(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "edges.txt"), []byte("192.0.2.0/24 Edge\n"), 0o644)
	cfg := filepath.Join(dir, "serve.toml")
	os.WriteFile(cfg, []byte(`[modules.ws]
protocol = "ws"
timeout = "1s"
probe_ports = [2222]
expect_ip = "127.0.0.9"
resolver = "127.0.0.53"
cdn_ranges = "edges.txt"
`), 0o644)
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:3128")
	var got struct {
		t   target.Target
		opt diagnose.Options
	}
	f := newFixture(t, Options{ConfigFile: cfg, Check: func(_ context.Context, tg target.Target, o diagnose.Options) diagnose.Report {
		got.t, got.opt = tg, o
		return report(tg, verdict.OutcomeOK, verdict.CauseOK, verdict.High, evidence.Evidence{})
	}})
	if code, body, _ := f.get(t, probePath("127.0.0.1:8282", "module", "ws")); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	o := got.opt
	if got.t.String() != "ws://127.0.0.1:8282/" {
		t.Errorf("a host:port target takes the module's protocol: %s", got.t)
	}
	if o.Timeout != time.Second || len(o.ProbePorts) != 1 || o.ProbePorts[0] != 2222 || o.ExpectIP != netip.MustParseAddr("127.0.0.9") ||
		o.ResolverAddr != netip.MustParseAddrPort("127.0.0.53:53") || o.CDNRanges == nil || o.CDNRanges.Len() != 1 {
		t.Errorf("options = %+v", o)
	}
	if o.Getenv == nil || o.Getenv("HTTP_PROXY") != "" {
		t.Error("the exporter's proxy environment must not reach the diagnosis")
	}
	if o.Source.IsValid() || o.Trace {
		t.Errorf("nothing a request sends may pick a source or a trace: %+v", o)
	}
	// A target naming the module's own protocol (another spelling too) is fine.
	if code, body, _ := f.get(t, probePath("websocket://127.0.0.1:8282/chat", "module", "ws")); code != 200 || got.t.Path != "/chat" {
		t.Errorf("%d %s %s", code, body, got.t)
	}
	// The default module has serve's --timeout and check's probe ports.
	f.get(t, probePath("127.0.0.1:8282"))
	if got.opt.Timeout != diagnose.DefaultTimeout || got.opt.ProbePorts != nil {
		t.Errorf("default module options = %+v", got.opt)
	}
}

// The scrape timeout, less the offset, bounds the probe; the attempts are
// sized to end before it.
func TestProbeScrapeTimeout(t *testing.T) {
	var mu sync.Mutex
	var left time.Duration
	var attempt time.Duration
	f := newFixture(t, Options{Check: func(ctx context.Context, tg target.Target, o diagnose.Options) diagnose.Report {
		dl, _ := ctx.Deadline()
		mu.Lock()
		left, attempt = time.Until(dl), o.Timeout
		mu.Unlock()
		if tg.Port == 2 { // a diagnosis that would outlast the deadline
			<-ctx.Done()
			r := report(tg, verdict.OutcomeTimeout, verdict.CauseHostDown, verdict.Medium, evidence.Evidence{})
			r.Cancelled = true
			return r
		}
		return report(tg, verdict.OutcomeOK, verdict.CauseOK, verdict.High, evidence.Evidence{})
	}})
	f.get(t, probePath("127.0.0.1:1"), ScrapeTimeoutHeader, "2")
	if left > 1500*time.Millisecond || left < 1400*time.Millisecond || attempt > 1350*time.Millisecond || attempt < 1250*time.Millisecond {
		t.Errorf("scrape timeout 2 s, offset 0.5 s: deadline in %s, attempts of %s; want 1.5 s and 1.35 s", left, attempt)
	}
	f.get(t, probePath("127.0.0.1:1"))
	if left < 119*time.Second || attempt != diagnose.DefaultTimeout {
		t.Errorf("no header: deadline in %s, attempts of %s; want 119.5 s and 3 s", left, attempt)
	}
	start := time.Now()
	code, body, _ := f.get(t, probePath("127.0.0.1:2", "debug", "true"), ScrapeTimeoutHeader, "0.8")
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the probe outlived its deadline by far: %s", took)
	}
	if code != 200 || !strings.Contains(body, "The diagnosis was cut short at the probe's deadline (400ms)") || strings.Contains(body, "RENDERED") {
		t.Errorf("a probe cut at the deadline must say so and show no verdict:\n%s", body)
	}
	if strings.Contains(body, "conndiag_probe_cause") || !strings.Contains(body, "probe_success 0") {
		t.Errorf("a cut probe has no cause series:\n%s", body)
	}
	_, metrics, _ := f.get(t, "/metrics")
	if got := series(parseMetrics(t, metrics))[`conndiag_exporter_probes_total{module="default",result="cut_short"}`]; got != 1 {
		t.Errorf("cut_short probes = %v, want 1", got)
	}
}

// At most Concurrency probes run; the rest wait until their deadline, and
// past a bound they are refused at once.
func TestProbeConcurrencyLimit(t *testing.T) {
	release := make(chan struct{})
	var running, peak atomic.Int64
	f := newFixture(t, Options{Concurrency: 2, Check: func(ctx context.Context, tg target.Target, _ diagnose.Options) diagnose.Report {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		defer running.Add(-1)
		if tg.Port == 1 {
			<-release
		}
		return report(tg, verdict.OutcomeOK, verdict.CauseOK, verdict.High, evidence.Evidence{})
	}})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); f.get(t, probePath("127.0.0.1:1")) }()
	}
	for running.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	code, body, _ := f.get(t, probePath("127.0.0.1:3"), ScrapeTimeoutHeader, "0.4")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "All 2 probe slots stayed busy until the probe's deadline (200ms)") {
		t.Errorf("a probe that found no slot before its deadline: %d %s", code, body)
	}
	// 4 waiting per slot: 8 wait, the 9th is refused at once.
	var waiters sync.WaitGroup
	for range 8 {
		waiters.Add(1)
		go func() { defer waiters.Done(); f.get(t, probePath("127.0.0.1:3")) }()
	}
	for f.e.waiting.Load() < 8 {
		time.Sleep(time.Millisecond)
	}
	code, body, _ = f.get(t, probePath("127.0.0.1:3"))
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "too many probes are waiting") {
		t.Errorf("past the waiting bound: %d %s", code, body)
	}
	close(release)
	wg.Wait()
	waiters.Wait()
	if p := peak.Load(); p != 2 {
		t.Errorf("%d probes ran at once, want at most 2", p)
	}
	_, metrics, _ := f.get(t, "/metrics")
	s := series(parseMetrics(t, metrics))
	if s[`conndiag_exporter_refused_total{reason="busy"}`] != 2 || s[`conndiag_exporter_probes_total{module="default",result="success"}`] != 10 {
		t.Errorf("own metrics after the run:\n%s", metrics)
	}
}

func TestReload(t *testing.T) {
	cfg := writeConfig(t, "[modules.a]\ntimeout = \"1s\"\n")
	var logged []string
	var mu sync.Mutex
	f := newFixture(t, Options{ConfigFile: cfg, Log: func(m i18n.Msg) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, i18n.New("en").Text(m))
	}, Check: func(_ context.Context, tg target.Target, _ diagnose.Options) diagnose.Report {
		return report(tg, verdict.OutcomeOK, verdict.CauseOK, verdict.High, evidence.Evidence{})
	}})
	post := func() (int, string) {
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/-/reload", nil)
		code, body, _ := do(t, req)
		return code, body
	}
	module := func(name string) int {
		code, _, _ := f.get(t, probePath("127.0.0.1:1", "module", name))
		return code
	}
	if module("a") != 200 || module("b") != 400 {
		t.Fatal("before the reload: a must work, b must not")
	}
	os.WriteFile(cfg, []byte("[modules.b]\nprobe_ports = []\n"), 0o644)
	if code, body := post(); code != 200 || !strings.Contains(body, "Configuration reloaded from "+cfg+"; modules: b, default.") {
		t.Fatalf("good reload: %d %s", code, body)
	}
	if module("b") != 200 || module("a") != 400 {
		t.Error("after a good reload: b must work, a must be gone")
	}
	os.WriteFile(cfg, []byte("[modules.c]\nprobe_ports = [0]\n"), 0o644)
	code, body := post()
	if code != 500 || !strings.Contains(body, `The configuration was not reloaded; the one in force stays: `+cfg+`: module "c": probe_ports: 0 is not a port from 1 to 65535`) {
		t.Errorf("bad reload: %d %s", code, body)
	}
	if module("b") != 200 || module("c") != 400 {
		t.Error("after a bad reload the old configuration must stay")
	}
	_, metrics, _ := f.get(t, "/metrics")
	if got := series(parseMetrics(t, metrics))["conndiag_exporter_config_last_reload_successful"]; got != 0 {
		t.Errorf("config_last_reload_successful = %v after a bad reload", got)
	}
	if err := f.e.Reload(); err == nil {
		t.Error("Reload of the bad file must fail")
	}
	mu.Lock()
	if len(logged) != 3 || !strings.HasPrefix(logged[0], "Configuration reloaded") || !strings.HasPrefix(logged[1], "The configuration was not reloaded") {
		t.Errorf("log lines: %q", logged)
	}
	mu.Unlock()
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/-/reload", nil)
	if code, _, _ := do(t, req); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload: %d", code)
	}
	// Without a file there is nothing to reload.
	g := newFixture(t, Options{})
	req, _ = http.NewRequest(http.MethodPost, g.srv.URL+"/-/reload", nil)
	if code, body, _ := do(t, req); code != 400 || !strings.Contains(body, "no configuration file was given") {
		t.Errorf("reload without --config: %d %s", code, body)
	}
}

func TestDebugAndHistory(t *testing.T) {
	f := newFixture(t, Options{History: 2, Check: func(_ context.Context, tg target.Target, _ diagnose.Options) diagnose.Report {
		return report(tg, verdict.OutcomeRefused, verdict.CauseNotListening, verdict.High, evidence.Evidence{})
	}})
	code, body, h := f.get(t, probePath("127.0.0.1:1", "debug", "true"), ScrapeTimeoutHeader, "10")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("%d %s", code, h.Get("Content-Type"))
	}
	for _, want := range []string{
		"RENDERED 127.0.0.1:1 not_listening\n",
		"of at most 9.5s (scrape timeout 10s less --timeout-offset 500ms), 3s per connection attempt.",
		"Metrics that would have been returned:\n",
		`conndiag_probe_cause{cause="not_listening",confidence="high"} 1`,
		"Module default: the protocol the target names; 3s per connection attempt; probe ports 22,80,443.",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("debug text lacks %q:\n%s", want, body)
		}
	}
	// The landing page escapes what came with the request.
	hostile := "ws://127.0.0.1:1/<script>alert(1)</script>\u202e"
	f.get(t, probePath(hostile))
	f.get(t, probePath("localhost:2"))
	_, page, h := f.get(t, "/")
	if !strings.HasPrefix(h.Get("Content-Type"), "text/html") || strings.Contains(page, "<script>") || strings.ContainsRune(page, '\u202e') {
		t.Errorf("the landing page must escape targets:\n%s", page)
	}
	if !strings.Contains(page, "&lt;script&gt;") || !strings.Contains(page, "localhost:2") || strings.Contains(page, "127.0.0.1:1</code>") {
		t.Errorf("the page keeps the last 2 probes, newest first:\n%s", page)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("headers: %v", h)
	}
	code, logText, _ := f.get(t, "/logs?id=3")
	if code != 200 || !strings.Contains(logText, "RENDERED localhost:2 not_listening") {
		t.Errorf("/logs?id=3: %d %s", code, logText)
	}
	if code, _, _ := f.get(t, "/logs?id=1"); code != 404 {
		t.Errorf("a probe gone from the history: %d", code)
	}
	if code, _, _ := f.get(t, "/nothing"); code != 404 {
		t.Errorf("/nothing: %d", code)
	}
}

// Arabic pages read right to left; every language renders every page text.
func TestLandingLanguages(t *testing.T) {
	for _, lang := range i18n.Languages() {
		f := newFixture(t, Options{Printer: i18n.New(lang)})
		_, page, _ := f.get(t, "/")
		if strings.Contains(page, "serve.page.") {
			t.Errorf("%s: an ID is shown instead of its text:\n%s", lang, page)
		}
		if want := map[bool]string{true: `dir="rtl"`, false: `dir="ltr"`}[lang == "ar"]; !strings.Contains(page, want) {
			t.Errorf("%s: want %s", lang, want)
		}
	}
}

func TestServerLimits(t *testing.T) {
	s := Server(":0", http.NotFoundHandler())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.IdleTimeout <= 0 || s.MaxHeaderBytes > 64<<10 {
		t.Errorf("request limits: %+v", s)
	}
	if s.WriteTimeout <= maxTimeout {
		t.Errorf("the write timeout %s must outlast the longest probe %s", s.WriteTimeout, maxTimeout)
	}
}
