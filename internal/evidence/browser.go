package evidence

import (
	"net/netip"
	"time"
)

// Browser is one WebSocket connection a browser opened from the check page
// of conndiag listen: what the page's script saw, joined with what the
// listen endpoint saw of the same connection (when the URL is one of its
// own endpoints) and, for a URL the person typed, the verdict of conndiag
// check run from the server.
type Browser struct {
	URL    string // as the page opened it, without conndiag's token
	Scheme string // "ws" or "wss"
	Host   string
	Port   uint16

	// How the browser reached this server: the page itself.
	PageTLS  bool          // the page was loaded over https://
	PagePort uint16        // the port of the http(s) endpoint that served it
	PageFrom netip.Addr    // the address the page's requests came from
	Timeout  time.Duration // the page's own timer, after which it gives up

	Seen BrowserSide

	// Own: the URL names an endpoint of this listen, so Server says what
	// arrived there.
	Own    bool
	Server ServerSide

	// Check is the verdict cause of conndiag check run from the server
	// toward a typed URL, "" when it did not run.
	Check string
}

// BrowserSide is what a page script can learn of a WebSocket. By the WHATWG
// standard an error event carries nothing and a failed connection closes
// with 1006, not clean, without a reason; the timings are the script's.
type BrowserSide struct {
	// Thrown is the exception the WebSocket constructor threw
	// ("SecurityError"), with its message; nothing was sent then.
	Thrown, ThrownMsg string

	Opened  bool
	Open    time.Duration // from the constructor to the open event
	Echo    bool          // the whoami message sent after open came back
	Errored bool
	Error   time.Duration // to the error event
	Closed  bool
	Close   time.Duration // to the close event
	Code    int           // close code
	Reason  string        // close reason (the peer's bytes)
	Clean   bool          // wasClean

	// GaveUp: the connection was still connecting when the page's own
	// timer ran out (a browser itself waits up to 240 s).
	GaveUp bool

	// Deaths are the connections the page held open after the test that
	// closed without the page asking, with their age; Held is how long the
	// page has held the ones still open.
	Deaths []Death
	Held   time.Duration
}

// Death is a held connection that closed by itself.
type Death struct {
	Age   time.Duration // from the open event to the close event
	Code  int
	Clean bool
}

// ServerSide is what the listen endpoint saw of the browser's connection.
type ServerSide struct {
	TLS     bool // the endpoint speaks TLS
	HTTP    bool // the endpoint is an http(s) endpoint, not a WebSocket one
	Plain   bool // the endpoint speaks no HTTP at all (text, frame, raw tcp)
	Arrived bool // a TCP connection from the browser arrived
	From    netip.AddrPort

	Upgraded bool // the handshake completed: 101 was sent
	// Status is the HTTP status sent instead of 101, 0 when none was sent.
	Status int
	// NotHTTP: the bytes that came were not an HTTP request (a TLS
	// ClientHello on a plain port).
	NotHTTP bool
	// TLSFailed: the TLS handshake failed, with the error the server got.
	TLSFailed bool
	TLSErr    string

	Ended bool
	End   string        // why the server side ended (listen's reason code)
	Age   time.Duration // how long it lived on the server
}
