//go:build linux

package listen

import (
	"net"
	"net/netip"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/conndiag/conndiag/internal/i18n"
)

// The event loops serve plain (non-TLS) websocket, text, frame and tcp
// endpoints. Each loop owns an epoll instance and its connections: no locks,
// and an idle connection is one lconn and its session, with no goroutine and
// no buffer. Every loop watches every listening socket (EPOLLEXCLUSIVE wakes
// one of them per new connection).

const (
	readBuf  = 64 << 10
	wakeData = -1 // event data of the loop's eventfd; listeners are -2, -3, ...
)

type loop struct {
	s        *Server
	epfd     int
	wakefd   int
	eps      []*endpoint // listening sockets, by -(data+2)
	conns    []*lconn    // by slot
	free     []int32
	gen      int32
	events   []unix.EpollEvent
	rbuf     []byte
	obuf     []byte
	now      int64
	sweepAt  int64
	tick     int64
	paused   bool // listeners unwatched after EMFILE, until resumeAt
	resumeAt int64
}

// lconn is one connection of a loop.
type lconn struct {
	connInfo
	fd        int
	slot, gen int32
	sess      session
	in, out   []byte // bytes not yet consumed / not yet written
	start     int64
	last      int64 // last read or write progress
	partial   int64 // when the unfinished unit in `in` began, 0 if none
	rx, tx    uint64
	writing   bool  // waiting for EPOLLOUT rather than EPOLLIN
	closing   bool  // close once out is written
	need      int32 // size of the unit `in` begins with, when known (result.need)
	why       Reason
}

// handToLoops moves the plain endpoints' sockets from net.Listener to the
// event loops and creates the loops.
func (s *Server) handToLoops() error {
	var eps []*endpoint
	for _, ep := range s.eps {
		if ep.TLS || ep.Proto == HTTP || s.cfg.noLoop {
			continue
		}
		rc, err := ep.ln.(*net.TCPListener).SyscallConn()
		if err != nil {
			return err
		}
		var dupErr error
		if err := rc.Control(func(fd uintptr) {
			ep.lfd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
		}); err != nil {
			return err
		}
		if dupErr != nil {
			return dupErr
		}
		if err := unix.SetNonblock(ep.lfd, true); err != nil {
			return err
		}
		ep.ln.Close()
		ep.ln = nil
		ep.loopIdx = int32(len(eps))
		eps = append(eps, ep)
	}
	if len(eps) == 0 {
		return nil
	}
	n := s.cfg.Loops
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	tick := min(time.Second, s.cfg.HandshakeTimeout/4, s.cfg.ReadTimeout/4)
	if s.cfg.IdleTimeout > 0 {
		tick = min(tick, s.cfg.IdleTimeout/4)
	}
	tick = max(tick, 10*time.Millisecond)
	for range n {
		l, err := newLoop(s, eps, int64(tick))
		if err != nil {
			return err
		}
		s.loops = append(s.loops, l)
	}
	return nil
}

func newLoop(s *Server, eps []*endpoint, tick int64) (*loop, error) {
	l := &loop{s: s, eps: eps, epfd: -1, wakefd: -1, tick: tick,
		events: make([]unix.EpollEvent, 256), rbuf: make([]byte, readBuf)}
	var err error
	if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, err
	}
	if l.wakefd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		l.release()
		return nil, err
	}
	if err = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, l.wakefd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeData}); err != nil {
		l.release()
		return nil, err
	}
	if err = l.watchListeners(true); err != nil {
		l.release()
		return nil, err
	}
	return l, nil
}

func (l *loop) watchListeners(on bool) error {
	for i, ep := range l.eps {
		var err error
		if on {
			err = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, ep.lfd,
				&unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(-2 - i)})
		} else {
			err = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, ep.lfd, nil)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// wake makes run notice that the server is stopping.
func (l *loop) wake() {
	var one = [8]byte{1}
	_, _ = unix.Write(l.wakefd, one[:])
}

// release closes the loop's descriptors once run has returned or never ran.
func (l *loop) release() {
	if l.epfd >= 0 {
		unix.Close(l.epfd)
		l.epfd = -1
	}
	if l.wakefd >= 0 {
		unix.Close(l.wakefd)
		l.wakefd = -1
	}
}

func closeFD(fd int) { unix.Close(fd) }

func (l *loop) run() {
	for {
		ms := int(l.tick / int64(time.Millisecond))
		n, err := unix.EpollWait(l.epfd, l.events, ms)
		if err != nil && err != unix.EINTR {
			l.s.warn(i18n.M("listen.warn.loop", "Err", err.Error()))
			l.shutdown()
			return
		}
		l.now = l.s.now()
		for _, ev := range l.events[:max(n, 0)] {
			switch {
			case ev.Fd == wakeData:
				if l.s.stopping.Load() {
					l.shutdown()
					return
				}
			case ev.Fd < wakeData:
				l.accept(l.eps[-2-ev.Fd])
			default:
				if int(ev.Fd) >= len(l.conns) {
					continue
				}
				if c := l.conns[ev.Fd]; c != nil && c.gen == ev.Pad {
					l.handle(c, ev.Events)
				}
			}
		}
		if l.now >= l.sweepAt {
			l.sweep()
			l.sweepAt = l.now + l.tick
		}
	}
}

