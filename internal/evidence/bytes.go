package evidence

import (
	"encoding/binary"
	"strings"
)

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

// clip keeps a field from a stranger short; it is escaped where it is shown.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return s
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
	return clip(v), true
}
