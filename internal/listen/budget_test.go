package listen

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"
)

func TestBudgetAppend(t *testing.T) {
	tests := []struct {
		name            string
		max             int64
		have, add       int // bytes in the buffer (its capacity), bytes appended
		limit           int
		ok              bool
		wantCap         int
		wantUsed, wantH int64
	}{
		{"first bytes", 1 << 20, 0, 100, 0, true, 512, 512, 512},
		{"doubles as bytes arrive", 1 << 20, 1000, 1000, 0, true, 2000, 2000, 2000},
		{"grows to what arrived when doubling is less", 1 << 20, 1000, 5000, 0, true, 6000, 6000, 6000},
		{"never past the announced unit", 1 << 20, 600 << 10, 100 << 10, 700<<10 + 14, true, 700<<10 + 14, 700<<10 + 14, 700<<10 + 14},
		{"an announced length alone allocates nothing more", 1 << 20, 0, 10, 1 << 20, true, 512, 512, 512},
		{"exact size when doubling does not fit", 1800, 1000, 500, 0, true, 1500, 1500, 1500},
		{"exactly the budget", 2200, 1000, 1200, 0, true, 2200, 2200, 2200},
		{"refused", 2000, 1000, 1500, 0, false, 1000, 1000, 1000},
		{"fits in the capacity: nothing charged", 2000, 1000, 0, 0, true, 1000, 1000, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBudget(tt.max)
			buf := make([]byte, tt.have)
			b.used.Store(int64(tt.have))
			held := int64(tt.have)
			data := bytes.Repeat([]byte{'d'}, tt.add)
			got, ok := b.append(&held, buf, data, tt.limit)
			if ok != tt.ok || cap(got) != tt.wantCap || b.used.Load() != tt.wantUsed || held != tt.wantH {
				t.Fatalf("ok=%v cap %d used %d held %d; want ok=%v cap %d used %d held %d",
					ok, cap(got), b.used.Load(), held, tt.ok, tt.wantCap, tt.wantUsed, tt.wantH)
			}
			if ok && (len(got) != tt.have+tt.add || !bytes.Equal(got[tt.have:], data)) {
				t.Fatalf("appended %d bytes wrong", len(got))
			}
			if !ok && len(got) != tt.have {
				t.Fatal("a refused append changed the buffer")
			}
			b.drop(&held, got)
			if held != 0 || b.used.Load() != 0 {
				t.Fatalf("after drop: held %d used %d", held, b.used.Load())
			}
		})
	}
}

func TestBudgetKeep(t *testing.T) {
	b := newBudget(1 << 30)
	var held int64
	rbuf := []byte("0123456789")
	// The rest of a read is copied into a buffer of its own.
	in, ok := b.keep(&held, nil, rbuf[6:], false, 0)
	if !ok || string(in) != "6789" || held != int64(cap(in)) {
		t.Fatalf("keep from the read buffer: %q held %d", in, held)
	}
	rbuf[6] = 'x'
	if in[0] != '6' {
		t.Fatal("kept bytes alias the read buffer")
	}
	// A rest inside the buffer moves to its start.
	in, ok = b.keep(&held, in, in[2:], true, 0)
	if !ok || string(in) != "89" || held != int64(cap(in)) {
		t.Fatalf("keep in place: %q held %d", in, held)
	}
	// A small rest of a big buffer gets a small one.
	big, _ := b.append(&held, in, make([]byte, 300<<10), 0)
	in, ok = b.keep(&held, big, big[len(big)-10:], true, 0)
	if !ok || len(in) != 10 || cap(in) >= 300<<10 || held != int64(cap(in)) {
		t.Fatalf("shrink: len %d cap %d held %d", len(in), cap(in), held)
	}
	// Nothing left: the buffer goes.
	in, ok = b.keep(&held, in, nil, true, 0)
	if !ok || in != nil || held != 0 || b.used.Load() != 0 {
		t.Fatalf("empty rest: %v held %d used %d", in, held, b.used.Load())
	}
	// A rest that does not fit is refused.
	small := newBudget(100)
	if _, ok := small.keep(&held, nil, make([]byte, 200), false, 0); ok || held != 0 {
		t.Fatalf("over the budget: ok=%v held %d", ok, held)
	}
}

// A fragmented WebSocket message whose parts do not fit is closed with
// 1013 (try again later), not 1009: the message is within --max-message.
func TestWebSocketFragmentsOverBudget(t *testing.T) {
	lim := testLimits(8192, 64, 64)
	lim.mem = newBudget(3000)
	s := testSession(WebSocket, lim)
	out, closed, why := drive(t, s, []byte(handshake),
		clientFrame(false, ws.OpBinary, make([]byte, 1000)),
		clientFrame(false, ws.OpContinuation, make([]byte, 1000)),
		clientFrame(false, ws.OpContinuation, make([]byte, 1000)),
		clientFrame(true, ws.OpContinuation, make([]byte, 1000)))
	_, rest := splitResponse(t, out)
	fs := serverFrames(t, rest)
	if !closed || why.Code != "max_buffered" || len(fs) != 1 || fs[0].Header.OpCode != ws.OpClose || string(fs[0].Payload) != "\x03\xf5" {
		t.Fatalf("closed=%v (%s), frames %v; want close 1013 for max_buffered", closed, why.Code, fs)
	}

	// Within the budget the message is assembled and the charge given back.
	lim.mem = newBudget(1 << 20)
	s = testSession(WebSocket, lim)
	out, closed, _ = drive(t, s, []byte(handshake),
		clientFrame(false, ws.OpBinary, make([]byte, 1000)),
		clientFrame(true, ws.OpContinuation, make([]byte, 1000)))
	_, rest = splitResponse(t, out)
	if fs := serverFrames(t, rest); closed || len(fs) != 1 || len(fs[0].Payload) != 2000 {
		t.Fatalf("closed=%v, frames %v", closed, fs)
	}
	if used := lim.mem.used.Load(); used != 0 || s.(*wsSession).c.held != 0 {
		t.Fatalf("after the message: budget used %d, connection holds %d", used, s.(*wsSession).c.held)
	}
}

