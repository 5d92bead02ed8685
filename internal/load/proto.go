package load

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
)

// maxHead bounds a handshake or HTTP response head; a server sending more
// is not one this client can talk to.
const maxHead = 16 << 10

var (
	errHeadTooBig = errors.New("response head larger than 16 KiB")
	errNotHTTP    = errors.New("the answer is not HTTP")
	errNoAccept   = errors.New("101 without the right Sec-WebSocket-Accept")
	errBadFrame   = errors.New("invalid WebSocket frame from the server")
	errChunked    = errors.New("invalid chunked body")
)

// wsKey is the Sec-WebSocket-Key of every handshake of a run. RFC 6455 asks
// for a random nonce per connection so that proxies do not cache; one fresh
// random key per run serves that and lets the answer be checked once.
type wsKey struct {
	key, accept string
}

func newWSKey(random []byte) wsKey {
	k := base64.StdEncoding.EncodeToString(random)
	h := sha1.Sum([]byte(k + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return wsKey{key: k, accept: base64.StdEncoding.EncodeToString(h[:])}
}

// wsRequest is the handshake request.
func wsRequest(hostHeader, path string, k wsKey) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: " + hostHeader +
		"\r\nUser-Agent: conndiag-load\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
		k.key + "\r\nSec-WebSocket-Version: 13\r\n\r\n")
}

// httpRequest is the request of an http:// target; the connection is kept
// alive so that this client, not the server, closes it.
func httpRequest(hostHeader, path string) []byte {
	return []byte("GET " + path + " HTTP/1.1\r\nHost: " + hostHeader + "\r\nUser-Agent: conndiag-load\r\nAccept: */*\r\n\r\n")
}

// head is a parsed response head.
type head struct {
	status  int
	n       int // bytes of the head, the blank line included
	accept  string
	length  int64 // Content-Length, -1 when absent
	chunked bool
	close   bool // Connection: close
}

// parseHead parses a response head from b. It returns ok=false when b holds
// no complete head yet (err nil) or when b cannot be HTTP.
func parseHead(b []byte) (h head, ok bool, err error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) >= 5 && !bytes.HasPrefix(b, []byte("HTTP/")) {
			return h, false, errNotHTTP
		}
		if len(b) < 5 && !bytes.HasPrefix([]byte("HTTP/"), b) {
			return h, false, errNotHTTP
		}
		if len(b) > maxHead {
			return h, false, errHeadTooBig
		}
		return h, false, nil
	}
	if end+4 > maxHead {
		return h, false, errHeadTooBig
	}
	h.n, h.length = end+4, -1
	lines := strings.Split(string(b[:end]), "\r\n")
	f := strings.SplitN(lines[0], " ", 3)
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/1.") || len(f[1]) != 3 {
		return h, false, errNotHTTP
	}
	if h.status, err = strconv.Atoi(f[1]); err != nil || h.status < 100 {
		return h, false, errNotHTTP
	}
	for _, l := range lines[1:] {
		k, v, found := strings.Cut(l, ":")
		if !found {
			return h, false, errNotHTTP
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "sec-websocket-accept":
			h.accept = v
		case "content-length":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return h, false, errNotHTTP
			}
			h.length = n
		case "transfer-encoding":
			h.chunked = strings.Contains(strings.ToLower(v), "chunked")
		case "connection":
			h.close = strings.Contains(strings.ToLower(v), "close")
		}
	}
	return h, true, nil
}

// body skips an HTTP response body as it arrives, without keeping it.
type body struct {
	mode   uint8 // bodyLength, bodyChunked, bodyEOF, bodyDone
	remain int64 // bytes left of the body or of the current chunk (with its CRLF)
	line   []byte
	trail  bool // reading trailers after the last chunk
}

const (
	bodyLength uint8 = iota
	bodyChunked
	bodyEOF
	bodyDone
)

// newBody prepares to skip the body that h announces (none for 1xx, 204, 304).
func newBody(h head) *body {
	switch {
	case h.status < 200 || h.status == 204 || h.status == 304:
		return &body{mode: bodyDone}
	case h.chunked:
		return &body{mode: bodyChunked}
	case h.length >= 0:
		if h.length == 0 {
			return &body{mode: bodyDone}
		}
		return &body{mode: bodyLength, remain: h.length}
	}
	return &body{mode: bodyEOF}
}

