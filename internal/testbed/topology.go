//go:build linux

package testbed

import (
	"net/netip"
	"os"
	"testing"
)

// Fixed topology addresses. They are documentation ranges (RFC 5737,
// RFC 3849), never private ones, so the tool under test sees them as
// public addresses.
var (
	// Client-side network: Pair uses it for both ends; Chain between client and router.
	ClientNet  = netip.MustParsePrefix("198.51.100.0/24")
	ClientNet6 = netip.MustParsePrefix("2001:db8:1::/64")
	// Server-side network of Chain, between router and server.
	ServerNet  = netip.MustParsePrefix("203.0.113.0/24")
	ServerNet6 = netip.MustParsePrefix("2001:db8:2::/64")
)

func ipv6Available() bool {
	_, err := os.Stat("/proc/sys/net/ipv6")
	return err == nil
}

func cidr(a netip.Addr, p netip.Prefix) string {
	return netip.PrefixFrom(a, p.Bits()).String()
}

// PairNet is two namespaces on one link:
//
//	client eth0 198.51.100.2/24 2001:db8:1::2/64
//	server eth0 198.51.100.3/24 2001:db8:1::3/64
//
// The IPv6 fields are the zero Addr when the kernel has no IPv6.
type PairNet struct {
	Bed                  *Bed
	Client, Server       *NS
	ClientIf, ServerIf   string // "eth0" in each namespace
	ClientIP, ServerIP   netip.Addr
	ClientIP6, ServerIP6 netip.Addr
}

// Pair builds a PairNet torn down when t finishes.
func Pair(t testing.TB) *PairNet {
	t.Helper()
	b := New(t)
	p := &PairNet{
		Bed:      b,
		Client:   b.NS("client"),
		Server:   b.NS("server"),
		ClientIP: netip.MustParseAddr("198.51.100.2"),
		ServerIP: netip.MustParseAddr("198.51.100.3"),
	}
	p.ClientIf, p.ServerIf = b.Link(p.Client, cidr(p.ClientIP, ClientNet), p.Server, cidr(p.ServerIP, ClientNet))
	if ipv6Available() {
		p.ClientIP6 = netip.MustParseAddr("2001:db8:1::2")
		p.ServerIP6 = netip.MustParseAddr("2001:db8:1::3")
		p.Client.AddAddr(t, p.ClientIf, cidr(p.ClientIP6, ClientNet6))
		p.Server.AddAddr(t, p.ServerIf, cidr(p.ServerIP6, ClientNet6))
	}
	return p
}

// ChainNet is client and server on different networks joined by a
// forwarding router:
//
//	client eth0 198.51.100.2/24 2001:db8:1::2/64  default via 198.51.100.1 / 2001:db8:1::1
//	router eth0 198.51.100.1/24 2001:db8:1::1/64
//	router eth1 203.0.113.1/24  2001:db8:2::1/64  (forwarding on, no NAT, no filtering)
//	server eth0 203.0.113.2/24  2001:db8:2::2/64  default via 203.0.113.1 / 2001:db8:2::1
//
// The IPv6 fields are the zero Addr when the kernel has no IPv6.
type ChainNet struct {
	Bed                              *Bed
	Client, Router, Server           *NS
	ClientIf, ServerIf               string // "eth0" in each namespace
	RouterClientIf, RouterServerIf   string // "eth0" and "eth1" in the router
	ClientIP, ServerIP               netip.Addr
	RouterClientIP, RouterServerIP   netip.Addr
	ClientIP6, ServerIP6             netip.Addr
	RouterClientIP6, RouterServerIP6 netip.Addr
}

// Chain builds a ChainNet torn down when t finishes.
func Chain(t testing.TB) *ChainNet {
	t.Helper()
	b := New(t)
	c := &ChainNet{
		Bed:            b,
		Client:         b.NS("client"),
		Router:         b.NS("router"),
		Server:         b.NS("server"),
		ClientIP:       netip.MustParseAddr("198.51.100.2"),
		RouterClientIP: netip.MustParseAddr("198.51.100.1"),
		RouterServerIP: netip.MustParseAddr("203.0.113.1"),
		ServerIP:       netip.MustParseAddr("203.0.113.2"),
	}
	c.ClientIf, c.RouterClientIf = b.Link(c.Client, cidr(c.ClientIP, ClientNet), c.Router, cidr(c.RouterClientIP, ClientNet))
	c.RouterServerIf, c.ServerIf = b.Link(c.Router, cidr(c.RouterServerIP, ServerNet), c.Server, cidr(c.ServerIP, ServerNet))
	c.Router.Sysctl(t, "net.ipv4.ip_forward", "1")
	c.Client.IP(t, "route", "add", "default", "via", c.RouterClientIP.String(), "dev", c.ClientIf)
	c.Server.IP(t, "route", "add", "default", "via", c.RouterServerIP.String(), "dev", c.ServerIf)
	if ipv6Available() {
		c.ClientIP6 = netip.MustParseAddr("2001:db8:1::2")
		c.RouterClientIP6 = netip.MustParseAddr("2001:db8:1::1")
		c.RouterServerIP6 = netip.MustParseAddr("2001:db8:2::1")
		c.ServerIP6 = netip.MustParseAddr("2001:db8:2::2")
		c.Client.AddAddr(t, c.ClientIf, cidr(c.ClientIP6, ClientNet6))
		c.Router.AddAddr(t, c.RouterClientIf, cidr(c.RouterClientIP6, ClientNet6))
		c.Router.AddAddr(t, c.RouterServerIf, cidr(c.RouterServerIP6, ServerNet6))
		c.Server.AddAddr(t, c.ServerIf, cidr(c.ServerIP6, ServerNet6))
		c.Router.Sysctl(t, "net.ipv6.conf.all.forwarding", "1")
		c.Client.IP(t, "-6", "route", "add", "default", "via", c.RouterClientIP6.String(), "dev", c.ClientIf)
		c.Server.IP(t, "-6", "route", "add", "default", "via", c.RouterServerIP6.String(), "dev", c.ServerIf)
	}
	return c
}
