package exporter

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkProbeLoopback measures /probe requests per second at the default
// concurrency (16), each a real diagnosis of a loopback target (one open port,
// one closed), through the exporter's handler. bench/serve.sh runs it.
func BenchmarkProbeLoopback(b *testing.B) {
	open, closed := loopbackPorts(b)

	e, err := New(Options{Concurrency: 16, History: 100})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	targets := []string{open, closed}

	b.ResetTimer()
	b.SetParallelism(8) // 8 × GOMAXPROCS(2) = 16 in flight on the 2-core CI machine
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			res, err := client.Get(srv.URL + probePathFor(targets[i%2]))
			i++
			if err != nil {
				b.Error(err)
				return
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || !strings.Contains(string(body), "conndiag_probe_cause{") {
				b.Errorf("status %d: %.200s", res.StatusCode, body)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "probes/s")
}

func probePathFor(target string) string { return "/probe?target=" + target }
