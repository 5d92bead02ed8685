package diagnose

import (
	"cmp"
	"container/list"
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conndiag/conndiag/internal/cdn"
	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

// Share holds what a run of many targets learns once per host and hands to
// that host's other targets: the probe ports' answers (liveness and the
// round trip that sizes the wait for a silent port), whether the address is
// this machine's own, the route and next hop, the neighbour state of the next
// hop, and a name's DNS answers. A thousand ports of one host then cost a
// thousand SYNs, not four thousand, and one route lookup.
//
// What is shared is measured under the Share's own context (the run's), not
// under the target that asked first, so a target that finishes at once does
// not cut short what the next ones wait for. Entries are kept in bounded
// least-recently-used tables (memory follows the run's width, not the number
// of targets) and are measured afresh after ShareTTL.
//
// A nil *Share shares nothing: every diagnosis probes for itself.
type Share struct {
	ctx context.Context
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	hosts *lru[netip.Addr, *hostShare]
	names *lru[string, *nameShare]
	neigh *lru[neighKey, *neighShare]

	cdnOnce   sync.Once
	cdnUser   *cdn.List
	cdnMerged *cdn.List
	cdnErr    error

	// What was measured, for tests and the bench: probe-port groups started,
	// route/locality reads, name lookups.
	groups, factReads, lookups, controls atomic.Int64
}

// ShareTTL is how long a host's or a name's measurements are reused.
const ShareTTL = 30 * time.Second

// neighFresh is how long a neighbour state read is reused: the wait loop of
// every silent target reads it every 250 ms.
const neighFresh = 100 * time.Millisecond

// NewShare makes a Share whose measurements run under ctx (they stop when it
// ends) and which keeps at most capacity hosts and as many names.
func NewShare(ctx context.Context, capacity int) *Share {
	capacity = max(capacity, 16)
	return &Share{ctx: ctx, ttl: ShareTTL, now: time.Now,
		hosts: newLRU[netip.Addr, *hostShare](capacity),
		names: newLRU[string, *nameShare](capacity),
		neigh: newLRU[neighKey, *neighShare](capacity)}
}

// hostShare is what is known of one address.
type hostShare struct {
	born time.Time

	factsOnce sync.Once
	local     bool
	route     *host.Route
	routeErr  string

	group *probeGroup // guarded by Share.mu; nil until a target starts it

	// The control connects of the host (confirm): at most one in flight.
	ctlMu   sync.Mutex
	ctlCur  *control  // in flight
	ctlNext *control  // asked for while ctlCur was already out: sent when it ends
	ctlLast time.Time // when the last control went out
}

// refreshAfter: a host whose answering port was last measured longer ago
// gets a control when one of its targets starts, so the round trip that
// sizes the wait for its silent ports follows the run (see remeasured).
const refreshAfter = 250 * time.Millisecond

// control is one connect to an answering probe port, sent to prove that the
// host, and this process, still hear answers after a target's wait ran out.
type control struct {
	done chan time.Time // closed (never sent on) when it ended, answered or not
}

func (s *Share) host(a netip.Addr) *hostShare {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.hosts.get(a); ok && now.Sub(h.born) < s.ttl {
		return h
	}
	h := &hostShare{born: now}
	s.hosts.put(a, h)
	return h
}

// facts fills what this machine knows of reaching a: whether it is local,
// the route and the next hop. Read once per host when shared.
func (s *Share) facts(a netip.Addr, ev *verdict.AddrEvidence) {
	if s == nil {
		readFacts(a, ev)
		return
	}
	h := s.host(a)
	h.factsOnce.Do(func() {
		s.factReads.Add(1)
		var e verdict.AddrEvidence
		readFacts(a, &e)
		h.local, h.route, h.routeErr = e.Local, e.Route, e.RouteErr
	})
	ev.Local, ev.RouteErr = h.local, h.routeErr
	if h.route != nil {
		r := *h.route
		ev.Route = &r
		ev.NextHop = r.NextHop(a)
	}
}

func readFacts(a netip.Addr, ev *verdict.AddrEvidence) {
	ev.Local, _ = isLocal(a)
	if r, err := routeTo(a); err != nil {
		if !errors.Is(err, host.ErrUnsupported) { // listed as not checked, not an error
			ev.RouteErr = err.Error()
		}
	} else {
		ev.Route = &r
		ev.NextHop = r.NextHop(a)
	}
}

// portAnswer is one probe port's answer.
type portAnswer struct {
	r   neterr.Result
	lim *verdict.Limit // read at once when the socket could not be made
}

// probeGroup is the probe ports of one host, connected to once for all its targets.
type probeGroup struct {
	ports []uint16
	start time.Time

	mu      sync.Mutex
	got     []portAnswer
	changed chan struct{} // closed and replaced at each answer
	done    bool
	noFile  bool // a socket could not be made: the next target measures afresh
}

// probePorts connects to the probe ports of ap's host (all but ap's own port
// and 0) and calls deliver once for each, from other goroutines; it returns
// how many deliver calls will come. Shared, the connects are made once per
// host and replayed to every target; a target that ends before a port
// answered gets it as timed out (runCtx's deadline) or cancelled.
func (s *Share) probePorts(runCtx context.Context, ap netip.AddrPort, opt Options, deliver func(neterr.Result, *verdict.Limit)) int {
	var g *probeGroup
	if s != nil {
		g = s.probeGroup(ap.Addr(), opt)
	}
	if g == nil {
		n := 0
		for _, p := range opt.ProbePorts {
			if p == ap.Port() || p == 0 {
				continue
			}
			n++
			go func() {
				a := connectProbe(runCtx, netip.AddrPortFrom(ap.Addr(), p))
				deliver(a.r, a.lim)
			}()
		}
		return n
	}
	want := map[uint16]bool{}
	for _, p := range g.ports {
		if p != ap.Port() {
			want[p] = true
		}
	}
	if len(want) == 0 {
		return 0
	}
	n := len(want)
	start := time.Now()
	s.silence(ap.Addr(), opt).refresh(g.start)
	go func() {
		seen := 0
		for len(want) > 0 {
			g.mu.Lock()
			// The quickest answer first, as when the ports are probed
			// beside the target: the first that proves the host up sizes
			// the wait (a control may have measured a port again since).
			got, changed := slices.Clone(g.got[seen:]), g.changed
			seen = len(g.got)
			g.mu.Unlock()
			slices.SortStableFunc(got, func(a, b portAnswer) int { return cmp.Compare(a.r.Duration, b.r.Duration) })
			for _, a := range got {
				if p := a.r.Addr.Port(); want[p] {
					delete(want, p)
					deliver(a.r, a.lim)
				}
			}
			if len(want) == 0 {
				return
			}
			select {
			case <-changed:
			case <-runCtx.Done():
				kind := neterr.Canceled
				if runCtx.Err() == context.DeadlineExceeded {
					kind = neterr.Timeout
				}
				for p := range want {
					deliver(neterr.Result{Addr: netip.AddrPortFrom(ap.Addr(), p), Kind: kind, Duration: time.Since(start)}, nil)
				}
				return
			}
		}
	}()
	return n
}

func connectProbe(ctx context.Context, ap netip.AddrPort) portAnswer {
	r, conn := neterr.Dialer{}.Connect(ctx, ap)
	if conn != nil {
		conn.Close()
	}
	a := portAnswer{r: r}
	if r.Kind == neterr.TooManyFiles {
		a.lim = noFileNow()
	}
	return a
}

// probeGroup returns the host's probe group, starting it when there is none
// yet (or the last one hit conndiag's own descriptor limit). It returns nil
// when the group cannot take its descriptors from the budget without
// waiting: the target then probes for itself, under its own reservation.
func (s *Share) probeGroup(a netip.Addr, opt Options) *probeGroup {
	var ports []uint16
	for _, p := range opt.ProbePorts {
		if p != 0 && !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	if len(ports) == 0 {
		return nil
	}
	h := s.host(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := h.group; g != nil && slices.Equal(g.ports, ports) {
		g.mu.Lock()
		stale := g.done && g.noFile
		g.mu.Unlock()
		if !stale {
			return g
		}
	}
	w := int64(fdsPerConnect * len(ports))
	fds.init()
	if !fds.sem.TryAcquire(w) {
		return nil
	}
	s.groups.Add(1)
	g := &probeGroup{ports: ports, start: time.Now(), changed: make(chan struct{})}
	h.group = g
	ctx, cancel := context.WithTimeout(s.ctx, opt.Timeout)
	var wg sync.WaitGroup
	for _, p := range ports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ans := connectProbe(ctx, netip.AddrPortFrom(a, p))
			g.mu.Lock()
			g.got = append(g.got, ans)
			g.noFile = g.noFile || ans.r.Kind == neterr.TooManyFiles
			close(g.changed)
			g.changed = make(chan struct{})
			g.mu.Unlock()
		}()
	}
	go func() {
		wg.Wait()
		cancel()
		fds.sem.Release(w)
		g.mu.Lock()
		g.done = true
		g.mu.Unlock()
	}()
	return g
}

// neighKey names a next hop on an interface.
type neighKey struct {
	addr  netip.Addr
	iface string
}

type neighShare struct {
	mu    sync.Mutex
	at    time.Time
	state string
	err   error
}

// neighState reads the neighbour state of a next hop; shared, a read younger
// than neighFresh is reused by every target behind that next hop.
func (s *Share) neighState(a netip.Addr, iface string) (string, error) {
	if s == nil {
		return host.NeighState(a, iface)
	}
	k := neighKey{a, iface}
	s.mu.Lock()
	n, ok := s.neigh.get(k)
	if !ok {
		n = &neighShare{}
		s.neigh.put(k, n)
	}
	s.mu.Unlock()
	n.mu.Lock()
	defer n.mu.Unlock()
	if now := s.now(); n.at.IsZero() || now.Sub(n.at) >= neighFresh {
		n.state, n.err = host.NeighState(a, iface)
		n.at = now
	}
	return n.state, n.err
}

// nameShare is one name's DNS answers.
type nameShare struct {
	born    time.Time
	ready   chan struct{} // closed once dns is set
	dns     verdict.DNS
	sources *dnsSources
}

// lookup resolves t's name and starts asking its other DNS sources (see
// askSources) under ctx. Shared, a name is looked up once for all its
// targets, under the Share's context and the --timeout deadline.
func (s *Share) lookup(ctx context.Context, t target.Target, literal bool, opt Options) (*dnsSources, verdict.DNS) {
	if s == nil || literal {
		sources := askSources(ctx, t, literal, opt)
		return sources, resolve(ctx, t.Host, opt)
	}
	key := strings.ToLower(strings.TrimSuffix(t.Host, "."))
	now := s.now()
	s.mu.Lock()
	n, ok := s.names.get(key)
	if !ok || now.Sub(n.born) >= s.ttl {
		n = &nameShare{born: now, ready: make(chan struct{})}
		s.names.put(key, n)
		ok = false
	}
	s.mu.Unlock()
	if !ok {
		s.lookups.Add(1)
		dctx, cancel := context.WithTimeout(s.ctx, opt.Timeout)
		n.sources = askSources(dctx, t, false, opt)
		go func() {
			n.dns = resolve(dctx, t.Host, opt)
			close(n.ready)
			<-n.sources.done
			cancel()
		}()
	}
	select {
	case <-n.ready:
		d := n.dns
		d.Addresses = slices.Clone(d.Addresses)
		return n.sources, d
	case <-ctx.Done():
		none := &dnsSources{done: make(chan struct{})}
		close(none.done)
		return none, verdict.DNS{Err: ctx.Err().Error()}
	}
}

// lru is a bounded table that forgets the least recently used entry.
type lru[K comparable, V any] struct {
	capacity int
	ll       *list.List
	m        map[K]*list.Element
}

type lruItem[K comparable, V any] struct {
	k K
	v V
}

func newLRU[K comparable, V any](capacity int) *lru[K, V] {
	return &lru[K, V]{capacity: max(capacity, 1), ll: list.New(), m: map[K]*list.Element{}}
}

func (c *lru[K, V]) get(k K) (V, bool) {
	if e, ok := c.m[k]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*lruItem[K, V]).v, true
	}
	var zero V
	return zero, false
}

