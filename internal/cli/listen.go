package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/conndiag/conndiag/internal/diagnose"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/listen"
	"github.com/conndiag/conndiag/internal/page"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

type listenFlags struct {
	cert, key                     string
	maxMessage, maxLine, maxFrame string
	maxBuffered                   string
	handshake, read, idle         time.Duration
	quiet                         bool
	pageCheck                     bool
	pageTimeout, pageHold         time.Duration
	agent                         bool   // --agent
	agentToken                    string // --agent-token
	agentPorts                    string // --agent-ports
}

func newListen(g *globals) *cobra.Command {
	var f listenFlags
	cmd := &cobra.Command{
		Use:   "listen URI...",
		Short: "Start a known-good test endpoint with Workerman-style URIs",
		Long: `Start known-good test endpoints, to split "the network" from "my application":
stop your server, run this on the same port, and try again from the client.

Every endpoint echoes and answers "whoami" with the client address it sees
(so NAT, proxies or a CDN in between show up):
  websocket://, ws://  WebSocket echo; the text message "whoami" gets the JSON answer
  wss://               the same over TLS
  http://, https://    the browser check page (below); JSON with Accept: application/json
                       or GET /whoami; a WebSocket handshake gets 200 here, as from any
                       HTTP-only server
  text://              Workerman text protocol: each line echoed; the line "whoami"
  frame://             Workerman frame protocol (4-byte length that counts itself)
  tcp://, host:port    raw echo; a connection starting with "whoami\n" gets the answer
  ssl://, tls://       raw echo over TLS

The check page: open http://HOST:PORT/ in the browser that fails. It opens
WebSocket connections from that browser to every WebSocket endpoint of this
listen, joins what the browser saw with what the server saw (did the
connection arrive? from where? did its handshake complete?) and shows the
verdict, in the browser's language. It gives up after --page-timeout on its
own timer, then holds working connections open idle (--page-hold) to catch an
idle timeout on the path. For a URL the person types, the server also runs
conndiag check toward it (ws:// and wss:// only, one at a time, one every 10 s
for each address, never toward a private or loopback network the browser is
not on; --page-check=false turns that off).

0.0.0.0 listens on every IPv4 address, [::] on every address. Port 0 picks a free port.
TLS uses --cert/--key, or a self-signed certificate whose fingerprint is printed.
One log line per connection goes to stderr (JSON with --json).

A client that breaks a limit is the only one closed. Memory is bounded in all:
the connections together hold at most --max-buffered of unfinished lines,
frames, messages and handshakes and of replies they have not read; buffers
grow as bytes arrive, never from a length the client announces, and a
connection whose next bytes do not fit is closed and logged ("max_buffered").
Memory of closed connections goes back to the system within a few seconds.

--agent adds to every http:// and https:// endpoint the API that
conndiag check --agent uses: the client asks it to watch one of --agent-ports
for SYNs from the client's own address for a few seconds while it retries,
and learns whether they arrived (and were dropped here, by which rule) or
never did. Requests must present the token (--agent-token, or the one printed
at start); only the requesting client's SYNs are reported; watches are bounded
in time (10 s) and number (4 at once, one per client). Watching needs root.

Exit status: 0 after Ctrl-C or SIGTERM, 2 for a bad URI or flag, 3 when an
address cannot be bound (the message says why, and which process holds it).`,
		Example: `  conndiag listen websocket://0.0.0.0:8282
  conndiag listen websocket://0.0.0.0:8282 text://0.0.0.0:5678 frame://0.0.0.0:5679 http://0.0.0.0:8080 tcp://0.0.0.0:9000
  conndiag listen wss://0.0.0.0:8443 --cert cert.pem --key key.pem
  conndiag listen ws://[::]:8282 --idle-timeout 0 --quiet
  sudo conndiag listen http://0.0.0.0:8080 --agent --agent-ports 8282`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runListen(cmd, g, f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.cert, "cert", "", "PEM certificate (chain) for wss, https, ssl and tls endpoints")
	fl.StringVar(&f.key, "key", "", "PEM private key for --cert")
	fl.StringVar(&f.maxMessage, "max-message", "1MiB", "largest WebSocket message")
	fl.StringVar(&f.maxLine, "max-line", "64KiB", "longest text line")
	fl.StringVar(&f.maxFrame, "max-frame", "1MiB", "largest frame-protocol frame, its 4-byte header included")
	fl.StringVar(&f.maxBuffered, "max-buffered", "64MiB", "memory all connections together may hold in unfinished messages and unread replies; a connection needing more is closed")
	fl.DurationVar(&f.handshake, "handshake-timeout", 10*time.Second, "time allowed for the TLS and WebSocket handshakes")
	fl.DurationVar(&f.read, "read-timeout", 30*time.Second, "time allowed for a started line, frame or message to arrive, and for the client to read replies")
	fl.DurationVar(&f.idle, "idle-timeout", 10*time.Minute, "close connections silent this long (0: never)")
	fl.BoolVar(&f.quiet, "quiet", false, "no log line per connection")
	fl.BoolVar(&f.pageCheck, "page-check", true, "let the check page have the server run conndiag check toward a URL a visitor types")
	fl.DurationVar(&f.pageTimeout, "page-timeout", page.Timeout, "how long the check page waits for a connection before it gives up")
	fl.DurationVar(&f.pageHold, "page-hold", page.Hold, "how long the check page holds working connections open to catch idle timeouts (0: not at all)")
	fl.BoolVar(&f.agent, "agent", false, "add the agent API to the http:// and https:// endpoints: check --agent asks it to watch for its SYNs (needs root to watch)")
	fl.StringVar(&f.agentToken, "agent-token", "", "the token clients must present (default: generated and printed; or set CONNDIAG_AGENT_TOKEN)")
	fl.StringVar(&f.agentPorts, "agent-ports", "", "the ports the agent may watch, e.g. 8282 or 8282,9000-9010 (required with --agent)")
	g.addFlags(cmd, flagJSON|flagLang, "JSON Lines: one object per endpoint on stdout at start, one per connection on stderr")
	return cmd
}

func runListen(cmd *cobra.Command, g *globals, f listenFlags, args []string) error {
	if len(args) == 0 {
		return usage("platform.usage.listen_none", "Forms", listen.Forms)
	}
	var eps []listen.Endpoint
	for _, a := range args {
		e, err := listen.ParseEndpoint(a)
		if err != nil {
			return usageMsg(errMsg(err))
		}
		eps = append(eps, e)
	}
	cfg := listen.Config{Version: version(), Printer: g.printer, HandshakeTimeout: f.handshake, ReadTimeout: f.read, IdleTimeout: f.idle}
	var err error
	if cfg.MaxMessage, err = parseSize("--max-message", f.maxMessage); err != nil {
		return err
	}
	if cfg.MaxLine, err = parseSize("--max-line", f.maxLine); err != nil {
		return err
	}
	if cfg.MaxFrame, err = parseSize("--max-frame", f.maxFrame); err != nil {
		return err
	}
	if cfg.MaxFrame < 4 {
		return usage("platform.usage.max_frame", "Got", cfg.MaxFrame)
	}
	if cfg.MaxBuffered, err = parseSize("--max-buffered", f.maxBuffered); err != nil {
		return err
	}
	// One client must be able to send its largest message while the echo
	// of the one before is still unread.
	if unit := max(cfg.MaxMessage, cfg.MaxFrame, cfg.MaxLine+1); cfg.MaxBuffered < 2*unit+64<<10 {
		return usage("platform.usage.max_buffered", "Got", f.maxBuffered, "Min", 2*unit+64<<10)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--handshake-timeout", f.handshake}, {"--read-timeout", f.read}} {
		if d.v <= 0 {
			return usage("platform.usage.positive", "Flag", d.name, "Got", d.v.String())
		}
	}
	if f.pageTimeout <= 0 || f.pageTimeout > time.Minute {
		return usageErr("--page-timeout must be from 1ms to 1m, got %s", f.pageTimeout)
	}
	if f.pageHold < 0 || f.pageHold > time.Hour {
		return usageErr("--page-hold must be from 0 to 1h, got %s", f.pageHold)
	}
	cfg.PageTimeout, cfg.PageHold = f.pageTimeout, f.pageHold
	if f.pageHold == 0 {
		cfg.PageHold = -1
	}
	if f.pageCheck {
		cfg.Check = pageCheck(g)
	}
	switch {
	case f.idle < 0:
		return usage("platform.usage.not_negative", "Flag", "--idle-timeout", "Got", f.idle.String())
	case f.idle == 0:
		cfg.IdleTimeout = -1 // never
	}
	if (f.cert == "") != (f.key == "") {
		return usage("platform.usage.cert_key")
	}
	if f.cert != "" && !slices.ContainsFunc(eps, func(e listen.Endpoint) bool { return e.TLS }) {
		return usage("platform.usage.cert_unused")
	}
	if f.cert != "" {
		if cfg.Cert, err = readFile("--cert", f.cert); err != nil {
			return err
		}
		if cfg.Key, err = readFile("--key", f.key); err != nil {
			return err
		}
	}

	ag, err := agentSetup(g, f, eps)
	if err != nil {
		return err
	}
	p := g.printer
	var errMu sync.Mutex
	cfg.Warn = func(m i18n.Msg) {
		go func() {
			errMu.Lock()
			defer errMu.Unlock()
			fmt.Fprintln(g.stderr, p.T("listen.warning", "Text", p.Text(m)))
		}()
	}
	var lg *listen.Log
	if !f.quiet {
		lg = listen.NewLog(g.stderr, logFormat(g))
		cfg.Log = lg.Record
	}

	if ag != nil {
		cfg.Agent = ag.handler(g, f.quiet, cfg.ReadTimeout)
	}
	ctx := cmd.Context()
	srv, err := listen.Listen(ctx, cfg, eps)
	if err != nil {
		if lg != nil {
			lg.Close()
		}
		var ue *listen.URIError
		var ce *listen.CertError
		var be *listen.BindError
		switch {
		case errors.As(err, &ue):
			return usageMsg(errMsg(err))
		case errors.As(err, &ce):
			return usage("platform.usage.flag_text", "Flag", "--cert", "Text", err.Error())
		case errors.As(err, &be):
			return toolErr("%s", p.Text(be.Msg()))
		default:
			return toolFail("platform.err.listen", "Err", err.Error())
		}
	}
	started := time.Now()
	printStartup(g, srv)
	if ag != nil {
		ag.printStartup(g, srv)
	}
	_ = srv.Serve(ctx)
	st := srv.Stats()
	if lg != nil {
		lg.Close()
		if n := lg.Dropped(); n > 0 {
			fmt.Fprintln(g.stderr, p.T("listen.log_dropped", "N", n))
		}
	}
	if g.json {
		return encodeLine(g, map[string]any{"stopped": true, "connections": st.Accepted, "duration_ms": time.Since(started).Milliseconds()})
	}
	fmt.Fprintln(g.stdout, p.T("listen.stopped", "N", st.Accepted, "Dur", time.Since(started).Round(time.Second).String()))
	return nil
}

func encodeLine(g *globals, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return writeErr(err)
	}
	if _, err := fmt.Fprintf(g.stdout, "%s\n", b); err != nil {
		return writeErr(err)
	}
	return nil
}

