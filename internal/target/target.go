// Package target parses the target forms of conndiag (host:port, ws://, wss://,
// http://, https://, text://, frame://, tls://, ssl://, tcp://) into one Target value.
package target

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
	"golang.org/x/net/idna"
)

// Forms lists the accepted target forms, for usage messages.
const Forms = "host:port, [v6addr]:port, tcp://host:port, ws://host[:port][/path], websocket://host:port, " +
	"wss://host[:port][/path], http://host[:port][/path], https://host[:port][/path], text://host:port, " +
	"frame://host:port, tls://host:port, ssl://host:port"

// Protocol is what is spoken after TCP connects (defined in internal/evidence).
type Protocol = evidence.Protocol

// The protocols.
const (
	TCP       = evidence.ProtoTCP
	WebSocket = evidence.ProtoWebSocket
	HTTP      = evidence.ProtoHTTP
	Text      = evidence.ProtoText
	Frame     = evidence.ProtoFrame
	TLSOnly   = evidence.ProtoTLS
)

var schemes = evidence.Schemes

// Target is one parsed target.
type Target = evidence.Target

// Error is a target that cannot be parsed. Its message shows the accepted forms.
type Error struct {
	Input  string
	Reason string   // Why in English
	Why    i18n.Msg // the reason, a catalog message (platform.target.*)
}

func (e *Error) Error() string {
	return fmt.Sprintf("bad target %q: %s (accepted forms: %s)", e.Input, e.Reason, Forms)
}

// Msg is the whole error line in the catalog, for the chosen language.
func (e *Error) Msg() i18n.Msg {
	why := e.Why
	if why.ID == "" {
		why = i18n.M("platform.target.other", "Reason", e.Reason)
	}
	return i18n.M("platform.target.bad", "Input", fmt.Sprintf("%q", e.Input), "Reason", why, "Forms", Forms)
}

// reason is a reason message; its English text is the Error's Reason.
func reason(id string, kv ...any) *Error {
	m := i18n.M(id, kv...)
	return &Error{Reason: english().Text(m), Why: m}
}

var english = sync.OnceValue(func() *i18n.Printer { return i18n.New("en") })

// Parse parses one target. Surrounding space is ignored.
func Parse(s string) (Target, error) {
	raw := strings.TrimSpace(s)
	fail := func(e *Error) (Target, error) { e.Input = s; return Target{}, e }
	if raw == "" {
		return fail(reason("platform.target.empty"))
	}
	for _, r := range raw {
		if r <= ' ' || r == 0x7f {
			return fail(reason("platform.target.control"))
		}
	}
	t := Target{Raw: raw, Scheme: "tcp"}
	rest := raw
	if i := strings.Index(raw, "://"); i >= 0 {
		t.Scheme = strings.ToLower(raw[:i])
		rest = raw[i+3:]
		if _, ok := schemes[t.Scheme]; !ok {
			return fail(reason("platform.target.scheme", "Scheme", fmt.Sprintf("%q", raw[:i])))
		}
	}
	info := schemes[t.Scheme]
	hostport := rest
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		hostport, t.Path = rest[:j], rest[j:]
		if !info.HasPath {
			if strings.Trim(t.Path, "/") != "" {
				return fail(reason("platform.target.no_path", "Scheme", t.Scheme))
			}
			t.Path = ""
		}
		if k := strings.IndexByte(t.Path, '#'); k >= 0 {
			t.Path = t.Path[:k]
		}
		if strings.HasPrefix(t.Path, "?") {
			t.Path = "/" + t.Path
		}
	}
	if info.HasPath && t.Path == "" {
		t.Path = "/"
	}
	if strings.Contains(hostport, "@") {
		return fail(reason("platform.target.userinfo"))
	}
	host, port, e := splitHostPort(hostport)
	if e != nil {
		return fail(e)
	}
	if port == "" {
		if info.DefaultPort == 0 {
			return fail(reason("platform.target.no_port"))
		}
		t.Port = info.DefaultPort
	} else {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 || port[0] == '+' {
			return fail(reason("platform.target.port", "Port", fmt.Sprintf("%q", port)))
		}
		t.Port = uint16(n)
	}
	host, e = checkHost(host)
	if e != nil {
		return fail(e)
	}
	t.Host = host
	return t, nil
}