func (c *lru[K, V]) put(k K, v V) {
	if e, ok := c.m[k]; ok {
		e.Value.(*lruItem[K, V]).v = v
		c.ll.MoveToFront(e)
		return
	}
	c.m[k] = c.ll.PushFront(&lruItem[K, V]{k, v})
	for c.ll.Len() > c.capacity {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.m, last.Value.(*lruItem[K, V]).k)
	}
}

func (c *lru[K, V]) len() int { return c.ll.Len() }

// silence judges a silent target port of one host in a shared run. Its
// round trip came from the host's shared probes, measured before this
// target's SYNs went out and not beside them: when the run is wide or the
// machine busy, an answer to this target may sit unread past the wait. So
// once the wait runs out, controlRounds control connects to an answering
// probe port, each sent after the one before came back, the first after
// that moment, must come back first: an answer to the target that arrived
// before them has then been read (the first control's answer may be read
// in the same wake-up as a late answer to the target, the second's cannot).
// Controls are shared too: one in flight per host serves every target whose
// wait ran out before it was sent.
type silence struct {
	s       *Share
	h       *hostShare
	a       netip.Addr
	timeout time.Duration
	asked   int // control rounds waited for
}

// controlRounds is how many controls a silent port waits for.
const controlRounds = 3

// controlGap spaces a host's controls, so that the targets whose waits run
// out within it share one: a few dozen controls for hundreds of silent ports.
const controlGap = 20 * time.Millisecond

