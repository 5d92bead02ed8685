package diagnose

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/verdict"
)

// Swappable for tests of this package; the real ones read the kernel.
var (
	isLocal = host.IsLocal
	routeTo = host.RouteTo
)

// neighCheckAfter: the kernel sends one ARP/NDP probe a second; a next hop
// still unresolved after the first one went unanswered is not on the link.
const neighCheckAfter = 1100 * time.Millisecond

// probeAddr connects to one address of the target while it probes other ports
// of the same address, so that a silent port is judged against the host's
// measured round trip instead of the full timeout.
//
// The connection that settles the verdict is returned open, so the protocol
// step can speak on it without a second connect; the caller closes it.
func probeAddr(ctx context.Context, ap netip.AddrPort, opt Options) (verdict.AddrEvidence, net.Conn) {
	ev := verdict.AddrEvidence{Addr: ap, Timeout: opt.Timeout}
	start := opt.Now()

	facts := make(chan struct{})
	go func() {
		defer close(facts)
		ev.Local, _ = isLocal(ap.Addr())
		if r, err := routeTo(ap.Addr()); err != nil {
			if !errors.Is(err, host.ErrUnsupported) { // listed as not checked, not an error
				ev.RouteErr = err.Error()
			}
		} else {
			ev.Route = &r
			ev.NextHop = r.NextHop(ap.Addr())
		}
	}()

	dialer := neterr.Dialer{Source: opt.Source}
	runCtx, cancelRun := context.WithTimeout(ctx, opt.Timeout)
	defer cancelRun()

	type attempt struct {
		r    neterr.Result
		conn net.Conn
		lim  *verdict.Limit // read at once when the socket could not be made
	}
	// ownLimit is conndiag's own EMFILE on a SYN or probe port: a silence is
	// then not evidence about the target.
	var ownLimit *attempt
	mainCh := make(chan attempt, 4)
	pending := 0
	launch := func() {
		pending++
		ev.SYNs++
		go func() {
			r, conn := dialer.Connect(runCtx, ap)
			at := attempt{r: r, conn: conn}
			if r.Kind == neterr.TooManyFiles {
				at.lim = noFileNow()
			}
			mainCh <- at
		}()
	}
	launch()

	probeCh := make(chan attempt, len(opt.ProbePorts))
	probing := 0
	for _, p := range opt.ProbePorts {
		if p == ap.Port() || p == 0 {
			continue
		}
		probing++
		go func() {
			r, conn := neterr.Dialer{}.Connect(runCtx, netip.AddrPortFrom(ap.Addr(), p))
			if conn != nil {
				conn.Close()
			}
			at := attempt{r: r}
			if r.Kind == neterr.TooManyFiles {
				at.lim = noFileNow()
			}
			probeCh <- at
		}()
	}

	var (
		final    *neterr.Result
		kept     net.Conn
		deadline <-chan time.Time
		extra    <-chan time.Time
		neighT   = time.NewTimer(neighCheckAfter)
	)
	defer neighT.Stop()
	<-facts
	if ev.Local {
		neighT.Stop()
	}
	giveUp := func() {
		r := neterr.Result{Addr: ap, Kind: neterr.Timeout, Duration: opt.Now().Sub(start)}
		final = &r
	}
loop:
	for final == nil {
		select {
		case at := <-mainCh:
			pending--
			r := at.r
			if r.Kind == neterr.TooManyFiles && ownLimit == nil {
				ownLimit = &at
			}
			// A timed-out SYN socket, or one conndiag could not even make,
			// settles nothing while another is in flight.
			if (r.Kind == neterr.Timeout || r.Kind == neterr.TooManyFiles) && pending > 0 {
				continue
			}
			final, kept = &r, at.conn
			if r.Kind == neterr.TooManyFiles {
				ev.NoFile = at.lim
			}
		case pa := <-probeCh:
			probing--
			if pa.r.Kind == neterr.TooManyFiles && ownLimit == nil {
				ownLimit = &pa
			}
			p := portProbe(pa.r)
			ev.Others = append(ev.Others, p)
			alive := p.Kind == neterr.OK || p.Kind == neterr.Refused
			if !alive || deadline != nil {
				continue
			}
			ev.RTT = p.Duration
			plan, ok := silencePlan(p.Duration, opt.Now().Sub(start), opt.MinWait, opt.Timeout)
			if !ok {
				continue // the full timeout is shorter: let it run
			}
			ev.Wait = plan.Wait
			deadline = time.After(plan.GiveUpIn)
			// More SYNs cover a lost one without waiting for the kernel's 1 s retransmit.
			launch()
			extra = time.After(plan.ThirdSYNIn)
		case <-extra:
			extra = nil
			launch()
		case <-deadline:
			giveUp()
		case <-neighT.C:
			if len(ev.Others) > 0 && ev.Alive() {
				break
			}
			if ev.Route != nil && ev.NextHop.IsValid() {
				if st, err := host.NeighState(ev.NextHop, ev.Route.Iface); err == nil {
					ev.Neigh = st
					if evidence.NeighFailed(st) {
						giveUp()
						break loop
					}
				}
			}
			neighT.Reset(250 * time.Millisecond)
		case <-ctx.Done():
			giveUp()
		}
	}
	cancelRun()
	// Collect the other port answers already in; wait for stragglers briefly so
	// their goroutines end (they were cancelled).
	for probing > 0 {
		pa := <-probeCh
		if pa.r.Kind == neterr.TooManyFiles && ownLimit == nil {
			ownLimit = &pa
		}
		ev.Others = append(ev.Others, portProbe(pa.r))
		probing--
	}
	for pending > 0 {
		if at := <-mainCh; at.conn != nil {
			at.conn.Close()
		}
		pending--
	}
	if final.Kind == neterr.Timeout && final.Duration == 0 {
		final.Duration = opt.Now().Sub(start)
	}
	if final.Kind == neterr.Timeout && ownLimit != nil && !ev.Alive() {
		// The ports that would have told "filtered" from "host down" never
		// got a socket: say that conndiag hit its own limit, not that the host is down.
		r := ownLimit.r
		final, ev.NoFile = &r, ownLimit.lim
	}
	if final.Kind != neterr.Timeout {
		ev.Wait = 0
	}
	ev.Connect = *final
	fillFacts(&ev, ap, opt)
	plainRST := final.Kind == neterr.Refused && final.ICMP == nil
	if opt.Trace && neterr.ErrQueue && final.Kind != neterr.OK && final.Kind != neterr.AddrNotAvailable && !plainRST {
		ev.Trace = trace(ctx, ap, opt)
	}
	return ev, kept
}

