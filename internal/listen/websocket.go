package listen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// wsSession is an RFC 6455 server: the opening handshake (by gobwas/ws),
// then echo of text and binary messages, ping/pong and the close handshake.
// Fragmented messages are assembled up to maxMessage and echoed whole.
type wsSession struct {
	c   *connInfo
	lim *limits
	up  bool      // handshake done
	op  ws.OpCode // opcode of a fragmented message in progress, 0 when none
	msg []byte    // its payload so far
}

var (
	errCloseOneByte = errors.New("close frame with a 1-byte payload")
	errNotWebSocket = errors.New("not a WebSocket upgrade request")
)

func (s *wsSession) ready() bool { return s.up }
func (s *wsSession) busy() bool  { return s.op != 0 }

func (s *wsSession) goodbye(out *[]byte) {
	if s.up {
		*out = appendFrame(*out, ws.OpClose, ws.NewCloseFrameBody(ws.StatusGoingAway, ""))
	}
}

// overloaded is close 1013 "try again later" once the handshake is done,
// 503 before.
func (s *wsSession) overloaded(out *[]byte) {
	if s.up {
		*out = appendFrame(*out, ws.OpClose, ws.NewCloseFrameBody(statusTryAgainLater, ""))
		return
	}
	*out = append(*out, "HTTP/1.1 503 Service Unavailable\r\n"+s.lim.serverHeader+"Connection: close\r\nContent-Length: 0\r\n\r\n"...)
}

// statusTryAgainLater is close code 1013 (IANA WebSocket registry): the
// server is overloaded.
const statusTryAgainLater ws.StatusCode = 1013

func (s *wsSession) feed(in []byte, out *[]byte) result {
	n := 0
	if !s.up {
		if !requestStart(in) {
			// Not HTTP at all (a TLS ClientHello, a raw protocol): answer at
			// once, as an HTTP server does, rather than at the handshake
			// deadline. This is decided on the first bytes alone, before
			// looking for the end of the head: a head that ends within them
			// ("0\n\n") must get the same answer whether it came in one read
			// or in several.
			*out = append(*out, "HTTP/1.1 400 Bad Request\r\n"+s.lim.serverHeader+"Connection: close\r\nContent-Length: 0\r\n\r\n"...)
			s.c.sawHandshake(nil, 400, true)
			return closeWith(len(in), reasonHandshake(errNotHTTP))
		}
		end := headerEnd(in)
		if end < 0 && len(in) <= maxHandshake {
			return result{} // headers not complete yet
		}
		if end < 0 || end > maxHandshake {
			*out = append(*out, "HTTP/1.1 431 Request Header Fields Too Large\r\n"+s.lim.serverHeader+"Connection: close\r\nContent-Length: 0\r\n\r\n"...)
			s.c.sawHandshake(in, 431, false)
			return closeWith(len(in), reasonHandshakeTooBig(maxHandshake))
		}
		before := len(*out)
		if err := s.handshake(in[:end], out); err != nil {
			s.c.sawHandshake(in[:end], statusOf((*out)[before:]), false)
			return closeWith(end, reasonHandshake(err))
		}
		s.c.sawHandshake(in[:end], 101, false)
		s.up = true
		n = end
	}
	for n < len(in) {
		if len(*out) >= outLimit {
			return result{n: n, full: true}
		}
		h, hsize, ok, err := parseHeader(in[n:])
		if err != nil {
			return s.fail(n, out, err)
		}
		if !ok {
			break
		}
		state := ws.StateServerSide
		if s.op != 0 {
			state = state.Set(ws.StateFragmented)
		}
		if err := ws.CheckHeader(h, state); err != nil {
			return s.fail(n, out, err)
		}
		if !h.OpCode.IsControl() && h.Length > int64(s.lim.maxMessage-len(s.msg)) {
			*out = appendFrame(*out, ws.OpClose, ws.NewCloseFrameBody(ws.StatusMessageTooBig, ""))
			return closeWith(n, reasonMessageTooBig(s.lim.maxMessage))
		}
		total := hsize + int(h.Length)
		if len(in)-n < total {
			return result{n: n, need: total}
		}
		payload := in[n+hsize : n+total]
		ws.Cipher(payload, h.Mask, 0)
		n += total
		switch h.OpCode {
		case ws.OpPing:
			*out = appendFrame(*out, ws.OpPong, payload)
		case ws.OpPong:
		case ws.OpClose:
			return s.closeFrame(n, payload, out)
		case ws.OpContinuation:
			msg, ok := s.lim.mem.append(&s.c.held, s.msg, payload, s.lim.maxMessage)
			if !ok {
				s.overloaded(out)
				return closeWith(n, reasonOverBudget(int(s.lim.mem.max)))
			}
			s.msg = msg
			if h.Fin {
				op := s.op
				s.op, s.msg = 0, nil
				r, bad := s.message(n, op, msg, out)
				s.lim.mem.drop(&s.c.held, msg)
				if bad {
					return r
				}
			}
		default:
			if !h.Fin {
				msg, ok := s.lim.mem.append(&s.c.held, nil, payload, s.lim.maxMessage)
				if !ok {
					s.overloaded(out)
					return closeWith(n, reasonOverBudget(int(s.lim.mem.max)))
				}
				s.op, s.msg = h.OpCode, msg
				continue
			}
			if r, bad := s.message(n, h.OpCode, payload, out); bad {
				return r
			}
		}
	}
	return result{n: n}
}

