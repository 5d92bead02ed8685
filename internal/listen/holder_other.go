//go:build !linux

package listen

import "net/netip"

// holders is Linux-only (it reads /proc).
func holders(netip.AddrPort) []Holder { return nil }
