//go:build linux

package load

import (
	"net/netip"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/conndiag/conndiag/internal/target"
)

// The epoll engine: each loop owns an epoll instance, a timerfd for its
// next deadline and an eventfd to be woken, and its connections as compact
// structs in one slice. A held connection costs its slot and the kernel's
// socket: no goroutine, no buffer.

const (
	evWake  = -1 // event data of the eventfd
	evTimer = -2 // of the timerfd
	rbufLen = 64 << 10
	// idleWait bounds epoll_wait when no deadline is near, so the loop sees
	// slots freed by other loops.
	idleWait = 100 * time.Millisecond
)

// Connection states.
const (
	stFree uint8 = iota
	stConnecting
	stHandshake // request sent, waiting for the response head
	stBody      // http: skipping the response body
	stOpen      // established and held
	stClosing   // ws short: close frame sent, waiting for the server's
)

type econn struct {
	fd       int32
	gen      int32
	state    uint8
	src      int16
	planned  int64 // planned start (ns since the start of the run)
	t1       int64 // connected (during the handshake), then established
	nextPing int64
	x        *connExt // only while something is partial
}

// connExt holds what a connection needs only now and then.
type connExt struct {
	in   []byte // unparsed input
	out  []byte // unwritten output
	ws   wsIn
	body *body
}

type pend struct {
	slot, gen int32
	deadline  int64
}

type eloop struct {
	r       *run
	epfd    int
	wakefd  int
	timerfd int
	conns   []econn
	free    []int32
	gen     int32
	events  []unix.EpollEvent
	rbuf    []byte
	pends   []pend
	head    int
	h       *hists

	ticketOK      bool  // a ticket is taken and waiting for its time
	ticketPlanned int64 // its planned start
	wakeAt        int64 // the armed timer, 0 when disarmed
	nextSweep     int64
	dst           unix.Sockaddr
	family        int
	srcSA         []unix.Sockaddr
}

// epollEngine runs plain targets on Linux.
type epollEngine struct {
	loops []*eloop
}

func newEpollEngine(r *run, loops int, sizeHint int) (*epollEngine, error) {
	if loops <= 0 {
		loops = runtime.GOMAXPROCS(0)
	}
	e := &epollEngine{}
	for range loops {
		// A unix.Sockaddr keeps its raw form inside and rewrites it on each
		// call: every loop has its own.
		dst, family := sockaddr(r.cfg.Dst)
		var srcSA []unix.Sockaddr
		for _, s := range r.srcs {
			sa, _ := sockaddr(netip.AddrPortFrom(s.addr, 0))
			srcSA = append(srcSA, sa)
		}
		l := &eloop{r: r, epfd: -1, wakefd: -1, timerfd: -1, events: make([]unix.EpollEvent, 512),
			rbuf: make([]byte, rbufLen), h: newHists(), dst: dst, family: family, srcSA: srcSA}
		if sizeHint > 0 {
			l.conns = make([]econn, 0, sizeHint/loops+1)
		}
		e.loops = append(e.loops, l)
		r.hists = append(r.hists, l.h)
		if err := l.init(); err != nil {
			e.close()
			return nil, err
		}
	}
	return e, nil
}

func sockaddr(ap netip.AddrPort) (unix.Sockaddr, int) {
	a := ap.Addr().Unmap()
	if a.Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}, unix.AF_INET
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}, unix.AF_INET6
}

func (l *eloop) init() error {
	var err error
	if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return err
	}
	if l.wakefd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return err
	}
	if l.timerfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err != nil {
		return err
	}
	if err = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, l.wakefd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: evWake}); err != nil {
		return err
	}
	return unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, l.timerfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: evTimer})
}

// fds is how many descriptors the engine itself holds.
func (e *epollEngine) fds() int { return 3 * len(e.loops) }

func (e *epollEngine) close() {
	for _, l := range e.loops {
		for _, fd := range []int{l.epfd, l.wakefd, l.timerfd} {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
		l.epfd, l.wakefd, l.timerfd = -1, -1, -1
	}
}

// run runs the loops until r.stopping, then closes every connection.
func (e *epollEngine) run() {
	var wg sync.WaitGroup
	for _, l := range e.loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			l.loop()
		}()
	}
	wg.Wait()
	e.close()
}

func (e *epollEngine) wake() {
	one := [8]byte{1}
	for _, l := range e.loops {
		_, _ = unix.Write(l.wakefd, one[:])
	}
}

