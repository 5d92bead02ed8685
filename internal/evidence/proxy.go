package evidence

import (
	"net/netip"
	"net/url"
	"time"
)

// ProxySetting is one proxy variable that is set.
type ProxySetting struct{ Var, Value string }

// ProxyChoice is the proxy the environment gives a client for one target.
type ProxyChoice struct {
	Set []ProxySetting // every proxy variable that is set, password redacted
	Var string         // the variable that applies to the target; "" when none does
	URL *url.URL       // its value, parsed; nil when none applies or it does not parse
	Raw string         // its value as set (password redacted)
	Bad string         // why the value is not a usable proxy URL
	// Bypass names what exempts the target from the proxy: the NO_PROXY
	// variable that matches, or "loopback" (clients never proxy loopback).
	Bypass      string
	BypassValue string
}

// Applies reports whether the client would send the target through the proxy.
func (c ProxyChoice) Applies() bool { return c.Var != "" && c.Bypass == "" }

// Any reports whether any proxy variable is set.
func (c ProxyChoice) Any() bool { return len(c.Set) > 0 }

// ProxyStage is how far the test of a proxy got.
type ProxyStage string

const (
	StageResolve   ProxyStage = "resolve"   // the proxy's own name did not resolve
	StageConnect   ProxyStage = "connect"   // TCP to the proxy failed
	StageTLS       ProxyStage = "tls"       // TLS with an https:// proxy failed
	StageHandshake ProxyStage = "handshake" // the proxy did not speak the protocol of its URL (SOCKS5 greeting, HTTP response)
	StageRequest   ProxyStage = "request"   // the proxy answered the CONNECT with a failure
	StageOK        ProxyStage = "ok"        // the tunnel to the target is open
)

// ProxyResult is what testing one proxy found.
type ProxyResult struct {
	URL        string // the proxy, password redacted
	Scheme     string
	Asked      string // the target as asked of the proxy (host:port)
	Stage      ProxyStage
	Addr       netip.AddrPort // the proxy address connected to
	Connect    Connect        // the TCP connect to the proxy
	Status     int            // HTTP CONNECT status code, when one came
	StatusText string         // its status line text ("403 Forbidden")
	Reply      string         // the SOCKS5 reply, when it was not "succeeded"
	Err        string         // what went wrong at Stage
	Duration   time.Duration
}

// Tunnel reports whether the proxy opened the connection to the target.
func (r ProxyResult) Tunnel() bool { return r.Stage == StageOK }
