package cli

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/listen"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

// Every error that reaches stderr is one sentence a person understands, in
// the chosen language: no "strconv.ParseBool", no "open /x:", no Go type
// names. These turn the errors of flags, files and cobra into such sentences.

// flagErr says what is wrong with a flag the way its help would.
func flagErr(err error) error {
	var (
		notExist *pflag.NotExistError
		needs    *pflag.ValueRequiredError
		invalid  *pflag.InvalidValueError
		syntax   *pflag.InvalidSyntaxError
	)
	switch {
	case errors.As(err, &notExist):
		name := notExist.GetSpecifiedName()
		if name == "" || notExist.GetSpecifiedShortnames() != "" {
			// a shorthand: "-1" (a negative port, say) was typed with one dash
			if name == "" {
				name = notExist.GetSpecifiedShortnames()
			}
			return usage("platform.usage.flag_unknown", "Flag", "-"+name)
		}
		return usage("platform.usage.flag_unknown", "Flag", "--"+name)
	case errors.As(err, &needs):
		return usage("platform.usage.flag_needs_value", "Flag", flagName(needs.GetFlag()))
	case errors.As(err, &invalid):
		f := invalid.GetFlag()
		return usage("platform.usage.flag_value."+valueKind(f), "Flag", flagName(f), "Value", invalid.GetValue())
	case errors.As(err, &syntax):
		return usage("platform.usage.flag_syntax", "Flag", syntax.GetSpecifiedFlag())
	}
	return cobraErr(err)
}

// flagBeforeCommand: a command's flag given before the command
// ("conndiag --json check x") says where it goes, rather than that it is
// unknown.
func flagBeforeCommand(root *cobra.Command, err error) error {
	var notExist *pflag.NotExistError
	if !errors.As(err, &notExist) || notExist.GetSpecifiedName() == "" {
		return nil
	}
	name := notExist.GetSpecifiedName()
	for _, c := range root.Commands() {
		if c.Flags().Lookup(name) != nil {
			return usage("platform.usage.flag_before_command", "Flag", "--"+name, "Cmd", c.Name())
		}
	}
	return nil
}

func flagName(f *pflag.Flag) string {
	if f == nil {
		return "?"
	}
	return "--" + f.Name
}

// valueKind names the kind of value a flag takes, for its message.
func valueKind(f *pflag.Flag) string {
	if f == nil {
		return "other"
	}
	switch f.Value.Type() {
	case "bool":
		return "bool"
	case "duration":
		return "duration"
	case "int", "int64", "uint", "uint16", "uint32", "uint64":
		return "int"
	case "float64", "float32":
		return "float"
	}
	return "other"
}

// cobraErr turns what cobra says on its own into a usage error.
func cobraErr(err error) *exitError {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "invalid argument "); ok {
		// The completion command's shells: invalid argument "x" for "conndiag completion".
		arg, _, _ := strings.Cut(strings.TrimPrefix(rest, `"`), `"`)
		return usage("platform.usage.bad_arg", "Arg", arg).(*exitError)
	}
	if rest, ok := strings.CutPrefix(msg, "unknown command "); ok {
		arg, _, _ := strings.Cut(strings.TrimPrefix(rest, `"`), `"`)
		return usage("platform.usage.unknown_command", "Cmd", arg).(*exitError)
	}
	return &exitError{code: ExitUsage, msg: msg}
}

// fileMsg says why a file named on the command line cannot be read, with
// its path as given (absolute or not) and no Go wording.
func fileMsg(what, path string, err error) i18n.Msg {
	reason := fileReason(err)
	return i18n.M("platform.usage.file", "What", what, "Path", path, "Why", reason)
}

// fileReason is the reason a file operation failed, as a catalog message.
func fileReason(err error) i18n.Msg {
	var errno syscall.Errno
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return i18n.M("platform.why.not_exist")
	case errors.Is(err, fs.ErrPermission):
		return i18n.M("platform.why.permission")
	case errors.As(err, &errno) && errno == syscall.EISDIR:
		return i18n.M("platform.why.is_dir")
	case errors.As(err, &errno) && errno == syscall.ENOTDIR:
		return i18n.M("platform.why.not_dir")
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // "open /x: …" would repeat the path
	}
	return i18n.M("platform.why.other", "Err", err.Error())
}

// openFile opens a file named by a flag or argument, refusing a directory,
// with an error a person understands.
func openFile(what, path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageMsg(fileMsg(what, path, err))
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, usageMsg(i18n.M("platform.usage.file", "What", what, "Path", path, "Why", i18n.M("platform.why.is_dir")))
	}
	return f, nil
}

// readFile reads a whole file named by a flag, as openFile.
func readFile(what, path string) ([]byte, error) {
	f, err := openFile(what, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, usageMsg(fileMsg(what, path, err))
	}
	return b, nil
}

// quote is a value as %q shows it, for messages that quote the bad input.
func quote(s string) string { return strconv.Quote(s) }

// targetErr is a bad target as a usage error in the chosen language.
func targetErr(err error) error { return usageMsg(errMsg(err)) }

// errMsg is an error of a parser that speaks the catalog (target, listen)
// as its message, or as plain text.
func errMsg(err error) i18n.Msg {
	var te *target.Error
	var ue *listen.URIError
	switch {
	case errors.As(err, &te):
		return te.Msg()
	case errors.As(err, &ue):
		return ue.Msg()
	}
	return i18n.M("platform.target.other", "Reason", err.Error())
}

// writeErr: stdout could not be written (a closed pipe, a full disk).
func writeErr(err error) error {
	return toolFail("platform.err.write", "Why", fileReason(err))
}

// confParen is a verdict's confidence in parentheses, as the language
// writes them: "(high)", "（确定）".
func confParen(p *i18n.Printer, c verdict.Confidence) string {
	return p.T("platform.ui.conf_paren", "Conf", i18n.M("ui.confidence."+string(c)))
}

// findingLine is one more finding after a verdict: "cause (confidence): summary".
func findingLine(p *i18n.Printer, cause string, c verdict.Confidence, summary i18n.Msg) string {
	return p.T("platform.ui.finding", "Cause", cause, "Conf", i18n.M("ui.confidence."+string(c)), "Summary", summary)
}
