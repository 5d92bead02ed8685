//go:build linux

package neterr

import (
	"context"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrQueue: Connect reads the socket error queue (Result.ICMP), and TTL works.
const ErrQueue = true

// maxErrQueue bounds the drain loop; one failed connect queues one entry.
const maxErrQueue = 16

// Connect dials TCP with IP_RECVERR/IPV6_RECVERR set, and after a failure
// reads the socket error queue. On success it returns the open conn (caller
// closes) and Kind OK; IP_RECVERR is then switched off again so the caller
// gets ordinary TCP error semantics.
func (d Dialer) Connect(ctx context.Context, addr netip.AddrPort) (Result, net.Conn) {
	start := time.Now()
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	res := Result{Addr: addr}
	ready := d.made()
	defer ready()
	if op, err := d.check(addr); err != nil {
		res.Kind, res.Op, res.Err = InvalidArgument, op, err
		return res, nil
	}
	v6 := addr.Addr().Is6()

	// A dup of the socket outlives Go's close of its own fd on failure, so
	// the error queue can still be read. Closed on every path.
	dup := -1
	made := false
	defer func() {
		if dup >= 0 {
			unix.Close(dup)
		}
	}()
	sent := d.sent()
	defer sent()
	// The poller of Sent reads dup: it ends before dup is closed.
	var poll sync.WaitGroup
	var returned atomic.Bool
	defer func() {
		returned.Store(true)
		poll.Wait()
	}()
	nd := d.netDialer()
	nd.ControlContext = func(_ context.Context, _, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			made = true
			if dup >= 0 { // one socket per dial; be safe if Go ever retries
				unix.Close(dup)
				dup = -1
			}
			dup, serr = prepare(int(fd), v6, d.TTL, d.MSS)
		})
		ready()
		if err == nil && serr == nil && dup >= 0 && d.Sent != nil {
			poll.Add(1)
			go func(fd int) {
				defer poll.Done()
				awaitSYN(fd, &returned)
				sent()
			}(dup)
		} else {
			sent()
		}
		if err != nil {
			return err
		}
		return serr
	}
	conn, err := nd.DialContext(ctx, network(addr.Addr()), addr.String())
	res.Duration = time.Since(start)
	if err == nil {
		res.Kind = OK
		res.Local = addrPortOf(conn.LocalAddr())
		if dup >= 0 {
			_ = setRecvErr(dup, v6, false) // also purges the queue
		}
		return res, conn
	}
	finish(&res, err, made)
	if dup >= 0 {
		res.ICMP = readErrQueue(dup)
		if res.Op != "socket" && res.Op != "bind" {
			res.Local = sockname(dup)
		}
	}
	return res, nil
}

// maxSYNWait bounds awaitSYN: a connect that has not started by then is
// not waited for.
const maxSYNWait = 5 * time.Millisecond

// awaitSYN returns once the socket fd has sent a segment (its SYN) or left
// CLOSED (connect set it to SYN_SENT), and connect has released it; or when
// Connect returned, or after maxSYNWait. TCP_INFO takes the socket's lock,
// which connect holds until its SYN is sent; its count of segments sent
// also tells a SYN that was answered by an error at once (the socket is
// CLOSED again) from one not sent yet. The first tries only yield; then
// it sleeps between tries, so that spinning never keeps the scheduler from
// the network poller that the dial itself waits on.
func awaitSYN(fd int, returned *atomic.Bool) {
	deadline := time.Now().Add(maxSYNWait)
	for try := 0; !returned.Load() && time.Now().Before(deadline); try++ {
		info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil || info.State != tcpClose || info.Segs_out > 0 {
			return
		}
		if try < 20 {
			runtime.Gosched()
		} else {
			time.Sleep(20 * time.Microsecond)
		}
	}
}

// tcpClose is TCP_CLOSE of the kernel's TCP states (include/net/tcp_states.h).
const tcpClose = 7

// CanSetMSS: Dialer.MSS works on this system.
const CanSetMSS = true

// prepare runs before bind and connect. Only a TTL or MSS failure is fatal:
// without the error queue the connect still tells most of the story.
func prepare(fd int, v6 bool, ttl, mss int) (dup int, err error) {
	if mss != 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_MAXSEG, mss); err != nil {
			return -1, os.NewSyscallError("setsockopt", err)
		}
	}
	if ttl != 0 {
		if v6 {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ttl)
		} else {
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, ttl)
		}
		if err != nil {
			return -1, os.NewSyscallError("setsockopt", err)
		}
	}
	if setRecvErr(fd, v6, true) != nil {
		return -1, nil
	}
	dup, err = unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, nil
	}
	return dup, nil
}

func setRecvErr(fd int, v6, on bool) error {
	v := 0
	if on {
		v = 1
	}
	if v6 {
		return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVERR, v)
	}
	return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVERR, v)
}

// readErrQueue drains the error queue and keeps the most informative entry.
func readErrQueue(fd int) *ICMP {
	var best *ICMP
	var buf [64]byte // the offending packet's start; only the cmsg matters
	var oob [512]byte
	for range maxErrQueue {
		_, oobn, _, _, err := unix.Recvmsg(fd, buf[:], oob[:], unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if oobn > 0 {
			e, _ := parseErrQueue(oob[:oobn]) // a malformed entry still yields what parsed
			best = better(best, e)
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil && oobn == 0 {
			break // EAGAIN: drained
		}
	}
	return best
}

func sockname(fd int) netip.AddrPort {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}
	}
	var ap netip.AddrPort
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		ap = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		ap = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	if !ap.Addr().IsValid() || ap.Addr().IsUnspecified() {
		return netip.AddrPort{}
	}
	return ap
}
