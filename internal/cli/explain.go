package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/conndiag/conndiag/internal/explain"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/verdict"
)

func newExplain(g *globals) *cobra.Command {
	var logFile string
	cmd := &cobra.Command{
		Use:   "explain TEXT | - | CAUSE | --log FILE",
		Short: "Classify a pasted error message or a log, or explain a cause code",
		Long: `Classify a connection error as a program printed it (browser console, curl, Go,
Node, Python, Java, .NET, PHP, nginx, OpenSSL, Windows and glibc in Chinese, ...):
the outcome, the causes ranked like check's, the target it names, and the check to
run next. Nothing is sent on the network.

TEXT is the message (quote it), or - to read it from standard input (a stack trace,
several lines: the most specific line decides). CAUSE is a cause code such as
not_listening: what it means, how conndiag proves it, and the fix.
--log FILE (or -) reads a whole log as a stream and counts the failures by cause
and target, largest first.

Exit status: 1 when a connection error was found (or none was), 0 for a cause
code or a log without failures, 2 for bad input.`,
		Example: `  conndiag explain 'Error: connect ECONNREFUSED 127.0.0.1:3000'
  conndiag explain "WebSocket connection to 'ws://example.com:8282/' failed: Error during WebSocket handshake: Unexpected response code: 200"
  pbpaste | conndiag explain -
  conndiag explain filtered
  conndiag explain --log /var/log/nginx/error.log --json`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if logFile != "" {
				if len(args) > 0 {
					return usage("platform.usage.log_and_text", "Arg", quote(args[0]))
				}
				return runExplainLog(g, logFile)
			}
			if len(args) == 1 && explain.IsCause(args[0]) {
				return runExplainCause(g, verdict.Cause(args[0]))
			}
			return runExplainText(g, args)
		},
	}
	cmd.Flags().StringVar(&logFile, "log", "", "summarise a log FILE (or - for standard input): failures by cause and target")
	g.addFlags(cmd, flagJSON|flagLang|flagColor, "JSON on stdout: one object, or one per group with --log")
	return cmd
}

