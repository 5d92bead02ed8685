package diagnose

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/verdict"
)

// DefaultTraceHops is how far a trace looks.
const DefaultTraceHops = 16

const (
	// traceMaxWait is the longest a silent SYN of a trace is given (and
	// never more than --timeout): the kernel would retransmit it at 1 s.
	traceMaxWait = time.Second
	// traceSpacing paces the SYNs of a trace in TTL order. Every hop gets at
	// most two SYNs whose TTL ends there, one per trace, far below the burst
	// of six ICMP errors a Linux router sends toward one host before it
	// rate-limits them to one a second; but a box that rejects gets every
	// SYN past it, and paced in order, the ones that tell where it sits
	// (the lowest TTLs) draw its first answers.
	traceSpacing = 200 * time.Microsecond
	// traceNameWait bounds each reverse lookup of a hop's address: a name
	// is shown only when it resolves quickly.
	traceNameWait = 250 * time.Millisecond
	// traceNameGrace is the longest the lookups still running are waited
	// for once the trace is over, and traceNameMin the shortest: names
	// never hold a diagnosis back longer than the trace itself took (a
	// trace beside a silent port's wait gives them that wait; a rejection
	// settled in 2 ms gives them 5 ms, which a local or LAN resolver meets).
	traceNameGrace = 30 * time.Millisecond
	traceNameMin   = 5 * time.Millisecond
	// maxNameLookups bounds the reverse lookups of one trace in flight.
	maxNameLookups = 4
)

// tracing is a trace in flight; wait returns its path once, after which
// every socket it opened is closed.
type tracing struct {
	cancel context.CancelFunc
	done   chan struct{}
	path   *verdict.Path
}

func (tr *tracing) wait() *verdict.Path {
	<-tr.done
	return tr.path
}

// stop ends the trace early and waits for its sockets to close.
func (tr *tracing) stop() {
	tr.cancel()
	<-tr.done
}

// startTrace traces dst in the background: SYNs with TTL 1 … TraceHops
// toward the target port and, when ref is not 0, toward that port of the
// same host (one that answered), all sent at once. rtt is a round trip
// already measured to the host (0: none), which sizes the wait for silent
// SYNs as it does for a silent port.
func startTrace(ctx context.Context, dst netip.AddrPort, ref uint16, rtt time.Duration, opt Options) *tracing {
	ctx, cancel := context.WithCancel(ctx)
	tr := &tracing{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		defer cancel()
		tr.path = trace(ctx, dst, ref, rtt, opt)
	}()
	return tr
}

// traceRoom is the longest a trace may wait for silent SYNs: traceMaxWait,
// never more than --timeout, and under a deadline (serve's scrape timeout)
// at most half the time left, so the diagnosis still ends within it.
func traceRoom(ctx context.Context, opt Options) time.Duration {
	limit := min(opt.Timeout, traceMaxWait)
	if dl, ok := ctx.Deadline(); ok {
		limit = min(limit, time.Until(dl)/2)
	}
	return max(0, limit)
}

// traceGiveUp is how long the silent SYNs of a trace are waited for once
// the answers so far took at most maxRTT: ten times the farthest answer
// (and the host's measured round trip), at least minWait, at most limit.
func traceGiveUp(maxRTT, minWait, limit time.Duration) time.Duration {
	return min(limit, max(minWait, 10*maxRTT))
}

