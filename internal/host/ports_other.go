//go:build !linux && !darwin && !freebsd && !windows

package host

// EphemeralRange is read on Linux, macOS, FreeBSD and Windows only.
func EphemeralRange() (PortRange, error) { return PortRange{}, ErrUnsupported }
