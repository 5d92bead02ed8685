package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/conndiag/conndiag/internal/agent"
	"github.com/conndiag/conndiag/internal/cdn"
	"github.com/conndiag/conndiag/internal/diagnose"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

type checkFlags struct {
	file        string
	concurrency int
	probePorts  string
	source      string
	expectIP    string // --expect-ip
	resolver    string // --resolver
	cdnRanges   string // --cdn-ranges
	trace       bool
	numeric     bool
	origin      string        // --origin
	agent       string        // --agent URL
	agentToken  string        // --agent-token
	agentWatch  time.Duration // --agent-watch
}

func newCheck(g *globals) *cobra.Command {
	var f checkFlags
	cmd := &cobra.Command{
		Use:   "check TARGET...",
		Short: "Diagnose reaching TARGET from here: verdict, evidence and fix",
		Long: `Diagnose reaching each TARGET from this machine. Every address of a name is tried (at most 16);
a silent port is judged against other ports of the same host (--probe-ports), so
"filtered" (host up, port dropped) is told from "host down".

Targets: ` + target.Forms + `

-f FILE (- for stdin) reads targets one a line (# starts a comment) and diagnoses
many at once: what is per host (probe ports, route, neighbour, DNS answers) is
measured once for all the host's targets, and without --concurrency the width
comes from the open-file limit (up to 512 targets, over at most 32 hosts at
once). Reports come in the order of the file, a summary by cause ends a human
run, a progress bar is drawn on stderr when it is a terminal, and memory stays
bounded by the width however long the file is. A regular file is checked
whole before any diagnosis starts, so a bad line is exit 2 naming FILE:LINE with
nothing on stdout. Stdin and pipes are read as they come: a bad line stops the
reading there, the targets before it are still reported, and the exit status is 2.
A line is at most 64 KiB.

A connection that times out or is rejected by a box on the way is traced: SYNs
with TTL 1, 2, … toward the port, and toward a port of the host that answers, all
at once, draw the path and tell where the SYN dies (--trace draws it always).
--agent asks a conndiag listen --agent on the server to watch while a port that
timed out is retried: the SYNs arrived and were dropped there (firewall_local),
or never arrived (filtered_upstream).

At most 16 addresses of a name are tried (IPv4 and IPv6 in turn); the others are
counted. Sockets are bounded by the open-file limit (ulimit -n): a --concurrency
above what it allows waits for descriptors instead of failing.

Exit status: 0 when every target is reachable, 1 when a problem was diagnosed,
2 for bad input, 3 when a needed step could not run, 130 when interrupted
(Ctrl-C: what finished is printed, the targets not diagnosed are named on stderr).`,
		Example: `  conndiag check example.com:80
  conndiag check 203.0.113.5:8282 --probe-ports 22,80,443,3306
  conndiag check ws://example.com:8282/chat --json
  conndiag check 10.0.0.5:8080 --source 10.0.0.2
  conndiag check ws://example.com:8282/ --expect-ip 203.0.113.5 --resolver 1.1.1.1
  conndiag check wss://example.com/chat --origin https://app.example.com
  conndiag check -f targets.txt --concurrency 16
  conndiag check 203.0.113.5:8282 --trace
  conndiag check 203.0.113.5:8282 --agent http://203.0.113.5:8080 --agent-token TOKEN`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCheck(cmd, g, f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", "", "read targets from FILE (- for stdin), one a line (# starts a comment)")
	fl.IntVar(&f.concurrency, "concurrency", 0, "how many targets to diagnose at once (auto: from the open-file limit, up to 512 ports of a few hosts or 32 hosts at once)")
	fl.Lookup("concurrency").DefValue = "auto"
	fl.StringVar(&f.probePorts, "probe-ports", "22,80,443", "other ports tried to tell \"host up\" from \"host down\" (comma-separated; empty for none)")
	fl.StringVar(&f.source, "source", "", "local address to connect from")
	fl.StringVar(&f.expectIP, "expect-ip", "", "the address you believe the server has: a name resolving elsewhere is dns_mismatch")
	fl.StringVar(&f.resolver, "resolver", "", "also ask this DNS server (IP[:PORT]) and compare its answer with the system's")
	fl.StringVar(&f.cdnRanges, "cdn-ranges", "", "extra CDN edge ranges: one CIDR a line, optionally followed by a provider name")
	fl.BoolVarP(&f.numeric, "numeric", "n", false, "show a trace's hops as addresses, without looking up their names (as traceroute -n)")
	fl.BoolVar(&f.trace, "trace", false, "draw the path to every address, also when the connection works (one that times out or is rejected is traced anyway; Linux)")
	fl.StringVar(&f.agent, "agent", "", "a conndiag listen --agent endpoint on the server (http://HOST:PORT): it watches for this client's SYNs while a port that timed out is retried")
	fl.StringVar(&f.agentToken, "agent-token", "", "the token the agent printed at start (or set CONNDIAG_AGENT_TOKEN)")
	fl.DurationVar(&f.agentWatch, "agent-watch", 2*time.Second, "how long the agent watches while this client retries")
	fl.StringVar(&f.origin, "origin", "", "the Origin of the page that opens the WebSocket (https://app.example.com); default: the target's own (ws://h → http://h)")
	g.addFlags(cmd, flagJSON|flagTimeout|flagLang|flagColor, "one JSON object per target on stdout (JSON Lines when there are several)")
	return cmd
}

func runCheck(cmd *cobra.Command, g *globals, f checkFlags, args []string) error {
	if cmd.Flags().Changed("concurrency") && f.concurrency < 1 {
		return usage("platform.usage.at_least", "Flag", "--concurrency", "Min", 1, "Got", f.concurrency)
	}
	ports, err := parsePorts(f.probePorts)
	if err != nil {
		return err
	}
	opt := diagnose.Options{Timeout: g.timeout, ProbePorts: ports, Trace: f.trace, NoHopNames: f.numeric}
	if f.source != "" {
		a, err := netip.ParseAddr(f.source)
		if err != nil {
			return usage("platform.usage.not_ip", "Flag", "--source", "Value", quote(f.source))
		}
		opt.Source = a
	}
	if err := nameOptions(&opt, f, g); err != nil {
		return err
	}
	if f.origin != "" {
		if opt.Origin, err = parseOrigin(f.origin); err != nil {
			return err
		}
	}
	if err := agentOptions(&opt, f, g); err != nil {
		return err
	}
	argTargets := make([]target.Target, 0, len(args))
	for _, s := range args {
		t, err := parseTarget(s)
		if err != nil {
			return targetErr(err)
		}
		argTargets = append(argTargets, t)
	}
	var src *targetFile
	if f.file != "" {
		if src, err = openTargetFile(f.file); err != nil {
			return err
		}
		defer src.close()
	}
	total := len(argTargets) // -1 once a stream makes it unknown
	switch {
	case src == nil:
	case src.count >= 0:
		total += src.count
	default:
		total = -1
	}
	if total == 0 {
		return usage("platform.usage.check_no_target", "Forms", target.Forms)
	}

	next := func() (diagnose.Item, error) {
		if len(argTargets) > 0 {
			t := argTargets[0]
			argTargets = argTargets[1:]
			return diagnose.Item{Target: t}, nil
		}
		if src == nil {
			return diagnose.Item{}, io.EOF
		}
		return src.next()
	}
	width := bulkWidth(f, opt)
	if total != 1 {
		// Several targets: what is per host is measured once (and a
		// failing one is traced only with --trace); one target measures
		// everything itself.
		opt.Share = diagnose.NewShare(cmd.Context(), 4*diagnose.DefaultWindow(width.Workers))
	}
	bar := newProgress(g, total)
	defer bar.done()
	var tally causeTally
	ok, n := 0, 0
	emit := func(_ diagnose.Item, r diagnose.Report) error {
		bar.clear()
		defer bar.add()
		tally.add(r)
		// A working connection to an unexpected place (dns_mismatch first) is still a problem.
		if r.Outcome == verdict.OutcomeOK && (len(r.Findings) == 0 || r.Findings[0].Cause == verdict.CauseOK) {
			ok++
		}
		n++
		if g.json {
			return writeJSON(g.stdout, r, g.printer)
		}
		if n > 1 {
			fmt.Fprintln(g.stdout)
		}
		renderHuman(g.stdout, r, g.printer, g.color)
		return nil
	}
	bulk := diagnose.Bulk{Workers: width.Workers, HostsAtOnce: width.HostsAtOnce, Check: func(ctx context.Context, t target.Target) diagnose.Report {
		return diagnose.Check(ctx, t, opt)
	}}
	res, err := bulk.Run(cmd.Context(), next, emit)
	bar.done()
	if err != nil {
		return writeErr(err)
	}
	if res.Interrupted {
		// Cut-short evidence would read as a verdict ("no answer within 30 s").
		return &exitError{code: ExitInterrupted, msg: interruptedMsg(res, total, src)}
	}
	if res.Err != nil {
		return res.Err // a bad line in a stream: the targets before it are reported
	}
	if n == 0 {
		return usage("platform.usage.file_no_target", "Path", src.display, "Forms", target.Forms)
	}
	if !g.json && n > 1 {
		fmt.Fprintln(g.stdout)
		tally.write(g.stdout, g.printer, style{on: g.color})
		fmt.Fprintln(g.stdout)
		fmt.Fprintln(g.stdout, g.printer.T("ui.summary", "OK", ok, "N", n))
	}
	if ok < n {
		return errProblem
	}
	return nil
}

// bulkWidth is --concurrency when given (as wide as asked, over any number
// of hosts), else sized from the descriptor budget and the hosts (AutoWidth).
func bulkWidth(f checkFlags, opt diagnose.Options) diagnose.Width {
	if f.concurrency > 0 {
		return diagnose.Width{Workers: f.concurrency}
	}
	return diagnose.AutoWidth(diagnose.DescriptorBudget(), diagnose.TargetWeight(opt))
}

// interruptedMsg names what Ctrl-C left undiagnosed: how many, the first few,
// and whether a stream was left unread.
func interruptedMsg(res diagnose.BulkResult, total int, src *targetFile) string {
	missed := res.Missed
	if total >= 0 {
		missed = total - res.Delivered // a file counted in advance: the unread lines too
	}
	name := func(it diagnose.Item) string {
		if it.From != "" {
			return fmt.Sprintf("%s (%s)", it.Target, it.From)
		}
		return it.Target.String()
	}
	var b strings.Builder
	switch {
	case missed == 1 && len(res.FirstMissed) == 1:
		fmt.Fprintf(&b, "interrupted; %s was not diagnosed", name(res.FirstMissed[0]))
	case missed > 0:
		names := make([]string, 0, len(res.FirstMissed))
		for _, it := range res.FirstMissed {
			names = append(names, name(it))
		}
		fmt.Fprintf(&b, "interrupted; %d targets were not diagnosed", missed)
		if len(names) > 0 {
			fmt.Fprintf(&b, ": %s", strings.Join(names, ", "))
			if more := missed - len(names); more > 0 {
				fmt.Fprintf(&b, " and %d more", more)
			}
		}
	default:
		b.WriteString("interrupted")
	}
	if total < 0 && !res.Exhausted && res.Err == nil {
		fmt.Fprintf(&b, "; the rest of %s was not read", src.display)
	}
	return b.String()
}

// maxLine bounds one line of a target file.
const maxLine = 64 << 10

// targetFile reads targets from -f FILE one line at a time. A regular file
// is checked whole first (count is then its number of targets), so a bad
// line is exit 2 before any check; a stream (stdin, a pipe) cannot be read
// twice, so a bad line stops the reading there (count is -1).
type targetFile struct {
	display string // the name in messages: the path, or "stdin"
	fh      *os.File
	own     bool // opened here, closed here
	sc      *bufio.Scanner
	line    int
	count   int
}

func openTargetFile(name string) (*targetFile, error) {
	tf := &targetFile{display: name, fh: os.Stdin, count: -1}
	if name == "-" {
		tf.display = "stdin"
	} else {
		fh, err := openFile("-f", name)
		if err != nil {
			return nil, err
		}
		tf.fh, tf.own = fh, true
	}
	if st, err := tf.fh.Stat(); err == nil && st.Mode().IsRegular() {
		if err := tf.validate(); err != nil {
			tf.close()
			return nil, err
		}
	}
	tf.reset()
	return tf, nil
}

// validate reads a regular file once to count its targets and find a bad
// line before any check starts, then rewinds to where it began.
func (tf *targetFile) validate() error {
	at, err := tf.fh.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil // not seekable after all: treat it as a stream
	}
	tf.reset()
	n := 0
	for {
		if _, err := tf.next(); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return err
		}
		n++
	}
	if _, err := tf.fh.Seek(at, io.SeekStart); err != nil {
		return usageMsg(fileMsg("-f", tf.display, err))
	}
	tf.count = n
	return nil
}

func (tf *targetFile) reset() {
	tf.sc = bufio.NewScanner(tf.fh)
	tf.sc.Buffer(make([]byte, 0, 4096), maxLine)
	tf.line = 0
}

func (tf *targetFile) close() {
	if tf.own {
		tf.fh.Close()
	}
}

// next returns the next target, io.EOF at the end, or a usage error naming
// FILE:LINE.
func (tf *targetFile) next() (diagnose.Item, error) {
	for {
		if !tf.sc.Scan() {
			err := tf.sc.Err()
			switch {
			case err == nil:
				return diagnose.Item{}, io.EOF
			case errors.Is(err, bufio.ErrTooLong):
				return diagnose.Item{}, usage("platform.usage.line_too_long", "Where", fmt.Sprintf("%s:%d", tf.display, tf.line+1), "Max", maxLine)
			}
			return diagnose.Item{}, usageMsg(fileMsg("-f", tf.display, err))
		}
		tf.line++
		line := tf.sc.Text()
		if tf.line == 1 {
			line = strings.TrimPrefix(line, "\ufeff") // the byte-order mark Windows editors write
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		t, err := parseTarget(line)
		if err != nil {
			return diagnose.Item{}, usage("platform.usage.at_line", "Where", fmt.Sprintf("%s:%d", tf.display, tf.line), "Text", errMsg(shortTargetErr(err)))
		}
		return diagnose.Item{Target: t, From: fmt.Sprintf("%s:%d", tf.display, tf.line)}, nil
	}
}

// parseTarget parses a target to diagnose: its form, and a zone that names
// an interface of this machine.
func parseTarget(s string) (target.Target, error) {
	t, err := target.Parse(s)
	if err != nil {
		return t, err
	}
	return t, target.CheckZone(t)
}

// shortTargetErr keeps a bad line of binary junk or kilobytes to a readable
// quote: the error line shows its start only.
func shortTargetErr(err error) error {
	var te *target.Error
	if !errors.As(err, &te) {
		return err
	}
	return &target.Error{Input: clipText(te.Input, 80), Reason: clipText(te.Reason, 160), Why: te.Why}
}

// clipText cuts s to at most n bytes on a character boundary; invalid UTF-8
// stays as it is, for %q to show as \x escapes.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

func parsePorts(s string) ([]uint16, error) {
	ports := []uint16{}
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return nil, usage("platform.usage.not_port", "Flag", "--probe-ports", "Value", quote(p))
		}
		ports = append(ports, uint16(n))
	}
	return ports, nil
}

