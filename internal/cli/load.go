package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/conndiag/conndiag/internal/diagnose"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/load"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

type loadFlags struct {
	hold        int
	short       bool
	rate        float64
	duration    time.Duration
	concurrency int
	source      string
	ping        time.Duration
	yes         bool
}

func newLoad(g *globals) *cobra.Command {
	var f loadFlags
	cmd := &cobra.Command{
		Use:   "load TARGET",
		Short: "Open many connections and report the ceiling reached and why",
		Long: `Open many connections to TARGET, held (--hold N) or short (--short), and report
how many this client reached, how fast, and why it stopped.

Before the first connection a preflight reads this machine's limits — the local
port range, the sockets already toward that destination, TIME_WAIT and
tcp_tw_reuse, the descriptor limit, conntrack — and predicts the ceiling.
The first failure gets the diagnosis of 'conndiag check' while the connections
are still open; errors are grouped by cause code. Held connections that die
are timed: many dying at one age is an idle timeout in between.

ws:// and wss:// targets complete the WebSocket handshake (--ping sends pings),
http:// and https:// send one GET per connection, plain targets only connect.
--source takes several addresses or ranges (127.0.0.2-127.0.0.20,10.0.0.2):
with IP_BIND_ADDRESS_NO_PORT each address has its own range of ports.

It stops at N, at --duration, or on Ctrl-C, closing what it opened. A target
that is not a loopback or private address needs --yes.

Targets: ` + target.Forms + `

Exit status: 0 when every connection worked and none died, 1 when some failed
or died, 2 for bad input, 3 when the run could not start, 130 on Ctrl-C.`,
		Example: `  conndiag load ws://127.0.0.1:8282/ --hold 10000
  conndiag load 10.0.0.5:8282 --hold 50000 --source 10.0.0.2,10.0.0.3 --duration 5m
  conndiag load ws://10.0.0.5:8282/ --hold 1000 --duration 10m --ping 30s
  conndiag load http://127.0.0.1:8080/ --short --rate 2000 --duration 30s`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLoad(cmd, g, f, args)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.hold, "hold", 0, "open N connections and keep them until --duration ends")
	fl.BoolVar(&f.short, "short", false, "open and close connections as fast as --rate allows, for --duration")
	fl.Float64Var(&f.rate, "rate", 0, "new connections per second (0: as fast as --concurrency allows); latency counts from each planned start")
	fl.DurationVar(&f.duration, "duration", 10*time.Second, "length of the whole run (0: until Ctrl-C)")
	fl.IntVar(&f.concurrency, "concurrency", load.DefaultConcurrency, "connections being opened at once (--short: alive at once)")
	fl.StringVar(&f.source, "source", "", "local addresses to connect from, in turn: addresses, ranges (127.0.0.2-127.0.0.20) or prefixes, comma-separated")
	fl.DurationVar(&f.ping, "ping", 0, "WebSocket ping interval for held connections (0: none)")
	fl.BoolVar(&f.yes, "yes", false, "allow a target that is not a loopback or private address (only a server you run)")
	g.addFlags(cmd, flagJSON|flagTimeout|flagLang|flagColor, "one JSON object on stdout when the run ends")
	return cmd
}

// maxHold bounds --hold: far above what one process's descriptors allow.
const maxHold = 10_000_000

