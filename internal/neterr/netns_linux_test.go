//go:build linux

package neterr

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// testNS is a throwaway network namespace; every namespace a test makes is
// deleted in t.Cleanup, and interfaces made inside it go with it.
type testNS struct {
	name string
	h    netns.NsHandle
}

func needRoot(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
}

func newNS(t *testing.T) *testNS {
	t.Helper()
	needRoot(t)
	name := fmt.Sprintf("conndiag-neterr-%d-%08x", os.Getpid(), rand.Uint32())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace: %v: %s", err, out)
	}
	ns := &testNS{name: name, h: -1}
	t.Cleanup(func() {
		if ns.h >= 0 {
			ns.h.Close()
		}
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("open namespace %s: %v", name, err)
	}
	ns.h = h
	ns.sh(t, "ip link set lo up")
	return ns
}

// sh runs a command inside the namespace.
func (ns *testNS) sh(t *testing.T, cmd string) {
	t.Helper()
	args := append([]string{"netns", "exec", ns.name}, strings.Fields(cmd)...)
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("in %s: %s: %v: %s", ns.name, cmd, err, out)
	}
}

// connect dials from inside the namespace. The socket is made on a thread
// locked into it; a thread that cannot be switched back dies with its goroutine.
func (ns *testNS) connect(t *testing.T, d Dialer, addr string, timeout time.Duration) Result {
	t.Helper()
	type out struct {
		res Result
		err error
	}
	ch := make(chan out, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- out{err: err}
			return
		}
		defer orig.Close()
		if err := netns.Set(ns.h); err != nil {
			ch <- out{err: err}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		res, conn := d.Connect(ctx, netip.MustParseAddrPort(addr))
		if conn != nil {
			conn.Close()
		}
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		ch <- out{res: res}
	}()
	o := <-ch
	if o.err != nil {
		t.Fatalf("enter namespace %s: %v", ns.name, o.err)
	}
	res := o.res
	t.Logf("%s: kind=%s op=%q errno=%d(%v) icmp=%v local=%v in %v err=%v",
		addr, res.Kind, res.Op, int(res.Errno), res.Errno, res.ICMP, res.Local, res.Duration, res.Err)
	return res
}

func expectICMP(t *testing.T, res Result, want *ICMP) {
	t.Helper()
	switch {
	case want == nil && res.ICMP != nil:
		t.Errorf("error queue held %v; want none", res.ICMP)
	case want != nil && res.ICMP == nil:
		t.Errorf("error queue empty; want %v", want)
	case want != nil && *res.ICMP != *want:
		t.Errorf("error queue held %+v; want %+v", *res.ICMP, *want)
	}
}

// Local route types fail inside connect() itself: no packet, no queue entry.
func TestNetnsLocalRoutes(t *testing.T) {
	ns := newNS(t)
	ns.sh(t, "ip route add unreachable 10.66.0.0/16")
	ns.sh(t, "ip route add prohibit 10.67.0.0/16")
	ns.sh(t, "ip route add blackhole 10.68.0.0/16")
	for _, tc := range []struct {
		addr  string
		kind  Kind
		errno syscall.Errno
	}{
		{"10.66.0.1:80", HostUnreachable, syscall.EHOSTUNREACH},
		{"10.67.0.1:80", PermissionDenied, syscall.EACCES},
		{"10.68.0.1:80", InvalidArgument, syscall.EINVAL},
		{"10.69.0.1:80", NetUnreachable, syscall.ENETUNREACH}, // no route at all
	} {
		t.Run(tc.addr, func(t *testing.T) {
			res := ns.connect(t, Dialer{}, tc.addr, 5*time.Second)
			expect(t, res, tc.kind, tc.errno, "connect")
			expectICMP(t, res, nil)
			if res.Duration > time.Second {
				t.Errorf("took %v; local route errors are immediate", res.Duration)
			}
		})
	}
}

// REJECT rules on the client itself: the ICMP comes from our own address and
// is what tells a firewall from a closed port.
func TestNetnsRejectLoopback(t *testing.T) {
	needRoot(t, "iptables")
	ns := newNS(t)
	ns.sh(t, "iptables -A OUTPUT -p tcp --dport 9 -j REJECT --reject-with icmp-port-unreachable")
	ns.sh(t, "iptables -A OUTPUT -p tcp --dport 10 -j REJECT --reject-with icmp-admin-prohibited")
	ns.sh(t, "iptables -A OUTPUT -p tcp --dport 11 -j REJECT --reject-with tcp-reset")
	ns.sh(t, "iptables -A OUTPUT -p tcp --dport 12 -j DROP")
	lo := mustAddr("127.0.0.1")

	res := ns.connect(t, Dialer{}, "127.0.0.1:9", 5*time.Second)
	expect(t, res, Refused, syscall.ECONNREFUSED, "connect")
	expectICMP(t, res, &ICMP{Origin: OriginICMP, Type: 3, Code: 3, Errno: syscall.ECONNREFUSED, From: lo})
	if res.ICMP != nil && !res.ICMP.PortUnreachable() {
		t.Errorf("%v: PortUnreachable() = false", res.ICMP)
	}

	res = ns.connect(t, Dialer{}, "127.0.0.1:10", 5*time.Second)
	expect(t, res, HostUnreachable, syscall.EHOSTUNREACH, "connect")
	expectICMP(t, res, &ICMP{Origin: OriginICMP, Type: 3, Code: 13, Errno: syscall.EHOSTUNREACH, From: lo})
	if res.ICMP != nil && !res.ICMP.Prohibited() {
		t.Errorf("%v: Prohibited() = false", res.ICMP)
	}

	res = ns.connect(t, Dialer{}, "127.0.0.1:11", 5*time.Second)
	expect(t, res, Refused, syscall.ECONNREFUSED, "connect")
	expectICMP(t, res, nil) // a tcp-reset REJECT looks like a closed port

	res = ns.connect(t, Dialer{}, "127.0.0.1:12", 300*time.Millisecond)
	expect(t, res, Timeout, 0, "connect")
	expectICMP(t, res, nil)
}