// silence returns the judge of a's silent ports; nil (no control, the wait
// alone decides) when nothing is shared.
func (s *Share) silence(a netip.Addr, opt Options) *silence {
	if s == nil {
		return nil
	}
	return &silence{s: s, h: s.host(a), a: a, timeout: opt.Timeout}
}

// confirm is called when the wait for a silent port ran out. It returns a
// channel to wait on before giving up (closed once a control sent after
// now has ended), or nil when the target may be given up now: nothing is
// shared, the control already came back, or the host has no answering
// probe port to send it to.
func (c *silence) refresh(groupStart time.Time) {
	port, ok := c.h.answeringPort(c.s)
	if !ok {
		return
	}
	h := c.h
	h.ctlMu.Lock()
	defer h.ctlMu.Unlock()
	if h.ctlCur == nil && time.Since(groupStart) > refreshAfter && time.Since(h.ctlLast) > refreshAfter {
		h.ctlCur = &control{done: make(chan time.Time)}
		c.send(h.ctlCur, port)
	}
}

func (c *silence) confirm() <-chan time.Time {
	if c == nil || c.asked >= controlRounds {
		return nil
	}
	port, ok := c.h.answeringPort(c.s)
	if !ok {
		return nil
	}
	c.asked++
	h := c.h
	h.ctlMu.Lock()
	defer h.ctlMu.Unlock()
	if h.ctlCur == nil {
		h.ctlCur = &control{done: make(chan time.Time)}
		c.send(h.ctlCur, port)
		return h.ctlCur.done
	}
	if h.ctlNext == nil {
		h.ctlNext = &control{done: make(chan time.Time)}
	}
	return h.ctlNext.done
}

