package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/conndiag/conndiag/internal/diagnose"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/listen"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

// A demo scenario starts a local endpoint that reproduces one checklist
// item, then diagnoses it like any other target.
type scenario struct {
	id    string // catalog key demo.ID
	want  verdict.Cause
	start func() (tgt string, stop func(), err error)
	// linux: the verdict needs Linux's socket table (sock_diag) and
	// 127.0.0.2, which macOS and FreeBSD do not configure; elsewhere the
	// scenario is skipped and said so.
	linux bool
}

func newDemo(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start local test endpoints with known faults and diagnose them (no network needed)",
		Long: `Starts endpoints on this machine's loopback addresses, each reproducing one item of the
checklist (a working server, a stopped server, a server bound to another address, ...),
and runs 'conndiag check' against each. Exit status 0 when every verdict is the expected one.`,
		Example: "  conndiag demo\n  conndiag demo --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd, g)
		},
	}
	g.addFlags(cmd, flagJSON|flagTimeout|flagLang|flagColor, "one JSON object per scenario on stdout (JSON Lines)")
	return cmd
}

func demoScenarios() []scenario {
	return []scenario{
		{"ok", verdict.CauseOK, func() (string, func(), error) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return "", nil, err
			}
			go acceptAndClose(ln)
			return ln.Addr().String(), func() { ln.Close() }, nil
		}, false},
		{"not_listening", verdict.CauseNotListening, func() (string, func(), error) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return "", nil, err
			}
			addr := ln.Addr().String()
			ln.Close() // a port that was just free: the "server is stopped" case
			return addr, func() {}, nil
		}, false},
		{"ws_ok", verdict.CauseOK, endpoint("websocket://127.0.0.1:0", "ws://%s/"), false},
		{"ws_upgrade_rejected", verdict.CauseWSUpgradeRejected, endpoint("http://127.0.0.1:0", "ws://%s/chat"), false},
		{"not_http", verdict.CauseNotHTTP, endpoint("text://127.0.0.1:0", "ws://%s/"), false},
		{"tls_unexpected", verdict.CauseTLSUnexpected, endpoint("websocket://127.0.0.1:0", "wss://%s/"), false},
		{"bound_to_other_address", verdict.CauseBoundToOtherAddress, func() (string, func(), error) {
			ln, err := net.Listen("tcp", "127.0.0.2:0")
			if err != nil {
				return "", nil, err
			}
			go acceptAndClose(ln)
			port := netip.MustParseAddrPort(ln.Addr().String()).Port()
			return fmt.Sprintf("127.0.0.1:%d", port), func() { ln.Close() }, nil
		}, true},
	}
}

// endpoint starts a conndiag listen endpoint on a free port, and names the
// target a (possibly mistaken) client would use for it.
func endpoint(uri, client string) func() (string, func(), error) {
	return func() (string, func(), error) {
		ep, err := listen.ParseEndpoint(uri)
		if err != nil {
			return "", nil, err
		}
		srv, err := listen.Listen(context.Background(), listen.Config{Version: version()}, []listen.Endpoint{ep})
		if err != nil {
			return "", nil, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { srv.Serve(ctx); close(done) }()
		stop := func() { cancel(); <-done }
		return fmt.Sprintf(client, srv.Bound()[0].Addr), stop, nil
	}
}

// acceptAndClose accepts each connection and keeps it until the client
// closes it, as a server does (one that closes at once is a finding of its
// own: a forwarder whose backend is down).
func acceptAndClose(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			io.Copy(io.Discard, c)
		}()
	}
}

func runDemo(cmd *cobra.Command, g *globals) error {
	p := g.printer
	if !g.json {
		fmt.Fprintln(g.stdout, style{g.color}.head(p.T("demo.intro")))
	}
	opt := diagnose.Options{Timeout: g.timeout, ProbePorts: []uint16{}}
	matched := 0
	var scs, skipped []scenario
	for _, sc := range demoScenarios() {
		if sc.linux && runtime.GOOS != "linux" {
			skipped = append(skipped, sc)
			continue
		}
		scs = append(scs, sc)
	}
	for i, sc := range scs {
		raw, stop, err := sc.start()
		if err != nil {
			return toolFail("platform.err.demo_start", "What", p.T("demo."+sc.id), "Err", err.Error())
		}
		t, err := target.Parse(raw)
		if err != nil {
			stop()
			return toolFail("platform.err.demo_start", "What", p.T("demo."+sc.id), "Err", err.Error())
		}
		r := diagnose.Check(cmd.Context(), t, opt)
		stop()
		if len(r.Findings) > 0 && r.Findings[0].Cause == sc.want {
			matched++
		}
		if g.json {
			if err := writeJSON(g.stdout, r, p); err != nil {
				return writeErr(err)
			}
			continue
		}
		fmt.Fprintf(g.stdout, "\n── %d/%d  %s\n", i+1, len(scs), p.T("demo."+sc.id))
		renderHuman(g.stdout, r, p, g.color)
	}
	if !g.json {
		fmt.Fprintf(g.stdout, "\n%s\n", p.T("demo.done", "OK", matched, "N", len(scs)))
		for _, sc := range skipped {
			fmt.Fprintln(g.stdout, p.T("platform.demo.skipped", "What", p.T("demo."+sc.id), "OS", osName(runtime.GOOS)))
		}
	}
	if matched != len(scs) {
		m := i18n.M("platform.err.demo_differ", "Bad", len(scs)-matched, "N", len(scs))
		return &exitError{code: ExitProblem, m: &m}
	}
	return nil
}