func TestNetnsRejectLoopbackV6(t *testing.T) {
	needRoot(t, "ip6tables")
	ns := newNS(t)
	ns.sh(t, "ip6tables -A OUTPUT -p tcp --dport 9 -j REJECT --reject-with icmp6-port-unreachable")
	ns.sh(t, "ip6tables -A OUTPUT -p tcp --dport 10 -j REJECT --reject-with icmp6-adm-prohibited")
	lo := mustAddr("::1")

	res := ns.connect(t, Dialer{}, "[::1]:9", 5*time.Second)
	expect(t, res, Refused, syscall.ECONNREFUSED, "connect")
	expectICMP(t, res, &ICMP{Origin: OriginICMP6, Type: 1, Code: 4, Errno: syscall.ECONNREFUSED, From: lo})

	res = ns.connect(t, Dialer{}, "[::1]:10", 5*time.Second)
	expect(t, res, PermissionDenied, syscall.EACCES, "connect") // unlike IPv4's EHOSTUNREACH
	expectICMP(t, res, &ICMP{Origin: OriginICMP6, Type: 1, Code: 1, Errno: syscall.EACCES, From: lo})
	if res.ICMP != nil && !res.ICMP.Prohibited() {
		t.Errorf("%v: Prohibited() = false", res.ICMP)
	}
}

// Fixed MACs for the veth ends, so neighbour entries can be set up front.
const (
	macC = "02:00:00:00:99:02"
	macR = "02:00:00:00:99:01"
)

// A client namespace behind a router namespace, joined by a veth pair:
//
//	client 10.99.0.2 (vc) --- (vr) 10.99.0.1 router
//
// All traffic stays inside the two namespaces.
func TestNetnsRouter(t *testing.T) {
	client, router := newNS(t), newNS(t)
	client.sh(t, "ip link add vc address "+macC+" type veth peer name vr address "+macR+" netns "+router.name)
	client.sh(t, "ip addr add 10.99.0.2/24 dev vc")
	client.sh(t, "ip neigh add 10.99.0.1 lladdr "+macR+" dev vc nud permanent")
	router.sh(t, "ip neigh add 10.99.0.2 lladdr "+macC+" dev vr nud permanent")
	client.sh(t, "ip link set vc up")
	client.sh(t, "ip route add default via 10.99.0.1")
	// Fail neighbour resolution in 200 ms instead of 3 s.
	client.sh(t, "sysctl -qw net.ipv4.neigh.vc.mcast_solicit=1 net.ipv4.neigh.vc.retrans_time_ms=200")
	router.sh(t, "ip addr add 10.99.0.1/24 dev vr")
	router.sh(t, "ip link set vr up")
	router.sh(t, "sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.vr.send_redirects=0")
	router.sh(t, "ip route add unreachable 10.66.0.0/16")
	router.sh(t, "ip route add prohibit 10.67.0.0/16")
	router.sh(t, "ip route add blackhole 10.68.0.0/16")
	router.sh(t, "ip route add 10.70.0.0/16 via 10.99.0.2") // forwarded back; the client drops it
	rtr := mustAddr("10.99.0.1")

	t.Run("router unreachable route", func(t *testing.T) {
		res := client.connect(t, Dialer{}, "10.66.0.1:80", 5*time.Second)
		expect(t, res, HostUnreachable, syscall.EHOSTUNREACH, "connect")
		expectICMP(t, res, &ICMP{Origin: OriginICMP, Type: 3, Code: 1, Errno: syscall.EHOSTUNREACH, From: rtr})
	})
	t.Run("router prohibit route", func(t *testing.T) {
		res := client.connect(t, Dialer{}, "10.67.0.1:80", 5*time.Second)
		expect(t, res, HostUnreachable, syscall.EHOSTUNREACH, "connect")
		expectICMP(t, res, &ICMP{Origin: OriginICMP, Type: 3, Code: 13, Errno: syscall.EHOSTUNREACH, From: rtr})
	})
	t.Run("router blackhole route", func(t *testing.T) {
		res := client.connect(t, Dialer{}, "10.68.0.1:80", 300*time.Millisecond)
		expect(t, res, Timeout, 0, "connect")
		expectICMP(t, res, nil)
	})
	t.Run("ttl 1 expires at the router", func(t *testing.T) {
		res := client.connect(t, Dialer{TTL: 1}, "10.70.0.1:80", 5*time.Second)
		expect(t, res, HostUnreachable, syscall.EHOSTUNREACH, "connect")
		expectICMP(t, res, &ICMP{Origin: OriginICMP, Type: 11, Code: 0, Errno: syscall.EHOSTUNREACH, From: rtr})
		if res.Local.Addr() != mustAddr("10.99.0.2") {
			t.Errorf("Local = %v; want 10.99.0.2", res.Local)
		}
	})
	t.Run("ttl 2 passes the router", func(t *testing.T) {
		res := client.connect(t, Dialer{TTL: 2}, "10.70.0.1:80", 300*time.Millisecond)
		expect(t, res, Timeout, 0, "connect")
	})
	t.Run("neighbour not answering", func(t *testing.T) {
		res := client.connect(t, Dialer{}, "10.99.0.50:80", 10*time.Second)
		expect(t, res, HostUnreachable, syscall.EHOSTUNREACH, "connect")
		// The kernel reports a failed ARP as an ICMP from our own address.
		expectICMP(t, res, &ICMP{Origin: OriginICMP, Type: 3, Code: 1, Errno: syscall.EHOSTUNREACH, From: mustAddr("10.99.0.2")})
	})
}

