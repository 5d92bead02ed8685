// Package cli is the command line of conndiag: subcommands, flags, and the
// human and JSON rendering of reports.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/i18n"
)

// Version is set at build time with -ldflags "-X github.com/conndiag/conndiag/internal/cli.Version=...".
var Version = ""

// Exit codes (SPEC.md).
const (
	ExitOK       = 0
	ExitProblem  = 1
	ExitUsage    = 2
	ExitToolFail = 3
	// ExitInterrupted is the shell's code for a command ended by Ctrl-C (128+SIGINT).
	ExitInterrupted = 130
)

// exitError carries an exit code and one line for stderr.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageErr(format string, a ...any) error {
	return &exitError{code: ExitUsage, msg: fmt.Sprintf(format, a...)}
}

func toolErr(format string, a ...any) error {
	return &exitError{code: ExitToolFail, msg: fmt.Sprintf(format, a...)}
}

// problem is returned when a diagnosis found something wrong: exit 1, nothing more to print.
var errProblem = &exitError{code: ExitProblem}

// globals are the common flags.
type globals struct {
	json    bool
	timeout time.Duration
	lang    string
	noColor bool

	stdout, stderr io.Writer
	getenv         func(string) string
	printer        *i18n.Printer
	color          bool
}

// Main runs the conndiag command line and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if n, low := noFileTooLow(); low {
		fmt.Fprintf(stderr, "conndiag: error: the open-file limit is %d (ulimit -n); conndiag needs at least %d: raise it with ulimit -n 1024\n", n, minNoFile)
		return ExitToolFail
	}
	g := &globals{stdout: stdout, stderr: stderr, getenv: os.Getenv}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		// Anything cobra says on its own (unknown command, bad flag) is a usage error.
		ee = &exitError{code: ExitUsage, msg: err.Error()}
	}
	if ee.msg != "" {
		fmt.Fprintf(stderr, "conndiag: error: %s\n", oneLine(ee.msg))
	}
	return ee.code
}

// oneLine is an error message as one line, escaped: it may quote the bad
// input (a line of a -f file, an argument), which came from outside.
func oneLine(s string) string {
	return escape.String(strings.Join(strings.Fields(s), " "))
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "conndiag",
		Short: "Tell why a client cannot connect to a server, and what to change",
		Long: `conndiag measures every item of the "why can't my client connect?" checklist —
wrong port or host, DNS, CDN or proxy in between, nothing listening, a server bound
to 127.0.0.1, firewalls, private IPs used from outside, exhausted ephemeral ports,
protocol mismatches — and prints a verdict with its evidence and the fix.`,
		Example: `  conndiag check example.com:80
  conndiag check ws://example.com:8282/chat --json
  conndiag check -f targets.txt --concurrency 16`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErr("unknown command %q; run 'conndiag --help'", args[0])
			}
			return usageErr("no command given; run 'conndiag --help'")
		},
		RunE: func(*cobra.Command, []string) error { return nil },
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return g.setup()
		},
	}
	pf := root.PersistentFlags()
	pf.BoolVar(&g.json, "json", false, "machine-readable output (JSON; JSON Lines for several targets)")
	pf.DurationVar(&g.timeout, "timeout", 3*time.Second, "timeout per connection attempt")
	pf.StringVar(&g.lang, "lang", "", "language of the output: en, ar, zh (default from LC_ALL/LANG, else en)")
	pf.BoolVar(&g.noColor, "no-color", false, "no colour (also when NO_COLOR is set or stdout is not a terminal)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr("%v", err) })

	root.AddCommand(newCheck(g), newDemo(g), newVersion(g), newListen(g))
	root.AddCommand(newServer(g), newExplain(g), newLoad(g), newServe(g))
	for _, c := range pending() {
		root.AddCommand(c)
	}
	return root
}

func (g *globals) setup() error {
	lang, err := i18n.Detect(g.lang, g.getenv)
	if err != nil {
		return usageErr("%v", err)
	}
	if g.timeout <= 0 {
		return usageErr("--timeout must be positive, got %s", g.timeout)
	}
	if g.timeout < time.Millisecond {
		// Shorter than any round trip: every port would look dropped and every host down.
		return usageErr("--timeout %s is too short to hear any answer; use at least 1ms (for example 3s)", g.timeout)
	}
	g.printer = i18n.New(lang)
	g.color = !g.noColor && g.getenv("NO_COLOR") == "" && isTerminal(g.stdout)
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newVersion(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version",
		Example: "  conndiag version",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintln(g.stdout, "conndiag", version())
			return nil
		},
	}
}

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// pending are the commands of SPEC.md whose issues have not landed yet: they
// say so and exit 3 rather than pretending.
func pending() []*cobra.Command {
	specs := []struct{ use, short, example string }{}
	var cmds []*cobra.Command
	for _, s := range specs {
		name := strings.Fields(s.use)[0]
		cmds = append(cmds, &cobra.Command{
			Use:                s.use,
			Short:              s.short + " (not yet available)",
			Example:            s.example,
			Args:               cobra.ArbitraryArgs,
			FParseErrWhitelist: cobra.FParseErrWhitelist{UnknownFlags: true},
			RunE: func(*cobra.Command, []string) error {
				return toolErr("'conndiag %s' is not yet available in this version", name)
			},
		})
	}
	return cmds
}
