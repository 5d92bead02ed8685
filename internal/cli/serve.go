package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/conndiag/conndiag/internal/diagnose"
	"github.com/conndiag/conndiag/internal/exporter"
	"github.com/conndiag/conndiag/internal/i18n"
)

type serveFlags struct {
	listen        string
	config        string
	timeoutOffset string
	concurrency   int
	history       int
	checkConfig   bool
}

func newServe(g *globals) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Prometheus exporter: /probe?target=... runs a diagnosis and exposes why it fails",
		Long: `Serve a Prometheus exporter in blackbox_exporter's conventions. Each
GET /probe?target=TARGET&module=NAME runs one diagnosis (as conndiag check) and
answers with probe_success, probe_duration_seconds, probe_dns_lookup_time_seconds,
conndiag_probe_phase_duration_seconds{phase}, conndiag_probe_outcome{outcome} and
conndiag_probe_cause{cause,confidence}; debug=true gives the diagnosis as text.
Prometheus' X-Prometheus-Scrape-Timeout-Seconds, less --timeout-offset, bounds
each probe. /metrics has the exporter's own metrics, / the last probes.

Only targets in the configuration's allow-list are probed: by default loopback
(127.0.0.0/8, ::1, localhost). Any other target is answered 403 and nothing is
sent to it, not even a DNS query. A request picks only the target and a module;
timeouts, probe ports, resolvers and CDN ranges come from the configuration.

--config FILE (TOML) defines modules and the allow-list:
  [allow]
  networks = ["10.0.0.0/8", "2001:db8::/32"]
  names    = ["*.example.com"]
  [modules.ws]
  protocol    = "ws"          # a host:port target is probed as ws://host:port/
  timeout     = "2s"          # per connection attempt (default --timeout)
  probe_ports = [22, 443]     # [] for none
  expect_ip   = "203.0.113.5"
  resolver    = "1.1.1.1"
  cdn_ranges  = "edges.txt"   # relative to the configuration file
SIGHUP or POST /-/reload re-reads it; a configuration that does not load is
refused and the one in force stays.

Exit status: 0 after Ctrl-C or SIGTERM, 2 for a bad flag or configuration, 3 when
the address cannot be listened on.`,
		Example: `  conndiag serve
  conndiag serve --listen 127.0.0.1:9115 --config /etc/conndiag/serve.toml
  conndiag serve --config serve.toml --check-config
  curl 'http://localhost:9115/probe?target=127.0.0.1:22&debug=true'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), g, f)
		},
	}
	g.addFlags(cmd, flagJSON|flagTimeout|flagLang, "log lines on stderr as JSON, one object a line")
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", ":9115", "address to serve on")
	fl.StringVar(&f.config, "config", "", "configuration file (TOML): modules and the allow-list")
	fl.StringVar(&f.timeoutOffset, "timeout-offset", "0.5", "taken off Prometheus' scrape timeout for each probe (seconds, or a duration such as 500ms)")
	fl.IntVar(&f.concurrency, "concurrency", exporter.DefaultConcurrency, "probes run at once; more wait for a free slot until their deadline")
	fl.IntVar(&f.history, "history", exporter.DefaultHistory, "probes kept for the landing page (0 for none)")
	fl.BoolVar(&f.checkConfig, "check-config", false, "check the configuration, then exit (0 when it loads)")
	return cmd
}

// parseOffset reads --timeout-offset: seconds as blackbox_exporter takes
// them ("0.5"), or a Go duration ("500ms").
func parseOffset(s string) (time.Duration, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil && v >= 0 && v < 3600 {
		return time.Duration(v * float64(time.Second)), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 && d < time.Hour {
		return d, nil
	}
	return 0, usage("platform.usage.timeout_offset", "Value", quote(s))
}

func runServe(ctx context.Context, g *globals, f serveFlags) error {
	offset, err := parseOffset(f.timeoutOffset)
	if err != nil {
		return err
	}
	if f.concurrency < 1 {
		return usage("platform.usage.at_least", "Flag", "--concurrency", "Min", 1, "Got", f.concurrency)
	}
	if f.history < 0 {
		return usage("platform.usage.not_negative", "Flag", "--history", "Got", f.history)
	}
	if f.config == "" && f.checkConfig {
		return usage("platform.usage.check_config")
	}
	p := g.printer
	var logMu sync.Mutex
	logf := func(m i18n.Msg) {
		logMu.Lock()
		defer logMu.Unlock()
		writeServeLog(g.stderr, g.json, p.Text(m))
	}
	history := f.history
	if history == 0 {
		history = -1
	}
	if offset == 0 {
		offset = -1 // none, rather than the default
	}
	e, err := exporter.New(exporter.Options{
		ConfigFile: f.config, Timeout: g.timeout, TimeoutOffset: offset, Concurrency: f.concurrency, History: history,
		Printer: p, Version: version(), Log: logf,
		Render: func(w io.Writer, r diagnose.Report) { renderHuman(w, r, p, false) },
	})
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) && pathErr.Path == f.config {
		return usageMsg(fileMsg("--config", f.config, err)) // as -f and --log say it
	}
	if err != nil {
		return usage("platform.usage.flag_text", "Flag", "--config", "Text", err.Error())
	}
	cfg := e.Config()
	if f.checkConfig {
		fmt.Fprintln(g.stdout, p.T("serve.config_ok", "File", cfg.File, "List", strings.Join(cfg.ModuleNames(), ", ")))
		return nil
	}
	if !validListenAddr(f.listen) {
		return usage("platform.usage.serve_listen", "Addr", quote(f.listen))
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return toolFail("platform.err.serve_listen", "Addr", f.listen, "Why", fileReason(err))
	}
	srv := exporter.Server(f.listen, e.Handler())
	logf(i18n.M("serve.listening", "Addr", ln.Addr().String(), "List", strings.Join(cfg.ModuleNames(), ", "),
		"Slots", e.Concurrency()))
	logf(i18n.M("serve.allowed", "List", e.AllowSummary()))

	stopHUP := onHangup(func() {
		if err := e.Reload(); errors.Is(err, exporter.ErrNoConfig) {
			logf(i18n.M("serve.log.hup_no_config"))
		}
	})
	defer stopHUP()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return toolFail("platform.err.serve", "Addr", f.listen, "Why", fileReason(err))
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return toolFail("platform.err.serve", "Addr", f.listen, "Why", fileReason(err))
	}
	logf(i18n.M("serve.stopped"))
	return nil
}

// writeServeLog writes one log line: text, or a JSON object with --json.
func writeServeLog(w io.Writer, asJSON bool, text string) {
	now := time.Now()
	if asJSON {
		b, _ := json.Marshal(map[string]string{"time": now.UTC().Format(time.RFC3339Nano), "msg": text})
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	fmt.Fprintf(w, "%s %s\n", now.Format("15:04:05"), text)
}

// validListenAddr: HOST:PORT or :PORT with a port of 0 to 65535 (the host,
// a name or an address, is left to the listen itself).
func validListenAddr(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	_, err = strconv.ParseUint(port, 10, 16)
	return err == nil
}
