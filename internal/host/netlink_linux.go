package host

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Netlink: routes, neighbours, local addresses and socket diagnostics are
// read from the kernel.
const Netlink = true

// Namespace answers route, address and neighbour questions for one network
// namespace through netlink sockets opened inside it.
type Namespace struct {
	h *netlink.Handle
}

// OpenNamespace opens the network namespace at path, such as
// /run/netns/NAME or /proc/PID/ns/net. Close it when done.
func OpenNamespace(path string) (*Namespace, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("host: open namespace %s: %w", path, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("host: netlink in namespace %s: %w", path, err)
	}
	return &Namespace{h: h}, nil
}

// Close releases the namespace's netlink sockets.
func (n *Namespace) Close() error {
	n.h.Close()
	return nil
}

// current uses a zero Handle, which opens a fresh socket per request in the
// calling thread's namespace.
func current() *Namespace { return &Namespace{h: &netlink.Handle{}} }

// RouteTo asks the kernel how it would route to dst, like `ip route get`.
func RouteTo(dst netip.Addr) (Route, error) { return current().RouteTo(dst) }

// LocalAddrs lists every address on every interface.
func LocalAddrs() ([]Addr, error) { return current().LocalAddrs() }

// IsLocal reports whether a is this machine's own address as bind() judges it:
// for IPv4, whether the local routing table makes it local (all of 127/8 is);
// for IPv6, whether it is assigned to an interface and past duplicate address
// detection. The unspecified address is not local. ip_nonlocal_bind and
// IP_FREEBIND, which let bind() accept any address, are not considered.
func IsLocal(a netip.Addr) (bool, error) { return current().IsLocal(a) }

// NeighState returns the neighbour table state of addr ("INCOMPLETE",
// "FAILED", "REACHABLE", "STALE", "DELAY", "PROBE", "PERMANENT", "NOARP",
// "NONE") on iface (any interface if empty), or "" if there is no entry.
// Pass Route.NextHop, not the final destination.
func NeighState(addr netip.Addr, iface string) (string, error) {
	return current().NeighState(addr, iface)
}

var routeTypes = map[int]string{
	unix.RTN_UNSPEC:      "unspec",
	unix.RTN_UNICAST:     "unicast",
	unix.RTN_LOCAL:       "local",
	unix.RTN_BROADCAST:   "broadcast",
	unix.RTN_ANYCAST:     "anycast",
	unix.RTN_MULTICAST:   "multicast",
	unix.RTN_BLACKHOLE:   "blackhole",
	unix.RTN_UNREACHABLE: "unreachable",
	unix.RTN_PROHIBIT:    "prohibit",
	unix.RTN_THROW:       "throw",
	unix.RTN_NAT:         "nat",
	unix.RTN_XRESOLVE:    "xresolve",
}

func routeType(t int) string {
	if s, ok := routeTypes[t]; ok {
		return s
	}
	return fmt.Sprintf("type%d", t)
}

// refusedType is the route type whose lookup fails with errno (fib_props in
// net/ipv4/fib_semantics.c; IPv6 agrees).
var refusedType = map[syscall.Errno]int{
	unix.EHOSTUNREACH: unix.RTN_UNREACHABLE,
	unix.EACCES:       unix.RTN_PROHIBIT,
	unix.EINVAL:       unix.RTN_BLACKHOLE,
	unix.ENETUNREACH:  unix.RTN_THROW,
}

