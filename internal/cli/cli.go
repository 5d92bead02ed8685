// Package cli is the command line of conndiag: subcommands, flags, and the
// human and JSON rendering of reports.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/i18n"
)

// Exit codes (SPEC.md).
const (
	ExitOK       = 0
	ExitProblem  = 1
	ExitUsage    = 2
	ExitToolFail = 3
	// ExitInterrupted is the shell's code for a command ended by Ctrl-C (128+SIGINT).
	ExitInterrupted = 130
)

// exitError carries an exit code and one line for stderr: a catalog
// message (rendered in the chosen language) or, for the few texts built
// from outside errors, a plain line.
type exitError struct {
	code int
	msg  string
	m    *i18n.Msg
}

func (e *exitError) Error() string {
	if e.m != nil {
		return i18n.New("en").Text(*e.m)
	}
	return e.msg
}

// text is the line for stderr in p's language.
func (e *exitError) text(p *i18n.Printer) string {
	if e.m != nil {
		return p.Text(*e.m)
	}
	return e.msg
}

func usageErr(format string, a ...any) error {
	return &exitError{code: ExitUsage, msg: fmt.Sprintf(format, a...)}
}

func toolErr(format string, a ...any) error {
	return &exitError{code: ExitToolFail, msg: fmt.Sprintf(format, a...)}
}

// usage is bad input (exit 2), said with the catalog message id.
func usage(id string, kv ...any) error {
	m := i18n.M(id, kv...)
	return &exitError{code: ExitUsage, m: &m}
}

// usageMsg is bad input said with a message built elsewhere (target, listen).
func usageMsg(m i18n.Msg) error { return &exitError{code: ExitUsage, m: &m} }

// toolFail is a needed step that could not run (exit 3), said with id.
func toolFail(id string, kv ...any) error {
	m := i18n.M(id, kv...)
	return &exitError{code: ExitToolFail, m: &m}
}

// problem is returned when a diagnosis found something wrong: exit 1, nothing more to print.
var errProblem = &exitError{code: ExitProblem}

// maxTimeout bounds --timeout: no client waits longer for one connection
// (Linux gives up on a silent SYN after about 2 minutes, browsers after 4).
const maxTimeout = 5 * time.Minute

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
	g := &globals{stdout: stdout, stderr: stderr, getenv: os.Getenv, timeout: 3 * time.Second}
	// The language is known before the flags are parsed, so that a bad flag
	// is answered in it too.
	g.printer = i18n.New(earlyLang(args, g.getenv))
	if n, low := noFileTooLow(); low {
		fmt.Fprintln(stderr, errorLine(g.printer, g.printer.T("platform.err.nofile_low", "N", n, "Min", minNoFile)))
		return ExitToolFail
	}
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
		// Anything cobra says on its own is a usage error; say it as a person would.
		ee = cobraErr(err)
	}
	if line := ee.text(g.printer); line != "" {
		fmt.Fprintln(stderr, errorLine(g.printer, oneLine(line)))
	}
	return ee.code
}

// errorLine is "conndiag: error: TEXT" in the printer's language.
func errorLine(p *i18n.Printer, text string) string {
	return p.T("platform.ui.error", "Text", text)
}

// earlyLang is the language of the command line before cobra parses it:
// --lang VALUE or --lang=VALUE when valid, else the environment's.
func earlyLang(args []string, getenv func(string) string) string {
	flag := ""
	for i, a := range args {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, "--lang="); ok {
			flag = v
		} else if a == "--lang" && i+1 < len(args) {
			flag = args[i+1]
		}
	}
	if l, err := i18n.Detect(flag, getenv); err == nil {
		return l
	}
	l, _ := i18n.Detect("", getenv)
	return l
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
protocol mismatches — and prints a verdict with its evidence and the fix.

