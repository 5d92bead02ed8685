package listen

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

var (
	testPeer  = netip.MustParseAddrPort("192.0.2.7:40000")
	testLocal = netip.MustParseAddrPort("198.51.100.3:8282")
)

func testLimits(msg, line, frame int) *limits {
	cfg := Config{}.withDefaults()
	return &limits{maxMessage: msg, maxLine: line, maxFrame: frame, serverHeader: "Server: conndiag-listen/test\r\n", cfg: &cfg}
}

func testSession(p Proto, lim *limits) session {
	ep := &endpoint{Endpoint: Endpoint{Proto: p}, version: "test"}
	return newSession(&connInfo{ep: ep, peer: testPeer, local: testLocal}, lim)
}

// drive feeds chunks the way the drivers do: unconsumed bytes are kept and
// fed again with the next chunk; a full result is fed again at once.
func drive(t testing.TB, s session, chunks ...[]byte) (out []byte, closed bool, why Reason) {
	var pending []byte
	for _, c := range chunks {
		pending = append(pending, c...)
		for {
			before := len(out)
			r := s.feed(pending, &out)
			if r.n < 0 || r.n > len(pending) {
				t.Fatalf("feed consumed %d of %d bytes", r.n, len(pending))
			}
			if len(out)-before > outLimit+(4<<20) {
				t.Fatalf("one feed wrote %d bytes", len(out)-before)
			}
			pending = pending[r.n:]
			if r.close {
				return out, true, r.why
			}
			if !r.full {
				break
			}
		}
	}
	return out, false, Reason{}
}

func wantWhoami(t *testing.T, b []byte, proto Proto) {
	t.Helper()
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatalf("whoami answer %q is not JSON: %v", b, err)
	}
	want := Info{Conndiag: "listen", Version: "test", Proto: proto, Client: testPeer.String(), Server: testLocal.String()}
	if info.Conndiag != want.Conndiag || info.Version != want.Version || info.Proto != want.Proto || info.Client != want.Client || info.Server != want.Server {
		t.Errorf("whoami = %+v, want %+v", info, want)
	}
}

func TestTextSession(t *testing.T) {
	tests := []struct {
		name   string
		in     []string
		out    string
		closed string // reason code, "" when still open
	}{
		{"echo", []string{"hello\n"}, "hello\n", ""},
		{"crlf trimmed", []string{"hello\r\nworld\n"}, "hello\nworld\n", ""},
		{"split line", []string{"hel", "lo", "\n"}, "hello\n", ""},
		{"incomplete kept", []string{"abc"}, "", ""},
		{"empty line", []string{"\n"}, "\n", ""},
		{"at the limit", []string{strings.Repeat("x", 16) + "\n"}, strings.Repeat("x", 16) + "\n", ""},
		{"over the limit", []string{"ok\n" + strings.Repeat("x", 17) + "\n"}, "ok\n", "line_too_long"},
		{"over the limit, no newline yet", []string{strings.Repeat("x", 17)}, "", "line_too_long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var chunks [][]byte
			for _, c := range tt.in {
				chunks = append(chunks, []byte(c))
			}
			out, closed, why := drive(t, testSession(Text, testLimits(64, 16, 64)), chunks...)
			if string(out) != tt.out || closed != (tt.closed != "") || why.Code != tt.closed {
				t.Errorf("got %q closed=%v (%s), want %q closed by %q", out, closed, why.Code, tt.out, tt.closed)
			}
		})
	}
	out, _, _ := drive(t, testSession(Text, testLimits(64, 1024, 64)), []byte("whoami\r\n"))
	if !bytes.HasSuffix(out, []byte("}\n")) {
		t.Fatalf("whoami line = %q", out)
	}
	wantWhoami(t, out[:len(out)-1], Text)
}

func frameBytes(payload string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload)+4)), payload...)
}

