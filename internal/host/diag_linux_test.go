package host

import (
	"net"
	"net/netip"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// listenRaw makes a listening socket with an exact backlog, which net.Listen
// does not allow.
func listenRaw(t *testing.T, family int, addr netip.AddrPort, backlog int, v6only bool) netip.AddrPort {
	t.Helper()
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	var sa unix.Sockaddr
	if family == unix.AF_INET6 {
		v := 0
		if v6only {
			v = 1
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v); err != nil {
			t.Fatal(err)
		}
		sa = &unix.SockaddrInet6{Addr: addr.Addr().As16(), Port: int(addr.Port())}
	} else {
		sa = &unix.SockaddrInet4{Addr: addr.Addr().As4(), Port: int(addr.Port())}
	}
	if err := unix.Bind(fd, sa); err != nil {
		t.Skipf("bind %v: %v", addr, err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		t.Fatal(err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	switch s := got.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(s.Addr), uint16(s.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(s.Addr), uint16(s.Port))
	}
	t.Fatalf("getsockname: %T", got)
	return netip.AddrPort{}
}

func findDiag(socks []DiagSocket, local netip.AddrPort) *DiagSocket {
	for i := range socks {
		if socks[i].Local == local && socks[i].State == StateListen {
			return &socks[i]
		}
	}
	return nil
}

func TestDiagTCPBacklogQueueAndV6Only(t *testing.T) {
	v4 := listenRaw(t, unix.AF_INET, ap("127.0.0.1:0"), 7, false)
	// Three connections the server never accepts wait in its accept queue.
	for range 3 {
		c, err := net.Dial("tcp", v4.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	socks, err := DiagTCP(StateMask(StateListen))
	if err != nil {
		t.Fatal(err)
	}
	d := findDiag(socks, v4)
	if d == nil {
		t.Fatalf("DiagTCP misses %v in %d sockets", v4, len(socks))
	}
	if d.WQueue != 7 || d.RQueue != 3 || d.UID != os.Geteuid() || d.Inode == 0 || d.V6Only != -1 {
		t.Errorf("got %+v, want backlog 7, queue 3, our uid, an inode, V6Only -1", *d)
	}
	for _, s := range socks {
		if s.State != StateListen {
			t.Errorf("state filter let %v through: %+v", s.State, s)
		}
	}

	if _, err := os.Stat("/proc/sys/net/ipv6"); err != nil {
		t.Log("no IPv6: V6Only not tested")
		return
	}
	// Only the wildcard can be dual-stack: bind() to a specific IPv6 address sets IPV6_V6ONLY itself.
	only := listenRaw(t, unix.AF_INET6, ap("[::]:0"), 5, true)
	dual := listenRaw(t, unix.AF_INET6, ap("[::]:0"), 5, false)
	specific := listenRaw(t, unix.AF_INET6, ap("[::1]:0"), 5, false)
	socks, err = DiagTCP(StateMask(StateListen))
	if err != nil {
		t.Fatal(err)
	}
	if d := findDiag(socks, only); d == nil || d.V6Only != 1 {
		t.Errorf("IPV6_V6ONLY listener: %+v", d)
	}
	if d := findDiag(socks, dual); d == nil || d.V6Only != 0 {
		t.Errorf("dual-stack listener: %+v", d)
	}
	if d := findDiag(socks, specific); d == nil || d.V6Only != 1 {
		t.Errorf("listener on ::1: %+v", d)
	}
}

// DiagTCP and /proc agree on the established sockets.
func TestDiagTCPMatchesProc(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := netip.MustParseAddrPort(c.LocalAddr().String())
	socks, err := DiagTCP(AllStates)
	if err != nil {
		t.Fatal(err)
	}
	proc, err := TCPSockets()
	if err != nil {
		t.Fatal(err)
	}
	var fromDiag, fromProc *Socket
	for i := range socks {
		if socks[i].Local == local {
			fromDiag = &socks[i].Socket
		}
	}
	for i := range proc {
		if proc[i].Local == local {
			fromProc = &proc[i]
		}
	}
	if fromDiag == nil || fromProc == nil || *fromDiag != *fromProc {
		t.Errorf("sock_diag %+v, /proc %+v", fromDiag, fromProc)
	}
}

func TestScanProcsFindsOurListener(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	socks, err := DiagTCP(StateMask(StateListen))
	if err != nil {
		t.Fatal(err)
	}
	d := findDiag(socks, netip.MustParseAddrPort(ln.Addr().String()))
	if d == nil {
		t.Fatal("listener not found")
	}
	ps, err := ScanProcs(map[uint64]bool{d.Inode: true})
	if err != nil {
		t.Fatal(err)
	}
	owners := ps.Owners[d.Inode]
	if len(owners) != 1 || owners[0].PID != os.Getpid() {
		t.Fatalf("owners of inode %d = %+v, want this process %d", d.Inode, owners, os.Getpid())
	}
	o := owners[0]
	comm, _ := os.ReadFile("/proc/self/comm")
	if o.Process+"\n" != string(comm) || o.FDs < 3 || o.NoFile == nil || o.NoFile.Soft == 0 {
		t.Errorf("owner = %+v (comm %q)", o, comm)
	}
	if ps.Processes < 1 || !ps.Running[o.Process] {
		t.Errorf("scan = %d processes, running %v", ps.Processes, ps.Running)
	}
}

func TestReadTCPCounters(t *testing.T) {
	c, err := ReadTCPCounters()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", c)
}

func TestSocketInode(t *testing.T) {
	for in, want := range map[string]uint64{"socket:[123]": 123, "pipe:[5]": 0, "socket:[x]": 0, "socket:[7": 0, "/dev/null": 0} {
		got, ok := socketInode([]byte(in))
		if got != want || ok != (want != 0) {
			t.Errorf("socketInode(%q) = %d, %v", in, got, ok)
		}
	}
}