// send connects to port for ctl, no sooner than controlGap after the
// host's last control; when it ends, the next control asked for meanwhile
// goes out. Called with ctlMu held.
func (c *silence) send(ctl *control, port uint16) {
	c.s.controls.Add(1)
	h := c.h
	wait := controlGap - time.Since(h.ctlLast)
	h.ctlLast = time.Now().Add(max(wait, 0))
	go func() {
		if wait > 0 {
			time.Sleep(wait)
		}
		ctx, cancel := context.WithTimeout(c.s.ctx, c.timeout)
		ans := connectProbe(ctx, netip.AddrPortFrom(c.a, port))
		cancel()
		h.remeasured(c.s, ans)
		h.ctlMu.Lock()
		h.ctlCur = h.ctlNext
		h.ctlNext = nil
		if h.ctlCur != nil {
			c.send(h.ctlCur, port)
		}
		h.ctlMu.Unlock()
		close(ctl.done)
	}()
}

// answeringPort is the lowest probe port of the host's group that answered
// (SYN-ACK or RST).
func (h *hostShare) answeringPort(s *Share) (uint16, bool) {
	s.mu.Lock()
	g := h.group
	s.mu.Unlock()
	if g == nil {
		return 0, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var best uint16
	for _, a := range g.got {
		if (a.r.Kind == neterr.OK || a.r.Kind == neterr.Refused) && (best == 0 || a.r.Addr.Port() < best) {
			best = a.r.Addr.Port()
		}
	}
	return best, best != 0
}

// remeasured keeps a control's answer as its port's measurement when it
// came back quicker: the group's probes ran when the run started, the
// busiest moment, and their round trip sizes every later target's wait.
func (h *hostShare) remeasured(s *Share, ans portAnswer) {
	if ans.r.Kind != neterr.OK && ans.r.Kind != neterr.Refused {
		return
	}
	s.mu.Lock()
	g := h.group
	s.mu.Unlock()
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, a := range g.got {
		if a.r.Addr.Port() == ans.r.Addr.Port() && ans.r.Duration < a.r.Duration {
			g.got[i] = ans
		}
	}
}

// cdnList is the built-in CDN ranges merged with the user's: merged once per
// run when shared (a merge copies every range, and a run has many targets).
func (s *Share) cdnList(user *cdn.List) (*cdn.List, error) {
	if s == nil {
		return cdn.Merge(user)
	}
	s.cdnOnce.Do(func() {
		s.cdnUser = user
		s.cdnMerged, s.cdnErr = cdn.Merge(user)
	})
	if user != s.cdnUser {
		return cdn.Merge(user) // another list than the run's: not shared
	}
	return s.cdnMerged, s.cdnErr
}