func (l *loop) accept(ep *endpoint) {
	for range 256 {
		fd, sa, err := unix.Accept4(ep.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch {
		case err == nil:
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR || err == unix.ECONNABORTED:
			continue
		case err == unix.EMFILE || err == unix.ENFILE || err == unix.ENOBUFS || err == unix.ENOMEM:
			// Stop watching the listeners for a second rather than spin.
			if !l.paused && l.watchListeners(false) == nil {
				l.paused, l.resumeAt = true, l.now+int64(time.Second)
				l.s.warnAccept(err)
			}
			return
		default:
			return
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		c := &lconn{fd: fd, start: l.now, last: l.now}
		c.ep = ep
		c.peer = sockaddrAddrPort(sa)
		if la, err := unix.Getsockname(fd); err == nil {
			c.local = sockaddrAddrPort(la)
		}
		c.seen = ep.seen.begin(c.peer)
		c.sess = newSession(&c.connInfo, &l.s.lim)
		if len(l.free) > 0 {
			c.slot, l.free = l.free[len(l.free)-1], l.free[:len(l.free)-1]
			l.conns[c.slot] = c
		} else {
			c.slot = int32(len(l.conns))
			l.conns = append(l.conns, c)
		}
		l.gen++
		c.gen = l.gen
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: c.slot, Pad: c.gen}); err != nil {
			unix.Close(fd)
			l.conns[c.slot] = nil
			l.free = append(l.free, c.slot)
			continue
		}
		l.s.accepted.Add(1)
		l.s.open.Add(1)
	}
}

func sockaddrAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// handle serves one event. A panic (a bug: the sessions are fuzzed) closes
// only this connection.
func (l *loop) handle(c *lconn, events uint32) {
	defer func() {
		if v := recover(); v != nil && l.conns[c.slot] == c {
			l.close(c, reasonInternal(v))
		}
	}()
	if c.writing {
		l.flush(c)
		return
	}
	l.read(c)
}

func (l *loop) read(c *lconn) {
	n, err := unix.Read(c.fd, l.rbuf)
	for err == unix.EINTR {
		n, err = unix.Read(c.fd, l.rbuf)
	}
	switch {
	case err == unix.EAGAIN:
		return
	case err == unix.ECONNRESET:
		l.close(c, reasonReset(err))
		return
	case err != nil:
		l.close(c, reasonIO(err))
		return
	case n == 0:
		l.close(c, reasonClientClosed())
		return
	}
	c.rx += uint64(n)
	c.last = l.now
	if len(c.in) > 0 {
		in, ok := l.s.mem.append(&c.held, c.in, l.rbuf[:n], int(c.need))
		if !ok {
			l.overBudget(c, true)
			return
		}
		c.in = in
		l.process(c, c.in, true)
	} else {
		l.process(c, l.rbuf[:n], false)
	}
}

// process feeds data (c.in itself when inOwned, else the read buffer) to the
// session and writes the replies, until the session needs more bytes, the
// socket cannot take more, or the session closes.
func (l *loop) process(c *lconn, data []byte, inOwned bool) {
	consumed := false
	need := 0
	for {
		l.obuf = l.obuf[:0]
		r := c.sess.feed(data, &l.obuf)
		data = data[r.n:]
		need = r.need
		consumed = consumed || r.n > 0
		if len(l.obuf) > 0 && !l.write(c, l.obuf) {
			return
		}
		if r.close {
			l.s.mem.drop(&c.held, c.in)
			c.in = nil
			if len(c.out) == 0 {
				l.close(c, r.why)
			} else {
				c.closing, c.why = true, r.why
			}
			return
		}
		if len(c.out) > 0 || !r.full {
			break
		}
	}
	if !l.keep(c, data, inOwned, need) {
		return
	}
	switch {
	case len(c.in) == 0 && !c.sess.busy():
		c.partial = 0
	case consumed || c.partial == 0:
		c.partial = l.now
	}
	if cap(l.obuf) > readBuf*4 {
		l.obuf = nil // do not keep one big echo's buffer forever
	}
}

// keep stores the unconsumed bytes in c.in, which the budget pays for. It
// reports false when they do not fit, and c is closed.
func (l *loop) keep(c *lconn, rest []byte, inOwned bool, need int) bool {
	in, ok := l.s.mem.keep(&c.held, c.in, rest, inOwned, need)
	if !ok {
		l.overBudget(c, true)
		return false
	}
	c.in, c.need = in, int32(need)
	return true
}