// trace sends the SYNs of both traces at once and reads who answered each
// (a router's time exceeded, the host's SYN-ACK or RST, another ICMP error,
// or nothing). Unprivileged: it uses IP_TTL and the socket error queue, not
// raw sockets. It ends when both traces are settled (the host or an error
// answered, and every lower TTL too), or when the silent SYNs have had
// their wait: a path of any length costs about one wait.
func trace(ctx context.Context, dst netip.AddrPort, ref uint16, rtt time.Duration, opt Options) *verdict.Path {
	hops := opt.TraceHops
	limit := traceRoom(ctx, opt)
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	type answer struct {
		ref bool
		hop verdict.Hop
	}
	ch := make(chan answer, 2*hops)
	// The SYNs go out from their own goroutine while the answers are read:
	// a path settled at hop 3 (a rejection, the host) stops the sending
	// there, instead of waiting for all TraceHops paced SYNs to leave.
	var sent atomic.Int32
	sending := make(chan struct{})
	send := func(ap netip.AddrPort, isRef bool, ttl int) <-chan struct{} {
		sent.Add(1)
		out := make(chan struct{})
		go func() {
			d := neterr.Dialer{Source: opt.Source, TTL: ttl, Sent: func() { close(out) }}
			r, conn := d.Connect(pctx, ap)
			if conn != nil {
				conn.Close()
			}
			ch <- answer{isRef, hopOf(ttl, r, ap.Addr())}
		}()
		return out
	}
	refAP := netip.AddrPortFrom(dst.Addr(), ref)
	go func() {
		defer close(sending)
		pace := time.NewTimer(0)
		defer pace.Stop()
		for ttl := 1; ttl <= hops; ttl++ {
			select {
			case <-pctx.Done():
				return
			case <-pace.C:
			}
			out := send(dst, false, ttl)
			if ref != 0 {
				// The target port's SYN leaves first: a router that
				// rate-limits its ICMP errors toward this host (after a
				// burst of checks) then answers it before the other
				// port's, and a target hop that is silent while the
				// other port's answered means a drop, not a spent
				// limit. Its SYN is on the wire when made closes;
				// the other port's socket is made after that.
				select {
				case <-out:
				case <-pctx.Done():
					return
				}
				send(refAP, true, ttl)
			}
			pace.Reset(traceSpacing)
		}
	}()

	tgt := make([]*verdict.Hop, hops+1)
	refs := make([]*verdict.Hop, hops+1)
	names := newNamer(ctx, opt)
	maxRTT := rtt
	giveUp := time.NewTimer(traceGiveUp(maxRTT, opt.MinWait, limit) - time.Since(start))
	defer giveUp.Stop()
	// The hops' names are asked once every SYN is out: a lookup's packets
	// can draw an ICMP error from a router of the path (a resolver it has no
	// route to) and spend the burst the router allows toward this host
	// before a trace SYN gets its answer.
	var toName []netip.Addr
	for got, more := 0, sending; more != nil || got < int(sent.Load()); {
		select {
		case <-more:
			more = nil // every SYN that will go out is counted
			for _, a := range toName {
				names.ask(a)
			}
			toName = nil
		case a := <-ch:
			got++
			h := a.hop
			if a.ref {
				refs[h.TTL] = &h
			} else {
				tgt[h.TTL] = &h
			}
			if !h.Answered() {
				continue
			}
			if more != nil {
				toName = append(toName, h.From)
			} else {
				names.ask(h.From)
			}
			if h.RTT > maxRTT {
				maxRTT = h.RTT
				giveUp.Reset(max(0, traceGiveUp(maxRTT, opt.MinWait, limit)-time.Since(start)))
			}
			if settled(tgt) && (ref == 0 || settled(refs)) {
				cancel() // what is still out would only say what is known
			}
		case <-giveUp.C:
			cancel()
		}
	}
	p := &verdict.Path{Dst: dst, Max: hops, Wait: min(limit, traceGiveUp(maxRTT, opt.MinWait, limit))}
	p.Hops = trimHops(flatten(tgt))
	if ref != 0 {
		p.RefPort = ref
		p.Ref = trimHops(flatten(refs))
	}
	names.wait(time.Now().Add(nameGrace(time.Since(start))))
	names.fill(p.Hops)
	names.fill(p.Ref)
	return p
}

// nameGrace is the wait for the hops' names after a trace that lasted took.
func nameGrace(took time.Duration) time.Duration {
	return min(traceNameGrace, max(traceNameMin, took))
}

// settled: some hop settled the trace (the host or an ICMP error answered)
// and every lower TTL has answered.
func settled(hs []*verdict.Hop) bool {
	for _, h := range hs[1:] {
		switch {
		case h == nil || !h.Answered():
			return false
		case h.Kind == verdict.HopReached || h.Kind == verdict.HopError:
			return true
		}
	}
	return false
}

func flatten(hs []*verdict.Hop) []verdict.Hop {
	out := make([]verdict.Hop, 0, len(hs))
	for ttl, h := range hs[1:] {
		if h == nil {
			out = append(out, verdict.Hop{TTL: ttl + 1, Kind: verdict.HopSilent})
			continue
		}
		out = append(out, *h)
	}
	return out
}

