package probe

import (
	"bytes"
	"encoding/json"
	"net/netip"

	"github.com/conndiag/conndiag/internal/evidence"
)

// WhoamiRequest is the message that asks a conndiag listen endpoint who it
// sees (the whoami convention shared with internal/listen).
const WhoamiRequest = "whoami"

// UserAgent identifies conndiag's requests in server logs.
const UserAgent = "conndiag"

// Whoami is what a conndiag listen endpoint reports (defined in internal/evidence).
type Whoami = evidence.Whoami

// ParseWhoami reads one whoami JSON object; ok is false for anything else.
// Surrounding space and a trailing newline are allowed.
func ParseWhoami(b []byte) (Whoami, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return Whoami{}, false
	}
	var v struct {
		Conndiag string `json:"conndiag"`
		Version  string `json:"version"`
		Proto    string `json:"proto"`
		Client   string `json:"client"`
		Server   string `json:"server"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Conndiag != "listen" {
		return Whoami{}, false
	}
	w := Whoami{Proto: clip(v.Proto), Version: clip(v.Version)}
	w.Client, _ = parseAddrPort(v.Client)
	w.Server, _ = parseAddrPort(v.Server)
	return w, true
}

func parseAddrPort(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// ListenVersion recognises the Server header of a conndiag listen endpoint (see evidence.ListenVersion).
func ListenVersion(server string) (string, bool) { return evidence.ListenVersion(server) }

// clip keeps fields from a stranger short and printable.
func clip(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return Escape([]byte(s), 64)
}