// jsonListening is one endpoint in --json startup output.
type jsonListening struct {
	Listening   string   `json:"listening"`
	Scheme      string   `json:"scheme"`
	Proto       string   `json:"proto"`
	Address     string   `json:"address"`
	TLS         bool     `json:"tls"`
	Fingerprint string   `json:"fingerprint,omitempty"`
	Warnings    []string `json:"warnings"`
}

func printStartup(g *globals, srv *listen.Server) {
	p := g.printer
	cert := srv.Cert()
	for _, b := range srv.Bound() {
		if g.json {
			j := jsonListening{Listening: b.URI, Scheme: b.Scheme, Proto: string(b.Proto), Address: b.Addr.String(),
				TLS: b.TLS, Warnings: texts(b.Warnings, p)}
			if b.TLS && cert != nil {
				j.Fingerprint = cert.Fingerprint
			}
			_ = encodeLine(g, j)
			continue
		}
		what := ""
		switch b.Proto {
		case listen.WebSocket:
			what = p.T("listen.what.websocket")
		case listen.HTTP:
			what = p.T("listen.what.http")
		case listen.Text:
			what = p.T("listen.what.text")
		case listen.Frame:
			what = p.T("listen.what.frame")
		default:
			what = p.T("listen.what.tcp")
		}
		if b.TLS {
			what = p.T("listen.what.tls", "What", what)
		}
		fmt.Fprintln(g.stdout, p.T("listen.listening", "URI", b.URI, "What", what))
		for _, w := range b.Warnings {
			fmt.Fprintln(g.stdout, p.T("listen.warning", "Text", p.Text(w)))
		}
	}
	if g.json {
		return
	}
	if cert != nil {
		if cert.SelfSigned {
			fmt.Fprintln(g.stdout, p.T("listen.cert.self", "FP", cert.Fingerprint))
		} else {
			fmt.Fprintln(g.stdout, p.T("listen.cert.given", "Subject", cert.Subject, "Until", cert.NotAfter.Format("2006-01-02"), "FP", cert.Fingerprint))
		}
	}
	fmt.Fprintln(g.stdout, p.T("listen.ready"))
}

