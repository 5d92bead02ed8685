package probe_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/probe"
	"github.com/conndiag/conndiag/internal/probe/probetest"
)

func serve(t *testing.T, h func(net.Conn)) net.Listener {
	ln := probetest.Listen(t)
	probetest.Serve(t, ln, h)
	return ln
}

// An endless header stops at MaxAnswer bytes, at once, with the cut
// recorded and the start of the answer kept.
func TestEndlessHeaderIsCut(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		head string
		run  func(net.Conn) *probe.HTTP
	}{
		{"ws after 101", probetest.EndlessHead, func(c net.Conn) *probe.HTTP {
			return &probe.WebSocketHandshake(ctx, c, deadline(), "127.0.0.1", "/").HTTP
		}},
		{"ws after 200", probetest.EndlessHead200, func(c net.Conn) *probe.HTTP {
			return &probe.WebSocketHandshake(ctx, c, deadline(), "127.0.0.1", "/").HTTP
		}},
		{"http after 200", probetest.EndlessHead200, func(c net.Conn) *probe.HTTP {
			return probe.HTTPRequest(ctx, c, deadline(), "127.0.0.1", "/")
		}},
		{"endless status line", "HTTP/1.1 200 ", func(c net.Conn) *probe.HTTP {
			return probe.HTTPRequest(ctx, c, deadline(), "127.0.0.1", "/")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ln := serve(t, probetest.Endless(tt.head))
			start := time.Now()
			h := tt.run(dial(t, ln))
			if h.Status != 0 || h.Reply != probe.Answered || h.Cut != probe.CutCap || h.ReceivedN != probe.MaxAnswer {
				t.Fatalf("status %d reply %q cut %q received %d, err %v; want 0 answered cap %d", h.Status, h.Reply, h.Cut, h.ReceivedN, h.Err, probe.MaxAnswer)
			}
			if !bytes.HasPrefix(h.Received, []byte(tt.head)) || len(h.Received) != probe.MaxKeep {
				t.Fatalf("kept %d bytes: %q…", len(h.Received), h.Received[:min(80, len(h.Received))])
			}
			// Loose: it ends when the cap is reached, far before the deadline.
			if d := time.Since(start); d > wait-100*time.Millisecond {
				t.Fatalf("took %v: the cap must end it, not the deadline", d)
			}
		})
	}
}

// A valid start that stalls, and a trickle, are cut at the deadline with what arrived.
func TestStallAndTrickleAreIncomplete(t *testing.T) {
	ctx := context.Background()
	const status = "HTTP/1.1 101 Switching Protocols\r\n"
	stall := serve(t, probetest.Stall(status))
	trickle := serve(t, probetest.Trickle("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 50*time.Millisecond))
	body := serve(t, probetest.Stall("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part"))
	silent := serve(t, probetest.Silent)
	short := func() time.Time { return time.Now().Add(300 * time.Millisecond) }

	ws := probe.WebSocketHandshake(ctx, dial(t, stall), short(), "127.0.0.1", "/")
	if ws.Status != 0 || ws.Reply != probe.Answered || ws.Cut != probe.CutDeadline || string(ws.Received) != status {
		t.Errorf("ws stall: status %d reply %q cut %q received %q", ws.Status, ws.Reply, ws.Cut, ws.Received)
	}
	if ws.Duration < 250*time.Millisecond {
		t.Errorf("ws stall: the exchange lasted %v, the wait must be in it", ws.Duration)
	}
	h := probe.HTTPRequest(ctx, dial(t, stall), short(), "127.0.0.1", "/")
	if h.Status != 0 || h.Reply != probe.Answered || h.Cut != probe.CutDeadline || string(h.Received) != status {
		t.Errorf("http stall: status %d reply %q cut %q received %q", h.Status, h.Reply, h.Cut, h.Received)
	}
	for _, name := range []string{"ws", "http"} {
		var e probe.Exchange
		if name == "ws" {
			e = probe.WebSocketHandshake(ctx, dial(t, trickle), short(), "127.0.0.1", "/").Exchange
		} else {
			e = probe.HTTPRequest(ctx, dial(t, trickle), short(), "127.0.0.1", "/").Exchange
		}
		if e.Reply != probe.Answered || e.Cut != probe.CutDeadline || e.ReceivedN == 0 || !strings.HasPrefix("HTTP/1.1 200 OK\r\n", string(e.Received)) {
			t.Errorf("%s trickle: reply %q cut %q received %q", name, e.Reply, e.Cut, e.Received)
		}
	}
	// Headers complete and the body cut: the status stands, the cut is recorded.
	h = probe.HTTPRequest(ctx, dial(t, body), short(), "127.0.0.1", "/")
	if h.Status != 200 || h.Cut != probe.CutDeadline || string(h.Body) != "only part" {
		t.Errorf("body stall: status %d cut %q body %q", h.Status, h.Cut, h.Body)
	}
	// Silence is not a cut answer.
	h = probe.HTTPRequest(ctx, dial(t, silent), short(), "127.0.0.1", "/")
	if h.Reply != probe.Silent || h.Cut != probe.CutNone {
		t.Errorf("silent: reply %q cut %q", h.Reply, h.Cut)
	}
}

// Text, frame and fingerprint reads stop at MaxKeep; TLS at its own cap.
func TestShortProbesAreCapped(t *testing.T) {
	ctx := context.Background()
	ln := serve(t, probetest.Endless("x"))
	m := probe.TextMessage(ctx, dial(t, ln), deadline())
	if m.Cut != probe.CutCap || m.ReceivedN != probe.MaxKeep {
		t.Errorf("text: cut %q received %d", m.Cut, m.ReceivedN)
	}
	m = probe.FrameMessage(ctx, dial(t, probetest.Listen(t)), time.Now().Add(100*time.Millisecond))
	if m.Cut != probe.CutNone || m.Reply != probe.Silent {
		t.Errorf("frame to a silent port: cut %q reply %q", m.Cut, m.Reply)
	}
	// A frame header announcing 1 MiB, then endless payload.
	frames := serve(t, probetest.Endless("\x00\x10\x00\x00"))
	m = probe.FrameMessage(ctx, dial(t, frames), deadline())
	if m.Cut != probe.CutCap || m.ReceivedN != probe.MaxKeep {
		t.Errorf("frame: cut %q received %d", m.Cut, m.ReceivedN)
	}
	tries := probe.Fingerprint(ctx, dialer(ln), []probe.TryKind{probe.TryHTTP, probe.TryTLS}, deadline(), "127.0.0.1")
	if tries[0].Cut != probe.CutCap || tries[0].ReceivedN != probe.MaxKeep {
		t.Errorf("try http: cut %q received %d", tries[0].Cut, tries[0].ReceivedN)
	}
	if tries[1].ReceivedN > 1<<20 {
		t.Errorf("try tls read %d bytes", tries[1].ReceivedN)
	}
	// TLS records without end: a handshake message longer than crypto/tls
	// allows ends the handshake; nothing is read past the TLS cap.
	tlsEndless := serve(t, probetest.Endless("\x16\x03\x03\x40\x00\x02\xff\xff\xff"))
	tr, tc := probe.TLSHandshake(ctx, dial(t, tlsEndless), deadline(), probe.TLSConfig{ServerName: "app.test"})
	if tc != nil || tr.Done || tr.ReceivedN > 1<<20 || tr.Reply != probe.Answered {
		t.Errorf("tls: done %v reply %q received %d, err %v", tr.Done, tr.Reply, tr.ReceivedN, tr.Err)
	}
}
