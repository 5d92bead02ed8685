//go:build linux

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/conndiag/conndiag/internal/testbed"
)

// The exporter listens on loopback inside the client namespace; so does
// Prometheus. Neither is reachable from the host.
const (
	serveAddr = "127.0.0.1:9115"
	promAddr  = "127.0.0.1:9090"
)

// nsClient is an HTTP client whose connections are made inside ns.
func nsClient(t *testing.T, ns *testbed.NS, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
				return ns.Dial(t, network, addr, 5*time.Second)
			},
		},
	}
}

type served struct {
	t      *testing.T
	ns     *testbed.NS
	proc   *testbed.Proc
	config string
	http   *http.Client
}

// startServe runs conndiag serve in ns with config (TOML; "" for none) and
// extra flags, and waits until it listens.
func startServe(t *testing.T, ns *testbed.NS, config string, flags ...string) *served {
	t.Helper()
	s := &served{t: t, ns: ns, http: nsClient(t, ns, 30*time.Second)}
	args := []string{bin, "serve", "--listen", serveAddr}
	if config != "" {
		s.config = filepath.Join(t.TempDir(), "serve.toml")
		s.writeConfig(config)
		args = append(args, "--config", s.config)
	}
	s.proc = ns.Start(t, append(args, flags...)...)
	ns.WaitListening(t, "tcp", 9115, 20*time.Second)
	return s
}