func family(a netip.Addr) int {
	if a.Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

func addrFromIP(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

func prefixFromIPNet(n *net.IPNet) netip.Prefix {
	if n == nil {
		return netip.Prefix{}
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}
	}
	ones, _ := n.Mask.Size()
	if a.Is4In6() {
		a = a.Unmap()
	}
	return netip.PrefixFrom(a, ones)
}

// RouteTo asks the kernel how it would route to dst, like `ip route get`.
// A refused lookup (unreachable, prohibit, blackhole, throw or no route) is not
// an error: Route.Type and Route.Errno say what the kernel answered, and Dst is
// the refusing route's prefix when one is found in the routing tables.
func (n *Namespace) RouteTo(dst netip.Addr) (Route, error) {
	zone := dst.Zone()
	dst = dst.Unmap().WithZone("")
	if !dst.IsValid() {
		return Route{}, errors.New("host: route to invalid address")
	}
	ip := net.IP(dst.AsSlice())
	// A zone (fe80::1%eth1) names the interface the connect leaves by, as
	// `ip route get fe80::1 oif eth1` does; without it every link's fe80::/64 matches.
	var oif *netlink.RouteGetOptions
	if zone != "" {
		oif = &netlink.RouteGetOptions{Oif: zone}
		if i, err := strconv.Atoi(zone); err == nil {
			oif = &netlink.RouteGetOptions{OifIndex: i}
		}
	}
	get := func(o *netlink.RouteGetOptions) ([]netlink.Route, error) {
		if oif != nil {
			if o == nil {
				o = &netlink.RouteGetOptions{}
			}
			o.Oif, o.OifIndex = oif.Oif, oif.OifIndex
		}
		if o == nil {
			return n.h.RouteGet(ip)
		}
		return n.h.RouteGetWithOptions(ip, o)
	}
	got, err := get(nil)
	if err != nil {
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			return Route{}, fmt.Errorf("host: route to %s: %w", dst, err)
		}
		return n.refused(dst, errno)
	}
	if len(got) == 0 {
		return Route{}, fmt.Errorf("host: route to %s: empty answer", dst)
	}
	g := got[0]
	r := Route{
		Gateway: addrFromIP(g.Gw),
		Src:     addrFromIP(g.Src),
		Type:    routeType(g.Type),
		Iface:   n.linkName(g.LinkIndex),
	}
	// The plain answer carries a host route (dst/32); FIB_MATCH returns the
	// table entry that matched. It fails for a few special cases such as
	// 0.0.0.0, which the kernel routes to lo without any entry.
	fib, err := get(&netlink.RouteGetOptions{FIBMatch: true})
	if err == nil && len(fib) > 0 {
		r.Dst = prefixFromIPNet(fib[0].Dst)
	}
	r.Default = r.Dst.IsValid() && r.Dst.Bits() == 0
	r.OnLink = g.Type == unix.RTN_UNICAST && !r.Gateway.IsValid()
	return r, nil
}

// refused explains a lookup the kernel refused. RouteGet returns only the
// errno, so the refusing route's prefix comes from a scan of all tables.
func (n *Namespace) refused(dst netip.Addr, errno syscall.Errno) (Route, error) {
	want, ok := refusedType[errno]
	if !ok {
		return Route{}, fmt.Errorf("host: route to %s: %w", dst, errno)
	}
	r := Route{Errno: errno, Type: routeType(want)}
	routes, err := n.routes(family(dst), unix.RT_TABLE_UNSPEC)
	if err != nil {
		return Route{}, fmt.Errorf("host: route to %s: %w (listing routes: %v)", dst, errno, err)
	}
	_, best, found := longestMatch(routes, dst, func(rt netlink.Route) bool { return rt.Type == want })
	switch {
	case found:
		r.Dst = best
		r.Default = best.Bits() == 0
	case errno == unix.ENETUNREACH:
		// No throw route: nothing matched at all (or a rule said unreachable).
		r.Type = "none"
	}
	// Otherwise a policy rule refused (ip rule ... prohibit|blackhole): the
	// type stands, with no prefix.
	return r, nil
}

