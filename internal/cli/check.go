package cli

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"

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
}

func newCheck(g *globals) *cobra.Command {
	var f checkFlags
	cmd := &cobra.Command{
		Use:   "check TARGET...",
		Short: "Diagnose reaching TARGET from here: verdict, evidence and fix",
		Long: `Diagnose reaching each TARGET from this machine. Every address of a name is tried;
a silent port is judged against other ports of the same host (--probe-ports), so
"filtered" (host up, port dropped) is told from "host down".

Targets: ` + target.Forms + `

Exit status: 0 when every target is reachable, 1 when a problem was diagnosed,
2 for bad input, 3 when a needed step could not run.`,
		Example: `  conndiag check example.com:80
  conndiag check 203.0.113.5:8282 --probe-ports 22,80,443,3306
  conndiag check ws://example.com:8282/chat --json
  conndiag check 10.0.0.5:8080 --source 10.0.0.2
  conndiag check ws://example.com:8282/ --expect-ip 203.0.113.5 --resolver 1.1.1.1
  conndiag check -f targets.txt --concurrency 16`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCheck(cmd, g, f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", "", "read targets from FILE, one a line (# starts a comment)")
	fl.IntVar(&f.concurrency, "concurrency", 8, "how many targets to diagnose at once")
	fl.StringVar(&f.probePorts, "probe-ports", "22,80,443", "other ports tried to tell \"host up\" from \"host down\" (comma-separated; empty for none)")
	fl.StringVar(&f.source, "source", "", "local address to connect from")
	fl.StringVar(&f.expectIP, "expect-ip", "", "the address you believe the server has: a name resolving elsewhere is dns_mismatch")
	fl.StringVar(&f.resolver, "resolver", "", "also ask this DNS server (IP[:PORT]) and compare its answer with the system's")
	fl.StringVar(&f.cdnRanges, "cdn-ranges", "", "extra CDN edge ranges: one CIDR a line, optionally followed by a provider name")
	fl.BoolVar(&f.trace, "trace", false, "when the connection fails, send TTL-limited SYNs to find the hop where it dies")
	return cmd
}

func runCheck(cmd *cobra.Command, g *globals, f checkFlags, args []string) error {
	targets, err := collectTargets(f.file, args)
	if err != nil {
		return err
	}
	if f.concurrency < 1 {
		return usageErr("--concurrency must be at least 1, got %d", f.concurrency)
	}
	ports, err := parsePorts(f.probePorts)
	if err != nil {
		return err
	}
	opt := diagnose.Options{Timeout: g.timeout, ProbePorts: ports, Trace: f.trace}
	if f.source != "" {
		a, err := netip.ParseAddr(f.source)
		if err != nil {
			return usageErr("--source %q is not an IP address", f.source)
		}
		opt.Source = a
	}
	if err := nameOptions(&opt, f, g); err != nil {
		return err
	}

	reports := make([]chan diagnose.Report, len(targets))
	sem := make(chan struct{}, f.concurrency)
	var wg sync.WaitGroup
	for i, t := range targets {
		reports[i] = make(chan diagnose.Report, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			reports[i] <- diagnose.Check(cmd.Context(), t, opt)
		}()
	}
	// Print in the order given, each as soon as it and those before it are done.
	ok := 0
	for i := range targets {
		r := <-reports[i]
		if r.Cancelled {
			// Cut-short evidence would read as a verdict ("no answer within 30 s").
			return &exitError{code: ExitInterrupted, msg: fmt.Sprintf("interrupted; %s was not diagnosed", r.Target)}
		}
		// A working connection to an unexpected place (dns_mismatch first) is still a problem.
		if r.Outcome == verdict.OutcomeOK && (len(r.Findings) == 0 || r.Findings[0].Cause == verdict.CauseOK) {
			ok++
		}
		if g.json {
			if err := writeJSON(g.stdout, r, g.printer); err != nil {
				return toolErr("writing output: %v", err)
			}
		} else {
			if i > 0 {
				fmt.Fprintln(g.stdout)
			}
			renderHuman(g.stdout, r, g.printer, g.color)
		}
	}
	wg.Wait()
	if !g.json && len(targets) > 1 {
		fmt.Fprintln(g.stdout)
		fmt.Fprintln(g.stdout, g.printer.T("ui.summary", "OK", ok, "N", len(targets)))
	}
	if ok < len(targets) {
		return errProblem
	}
	return nil
}

func collectTargets(file string, args []string) ([]target.Target, error) {
	out := make([]target.Target, 0, len(args))
	for _, s := range args {
		t, err := target.Parse(s)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		out = append(out, t)
	}
	if file != "" {
		lines, err := readTargetFile(file)
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			t, err := target.Parse(l.text)
			if err != nil {
				return nil, usageErr("%s:%d: %v", file, l.n, err)
			}
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, usageErr("no target given; for example: conndiag check example.com:80 (accepted forms: %s)", target.Forms)
	}
	return out, nil
}

type fileLine struct {
	n    int
	text string
}

func readTargetFile(name string) ([]fileLine, error) {
	var fh *os.File
	if name == "-" {
		fh = os.Stdin
	} else {
		var err error
		if fh, err = os.Open(name); err != nil {
			return nil, usageErr("cannot read target file: %v", err)
		}
		defer fh.Close()
	}
	var out []fileLine
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff") // the byte-order mark Windows editors write
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, fileLine{n, line})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, usageErr("cannot read target file %s: %v", name, err)
	}
	return out, nil
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
			return nil, usageErr("--probe-ports: %q is not a port from 1 to 65535", p)
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
			return usageErr("--expect-ip %q is not an IP address", f.expectIP)
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
		fh, err := os.Open(f.cdnRanges)
		if err != nil {
			return usageErr("--cdn-ranges: cannot read %v", err)
		}
		defer fh.Close()
		rs, _, err := cdn.Parse(fh, f.cdnRanges, "")
		if err != nil {
			return usageErr("--cdn-ranges: %v", err)
		}
		opt.CDNRanges = &cdn.List{}
		opt.CDNRanges.Add(rs...)
	}
	return nil
}

// parseResolver accepts IP or IP:PORT ([v6]:PORT); the port defaults to 53.
func parseResolver(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Port() != 0 {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 53), nil
	}
	return netip.AddrPort{}, usageErr("--resolver %q is not IP or IP:PORT (for example 1.1.1.1, 1.1.1.1:5353 or [2606:4700:4700::1111]:53)", s)
}