// feed consumes b and reports whether the body is complete.
func (bd *body) feed(b []byte) (done bool, err error) {
	for len(b) > 0 {
		switch bd.mode {
		case bodyDone:
			return true, nil
		case bodyEOF:
			return false, nil
		case bodyLength:
			n := min(int64(len(b)), bd.remain)
			bd.remain -= n
			b = b[n:]
			if bd.remain == 0 {
				bd.mode = bodyDone
			}
		case bodyChunked:
			if bd.remain > 0 {
				n := min(int64(len(b)), bd.remain)
				bd.remain -= n
				b = b[n:]
				continue
			}
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				if len(bd.line)+len(b) > 4096 {
					return false, errChunked
				}
				bd.line = append(bd.line, b...)
				return false, nil
			}
			line := strings.TrimSpace(string(append(bd.line, b[:i]...)))
			bd.line = bd.line[:0]
			b = b[i+1:]
			if bd.trail {
				if line == "" {
					bd.mode = bodyDone
				}
				continue
			}
			if j := strings.IndexByte(line, ';'); j >= 0 {
				line = line[:j]
			}
			size, err := strconv.ParseInt(strings.TrimSpace(line), 16, 64)
			if err != nil || size < 0 || size > 1<<40 {
				return false, errChunked
			}
			if size == 0 {
				bd.trail = true
				continue
			}
			bd.remain = size + 2 // the chunk and its CRLF
		}
	}
	return bd.mode == bodyDone, nil
}

// WebSocket opcodes.
const (
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// wsIn reads the server's frames: data payloads are skipped, control
// frames are returned whole.
type wsIn struct {
	skip int64 // payload bytes of a data frame still to skip
}

// next consumes what it can of b. A control frame comes back as op and
// payload (pointing into b); op 0 means only data or partial input was
// consumed. n is what was consumed; the caller keeps b[n:] for later.
func (w *wsIn) next(b []byte) (op byte, payload []byte, n int, err error) {
	if w.skip > 0 {
		k := min(int64(len(b)), w.skip)
		w.skip -= k
		return 0, nil, int(k), nil
	}
	if len(b) < 2 {
		return 0, nil, 0, nil
	}
	if b[1]&0x80 != 0 || b[0]&0x70 != 0 {
		return 0, nil, 0, errBadFrame // servers never mask; no extension was negotiated
	}
	code := b[0] & 0x0f
	l := int64(b[1] & 0x7f)
	hl := 2
	switch l {
	case 126:
		if len(b) < 4 {
			return 0, nil, 0, nil
		}
		l, hl = int64(binary.BigEndian.Uint16(b[2:4])), 4
	case 127:
		if len(b) < 10 {
			return 0, nil, 0, nil
		}
		u := binary.BigEndian.Uint64(b[2:10])
		if u > 1<<62 {
			return 0, nil, 0, errBadFrame
		}
		l, hl = int64(u), 10
	}
	if code >= opClose {
		if l > 125 || b[0]&0x80 == 0 || code > opPong {
			return 0, nil, 0, errBadFrame
		}
		if int64(len(b)-hl) < l {
			return 0, nil, 0, nil
		}
		return code, b[hl : hl+int(l)], hl + int(l), nil
	}
	if code > 2 {
		return 0, nil, 0, errBadFrame
	}
	avail := min(int64(len(b)-hl), l)
	w.skip = l - avail
	return 0, nil, hl + int(avail), nil
}

// closeCode reads the status code of a close frame's payload (1005: none).
func closeCode(payload []byte) int {
	if len(payload) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(payload))
}

// clientFrame builds a masked client frame with a payload of at most 125
// bytes. The mask is fixed: it protects proxies from crafted payloads, and
// this client's payloads are its own.
func clientFrame(dst []byte, op byte, payload []byte) []byte {
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	dst = append(dst, 0x80|op, 0x80|byte(len(payload)), mask[0], mask[1], mask[2], mask[3])
	for i, c := range payload {
		dst = append(dst, c^mask[i%4])
	}
	return dst
}

// closeFrame is a client close frame with a status code.
func closeFrame(code int) []byte {
	var p [2]byte
	binary.BigEndian.PutUint16(p[:], uint16(code))
	return clientFrame(nil, opClose, p[:])
}
