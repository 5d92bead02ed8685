package diagnose

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/firewall"
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

	dialer := neterr.Dialer{Source: opt.Source}
	runCtx, cancelRun := context.WithTimeout(ctx, opt.Timeout)
	defer cancelRun()
	quiet := opt.Share.silence(ap.Addr(), opt) // nil unless many targets share the host's probes

	type attempt struct {
		r    neterr.Result
		conn net.Conn
		lim  *verdict.Limit // read at once when the socket could not be made
		syn  int            // which SYN to the target port (0 for a probe port)
	}
	// ownLimit is conndiag's own EMFILE on a SYN or probe port: a silence is
	// then not evidence about the target.
	var ownLimit *attempt
	mainCh := make(chan attempt, maxSYNs)
	pending := 0
	// sentAt is when each SYN to the target port went out (index syn-1,
	// zero until its goroutine connects: a starved goroutine has sent
	// nothing); a SYN still unanswered when a much later one is answered
	// was lost.
	var sentMu sync.Mutex
	sentAt := make([]time.Time, maxSYNs)
	inFlight := map[int]bool{}
	launch := func() (made <-chan struct{}) {
		pending++
		ev.SYNs++
		syn := ev.SYNs
		inFlight[syn] = true
		ch := make(chan struct{})
		d := dialer
		d.Made = func() { close(ch) }
		go func() {
			sentMu.Lock()
			sentAt[syn-1] = time.Now()
			sentMu.Unlock()
			r, conn := d.Connect(runCtx, ap)
			at := attempt{r: r, conn: conn, syn: syn}
			if r.Kind == neterr.TooManyFiles {
				at.lim = noFileNow()
			}
			mainCh <- at
		}()
		return ch
	}
	// The target's own socket is made before the probe ports' and before
	// the netlink sockets of this machine's facts: under a tight descriptor
	// limit a probe port, not the target port, goes without one (and a probe
	// that answers at once cannot take the target's turn), whatever the
	// scheduling.
	<-launch()
	facts := make(chan struct{})
	go func() {
		defer close(facts)
		opt.Share.facts(ap.Addr(), &ev) // once per host in a run of many targets (share.go)
	}()

	probeCh := make(chan attempt, len(opt.ProbePorts))
	// The other ports of the host: connected to once per host in a run of many targets (share.go).
	probing := opt.Share.probePorts(runCtx, ap, opt, func(r neterr.Result, lim *verdict.Limit) {
		probeCh <- attempt{r: r, lim: lim}
	})

	var (
		final    *neterr.Result
		kept     net.Conn
		deadline <-chan time.Time
		extra    <-chan time.Time // the next SYN of the plan
		later    []time.Time      // the SYNs of the plan after that one
		neighT   = time.NewTimer(neighCheckAfter)
		spec     *tracing // a trace started while the target port was still silent
		rulesAt  <-chan time.Time
	)
	nextSYN := func() {
		extra = nil
		if len(later) > 0 {
			extra = time.After(time.Until(later[0]))
			later = later[1:]
		}
	}
	defer neighT.Stop()
	<-facts
	if ev.Local {
		neighT.Stop()
	}
	// held is a host or net unreachable kept back while the probe ports may
	// still prove the host up (a router's ICMP comes before the server's
	// answers): one port unreachable on a host that answers is a REJECT.
	var (
		held  *attempt
		grace <-chan time.Time
	)
	release := func() { final, kept = &held.r, held.conn }
	// The OUTPUT rules are read while a silent port is waited out, so the
	// reading adds nothing to the time to a verdict.
	var rules <-chan *firewall.Snapshot
	rulesCtx, cancelRules := context.WithCancel(ctx) // a reading not needed in the end is stopped
	defer cancelRules()
	prefetch := func() {
		if rules == nil && !ev.Local && outputRulesApply() {
			ch := make(chan *firewall.Snapshot, 1)
			go func() { ch <- outputRules.get(rulesCtx, opt.Now) }()
			rules = ch
		}
	}
	giveUp := func() {
		if held != nil {
			release()
			return
		}
		r := neterr.Result{Addr: ap, Kind: neterr.Timeout, Duration: opt.Now().Sub(start)}
		final = &r
	}
