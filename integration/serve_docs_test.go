//go:build linux

package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/conndiag/conndiag/internal/testbed"
)

// The scrape configuration, alert rules and Grafana dashboard in docs/serve
// are what users copy: Prometheus' own promtool must accept them, the alert
// tests must pass, and every metric they name must be one the exporter serves.
func TestServeDocs(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "promtool")
	dir, err := filepath.Abs("../docs/serve")
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "conndiag-alerts.yml"},
		{"test", "rules", "conndiag-alerts_test.yml"},
	} {
		cmd := exec.Command("promtool", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	// The names the exporter serves, from a real probe and its own /metrics.
	ns := testbed.New(t).NS("client")
	ns.Run(t, "ip", "link", "set", "lo", "up")
	s := startServe(t, ns, "")
	served := map[string]bool{}
	for _, path := range []string{probeURL("127.0.0.1:1"), "/metrics"} {
		code, body := s.do("GET", path)
		if code != 200 {
			t.Fatalf("GET %s: %d\n%s", path, code, body)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
		if err != nil {
			t.Fatalf("GET %s: not the text format: %v", path, err)
		}
		for name, mf := range mfs {
			served[name] = true
			if mf.GetType() == dto.MetricType_HISTOGRAM {
				for _, suf := range []string{"_bucket", "_count", "_sum"} {
					served[name+suf] = true
				}
			}
		}
	}

	var exprs []string
	alerts, err := os.ReadFile(filepath.Join(dir, "conndiag-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	exprs = append(exprs, string(alerts))
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct{ List []struct{ Query any } }
	}
	b, err := os.ReadFile(filepath.Join(dir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if len(dash.Panels) == 0 {
		t.Fatal("the dashboard has no panels")
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			exprs = append(exprs, q.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(string); ok {
			exprs = append(exprs, q)
		}
	}
	name := regexp.MustCompile(`\b(?:conndiag|probe)_[a-z_]+\b`)
	seen := 0
	for _, e := range exprs {
		for _, m := range name.FindAllString(e, -1) {
			seen++
			if !served[m] {
				t.Errorf("docs/serve names %s, which the exporter does not serve", m)
			}
		}
	}
	if seen < 10 {
		t.Errorf("found only %d metric names in docs/serve", seen)
	}
}
