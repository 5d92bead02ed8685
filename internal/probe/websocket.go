package probe

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"

	"github.com/gorilla/websocket"
)

// WebSocket is the opening handshake and what came back (defined in internal/evidence).
type WebSocket = evidence.WebSocket

// WebSocketHandshake runs the opening handshake for path with the Host
// header host on conn (plain, or TLS already done), before deadline, with
// no Origin header. conn is closed when it returns.
func WebSocketHandshake(ctx context.Context, conn net.Conn, deadline time.Time, host, path string) *WebSocket {
	return Upgrade(ctx, conn, deadline, WSRequest{Host: host, Path: path})
}

// WSRequest is what an opening handshake asks for.
type WSRequest struct {
	Host   string // the Host header
	Path   string // the request target: path and query
	Origin string // the Origin header ("http://app.example.com"); "" sends none
}

// Upgrade runs the opening handshake req on conn (plain, or TLS already
// done), before deadline. A conndiag listen endpoint is then asked "whoami"
// (one more round trip). conn is closed when it returns.
func Upgrade(ctx context.Context, conn net.Conn, deadline time.Time, req WSRequest) *WebSocket {
	host, path := req.Host, req.Path
	res := &WebSocket{HTTP: HTTP{Host: host, Path: path}, Origin: req.Origin}
	rec := record(conn, MaxAnswer)
	defer rec.Close()
	// gorilla reads the handshake answer without watching ctx: close on cancel (Ctrl-C).
	defer closeOnDone(ctx, rec)()
	d := websocket.Dialer{
		NetDialContext:   dialOnce(rec, "probe: one connection only"),
		HandshakeTimeout: time.Until(deadline),
		ReadBufferSize:   4096,
		WriteBufferSize:  4096,
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	hdr := http.Header{"Host": {host}, "User-Agent": {UserAgent}}
	if req.Origin != "" {
		hdr.Set("Origin", req.Origin)
	}
	c, resp, err := d.DialContext(ctx, "ws://"+host+path, hdr)
	res.Exchange = rec.exchange()
	res.FirstByte = res.Exchange.FirstByte
	res.AcceptWant = acceptFor(res.Sent)
	if resp != nil && resp.StatusCode < 100 {
		resp, c, err = nil, nil, badStatus(resp.StatusCode)
	}
	if resp != nil {
		res.Status, res.StatusLine, res.Header = resp.StatusCode, resp.Proto+" "+resp.Status, evidence.Header(resp.Header)
		if resp.Body != nil {
			res.Body, _ = io.ReadAll(io.LimitReader(resp.Body, MaxBody))
		}
	}
	if err != nil {
		res.Err = err
		settle(&res.Exchange, err)
		return res
	}
	defer c.Close()
	res.Upgraded = true
	res.Subprotocol = c.Subprotocol()
	if _, ok := ListenVersion(res.Server()); ok {
		c.SetWriteDeadline(deadline)
		c.SetReadDeadline(deadline)
		if c.WriteMessage(websocket.TextMessage, []byte(WhoamiRequest)) == nil {
			c.SetReadLimit(64 << 10)
			if typ, msg, err := c.ReadMessage(); err == nil && typ == websocket.TextMessage {
				if w, ok := ParseWhoami(msg); ok {
					res.Whoami = &w
				}
			}
		}
	}
	return res
}

// acceptFor computes the Sec-WebSocket-Accept that the key in the request
// sent calls for (RFC 6455 section 4.2.2).
func acceptFor(req []byte) string {
	for _, line := range bytes.Split(req, []byte("\r\n")) {
		name, value, ok := strings.Cut(string(line), ":")
		if ok && strings.EqualFold(strings.TrimSpace(name), "Sec-WebSocket-Key") {
			h := sha1.Sum([]byte(strings.TrimSpace(value) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
			return base64.StdEncoding.EncodeToString(h[:])
		}
	}
	return ""
}