loop:
	for final == nil {
		select {
		case at := <-mainCh:
			pending--
			delete(inFlight, at.syn)
			r := at.r
			if r.Kind == neterr.TooManyFiles && ownLimit == nil {
				ownLimit = &at
			}
			// A timed-out SYN socket, or one conndiag could not even make,
			// settles nothing while another is in flight.
			if (r.Kind == neterr.Timeout || r.Kind == neterr.TooManyFiles) && pending > 0 {
				continue
			}
			if r.Kind != neterr.Timeout && r.Kind != neterr.TooManyFiles && r.Kind != neterr.Canceled {
				ev.AnsweredSYN = at.syn
			}
			if ic := r.ICMP; ic != nil && ic.HostOrNetUnreachable() && ic.From != ap.Addr() && probing > 0 && !ev.Alive() {
				held = &at
				grace = time.After(unreachableGrace(r.Duration, opt.Now().Sub(start), opt.MinWait, opt.Timeout))
				continue
			}
			final, kept = &r, at.conn
			if r.Kind == neterr.TooManyFiles {
				ev.NoFile = at.lim
			}
		case <-grace:
			release()
		case <-rulesAt:
			prefetch()
		case pa := <-probeCh:
			probing--
			if pa.r.Kind == neterr.TooManyFiles && ownLimit == nil {
				ownLimit = &pa
			}
			p := portProbe(pa.r)
			ev.Others = append(ev.Others, p)
			alive := p.Kind == neterr.OK || p.Kind == neterr.Refused
			if held != nil && (alive || probing == 0) {
				release()
				continue
			}
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
			// The target port's own answer (a REJECT's ICMP, a late SYN-ACK)
			// comes within about a round trip of the probe's: the rules are
			// read only once it is overdue, so an answer settled in
			// milliseconds does not pay for running iptables and nft.
			rulesAt = time.After(prefetchAfter(p.Duration, plan.GiveUpIn))
			// The port looks silent while the host answers: trace it now,
			// beside the wait, with the port that answered as reference.
			if spec == nil && opt.autoTrace() && neterr.ErrQueue {
				spec = startTrace(ctx, ap, p.Port, p.Duration, opt)
			}
			// More SYNs, in two rounds, cover lost ones without waiting for
			// the kernel's 1 s retransmit: a port that answers some SYNs and
			// not others is not taken for a filtered one after one round.
			now := time.Now()
			later = later[:0]
			for _, in := range plan.SYNsIn {
				later = append(later, now.Add(in))
			}
			nextSYN()
		case <-extra:
			launch()
			nextSYN()
		case <-deadline:
			if ctl := quiet.confirm(); ctl != nil {
				deadline = ctl // a control sent now must come back first (share.go)
				continue
			}
			giveUp()
		case <-neighT.C:
			if len(ev.Others) > 0 && ev.Alive() {
				break
			}
			prefetch() // nothing answered for a second: the full timeout may run
			if ev.Route != nil && ev.NextHop.IsValid() {
				if st, err := opt.Share.neighState(ev.NextHop, ev.Route.Iface); err == nil {
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
	// SYNs that look lost get a short grace first: on a busy machine the
	// goroutine of an answered SYN may simply not have run yet.
	lost := func() int {
		if ev.AnsweredSYN == 0 {
			return 0
		}
		sentMu.Lock()
		defer sentMu.Unlock()
		return lostBefore(sentAt, inFlight, ev.AnsweredSYN, max(ev.RTT, final.Duration))
	}
	answered := func(at attempt) {
		if k := at.r.Kind; k != neterr.Timeout && k != neterr.Canceled && k != neterr.TooManyFiles {
			delete(inFlight, at.syn)
		}
	}
	if lost() > 0 {
		grace := time.NewTimer(max(2*ev.RTT, lossGrace))
	wait:
		for pending > 0 && lost() > 0 {
			select {
			case at := <-mainCh:
				pending--
				answered(at)
				if at.conn != nil {
					at.conn.Close()
				}
			case <-grace.C:
				break wait
			}
		}
		grace.Stop()
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
		at := <-mainCh
		answered(at) // connected before the cancel reached it
		if at.conn != nil {
			at.conn.Close()
		}
		pending--
	}
	ev.Lost = lost()
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
	if ctx.Err() == nil && wantsOutgoing(&ev) {
		var snap *firewall.Snapshot
		if rules != nil {
			snap = <-rules
		}
		ev.Outgoing = outgoingFacts(ctx, snap, &ev, opt)
	}
	var asked chan struct{}
	if ctx.Err() == nil && opt.Agent != nil && final.Kind == neterr.Timeout && !ev.Local && ev.NoFile == nil {
		asked = make(chan struct{})
		go func() {
			defer close(asked)
			ev.Agent = askAgent(ctx, ap, opt)
		}()
	}
	switch {
	case ctx.Err() == nil && opt.autoTrace() && neterr.ErrQueue && traceWanted(ev, opt.Trace) && (spec != nil || traceRoom(ctx, opt) >= opt.MinWait):
		// (A deadline too close for a trace's wait, as serve's scrape
		// timeout after a host that answers nothing, leaves it out.)
		if spec == nil {
			spec = startTrace(ctx, ap, answeringPort(ev), ev.RTT, opt)
		}
		ev.Path = spec.wait()
		ev.Path.Asked = opt.Trace
	case spec != nil:
		spec.stop()
	}
	if asked != nil {
		<-asked
	}
	return ev, kept
}

// prefetchAfter is when, after the host answered a probe within rtt, the
// OUTPUT rules start to be read while the target port stays silent for at
// most giveUpIn: two round trips (at least 10 ms) into the wait, at most a
// quarter of it, so the reading still ends before the verdict needs it.
func prefetchAfter(rtt, giveUpIn time.Duration) time.Duration {
	return min(giveUpIn/4, max(2*rtt, 10*time.Millisecond))
}

// traceWanted: the path is traced when the connection timed out or a box
// on the way answered with an ICMP error, and with --trace whenever a SYN
// left this machine (to draw the path to an open or closed port too). Not
// when the target is this machine, this machine itself answered (its own
// rules, a failed neighbour lookup), or nothing left it.
func traceWanted(ev verdict.AddrEvidence, asked bool) bool {
	c := ev.Connect
	switch {
	case ev.Local || ev.ICMPFromLocal || evidence.NeighFailed(ev.Neigh):
		return false
	case c.Kind == neterr.Timeout:
		return ev.NoFile == nil
	case c.ICMP != nil && (c.ICMP.Origin == evidence.OriginICMP || c.ICMP.Origin == evidence.OriginICMP6):
		return true
	case c.Kind == neterr.OK, c.Kind == neterr.Refused:
		return asked
	}
	return false
}

// answeringPort is a probe port of the host that answered (SYN-ACK first), 0 if none.
func answeringPort(ev verdict.AddrEvidence) uint16 {
	var rst uint16
	for _, p := range ev.Others {
		switch {
		case p.Kind == neterr.OK:
			return p.Port
		case p.Kind == neterr.Refused && rst == 0:
			rst = p.Port
		}
	}
	return rst
}

// waitPlan is how long a silent target port is given once another port of
// the host answered, and when the SYNs beyond the first go out.
type waitPlan struct {
	Wait     time.Duration // the whole wait, from the start of the attempt
	GiveUpIn time.Duration // from now: the target port is silent after this
	// SYNsIn are the SYNs beyond the first, from now: the first round in the
	// first half of what is left (one now, one a quarter in), the retry
	// round in the second (at a half, five eighths and three quarters), so
	// the last leaves a quarter of the wait, at least two round trips, for
	// its answer.
	SYNsIn []time.Duration
}

// lossGrace is how long SYNs that look lost are still awaited once a later
// one was answered.
const lossGrace = 100 * time.Millisecond

// maxSYNs is how many SYNs the target port gets at most: the first, then
// the plan's two rounds.
const maxSYNs = 6

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
	at := func(d time.Duration) time.Duration { return max(0, min(d, left-2*rtt)) }
	return waitPlan{Wait: wait, GiveUpIn: left,
		SYNsIn: []time.Duration{0, at(left / 4), at(left / 2), at(left * 5 / 8), at(left * 3 / 4)}}, true
}

// unreachableGrace is how long, from now, a host or net unreachable that
// came after icmpAfter is held back for the probe ports, elapsed after the
// first SYN: until ten times the ICMP's round trip (the server is farther
// than the router that answered), at least minWait from the start, and
// never past the timeout.
func unreachableGrace(icmpAfter, elapsed, minWait, timeout time.Duration) time.Duration {
	until := min(max(minWait, 10*icmpAfter), timeout)
	return max(until-elapsed, 0)
}

func portProbe(r neterr.Result) verdict.PortProbe {
	return verdict.PortProbe{Port: r.Addr.Port(), Kind: r.Kind, Duration: r.Duration, ICMP: r.ICMP}
}

// lostBefore counts the SYNs to the target port still unanswered when SYN
// syn was answered although they went out at least two round trips before
// it: their answer would have come first. A SYN only just ahead of the
// answered one (the first SYN and the one sent when the host answered) is
// not counted: its answer may still be on the way. A zero time is a SYN not
// sent yet.
func lostBefore(sentAt []time.Time, inFlight map[int]bool, syn int, rtt time.Duration) int {
	if syn < 1 || syn > len(sentAt) {
		return 0
	}
	answeredAt := sentAt[syn-1]
	n := 0
	for s := range inFlight {
		if s < syn && !sentAt[s-1].IsZero() && answeredAt.Sub(sentAt[s-1]) >= 2*rtt {
			n++
		}
	}
	return n
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
		ev.Neigh, _ = opt.Share.neighState(ev.NextHop, ev.Route.Iface)
	}
}
