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
	// Between the two routers of Chain2.
	RouterNet  = netip.MustParsePrefix("192.0.2.0/24")
	RouterNet6 = netip.MustParsePrefix("2001:db8:3::/64")
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

// Chain2Net is client and server joined by two forwarding routers, so a
// path has a hop before the last router (traces, a firewall upstream):
//
//	client  eth0 198.51.100.2/24 2001:db8:1::2/64  default via 198.51.100.1 / 2001:db8:1::1
//	router1 eth0 198.51.100.1/24 2001:db8:1::1/64
//	router1 eth1 192.0.2.1/24    2001:db8:3::1/64  default via 192.0.2.2 / 2001:db8:3::2
//	router2 eth0 192.0.2.2/24    2001:db8:3::2/64  198.51.100.0/24 via 192.0.2.1, 2001:db8:1::/64 via 2001:db8:3::1
//	router2 eth1 203.0.113.1/24  2001:db8:2::1/64
//	server  eth0 203.0.113.2/24  2001:db8:2::2/64  default via 203.0.113.1 / 2001:db8:2::1
//
// Both routers forward, with no NAT and no filtering. The IPv6 fields are
// the zero Addr when the kernel has no IPv6.
type Chain2Net struct {
	Bed                              *Bed
	Client, Router1, Router2, Server *NS
	ClientIP, ServerIP               netip.Addr
	// Router1IP and Router2IP are the addresses each router answers a
	// trace from the client with (toward the client); Router1In is
	// router1's address toward router2.
	Router1IP, Router1In, Router2IP, Router2Out     netip.Addr
	ClientIP6, ServerIP6                            netip.Addr
	Router1IP6, Router1In6, Router2IP6, Router2Out6 netip.Addr
	// The routers' interfaces: eth0 toward the client, eth1 toward the server.
	Router1ClientIf, Router1ServerIf, Router2ClientIf, Router2ServerIf string
}

// Chain2 builds a Chain2Net torn down when t finishes.
func Chain2(t testing.TB) *Chain2Net {
	t.Helper()
	b := New(t)
	c := &Chain2Net{
		Bed:        b,
		Client:     b.NS("client"),
		Router1:    b.NS("router1"),
		Router2:    b.NS("router2"),
		Server:     b.NS("server"),
		ClientIP:   netip.MustParseAddr("198.51.100.2"),
		Router1IP:  netip.MustParseAddr("198.51.100.1"),
		Router1In:  netip.MustParseAddr("192.0.2.1"),
		Router2IP:  netip.MustParseAddr("192.0.2.2"),
		Router2Out: netip.MustParseAddr("203.0.113.1"),
		ServerIP:   netip.MustParseAddr("203.0.113.2"),
	}
	clientIf, r1c := b.Link(c.Client, cidr(c.ClientIP, ClientNet), c.Router1, cidr(c.Router1IP, ClientNet))
	r1s, r2c := b.Link(c.Router1, cidr(c.Router1In, RouterNet), c.Router2, cidr(c.Router2IP, RouterNet))
	r2s, serverIf := b.Link(c.Router2, cidr(c.Router2Out, ServerNet), c.Server, cidr(c.ServerIP, ServerNet))
	c.Router1ClientIf, c.Router1ServerIf, c.Router2ClientIf, c.Router2ServerIf = r1c, r1s, r2c, r2s
	for _, r := range []*NS{c.Router1, c.Router2} {
		r.Sysctl(t, "net.ipv4.ip_forward", "1")
	}
	c.Client.IP(t, "route", "add", "default", "via", c.Router1IP.String(), "dev", clientIf)
	c.Router1.IP(t, "route", "add", "default", "via", c.Router2IP.String(), "dev", r1s)
	c.Router2.IP(t, "route", "add", ClientNet.String(), "via", c.Router1In.String(), "dev", r2c)
	c.Server.IP(t, "route", "add", "default", "via", c.Router2Out.String(), "dev", serverIf)
	if ipv6Available() {
		c.ClientIP6 = netip.MustParseAddr("2001:db8:1::2")
		c.Router1IP6 = netip.MustParseAddr("2001:db8:1::1")
		c.Router1In6 = netip.MustParseAddr("2001:db8:3::1")
		c.Router2IP6 = netip.MustParseAddr("2001:db8:3::2")
		c.Router2Out6 = netip.MustParseAddr("2001:db8:2::1")
		c.ServerIP6 = netip.MustParseAddr("2001:db8:2::2")
		c.Client.AddAddr(t, clientIf, cidr(c.ClientIP6, ClientNet6))
		c.Router1.AddAddr(t, r1c, cidr(c.Router1IP6, ClientNet6))
		c.Router1.AddAddr(t, r1s, cidr(c.Router1In6, RouterNet6))
		c.Router2.AddAddr(t, r2c, cidr(c.Router2IP6, RouterNet6))
		c.Router2.AddAddr(t, r2s, cidr(c.Router2Out6, ServerNet6))
		c.Server.AddAddr(t, serverIf, cidr(c.ServerIP6, ServerNet6))
		for _, r := range []*NS{c.Router1, c.Router2} {
			r.Sysctl(t, "net.ipv6.conf.all.forwarding", "1")
		}
		c.Client.IP(t, "-6", "route", "add", "default", "via", c.Router1IP6.String(), "dev", clientIf)
		c.Router1.IP(t, "-6", "route", "add", "default", "via", c.Router2IP6.String(), "dev", r1s)
		c.Router2.IP(t, "-6", "route", "add", ClientNet6.String(), "via", c.Router1In6.String(), "dev", r2c)
		c.Server.IP(t, "-6", "route", "add", "default", "via", c.Router2Out6.String(), "dev", serverIf)
	}
	return c
}