func TestFrameSession(t *testing.T) {
	short := binary.BigEndian.AppendUint32(nil, 3)
	huge := binary.BigEndian.AppendUint32(nil, 1<<31)
	tests := []struct {
		name   string
		in     [][]byte
		out    []byte
		closed string
	}{
		{"echo", [][]byte{frameBytes("hello")}, frameBytes("hello"), ""},
		{"empty payload", [][]byte{frameBytes("")}, frameBytes(""), ""},
		{"two in one read", [][]byte{append(frameBytes("a"), frameBytes("bc")...)}, append(frameBytes("a"), frameBytes("bc")...), ""},
		{"split header", [][]byte{frameBytes("hello")[:2], frameBytes("hello")[2:]}, frameBytes("hello"), ""},
		{"length below 4", [][]byte{append(frameBytes("ok"), short...)}, frameBytes("ok"), "frame_too_short"},
		{"length 0", [][]byte{{0, 0, 0, 0}}, nil, "frame_too_short"},
		{"over the limit", [][]byte{huge}, nil, "frame_too_big"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, closed, why := drive(t, testSession(Frame, testLimits(64, 64, 64)), tt.in...)
			if !bytes.Equal(out, tt.out) || closed != (tt.closed != "") || why.Code != tt.closed {
				t.Errorf("got %q closed=%v (%s), want %q closed by %q", out, closed, why.Code, tt.out, tt.closed)
			}
		})
	}
	out, _, _ := drive(t, testSession(Frame, testLimits(64, 64, 1024)), frameBytes("whoami"))
	if n := binary.BigEndian.Uint32(out); int(n) != len(out) {
		t.Fatalf("whoami frame length %d, frame is %d bytes", n, len(out))
	}
	wantWhoami(t, out[4:], Frame)
}

func TestTCPSession(t *testing.T) {
	tests := []struct {
		name   string
		in     []string
		whoami bool
		echo   string
	}{
		{"raw echo", []string{"hello"}, false, "hello"},
		{"whoami first", []string{"whoami\nrest"}, true, "rest"},
		{"whoami crlf", []string{"whoami\r\n"}, true, ""},
		{"whoami in pieces", []string{"who", "ami", "\nx"}, true, "x"},
		{"whoami later is echoed", []string{"x", "whoami\n"}, false, "xwhoami\n"},
		{"prefix then other", []string{"who", "is"}, false, "whois"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var chunks [][]byte
			for _, c := range tt.in {
				chunks = append(chunks, []byte(c))
			}
			out, closed, _ := drive(t, testSession(TCP, testLimits(64, 64, 64)), chunks...)
			if closed {
				t.Fatal("raw echo never closes")
			}
			if tt.whoami {
				i := bytes.IndexByte(out, '\n')
				if i < 0 {
					t.Fatalf("no whoami line in %q", out)
				}
				wantWhoami(t, out[:i], TCP)
				out = out[i+1:]
			}
			if string(out) != tt.echo {
				t.Errorf("echo %q, want %q", out, tt.echo)
			}
		})
	}
}

const handshake = "GET /chat HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// clientFrame is a masked frame as a client sends it.
func clientFrame(fin bool, op ws.OpCode, payload []byte) []byte {
	f := ws.NewFrame(op, fin, append([]byte(nil), payload...))
	f = ws.MaskFrameInPlaceWith(f, [4]byte{1, 2, 3, 4})
	return ws.MustCompileFrame(f)
}

// serverFrames decodes what the session wrote after the handshake.
func serverFrames(t *testing.T, b []byte) []ws.Frame {
	t.Helper()
	var fs []ws.Frame
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		f, err := ws.ReadFrame(r)
		if err != nil {
			t.Fatalf("server sent a bad frame: %v", err)
		}
		if f.Header.Masked {
			t.Fatal("server frames must not be masked")
		}
		fs = append(fs, f)
	}
	return fs
}

func splitResponse(t *testing.T, out []byte) (head string, rest []byte) {
	t.Helper()
	i := bytes.Index(out, []byte("\r\n\r\n"))
	if i < 0 {
		t.Fatalf("no HTTP response in %q", out)
	}
	return string(out[:i+4]), out[i+4:]
}

