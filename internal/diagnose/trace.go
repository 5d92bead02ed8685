package diagnose

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/verdict"
)

// DefaultTraceHops is how far --trace looks.
const DefaultTraceHops = 16

// traceWave is how many TTLs are probed at once. Hosts rate-limit their ICMP
// errors toward one destination (a burst of about six), so a whole path at
// once would lose answers; small waves keep every one.
const traceWave = 4

// trace sends SYNs with growing TTLs toward ap, a wave at a time, and reads
// who answered each: a router's ICMP time exceeded, the destination itself
// (SYN-ACK or RST), another ICMP error, or nothing. Unprivileged: it uses
// IP_TTL and the socket error queue, not raw sockets. It stops at the wave
// that settles the path, or after a wave where nothing answered.
func trace(ctx context.Context, ap netip.AddrPort, opt Options) []verdict.Hop {
	wait := min(opt.Timeout, time.Second)
	var hops []verdict.Hop
	for first := 1; first <= opt.TraceHops; first += traceWave {
		n := min(traceWave, opt.TraceHops-first+1)
		wave := make([]verdict.Hop, n)
		var wg sync.WaitGroup
		for i := range wave {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(ctx, wait)
				defer cancel()
				ttl := first + i
				r, conn := neterr.Dialer{Source: opt.Source, TTL: ttl}.Connect(ctx, ap)
				if conn != nil {
					conn.Close()
				}
				wave[i] = hopOf(ttl, r)
			}()
		}
		wg.Wait()
		hops = append(hops, wave...)
		settled, silent := false, true
		for _, h := range wave {
			settled = settled || h.Kind == verdict.HopReached || h.Kind == verdict.HopError
			silent = silent && h.Kind == verdict.HopSilent
		}
		if settled || silent || ctx.Err() != nil {
			break
		}
	}
	return trimHops(hops)
}

func hopOf(ttl int, r neterr.Result) verdict.Hop {
	h := verdict.Hop{TTL: ttl, RTT: r.Duration}
	switch {
	case r.Kind == neterr.OK || r.Kind == neterr.Refused && (r.ICMP == nil || r.ICMP.Origin == 0):
		h.Kind = verdict.HopReached
		h.From = r.Addr.Addr()
	case r.ICMP != nil && r.ICMP.TimeExceeded():
		h.Kind = verdict.HopRouter
		h.From = r.ICMP.From
	case r.ICMP != nil && r.ICMP.Origin != 0:
		h.Kind = verdict.HopError
		h.From = r.ICMP.From
		h.ICMP = r.ICMP.Describe()
	default:
		h.Kind = verdict.HopSilent
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