func (l *eloop) loop() {
	r := l.r
	if r.ping > 0 {
		l.nextSweep = r.now() + min(r.ping/4, int64(250*time.Millisecond))
	}
	for {
		now := r.now()
		if r.stopping.Load() {
			l.shutdown(now)
			return
		}
		l.expire(now)
		l.ramp(now)
		if r.ping > 0 && now >= l.nextSweep {
			l.sweepPings(now)
			l.nextSweep = now + max(min(r.ping/4, int64(250*time.Millisecond)), int64(time.Millisecond))
		}
		wait := l.nextWake(now)
		l.arm(now, wait)
		n, err := unix.EpollWait(l.epfd, l.events, int(idleWait/time.Millisecond))
		if err != nil && err != unix.EINTR {
			l.shutdown(r.now())
			return
		}
		now = r.now()
		for _, ev := range l.events[:max(n, 0)] {
			switch ev.Fd {
			case evWake:
				var b [8]byte
				_, _ = unix.Read(l.wakefd, b[:])
			case evTimer:
				var b [8]byte
				_, _ = unix.Read(l.timerfd, b[:])
				l.wakeAt = 0
			default:
				if int(ev.Fd) < len(l.conns) {
					if c := &l.conns[ev.Fd]; c.gen == ev.Pad && c.state != stFree {
						l.handle(ev.Fd, c, ev.Events, now)
					}
				}
			}
		}
	}
}

// nextWake is the nearest deadline of this loop: a planned start, a
// timeout, a ping sweep; 0 when none is nearer than idleWait.
func (l *eloop) nextWake(now int64) int64 {
	w := int64(0)
	consider := func(t int64) {
		if t > now && (w == 0 || t < w) {
			w = t
		}
	}
	if l.ticketOK {
		consider(l.ticketPlanned)
	}
	if l.head < len(l.pends) {
		consider(l.pends[l.head].deadline)
	}
	if l.r.ping > 0 {
		consider(l.nextSweep)
	}
	if until := l.r.pauseAll.Load(); until > now {
		consider(until)
	}
	for _, s := range l.r.srcs {
		if u := s.until.Load(); u > now {
			consider(u)
		}
	}
	if w != 0 && w-now >= int64(idleWait) {
		return 0
	}
	return w
}

// arm sets the timerfd to fire at t (ns since start); the timer has
// nanosecond resolution where epoll_wait's timeout has milliseconds.
func (l *eloop) arm(now, t int64) {
	if t == 0 || t == l.wakeAt {
		return
	}
	d := max(t-now, 1)
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(d)}
	if unix.TimerfdSettime(l.timerfd, 0, &spec, nil) == nil {
		l.wakeAt = t
	}
}

// ramp starts new connections while the concurrency limit, the rate and
// the sources allow.
func (l *eloop) ramp(now int64) {
	r := l.r
	for {
		if r.wallStop.Load() {
			break
		}
		if !l.ticketOK {
			// A ticket already taken is still started after the last one was handed out.
			if r.rampDone.Load() || !r.acquire() {
				return
			}
			planned, ok := r.ticket(now)
			if !ok {
				r.release()
				return
			}
			l.ticketOK, l.ticketPlanned = true, planned
		}
		if l.ticketPlanned > now {
			return
		}
		src, wait := r.pickSource(now)
		if wait > 0 {
			return // nextWake covers the pause
		}
		l.ticketOK = false
		if src == srcWall {
			r.release()
			r.wall()
			return
		}
		l.start(src, l.ticketPlanned, now)
		now = r.now()
	}
	if l.ticketOK {
		l.ticketOK = false
		r.release()
	}
}

// start opens one connection.
func (l *eloop) start(src int, planned, now int64) {
	r := l.r
	r.attempted.Add(1)
	fd, err := unix.Socket(l.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		r.release()
		r.fail(failure{phase: PhaseSocket, errno: errnoOf(err)}, src, now, "socket: "+err.Error())
		return
	}
	if src >= 0 {
		// Without IP_BIND_ADDRESS_NO_PORT, bind picks the port now, before the
		// destination is known, and reserves it for every destination.
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		if err := unix.Bind(fd, l.srcSA[src]); err != nil {
			unix.Close(fd)
			r.release()
			r.fail(failure{phase: PhaseBind, errno: errnoOf(err)}, src, now, "bind: "+err.Error())
			return
		}
	}
	if r.request != nil {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	err = unix.Connect(fd, l.dst)
	if err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		r.release()
		r.fail(failure{phase: PhaseConnect, errno: errnoOf(err)}, src, now, "connect: "+err.Error())
		return
	}
	slot := l.alloc()
	c := &l.conns[slot]
	*c = econn{fd: int32(fd), gen: l.gen, state: stConnecting, src: int16(src), planned: planned, t1: now}
	if e := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLOUT, Fd: slot, Pad: c.gen}); e != nil {
		l.drop(slot, c)
		r.release()
		r.fail(failure{phase: PhaseConnect, errno: errnoOf(e)}, src, now, "epoll_ctl: "+e.Error())
		return
	}
	l.pends = append(l.pends, pend{slot, c.gen, now + r.timeout})
	if err == nil {
		l.connected(slot, c, now)
	}
}