func TestWebSocketHandshake(t *testing.T) {
	out, closed, _ := drive(t, testSession(WebSocket, testLimits(1024, 64, 64)), []byte(handshake[:20]), []byte(handshake[20:]))
	head, _ := splitResponse(t, out)
	if closed || !strings.HasPrefix(head, "HTTP/1.1 101 ") ||
		!strings.Contains(head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") ||
		!strings.Contains(head, "Server: conndiag-listen/test\r\n") {
		t.Fatalf("handshake response:\n%s", head)
	}

	out, _, _ = drive(t, testSession(WebSocket, testLimits(1024, 64, 64)),
		[]byte(strings.Replace(handshake, "\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat, superchat\r\n\r\n", 1)))
	if head, _ := splitResponse(t, out); !strings.Contains(head, "Sec-WebSocket-Protocol: chat\r\n") {
		t.Errorf("the first offered subprotocol must be accepted:\n%s", head)
	}

	bad := []struct{ name, req, status, code string }{
		{"plain HTTP", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 ", "handshake_rejected"},
		{"wrong version", strings.Replace(handshake, "Version: 13", "Version: 8", 1), "HTTP/1.1 426 ", "handshake_rejected"},
		{"POST", strings.Replace(handshake, "GET", "POST", 1), "HTTP/1.1 405 ", "handshake_rejected"},
		{"garbage", "\x16\x03\x01\x00\x00\n\n", "HTTP/1.1 400 ", "handshake_rejected"},
		{"too big", "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", maxHandshake), "HTTP/1.1 431 ", "handshake_too_big"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			out, closed, why := drive(t, testSession(WebSocket, testLimits(1024, 64, 64)), []byte(tt.req))
			if !closed || why.Code != tt.code || !strings.HasPrefix(string(out), tt.status) || !strings.Contains(string(out), "Server: conndiag-listen/test\r\n") {
				t.Errorf("closed=%v (%s), response %q; want %s, closed by %s", closed, why.Code, out, tt.status, tt.code)
			}
		})
	}
}

