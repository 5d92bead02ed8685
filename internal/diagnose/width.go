package diagnose

import (
	"context"
	"strings"
	"sync"

	"github.com/conndiag/conndiag/internal/target"
)

// How check -f sizes itself when --concurrency is not given. Targets of one
// host share that host's probes (Share), so each costs one SYN (three for a
// silent port) and a few descriptors: many ports of one host run wide. Every
// new host costs its probe ports, a route lookup and a neighbour read, and
// many hosts may sit behind a slow link: they run narrower.
const (
	// MaxAutoWorkers bounds the targets diagnosed at once.
	MaxAutoWorkers = 256
	// AutoHostsAtOnce bounds the different hosts diagnosed at once.
	AutoHostsAtOnce = 32
)

// Width is how wide a bulk run goes.
type Width struct {
	Workers     int // targets at once
	HostsAtOnce int // different hosts at once; 0: no bound
}

// AutoWidth sizes a run from the descriptor budget and the descriptors one
// target holds at most (TargetWeight): as many targets as the budget holds,
// at most MaxAutoWorkers, over at most AutoHostsAtOnce hosts.
func AutoWidth(budget, weight int64) Width {
	w := MaxAutoWorkers
	if weight > 0 && budget/weight < int64(w) {
		w = int(max(budget/weight, 1))
	}
	return Width{Workers: w, HostsAtOnce: min(AutoHostsAtOnce, w)}
}

// TargetWeight is the descriptors a diagnosis of an address literal with
// these options reserves in a run of many targets (where only --trace
// traces): what AutoWidth divides the budget by.
func TargetWeight(opt Options) int64 {
	opt = opt.withDefaults()
	hops := 0
	if opt.Trace {
		hops = opt.TraceHops
	}
	return nameWeight(true, opt.ResolverAddr.IsValid(), false) + addrWeight(len(opt.ProbePorts), hops, opt.Agent != nil)
}

// hostKey is the host a target's diagnosis probes, for the host bound.
func hostKey(t target.Target) string {
	return strings.ToLower(strings.TrimSuffix(t.Host, "."))
}

// hostGate bounds how many different hosts have a diagnosis running. A
// worker waits only while max other hosts are running, each with at least
// one diagnosis that holds nothing the waiter has: it cannot deadlock.
type hostGate struct {
	max    int
	mu     sync.Mutex
	active map[string]int // at most max entries
	wake   chan struct{}  // closed and replaced when a host leaves
}

func newHostGate(max int) *hostGate {
	if max <= 0 {
		return nil
	}
	return &hostGate{max: max, active: map[string]int{}, wake: make(chan struct{})}
}

// enter waits until host may run; false when ctx ended first.
func (g *hostGate) enter(ctx context.Context, host string) bool {
	if g == nil {
		return true
	}
	for {
		g.mu.Lock()
		if n, ok := g.active[host]; ok || len(g.active) < g.max {
			g.active[host] = n + 1
			g.mu.Unlock()
			return true
		}
		wake := g.wake
		g.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return false
		}
	}
}

func (g *hostGate) leave(host string) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.active[host]--; g.active[host] <= 0 {
		delete(g.active, host)
		close(g.wake)
		g.wake = make(chan struct{})
	}
}
