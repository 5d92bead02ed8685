package i18n

import (
	"errors"
	"fmt"
	"io"

	"github.com/conndiag/conndiag/internal/escape"
)

// Verbatim is a part of a command built from pieces already validated
// (several words such as "192.0.2.1 -p 5353", or a whole command line made
// elsewhere). Cmd puts it in as it is, where the format has no quotes open,
// but only after escape.CheckLine finds nothing in it that a shell would
// expand; otherwise the command is withheld.
type Verbatim string

// CmdLine is a whole command line built elsewhere: Cmd("%s", Verbatim(line)).
func CmdLine(line string) Msg { return Cmd("%s", Verbatim(line)) }

// Cmd is a command the user can paste. The format is our own shell text;
// each value is formatted with its verb and then made a literal for the
// shell where it stands in the format: outside quotes a value that is not a
// plain word (escape.ShellWord) is single-quoted, inside '…' a quote is
// escaped, inside "…" a value with $ ` " \ or ! is closed out and
// single-quoted. Plain values (numbers, addresses, ports, paths) come out as
// fmt would print them. A command that cannot be made safe (a value with
// control or bidi characters, a Verbatim part with shell syntax) is not
// offered: the message says a command was left out instead.
func Cmd(format string, a ...any) Msg {
	// The plain rendering is what vet checks the format against; the
	// command itself is rendered from the wrapped values below.
	plain := fmt.Sprintf(format, a...)
	st := &cmdState{}
	ctx := shellContexts(format, len(a))
	args := make([]any, len(a))
	for i, v := range a {
		if ctx[i] == ctxStar {
			args[i] = v
			continue
		}
		args[i] = &shellArg{v: v, ctx: ctx[i], st: st}
	}
	s := fmt.Sprintf(format, args...)
	if !escape.IsSafe(plain) {
		st.fail(plain) // not reached: every value is checked, and formats are our own text
	}
	if st.failed {
		return withheld(st.bad)
	}
	return Msg{Cmd: s}
}

// Snippet is a line of code or configuration to put in a file, never
// translated. Its values must be plain words (numbers, protocol names):
// code has quoting rules of its own, so any other value withholds it.
func Snippet(format string, a ...any) Msg {
	plain := fmt.Sprintf(format, a...) // for vet, as in Cmd
	st := &cmdState{}
	args := make([]any, len(a))
	for i, v := range a {
		args[i] = &shellArg{v: v, ctx: ctxCode, st: st}
	}
	s := fmt.Sprintf(format, args...)
	if !escape.IsSafe(plain) {
		st.fail(plain)
	}
	if st.failed {
		return withheld(st.bad)
	}
	return Msg{Cmd: s, Code: true}
}

// withheld stands in for a command that cannot be offered. It shows the
// value at fault, single-quoted so that even pasting it runs nothing, and
// escaped (as every string argument) when rendered.
func withheld(value string) Msg { return M("escape.cmd.withheld", "Value", escape.Quote(value)) }

// Where a value stands in the format of a command.
const (
	ctxNone   = iota // outside quotes
	ctxSingle        // inside '…'
	ctxDouble        // inside "…"
	ctxStar          // a * width or precision: an int for fmt, not shell text
	ctxCode          // a Snippet value
)

// cmdState keeps the first value at fault while a command is rendered.
type cmdState struct {
	failed bool
	bad    string
}

func (st *cmdState) fail(v string) {
	if !st.failed {
		st.failed, st.bad = true, v
	}
}

type shellArg struct {
	v   any
	ctx int
	st  *cmdState
}

func (x *shellArg) Format(f fmt.State, verb rune) {
	spec := fmt.FormatString(f, verb)
	if v, ok := x.v.(Verbatim); ok && x.ctx == ctxNone {
		s := fmt.Sprintf(spec, string(v))
		var le *escape.LineError
		if errors.As(escape.CheckLine(s), &le) {
			x.st.fail(le.Word)
		}
		io.WriteString(f, s)
		return
	}
	if v, ok := x.v.(Verbatim); ok {
		x.v = string(v)
	}
	s := fmt.Sprintf(spec, x.v)
	if !escape.IsSafe(s) {
		x.st.fail(s)
	}
	switch x.ctx {
	case ctxSingle:
		s = escape.InSingle(s)
	case ctxDouble:
		s = escape.InDouble(s)
	case ctxCode:
		if s != "" && !escape.ShellWord(s) {
			x.st.fail(s)
		}
	default:
		s = escape.Quote(s)
	}
	io.WriteString(f, s)
}

// shellContexts says, for each of n arguments of a Printf format, whether
// its verb stands outside quotes, inside single or inside double quotes of
// the shell text around it.
func shellContexts(format string, n int) []int {
	ctx := make([]int, n)
	state, arg := ctxNone, 0
	set := func(c int) {
		if arg >= 0 && arg < n {
			ctx[arg] = c
		}
		arg++
	}
	index := func(i int) int { // an explicit [n] argument index
		if i < len(format) && format[i] == '[' {
			j, k := i+1, 0
			for j < len(format) && format[j] >= '0' && format[j] <= '9' {
				k = k*10 + int(format[j]-'0')
				j++
			}
			if j < len(format) && format[j] == ']' {
				arg = k - 1
				return j + 1
			}
		}
		return i
	}
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c == '%' {
			i++
			if i < len(format) && format[i] == '%' {
				continue
			}
			for i < len(format) && (format[i] == '+' || format[i] == '-' || format[i] == '#' || format[i] == ' ' || format[i] == '0') {
				i++
			}
			i = index(i)
			if i < len(format) && format[i] == '*' {
				set(ctxStar)
				i++
			}
			for i < len(format) && format[i] >= '0' && format[i] <= '9' {
				i++
			}
			if i < len(format) && format[i] == '.' {
				i = index(i + 1)
				if i < len(format) && format[i] == '*' {
					set(ctxStar)
					i++
				}
				for i < len(format) && format[i] >= '0' && format[i] <= '9' {
					i++
				}
			}
			i = index(i)
			// format[i] is the verb (an ASCII letter in every format we write).
			set(state)
			continue
		}
		switch state {
		case ctxSingle:
			if c == '\'' {
				state = ctxNone
			}
		case ctxDouble:
			if c == '"' {
				state = ctxNone
			} else if c == '\\' {
				i++
			}
		default:
			switch c {
			case '\'':
				state = ctxSingle
			case '"':
				state = ctxDouble
			case '\\':
				i++
			}
		}
	}
	return ctx
}
