package escape

import (
	"errors"
	"fmt"
	"strings"
)

// wordByte reports whether c may stand in a shell word unquoted: it is no
// operator, quote, expansion, glob, comment, tilde or blank in any POSIX
// shell (nor history expansion in an interactive bash).
func wordByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("_@%+=:,./-", c) >= 0
}

// ShellWord reports whether s can be pasted into a shell as one word
// without quoting: it is not empty and every byte is one of
// A-Z a-z 0-9 _ @ % + = : , . / -.
func ShellWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !wordByte(s[i]) {
			return false
		}
	}
	return true
}

// Quote returns s as one POSIX shell word: unchanged when ShellWord(s),
// else in single quotes, with each single quote inside written as
//
//	'\''
//
// Quoting makes the shell take s literally; it does not make s safe to
// show (check IsSafe).
func Quote(s string) string {
	if ShellWord(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// InSingle returns s to be placed between single quotes the text already
// opened: each ' closes the quotes, adds an escaped quote and reopens them.
func InSingle(s string) string { return strings.ReplaceAll(s, "'", `'\''`) }

// InDouble returns s to be placed between double quotes the text already
// opened: unchanged when nothing in it is special there ($ ` " \ and !, which
// an interactive bash expands), else the double quotes are closed, s is
// single-quoted and they are reopened.
func InDouble(s string) string {
	if !strings.ContainsAny(s, "$`\"\\!") {
		return s
	}
	return `"` + "'" + InSingle(s) + "'" + `"`
}

// operators are the shell operators a checked line may use, each as a word of its own.
var operators = map[string]bool{"&&": true, "||": true, "|": true, ";": true, ">": true, ">>": true, "<": true, "2>": true, "2>&1": true}

// ErrShellSyntax is what CheckLine's errors wrap: the line would make a
// shell do more than run the commands it names.
var ErrShellSyntax = errors.New("shell syntax in a command line")

// LineError is CheckLine's error: the first word at fault and why.
type LineError struct {
	Word string // raw; escape before showing
	Why  string
}

func (e *LineError) Error() string {
	return fmt.Sprintf("%v: %s in %s", ErrShellSyntax, e.Why, String(Quote(e.Word)))
}

func (e *LineError) Unwrap() error { return ErrShellSyntax }

// CheckLine checks a command line that was built before it reached the
// printer, for a person to paste. The line must be words separated by
// single spaces, each word a concatenation of plain ShellWord bytes,
// single-quoted text, \' and double-quoted text with no $ ` \ or ! in it, or one
// of the operators && || | ; > >> < 2> 2>&1 standing alone. Anything else
// ($(…), backquotes, globs, comments, a glued redirection such as
// x>/etc/passwd, an unterminated quote, characters that are not safe to show)
// is a *LineError naming the word.
//
// A check of a finished line cannot tell the parts that were meant from the
// parts that came from outside: values must still be validated or quoted
// (Quote) where the line is built.
func CheckLine(s string) error {
	if s == "" {
		return &LineError{Why: "empty line"}
	}
	for len(s) > 0 {
		w, why := nextWord(s)
		s = s[len(w):]
		if why == "" && len(s) > 0 {
			s = s[1:] // the space after w
			if s == "" || s[0] == ' ' {
				why = "two spaces or a trailing space"
			}
		}
		if why == "" && !IsSafe(w) {
			why = "control or bidi characters"
		}
		if why != "" {
			return &LineError{Word: w, Why: why}
		}
	}
	return nil
}

// nextWord splits off the word s starts with (up to a space outside
// quotes) and says what is wrong with it, if anything.
func nextWord(s string) (w, why string) {
	if j := strings.IndexByte(s, ' '); j >= 0 && operators[s[:j]] {
		return s[:j], ""
	} else if j < 0 && operators[s] {
		return s, ""
	}
	i := 0
	for i < len(s) && s[i] != ' ' {
		switch c := s[i]; {
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return s, "unterminated single quote"
			}
			i += end + 2
		case c == '"':
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return s, "unterminated double quote"
			}
			if strings.ContainsAny(s[i+1:i+1+end], "$`\\!") {
				return s[:i+end+2], "expansion inside double quotes"
			}
			i += end + 2
		case c == '\\' && i+1 < len(s) && s[i+1] == '\'':
			i += 2 // an escaped quote, as Quote writes one inside single quotes
		case wordByte(c):
			i++
		default:
			end := strings.IndexByte(s[i:], ' ')
			if end < 0 {
				end = len(s) - i
			}
			return s[:i+end], fmt.Sprintf("%q outside quotes", c)
		}
	}
	if i == 0 {
		return "", "empty word"
	}
	return s[:i], ""
}