func openInput(name string) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(os.Stdin), nil
	}
	f, err := openFile("--log", name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func inputErr(err error) error {
	switch {
	case errors.Is(err, explain.ErrEmpty):
		return usage("platform.usage.explain_empty")
	case errors.Is(err, explain.ErrBinary):
		return usage("platform.usage.explain_binary")
	}
	return usage("platform.usage.input", "Why", fileReason(err))
}

func runExplainText(g *globals, args []string) error {
	var res explain.Result
	var err error
	switch {
	case len(args) == 0:
		return usage("platform.usage.explain_none")
	case len(args) == 1 && args[0] == "-":
		res, err = explain.Read(os.Stdin)
	default:
		res, err = explain.Read(strings.NewReader(strings.Join(args, " ")))
	}
	if err != nil {
		return inputErr(err)
	}
	if !res.Found() {
		if g.json {
			fmt.Fprintln(g.stdout, `{"findings":[]}`)
		}
		msg := g.printer.T("ui.explain.none")
		if len(args) == 1 {
			if c := explain.NearCause(args[0]); c != "" {
				msg = g.printer.T("ui.explain.none_near", "Cause", string(c))
			}
		}
		return &exitError{code: ExitProblem, msg: msg}
	}
	if g.json {
		b, err := json.Marshal(explainJSON(res, g.printer))
		if err != nil {
			return writeErr(err)
		}
		fmt.Fprintf(g.stdout, "%s\n", b)
	} else {
		renderExplain(g.stdout, res, g.printer, g.color)
	}
	return errProblem
}

// jsonExplain is SPEC.md's shape: outcome, target, findings, next; the
// line that decided is added as "match".
type jsonExplain struct {
	Outcome  verdict.Outcome `json:"outcome,omitempty"`
	Target   *explain.Target `json:"target,omitempty"`
	Findings []jsonFinding   `json:"findings"`
	Next     string          `json:"next,omitempty"`
	Match    jsonMatch       `json:"match"`
}

type jsonMatch struct {
	Line int    `json:"line"`
	From string `json:"from"`
	Text string `json:"text"`
	Code string `json:"code,omitempty"`
}

func explainJSON(res explain.Result, p *i18n.Printer) jsonExplain {
	j := jsonExplain{Outcome: res.Outcome, Findings: findingsJSON(res.Findings, p), Next: res.Next,
		Match: jsonMatch{Line: res.Line, From: res.From, Text: res.Text, Code: res.Note}}
	if !res.Target.IsZero() {
		t := res.Target
		j.Target = &t
	}
	return j
}

// renderExplain prints like check: the verdict, the evidence, the fix, the
// weaker alternatives, then the command to paste.
func renderExplain(w io.Writer, res explain.Result, p *i18n.Printer, color bool) {
	s := style{color}
	v := res.Findings[0]
	tgt := res.Target.String()
	if tgt == "" && res.Target.Port != 0 {
		tgt = p.T("ui.server.port", "Port", res.Target.Port)
	}
	head := fmt.Sprintf("%s %s", s.bad("✗"), s.bad(string(v.Cause)))
	if tgt != "" {
		head += "  " + tgt
	}
	fmt.Fprintf(w, "%s  %s\n", head, confParen(p, v.Confidence))
	fmt.Fprintf(w, "  %s\n", s.head(p.Text(v.Summary)))
	if res.Outcome != "" {
		fmt.Fprintf(w, "  %s\n", p.T("ui.explain.outcome", "Outcome", string(res.Outcome)))
	} else {
		fmt.Fprintf(w, "  %s\n", p.T("ui.explain.outcome_unknown"))
	}
	fmt.Fprintf(w, "\n  %s\n", s.head(p.T("ui.evidence")))
	for _, e := range v.Evidence {
		fmt.Fprintf(w, "    • %s\n", p.Text(e))
	}
	fmt.Fprintf(w, "\n  %s\n", s.head(p.T("ui.fix")))
	writeFix(w, v.Fix, p, s, "    ")
	found, possible := alsoSplit(res.Findings[1:])
	for _, group := range []struct {
		head string
		fs   []verdict.Finding
	}{{"portfamily.ui.also_found", found}, {"ui.also", possible}} {
		if len(group.fs) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n  %s\n", s.head(p.T(group.head)))
		for _, f := range group.fs {
			fmt.Fprintf(w, "    • %s\n", findingLine(p, string(f.Cause), f.Confidence, f.Summary))
			if n := len(f.Fix); n > 0 {
				fmt.Fprintf(w, "      %s\n", s.dim(p.Text(f.Fix[n-1])))
			}
		}
	}
	fmt.Fprintln(w)
	writeNext(w, res.Next, v.Cause, p, s)
}

func writeNext(w io.Writer, next string, first verdict.Cause, p *i18n.Printer, s style) {
	switch {
	case next == "":
		fmt.Fprintf(w, "  %s\n", p.T("ui.explain.no_target"))
		return
	case strings.HasPrefix(next, "conndiag server"):
		fmt.Fprintf(w, "  %s\n", s.head(p.T("ui.explain.next_server")))
	case first == verdict.CauseProxyUpstreamFailed:
		fmt.Fprintf(w, "  %s\n", s.head(p.T("ui.explain.next_proxy")))
	default:
		fmt.Fprintf(w, "  %s\n", s.head(p.T("ui.explain.next")))
	}
	fmt.Fprintf(w, "      %s\n", s.cmd("$ "+next))
}

func runExplainCause(g *globals, c verdict.Cause) error {
	f := explain.Describe(c)
	if g.json {
		b, err := json.Marshal(struct {
			Cause   verdict.Cause `json:"cause"`
			Summary string        `json:"summary"`
			How     string        `json:"how"`
			Fix     []string      `json:"fix"`
		}{c, g.printer.Text(f.Summary), g.printer.Text(f.Evidence[0]), texts(f.Fix, g.printer)})
		if err != nil {
			return writeErr(err)
		}
		fmt.Fprintf(g.stdout, "%s\n", b)
		return nil
	}
	s := style{g.color}
	p := g.printer
	fmt.Fprintf(g.stdout, "%s\n  %s\n", s.head(string(c)), p.Text(f.Summary))
	fmt.Fprintf(g.stdout, "\n  %s\n    %s\n", s.head(p.T("ui.explain.how")), p.Text(f.Evidence[0]))
	fmt.Fprintf(g.stdout, "\n  %s\n", s.head(p.T("ui.fix")))
	writeFix(g.stdout, f.Fix, p, s, "    ")
	return nil
}

type jsonGroup struct {
	Cause      verdict.Cause      `json:"cause"`
	Confidence verdict.Confidence `json:"confidence"`
	Outcome    verdict.Outcome    `json:"outcome,omitempty"`
	Target     *explain.Target    `json:"target,omitempty"`
	Other      bool               `json:"other_targets,omitempty"`
	Count      int                `json:"count"`
	First      string             `json:"first,omitempty"`
	Last       string             `json:"last,omitempty"`
	FirstLine  int                `json:"first_line"`
	LastLine   int                `json:"last_line"`
	Example    string             `json:"example"`
	Next       string             `json:"next,omitempty"`
}

func runExplainLog(g *globals, name string) error {
	in, err := openInput(name)
	if err != nil {
		return err
	}
	defer in.Close()
	sum, err := explain.Log(in)
	if err != nil {
		return inputErr(err)
	}
	p, s := g.printer, style{g.color}
	if g.json {
		enc := json.NewEncoder(g.stdout)
		for _, gr := range sum.Groups {
			j := jsonGroup{gr.Cause, gr.Confidence, gr.Outcome, nil, gr.Other, gr.Count, gr.First, gr.Last, gr.FirstLine, gr.LastLine, gr.Example, gr.Next}
			if !gr.Target.IsZero() {
				t := gr.Target
				j.Target = &t
			}
			if err := enc.Encode(j); err != nil {
				return writeErr(err)
			}
		}
	} else {
		if len(sum.Groups) == 0 {
			fmt.Fprintln(g.stdout, p.T("ui.explain.log.none", "Lines", i18n.Plural("platform.count.lines", sum.Lines)))
		} else {
			fmt.Fprintln(g.stdout, s.head(p.T("platform.explain.log.head", "Failures", i18n.Plural("platform.count.failures", sum.Failures), "Lines", i18n.Plural("platform.count.lines", sum.Lines), "Groups", i18n.Plural("platform.count.groups", len(sum.Groups)))))
		}
		for _, gr := range sum.Groups {
			tgt := gr.Target.String()
			switch {
			case gr.Other:
				tgt = p.T("ui.explain.log.other")
			case tgt == "" && gr.Target.Port != 0:
				tgt = p.T("ui.server.port", "Port", gr.Target.Port)
			case tgt == "":
				tgt = p.T("ui.explain.log.no_target")
			}
			fmt.Fprintf(g.stdout, "\n%s %s\n", s.bad("✗"), p.T("ui.explain.log.group", "Count", gr.Count, "Cause", string(gr.Cause), "Target", tgt))
			if gr.First != "" {
				fmt.Fprintf(g.stdout, "  %s\n", p.T("ui.explain.log.seen", "First", gr.First, "Last", gr.Last))
			}
			fmt.Fprintf(g.stdout, "  %s\n", s.dim(p.T("ui.explain.log.example", "N", gr.FirstLine, "Line", gr.Example)))
			if gr.Next != "" {
				fmt.Fprintf(g.stdout, "    %s\n", s.cmd("$ "+gr.Next))
			}
		}
		if sum.Long > 0 {
			fmt.Fprintf(g.stdout, "\n%s\n", s.dim(p.Text(i18n.Plural("platform.explain.log.long", sum.Long, "Max", explain.MaxLine))))
		}
	}
	if sum.Failures > 0 {
		return errProblem
	}
	return nil
}
