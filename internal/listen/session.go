package listen

import (
	"fmt"
	"time"

	"github.com/conndiag/conndiag/internal/i18n"
)

// A session is the protocol state of one connection. It does no I/O: a
// driver (the event loop or a goroutine) feeds it the bytes received and
// writes what it appends. The same input split in any way gives the same
// output, which the fuzz tests check.
type session interface {
	// feed consumes a prefix of in and appends replies to *out. Bytes not
	// consumed are an incomplete line, frame or message: the driver keeps them
	// and calls feed again with more. feed may change in (WebSocket unmasks in
	// place).
	feed(in []byte, out *[]byte) result
	// ready reports whether the protocol handshake, if any, is done.
	ready() bool
	// busy reports whether the session holds part of a message itself.
	busy() bool
	// goodbye appends what to send when the server shuts down.
	goodbye(out *[]byte)
	// overloaded appends what to send when the connection is closed because
	// its next bytes do not fit in Config.MaxBuffered.
	overloaded(out *[]byte)
}

// result is what one feed did.
type result struct {
	n int // bytes of in consumed
	// full: stopped early because *out reached outLimit; call feed again
	// once it is written.
	full bool
	// close: write *out, then close the connection, for why.
	close bool
	why   Reason
	// need is the size of the incomplete unit that starts at in[n:] when
	// its header says it (a frame), 0 otherwise: the driver never grows its
	// buffer past it, but fills it only as bytes arrive.
	need int
}

func closeWith(n int, why Reason) result { return result{n: n, close: true, why: why} }

func newSession(c *connInfo, lim *limits) session {
	switch c.ep.Proto {
	case WebSocket:
		return &wsSession{c: c, lim: lim}
	case Text:
		return &textSession{c: c, max: lim.maxLine}
	case Frame:
		return &frameSession{c: c, max: lim.maxFrame}
	default:
		return &tcpSession{c: c}
	}
}

// limits are the Config sizes the sessions need.
type limits struct {
	maxMessage, maxLine, maxFrame int
	serverHeader                  string // "Server: conndiag-listen/V\r\n"
	cfg                           *Config
	mem                           *budget // nil: nothing is charged
}

// Reasons a connection ends. Each carries a stable code for JSON logs.
func reasonClientClosed() Reason {
	return Reason{"client_closed", i18n.M("listen.why.client_closed")}
}
func reasonReset(err error) Reason {
	return Reason{"reset", i18n.M("listen.why.reset", "Err", err.Error())}
}
func reasonIO(err error) Reason {
	return Reason{"io_error", i18n.M("listen.why.io_error", "Err", err.Error())}
}
func reasonWSClose(code int) Reason {
	return Reason{"ws_close", i18n.M("listen.why.ws_close", "Code", code)}
}
func reasonLineTooLong(max int) Reason {
	return Reason{"line_too_long", i18n.M("listen.why.line_too_long", "Max", max)}
}
func reasonFrameTooBig(n uint32, max int) Reason {
	return Reason{"frame_too_big", i18n.M("listen.why.frame_too_big", "Len", n, "Max", max)}
}
func reasonFrameTooShort(n uint32) Reason {
	return Reason{"frame_too_short", i18n.M("listen.why.frame_too_short", "Len", n)}
}
func reasonOverBudget(max int) Reason {
	return Reason{"max_buffered", i18n.M("listenbounds.why.max_buffered", "Max", sizeText(max))}
}
func reasonMessageTooBig(max int) Reason {
	return Reason{"message_too_big", i18n.M("listen.why.message_too_big", "Max", max)}
}
func reasonWSProtocol(err error) Reason {
	return Reason{"ws_protocol_error", i18n.M("listen.why.ws_protocol", "Err", err.Error())}
}
func reasonWSUTF8() Reason {
	return Reason{"ws_invalid_utf8", i18n.M("listen.why.ws_utf8")}
}
func reasonHandshake(err error) Reason {
	return Reason{"handshake_rejected", i18n.M("listen.why.handshake", "Err", err.Error())}
}
func reasonHandshakeTooBig(max int) Reason {
	return Reason{"handshake_too_big", i18n.M("listen.why.handshake_too_big", "Max", max)}
}
func reasonHandshakeTimeout(d time.Duration) Reason {
	return Reason{"handshake_timeout", i18n.M("listen.why.handshake_timeout", "Dur", d.String())}
}
func reasonTLS(err error) Reason {
	return Reason{"tls_failed", i18n.M("listen.why.tls", "Err", err.Error())}
}
func reasonReadTimeout(d time.Duration) Reason {
	return Reason{"read_timeout", i18n.M("listen.why.read_timeout", "Dur", d.String())}
}
func reasonWriteTimeout(d time.Duration) Reason {
	return Reason{"write_timeout", i18n.M("listen.why.write_timeout", "Dur", d.String())}
}
func reasonIdle(d time.Duration) Reason {
	return Reason{"idle_timeout", i18n.M("listen.why.idle", "Dur", d.String())}
}
func reasonShutdown() Reason {
	return Reason{"shutdown", i18n.M("listen.why.shutdown")}
}
func reasonInternal(v any) Reason {
	return Reason{"internal_error", i18n.M("listen.why.internal", "Err", fmtAny(v))}
}
func reasonHTTP(requests int) Reason {
	return Reason{"http_done", i18n.M("listen.why.http", "N", requests)}
}
func reasonHTTPUpgrade(requests int) Reason {
	return Reason{"http_upgrade_answered_200", i18n.M("listen.why.http_upgrade", "N", requests)}
}

func fmtAny(v any) string { return fmt.Sprint(v) }

// sizeText writes a byte count the way the size flags take it: 64MiB, 512KiB, 1000.
func sizeText(n int) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprint(n)
}
