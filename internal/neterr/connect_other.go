//go:build !linux

package neterr

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrQueue: there is no socket error queue here (Result.ICMP stays nil), and no TTL.
const ErrQueue = false

// CanSetMSS: Dialer.MSS works on this system.
const CanSetMSS = false

// Connect dials TCP and classifies a failure. Outside Linux there is no
// socket error queue: Result.ICMP is always nil, and TTL is refused rather
// than silently ignored.
func (d Dialer) Connect(ctx context.Context, addr netip.AddrPort) (Result, net.Conn) {
	start := time.Now()
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	res := Result{Addr: addr}
	ready, sent := d.made(), d.sent()
	defer ready()
	defer sent()
	if op, err := d.check(addr); err != nil {
		res.Kind, res.Op, res.Err = InvalidArgument, op, err
		return res, nil
	}
	if d.TTL != 0 {
		res.Kind, res.Err = InvalidArgument, errors.New("neterr: TTL is only supported on Linux")
		return res, nil
	}
	if d.MSS != 0 {
		res.Kind, res.Err = InvalidArgument, errors.New("neterr: MSS is only supported on Linux")
		return res, nil
	}
	made := false
	nd := d.netDialer()
	nd.ControlContext = func(context.Context, string, string, syscall.RawConn) error {
		made = true
		ready()
		sent()
		return nil
	}
	conn, err := nd.DialContext(ctx, network(addr.Addr()), addr.String())
	res.Duration = time.Since(start)
	if err == nil {
		res.Kind = OK
		res.Local = addrPortOf(conn.LocalAddr())
		return res, conn
	}
	finish(&res, err, made)
	return res, nil
}
