package neterr

import (
	"runtime"
	"syscall"

	"github.com/conndiag/conndiag/internal/evidence"
)

// The socket error numbers of every system conndiag runs on, as pure data:
// the classification of Windows and macOS is tested on Linux like Linux's
// own. A number means nothing without its system (61 is ECONNREFUSED on
// macOS and FreeBSD, ENODATA on Linux; Winsock's start at 10000), so every
// lookup names the GOOS.

// linuxErrnos are Linux's numbers (asm-generic: amd64 and arm64 alike).
var linuxErrnos = map[uintptr]string{
	1: "EPERM", 4: "EINTR", 9: "EBADF", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 22: "EINVAL",
	23: "ENFILE", 24: "EMFILE", 32: "EPIPE", 71: "EPROTO", 88: "ENOTSOCK", 90: "EMSGSIZE",
	92: "ENOPROTOOPT", 97: "EAFNOSUPPORT", 98: "EADDRINUSE", 99: "EADDRNOTAVAIL", 100: "ENETDOWN",
	101: "ENETUNREACH", 102: "ENETRESET", 103: "ECONNABORTED", 104: "ECONNRESET", 105: "ENOBUFS",
	106: "EISCONN", 107: "ENOTCONN", 110: "ETIMEDOUT", 111: "ECONNREFUSED", 112: "EHOSTDOWN",
	113: "EHOSTUNREACH", 114: "EALREADY", 115: "EINPROGRESS",
}

// bsdErrnos are the 4.4BSD numbers macOS and FreeBSD share for sockets.
var bsdErrnos = map[uintptr]string{
	1: "EPERM", 4: "EINTR", 9: "EBADF", 12: "ENOMEM", 13: "EACCES", 22: "EINVAL", 23: "ENFILE",
	24: "EMFILE", 32: "EPIPE", 35: "EAGAIN", 36: "EINPROGRESS", 37: "EALREADY", 38: "ENOTSOCK",
	40: "EMSGSIZE", 42: "ENOPROTOOPT", 47: "EAFNOSUPPORT", 48: "EADDRINUSE", 49: "EADDRNOTAVAIL",
	50: "ENETDOWN", 51: "ENETUNREACH", 52: "ENETRESET", 53: "ECONNABORTED", 54: "ECONNRESET",
	55: "ENOBUFS", 56: "EISCONN", 57: "ENOTCONN", 60: "ETIMEDOUT", 61: "ECONNREFUSED",
	64: "EHOSTDOWN", 65: "EHOSTUNREACH",
}

// The numbers where the two BSDs part.
var (
	darwinErrnos  = withBSD(map[uintptr]string{100: "EPROTO"})
	freebsdErrnos = withBSD(map[uintptr]string{92: "EPROTO"})
)

func withBSD(own map[uintptr]string) map[uintptr]string {
	m := make(map[uintptr]string, len(bsdErrnos)+len(own))
	for n, s := range bsdErrnos {
		m[n] = s
	}
	for n, s := range own {
		m[n] = s
	}
	return m
}

// windowsErrnos are the Winsock codes (WSAGetLastError, winerror.h) and the
// Win32 codes an overlapped connect can end with instead.
var windowsErrnos = map[uintptr]string{
	4: "ERROR_TOO_MANY_OPEN_FILES", 64: "ERROR_NETNAME_DELETED", 121: "ERROR_SEM_TIMEOUT",
	1225: "ERROR_CONNECTION_REFUSED", 1231: "ERROR_NETWORK_UNREACHABLE", 1232: "ERROR_HOST_UNREACHABLE",
	1234: "ERROR_PORT_UNREACHABLE", 1236: "ERROR_CONNECTION_ABORTED",
	10004: "WSAEINTR", 10009: "WSAEBADF", 10013: "WSAEACCES", 10014: "WSAEFAULT", 10022: "WSAEINVAL",
	10024: "WSAEMFILE", 10035: "WSAEWOULDBLOCK", 10036: "WSAEINPROGRESS", 10037: "WSAEALREADY",
	10038: "WSAENOTSOCK", 10040: "WSAEMSGSIZE", 10042: "WSAENOPROTOOPT", 10047: "WSAEAFNOSUPPORT",
	10048: "WSAEADDRINUSE", 10049: "WSAEADDRNOTAVAIL", 10050: "WSAENETDOWN", 10051: "WSAENETUNREACH",
	10052: "WSAENETRESET", 10053: "WSAECONNABORTED", 10054: "WSAECONNRESET", 10055: "WSAENOBUFS",
	10056: "WSAEISCONN", 10057: "WSAENOTCONN", 10060: "WSAETIMEDOUT", 10061: "WSAECONNREFUSED",
	10064: "WSAEHOSTDOWN", 10065: "WSAEHOSTUNREACH", 10067: "WSAEPROCLIM",
	10091: "WSASYSNOTREADY", 10093: "WSANOTINITIALISED",
}

// nameKinds classifies the portable names.
var nameKinds = map[string]Kind{
	"ECONNREFUSED":  Refused,
	"ETIMEDOUT":     Timeout,
	"EHOSTUNREACH":  HostUnreachable,
	"EHOSTDOWN":     HostUnreachable, // macOS and FreeBSD: no ARP answer ("host is down")
	"ENETUNREACH":   NetUnreachable,
	"ENETDOWN":      NetUnreachable,
	"EADDRNOTAVAIL": AddrNotAvailable,
	"EADDRINUSE":    AddrInUse,
	"EMFILE":        TooManyFiles,
	"ENFILE":        TooManyFiles,
	"EACCES":        PermissionDenied,
	"EPERM":         PermissionDenied,
	"ECONNRESET":    Reset,
	"EINVAL":        InvalidArgument,
}

func errnoTable(goos string) map[uintptr]string {
	switch goos {
	case "linux", "android":
		return linuxErrnos
	case "darwin", "ios":
		return darwinErrnos
	case "freebsd":
		return freebsdErrnos
	case "windows":
		return windowsErrnos
	}
	return nil
}

// ErrnoName is the name goos gives error number n ("ECONNREFUSED",
// "WSAECONNREFUSED"), or "" when it is not a socket error this table knows.
func ErrnoName(goos string, n uintptr) string { return errnoTable(goos)[n] }

// PortableName is the POSIX name an error name stands for: Winsock's
// "WSAECONNREFUSED" is "ECONNREFUSED", Win32's "ERROR_HOST_UNREACHABLE" is
// "EHOSTUNREACH"; a POSIX name is itself.
func PortableName(name string) string { return evidence.PortableErrno(name) }

// ErrnoKind classifies error number n of goos: Other when the table does
// not know it, OK for 0.
func ErrnoKind(goos string, n uintptr) Kind {
	if n == 0 {
		return OK
	}
	if k, ok := nameKinds[PortableName(ErrnoName(goos, n))]; ok {
		return k
	}
	return Other
}

// KindOf maps an errno of this system to a Kind (Other when unmapped, OK for 0).
func KindOf(errno syscall.Errno) Kind { return ErrnoKind(runtime.GOOS, uintptr(errno)) }

// NameOf is this system's name for errno, or "" when the table does not know it.
func NameOf(errno syscall.Errno) string { return ErrnoName(runtime.GOOS, uintptr(errno)) }
