package host

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// newNetns creates a named network namespace that is always deleted when the
// test ends, and returns its name and a handle to it.
func newNetns(t *testing.T) (string, netns.NsHandle) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating network namespaces needs root; run the tests as root to cover routes, neighbours and sysctls")
	}
	name := fmt.Sprintf("conndiag-host-%d-%08x", os.Getpid(), rand.Uint32())
	type result struct {
		ns  netns.NsHandle
		err error
	}
	ch := make(chan result)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- result{netns.None(), err}
			return // exits locked: the runtime discards the thread
		}
		defer orig.Close()
		ns, err := netns.NewNamed(name) // moves this thread into it
		ch <- result{ns, err}
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	res := <-ch
	if res.err != nil {
		// NewNamed may have left the mount point behind.
		_ = netns.DeleteNamed(name)
		t.Fatalf("create namespace %s: %v", name, res.err)
	}
	t.Cleanup(func() {
		res.ns.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})
	return name, res.ns
}

// inNetns runs fn on a thread inside ns and returns its error. Subtests and
// t.Fatal must not be used in fn: they would run on another thread. A
// goroutine started by fn runs on another thread, outside ns.
func inNetns(t *testing.T, ns netns.NsHandle, fn func() error) error {
	t.Helper()
	errc := make(chan error)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter namespace: %w", err)
			return
		}
		err = fn()
		// Unlock only a thread that is back home; a goroutine that exits
		// locked takes its thread with it (or wedges the main thread).
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

func mustIPNet(s string) *net.IPNet {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}

// setupRoutes builds, inside ns: lo up; a veth pair v0/v1 (dummy links are
// often not built into kernels) with 10.0.0.2/24 and 2001:db8::2/64 on v0;
// a default route via 10.0.0.1; unreachable, prohibit, blackhole and throw
// routes for 10.66-10.69/16; an unreachable 2001:db8:66::/48. IPv6 has no
// default route, so other IPv6 destinations have no route at all.
func setupRoutes(t *testing.T, ns netns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	la := netlink.NewLinkAttrs()
	la.Name = "v0"
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "v1"}); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	for _, name := range []string{"lo", "v0", "v1"} {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatalf("set %s up: %v", name, err)
		}
	}
	v0, err := h.LinkByName("v0")
	if err != nil {
		t.Fatal(err)
	}
	idx := v0.Attrs().Index
	for _, a := range []*netlink.Addr{
		{IPNet: mustIPNet("10.0.0.2/24")},
		{IPNet: mustIPNet("2001:db8::2/64"), Flags: unix.IFA_F_NODAD},
	} {
		if err := h.AddrAdd(v0, a); err != nil {
			t.Fatalf("add %v: %v", a, err)
		}
	}
	routes := []netlink.Route{
		{Dst: mustIPNet("0.0.0.0/0"), Gw: net.ParseIP("10.0.0.1"), LinkIndex: idx},
		{Dst: mustIPNet("10.66.0.0/16"), Type: unix.RTN_UNREACHABLE},
		{Dst: mustIPNet("10.67.0.0/16"), Type: unix.RTN_PROHIBIT},
		{Dst: mustIPNet("10.68.0.0/16"), Type: unix.RTN_BLACKHOLE},
		{Dst: mustIPNet("10.69.0.0/16"), Type: unix.RTN_THROW},
		{Dst: mustIPNet("2001:db8:66::/48"), Type: unix.RTN_UNREACHABLE},
	}
	for _, r := range routes {
		if err := h.RouteAdd(&r); err != nil {
			t.Fatalf("add route %v: %v", r, err)
		}
	}
	return h
}

