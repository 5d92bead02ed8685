//go:build darwin || freebsd

package host

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// EphemeralRange reads net.inet.ip.portrange.first and .last, the range
// macOS and FreeBSD take local ports of outgoing connections from.
func EphemeralRange() (PortRange, error) {
	lo, err := unix.SysctlUint32("net.inet.ip.portrange.first")
	if err != nil {
		return PortRange{}, fmt.Errorf("host: sysctl net.inet.ip.portrange.first: %w", err)
	}
	hi, err := unix.SysctlUint32("net.inet.ip.portrange.last")
	if err != nil {
		return PortRange{}, fmt.Errorf("host: sysctl net.inet.ip.portrange.last: %w", err)
	}
	return BSDRange(int(int32(lo)), int(int32(hi)))
}
