package listen

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

// The codec benchmarks feed a read's worth of messages to a session, as the
// event loop does, and count echoed bytes.

func benchFeed(b *testing.B, p Proto, prefix, unit []byte) {
	lim := testLimits(1<<20, 64<<10, 1<<20)
	in := bytes.Repeat(unit, max(1, (64<<10)/len(unit)))
	buf := make([]byte, len(in))
	out := make([]byte, 0, outLimit+len(in))
	s := testSession(p, lim)
	if len(prefix) > 0 {
		var o []byte
		if r := s.feed(append([]byte(nil), prefix...), &o); r.close || r.n != len(prefix) {
			b.Fatal("handshake failed")
		}
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, in) // WebSocket unmasks in place
		for rest := buf; len(rest) > 0; {
			out = out[:0]
			r := s.feed(rest, &out)
			if r.close || r.n == 0 {
				b.Fatalf("feed stopped: %+v", r)
			}
			rest = rest[r.n:]
		}
	}
}

func BenchmarkTextFeed(b *testing.B) {
	benchFeed(b, Text, nil, []byte("a line of about sixty-four bytes, as a chat message might be..\n"))
}

func BenchmarkFrameFeed(b *testing.B) {
	benchFeed(b, Frame, nil, frameBytes("a frame of about sixty-four bytes, as a chat message might."))
}

func BenchmarkWebSocketFeed(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"64B", 64}, {"4KiB", 4096}} {
		b.Run(size.name, func(b *testing.B) {
			benchFeed(b, WebSocket, []byte(handshake), clientFrame(true, ws.OpBinary, bytes.Repeat([]byte{'x'}, size.n)))
		})
	}
}

func BenchmarkWebSocketHandshake(b *testing.B) {
	lim := testLimits(1<<20, 64<<10, 1<<20)
	req := []byte(handshake)
	var out []byte
	b.ReportAllocs()
	for b.Loop() {
		out = out[:0]
		s := testSession(WebSocket, lim)
		if r := s.feed(req, &out); r.close {
			b.Fatal("handshake failed")
		}
	}
}