// message echoes one complete message, or answers whoami.
func (s *wsSession) message(n int, op ws.OpCode, p []byte, out *[]byte) (result, bool) {
	if op == ws.OpText {
		if !utf8.Valid(p) {
			*out = appendFrame(*out, ws.OpClose, ws.NewCloseFrameBody(ws.StatusInvalidFramePayloadData, ""))
			return closeWith(n, reasonWSUTF8()), true
		}
		if string(p) == "whoami" {
			*out = appendFrame(*out, ws.OpText, s.c.appendWhoami(nil))
			return result{}, false
		}
	}
	*out = appendFrame(*out, op, p)
	return result{}, false
}

// closeFrame answers the client's close frame with the same status code.
func (s *wsSession) closeFrame(n int, p []byte, out *[]byte) result {
	switch len(p) {
	case 0:
		*out = appendFrame(*out, ws.OpClose, nil)
		return closeWith(n, reasonWSClose(int(ws.StatusNoStatusRcvd)))
	case 1:
		return s.fail(n, out, errCloseOneByte)
	}
	code := ws.StatusCode(binary.BigEndian.Uint16(p))
	if err := ws.CheckCloseFrameData(code, string(p[2:])); err != nil {
		return s.fail(n, out, err)
	}
	*out = appendFrame(*out, ws.OpClose, p[:2])
	return closeWith(n, reasonWSClose(int(code)))
}

// fail is RFC 6455 "Fail the WebSocket Connection": close 1002, then close.
func (s *wsSession) fail(n int, out *[]byte, err error) result {
	*out = appendFrame(*out, ws.OpClose, ws.NewCloseFrameBody(ws.StatusProtocolError, ""))
	return closeWith(n, reasonWSProtocol(err))
}

var errNotHTTP = errors.New("the request does not start with an HTTP method")

// requestStart reports whether in can be the start of an HTTP request line:
// a method of token characters followed by a space.
func requestStart(in []byte) bool {
	for i, c := range in {
		if c == ' ' {
			return i > 0
		}
		if i >= 16 || !isTokenChar(c) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func (s *wsSession) handshake(req []byte, out *[]byte) error {
	before := len(*out)
	if !isUpgrade(req) {
		// What Workerman answers a browser opening a WebSocket port.
		body := s.lim.cfg.Printer.T("listen.ws.not_websocket", "Client", s.c.peer.String())
		*out = append(*out, "HTTP/1.1 400 Bad Request\r\n"+s.lim.serverHeader+
			"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: "+
			strconv.Itoa(len(body)+1)+"\r\n\r\n"+body+"\n"...)
		return errNotWebSocket
	}
	u := ws.Upgrader{
		Header: ws.HandshakeHeaderString(s.lim.serverHeader),
		// Browsers fail a handshake that names none of the subprotocols
		// they offered: an echo endpoint takes the first one.
		Protocol: func([]byte) bool { return true },
	}
	_, err := u.Upgrade(struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(req), appendWriter{out}})
	if err != nil && len(*out) == before {
		// gobwas answers nothing to a request line it cannot parse.
		*out = append(*out, "HTTP/1.1 400 Bad Request\r\n"+s.lim.serverHeader+"Connection: close\r\nContent-Length: 0\r\n\r\n"...)
	}
	return err
}

// isUpgrade reports whether the request has an Upgrade header naming websocket.
func isUpgrade(req []byte) bool {
	for _, line := range bytes.Split(req, []byte{'\n'}) {
		k, v, ok := bytes.Cut(line, []byte{':'})
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("upgrade")) &&
			bytes.Contains(bytes.ToLower(v), []byte("websocket")) {
			return true
		}
	}
	return false
}

// headerEnd returns the length of the HTTP request head in b (through the
// blank line), or -1 when b does not hold all of it yet.
func headerEnd(b []byte) int {
	end := -1
	if i := bytes.Index(b, []byte("\n\r\n")); i >= 0 {
		end = i + 3
	}
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 && (end < 0 || i+2 < end) {
		end = i + 2
	}
	return end
}

// parseHeader decodes the frame header at the start of b without
// allocating; ok is false while b is too short to hold it.
func parseHeader(b []byte) (h ws.Header, size int, ok bool, err error) {
	if len(b) < 2 {
		return h, 0, false, nil
	}
	h.Fin = b[0]&0x80 != 0
	h.Rsv = (b[0] & 0x70) >> 4
	h.OpCode = ws.OpCode(b[0] & 0x0f)
	h.Masked = b[1]&0x80 != 0
	l := b[1] & 0x7f
	size = 2
	switch l {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if h.Masked {
		size += 4
	}
	if len(b) < size {
		return h, size, false, nil
	}
	switch l {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(b[2:]))
	case 127:
		v := binary.BigEndian.Uint64(b[2:])
		if v>>63 != 0 {
			return h, size, false, ws.ErrHeaderLengthMSB
		}
		h.Length = int64(v)
	default:
		h.Length = int64(l)
	}
	if h.Masked {
		copy(h.Mask[:], b[size-4:size])
	}
	return h, size, true, nil
}

// appendFrame appends one unmasked final frame (servers never mask).
func appendFrame(out []byte, op ws.OpCode, p []byte) []byte {
	out = append(out, 0x80|byte(op))
	switch n := len(p); {
	case n < 126:
		out = append(out, byte(n))
	case n <= 0xffff:
		out = append(out, 126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, 127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	return append(out, p...)
}

type appendWriter struct{ b *[]byte }

func (w appendWriter) Write(p []byte) (int, error) {
	*w.b = append(*w.b, p...)
	return len(p), nil
}