// The same topology over IPv6:
//
//	client fd00:99::2 (vc) --- (vr) fd00:99::1 router
func TestNetnsRouterV6(t *testing.T) {
	client, router := newNS(t), newNS(t)
	// No duplicate address detection: addresses, link-local ones included, work at once.
	for _, ns := range []*testNS{client, router} {
		ns.sh(t, "sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0")
	}
	client.sh(t, "ip link add vc address "+macC+" type veth peer name vr address "+macR+" netns "+router.name)
	client.sh(t, "ip -6 addr add fd00:99::2/64 dev vc nodad")
	// The first neighbour solicitation on a fresh veth went unanswered here, so
	// the two ends know each other up front; only the absent host is solicited.
	client.sh(t, "ip -6 neigh add fd00:99::1 lladdr "+macR+" dev vc nud permanent")
	router.sh(t, "ip -6 neigh add fd00:99::2 lladdr "+macC+" dev vr nud permanent")
	client.sh(t, "ip link set vc up")
	client.sh(t, "ip -6 route add default via fd00:99::1")
	client.sh(t, "sysctl -qw net.ipv6.neigh.vc.mcast_solicit=1 net.ipv6.neigh.vc.retrans_time_ms=200")
	router.sh(t, "ip -6 addr add fd00:99::1/64 dev vr nodad")
	router.sh(t, "ip link set vr up")
	router.sh(t, "sysctl -qw net.ipv6.conf.all.forwarding=1")
	router.sh(t, "ip -6 route add unreachable 2001:db8:66::/48")
	router.sh(t, "ip -6 route add prohibit 2001:db8:67::/48")
	router.sh(t, "ip -6 route add 2001:db8:70::/48 via fd00:99::2")
	rtr := mustAddr("fd00:99::1")

	t.Run("router unreachable route", func(t *testing.T) {
		res := client.connect(t, Dialer{}, "[2001:db8:66::1]:80", 5*time.Second)
		expect(t, res, NetUnreachable, syscall.ENETUNREACH, "connect")
		expectICMP(t, res, &ICMP{Origin: OriginICMP6, Type: 1, Code: 0, Errno: syscall.ENETUNREACH, From: rtr})
	})
	t.Run("router prohibit route", func(t *testing.T) {
		res := client.connect(t, Dialer{}, "[2001:db8:67::1]:80", 5*time.Second)
		expect(t, res, PermissionDenied, syscall.EACCES, "connect")
		expectICMP(t, res, &ICMP{Origin: OriginICMP6, Type: 1, Code: 1, Errno: syscall.EACCES, From: rtr})
	})
	t.Run("hop limit 1 expires at the router", func(t *testing.T) {
		res := client.connect(t, Dialer{TTL: 1}, "[2001:db8:70::1]:80", 5*time.Second)
		expect(t, res, HostUnreachable, syscall.EHOSTUNREACH, "connect")
		expectICMP(t, res, &ICMP{Origin: OriginICMP6, Type: 3, Code: 0, Errno: syscall.EHOSTUNREACH, From: rtr})
	})
	t.Run("neighbour not answering", func(t *testing.T) {
		res := client.connect(t, Dialer{}, "[fd00:99::50]:80", 10*time.Second)
		expect(t, res, HostUnreachable, syscall.EHOSTUNREACH, "connect")
		expectICMP(t, res, &ICMP{Origin: OriginICMP6, Type: 1, Code: 3, Errno: syscall.EHOSTUNREACH, From: mustAddr("fd00:99::2")})
	})
}