Shell completion (commands, flags, --lang values): conndiag completion bash|zsh|fish|powershell --help.`,
		Example: `  conndiag check example.com:80
  conndiag check ws://example.com:8282/chat --json
  conndiag check -f targets.txt --concurrency 16
  source <(conndiag completion bash)`,
		Version:       "-", // the template below prints the build
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					return usage("platform.usage.unknown_command_suggest", "Cmd", args[0], "Suggest", s[0])
				}
				return usage("platform.usage.unknown_command", "Cmd", args[0])
			}
			return usage("platform.usage.no_command")
		},
		RunE: func(*cobra.Command, []string) error { return nil },
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return g.setup(cmd)
		},
	}
	root.SetVersionTemplate(versionFlagTemplate())
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		if !c.HasParent() {
			if e := flagBeforeCommand(c, err); e != nil {
				return e
			}
		}
		return flagErr(err)
	})
	root.SuggestionsMinimumDistance = 2

	root.AddCommand(newCheck(g), newDemo(g), newVersion(g), newListen(g))
	root.AddCommand(newServer(g), newExplain(g), newLoad(g), newServe(g))
	for _, c := range pending() {
		root.AddCommand(c)
	}
	initCompletion(root)
	return root
}

// initCompletion adds cobra's completion command now rather than at
// Execute, listed in the help, and makes a shell it does not know bad input
// (cobra would print its help and exit 0).
func initCompletion(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Short = "Shell completion for bash, zsh, fish and PowerShell (commands, flags, --lang values)"
		c.Example = "  source <(conndiag completion bash)\n  conndiag completion zsh > \"${fpath[1]}/_conndiag\"\n  conndiag completion fish > ~/.config/fish/completions/conndiag.fish\n  conndiag completion powershell | Out-String | Invoke-Expression"
		c.Args = cobra.ArbitraryArgs
		c.SuggestionsMinimumDistance = 1 // "tcsh" is not a typo of "bash"
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usage("platform.usage.completion_shell")
			}
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				return usage("platform.usage.completion_suggest", "Shell", args[0], "Suggest", s[0])
			}
			return usage("platform.usage.completion_unknown", "Shell", args[0])
		}
	}
}

// The common flags, each registered only on the commands it applies to,
// with the help text of that command.
type common uint8

const (
	flagJSON common = 1 << iota
	flagTimeout
	flagLang
	flagColor
)

func (g *globals) addFlags(cmd *cobra.Command, which common, jsonHelp string) {
	fl := cmd.Flags()
	if which&flagJSON != 0 {
		fl.BoolVar(&g.json, "json", false, jsonHelp)
	}
	if which&flagTimeout != 0 {
		fl.DurationVar(&g.timeout, "timeout", 3*time.Second, "timeout per connection attempt (at most 5m)")
	}
	if which&flagLang != 0 {
		fl.StringVar(&g.lang, "lang", "", "language of the output: "+strings.Join(i18n.Languages(), ", ")+" (default from LC_ALL/LANG, else en)")
		_ = cmd.RegisterFlagCompletionFunc("lang", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return i18n.Languages(), cobra.ShellCompDirectiveNoFileComp
		})
	}
	if which&flagColor != 0 {
		fl.BoolVar(&g.noColor, "no-color", false, "no colour (also when NO_COLOR is set, TERM is dumb, or stdout is not a terminal)")
	}
}

func (g *globals) setup(cmd *cobra.Command) error {
	lang, err := i18n.Detect(g.lang, g.getenv)
	if err != nil {
		return usage("platform.usage.lang", "Lang", g.lang, "Langs", strings.Join(i18n.Languages(), ", "))
	}
	g.printer = i18n.New(lang)
	if cmd.Flags().Lookup("timeout") != nil { // a command that makes connection attempts
		if !g.json {
			g.printer.Prepare() // the catalog is made ready while the probes wait on the network
		}
		switch {
		case g.timeout <= 0:
			return usage("platform.usage.timeout_positive", "Got", g.timeout.String())
		case g.timeout > maxTimeout:
			// A wait longer than any client's: no verdict would come in time to help.
			return usage("platform.usage.timeout_long", "Got", g.timeout.String(), "Max", maxTimeout.String())
		case g.timeout < time.Millisecond:
			// Shorter than any round trip: every port would look dropped and every host down.
			return usage("platform.usage.timeout_short", "Got", g.timeout.String())
		}
	}
	g.color = !g.noColor && g.getenv("NO_COLOR") == "" && g.getenv("TERM") != "dumb" && isTerminal(g.stdout)
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// noArgs is cobra.NoArgs, said in the chosen language.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usage("platform.usage.no_args", "Cmd", cmd.Name(), "Arg", args[0])
	}
	return nil
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
