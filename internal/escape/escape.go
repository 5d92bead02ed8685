// Package escape makes text that came from outside (server bytes, certificate
// names, process names, firewall chain names) safe to show on a terminal and
// to paste into a shell.
//
// One set of runes is unsafe to show, everywhere conndiag prints: C0
// controls (CR, LF, TAB, ESC, …), DEL, C1 controls (U+0080–U+009F), the
// line and paragraph separators U+2028/U+2029, the bidi embeddings,
// overrides and isolates (U+202A–U+202E, U+2066–U+2069), the marks that
// reorder neutral characters (U+200E, U+200F, U+061C), U+FEFF and invalid
// UTF-8. They are shown as \r \n \t or \xNN (the bytes of their UTF-8
// encoding), so no outside byte can move the cursor, set a title, start a
// fake line or flip the order of what follows.
package escape

import (
	"strings"
	"unicode/utf8"
)

// unsafe reports whether r must not reach a terminal as it is.
func unsafe(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0: // C0, DEL, C1
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi embeddings, overrides, isolates
		return true
	case r == 0x200e, r == 0x200f, r == 0x061c: // LRM, RLM, ALM
		return true
	case r == 0xfeff: // zero-width no-break space (BOM)
		return true
	}
	return false
}

const hex = "0123456789abcdef"

// write appends the shown form of b to sb and reports how many runes of
// output were written. With backslash, a backslash is doubled, so that the
// shown form of raw bytes is unambiguous; max > 0 bounds the output in runes,
// and a cut is marked with "…".
func write(sb *strings.Builder, b string, max int, backslash bool) {
	n := 0
	for len(b) > 0 {
		r, size := utf8.DecodeRuneInString(b)
		var s string
		switch {
		case r == '\r':
			s = `\r`
		case r == '\n':
			s = `\n`
		case r == '\t':
			s = `\t`
		case r == '\\' && backslash:
			s = `\\`
		case r == utf8.RuneError && size <= 1, unsafe(r):
			var x [16]byte
			k := 0
			for i := 0; i < size; i++ {
				c := b[i]
				x[k], x[k+1], x[k+2], x[k+3] = '\\', 'x', hex[c>>4], hex[c&0xf]
				k += 4
			}
			s = string(x[:k])
		default:
			s = b[:size]
		}
		w := utf8.RuneCountInString(s)
		if max > 0 && n+w > max {
			sb.WriteString("…")
			return
		}
		sb.WriteString(s)
		n += w
		b = b[size:]
	}
}

// Bytes renders raw bytes from the network for people: printable text as
// it is, \r \n \t \\ escaped, and \xNN for every unsafe rune or invalid
// byte. At most max runes of output are produced (max <= 0: no bound); a
// cut is marked with "…".
func Bytes(b []byte, max int) string {
	var sb strings.Builder
	write(&sb, string(b), max, true)
	return sb.String()
}

// String renders a string that came from outside for a terminal: unsafe
// runes and invalid bytes escaped as Bytes does, everything else, including
// backslashes, as it is. Backslashes are kept so that String is idempotent:
// text already escaped by Bytes is shown unchanged, never escaped twice.
func String(s string) string {
	if IsSafe(s) {
		return s
	}
	var sb strings.Builder
	write(&sb, s, 0, false)
	return sb.String()
}

// IsSafe reports whether s can be shown as it is: String(s) == s.
func IsSafe(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 || unsafe(r) {
			return false
		}
		i += size
	}
	return true
}
