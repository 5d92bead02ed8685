package evidence

import (
	"net/netip"
	"strconv"
	"strings"
)

// Protocol is what is spoken after TCP connects.
type Protocol string

const (
	ProtoTCP       Protocol = "tcp"
	ProtoWebSocket Protocol = "websocket"
	ProtoHTTP      Protocol = "http"
	ProtoText      Protocol = "text"
	ProtoFrame     Protocol = "frame"
	ProtoTLS       Protocol = "tls"
)

// Scheme is what a target scheme implies (SPEC.md "Targets").
type Scheme struct {
	Proto       Protocol
	TLS         bool
	DefaultPort uint16 // 0: the port is required
	HasPath     bool
}

// Schemes are the target schemes of SPEC.md.
var Schemes = map[string]Scheme{
	"tcp":       {Proto: ProtoTCP},
	"ws":        {Proto: ProtoWebSocket, DefaultPort: 80, HasPath: true},
	"websocket": {Proto: ProtoWebSocket, DefaultPort: 80, HasPath: true},
	"wss":       {Proto: ProtoWebSocket, TLS: true, DefaultPort: 443, HasPath: true},
	"http":      {Proto: ProtoHTTP, DefaultPort: 80, HasPath: true},
	"https":     {Proto: ProtoHTTP, TLS: true, DefaultPort: 443, HasPath: true},
	"text":      {Proto: ProtoText},
	"frame":     {Proto: ProtoFrame},
	"tls":       {Proto: ProtoTLS, TLS: true},
	"ssl":       {Proto: ProtoTLS, TLS: true},
}

// Target is one parsed target (internal/target parses them).
type Target struct {
	Raw    string // as given
	Scheme string // "tcp" for host:port
	Host   string // name or address, without brackets
	Port   uint16
	Path   string // path and query for ws/http schemes ("/" by default), else ""
}

// Protocol is what the scheme implies after TCP connects.
func (t Target) Protocol() Protocol { return Schemes[t.Scheme].Proto }

// TLS reports whether the scheme starts with a TLS handshake.
func (t Target) TLS() bool { return Schemes[t.Scheme].TLS }

// Addr is host:port suitable for net.Dial ([v6]:port for an IPv6 host).
func (t Target) Addr() string {
	port := strconv.Itoa(int(t.Port))
	if strings.Contains(t.Host, ":") {
		return "[" + t.Host + "]:" + port
	}
	return t.Host + ":" + port
}

// IP returns the host as an address when it is a literal.
func (t Target) IP() (netip.Addr, bool) {
	a, err := netip.ParseAddr(t.Host)
	return a, err == nil
}

// String is the canonical form: scheme://host:port/path, or host:port for plain TCP given without a scheme.
func (t Target) String() string {
	if t.Scheme == "tcp" && !strings.Contains(t.Raw, "://") {
		return t.Addr()
	}
	// In a URL the zone's '%' is written %25 (RFC 6874): [fe80::1%25eth0].
	return t.Scheme + "://" + strings.Replace(t.Addr(), "%", "%25", 1) + t.Path
}

// OwnOrigin is the origin of a page served by the target's own host, what a
// browser sends when the page and the WebSocket come from the same place:
// http://host[:port] for ws:// (and http://), https://host[:port] for wss://
// (RFC 6454: the port only when it is not the scheme's default).
func (t Target) OwnOrigin() string {
	h := t.Host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	scheme, def := "http", uint16(80)
	if t.TLS() {
		scheme, def = "https", 443
	}
	if t.Port != def {
		h += ":" + strconv.Itoa(int(t.Port))
	}
	return scheme + "://" + h
}
