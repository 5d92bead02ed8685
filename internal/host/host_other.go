//go:build !linux

package host

import "net/netip"

// Netlink: routes, neighbours, local addresses and socket diagnostics are
// read from the kernel. Not here.
const Netlink = false

// TCPSockets is Linux-only.
func TCPSockets() ([]Socket, error) { return nil, ErrUnsupported }

// SysctlInt is Linux-only.
func SysctlInt(name string) (int, error) { return 0, ErrUnsupported }

// Namespace is Linux-only.
type Namespace struct{}

// OpenNamespace is Linux-only.
func OpenNamespace(path string) (*Namespace, error) { return nil, ErrUnsupported }

// Close does nothing.
func (n *Namespace) Close() error { return nil }

// RouteTo is Linux-only.
func RouteTo(dst netip.Addr) (Route, error) { return Route{}, ErrUnsupported }

// LocalAddrs is Linux-only.
func LocalAddrs() ([]Addr, error) { return nil, ErrUnsupported }

// IsLocal is Linux-only.
func IsLocal(a netip.Addr) (bool, error) { return false, ErrUnsupported }

// NeighState is Linux-only.
func NeighState(addr netip.Addr, iface string) (string, error) { return "", ErrUnsupported }

// RouteTo is Linux-only.
func (n *Namespace) RouteTo(dst netip.Addr) (Route, error) { return Route{}, ErrUnsupported }

// LocalAddrs is Linux-only.
func (n *Namespace) LocalAddrs() ([]Addr, error) { return nil, ErrUnsupported }

// IsLocal is Linux-only.
func (n *Namespace) IsLocal(a netip.Addr) (bool, error) { return false, ErrUnsupported }

// NeighState is Linux-only.
func (n *Namespace) NeighState(addr netip.Addr, iface string) (string, error) {
	return "", ErrUnsupported
}
