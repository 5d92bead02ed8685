package proxy

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/probe/probetest"
)

// A proxy that answers without end, stalls, or trickles is bounded in bytes
// and in time, and the error says which it was.
func TestProbeHostileProxy(t *testing.T) {
	tests := []struct {
		name    string
		scheme  string
		h       func(net.Conn)
		timeout time.Duration
		err     string // the start of Result.Err
	}{
		{"endless header", "http", probetest.Endless("HTTP/1.1 200 Connection established\r\nX-Long: "), 2 * time.Second, "the answer is longer than 64 KiB"},
		{"endless status line", "http", probetest.Endless("HTTP/1.1 200 "), 2 * time.Second, "the answer is longer than 64 KiB"},
		{"stall after the status line", "http", probetest.Stall("HTTP/1.1 200 Connection established\r\n"), 200 * time.Millisecond, "incomplete answer: 37 bytes came"},
		{"trickle", "http", probetest.Trickle("HTTP/1.1 200 OK\r\n\r\n", 100*time.Millisecond), 250 * time.Millisecond, "incomplete answer: "},
		{"silent", "http", probetest.Silent, 100 * time.Millisecond, "no answer (timeout)"},
		{"socks5 stall", "socks5", probetest.Stall("\x05"), 100 * time.Millisecond, "incomplete answer: 1 bytes came"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := probetest.Listen(t)
			probetest.Serve(t, ln, tt.h)
			u, bad := ParseURL(tt.scheme + "://" + ln.Addr().String())
			if bad != "" {
				t.Fatal(bad)
			}
			// The probe's deadline is twice the timeout (connect, then the handshake).
			r := Probe(context.Background(), u, "127.0.0.1", netip.MustParseAddr("127.0.0.1"), 8282, tt.timeout/2)
			if r.Stage != StageHandshake || !strings.HasPrefix(r.Err, tt.err) {
				t.Fatalf("got stage %q, err %q; want %q, %q…", r.Stage, r.Err, StageHandshake, tt.err)
			}
		})
	}
}

func TestCountedCapsReads(t *testing.T) {
	c, s := net.Pipe()
	defer c.Close()
	go func() {
		defer s.Close()
		buf := make([]byte, 10000)
		for {
			if _, err := s.Write(buf); err != nil {
				return
			}
		}
	}()
	cc := &counted{Conn: c}
	buf := make([]byte, 7000)
	var err error
	for err == nil {
		_, err = cc.Read(buf)
	}
	if err != errTooLong || cc.n != maxHead {
		t.Fatalf("read %d bytes, then %v; want %d, then errTooLong", cc.n, err, maxHead)
	}
}