func TestWebSocketSession(t *testing.T) {
	type frame struct {
		op      ws.OpCode
		payload string
	}
	cf := clientFrame
	big := strings.Repeat("b", 300)
	tests := []struct {
		name   string
		in     [][]byte
		want   []frame
		closed string
	}{
		{"text echo", [][]byte{cf(true, ws.OpText, []byte("hi"))}, []frame{{ws.OpText, "hi"}}, ""},
		{"binary echo", [][]byte{cf(true, ws.OpBinary, []byte{0, 1, 2})}, []frame{{ws.OpBinary, "\x00\x01\x02"}}, ""},
		{"ping gets pong", [][]byte{cf(true, ws.OpPing, []byte("p"))}, []frame{{ws.OpPong, "p"}}, ""},
		{"pong ignored", [][]byte{cf(true, ws.OpPong, nil)}, nil, ""},
		{"fragmented with ping between", [][]byte{
			cf(false, ws.OpText, []byte("ab")), cf(true, ws.OpPing, nil), cf(false, ws.OpContinuation, []byte("cd")), cf(true, ws.OpContinuation, []byte("e")),
		}, []frame{{ws.OpPong, ""}, {ws.OpText, "abcde"}}, ""},
		{"126-byte length form", [][]byte{cf(true, ws.OpBinary, []byte(big))}, []frame{{ws.OpBinary, big}}, ""},
		{"close echoed", [][]byte{cf(true, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye"))}, []frame{{ws.OpClose, "\x03\xe8"}}, "ws_close"},
		{"empty close", [][]byte{cf(true, ws.OpClose, nil)}, []frame{{ws.OpClose, ""}}, "ws_close"},
		{"close with 1 byte", [][]byte{cf(true, ws.OpClose, []byte{3})}, []frame{{ws.OpClose, "\x03\xea"}}, "ws_protocol_error"},
		{"close with reserved code", [][]byte{cf(true, ws.OpClose, []byte{0x03, 0xed})}, []frame{{ws.OpClose, "\x03\xea"}}, "ws_protocol_error"},
		{"message too big", [][]byte{cf(true, ws.OpBinary, make([]byte, 1025))}, []frame{{ws.OpClose, "\x03\xf1"}}, "message_too_big"},
		{"fragments too big", [][]byte{cf(false, ws.OpBinary, make([]byte, 600)), cf(true, ws.OpContinuation, make([]byte, 600))}, []frame{{ws.OpClose, "\x03\xf1"}}, "message_too_big"},
		{"invalid UTF-8", [][]byte{cf(true, ws.OpText, []byte{0xff})}, []frame{{ws.OpClose, "\x03\xef"}}, "ws_invalid_utf8"},
		{"unmasked", [][]byte{ws.MustCompileFrame(ws.NewTextFrame([]byte("x")))}, []frame{{ws.OpClose, "\x03\xea"}}, "ws_protocol_error"},
		{"reserved opcode", [][]byte{cf(true, ws.OpCode(3), nil)}, []frame{{ws.OpClose, "\x03\xea"}}, "ws_protocol_error"},
		{"continuation first", [][]byte{cf(true, ws.OpContinuation, []byte("x"))}, []frame{{ws.OpClose, "\x03\xea"}}, "ws_protocol_error"},
		{"rsv bits", [][]byte{func() []byte { b := cf(true, ws.OpText, []byte("x")); b[0] |= 0x40; return b }()}, []frame{{ws.OpClose, "\x03\xea"}}, "ws_protocol_error"},
		{"control too long", [][]byte{cf(true, ws.OpPing, make([]byte, 126))}, []frame{{ws.OpClose, "\x03\xea"}}, "ws_protocol_error"},
		{"length MSB", [][]byte{{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}}, []frame{{ws.OpClose, "\x03\xea"}}, "ws_protocol_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chunks := append([][]byte{[]byte(handshake)}, tt.in...)
			out, closed, why := drive(t, testSession(WebSocket, testLimits(1024, 64, 64)), chunks...)
			_, rest := splitResponse(t, out)
			got := serverFrames(t, rest)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d frames %v, want %v", len(got), got, tt.want)
			}
			for i, f := range got {
				if f.Header.OpCode != tt.want[i].op || string(f.Payload) != tt.want[i].payload || !f.Header.Fin {
					t.Errorf("frame %d: op %d %q fin=%v, want op %d %q", i, f.Header.OpCode, f.Payload, f.Header.Fin, tt.want[i].op, tt.want[i].payload)
				}
			}
			if closed != (tt.closed != "") || why.Code != tt.closed {
				t.Errorf("closed=%v (%s), want %q", closed, why.Code, tt.closed)
			}
		})
	}

	out, _, _ := drive(t, testSession(WebSocket, testLimits(1024, 64, 64)), []byte(handshake), cf(true, ws.OpText, []byte("whoami")))
	_, rest := splitResponse(t, out)
	fs := serverFrames(t, rest)
	if len(fs) != 1 || fs[0].Header.OpCode != ws.OpText {
		t.Fatalf("whoami answer frames: %v", fs)
	}
	wantWhoami(t, fs[0].Payload, WebSocket)

	var bye []byte
	s := testSession(WebSocket, testLimits(1024, 64, 64))
	drive(t, s, []byte(handshake))
	s.goodbye(&bye)
	if fs := serverFrames(t, bye); len(fs) != 1 || fs[0].Header.OpCode != ws.OpClose || string(fs[0].Payload) != "\x03\xe9" {
		t.Errorf("goodbye = %v, want close 1001", fs)
	}
}

// The sessions never answer a whole burst at once: past outLimit they stop
// and the driver writes before feeding more.
func TestOutputIsBounded(t *testing.T) {
	s := testSession(Text, testLimits(64, 64, 64))
	in := bytes.Repeat([]byte("whoami\n"), 10000)
	var out []byte
	r := s.feed(in, &out)
	if !r.full || r.n >= len(in) || len(out) > outLimit+1024 {
		t.Fatalf("feed of %d whoami lines: consumed %d, full=%v, wrote %d bytes", 10000, r.n, r.full, len(out))
	}
}

func TestParseHeaderMatchesGobwas(t *testing.T) {
	for _, b := range headerSeeds() {
		checkParseHeader(t, b)
	}
}

func headerSeeds() [][]byte {
	return [][]byte{
		clientFrame(true, ws.OpText, []byte("x")),
		clientFrame(true, ws.OpBinary, make([]byte, 200)),
		clientFrame(false, ws.OpBinary, make([]byte, 70000)),
		ws.MustCompileFrame(ws.NewTextFrame([]byte("unmasked"))),
		{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4},
		{0x81},
		{},
	}
}

func checkParseHeader(t *testing.T, b []byte) {
	h, size, ok, err := parseHeader(b)
	br := bytes.NewReader(b)
	gh, gerr := ws.ReadHeader(br)
	gsize := len(b) - br.Len()
	switch {
	case err != nil:
		if gerr == nil {
			t.Fatalf("%x: parseHeader error %v, gobwas none", b, err)
		}
	case !ok:
		if gerr == nil {
			t.Fatalf("%x: parseHeader wants more bytes, gobwas read a header", b)
		}
	default:
		if gerr != nil || h != gh || size != gsize {
			t.Fatalf("%x: parseHeader %+v size %d, gobwas %+v (%v)", b, h, size, gh, gerr)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	for _, b := range headerSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkParseHeader(t, b) })
}

// splitBy cuts a copy of data into pieces: piece i is split[i]+1 bytes long,
// and what split does not cover is the last piece.
func splitBy(data, split []byte) [][]byte {
	var chunks [][]byte
	rest := append([]byte(nil), data...)
	for i := 0; len(rest) > 0; i++ {
		n := len(rest)
		if i < len(split) {
			n = min(n, int(split[i])+1)
		}
		chunks = append(chunks, rest[:n])
		rest = rest[n:]
	}
	return chunks
}

// fuzzSplit checks that a session survives any bytes and answers the same
// whether they come at once or in the pieces split describes.
func fuzzSplit(t *testing.T, p Proto, data, split []byte) {
	// Each run has a budget of its own, smaller than a WebSocket message may
	// be, so that fragments are also refused for it.
	run := func(chunks ...[]byte) ([]byte, bool, Reason) {
		lim := testLimits(256, 64, 64)
		lim.mem = newBudget(200)
		s := testSession(p, lim)
		out, closed, why := drive(t, s, chunks...)
		var held, msg int64
		if ws, ok := s.(*wsSession); ok {
			held, msg = ws.c.held, int64(cap(ws.msg))
		}
		if used := lim.mem.used.Load(); used != held || !closed && held != msg || used > 200 {
			t.Fatalf("budget used %d, the connection holds %d, its message buffer %d", used, held, msg)
		}
		return out, closed, why
	}
	whole, closed1, why1 := run(append([]byte(nil), data...))
	pieces, closed2, why2 := run(splitBy(data, split)...)
	if !bytes.Equal(whole, pieces) || closed1 != closed2 || why1.Code != why2.Code {
		t.Fatalf("whole: %q closed=%v %s\npieces: %q closed=%v %s", whole, closed1, why1.Code, pieces, closed2, why2.Code)
	}
	if len(whole) > 20*len(data)+512 {
		t.Fatalf("%d bytes in, %d out", len(data), len(whole))
	}
}

func FuzzText(f *testing.F) {
	f.Add([]byte("hello\nwhoami\r\n"), []byte{2, 0, 5})
	f.Add(bytes.Repeat([]byte("x"), 100), []byte{10})
	f.Add([]byte("\n\n\r\n"), []byte{})
	f.Fuzz(func(t *testing.T, data, split []byte) { fuzzSplit(t, Text, data, split) })
}

func FuzzFrame(f *testing.F) {
	f.Add(append(frameBytes("hello"), frameBytes("whoami")...), []byte{1, 3})
	f.Add([]byte{0, 0, 0, 3}, []byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1}, []byte{0})
	f.Fuzz(func(t *testing.T, data, split []byte) { fuzzSplit(t, Frame, data, split) })
}