// waitPlan is how long a silent target port is given once another port of
// the host answered, and when the SYNs beyond the first go out.
type waitPlan struct {
	Wait       time.Duration // the whole wait, from the start of the attempt
	GiveUpIn   time.Duration // from now: the target port is silent after this
	ThirdSYNIn time.Duration // from now: the third SYN, halfway (the second goes now)
}

// silencePlan sizes the wait for a silent port from the round trip rtt that
// another port of the host answered in, elapsed after the first SYN: ten
// round trips, at least minWait, and at least three round trips beyond what
// has already passed. ok is false when that is not shorter than timeout:
// then the full timeout runs.
func silencePlan(rtt, elapsed, minWait, timeout time.Duration) (waitPlan, bool) {
	wait := max(minWait, 10*rtt, elapsed+3*rtt)
	if wait >= timeout {
		return waitPlan{}, false
	}
	left := wait - elapsed
	return waitPlan{Wait: wait, GiveUpIn: left, ThirdSYNIn: left / 2}, true
}

func portProbe(r neterr.Result) verdict.PortProbe {
	return verdict.PortProbe{Port: r.Addr.Port(), Kind: r.Kind, Duration: r.Duration}
}

// fillFacts reads the machine facts that only some outcomes need.
func fillFacts(ev *verdict.AddrEvidence, ap netip.AddrPort, opt Options) {
	c := ev.Connect
	if c.ICMP != nil && c.ICMP.From.IsValid() {
		ev.ICMPFromLocal, _ = isLocal(c.ICMP.From)
	}
	switch {
	case (c.Kind == neterr.Refused || c.Kind == neterr.Timeout) && ev.Local:
		ev.Listeners, _ = host.Listeners(ap.Port())
	case c.Kind == neterr.AddrNotAvailable || c.ErrnoIs("EADDRINUSE") || c.ErrnoIs("ENOBUFS"):
		if u, err := host.EphemeralUsage(ap); err == nil {
			ev.Usage = &u
		}
	case c.Kind == neterr.TooManyFiles && ev.NoFile == nil:
		ev.NoFile = noFileNow()
	}
	if ev.Neigh == "" && ev.Route != nil && ev.NextHop.IsValid() && !ev.Local &&
		(c.Kind == neterr.Timeout || c.Kind == neterr.HostUnreachable) {
		ev.Neigh, _ = host.NeighState(ev.NextHop, ev.Route.Iface)
	}
}
