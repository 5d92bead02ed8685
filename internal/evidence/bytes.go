package evidence

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Escape renders bytes from the network for people: printable text as it
// is, \r \n \t \\ escaped, and \xNN for everything else (control bytes,
// invalid UTF-8), so no byte can drive the terminal. At most max runes of
// output are produced; a cut is marked with "…".
func Escape(b []byte, max int) string {
	var sb strings.Builder
	n := 0
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		var s string
		switch {
		case r == '\r':
			s = `\r`
		case r == '\n':
			s = `\n`
		case r == '\t':
			s = `\t`
		case r == '\\':
			s = `\\`
		case r == utf8.RuneError && size <= 1, r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0,
			r == 0x2028, r == 0x2029, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0xfeff:
			// Invalid bytes, C0/C1 controls, line separators and bidi overrides.
			for _, c := range b[:size] {
				s += fmt.Sprintf(`\x%02x`, c)
			}
		default:
			s = string(b[:size])
		}
		w := utf8.RuneCountInString(s)
		if max > 0 && n+w > max {
			sb.WriteString("…")
			break
		}
		sb.WriteString(s)
		n += w
		b = b[size:]
	}
	return sb.String()
}

// Show describes bytes for people: TLS records by what they are (a binary
// ClientHello means nothing escaped), everything else escaped, with the
// total size when not all of it is shown.
func Show(b []byte, total, max int) string {
	if len(b) == 0 {
		return ""
	}
	if d, ok := DescribeTLS(b); ok {
		return fmt.Sprintf("[%s, %d bytes]", d, total)
	}
	s := Escape(b, max)
	if strings.HasSuffix(s, "…") || total > len(b) {
		s += fmt.Sprintf(" (%d bytes)", total)
	}
	return s
}

var tlsAlerts = map[byte]string{
	0: "close notify", 10: "unexpected message", 20: "bad record MAC", 22: "record overflow",
	40: "handshake failure", 42: "bad certificate", 43: "unsupported certificate", 44: "certificate revoked",
	45: "certificate expired", 46: "certificate unknown", 47: "illegal parameter", 48: "unknown CA",
	49: "access denied", 50: "decode error", 51: "decrypt error", 70: "protocol version",
	71: "insufficient security", 80: "internal error", 86: "inappropriate fallback", 90: "user canceled",
	109: "missing extension", 110: "unsupported extension", 112: "unrecognized name",
	116: "certificate required", 120: "no application protocol",
}

var tlsHandshakes = map[byte]string{1: "ClientHello", 2: "ServerHello", 11: "Certificate", 14: "ServerHelloDone"}

// DescribeTLS recognises a TLS record header and names the record.
func DescribeTLS(b []byte) (string, bool) {
	if len(b) < 3 || b[1] != 3 || b[2] > 4 || b[0] < 20 || b[0] > 23 {
		return "", false
	}
	if len(b) >= 5 && int(binary.BigEndian.Uint16(b[3:5])) > 1<<14+2048 {
		return "", false
	}
	switch b[0] {
	case 21:
		if len(b) >= 7 && binary.BigEndian.Uint16(b[3:5]) == 2 {
			if name, ok := tlsAlerts[b[6]]; ok {
				return "TLS alert: " + name, true
			}
		}
		return "TLS alert", true
	case 22:
		if len(b) >= 6 {
			if name, ok := tlsHandshakes[b[5]]; ok {
				return "TLS " + name, true
			}
		}
		return "TLS handshake", true
	case 20:
		return "TLS ChangeCipherSpec", true
	}
	return "TLS application data", true
}

// Clip keeps fields from a stranger short and printable.
func Clip(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return Escape([]byte(s), 64)
}

// ListenVersion recognises the Server header of a conndiag listen endpoint
// ("conndiag-listen/VERSION") and returns the version.
func ListenVersion(server string) (string, bool) {
	const prefix = "conndiag-listen/"
	if len(server) < len(prefix) || !strings.EqualFold(server[:len(prefix)], prefix) {
		return "", false
	}
	v := server[len(prefix):]
	if i := strings.IndexByte(v, ' '); i >= 0 {
		v = v[:i]
	}
	return Clip(v), true
}
