//go:build linux

package neterr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func closedPort(t *testing.T, network, addr string) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("listen %s %s: %v", network, addr, err)
	}
	ap := addrPortOf(ln.Addr())
	ln.Close()
	return ap
}

func listen(t *testing.T, network, addr string) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("listen %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return addrPortOf(ln.Addr())
}

func connect(t *testing.T, d Dialer, addr netip.AddrPort, timeout time.Duration) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, conn := d.Connect(ctx, addr)
	if conn != nil {
		conn.Close()
	}
	if (conn != nil) != (res.Kind == OK) {
		t.Errorf("Connect(%v): conn %v with kind %q", addr, conn != nil, res.Kind)
	}
	t.Logf("%v: kind=%s op=%q errno=%d(%v) icmp=%v local=%v in %v err=%v",
		addr, res.Kind, res.Op, int(res.Errno), res.Errno, res.ICMP, res.Local, res.Duration, res.Err)
	return res
}

func expect(t *testing.T, res Result, kind Kind, errno syscall.Errno, op string) {
	t.Helper()
	if res.Kind != kind || res.Errno != errno || res.Op != op {
		t.Errorf("got kind=%q errno=%v op=%q; want %q, %v, %q (err %v)", res.Kind, res.Errno, res.Op, kind, errno, op, res.Err)
	}
	if errno != 0 && !errors.Is(res.Err, errno) {
		t.Errorf("errors.Is(%v, %v) = false", res.Err, errno)
	}
}

func TestConnectRefusedLoopback(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}} {
		t.Run(tc.network, func(t *testing.T) {
			addr := closedPort(t, tc.network, tc.addr)
			res := connect(t, Dialer{}, addr, 5*time.Second)
			expect(t, res, Refused, syscall.ECONNREFUSED, "connect")
			if res.ICMP != nil {
				t.Errorf("RST on loopback left an error queue entry: %v", res.ICMP)
			}
			if res.Addr != addr {
				t.Errorf("Addr = %v; want %v", res.Addr, addr)
			}
		})
	}
}

func TestConnectOK(t *testing.T) {
	addr := listen(t, "tcp4", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, conn := Dialer{}.Connect(ctx, addr)
	if conn == nil {
		t.Fatalf("Connect(%v) = %+v, no conn", addr, res)
	}
	defer conn.Close()
	expect(t, res, OK, 0, "")
	if res.Err != nil || res.ICMP != nil {
		t.Errorf("success with Err=%v ICMP=%v", res.Err, res.ICMP)
	}
	if !res.Local.IsValid() || res.Local.Port() == 0 {
		t.Errorf("Local = %v; want the local address with a port", res.Local)
	}
	// The caller gets a plain TCP conn: IP_RECVERR is off again.
	rc, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVERR) })
	if gerr != nil || v != 0 {
		t.Errorf("IP_RECVERR after success = %d, %v; want 0", v, gerr)
	}
}

func TestConnectSource(t *testing.T) {
	addr := listen(t, "tcp4", "127.0.0.1:0")

	res := connect(t, Dialer{Source: mustAddr("127.0.0.2")}, addr, 5*time.Second)
	expect(t, res, OK, 0, "")
	if res.Local.Addr() != mustAddr("127.0.0.2") {
		t.Errorf("Local = %v; want 127.0.0.2", res.Local)
	}

	res = connect(t, Dialer{Source: mustAddr("192.0.2.77")}, addr, 5*time.Second)
	expect(t, res, AddrNotAvailable, syscall.EADDRNOTAVAIL, "bind")
	if res.ICMP != nil || res.Local.IsValid() {
		t.Errorf("bind failure with ICMP=%v Local=%v", res.ICMP, res.Local)
	}

	res = connect(t, Dialer{Source: mustAddr("::1")}, addr, 5*time.Second)
	expect(t, res, InvalidArgument, 0, "bind")
}

func TestConnectBadTTL(t *testing.T) {
	addr := closedPort(t, "tcp4", "127.0.0.1:0")
	res := connect(t, Dialer{TTL: 256}, addr, 5*time.Second)
	expect(t, res, InvalidArgument, syscall.EINVAL, "setsockopt")
}