// partialFlood opens n connections to each address that announce a unit of
// size bytes (a WebSocket message to ws, a frame to frame), send part of it
// and stall. It returns them once everything is sent.
func partialFlood(t *testing.T, wsAddr, frameAddr string, n, size, part int) []net.Conn {
	t.Helper()
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	for i := range 2 * n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c net.Conn
			var head []byte
			if i%2 == 0 {
				c = dialTCP(t, wsAddr)
				io.WriteString(c, handshake)
				resp := make([]byte, 4096)
				k, _ := c.Read(resp)
				if !bytes.HasPrefix(resp[:k], []byte("HTTP/1.1 101 ")) {
					t.Errorf("handshake: %q", resp[:k])
					return
				}
				head = binary.BigEndian.AppendUint64([]byte{0x82, 0x80 | 127}, uint64(size))
				head = append(head, 0, 0, 0, 0)
			} else {
				c = dialTCP(t, frameAddr)
				head = binary.BigEndian.AppendUint32(nil, uint32(size))
			}
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			c.Write(append(head, make([]byte, part)...)) // fails once the server closes it
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return conns
}

// Many connections that each start a big message and stall hold at most
// Config.MaxBuffered together: those whose bytes do not fit are closed, the
// rest and well-behaved clients are served, and the budget is whole again
// once they leave.
func TestPartialMessagesWithinBudget(t *testing.T) {
	bothDrivers(t, func(t *testing.T, cfg Config) {
		const budget, size, part = 4 << 20, 512 << 10, 400 << 10
		cfg.MaxBuffered, cfg.MaxMessage, cfg.MaxFrame = budget, size, size
		ts := serve(t, cfg, "websocket://127.0.0.1:0", "frame://127.0.0.1:0")
		good := dialWS(t, ts.urls["websocket"])
		goodFrame := dialTCP(t, ts.urls["frame"])

		var peak atomic.Int64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				if b := ts.Stats().Buffered; b > peak.Load() {
					peak.Store(b)
				}
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
		}()
		const n = 20
		conns := partialFlood(t, ts.urls["websocket"], ts.urls["frame"], n, size, part)
		// Every flood connection is either closed for the budget or holds
		// all it sent.
		var st Stats
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			st = ts.Stats()
			held := st.Open - 2
			if st.OverBudget+held == 2*n && st.Buffered >= held*part {
				break
			}
		}
		close(stop)
		<-sampled
		held := st.Open - 2
		if st.OverBudget == 0 || held < 1 || held > budget/part || st.OverBudget+held != 2*n {
			t.Fatalf("%d flood connections: %d closed for the budget, %d held; want some of each, at most %d held", 2*n, st.OverBudget, held, budget/part)
		}
		if st.Buffered < held*part || peak.Load() > budget {
			t.Errorf("budget holds %d bytes for %d connections of %d bytes each (peak %d, budget %d)", st.Buffered, held, part, peak.Load(), budget)
		}
		ts.rec.waitFor(t, "max_buffered", "")
		wsEcho(t, good, websocket.BinaryMessage, []byte("still here"))
		frameEcho(t, goodFrame, "still here")
		wsEcho(t, dialWS(t, ts.urls["websocket"]), websocket.TextMessage, []byte("new here"))

		for _, c := range conns {
			c.Close()
		}
		for deadline := time.Now().Add(10 * time.Second); ts.Stats().Buffered != 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if b := ts.Stats().Buffered; b != 0 {
			t.Errorf("%d bytes still charged after the flood left", b)
		}
		// Once they are gone, a whole big message fits again.
		big := []byte(strings.Repeat("b", size))
		wsEcho(t, good, websocket.BinaryMessage, big)
	})
}

// A client that sends complete messages and never reads the echoes holds
// its unsent replies within the budget too.
func TestUnreadRepliesWithinBudget(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the event loop is Linux-only")
	}
	const budget = 3 << 20
	ts := serve(t, Config{MaxBuffered: budget, MaxFrame: 1 << 20}, "frame://127.0.0.1:0")
	var conns []net.Conn
	for range 8 {
		c := dialTCP(t, ts.urls["frame"])
		c.(*net.TCPConn).SetReadBuffer(4096)
		conns = append(conns, c)
		go func() {
			f := append(binary.BigEndian.AppendUint32(nil, 1<<20), make([]byte, 1<<20-4)...)
			for range 16 {
				if _, err := c.Write(f); err != nil {
					return
				}
			}
		}()
	}
	var peak int64
	for deadline := time.Now().Add(10 * time.Second); ts.Stats().OverBudget == 0 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		peak = max(peak, ts.Stats().Buffered)
	}
	for range 200 {
		peak = max(peak, ts.Stats().Buffered)
		time.Sleep(time.Millisecond)
	}
	if peak > budget || ts.Stats().OverBudget == 0 {
		t.Errorf("peak %d bytes charged (budget %d), %d connections closed for it", peak, budget, ts.Stats().OverBudget)
	}
	ts.rec.waitFor(t, "max_buffered", "")
	frameEcho(t, dialTCP(t, ts.urls["frame"]), "others are fine")
	for _, c := range conns {
		c.Close()
	}
}
