// Package target parses the target forms of conndiag (host:port, ws://, wss://,
// http://, https://, text://, frame://, tls://, ssl://, tcp://) into one Target value.
package target

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/conndiag/conndiag/internal/evidence"
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
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("bad target %q: %s (accepted forms: %s)", e.Input, e.Reason, Forms)
}

// Parse parses one target. Surrounding space is ignored.
func Parse(s string) (Target, error) {
	raw := strings.TrimSpace(s)
	fail := func(reason string) (Target, error) { return Target{}, &Error{Input: s, Reason: reason} }
	if raw == "" {
		return fail("empty")
	}
	for _, r := range raw {
		if r <= ' ' || r == 0x7f {
			return fail("contains a space or control character")
		}
	}
	t := Target{Raw: raw, Scheme: "tcp"}
	rest := raw
	if i := strings.Index(raw, "://"); i >= 0 {
		t.Scheme = strings.ToLower(raw[:i])
		rest = raw[i+3:]
		if _, ok := schemes[t.Scheme]; !ok {
			return fail(fmt.Sprintf("unknown scheme %q", raw[:i]))
		}
	}
	info := schemes[t.Scheme]
	hostport := rest
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		hostport, t.Path = rest[:j], rest[j:]
		if !info.HasPath {
			if strings.Trim(t.Path, "/") != "" {
				return fail(fmt.Sprintf("%s targets take no path", t.Scheme))
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
		return fail("user information (user@host) is not supported")
	}
	host, port, err := splitHostPort(hostport)
	if err != nil {
		return fail(err.Error())
	}
	if port == "" {
		if info.DefaultPort == 0 {
			return fail("port is missing")
		}
		t.Port = info.DefaultPort
	} else {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 || port[0] == '+' {
			return fail(fmt.Sprintf("port %q is not a number from 1 to 65535", port))
		}
		t.Port = uint16(n)
	}
	if err := checkHost(host); err != nil {
		return fail(err.Error())
	}
	t.Host = host
	return t, nil
}

// splitHostPort splits "host", "host:port", "[v6]" and "[v6]:port". The port may be empty.
func splitHostPort(s string) (host, port string, err error) {
	if s == "" {
		return "", "", errors.New("host is missing")
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", errors.New("missing ']' after an IPv6 address")
		}
		host, after := s[1:end], s[end+1:]
		// In a URL the zone's '%' is written %25 (RFC 6874): [fe80::1%25eth0].
		if i := strings.Index(host, "%25"); i >= 0 && i+3 < len(host) {
			host = host[:i] + "%" + host[i+3:]
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !strings.Contains(host, ":") {
			return "", "", fmt.Errorf("%q is not an IPv6 address", host)
		}
		if a.IsLinkLocalUnicast() && a.Zone() == "" {
			// The kernel cannot pick the link itself and answers EINVAL.
			return "", "", fmt.Errorf("the link-local address %s needs its interface: [%s%%eth0] (see ip -br addr)", host, host)
		}
		switch {
		case after == "":
			return host, "", nil
		case after[0] == ':' && len(after) > 1:
			return host, after[1:], nil
		default:
			return "", "", fmt.Errorf("unexpected %q after the address", after)
		}
	}
	switch strings.Count(s, ":") {
	case 0:
		return s, "", nil
	case 1:
		i := strings.IndexByte(s, ':')
		if i == len(s)-1 {
			return "", "", errors.New("port is empty")
		}
		return s[:i], s[i+1:], nil
	default:
		return "", "", errors.New("an IPv6 address needs brackets: [2001:db8::1]:8080")
	}
}

func checkHost(h string) error {
	if h == "" {
		return errors.New("host is missing")
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	if len(h) > 253 {
		return errors.New("host name is longer than 253 characters")
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%q is not a valid host name", h)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			ok := c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
			if !ok {
				return fmt.Errorf("%q is not a valid host name", h)
			}
		}
	}
	return nil
}
