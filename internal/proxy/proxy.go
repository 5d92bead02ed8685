// Package proxy finds the proxy a client would go through for a target,
// from the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY and
// their lower-case forms), and tests that proxy: can it be reached, and does
// an HTTP CONNECT or a SOCKS5 handshake and CONNECT to the target work.
package proxy

import (
	"net/url"
	"strings"

	"github.com/conndiag/conndiag/internal/evidence"

	"golang.org/x/net/http/httpproxy"

	"github.com/conndiag/conndiag/internal/target"
)

// Vars are the variables read, lower-case first in each pair: curl and most
// command-line clients prefer the lower-case form (and ignore upper-case
// HTTP_PROXY), so that is the one a client most likely uses.
var Vars = []string{"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"}

// Setting is one proxy variable that is set.
type Setting = evidence.ProxySetting

// Choice is the proxy the environment gives a client for one target.
type Choice = evidence.ProxyChoice

// varsFor lists, in order, the variables a client consults for a target:
// HTTP(S)_PROXY for the HTTP and WebSocket schemes, then ALL_PROXY, which
// clients that proxy raw sockets (curl, socks wrappers) also use.
func varsFor(t target.Target) []string {
	switch t.Scheme {
	case "ws", "websocket", "http":
		return []string{"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"}
	case "wss", "https":
		return []string{"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}
	}
	return []string{"all_proxy", "ALL_PROXY"}
}

// Choose finds the proxy for t in the environment read through getenv.
func Choose(getenv func(string) string, t target.Target) Choice {
	var c Choice
	for _, v := range Vars {
		if val := strings.TrimSpace(getenv(v)); val != "" {
			c.Set = append(c.Set, Setting{Var: v, Value: redact(val)})
		}
	}
	for _, v := range varsFor(t) {
		val := strings.TrimSpace(getenv(v))
		if val == "" {
			continue
		}
		c.Var, c.Raw = v, redact(val)
		u, bad := ParseURL(val)
		c.URL, c.Bad = u, bad
		break
	}
	if c.Var == "" {
		return c
	}
	noVar, noVal := "", ""
	for _, v := range []string{"no_proxy", "NO_PROXY"} {
		if val := strings.TrimSpace(getenv(v)); val != "" {
			noVar, noVal = v, val
			break
		}
	}
	switch {
	case !proxied(t, ""):
		c.Bypass = "loopback"
	case noVar != "" && !proxied(t, noVal):
		c.Bypass, c.BypassValue = noVar, noVal
	}
	return c
}

// proxied asks x/net's httpproxy (the rules of Go's net/http) whether the
// target goes through a proxy under that NO_PROXY value.
func proxied(t target.Target, noProxy string) bool {
	scheme := "http"
	if t.TLS() {
		scheme = "https"
	}
	cfg := httpproxy.Config{HTTPProxy: "http://proxy.invalid:1", HTTPSProxy: "http://proxy.invalid:1", NoProxy: noProxy}
	u, err := cfg.ProxyFunc()(&url.URL{Scheme: scheme, Host: t.Addr()})
	return err == nil && u != nil
}

// ParseURL reads a proxy variable's value. A value without a scheme is an
// HTTP proxy, as curl and Go take it. Supported: http, https, socks5, socks5h.
func ParseURL(s string) (*url.URL, string) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return nil, "not a URL such as http://proxy.example:3128 or socks5://127.0.0.1:1080"
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
	default:
		return nil, "the scheme " + u.Scheme + " is not one conndiag can test (http, https, socks5, socks5h)"
	}
	if u.Port() == "" {
		u.Host += ":" + defaultPort(u.Scheme)
	}
	return u, ""
}

func defaultPort(scheme string) string {
	switch scheme {
	case "https":
		return "443"
	case "socks5", "socks5h":
		return "1080"
	}
	return "80"
}

// redact hides a password in a proxy URL.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			return u.Redacted()
		}
	}
	return s
}