func FuzzTCP(f *testing.F) {
	f.Add([]byte("whoami\nhello"), []byte{2, 2})
	f.Add([]byte("whoami\r"), []byte{5})
	f.Fuzz(func(t *testing.T, data, split []byte) { fuzzSplit(t, TCP, data, split) })
}

// FuzzWebSocket starts from a valid handshake, so that the fuzzer spends its
// time on frames; FuzzWebSocketHandshake covers the request itself.
func FuzzWebSocket(f *testing.F) {
	f.Add(clientFrame(true, ws.OpText, []byte("whoami")), []byte{3})
	f.Add(append(clientFrame(false, ws.OpText, []byte("ab")), clientFrame(true, ws.OpContinuation, []byte("c"))...), []byte{0, 0, 7})
	f.Add(clientFrame(true, ws.OpClose, ws.NewCloseFrameBody(1000, "")), []byte{})
	f.Add(clientFrame(true, ws.OpPing, []byte("x")), []byte{1})
	f.Add(clientFrame(true, ws.OpBinary, make([]byte, 300)), []byte{100, 100})
	f.Fuzz(func(t *testing.T, data, split []byte) {
		fuzzSplit(t, WebSocket, append([]byte(handshake), data...), split)
	})
}

// handshakeSplits are requests whose answer once depended on how they were
// split into reads, and other hostile openings.
var handshakeSplits = []struct {
	data, split string
}{
	{"0\n\n", "\x01"},                 // not a method, and the head ends before the first space
	{"0\n\n", ""},                     // the same in one read
	{"GET\n\n", "\x02"},               // a method without a space
	{"\n\n", "\x00"},                  // an empty head
	{"\r\n\r\n", "\x01"},              // an empty head with CRLF
	{"G\x00T / HTTP/1.1\n\n", "\x00"}, // NUL in the method
	{"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\n", "\x05\x10"},
	{"AAAAAAAAAAAAAAAAAAAA / HTTP/1.1\n\n", "\x0f"}, // a method longer than any real one
	{"GET / HTTP/1.1\r\nX: " + strings.Repeat("a", maxHandshake) + "\r\n\r\n", "\xff\xff"},
}