func TestRouteToInNamespace(t *testing.T) {
	name, ns := newNetns(t)
	setupRoutes(t, ns)
	a := netip.MustParseAddr
	p := netip.MustParsePrefix
	src := a("10.0.0.2")
	tests := []struct {
		dst  string
		want Route
	}{
		{"10.0.0.5", Route{Dst: p("10.0.0.0/24"), Iface: "v0", Src: src, Type: "unicast", OnLink: true}},
		{"198.51.100.7", Route{Dst: p("0.0.0.0/0"), Gateway: a("10.0.0.1"), Iface: "v0", Src: src, Type: "unicast", Default: true}},
		{"::ffff:198.51.100.7", Route{Dst: p("0.0.0.0/0"), Gateway: a("10.0.0.1"), Iface: "v0", Src: src, Type: "unicast", Default: true}},
		{"10.0.0.2", Route{Dst: p("10.0.0.2/32"), Iface: "lo", Src: src, Type: "local"}},
		{"127.0.0.1", Route{Dst: p("127.0.0.1/32"), Iface: "lo", Src: a("127.0.0.1"), Type: "local"}},
		{"127.9.9.9", Route{Dst: p("127.0.0.0/8"), Iface: "lo", Src: a("127.0.0.1"), Type: "local"}},
		{"10.0.0.255", Route{Dst: p("10.0.0.255/32"), Iface: "v0", Src: src, Type: "broadcast"}},
		{"10.66.1.1", Route{Dst: p("10.66.0.0/16"), Type: "unreachable", Errno: syscall.EHOSTUNREACH}},
		{"10.67.1.1", Route{Dst: p("10.67.0.0/16"), Type: "prohibit", Errno: syscall.EACCES}},
		{"10.68.1.1", Route{Dst: p("10.68.0.0/16"), Type: "blackhole", Errno: syscall.EINVAL}},
		// A throw route ends the lookup in this table, so the default route
		// does not apply: no route, though `ip route` lists a default.
		{"10.69.1.1", Route{Dst: p("10.69.0.0/16"), Type: "throw", Errno: syscall.ENETUNREACH}},
		{"2001:db8::5", Route{Dst: p("2001:db8::/64"), Iface: "v0", Src: a("2001:db8::2"), Type: "unicast", OnLink: true}},
		{"2001:db8:66::1", Route{Dst: p("2001:db8:66::/48"), Type: "unreachable", Errno: syscall.EHOSTUNREACH}},
		{"2001:db8:99::1", Route{Type: "none", Errno: syscall.ENETUNREACH}},
	}

	check := func(t *testing.T, how string, routeTo func(netip.Addr) (Route, error)) {
		for _, tt := range tests {
			got, err := routeTo(a(tt.dst))
			if err != nil {
				t.Errorf("%s: RouteTo(%s): %v", how, tt.dst, err)
				continue
			}
			if got != tt.want {
				t.Errorf("%s: RouteTo(%s) =\n  %+v, want\n  %+v", how, tt.dst, got, tt.want)
			}
		}
	}

	n, err := OpenNamespace(filepath.Join("/run/netns", name))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	check(t, "handle", n.RouteTo)

	// The package-level function on a thread inside the namespace.
	got := make([]Route, len(tests))
	errs := make([]error, len(tests))
	if err := inNetns(t, ns, func() error {
		for i, tt := range tests {
			got[i], errs[i] = RouteTo(a(tt.dst))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	i := 0
	check(t, "thread", func(netip.Addr) (Route, error) { i++; return got[i-1], errs[i-1] })

	// What RouteTo reports as Errno is what connect() returns.
	for _, tt := range tests {
		if tt.want.Errno == 0 {
			continue
		}
		var dialErr error
		if err := inNetns(t, ns, func() error {
			d := net.Dialer{Timeout: time.Second}
			c, err := d.Dial("tcp", netip.AddrPortFrom(a(tt.dst), 80).String())
			if c != nil {
				c.Close()
			}
			dialErr = err
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(dialErr, tt.want.Errno) {
			t.Errorf("connect to %s: %v, want %v like the route lookup", tt.dst, dialErr, tt.want.Errno)
		}
	}
}

func TestLocalAddrsAndIsLocalInNamespace(t *testing.T) {
	name, ns := newNetns(t)
	h := setupRoutes(t, ns)
	v0, err := h.LinkByName("v0")
	if err != nil {
		t.Fatal(err)
	}
	// Without NODAD the address stays tentative for about a second, and bind() refuses it.
	if err := h.AddrAdd(v0, &netlink.Addr{IPNet: mustIPNet("2001:db8::3/64")}); err != nil {
		t.Fatal(err)
	}
	n, err := OpenNamespace(filepath.Join("/run/netns", name))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	addrs, err := n.LocalAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []Addr{
		{netip.MustParsePrefix("127.0.0.1/8"), "lo"},
		{netip.MustParsePrefix("::1/128"), "lo"},
		{netip.MustParsePrefix("10.0.0.2/24"), "v0"},
		{netip.MustParsePrefix("2001:db8::2/64"), "v0"},
	} {
		found := false
		for _, a := range addrs {
			found = found || a == want
		}
		if !found {
			t.Errorf("LocalAddrs() = %v, missing %v", addrs, want)
		}
	}

	// IsLocal must agree with bind() on unicast addresses, from either side.
	cases := []struct {
		addr string
		want bool
	}{
		{"10.0.0.2", true},
		{"10.0.0.5", false},
		{"127.0.0.1", true},
		{"127.3.4.5", true},
		{"::ffff:10.0.0.2", true},
		{"198.51.100.7", false},
		{"::1", true},
		{"2001:db8::2", true},
		{"2001:db8::3", false}, // tentative
		{"2001:db8::5", false},
	}
	for _, c := range cases {
		addr := netip.MustParseAddr(c.addr)
		var inside bool
		var insideErr, bindErr error
		if err := inNetns(t, ns, func() error {
			inside, insideErr = IsLocal(addr)
			ln, err := net.Listen("tcp", netip.AddrPortFrom(addr.Unmap(), 0).String())
			if err == nil {
				ln.Close()
			}
			bindErr = err
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		viaHandle, err := n.IsLocal(addr)
		if err != nil || insideErr != nil {
			t.Fatalf("IsLocal(%s): %v / %v", c.addr, err, insideErr)
		}
		if inside != c.want || viaHandle != c.want {
			t.Errorf("IsLocal(%s) = %v (thread) / %v (handle), want %v", c.addr, inside, viaHandle, c.want)
		}
		if (bindErr == nil) != c.want {
			t.Errorf("bind(%s) = %v, but IsLocal says %v", c.addr, bindErr, c.want)
		}
	}
}

func TestNeighStateInNamespace(t *testing.T) {
	name, ns := newNetns(t)
	h := setupRoutes(t, ns)
	v0, err := h.LinkByName("v0")
	if err != nil {
		t.Fatal(err)
	}
	mac, _ := net.ParseMAC("02:00:00:00:00:09")
	if err := h.NeighAdd(&netlink.Neigh{LinkIndex: v0.Attrs().Index, Family: netlink.FAMILY_V4,
		IP: net.ParseIP("10.0.0.9"), HardwareAddr: mac, State: netlink.NUD_PERMANENT}); err != nil {
		t.Fatal(err)
	}
	n, err := OpenNamespace(filepath.Join("/run/netns", name))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	// Connecting through the gateway makes the kernel ARP for it; nobody
	// answers on the veth peer, so the entry stays INCOMPLETE, then FAILED.
	dst := netip.MustParseAddr("198.51.100.7")
	var r Route
	var dialErr, routeErr error
	var stateInside string
	var stateErr error
	if err := inNetns(t, ns, func() error {
		r, routeErr = RouteTo(dst)
		d := net.Dialer{Timeout: 300 * time.Millisecond}
		c, err := d.Dial("tcp", netip.AddrPortFrom(dst, 80).String())
		if c != nil {
			c.Close()
		}
		dialErr = err
		stateInside, stateErr = NeighState(r.NextHop(dst), r.Iface)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if routeErr != nil || stateErr != nil {
		t.Fatalf("RouteTo: %v; NeighState: %v", routeErr, stateErr)
	}
	if dialErr == nil {
		t.Fatal("dial through a gateway that never answers ARP succeeded")
	}
	if hop := r.NextHop(dst); hop != netip.MustParseAddr("10.0.0.1") || r.Iface != "v0" {
		t.Fatalf("next hop %v on %q, want 10.0.0.1 on v0", hop, r.Iface)
	}
	if stateInside != "INCOMPLETE" && stateInside != "FAILED" {
		t.Errorf("NeighState(10.0.0.1, v0) = %q, want INCOMPLETE or FAILED", stateInside)
	}

	tests := []struct {
		addr, iface, want string
	}{
		{"10.0.0.9", "v0", "PERMANENT"},
		{"10.0.0.9", "", "PERMANENT"},
		{"10.0.0.9", "v1", ""},
		{"10.0.0.8", "v0", ""},
		{"2001:db8::9", "v0", ""},
	}
	for _, tt := range tests {
		got, err := n.NeighState(netip.MustParseAddr(tt.addr), tt.iface)
		if err != nil || got != tt.want {
			t.Errorf("NeighState(%s, %q) = %q, %v; want %q", tt.addr, tt.iface, got, err, tt.want)
		}
	}
	if _, err := n.NeighState(netip.MustParseAddr("10.0.0.9"), "nosuchif"); err == nil {
		t.Error("NeighState on a missing interface: no error")
	}
}

// In a namespace whose ip_local_port_range holds two ports, the third
// connection to one destination fails with EADDRNOTAVAIL, and EphemeralUsage
// shows why. Everything stays on the namespace's loopback.
func TestEphemeralPortsInNamespace(t *testing.T) {
	_, ns := newNetns(t)
	setupRoutes(t, ns)
	hostRange, err := EphemeralRange()
	if err != nil {
		t.Fatal(err)
	}
	dst := netip.MustParseAddrPort("127.0.0.1:5000")

	var (
		r                PortRange
		full, afterClose PortUsage
		thirdErr         error
		listeners        []Socket
		outside          []Socket
		outsideErr       error
	)
	if err := inNetns(t, ns, func() error {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte("40000 40001"), 0); err != nil {
			return err
		}
		var err error
		if r, err = EphemeralRange(); err != nil {
			return err
		}
		// A fixed port outside the range, so the listener does not take one of the two.
		ln, err := net.Listen("tcp4", dst.String())
		if err != nil {
			return err
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { io.Copy(io.Discard, c); c.Close() }()
			}
		}()
		if listeners, err = Listeners(dst.Port()); err != nil {
			return err
		}
		// A new goroutine runs on another thread, in the host namespace.
		done := make(chan struct{})
		go func() { outside, outsideErr = Listeners(dst.Port()); close(done) }()
		<-done
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range 2 {
			c, err := net.Dial("tcp4", dst.String())
			if err != nil {
				return fmt.Errorf("dial within the range: %w", err)
			}
			conns = append(conns, c)
		}
		c, err := net.DialTimeout("tcp4", dst.String(), time.Second)
		if c != nil {
			c.Close()
		}
		thirdErr = err
		if full, err = EphemeralUsage(dst); err != nil {
			return err
		}
		// Closing first puts the client side into TIME_WAIT.
		conns[0].Close()
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if afterClose, err = EphemeralUsage(dst); err != nil || afterClose.TimeWaitToDest == 1 {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	if r != (PortRange{Lo: 40000, Hi: 40001}) {
		t.Errorf("EphemeralRange() in the namespace = %v, want 40000-40001", r)
	}
	if !errors.Is(thirdErr, syscall.EADDRNOTAVAIL) {
		t.Errorf("third connection: %v, want EADDRNOTAVAIL", thirdErr)
	}
	// A new namespace starts with tcp_tw_reuse = 2 (loopback only).
	want := PortUsage{OS: "linux", Range: PortRange{Lo: 40000, Hi: 40001}, TwReuse: 2, ToDest: 2, InRange: 2}
	if full != want {
		t.Errorf("EphemeralUsage with both ports taken = %+v, want %+v", full, want)
	}
	want = PortUsage{OS: "linux", Range: PortRange{Lo: 40000, Hi: 40001}, TwReuse: 2, ToDest: 2, TimeWaitToDest: 1, TimeWait: 1, InRange: 2}
	if afterClose != want {
		t.Errorf("EphemeralUsage after one close = %+v, want %+v", afterClose, want)
	}

	// Listeners reads the calling thread's namespace, not the process's.
	if len(listeners) != 1 || listeners[0].Local != dst {
		t.Fatalf("Listeners(%d) in the namespace = %v", dst.Port(), listeners)
	}
	if outsideErr != nil {
		t.Fatal(outsideErr)
	}
	for _, s := range outside {
		if s.Inode == listeners[0].Inode {
			t.Errorf("the namespace's listener shows up in the host namespace: %+v", s)
		}
	}
	if after, err := EphemeralRange(); err != nil || after != hostRange {
		t.Errorf("host range changed to %v (%v), was %v", after, err, hostRange)
	}
}
