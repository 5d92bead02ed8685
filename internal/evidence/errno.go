package evidence

import (
	"strconv"
	"strings"
	"syscall"
)

// portableErrno maps a Windows error name to the POSIX name it stands for,
// so one set of rules reads every system; the evidence keeps the system's
// own name.
var portableErrno = map[string]string{
	"ERROR_TOO_MANY_OPEN_FILES": "EMFILE",
	"ERROR_NETNAME_DELETED":     "ECONNRESET", // "the specified network name is no longer available": a reset
	"ERROR_SEM_TIMEOUT":         "ETIMEDOUT",
	"ERROR_CONNECTION_REFUSED":  "ECONNREFUSED",
	"ERROR_NETWORK_UNREACHABLE": "ENETUNREACH",
	"ERROR_HOST_UNREACHABLE":    "EHOSTUNREACH",
	"ERROR_PORT_UNREACHABLE":    "ECONNREFUSED", // an ICMP port unreachable, which Windows does not tell from an RST
	"ERROR_CONNECTION_ABORTED":  "ECONNABORTED",
}

// PortableErrno is the POSIX name an error name stands for: Winsock's
// "WSAECONNREFUSED" is "ECONNREFUSED", Win32's "ERROR_HOST_UNREACHABLE" is
// "EHOSTUNREACH"; a POSIX name is itself.
func PortableErrno(name string) string {
	if p, ok := portableErrno[name]; ok {
		return p
	}
	return strings.TrimPrefix(name, "WSA")
}

// nativeErrnos names this system's own constants, for evidence built
// without a name (tests, older callers).
var nativeErrnos = map[syscall.Errno]string{
	syscall.ECONNREFUSED: "ECONNREFUSED", syscall.ETIMEDOUT: "ETIMEDOUT", syscall.EHOSTUNREACH: "EHOSTUNREACH",
	syscall.ENETUNREACH: "ENETUNREACH", syscall.EADDRNOTAVAIL: "EADDRNOTAVAIL", syscall.EADDRINUSE: "EADDRINUSE",
	syscall.EMFILE: "EMFILE", syscall.ENFILE: "ENFILE", syscall.EACCES: "EACCES", syscall.EPERM: "EPERM",
	syscall.ECONNRESET: "ECONNRESET", syscall.EINVAL: "EINVAL", syscall.ENOBUFS: "ENOBUFS",
}

// Name is the system's name of the connect's error number: ErrnoName when
// the connect gave one, else this system's name for Errno, else "errno N".
func (c Connect) Name() string {
	if c.ErrnoName != "" {
		return c.ErrnoName
	}
	if n, ok := nativeErrnos[c.Errno]; ok {
		return n
	}
	return "errno " + strconv.FormatUint(uint64(c.Errno), 10)
}

// ErrnoIs reports whether the connect failed with the POSIX error name,
// whatever the system called it (WSAEADDRINUSE is EADDRINUSE).
func (c Connect) ErrnoIs(posix string) bool {
	return c.Errno != 0 && PortableErrno(c.Name()) == posix
}