func (s *served) writeConfig(content string) {
	s.t.Helper()
	if err := os.WriteFile(s.config, []byte(content), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func (s *served) do(method, path string, header ...string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, "http://"+serveAddr+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := s.http.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v\nserve stderr:\n%s", method, path, err, s.proc.Stderr())
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func probeURL(target string, kv ...string) string {
	q := url.Values{"target": {target}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return "/probe?" + q.Encode()
}

// metrics parses a text-format answer into "name{labels}" → value.
func metrics(t *testing.T, body string) map[string]float64 {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("not the Prometheus text format: %v\n%s", err, body)
	}
	out := map[string]float64{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := name
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			}
		}
	}
	return out
}

// causeOf is the cause label of the conndiag_probe_cause series, "" if none.
func causeOf(ms map[string]float64) string {
	for k := range ms {
		if m := regexp.MustCompile(`^conndiag_probe_cause\{cause="([a-z_]+)"`).FindStringSubmatch(k); m != nil {
			return m[1]
		}
	}
	return ""
}

// startPrometheus runs a real Prometheus server in ns, with its own
// configuration and data directory, listening on the namespace's loopback.
func startPrometheus(t *testing.T, ns *testbed.NS, config string) *http.Client {
	t.Helper()
	if _, err := exec.LookPath("prometheus"); err != nil {
		t.Skip("prometheus not found in PATH (Debian package prometheus; scripts/test-deps.sh installs it)")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	ns.Start(t, "prometheus", "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	ns.WaitListening(t, "tcp", 9090, 30*time.Second)
	c := nsClient(t, ns, 10*time.Second)
	// It listens before it is ready (503 while the TSDB opens).
	for deadline := time.Now().Add(30 * time.Second); ; {
		res, err := c.Get("http://" + promAddr + "/-/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus not ready after 30 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// promSample is one series of an instant query.
type promSample struct {
	Metric map[string]string
	Value  float64
}

func promQuery(t *testing.T, c *http.Client, q string) []promSample {
	t.Helper()
	res, err := c.Get("http://" + promAddr + "/api/v1/query?" + url.Values{"query": {q}}.Encode())
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	defer res.Body.Close()
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: status %s, %v", q, r.Status, err)
	}
	var out []promSample
	for _, s := range r.Data.Result {
		v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		out = append(out, promSample{s.Metric, v})
	}
	return out
}

// Prometheus scrapes conndiag serve with the relabel_configs pattern of
// blackbox_exporter and stores why each target fails: filtered for a
// dropped port, not_listening for a closed one, ok for an open one.
func TestServePrometheusScrape(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Pair(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "198.51.100.3:8282"))
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "8284", "-j", "DROP")
	startServe(t, n.Client, `
[allow]
networks = ["198.51.100.3"]

[modules.tcp]
protocol = "tcp"
`)
	prom := startPrometheus(t, n.Client, `
global:
  scrape_interval: 2s
  scrape_timeout: 2s
scrape_configs:
  - job_name: conndiag
    metrics_path: /probe
    params:
      module: [tcp]
    static_configs:
      - targets: ["198.51.100.3:8282", "198.51.100.3:8283", "198.51.100.3:8284"]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: `+serveAddr+`
`)
	want := map[string]struct {
		cause   string
		success float64
	}{
		"198.51.100.3:8282": {"ok", 1},
		"198.51.100.3:8283": {"not_listening", 0},
		"198.51.100.3:8284": {"filtered", 0},
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := map[string]string{}
		for _, s := range promQuery(t, prom, `conndiag_probe_cause{job="conndiag"}`) {
			got[s.Metric["instance"]] = s.Metric["cause"]
		}
		done := len(got) == len(want)
		for inst, w := range want {
			done = done && got[inst] == w.cause
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus has causes %v, want %v", got, want)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// The causes asked for by name, as an alert rule would.
	for q, inst := range map[string]string{
		`conndiag_probe_cause{cause="filtered"} == 1`:      "198.51.100.3:8284",
		`conndiag_probe_cause{cause="not_listening"} == 1`: "198.51.100.3:8283",
		`conndiag_probe_cause{cause="ok"} == 1`:            "198.51.100.3:8282",
	} {
		rs := promQuery(t, prom, q)
		if len(rs) != 1 || rs[0].Metric["instance"] != inst || rs[0].Metric["confidence"] == "" {
			t.Errorf("%s: %+v, want one series for %s with its confidence", q, rs, inst)
		}
	}
	for _, s := range promQuery(t, prom, `probe_success{job="conndiag"}`) {
		if w := want[s.Metric["instance"]]; s.Value != w.success {
			t.Errorf("probe_success{instance=%q} = %v, want %v", s.Metric["instance"], s.Value, w.success)
		}
	}
	for _, s := range promQuery(t, prom, `up{job="conndiag"}`) {
		if s.Value != 1 {
			t.Errorf("up{instance=%q} = %v: a scrape failed", s.Metric["instance"], s.Value)
		}
	}
	if rs := promQuery(t, prom, `conndiag_probe_outcome{outcome="timeout",instance="198.51.100.3:8284"}`); len(rs) != 1 {
		t.Errorf("the dropped port's outcome must be timeout: %+v", rs)
	}
}

// iptablesPackets reads the packet counter of the rule in chain whose
// comment is tag.
func iptablesPackets(t *testing.T, ns *testbed.NS, cmd, chain, tag string) int {
	t.Helper()
	out := ns.Run(t, cmd, "-w", "5", "-L", chain, "-v", "-n", "-x")
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "/* "+tag+" */") {
			f := strings.Fields(line)
			n, err := strconv.Atoi(f[0])
			if err != nil {
				t.Fatalf("iptables counter %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("no rule %q in:\n%s", tag, out)
	return 0
}

// A target outside the allow-list is refused with 403 and no packet leaves:
// no SYN, no DNS query. Counted by OUTPUT rules in the exporter's
// namespace, which a probe allowed after a reload does increase.
func TestServeAllowListSendsNothing(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	n := testbed.Pair(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "198.51.100.3:8282"))
	// Names would be asked of the server namespace's address: a DNS query counts too.
	n.Client.Hosts(t, "127.0.0.1 localhost\n")
	n.Client.ResolvConf(t, "nameserver 198.51.100.3\n")
	n.Client.Iptables(t, "-A", "OUTPUT", "-o", n.ClientIf, "-m", "comment", "--comment", "out4", "-j", "ACCEPT")
	has6 := n.ServerIP6.IsValid()
	if has6 {
		n.Client.Run(t, "ip6tables", "-w", "5", "-A", "OUTPUT", "-d", n.ServerIP6.String(), "-m", "comment", "--comment", "out6", "-j", "ACCEPT")
	}
	s := startServe(t, n.Client, "[modules.ws]\nprotocol = \"ws\"\n")
	refused := []string{"198.51.100.3:8282", "ws://198.51.100.3:8282/", "app.test:8282", "198.51.100.3:22", "[::ffff:198.51.100.3]:8282"}
	if has6 {
		refused = append(refused, "[2001:db8:1::3]:8282")
	}
	for _, tg := range refused {
		for _, mod := range []string{"default", "ws"} {
			code, body := s.do("GET", probeURL(tg, "module", mod))
			if code != http.StatusForbidden || !strings.Contains(body, "nothing was sent to it") {
				t.Errorf("%s (module %s): %d %s", tg, mod, code, body)
			}
		}
	}
	// A loopback target is allowed by default and stays inside.
	if code, body := s.do("GET", probeURL("127.0.0.1:8282")); code != 200 || causeOf(metrics(t, body)) != "not_listening" {
		t.Errorf("loopback: %d %s", code, body)
	}
	if got := iptablesPackets(t, n.Client, "iptables", "OUTPUT", "out4"); got != 0 {
		t.Fatalf("%d IPv4 packets left the exporter's namespace for refused targets", got)
	}
	if has6 {
		if got := iptablesPackets(t, n.Client, "ip6tables", "OUTPUT", "out6"); got != 0 {
			t.Fatalf("%d IPv6 packets went to the server for refused targets", got)
		}
	}
	_, own := s.do("GET", "/metrics")
	if got := metrics(t, own)[`conndiag_exporter_refused_total{reason="not_allowed"}`]; int(got) != 2*len(refused) {
		t.Errorf("conndiag_exporter_refused_total{reason=\"not_allowed\"} = %v, want %d", got, 2*len(refused))
	}

	// The counter is able to see a probe: allow the server and probe it.
	s.writeConfig("[allow]\nnetworks = [\"198.51.100.3/32\"]\n")
	if code, body := s.do("POST", "/-/reload"); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	code, body := s.do("GET", probeURL("198.51.100.3:8282"))
	if code != 200 || causeOf(metrics(t, body)) != "ok" {
		t.Fatalf("allowed after the reload: %d %s", code, body)
	}
	if got := iptablesPackets(t, n.Client, "iptables", "OUTPUT", "out4"); got == 0 {
		t.Fatal("the allowed probe sent nothing the counter saw: the counter proves nothing")
	}
}

// Prometheus' scrape-timeout header bounds the probe: a host that drops
// every SYN is diagnosed within the scrape timeout instead of after the
// full --timeout.
func TestServeScrapeTimeoutHeader(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "iptables")
	// Behind a router: a host on the client's own link answers ARP, and is
	// then filtered, not down (issue 11).
	n := testbed.Chain(t)
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "-j", "DROP")
	s := startServe(t, n.Client, "[allow]\nnetworks = [\"203.0.113.0/24\"]\n", "--timeout", "3s")

	code, body := s.do("GET", probeURL("203.0.113.2:8282"), "X-Prometheus-Scrape-Timeout-Seconds", "2")
	ms := metrics(t, body)
	if code != 200 || causeOf(ms) != "host_down" {
		t.Fatalf("with a 2 s scrape timeout: %d, cause %q\n%s", code, causeOf(ms), body)
	}
	if d := ms["probe_duration_seconds"]; d >= 2 {
		t.Errorf("probe_duration_seconds %v: the probe must end before the 2 s scrape timeout", d)
	}
	_, text := s.do("GET", probeURL("203.0.113.2:8282", "debug", "true"), "X-Prometheus-Scrape-Timeout-Seconds", "2")
	if !strings.Contains(text, "of at most 1.5s (scrape timeout 2s less --timeout-offset 500ms), 1.35s per connection attempt.") ||
		!strings.Contains(text, "host_down") {
		t.Errorf("debug text:\n%s", text)
	}
	// --timeout-offset is the exporter's, and applies the same way.
	// Without the header the full --timeout runs.
	_, body = s.do("GET", probeURL("203.0.113.2:8282"))
	ms = metrics(t, body)
	if causeOf(ms) != "host_down" || ms["probe_duration_seconds"] < 3 {
		t.Errorf("without the header: cause %q after %vs, want host_down after the 3 s --timeout", causeOf(ms), ms["probe_duration_seconds"])
	}
}

// A good configuration is taken on SIGHUP and POST /-/reload; a bad one is
// refused, said so, and the old one stays in force.
func TestServeReload(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	s := startServe(t, n.Client, "[modules.a]\ntimeout = \"1s\"\n")
	module := func(name string) int {
		code, _ := s.do("GET", probeURL("127.0.0.1:1", "module", name))
		return code
	}
	hup := func() {
		if err := syscall.Kill(s.proc.Pid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	waitLog := func(substr string, count int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); strings.Count(s.proc.Stderr(), substr) < count; {
			if time.Now().After(deadline) {
				t.Fatalf("no %d× %q in serve's log:\n%s", count, substr, s.proc.Stderr())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if module("a") != 200 || module("b") != 400 {
		t.Fatal("before any reload: a must work, b must not")
	}

	s.writeConfig("[modules.b]\nprobe_ports = []\n")
	hup()
	waitLog("Configuration reloaded from "+s.config+"; modules: b, default.", 1)
	if module("b") != 200 || module("a") != 400 {
		t.Error("after SIGHUP with a good file: b must work and a be gone")
	}

	s.writeConfig("[modules.c]\nprotocol = \"gopher\"\n")
	hup()
	waitLog("The configuration was not reloaded; the one in force stays: "+s.config+`: module "c": protocol "gopher"`, 1)
	if module("b") != 200 || module("c") != 400 {
		t.Error("after SIGHUP with a bad file the old configuration must stay")
	}
	code, body := s.do("POST", "/-/reload")
	if code != 500 || !strings.Contains(body, `module "c": protocol "gopher" is not one of`) {
		t.Errorf("POST /-/reload with a bad file: %d %s", code, body)
	}
	_, own := s.do("GET", "/metrics")
	if metrics(t, own)["conndiag_exporter_config_last_reload_successful"] != 0 {
		t.Error("config_last_reload_successful must be 0 after a refused reload")
	}

	s.writeConfig("[modules.d]\n")
	if code, body := s.do("POST", "/-/reload"); code != 200 || !strings.Contains(body, "modules: d, default.") {
		t.Errorf("POST /-/reload with a good file: %d %s", code, body)
	}
	if module("d") != 200 || module("b") != 400 {
		t.Error("after POST /-/reload with a good file: d must work and b be gone")
	}
	_, own = s.do("GET", "/metrics")
	if metrics(t, own)["conndiag_exporter_config_last_reload_successful"] != 1 {
		t.Error("config_last_reload_successful must be 1 after a good reload")
	}
	if s.proc.Err() != nil {
		t.Errorf("serve exited: %v", s.proc.Err())
	}
}