// The answer to a handshake does not depend on how its bytes are split.
func TestHandshakeSplitIndependent(t *testing.T) {
	for _, tt := range handshakeSplits {
		fuzzSplit(t, WebSocket, []byte(tt.data), []byte(tt.split))
	}
}

func FuzzWebSocketHandshake(f *testing.F) {
	f.Add([]byte(handshake), []byte{10, 30})
	f.Add([]byte("GET / HTTP/1.1\n\n"), []byte{})
	f.Add([]byte("GET / HTTP/1.0\r\nUpgrade: websocket\r\n\r\n"), []byte{3})
	for _, tt := range handshakeSplits {
		f.Add([]byte(tt.data), []byte(tt.split))
	}
	f.Fuzz(func(t *testing.T, data, split []byte) { fuzzSplit(t, WebSocket, data, split) })
}

func TestRequestStart(t *testing.T) {
	for in, want := range map[string]bool{
		"":                     true,
		"G":                    true,
		"GET":                  true,
		"GET /":                true,
		"M-SEARCH * HTTP":      true,
		" GET":                 false,
		"\x16\x03\x01\x02":     false,
		"SSH-2.0-x y":          true, // a token, then a space: only the headers' end can tell
		"GET\r\n":              false,
		"AAAAAAAAAAAAAAAAAAAA": false,
	} {
		if got := requestStart([]byte(in)); got != want {
			t.Errorf("requestStart(%q) = %v, want %v", in, got, want)
		}
	}
}
