package load

import (
	"syscall"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/verdict"
)

// Phase is the step of a connection where it failed.
type Phase string

const (
	PhaseSocket    Phase = "socket"
	PhaseBind      Phase = "bind"
	PhaseConnect   Phase = "connect"
	PhaseHandshake Phase = "handshake" // after TCP connected: TLS, WebSocket or HTTP
)

// failure is one failed attempt as the engine saw it.
type failure struct {
	phase   Phase
	errno   syscall.Errno // 0 for a timeout, EOF or a protocol error
	timeout bool
	eof     bool  // the server closed before answering
	status  int   // the HTTP status of a refused handshake
	proto   error // the answer could not be understood
	// everOK: an earlier attempt of this run reached the same stage, so the
	// path works and the failure is the server's load.
	everOK bool
	// override is the cause when the engine knows it better (TLS errors).
	override verdict.Cause
}

// Cause sorts a failure into a cause code of SPEC.md.
func (f failure) cause(ws bool) verdict.Cause {
	if f.override != "" {
		return f.override
	}
	switch portableErrno(f.errno) {
	case "EMFILE", "ENFILE":
		return verdict.CauseFDExhausted
	case "EADDRNOTAVAIL":
		if f.phase == PhaseBind {
			return verdict.CauseSourceAddressInvalid
		}
		return verdict.CauseEphemeralPortsExhausted
	case "EADDRINUSE":
		return verdict.CauseEphemeralPortsExhausted
	case "ECONNREFUSED":
		return verdict.CauseNotListening
	case "ECONNRESET", "EPIPE", "ECONNABORTED":
		return verdict.CauseResetByPeer
	case "EHOSTUNREACH", "EHOSTDOWN":
		return verdict.CauseHostUnreachable
	case "ENETUNREACH", "ENETDOWN":
		return verdict.CauseNoRoute
	case "EPERM":
		return verdict.CauseClientFirewall // the client's own OUTPUT rules refuse the SYN
	case "EACCES":
		return verdict.CauseFirewallReject
	case "EINVAL":
		if f.phase == PhaseBind {
			return verdict.CauseSourceAddressInvalid
		}
	case "ETIMEDOUT":
		f.timeout = true
	}
	switch {
	case f.timeout && f.phase == PhaseConnect:
		// SYNs unanswered: a firewall when nothing ever got through, the
		// server's full listen queue (or a full conntrack table) when
		// earlier connections did.
		if f.everOK {
			return verdict.CauseAcceptQueueOverflow
		}
		return verdict.CauseFiltered
	case f.timeout:
		// TCP connected but the handshake was never answered: under load,
		// connections wait in the listen queue of a server that does not
		// accept fast enough.
		if f.everOK {
			return verdict.CauseAcceptQueueOverflow
		}
		return verdict.CauseNotHTTP
	case f.eof:
		return verdict.CauseResetByPeer
	case f.status == 404 && ws:
		return verdict.CauseWSPathNotFound
	case f.status == 502 || f.status == 503 || f.status == 504:
		return verdict.CauseProxyUpstreamFailed
	case f.status != 0 && ws:
		return verdict.CauseWSUpgradeRejected
	case f.proto != nil:
		return verdict.CauseNotHTTP
	}
	return verdict.CauseUnknown
}

var errnoNames = map[syscall.Errno]string{
	syscall.ECONNREFUSED: "ECONNREFUSED", syscall.ETIMEDOUT: "ETIMEDOUT", syscall.EHOSTUNREACH: "EHOSTUNREACH",
	syscall.ENETUNREACH: "ENETUNREACH", syscall.EADDRNOTAVAIL: "EADDRNOTAVAIL", syscall.EADDRINUSE: "EADDRINUSE",
	syscall.EMFILE: "EMFILE", syscall.ENFILE: "ENFILE", syscall.EACCES: "EACCES", syscall.EPERM: "EPERM",
	syscall.ECONNRESET: "ECONNRESET", syscall.EINVAL: "EINVAL", syscall.EPIPE: "EPIPE",
	syscall.ENOBUFS: "ENOBUFS", syscall.ENOMEM: "ENOMEM",
}

// errnoName is this system's name for e: Winsock's numbers on Windows, the
// BSD numbers on macOS and FreeBSD (neterr's tables), else "errno N".
func errnoName(e syscall.Errno) string {
	if n := neterr.NameOf(e); n != "" {
		return n
	}
	if n, ok := errnoNames[e]; ok {
		return n
	}
	return "errno " + itoa(int(e))
}

// portableErrno is the POSIX name e stands for on this system ("" for none).
func portableErrno(e syscall.Errno) string {
	if e == 0 {
		return ""
	}
	return evidence.PortableErrno(errnoName(e))
}
