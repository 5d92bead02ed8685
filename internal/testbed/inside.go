//go:build linux

package testbed

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// Do runs fn on the calling goroutine, locked to its OS thread, with that
// thread switched into the namespace, and switches back afterwards.
//
// Sockets created inside fn stay in the namespace for their whole life, so
// a listener or connection made in fn can be used from anywhere afterwards.
// Goroutines started by fn do not inherit the namespace, and neither does
// Go's resolver (it looks names up on other goroutines, with the host's
// /etc/hosts and resolv.conf): use IP literals inside fn. fn may call
// t.Fatal.
func (n *NS) Do(t testing.TB, fn func()) {
	t.Helper()
	target, err := netns.GetFromName(n.name)
	if err != nil {
		t.Fatalf("testbed: opening namespace %s: %v", n.name, err)
	}
	defer target.Close()

	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("testbed: getting current namespace: %v", err)
	}
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("testbed: entering namespace %s: %v", n.name, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			// Stay locked: the runtime then discards the thread when this
			// goroutine exits instead of reusing it in the wrong namespace.
			t.Fatalf("testbed: leaving namespace %s: %v", n.name, err)
		}
		runtime.UnlockOSThread()
	}()
	fn()
}

// Listen listens inside the namespace (addr should be an IP literal, e.g.
// "198.51.100.3:0") and closes the listener at cleanup.
func (n *NS) Listen(t testing.TB, network, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	var err error
	n.Do(t, func() { ln, err = net.Listen(network, addr) })
	if err != nil {
		t.Fatalf("testbed: in %s: listen %s %s: %v", n.name, network, addr, err)
	}
	n.bed.track(t, &n.bed.closers, func() { ln.Close() })
	return ln
}

// ListenPacket is Listen for packet sockets (udp, ip:…).
func (n *NS) ListenPacket(t testing.TB, network, addr string) net.PacketConn {
	t.Helper()
	var pc net.PacketConn
	var err error
	n.Do(t, func() { pc, err = net.ListenPacket(network, addr) })
	if err != nil {
		t.Fatalf("testbed: in %s: listen %s %s: %v", n.name, network, addr, err)
	}
	n.bed.track(t, &n.bed.closers, func() { pc.Close() })
	return pc
}

// ServeAccept accepts connections on ln and holds them open, unread, until
// cleanup, like a server that accepts and then says nothing.
func (n *NS) ServeAccept(t testing.TB, ln net.Listener) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				break
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			c.Close()
		}
	}()
	n.bed.track(t, &n.bed.closers, func() {
		ln.Close()
		<-done
	})
}

// Dial connects from inside the namespace; addr should be an IP literal.
// Failure is returned, not fatal, because tests often expect it. A
// returned connection is also closed at cleanup.
func (n *NS) Dial(t testing.TB, network, addr string, timeout time.Duration) (net.Conn, error) {
	t.Helper()
	var c net.Conn
	var err error
	n.Do(t, func() { c, err = net.DialTimeout(network, addr, timeout) })
	if err != nil {
		return nil, err
	}
	n.bed.track(t, &n.bed.closers, func() { c.Close() })
	return c, nil
}

// WaitListening waits until something in the namespace has a TCP socket
// listening on, or a UDP socket bound to, port (network "tcp" or "udp"),
// for servers started with Start. It looks at /proc rather than
// connecting, so single-connection servers are not disturbed.
func (n *NS) WaitListening(t testing.TB, network string, port int, timeout time.Duration) {
	t.Helper()
	var files []string
	state := ""
	switch network {
	case "tcp":
		files, state = []string{"tcp", "tcp6"}, "0A" // TCP_LISTEN
	case "udp":
		files = []string{"udp", "udp6"}
	default:
		t.Fatalf("testbed: WaitListening: network %q is not tcp or udp", network)
	}
	deadline := time.Now().Add(timeout)
	for {
		found := false
		n.Do(t, func() {
			// thread-self, because /proc/self/net follows the main
			// thread, which is not in the namespace.
			for _, f := range files {
				if procNetHasPort("/proc/thread-self/net/"+f, port, state) {
					found = true
					return
				}
			}
		})
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testbed: in %s: nothing listening on %s port %d after %v", n.name, network, port, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func procNetHasPort(path string, port int, state string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || (state != "" && f[3] != state) {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && int(p) == port {
			return true
		}
	}
	return false
}

// Proc is a background process started by NS.Start.
type Proc struct {
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{}
	err    error
	stop   func()
}

// Start starts args inside the namespace in the background, capturing
// stdout and stderr. The process and everything it spawns is killed and
// waited for at cleanup (or by Stop); if the test failed, its output is
// logged then.
func (n *NS) Start(t testing.TB, args ...string) *Proc {
	t.Helper()
	if len(args) == 0 {
		t.Fatal("testbed: Start: no command given")
	}
	p := &Proc{done: make(chan struct{})}
	// Cancelling the context kills the process group (see setGroupKill).
	ctx, cancel := context.WithCancel(context.Background())
	p.cmd = exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name}, args...)...)
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	setGroupKill(p.cmd)
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("testbed: in %s: starting %s: %v", n.name, strings.Join(args, " "), err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	desc := fmt.Sprintf("%s: %s", n, strings.Join(args, " "))
	p.stop = n.bed.track(t, &n.bed.procs, func() {
		cancel()
		<-p.done
		if t.Failed() {
			t.Logf("testbed: background process %s\nstdout:\n%s\nstderr:\n%s", desc, tail(p.Stdout()), tail(p.Stderr()))
		}
	})
	return p
}

func tail(s string) string {
	const max = 4096
	if len(s) > max {
		return "…" + s[len(s)-max:]
	}
	return s
}

// Pid is the process id of the started command.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Stdout returns what the process has written to stdout so far.
func (p *Proc) Stdout() string { return p.stdout.String() }

// Stderr returns what the process has written to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error (nil for exit status 0); valid once Done
// is closed.
func (p *Proc) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Stop kills the process group and waits for it; it is safe to call more
// than once and cleanup calls it anyway.
func (p *Proc) Stop() { p.stop() }

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