func (l *eloop) alloc() int32 {
	l.gen++
	if n := len(l.free); n > 0 {
		s := l.free[n-1]
		l.free = l.free[:n-1]
		return s
	}
	l.conns = append(l.conns, econn{})
	return int32(len(l.conns) - 1)
}

// drop closes the socket and frees the slot.
func (l *eloop) drop(slot int32, c *econn) {
	unix.Close(int(c.fd))
	*c = econn{}
	l.free = append(l.free, slot)
}

// expire fails the attempts whose timeout has passed.
func (l *eloop) expire(now int64) {
	for l.head < len(l.pends) && l.pends[l.head].deadline <= now {
		p := l.pends[l.head]
		l.head++
		c := &l.conns[p.slot]
		if c.gen != p.gen {
			continue
		}
		switch c.state {
		case stConnecting:
			l.failConn(p.slot, c, failure{phase: PhaseConnect, timeout: true}, now, "connect: timed out")
		case stHandshake, stBody:
			l.failConn(p.slot, c, failure{phase: PhaseHandshake, timeout: true}, now, "handshake: no answer in time")
		case stClosing:
			l.finishShort(p.slot, c)
		}
	}
	if l.head > 1024 && l.head*2 > len(l.pends) {
		n := copy(l.pends, l.pends[l.head:])
		l.pends, l.head = l.pends[:n], 0
	}
}

// failConn ends an attempt that has a socket.
func (l *eloop) failConn(slot int32, c *econn, f failure, now int64, text string) {
	src := int(c.src)
	l.drop(slot, c)
	l.r.release()
	l.r.fail(f, src, now, text)
}

func (l *eloop) handle(slot int32, c *econn, events uint32, now int64) {
	switch c.state {
	case stConnecting:
		errno, err := unix.GetsockoptInt(int(c.fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && errno != 0 {
			l.failConn(slot, c, failure{phase: PhaseConnect, errno: unix.Errno(errno)}, now, "connect: "+unix.Errno(errno).Error())
			return
		}
		if events&unix.EPOLLOUT != 0 {
			l.connected(slot, c, now)
		}
	case stHandshake, stBody:
		if events&unix.EPOLLOUT != 0 && c.x != nil && len(c.x.out) > 0 {
			if !l.flush(slot, c, now) {
				return
			}
		}
		if events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR|unix.EPOLLRDHUP) != 0 {
			l.readHandshake(slot, c, now)
		}
	case stOpen, stClosing:
		l.readOpen(slot, c, now)
	}
}

// connected: TCP is up.
func (l *eloop) connected(slot int32, c *econn, now int64) {
	r := l.r
	r.connected.Store(true)
	recordUS(l.h.connect, now-c.planned)
	c.t1 = now
	if r.request == nil {
		l.established(slot, c, now)
		return
	}
	c.state = stHandshake
	n, err := unix.Write(int(c.fd), r.request)
	if err != nil && err != unix.EAGAIN {
		l.failConn(slot, c, failure{phase: PhaseHandshake, errno: errnoOf(err)}, now, "write: "+err.Error())
		return
	}
	ev := uint32(unix.EPOLLIN | unix.EPOLLRDHUP)
	if n < len(r.request) {
		c.x = &connExt{out: append([]byte(nil), r.request[max(n, 0):]...)}
		ev |= unix.EPOLLOUT
	}
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, int(c.fd), &unix.EpollEvent{Events: ev, Fd: slot, Pad: c.gen})
}

// flush writes pending output; false when the connection was failed.
func (l *eloop) flush(slot int32, c *econn, now int64) bool {
	n, err := unix.Write(int(c.fd), c.x.out)
	if err != nil && err != unix.EAGAIN {
		l.failConn(slot, c, failure{phase: PhaseHandshake, errno: errnoOf(err)}, now, "write: "+err.Error())
		return false
	}
	c.x.out = c.x.out[max(n, 0):]
	if len(c.x.out) == 0 {
		c.x.out = nil
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, int(c.fd), &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: slot, Pad: c.gen})
	}
	return true
}