// overBudget closes c, whose next bytes do not fit in Config.MaxBuffered,
// telling the client why when nothing else is waiting to be written.
func (l *loop) overBudget(c *lconn, say bool) {
	if say && len(c.out) == 0 {
		l.obuf = l.obuf[:0]
		c.sess.overloaded(&l.obuf)
		if len(l.obuf) > 0 {
			_, _ = unix.Write(c.fd, l.obuf)
		}
	}
	l.close(c, reasonOverBudget(l.s.cfg.MaxBuffered))
}

// write sends b without blocking; what the socket does not take waits in
// c.out (paid by the budget) for EPOLLOUT, and reading stops meanwhile. It
// reports false when the connection was closed.
func (l *loop) write(c *lconn, b []byte) bool {
	n, ok := l.send(c, b)
	if !ok {
		return false
	}
	if n < len(b) {
		out, ok := l.s.mem.append(&c.held, c.out[:0], b[n:], len(b)-n)
		if !ok {
			l.overBudget(c, false) // the socket is full: no room to say so
			return false
		}
		c.out = out
		l.setWriting(c, true)
	}
	return true
}

// send writes what the socket takes of b without blocking. It reports
// false when the connection was closed.
func (l *loop) send(c *lconn, b []byte) (int, bool) {
	done := 0
	for done < len(b) {
		n, err := unix.Write(c.fd, b[done:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			l.close(c, reasonIO(err))
			return done, false
		}
		c.tx += uint64(n)
		c.last = l.now
		done += n
	}
	return done, true
}

func (l *loop) flush(c *lconn) {
	n, ok := l.send(c, c.out)
	if !ok {
		return
	}
	if n < len(c.out) {
		// Keep the buffer (and its charge); move the rest to its start.
		c.out = c.out[:copy(c.out, c.out[n:])]
		return
	}
	l.s.mem.drop(&c.held, c.out)
	c.out = nil
	if c.closing {
		l.close(c, c.why)
		return
	}
	l.setWriting(c, false)
	if len(c.in) > 0 {
		l.process(c, c.in, true)
	}
}

func (l *loop) setWriting(c *lconn, on bool) {
	if c.writing == on {
		return
	}
	c.writing = on
	ev := uint32(unix.EPOLLIN)
	if on {
		ev = unix.EPOLLOUT
	}
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: ev, Fd: c.slot, Pad: c.gen})
}

// close ends c. Unread input is drained first, so that the kernel ends the
// connection with FIN and the last reply arrives, rather than with RST.
func (l *loop) close(c *lconn, why Reason) {
	for range 4 {
		if n, err := unix.Read(c.fd, l.rbuf); n <= 0 || err != nil {
			break
		}
	}
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	unix.Close(c.fd)
	l.conns[c.slot] = nil
	l.free = append(l.free, c.slot)
	l.s.open.Add(-1)
	l.s.mem.release(&c.held)
	c.in, c.out = nil, nil
	l.s.record(&c.connInfo, c.start, c.rx, c.tx, why)
}

// sweep enforces the deadlines.
func (l *loop) sweep() {
	cfg := &l.s.cfg
	hs, rt, idle := int64(cfg.HandshakeTimeout), int64(cfg.ReadTimeout), int64(cfg.IdleTimeout)
	for _, c := range l.conns {
		if c == nil {
			continue
		}
		switch {
		case !c.sess.ready() && l.now-c.start > hs:
			l.close(c, reasonHandshakeTimeout(cfg.HandshakeTimeout))
		case len(c.out) > 0 && l.now-c.last > rt:
			l.close(c, reasonWriteTimeout(cfg.ReadTimeout))
		case c.partial != 0 && l.now-c.partial > rt:
			l.close(c, reasonReadTimeout(cfg.ReadTimeout))
		case idle > 0 && l.now-c.last > idle:
			l.close(c, reasonIdle(cfg.IdleTimeout))
		}
	}
	if l.paused && l.now >= l.resumeAt && l.watchListeners(true) == nil {
		l.paused = false
	}
	// Shrink the slot table after a wave of connections has gone.
	last := len(l.conns)
	for last > 0 && l.conns[last-1] == nil {
		last--
	}
	if len(l.conns)-last > 1024 {
		l.conns = l.conns[:last]
		kept := l.free[:0]
		for _, slot := range l.free {
			if int(slot) < last {
				kept = append(kept, slot)
			}
		}
		l.free = kept
	}
}

// shutdown says goodbye to every connection and closes it.
func (l *loop) shutdown() {
	for _, c := range l.conns {
		if c == nil {
			continue
		}
		l.obuf = l.obuf[:0]
		if len(c.out) == 0 {
			c.sess.goodbye(&l.obuf)
		}
		if len(l.obuf) > 0 {
			_, _ = unix.Write(c.fd, l.obuf)
		}
		l.close(c, reasonShutdown())
	}
	// The descriptors are released by Server.Close, after every goroutine
	// that might still wake this loop is done.
}
