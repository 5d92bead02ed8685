//go:build windows

package neterr

import (
	"net"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/windows"
)

// On Windows itself the system's own constants classify (under wine too).
func TestKindOfWinsock(t *testing.T) {
	for errno, want := range map[syscall.Errno]Kind{
		windows.WSAECONNREFUSED: Refused, windows.WSAETIMEDOUT: Timeout, windows.WSAEHOSTUNREACH: HostUnreachable,
		windows.WSAENETUNREACH: NetUnreachable, windows.WSAEADDRNOTAVAIL: AddrNotAvailable, windows.WSAEACCES: PermissionDenied,
		windows.ERROR_CONNECTION_REFUSED: Refused,
	} {
		if got := KindOf(errno); got != want {
			t.Errorf("KindOf(%d) = %q, want %q", uintptr(errno), got, want)
		}
	}
	err := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connectex", windows.WSAECONNREFUSED)}
	if kind, errno, op := Classify(err); kind != Refused || op != "connect" || errno != windows.WSAECONNREFUSED {
		t.Errorf("Classify(connectex WSAECONNREFUSED) = %q, %d, %q; want refused, 10061, connect", kind, uintptr(errno), op)
	}
}