// read reads once; data aliases the loop's buffer or the connection's
// partial input. eof and err report how the stream ended.
func (l *eloop) read(c *econn) (data []byte, eof bool, errno unix.Errno) {
	n, err := unix.Read(int(c.fd), l.rbuf)
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return nil, false, 0
	case err != nil:
		return nil, false, errnoOf(err)
	case n == 0:
		return nil, true, 0
	}
	data = l.rbuf[:n]
	if c.x != nil && len(c.x.in) > 0 {
		c.x.in = append(c.x.in, data...)
		data = c.x.in
	}
	return data, false, 0
}

// keep saves unparsed input for the next read.
func (c *econn) keep(rest []byte) {
	if len(rest) == 0 {
		if c.x != nil {
			c.x.in = nil
		}
		return
	}
	if c.x == nil {
		c.x = &connExt{}
	}
	c.x.in = append(c.x.in[:0:0], rest...)
}

func (l *eloop) readHandshake(slot int32, c *econn, now int64) {
	r := l.r
	data, eof, errno := l.read(c)
	if errno != 0 {
		l.failConn(slot, c, failure{phase: PhaseHandshake, errno: errno}, now, "read: "+errno.Error())
		return
	}
	if c.state == stBody {
		if eof {
			if c.x.body.mode == bodyEOF {
				l.handshakeDone(slot, c, now, nil)
				return
			}
			l.failConn(slot, c, failure{phase: PhaseHandshake, eof: true}, now, "the server closed the connection before the end of its answer")
			return
		}
		done, err := c.x.body.feed(data)
		c.keep(nil)
		if err != nil {
			l.failConn(slot, c, failure{phase: PhaseHandshake, proto: err}, now, err.Error())
		} else if done {
			c.x.body = nil
			l.handshakeDone(slot, c, now, nil)
		}
		return
	}
	if eof {
		l.failConn(slot, c, failure{phase: PhaseHandshake, eof: true}, now, "the server closed the connection without answering")
		return
	}
	if data == nil {
		return
	}
	h, ok, err := parseHead(data)
	if err != nil {
		l.failConn(slot, c, failure{phase: PhaseHandshake, proto: err}, now, err.Error())
		return
	}
	if !ok {
		c.keep(data)
		return
	}
	rest := data[h.n:]
	switch r.proto {
	case target.WebSocket:
		if h.status != 101 {
			l.failConn(slot, c, failure{phase: PhaseHandshake, status: h.status}, now, "HTTP status "+itoa(h.status))
			return
		}
		if h.accept != r.key.accept {
			l.failConn(slot, c, failure{phase: PhaseHandshake, proto: errNoAccept}, now, errNoAccept.Error())
			return
		}
		l.handshakeDone(slot, c, now, rest)
	default:
		if h.status == 502 || h.status == 503 || h.status == 504 {
			l.failConn(slot, c, failure{phase: PhaseHandshake, status: h.status}, now, "HTTP status "+itoa(h.status))
			return
		}
		bd := newBody(h)
		done, err := bd.feed(rest)
		c.keep(nil)
		if err != nil {
			l.failConn(slot, c, failure{phase: PhaseHandshake, proto: err}, now, err.Error())
			return
		}
		if !done {
			if c.x == nil {
				c.x = &connExt{}
			}
			c.x.body, c.state = bd, stBody
			return
		}
		l.handshakeDone(slot, c, now, nil)
	}
}

// handshakeDone: the protocol answered; rest is what followed its head.
func (l *eloop) handshakeDone(slot int32, c *econn, now int64, rest []byte) {
	l.r.handshook.Store(true)
	recordUS(l.h.handshake, now-c.t1)
	c.keep(nil)
	if c.x != nil && c.x.out == nil && c.x.body == nil {
		c.x = nil
	}
	l.established(slot, c, now)
	if len(rest) > 0 && c.state == stOpen && c.gen != 0 {
		l.frames(slot, c, rest, now)
	}
}