// nameOptions reads --expect-ip, --resolver, --cdn-ranges and the proxy environment.
func nameOptions(opt *diagnose.Options, f checkFlags, g *globals) error {
	opt.Getenv = g.getenv
	if f.expectIP != "" {
		a, err := netip.ParseAddr(f.expectIP)
		if err != nil {
			return usage("platform.usage.not_ip", "Flag", "--expect-ip", "Value", quote(f.expectIP))
		}
		opt.ExpectIP = a.Unmap()
	}
	if f.resolver != "" {
		ap, err := parseResolver(f.resolver)
		if err != nil {
			return err
		}
		opt.ResolverAddr = ap
	}
	if f.cdnRanges != "" {
		fh, err := openFile("--cdn-ranges", f.cdnRanges)
		if err != nil {
			return err
		}
		defer fh.Close()
		rs, _, err := cdn.Parse(fh, f.cdnRanges, "")
		if err != nil {
			return usage("platform.usage.flag_text", "Flag", "--cdn-ranges", "Text", err.Error())
		}
		opt.CDNRanges = &cdn.List{}
		opt.CDNRanges.Add(rs...)
	}
	return nil
}

// parseOrigin checks --origin: an origin as a browser sends it,
// scheme://host[:port] (http or https), and returns it in lower case.
func parseOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", usage("platform.usage.origin", "Value", quote(s))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return "", usage("platform.usage.origin_port", "Value", quote(s), "Port", quote(p))
		}
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), nil
}

