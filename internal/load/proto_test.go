package load

import (
	"bytes"
	"strings"
	"testing"
)

func TestWSKey(t *testing.T) {
	// RFC 6455 section 1.3's example.
	k := wsKey{key: "dGhlIHNhbXBsZSBub25jZQ=="}
	got := newWSKey([]byte("the sample nonce"))
	if got.key != k.key || got.accept != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("got %+v", got)
	}
}

func TestParseHead(t *testing.T) {
	for _, tt := range []struct {
		in     string
		ok     bool
		err    bool
		status int
		length int64
		chunk  bool
	}{
		{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\n\r\n", true, false, 101, -1, false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello", true, false, 200, 12, false},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, false, 200, -1, true},
		{"HTTP/1.1 200 OK\r\nContent-", false, false, 0, 0, false},
		{"HTT", false, false, 0, 0, false},
		{"SSH-2.0-OpenSSH_9.2\r\n", false, true, 0, 0, false},
		{"\x16\x03\x01", false, true, 0, 0, false},
		{"HTTP/1.1 2000 OK\r\n\r\n", false, true, 0, 0, false},
		{"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", false, true, 0, 0, false},
		{"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, true, 0, 0, false},
		{"HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", maxHead) + "\r\n\r\n", false, true, 0, 0, false},
	} {
		h, ok, err := parseHead([]byte(tt.in))
		if ok != tt.ok || (err != nil) != tt.err || (ok && (h.status != tt.status || h.length != tt.length || h.chunked != tt.chunk)) {
			t.Errorf("parseHead(%.40q) = %+v, %v, %v", tt.in, h, ok, err)
		}
	}
	// A head that never ends is refused once it passes the bound.
	if _, _, err := parseHead([]byte("HTTP/1.1 200 OK\r\n" + strings.Repeat("X: y\r\n", maxHead/6+1))); err == nil {
		t.Error("an unbounded head must be refused")
	}
}

func TestBody(t *testing.T) {
	feedAll := func(bd *body, parts ...string) (bool, error) {
		done, err := bd.feed(nil)
		for _, p := range parts {
			if done, err = bd.feed([]byte(p)); err != nil || done {
				return done, err
			}
		}
		return done, err
	}
	if done, err := feedAll(newBody(head{status: 200, length: 5}), "he", "llo"); !done || err != nil {
		t.Errorf("length body: %v %v", done, err)
	}
	if done, _ := feedAll(newBody(head{status: 200, length: 5}), "he"); done {
		t.Error("a short body is not done")
	}
	if done, _ := feedAll(newBody(head{status: 204, length: -1})); !done {
		t.Error("204 has no body")
	}
	chunks := []string{"4\r\nWi", "ki\r\n5;ext=1\r\npedia\r\n", "0\r\n", "X-Trailer: 1\r\n", "\r\n"}
	if done, err := feedAll(newBody(head{status: 200, chunked: true}), chunks...); !done || err != nil {
		t.Errorf("chunked body: %v %v", done, err)
	}
	if done, err := feedAll(newBody(head{status: 200, chunked: true}), "4\r\nWiki\r\n0\r\n\r\n"); !done || err != nil {
		t.Errorf("chunked body in one piece: %v %v", done, err)
	}
	if _, err := feedAll(newBody(head{status: 200, chunked: true}), "zz\r\n"); err == nil {
		t.Error("a bad chunk size must fail")
	}
	if _, err := feedAll(newBody(head{status: 200, chunked: true}), strings.Repeat("1", 5000)); err == nil {
		t.Error("an endless chunk-size line must fail")
	}
	if done, _ := feedAll(newBody(head{status: 200, length: -1}), "anything"); done {
		t.Error("a body to EOF is done only at EOF")
	}
}

func TestWSIn(t *testing.T) {
	var w wsIn
	// A 300-byte text frame (16-bit length), then a ping, then a close with 1001.
	data := append([]byte{0x81, 126, 0x01, 0x2c}, bytes.Repeat([]byte("x"), 300)...)
	data = append(data, 0x89, 2, 'h', 'i', 0x88, 2, 0x03, 0xe9)
	var ops []byte
	var pending []byte
	// Fed seven bytes at a time, keeping what was not consumed, as the engine does.
	for off := 0; off < len(data); off += 7 {
		pending = append(pending, data[off:min(len(data), off+7)]...)
		for len(pending) > 0 {
			op, payload, n, err := w.next(pending)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			if op == opPing && string(payload) != "hi" {
				t.Errorf("ping payload %q", payload)
			}
			if op == opClose && closeCode(payload) != 1001 {
				t.Errorf("close code %d", closeCode(payload))
			}
			if op != 0 {
				ops = append(ops, op)
			}
			pending = pending[n:]
		}
	}
	if string(ops) != string([]byte{opPing, opClose}) {
		t.Errorf("control frames %v", ops)
	}
	for _, bad := range [][]byte{
		{0x81, 0x85, 1, 2, 3, 4, 5}, // masked by the server
		{0xc1, 0},                   // RSV bit without an extension
		{0x89, 126, 0, 200},         // control frame over 125 bytes
		{0x09, 0},                   // fragmented control frame
		{0x83, 0},                   // reserved opcode
		{0x82, 127, 0xff, 0, 0, 0, 0, 0, 0, 0},
	} {
		var w wsIn
		if _, _, _, err := w.next(bad); err == nil {
			t.Errorf("%x: want an error", bad)
		}
	}
	if closeCode(nil) != 1005 {
		t.Error("an empty close is 1005")
	}
}

func TestClientFrame(t *testing.T) {
	f := clientFrame(nil, opPing, []byte("conndiag"))
	if f[0] != 0x89 || f[1] != 0x80|8 || len(f) != 6+8 {
		t.Fatalf("frame %x", f)
	}
	for i := range 8 {
		if f[6+i]^f[2+i%4] != "conndiag"[i] {
			t.Fatalf("payload not masked with the key: %x", f)
		}
	}
}

func FuzzWSIn(f *testing.F) {
	f.Add([]byte{0x81, 3, 'a', 'b', 'c', 0x88, 2, 3, 0xe8})
	f.Add([]byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0})
	f.Add([]byte{0x89, 125})
	f.Fuzz(func(t *testing.T, b []byte) {
		var w wsIn
		for rounds := 0; len(b) > 0 && rounds < 10000; rounds++ {
			_, payload, n, err := w.next(b)
			if err != nil || n == 0 {
				return
			}
			if n > len(b) || len(payload) > 125 {
				t.Fatalf("consumed %d of %d, payload %d", n, len(b), len(payload))
			}
			b = b[n:]
		}
	})
}

func FuzzParseHead(f *testing.F) {
	f.Add([]byte("HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: x\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 302 Found\r\nContent-Length: 0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, ok, err := parseHead(b)
		if err != nil || !ok {
			return
		}
		if h.n > len(b) || h.n > maxHead || h.status < 100 || h.status > 999 {
			t.Fatalf("head %+v of %d bytes", h, len(b))
		}
		bd := newBody(h)
		_, _ = bd.feed(b[h.n:])
	})
}