func runLoad(cmd *cobra.Command, g *globals, f loadFlags, args []string) error {
	if len(args) != 1 {
		return usage("platform.usage.load_one", "N", len(args))
	}
	t, err := parseTarget(args[0])
	if err != nil {
		return targetErr(err)
	}
	switch {
	case f.short && f.hold > 0:
		return usage("platform.usage.load_short_hold")
	case !f.short && f.hold <= 0 && cmd.Flags().Changed("hold"):
		return usage("platform.usage.at_least", "Flag", "--hold", "Min", 1, "Got", f.hold)
	case !f.short && f.hold == 0:
		return usage("platform.usage.load_how")
	case f.hold > maxHold:
		return usage("platform.usage.at_most", "Flag", "--hold", "Max", maxHold, "Got", f.hold)
	case f.concurrency < 1:
		return usage("platform.usage.at_least", "Flag", "--concurrency", "Min", 1, "Got", f.concurrency)
	case f.rate < 0:
		return usage("platform.usage.not_negative", "Flag", "--rate", "Got", fmt.Sprintf("%g", f.rate))
	case f.duration < 0:
		return usage("platform.usage.not_negative", "Flag", "--duration", "Got", f.duration.String())
	case f.ping < 0:
		return usage("platform.usage.not_negative", "Flag", "--ping", "Got", f.ping.String())
	case f.ping > 0 && t.Protocol() != target.WebSocket:
		return usage("platform.usage.ping_ws", "Scheme", t.Scheme)
	case f.ping > 0 && f.short:
		return usage("platform.usage.ping_short")
	case f.ping > 0 && f.ping < 10*time.Millisecond:
		return usage("platform.usage.ping_often", "Got", f.ping.String())
	}
	var sources []netip.Addr
	if f.source != "" {
		if sources, err = load.ParseSources(f.source); err != nil {
			// load's errors name the flag already.
			return usage("platform.usage.flag_text", "Flag", "--source", "Text", strings.TrimPrefix(err.Error(), "--source: "))
		}
	}
	dst, err := resolveLoad(cmd.Context(), t, sources, g.timeout)
	if err != nil {
		return err
	}
	if !f.yes && !dst.Addr().IsLoopback() && !dst.Addr().IsPrivate() {
		return usage("platform.usage.load_yes", "Addr", dst.Addr().String())
	}
	if len(sources) > 0 && sources[0].Is4() != dst.Addr().Is4() {
		return usage("platform.usage.load_family", "Source", sources[0].String(), "Addr", dst.Addr().String())
	}
	mode := load.Hold
	if f.short {
		mode = load.Short
	}
	ctx := cmd.Context()
	cfg := load.Config{Target: t, Dst: dst, Mode: mode, Hold: f.hold, Rate: f.rate, Duration: f.duration,
		Concurrency: f.concurrency, Timeout: g.timeout, Sources: sources, Ping: f.ping}
	cfg.Check = func(src netip.Addr) []verdict.Finding {
		cctx, cancel := context.WithTimeout(ctx, 4*g.timeout)
		defer cancel()
		return diagnose.Check(cctx, t, diagnose.Options{Timeout: g.timeout, Source: src, Getenv: g.getenv}).Findings
	}
	live := newLiveLine(g)
	if live != nil {
		cfg.Progress = live.show
	}
	rn, err := load.Prepare(ctx, cfg)
	if err != nil {
		if errors.Is(err, load.ErrUnsupported) {
			return toolFail("platform.err.load_unsupported", "OS", osName(runtime.GOOS))
		}
		return toolFail("platform.err.load_start", "Err", err.Error())
	}
	if !g.json {
		renderPreflight(g.stdout, cfg, rn.Facts, rn.Prediction, g.printer, style{g.color})
	}
	rep := rn.Run()
	live.clear()
	if g.json {
		b, err := json.Marshal(loadJSON(rep, g.printer))
		if err != nil {
			return writeErr(err)
		}
		fmt.Fprintf(g.stdout, "%s\n", b)
	} else {
		renderLoad(g.stdout, rep, g.printer, style{g.color})
	}
	switch {
	case rep.Interrupted:
		return &exitError{code: ExitInterrupted, msg: "interrupted; every connection the load opened is closed"}
	case rep.Problem():
		return errProblem
	}
	return nil
}

// resolveLoad gives the address to load: the literal, or the name's first
// address of the sources' family.
func resolveLoad(ctx context.Context, t target.Target, sources []netip.Addr, timeout time.Duration) (netip.AddrPort, error) {
	if a, ok := t.IP(); ok {
		return netip.AddrPortFrom(a.Unmap(), t.Port), nil
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	as, err := net.DefaultResolver.LookupNetIP(rctx, "ip", t.Host)
	if err != nil || len(as) == 0 {
		return netip.AddrPort{}, toolFail("platform.err.load_resolve", "Host", t.Host, "Target", t.Raw)
	}
	for _, a := range as {
		if len(sources) == 0 || a.Unmap().Is4() == sources[0].Is4() {
			return netip.AddrPortFrom(a.Unmap(), t.Port), nil
		}
	}
	return netip.AddrPortFrom(as[0].Unmap(), t.Port), nil
}

// liveLine redraws one status line on a terminal's stderr.
type liveLine struct {
	mu    sync.Mutex
	w     io.Writer
	p     *i18n.Printer
	drawn bool
}

func newLiveLine(g *globals) *liveLine {
	if !isTerminal(g.stderr) {
		return nil
	}
	return &liveLine{w: g.stderr, p: g.printer}
}

func (l *liveLine) show(pr load.Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	line := l.p.T("load.ui.live", "Elapsed", fmt.Sprintf("%.1f s", pr.Elapsed.Seconds()), "Open", pr.Open,
		"Est", pr.Established, "Rate", fmt.Sprintf("%.0f", pr.Rate))
	if len(pr.Errors) > 0 {
		line += "  " + l.p.T("load.ui.live.errors", "Errors", errorsText(pr.Errors))
	}
	fmt.Fprintf(l.w, "\r\x1b[K%s", line)
	l.drawn = true
}

func (l *liveLine) clear() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.drawn {
		fmt.Fprint(l.w, "\r\x1b[K")
	}
}

func errorsText(m map[verdict.Cause]int64) string {
	type kv struct {
		c verdict.Cause
		n int64
	}
	var list []kv
	for c, n := range m {
		list = append(list, kv{c, n})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].n > list[j].n || (list[i].n == list[j].n && list[i].c < list[j].c) })
	var parts []string
	for _, e := range list {
		parts = append(parts, fmt.Sprintf("%s %d", e.c, e.n))
	}
	return strings.Join(parts, ", ")
}