// established counts a connection that made it; Short closes it now.
func (l *eloop) established(slot int32, c *econn, now int64) {
	r := l.r
	r.established.Add(1)
	if r.cfg.Mode == Short {
		if r.ws {
			// The closing handshake: the server answers and closes first, so
			// TIME_WAIT stays on its side, as with a well-behaved client.
			_, _ = unix.Write(int(c.fd), closeFrame(1000))
			c.state = stClosing
			_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, int(c.fd), &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: slot, Pad: c.gen})
			l.pends = append(l.pends, pend{slot, c.gen, now + r.timeout})
			return
		}
		l.finishShort(slot, c)
		return
	}
	r.release()
	r.addOpen()
	c.state, c.t1 = stOpen, now
	if r.ping > 0 {
		c.nextPing = now + r.ping
	}
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, int(c.fd), &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: slot, Pad: c.gen})
}

// finishShort closes a short connection: this side closes first.
func (l *eloop) finishShort(slot int32, c *econn) {
	l.drop(slot, c)
	l.r.release()
}

func (l *eloop) readOpen(slot int32, c *econn, now int64) {
	data, eof, errno := l.read(c)
	switch {
	case errno != 0:
		l.died(slot, c, now, errno == unix.ECONNRESET)
		return
	case eof:
		l.died(slot, c, now, false)
		return
	case data == nil:
		return
	}
	if !l.r.ws {
		c.keep(nil) // a plain or HTTP target: whatever the server sends is not ours to read
		return
	}
	l.frames(slot, c, data, now)
}

// frames handles the server's WebSocket frames.
func (l *eloop) frames(slot int32, c *econn, data []byte, now int64) {
	if c.x == nil {
		c.x = &connExt{}
	}
	for len(data) > 0 {
		op, payload, n, err := c.x.ws.next(data)
		if err != nil {
			l.died(slot, c, now, false)
			return
		}
		if n == 0 {
			break
		}
		data = data[n:]
		switch op {
		case opPing:
			_, _ = unix.Write(int(c.fd), clientFrame(nil, opPong, payload))
		case opPong:
			l.r.pongs.Add(1)
		case opClose:
			code := closeCode(payload)
			if c.state == stClosing {
				l.finishShort(slot, c)
				return
			}
			_, _ = unix.Write(int(c.fd), closeFrame(code))
			l.deathCode(slot, c, now, code, false)
			return
		}
	}
	c.keep(data)
	if c.x != nil && len(c.x.in) == 0 && c.x.ws.skip == 0 && c.x.out == nil {
		c.x = nil
	}
}

// died: a held connection ended without a close frame.
func (l *eloop) died(slot int32, c *econn, now int64, reset bool) {
	if c.state == stClosing {
		l.finishShort(slot, c)
		return
	}
	code := 0
	if l.r.ws {
		code = 1006
	}
	l.deathCode(slot, c, now, code, reset)
}

func (l *eloop) deathCode(slot int32, c *econn, now int64, code int, reset bool) {
	d := Death{Opened: time.Duration(c.t1), Age: time.Duration(now - c.t1), Code: code, Reset: reset}
	src := int(c.src)
	l.drop(slot, c)
	l.r.death(d, src)
}

// sweepPings sends the pings that are due.
func (l *eloop) sweepPings(now int64) {
	if !l.r.ws {
		return
	}
	ping := clientFrame(nil, opPing, []byte("conndiag"))
	for i := range l.conns {
		c := &l.conns[i]
		if c.state == stOpen && c.nextPing <= now {
			if _, err := unix.Write(int(c.fd), ping); err == nil {
				l.r.pings.Add(1)
			}
			c.nextPing = now + l.r.ping
		}
	}
}

// shutdown closes every connection; held WebSockets get a close frame
// first (1001 "going away" when interrupted, else 1000).
func (l *eloop) shutdown(now int64) {
	code := 1000
	if l.r.ctx.Err() != nil {
		code = 1001
	}
	frame := closeFrame(code)
	for i := range l.conns {
		c := &l.conns[i]
		switch c.state {
		case stFree:
			continue
		case stOpen:
			if l.r.ws {
				_, _ = unix.Write(int(c.fd), frame)
			}
			l.r.open.Add(-1)
		default:
			l.r.release()
		}
		l.drop(int32(i), c)
	}
	if l.ticketOK {
		l.ticketOK = false
		l.r.release()
	}
	_ = now
}

// newEngine picks the epoll engine for plain targets, the goroutine engine for TLS.
func newEngine(r *run, sizeHint int) (engine, error) {
	if r.cfg.Target.TLS() || r.cfg.netEngine {
		return newNetEngine(r), nil
	}
	return newEpollEngine(r, r.cfg.Loops, sizeHint)
}

// EpollEngine reports whether plain targets run on event loops here.
const EpollEngine = true
