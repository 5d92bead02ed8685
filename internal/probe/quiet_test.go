package probe_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/probe"
)

// Quiet sends nothing and tells what the server did with the connection,
// against real loopback servers.
func TestQuiet(t *testing.T) {
	for _, tt := range []struct {
		name  string
		serve func(*net.TCPConn)
		want  probe.Reply
		got   string
	}{
		// A few milliseconds after the accept: on loopback a reset that
		// quick can beat the connect's own return (ECONNRESET from connect).
		{"reset at once", func(c *net.TCPConn) { time.Sleep(20 * time.Millisecond); c.SetLinger(0); c.Close() }, probe.Reset, ""},
		{"closed at once", func(c *net.TCPConn) { time.Sleep(20 * time.Millisecond); c.Close() }, probe.Closed, ""},
		{"speaks first", func(c *net.TCPConn) { c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n")); time.Sleep(time.Second); c.Close() }, probe.Answered, "SSH-2.0-OpenSSH_9.2\r\n"},
		{"keeps it open", func(c *net.TCPConn) { time.Sleep(time.Second); c.Close() }, probe.Silent, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err == nil {
					tt.serve(c.(*net.TCPConn))
				}
			}()
			c := dial(t, ln)
			e := probe.Quiet(context.Background(), c, time.Now().Add(300*time.Millisecond))
			if e.Reply != tt.want || string(e.Received) != tt.got || e.SentN != 0 {
				t.Errorf("reply %s, received %q, sent %d; want %s, %q, nothing sent", e.Reply, e.Received, e.SentN, tt.want, tt.got)
			}
		})
	}
}