// splitHostPort splits "host", "host:port", "[v6]" and "[v6]:port". The port may be empty.
func splitHostPort(s string) (host, port string, e *Error) {
	if s == "" {
		return "", "", reason("platform.target.no_host")
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", reason("platform.target.bracket")
		}
		host, after := s[1:end], s[end+1:]
		// In a URL the zone's '%' is written %25 (RFC 6874): [fe80::1%25eth0].
		if i := strings.Index(host, "%25"); i >= 0 && i+3 < len(host) {
			host = host[:i] + "%" + host[i+3:]
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !strings.Contains(host, ":") {
			return "", "", reason("platform.target.not_v6", "Host", fmt.Sprintf("%q", host))
		}
		if a.IsLinkLocalUnicast() && a.Zone() == "" {
			// The kernel cannot pick the link itself and answers EINVAL.
			return "", "", reason("platform.target.zone", "Host", host)
		}
		switch {
		case after == "":
			return host, "", nil
		case after[0] == ':' && len(after) > 1:
			return host, after[1:], nil
		default:
			return "", "", reason("platform.target.after", "After", fmt.Sprintf("%q", after))
		}
	}
	switch strings.Count(s, ":") {
	case 0:
		return s, "", nil
	case 1:
		i := strings.IndexByte(s, ':')
		if i == len(s)-1 {
			return "", "", reason("platform.target.empty_port")
		}
		return s[:i], s[i+1:], nil
	default:
		return "", "", reason("platform.target.v6_brackets")
	}
}

// checkHost checks a host and returns it as it is looked up: an IPv4 or
// IPv6 address, or an ASCII host name (an internationalised name in
// punycode). A host whose last label is a number is meant as an IPv4
// address: it must be one, in dotted decimal, rather than go to DNS.
func checkHost(h string) (string, *Error) {
	if h == "" {
		return "", reason("platform.target.no_host")
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return h, nil
	}
	if e := checkIPv4Like(h); e != nil {
		return "", e
	}
	name := h
	if !isASCII(h) {
		a, err := idna.Lookup.ToASCII(h)
		if err != nil {
			return "", reason("platform.target.idna", "Host", fmt.Sprintf("%q", h))
		}
		name = a
	}
	if len(name) > 253 {
		return "", reason("platform.target.long_name")
	}
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if label == "" || len(label) > 63 {
			return "", reason("platform.target.bad_name", "Host", fmt.Sprintf("%q", h))
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			ok := c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
			if !ok {
				return "", reason("platform.target.bad_name", "Host", fmt.Sprintf("%q", h))
			}
		}
	}
	return name, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// checkIPv4Like refuses a host that URL parsers and inet_aton read as an
// IPv4 address (its last label is a decimal or 0x number) but that is not
// dotted decimal: 256.1.1.1, 10.99.2, 0x0a.0x63.0.2, 010.0.0.1. Sending it
// to DNS would only say "no such host"; some programs connect to another
// address than the one meant. nil when h is not such a host.
func checkIPv4Like(h string) *Error {
	parts := strings.Split(strings.TrimSuffix(h, "."), ".")
	if !ipv4Number(parts[len(parts)-1]) {
		return nil
	}
	q := fmt.Sprintf("%q", h)
	aton, atonOK := atonIPv4(parts)
	for _, p := range parts {
		switch {
		case !ipv4Number(p):
			return reason("platform.target.v4_bad", "Host", q)
		case strings.HasPrefix(strings.ToLower(p), "0x") || len(p) > 1 && p[0] == '0':
			if atonOK {
				return reason("platform.target.v4_radix", "Host", q, "Part", p, "Aton", aton.String())
			}
			return reason("platform.target.v4_radix_bad", "Host", q, "Part", p)
		}
		if n, err := strconv.ParseUint(p, 10, 64); err != nil || n > 255 && len(parts) == 4 {
			return reason("platform.target.v4_range", "Host", q, "Part", p)
		}
	}
	if len(parts) != 4 {
		if atonOK {
			return reason("platform.target.v4_parts_aton", "Host", q, "N", len(parts), "Aton", aton.String())
		}
		return reason("platform.target.v4_parts", "Host", q, "N", len(parts))
	}
	return reason("platform.target.v4_bad", "Host", q)
}

// ipv4Number: a decimal number, or 0x with hex digits, as URL hosts read them.
func ipv4Number(p string) bool {
	if p == "" {
		return false
	}
	digits, base := p, 10
	if len(p) >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') {
		digits, base = p[2:], 16
	}
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c >= '0' && c <= '9' || base == 16 && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			continue
		}
		return false
	}
	return digits != "" || base == 16
}

// atonIPv4 reads parts as inet_aton(3) does: one to four numbers, decimal,
// 0x hex or 0 octal, the last filling the bytes left. It is what many
// programs connect to, shown so a person sees which address they hit.
func atonIPv4(parts []string) (netip.Addr, bool) {
	if len(parts) == 0 || len(parts) > 4 {
		return netip.Addr{}, false
	}
	var nums []uint64
	for _, p := range parts {
		base, digits := 10, p
		switch {
		case len(p) >= 2 && (p[:2] == "0x" || p[:2] == "0X"):
			base, digits = 16, p[2:]
			if digits == "" {
				digits = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base, digits = 8, p[1:]
		}
		n, err := strconv.ParseUint(digits, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		nums = append(nums, n)
	}
	var v uint64
	for i, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, false
		}
		v |= n << (24 - 8*i)
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, false
	}
	v |= last
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}