func TestConnectCanceled(t *testing.T) {
	addr := closedPort(t, "tcp4", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, conn := Dialer{}.Connect(ctx, addr)
	if conn != nil {
		conn.Close()
	}
	expect(t, res, Canceled, 0, "")
}

func TestConnectInvalidAddr(t *testing.T) {
	res, conn := Dialer{}.Connect(context.Background(), netip.AddrPort{})
	if conn != nil {
		conn.Close()
	}
	if res.Kind != InvalidArgument || res.Err == nil {
		t.Errorf("zero AddrPort: %+v", res)
	}
}

// A listener with backlog 0 that never accepts drops further SYNs: a real
// timeout on loopback. It also exercises the dup staying open across
// Go's deadline path.
func TestConnectTimeoutFullBacklog(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(mustAddr("127.0.0.1"), uint16(sa.(*unix.SockaddrInet4).Port))

	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	var res Result
	for range 4 { // the first one or two fill the accept queue
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		var conn net.Conn
		res, conn = Dialer{}.Connect(ctx, addr)
		cancel()
		if conn == nil {
			break
		}
		held = append(held, conn)
	}
	t.Logf("timeout after %d held: kind=%s op=%q errno=%v icmp=%v local=%v in %v err=%v",
		len(held), res.Kind, res.Op, res.Errno, res.ICMP, res.Local, res.Duration, res.Err)
	expect(t, res, Timeout, 0, "connect")
	if res.ICMP != nil {
		t.Errorf("silent drop left an error queue entry: %v", res.ICMP)
	}
	if res.Duration < 250*time.Millisecond {
		t.Errorf("timed out after %v; deadline was 300ms", res.Duration)
	}

	// The dup must not keep the abandoned SYN_SENT socket alive.
	before := fdCount(t)
	for range 3 {
		if connect(t, Dialer{}, addr, 50*time.Millisecond).Kind != Timeout {
			t.Fatal("backlog no longer full")
		}
	}
	if after := fdCount(t); after != before {
		t.Errorf("open descriptors: %d before, %d after three timeouts", before, after)
	}
}

func fdCount(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

func TestConnectNoFDLeak(t *testing.T) {
	open := listen(t, "tcp4", "127.0.0.1:0")
	closed := closedPort(t, "tcp4", "127.0.0.1:0")
	bad := Dialer{Source: mustAddr("192.0.2.77")}
	run := func() {
		ctx := context.Background()
		for _, c := range []struct {
			d    Dialer
			addr netip.AddrPort
		}{{Dialer{}, open}, {Dialer{}, closed}, {bad, open}, {Dialer{TTL: 300}, open}} {
			res, conn := c.d.Connect(ctx, c.addr)
			if conn != nil {
				conn.Close()
			} else if res.Kind == OK {
				t.Fatal("OK without conn")
			}
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		Dialer{}.Connect(cctx, open)
	}
	run() // warm up: the runtime's epoll fd and friends
	before := fdCount(t)
	for range 200 {
		run()
	}
	// The listener's accept loop may hold a just-accepted connection for a
	// moment: a leak stays, that race does not.
	after := fdCount(t)
	for deadline := time.Now().Add(2 * time.Second); after != before && time.Now().Before(deadline); after = fdCount(t) {
		time.Sleep(10 * time.Millisecond)
	}
	if after != before {
		t.Errorf("open descriptors: %d before, %d after 1000 connects", before, after)
	}
}

// Dialer.MSS is announced in the SYN: the server's side of the connection
// sends segments no larger than it (less the TCP options), even on loopback
// whose MTU is 64 KiB.
func TestConnectSmallMSS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan int, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mss := -1
			if rc, err := c.(*net.TCPConn).SyscallConn(); err == nil {
				rc.Control(func(fd uintptr) { mss, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG) })
			}
			c.Close()
			accepted <- mss
		}
	}()
	addr := addrPortOf(ln.Addr())
	for _, tt := range []struct {
		mss      int
		min, max int
	}{{536, 400, 536}, {0, 10000, 65536}} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		res, conn := Dialer{MSS: tt.mss}.Connect(ctx, addr)
		cancel()
		if conn == nil {
			t.Fatalf("MSS %d: %+v", tt.mss, res)
		}
		got := <-accepted
		conn.Close()
		if got < tt.min || got > tt.max {
			t.Errorf("MSS %d asked: the server sends segments of %d bytes, want %d–%d", tt.mss, got, tt.min, tt.max)
		}
	}
}

// Sent is called once per Connect: as soon as the SYN is out when no
// answer comes (a full accept queue drops it), long before the connect
// gives up; on a refusal, a success and a refused argument too.
func TestConnectSent(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	full := netip.AddrPortFrom(mustAddr("127.0.0.1"), uint16(sa.(*unix.SockaddrInet4).Port))
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 4 { // fill the accept queue
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, conn := Dialer{}.Connect(ctx, full)
		cancel()
		if conn == nil {
			break
		}
		held = append(held, conn)
	}

	tests := []struct {
		name   string
		d      Dialer
		addr   netip.AddrPort
		kind   Kind
		silent bool // no answer: Sent must come long before the return
	}{
		{"no answer", Dialer{}, full, Timeout, true},
		{"no answer, TTL set", Dialer{TTL: 3}, full, Timeout, true},
		{"refused", Dialer{}, closedPort(t, "tcp4", "127.0.0.1:0"), Refused, false},
		{"open", Dialer{}, listen(t, "tcp4", "127.0.0.1:0"), OK, false},
		{"bad TTL", Dialer{TTL: 300}, full, InvalidArgument, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			var at time.Time
			start := time.Now()
			d := tt.d
			synSent := false
			d.Sent = func() {
				calls++
				at = time.Now()
				synSent = synSentTo(t, tt.addr)
			}
			res := connect(t, d, tt.addr, 300*time.Millisecond)
			returned := time.Now()
			if res.Kind != tt.kind {
				t.Fatalf("kind %s, want %s", res.Kind, tt.kind)
			}
			if calls != 1 {
				t.Fatalf("Sent called %d times, want once", calls)
			}
			if tt.silent && !synSent {
				t.Errorf("Sent came before the socket toward %v was in SYN_SENT", tt.addr)
			}
			if tt.silent && returned.Sub(at) < 200*time.Millisecond {
				t.Errorf("Sent %v after the start and %v before the return: it waited for the answer, not the SYN",
					at.Sub(start), returned.Sub(at))
			}
		})
	}
}

// synSentTo: /proc/net/tcp lists a socket in SYN_SENT toward 127.0.0.1:port.
func synSentTo(t *testing.T, ap netip.AddrPort) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Errorf("read /proc/net/tcp: %v", err)
		return false
	}
	want := fmt.Sprintf("0100007F:%04X", ap.Port())
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 3 && f[2] == want && f[3] == "02" {
			return true
		}
	}
	return false
}