func hopOf(ttl int, r neterr.Result, dst netip.Addr) verdict.Hop {
	h := verdict.Hop{TTL: ttl, RTT: r.Duration}
	switch {
	case r.Kind == neterr.OK:
		h.Kind, h.From, h.Open = verdict.HopReached, dst, true
	case r.Kind == neterr.Refused && (r.ICMP == nil || r.ICMP.Origin == 0):
		h.Kind, h.From = verdict.HopReached, dst
	case r.ICMP != nil && r.ICMP.TimeExceeded():
		h.Kind, h.From, h.ICMP = verdict.HopRouter, r.ICMP.From, r.ICMP
	case r.ICMP != nil && r.ICMP.Origin != 0:
		h.Kind, h.From, h.ICMP = verdict.HopError, r.ICMP.From, r.ICMP
	default:
		h.Kind, h.RTT = verdict.HopSilent, 0
	}
	return h
}

// trimHops ends the path at the first hop that settles it, and drops the
// run of silent hops at its end but one.
func trimHops(hops []verdict.Hop) []verdict.Hop {
	for i, h := range hops {
		if h.Kind == verdict.HopReached || h.Kind == verdict.HopError {
			return hops[:i+1]
		}
	}
	last := -1
	for i, h := range hops {
		if h.Kind != verdict.HopSilent {
			last = i
		}
	}
	if last+2 < len(hops) {
		return hops[:last+2]
	}
	return hops
}

// namer looks up the reverse names of the hops that answered, a few at a
// time, each for at most traceNameWait.
type namer struct {
	ctx     context.Context
	cancel  func()
	res     *net.Resolver
	conns   []net.Conn // the lookups' sockets, closed by cancel
	stopped bool
	opt     Options
	sem     chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	names   map[netip.Addr]string
	asked   map[netip.Addr]bool
}

func newNamer(ctx context.Context, opt Options) *namer {
	ctx, cancel := context.WithCancel(ctx)
	n := &namer{ctx: ctx, opt: opt, sem: make(chan struct{}, maxNameLookups), names: map[netip.Addr]string{}, asked: map[netip.Addr]bool{}}
	// The Go resolver watches only a deadline while it reads an answer, not
	// a cancel: the namer keeps the lookups' sockets, to close them when it
	// stops waiting.
	base := opt.Resolver
	n.res = &net.Resolver{PreferGo: true, StrictErrors: base.StrictErrors,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			var c net.Conn
			var err error
			if base.Dial != nil {
				c, err = base.Dial(ctx, network, address)
			} else {
				var d net.Dialer
				c, err = d.DialContext(ctx, network, address)
			}
			if err != nil {
				return nil, err
			}
			n.mu.Lock()
			defer n.mu.Unlock()
			if n.stopped {
				c.Close()
				return nil, context.Canceled
			}
			n.conns = append(n.conns, c)
			return c, nil
		}}
	n.cancel = func() {
		cancel()
		n.mu.Lock()
		defer n.mu.Unlock()
		n.stopped = true
		for _, c := range n.conns {
			c.Close()
		}
		n.conns = nil
	}
	return n
}

// wait gives the lookups until deadline (each ends within traceNameWait of
// its start anyway), then ends those still running and waits for them, so
// that no socket of theirs outlives the trace.
func (n *namer) wait(deadline time.Time) {
	all := make(chan struct{})
	go func() {
		n.wg.Wait()
		close(all)
	}()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-all:
	case <-t.C:
	}
	n.cancel()
	<-all
}

func (n *namer) ask(a netip.Addr) {
	if !a.IsValid() || n.asked[a] || n.opt.NoHopNames {
		return
	}
	n.asked[a] = true
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(n.ctx, traceNameWait)
		defer cancel()
		select {
		case n.sem <- struct{}{}:
			defer func() { <-n.sem }()
		case <-ctx.Done():
			return
		}
		names, err := n.res.LookupAddr(ctx, a.String())
		if err != nil || len(names) == 0 {
			return
		}
		name := strings.TrimSuffix(names[0], ".")
		if len(name) > 253 {
			name = name[:253]
		}
		n.mu.Lock()
		n.names[a] = name
		n.mu.Unlock()
	}()
}

// fill writes the names found into hs (after wait).
func (n *namer) fill(hs []verdict.Hop) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range hs {
		hs[i].Name = n.names[hs[i].From]
	}
}