// parseResolver accepts IP or IP:PORT ([v6]:PORT); the port defaults to 53.
func parseResolver(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Port() != 0 {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 53), nil
	}
	return netip.AddrPort{}, usage("platform.usage.resolver", "Value", quote(s))
}

// agentOptions reads --agent, --agent-token (or CONNDIAG_AGENT_TOKEN) and --agent-watch.
func agentOptions(opt *diagnose.Options, f checkFlags, g *globals) error {
	token := f.agentToken
	if token == "" {
		token = g.getenv("CONNDIAG_AGENT_TOKEN")
	}
	if f.agent == "" {
		if f.agentToken != "" {
			return usageErr("--agent-token goes with --agent URL, the agent's endpoint on the server")
		}
		return nil
	}
	u, err := agent.ParseURL(f.agent)
	if err != nil {
		return usageErr("--agent: %v", err)
	}
	if token == "" {
		return usageErr("--agent needs the token the agent printed at start: --agent-token TOKEN (or CONNDIAG_AGENT_TOKEN)")
	}
	if f.agentWatch < agent.MinWatch || f.agentWatch > agent.DefaultMax {
		return usageErr("--agent-watch must be from %s to %s, got %s", agent.MinWatch, agent.DefaultMax, f.agentWatch)
	}
	opt.Agent = &diagnose.AgentOptions{URL: u, Token: token, Watch: f.agentWatch}
	return nil
}
