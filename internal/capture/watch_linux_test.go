package capture

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/testbed"
)

// packetSockets counts the packet sockets open in ns.
func packetSockets(t *testing.T, ns *testbed.NS) int {
	t.Helper()
	n := 0
	ns.Do(t, func() {
		b, err := os.ReadFile("/proc/thread-self/net/packet")
		if err != nil {
			t.Fatal(err)
		}
		n = strings.Count(strings.TrimSpace(string(b)), "\n") // lines after the header
	})
	return n
}

// A real watch in a namespace: one port answered, one closed, one dropped
// by the server's own firewall, one not watched.
func TestWatchSeesAnswers(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "198.51.100.3:8282"))
	n.Server.Iptables(t, "-A", "INPUT", "-p", "tcp", "--dport", "9090", "-j", "DROP")

	var w *Watcher
	var err error
	n.Server.Do(t, func() { w, err = Open([]uint16{8282, 9191, 9090}) })
	if err != nil {
		t.Fatal(err)
	}
	if n := packetSockets(t, n.Server); n != 1 {
		t.Fatalf("%d packet sockets open during the watch, want 1", n)
	}
	done := make(chan Result, 1)
	errc := make(chan error, 1)
	go func() {
		r, err := w.Run(context.Background(), 4*time.Second)
		done <- r
		errc <- err
	}()
	if c, err := n.Client.Dial(t, "tcp", "198.51.100.3:8282", 2*time.Second); err != nil {
		t.Fatalf("dial 8282: %v", err)
	} else {
		c.Close()
	}
	if _, err := n.Client.Dial(t, "tcp", "198.51.100.3:9191", 2*time.Second); err == nil {
		t.Fatal("9191 must be refused")
	}
	// 1.5 s covers the first retransmission (1 s on Linux 6.5+).
	if _, err := n.Client.Dial(t, "tcp", "198.51.100.3:9090", 1500*time.Millisecond); err == nil {
		t.Fatal("9090 must time out")
	}
	if _, err := n.Client.Dial(t, "tcp", "198.51.100.3:7777", time.Second); err == nil {
		t.Fatal("7777 must be refused")
	}
	r := <-done
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	answers := map[uint16]SYN{}
	for _, s := range r.SYNs {
		if s.From.Addr() != netip.MustParseAddr("198.51.100.2") {
			t.Errorf("SYN from %v", s.From)
		}
		answers[s.To.Port()] = s
	}
	if len(r.SYNs) != 3 {
		t.Errorf("want 3 attempts (7777 is not watched), got %+v", r.SYNs)
	}
	if a := answers[8282]; a.Answer != SynAck || a.Count != 1 {
		t.Errorf("8282: %+v", a)
	}
	if a := answers[9191]; a.Answer != RST {
		t.Errorf("9191: %+v", a)
	}
	if a := answers[9090]; a.Answer != None || a.Count < 2 {
		t.Errorf("9090: %+v, want unanswered and retransmitted", a)
	}
	if r.Duration < 3*time.Second {
		t.Errorf("watch ended after %v, before its 4 s", r.Duration)
	}
	if n := packetSockets(t, n.Server); n != 0 {
		t.Errorf("%d packet sockets still open after the watch", n)
	}
}

// Loopback: every packet passes the tap twice (sent and received); each
// attempt must still count once.
func TestWatchLoopback(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "127.0.0.1:8282"))
	var w *Watcher
	var err error
	n.Server.Do(t, func() { w, err = Open(nil) })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Result, 1)
	go func() { r, _ := w.Run(ctx, time.Minute); done <- r }()
	if c, err := n.Server.Dial(t, "tcp", "127.0.0.1:8282", time.Second); err != nil {
		t.Fatal(err)
	} else {
		c.Close()
	}
	if _, err := n.Server.Dial(t, "tcp", "127.0.0.1:8283", time.Second); err == nil {
		t.Fatal("8283 must be refused")
	}
	time.Sleep(100 * time.Millisecond)
	cancel() // stops the minute-long watch at once
	var r Result
	select {
	case r = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("cancelling did not stop the watch")
	}
	got := map[uint16]SYN{}
	for _, s := range r.SYNs {
		got[s.To.Port()] = s
	}
	if s := got[8282]; s.Answer != SynAck || s.Count != 1 {
		t.Errorf("8282: %+v", s)
	}
	if s := got[8283]; s.Answer != RST || s.Count != 1 {
		t.Errorf("8283: %+v", s)
	}
}

func TestOpenNeedsRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: the permission error cannot be seen")
	}
	_, err := Open([]uint16{80})
	if !errors.Is(err, ErrNotPermitted) {
		t.Errorf("Open as non-root: %v, want ErrNotPermitted", err)
	}
}
