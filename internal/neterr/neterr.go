// Package neterr performs TCP connects that keep the kernel's evidence and
// classifies network errors.
package neterr

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/conndiag/conndiag/internal/evidence"
)

// Kind is the class of a connect outcome (defined in internal/evidence).
type Kind = evidence.Kind

// The connect outcomes.
const (
	OK               = evidence.OK
	Refused          = evidence.Refused
	Timeout          = evidence.Timeout
	HostUnreachable  = evidence.HostUnreachable
	NetUnreachable   = evidence.NetUnreachable
	AddrNotAvailable = evidence.AddrNotAvailable
	AddrInUse        = evidence.AddrInUse
	TooManyFiles     = evidence.TooManyFiles
	PermissionDenied = evidence.PermissionDenied
	Reset            = evidence.Reset
	InvalidArgument  = evidence.InvalidArgument
	Canceled         = evidence.Canceled
	Other            = evidence.Other
)

// Result is what one connect attempt found.
type Result = evidence.Connect

// Dialer connects over TCP. The zero value is ready to use.
type Dialer struct {
	Source netip.Addr // optional local address (bind first)
	TTL    int        // optional IP_TTL / IPV6_UNICAST_HOPS, for traceroute-like probes; 0 = system default
	// MSS is the TCP_MAXSEG set before connect (Linux only; no privilege
	// needed): the SYN announces it, so the peer sends no larger segment.
	// 0 = system default.
	MSS int
	// Made, when set, is called once the socket exists and is ready to
	// connect (its error-queue dup too), or when Connect returns without one:
	// a caller that must hold its descriptors before other sockets are made
	// waits for it, not for the answer.
	Made func()
	// Sent, when set, is called once the SYN has left (Linux: the socket is
	// past CLOSED and its connect has let go of it; elsewhere as Made), or
	// when Connect returns without one: a caller that must have this SYN
	// on the wire before another one waits for it.
	Sent func()
}

// sent calls d.Sent once.
func (d Dialer) sent() func() {
	if d.Sent == nil {
		return func() {}
	}
	var once sync.Once
	return func() { once.Do(d.Sent) }
}

// made calls d.Made once.
func (d Dialer) made() func() {
	if d.Made == nil {
		return func() {}
	}
	var once sync.Once
	return func() { once.Do(d.Made) }
}

// Classify sorts an error from a dial. op is the failing system call
// ("socket", "bind", "connect", ...) when the error names one, else "".
func Classify(err error) (kind Kind, errno syscall.Errno, op string) {
	if err == nil {
		return OK, 0, ""
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		op = portableOp(se.Syscall)
	}
	if errors.As(err, &errno) && errno != 0 {
		return KindOf(errno), errno, op
	}
	errno = 0
	if errors.Is(err, context.Canceled) {
		return Canceled, 0, op
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return Timeout, 0, op
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Timeout, 0, op
	}
	// Errors that lost their type (logged, re-wrapped as text) still say so.
	if strings.HasSuffix(err.Error(), "i/o timeout") {
		return Timeout, 0, op
	}
	return Other, 0, op
}

// portableOp names a system call as the rules know it: Windows connects
// with ConnectEx, and Go names the step "connectex".
func portableOp(call string) string {
	if call == "connectex" {
		return "connect"
	}
	return call
}

// network picks the dial network so a v4 destination never goes out a v6 socket.
func network(a netip.Addr) string {
	if a.Unmap().Is4() {
		return "tcp4"
	}
	return "tcp6"
}

func (d Dialer) netDialer() net.Dialer {
	var nd net.Dialer
	if d.Source.IsValid() {
		nd.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(d.Source.Unmap(), 0))
	}
	return nd
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok && ta != nil {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// check rejects what the kernel would only answer with a vaguer error; op
// names the step at fault.
func (d Dialer) check(addr netip.AddrPort) (op string, err error) {
	if !addr.IsValid() {
		return "", errors.New("neterr: invalid destination address")
	}
	if d.Source.IsValid() && d.Source.Unmap().Is4() != addr.Addr().Is4() {
		return "bind", errors.New("neterr: source and destination address families differ")
	}
	return "", nil
}

// finish fills the classification of a failed dial. socketMade tells a
// timeout during connect from one before the socket existed.
func finish(res *Result, err error, socketMade bool) {
	res.Err = err
	res.Kind, res.Errno, res.Op = Classify(err)
	res.ErrnoName = NameOf(res.Errno)
	if res.Op == "" && socketMade && (res.Kind == Timeout || res.Kind == Canceled) {
		// Go reports the deadline without a syscall name; bind is synchronous,
		// so the wait was in connect.
		res.Op = "connect"
	}
}