// routes lists the routes of one table, or of all tables for RT_TABLE_UNSPEC.
func (n *Namespace) routes(fam, table int) ([]netlink.Route, error) {
	var routes []netlink.Route
	err := retryDump(func() (err error) {
		routes, err = n.h.RouteListFiltered(fam, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
		return err
	})
	return routes, err
}

// longestMatch finds the most specific route containing dst among those keep accepts.
func longestMatch(routes []netlink.Route, dst netip.Addr, keep func(netlink.Route) bool) (netlink.Route, netip.Prefix, bool) {
	var best netlink.Route
	var bestPrefix netip.Prefix
	found := false
	for _, rt := range routes {
		if keep != nil && !keep(rt) {
			continue
		}
		p := prefixFromIPNet(rt.Dst)
		if p.IsValid() && p.Contains(dst) && (!found || p.Bits() > bestPrefix.Bits()) {
			best, bestPrefix, found = rt, p.Masked(), true
		}
	}
	return best, bestPrefix, found
}

// retryDump repeats a dump the kernel interrupted because the table changed.
func retryDump(f func() error) error {
	var err error
	for range 5 {
		if err = f(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return err
		}
	}
	return err
}

func (n *Namespace) linkName(index int) string {
	if index == 0 {
		return ""
	}
	l, err := n.h.LinkByIndex(index)
	if err != nil {
		return ""
	}
	return l.Attrs().Name
}

// LocalAddrs lists every address on every interface.
func (n *Namespace) LocalAddrs() ([]Addr, error) {
	var links []netlink.Link
	var addrs []netlink.Addr
	err := retryDump(func() (err error) {
		if links, err = n.h.LinkList(); err != nil {
			return err
		}
		addrs, err = n.h.AddrList(nil, netlink.FAMILY_ALL)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("host: local addresses: %w", err)
	}
	names := make(map[int]string, len(links))
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	out := make([]Addr, 0, len(addrs))
	for _, a := range addrs {
		if p := prefixFromIPNet(a.IPNet); p.IsValid() {
			out = append(out, Addr{Prefix: p, Iface: names[a.LinkIndex]})
		}
	}
	return out, nil
}

// IsLocal reports whether a is this machine's own address; see the package-level IsLocal.
func (n *Namespace) IsLocal(a netip.Addr) (bool, error) {
	a = a.Unmap().WithZone("")
	if !a.IsValid() || a.IsUnspecified() {
		return false, nil
	}
	if a.Is4() {
		// bind() asks the local table (inet_addr_type), which is why all of
		// 127/8 binds while only 127.0.0.1 is an interface address.
		routes, err := n.routes(netlink.FAMILY_V4, unix.RT_TABLE_LOCAL)
		if err != nil {
			return false, fmt.Errorf("host: local table: %w", err)
		}
		rt, _, ok := longestMatch(routes, a, nil)
		return ok && rt.Type == unix.RTN_LOCAL, nil
	}
	var addrs []netlink.Addr
	err := retryDump(func() (err error) {
		addrs, err = n.h.AddrList(nil, netlink.FAMILY_V6)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("host: local addresses: %w", err)
	}
	for _, ad := range addrs {
		if addrFromIP(ad.IP) != a {
			continue
		}
		// bind() refuses an address still in duplicate address detection.
		if ad.Flags&unix.IFA_F_TENTATIVE != 0 && ad.Flags&unix.IFA_F_OPTIMISTIC == 0 {
			continue
		}
		return true, nil
	}
	return false, nil
}

var neighStates = []struct {
	bit  int
	name string
}{
	{netlink.NUD_PERMANENT, "PERMANENT"},
	{netlink.NUD_NOARP, "NOARP"},
	{netlink.NUD_REACHABLE, "REACHABLE"},
	{netlink.NUD_STALE, "STALE"},
	{netlink.NUD_DELAY, "DELAY"},
	{netlink.NUD_PROBE, "PROBE"},
	{netlink.NUD_INCOMPLETE, "INCOMPLETE"},
	{netlink.NUD_FAILED, "FAILED"},
}

func neighStateName(s int) string {
	for _, ns := range neighStates {
		if s&ns.bit != 0 {
			return ns.name
		}
	}
	return "NONE"
}

// NeighState returns the neighbour table state of addr on iface; see the
// package-level NeighState.
func (n *Namespace) NeighState(addr netip.Addr, iface string) (string, error) {
	addr = addr.Unmap().WithZone("")
	if !addr.IsValid() {
		return "", errors.New("host: neighbour of invalid address")
	}
	index := 0
	if iface != "" {
		l, err := n.h.LinkByName(iface)
		if err != nil {
			return "", fmt.Errorf("host: interface %s: %w", iface, err)
		}
		index = l.Attrs().Index
	}
	var neighs []netlink.Neigh
	err := retryDump(func() (err error) {
		neighs, err = n.h.NeighList(index, family(addr))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("host: neighbours: %w", err)
	}
	for _, ne := range neighs {
		if addrFromIP(ne.IP) == addr {
			return neighStateName(ne.State), nil
		}
	}
	return "", nil
}
