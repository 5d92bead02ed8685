package host

import (
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

func TestListenersFindsLoopbackListener(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	want := netip.MustParseAddrPort(ln.Addr().String())

	got, err := Listeners(want.Port())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("Listeners(%d) = %v, want exactly our listener", want.Port(), got)
	}
	s := got[0]
	if s.Local != want || s.State != StateListen || s.UID != os.Geteuid() || s.Inode == 0 {
		t.Errorf("got %+v, want LISTEN on %v owned by uid %d with an inode", s, want, os.Geteuid())
	}

	all, err := Listeners(0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range all {
		if s.State != StateListen {
			t.Errorf("Listeners(0) returned %v socket %+v", s.State, s)
		}
		found = found || s.Local == want
	}
	if !found {
		t.Errorf("Listeners(0) misses %v", want)
	}
}

func TestIsLocalHost(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.1.2.3", true}, // all of 127/8 is local, not only the interface address
		{"::ffff:127.0.0.1", true},
		{"::1", true},
		{"192.0.2.1", false}, // TEST-NET-1; on the build host it is the gateway, not us
		{"198.51.100.1", false},
		{"2001:db8::1", false},
		{"0.0.0.0", false},
		{"::", false},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		got, err := IsLocal(a)
		if err != nil {
			t.Fatalf("IsLocal(%s): %v", tt.addr, err)
		}
		if a.IsUnspecified() {
			if got {
				t.Errorf("IsLocal(%s) = true, want false", tt.addr)
			}
			continue
		}
		// Where bind() disagrees with the table (::1 with IPv6 disabled),
		// bind is the truth IsLocal stands for.
		ln, bindErr := net.Listen("tcp", netip.AddrPortFrom(a.Unmap(), 0).String())
		if bindErr == nil {
			ln.Close()
		}
		if got != (bindErr == nil) {
			t.Errorf("IsLocal(%s) = %v, but bind gave %v", tt.addr, got, bindErr)
		}
		if got != tt.want && (tt.addr != "::1" || bindErr == nil) {
			t.Errorf("IsLocal(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

func TestLocalAddrsHasLoopback(t *testing.T) {
	addrs, err := LocalAddrs()
	if err != nil {
		t.Fatal(err)
	}
	want := Addr{Prefix: netip.MustParsePrefix("127.0.0.1/8"), Iface: "lo"}
	for _, a := range addrs {
		if a == want {
			return
		}
	}
	t.Errorf("LocalAddrs() = %v, want it to contain %v", addrs, want)
}

func TestRouteToLoopback(t *testing.T) {
	r, err := RouteTo(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	want := Route{Dst: netip.MustParsePrefix("127.0.0.1/32"), Iface: "lo", Src: netip.MustParseAddr("127.0.0.1"), Type: "local"}
	if r != want {
		t.Errorf("RouteTo(127.0.0.1) = %+v, want %+v", r, want)
	}
	// 0.0.0.0 reaches lo without any table entry, so no prefix is known.
	r, err = RouteTo(netip.MustParseAddr("0.0.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != "local" || r.Dst.IsValid() || r.Default {
		t.Errorf("RouteTo(0.0.0.0) = %+v, want type local without a prefix", r)
	}
}

func TestHostSysctls(t *testing.T) {
	r, err := EphemeralRange()
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() < 1 {
		t.Errorf("EphemeralRange() = %v", r)
	}
	tw, err := SysctlInt("net.ipv4.tcp_tw_reuse")
	if err != nil {
		t.Fatal(err)
	}
	if tw < 0 || tw > 2 {
		t.Errorf("tcp_tw_reuse = %d, want 0, 1 or 2", tw)
	}
	if _, err := SysctlInt("net.ipv4.no_such_setting"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing sysctl: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := SysctlInt("net.ipv4.ip_local_port_range"); err == nil {
		t.Error("a two-number sysctl read as one integer")
	}
}

func TestSysctlNames(t *testing.T) {
	fsys := fstest.MapFS{
		"sys/net/ipv4/tcp_tw_reuse":                  {Data: []byte("2\n")},
		"sys/net/ipv4/conf/eth0.100/rp_filter":       {Data: []byte("1\n")},
		"sys/net/ipv4/ip_local_port_range":           {Data: []byte("40000\t40001\n")},
		"sys/net/core/somaxconn":                     {Data: []byte("  4096 \n")},
		"sys/net/netfilter/nf_conntrack_max":         {Data: []byte("")},
		"sys/net/ipv4/tcp_rmem":                      {Data: []byte("4096\t131072\t6291456\n")},
		"sys/net/ipv4/conf/all/accept_local_garbage": {Data: []byte(strings.Repeat("9", 2*maxSysctl))},
	}
	tests := []struct {
		name    string
		want    int
		wantErr string
	}{
		{"net.ipv4.tcp_tw_reuse", 2, ""},
		{"net/ipv4/conf/eth0.100/rp_filter", 1, ""},
		{"net.core.somaxconn", 4096, ""},
		{"net.ipv4.conf.eth0.100.rp_filter", 0, "not exist"},
		{"net.netfilter.nf_conntrack_max", 0, "not one integer"},
		{"net.ipv4.tcp_rmem", 0, "not one integer"},
		{"net.ipv4.conf.all.accept_local_garbage", 0, "not one integer"},
		{"../../etc/passwd", 0, "invalid name"},
		{"net/../../etc/passwd", 0, "invalid name"},
		{"/net/ipv4/tcp_tw_reuse", 0, "invalid name"},
		{"net.ipv4..tcp_tw_reuse", 0, "invalid name"},
		{"", 0, "invalid name"},
	}
	for _, tt := range tests {
		got, err := sysctlInt(fsys, tt.name)
		if tt.wantErr == "" {
			if err != nil || got != tt.want {
				t.Errorf("sysctlInt(%q) = %d, %v; want %d", tt.name, got, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("sysctlInt(%q) err = %v, want it to mention %q", tt.name, err, tt.wantErr)
		}
	}
	r, err := ephemeralRange(fsys)
	if err != nil || r != (PortRange{Lo: 40000, Hi: 40001}) {
		t.Errorf("ephemeralRange = %v, %v", r, err)
	}
}

func TestTCPSocketsFiles(t *testing.T) {
	if !littleEndian() {
		t.Skip("captured text is from a little-endian kernel")
	}
	tests := []struct {
		name    string
		fsys    fstest.MapFS
		want    int
		wantErr bool
	}{
		{"thread-self preferred", fstest.MapFS{
			"thread-self/net/tcp":  {Data: []byte(capturedTCP)},
			"thread-self/net/tcp6": {Data: []byte(capturedTCP6)},
			"self/net/tcp":         {Data: []byte("garbage that must not be read")},
		}, 15, false},
		{"self before Linux 3.17", fstest.MapFS{
			"self/net/tcp":  {Data: []byte(capturedTCP)},
			"self/net/tcp6": {Data: []byte(capturedTCP6)},
		}, 15, false},
		{"IPv6 disabled", fstest.MapFS{"thread-self/net/tcp": {Data: []byte(capturedTCP)}}, 8, false},
		// Line 5 again after line 6, now in CLOSE_WAIT: the kernel resumed
		// its walk in a bucket that had changed. A second listener on :2024
		// with another inode is a SO_REUSEPORT sibling, not a repeat.
		{"a connection listed twice counts once", fstest.MapFS{"thread-self/net/tcp": {Data: []byte(capturedTCP +
			"   8: 0100007F:8C5C 0100007F:A02B 08 00000000:00000000 00:00000000 00000000     0        0 10984 1 0000000037a798d4 20 0 0 10 -1\n" +
			"   9: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 563 1 00000000894b6707 100 0 0 10 0\n")}}, 9, false},
		{"no tcp file", fstest.MapFS{"thread-self/net/tcp6": {Data: []byte(capturedTCP6)}}, 0, true},
		{"corrupt tcp6", fstest.MapFS{
			"thread-self/net/tcp":  {Data: []byte(capturedTCP)},
			"thread-self/net/tcp6": {Data: []byte("   0: zz")},
		}, 0, true},
	}
	for _, tt := range tests {
		got, err := tcpSockets(tt.fsys)
		if (err != nil) != tt.wantErr || len(got) != tt.want {
			t.Errorf("%s: %d sockets, err %v; want %d, error %v", tt.name, len(got), err, tt.want, tt.wantErr)
		}
	}
	got, _ := tcpSockets(tests[3].fsys)
	if s := got[5]; s.Local.Port() != 0x8C5C || s.State != StateCloseWait {
		t.Errorf("the repeated connection keeps its place and takes the later state: %+v", s)
	}
}