type jsonConnLog struct {
	Time       string `json:"time"`
	Endpoint   string `json:"endpoint"`
	Proto      string `json:"proto"`
	Peer       string `json:"peer"`
	Local      string `json:"local"`
	BytesIn    uint64 `json:"bytes_in"`
	BytesOut   uint64 `json:"bytes_out"`
	DurationMS int64  `json:"duration_ms"`
	Reason     string `json:"reason"`
	Message    string `json:"message"`
}

func logFormat(g *globals) func(listen.Record) []byte {
	p := g.printer
	if g.json {
		return func(r listen.Record) []byte {
			b, _ := json.Marshal(jsonConnLog{
				Time: r.Time.UTC().Format(time.RFC3339Nano), Endpoint: r.Endpoint, Proto: string(r.Proto),
				Peer: r.Peer.String(), Local: r.Local.String(), BytesIn: r.In, BytesOut: r.Out,
				DurationMS: r.Duration.Milliseconds(), Reason: r.Reason.Code, Message: p.Text(r.Reason.Msg),
			})
			return append(b, '\n')
		}
	}
	return func(r listen.Record) []byte {
		return []byte(p.T("listen.log", "Time", r.Time.Format("15:04:05"), "URI", r.Endpoint, "Peer", r.Peer.String(),
			"In", r.In, "Out", r.Out, "Dur", r.Duration.Round(time.Millisecond).String(), "Why", p.Text(r.Reason.Msg)) + "\n")
	}
}

// parseSize reads a byte count: 4096, 64KiB, 64K, 1MiB, 1M (powers of 1024).
func parseSize(flag, s string) (int, error) {
	t := strings.TrimSpace(strings.ToLower(s))
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.Atoi(t)
	if err != nil || n <= 0 || n > (1<<31-1)/mult {
		return 0, usage("platform.usage.size", "Flag", flag, "Value", quote(s))
	}
	return n * mult, nil
}

// pageCheck is the server's own view for the check page: conndiag check
// toward a URL a visitor typed, with the default probes and --timeout.
func pageCheck(g *globals) listen.CheckFunc {
	return func(ctx context.Context, url string) ([]verdict.Finding, []netip.Addr) {
		t, err := target.Parse(url)
		if err != nil {
			return nil, nil
		}
		r := diagnose.Check(ctx, t, diagnose.Options{Timeout: g.timeout})
		if r.Cancelled {
			return nil, nil
		}
		var tried []netip.Addr
		for _, a := range r.Evidence.Addrs {
			tried = append(tried, a.Addr.Addr())
		}
		return r.Findings, tried
	}
}
