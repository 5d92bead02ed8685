package diagnose

import (
	"context"
	"sync"

	"golang.org/x/sync/semaphore"

	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/verdict"
)

// The descriptor budget. A diagnosis opens many sockets at once (each
// connect holds the socket and a dup of it for the error queue, probe ports,
// DNS queries, fingerprints), and check -f runs many diagnoses at once: past
// RLIMIT_NOFILE the kernel answers EMFILE, and conndiag would then report its
// own limit as evidence about the target. So every diagnosis reserves, before
// it opens anything, the descriptors its probes may hold at the same time,
// from one process-wide budget sized from the limit. A diagnosis takes from
// the budget with a blocking wait once (its name work and one address), and
// only tries, without waiting, for more addresses in parallel: a holder never
// waits for another holder, so the budget cannot deadlock.

// MaxAddrs bounds the addresses tried per name; the others are listed as not tried.
const MaxAddrs = verdict.MaxTried

// Descriptor counts: the worst case each part of a diagnosis holds at once.
const (
	fdsPerConnect = 2 // the socket and the dup that keeps its error queue
	// mainSYNs: the first SYN, and the two rounds launched once the host answered.
	mainSYNs = maxSYNs
	// fdsHost: netlink sockets and /proc files read for routes, neighbours, listeners.
	fdsHost = 2
	// fdsFingerprint: the connection kept for the protocol step plus the
	// fingerprint tries (at most four, each a fresh connect) and, beside
	// them, the small-MSS retry of a stalled answer and its control (the
	// legacy TLS handshake, the origin retry and the redirect hops come
	// after them, one connection at a time).
	fdsFingerprint = 1 + 4*fdsPerConnect + 2*fdsPerConnect
	// fdsDNS: the system lookup (A and AAAA at once, plus the files it reads)
	// and the resolv.conf server asked directly (A and AAAA), the hosts file.
	fdsDNS = 3 + 2 + 1
	// fdsProxy: the proxy connect and the lookup of the proxy's name.
	fdsProxy = fdsPerConnect + 2
)

// addrWeight is what one address's probes hold at once: the TCP step, then the
// protocol step or --trace, which run after the TCP step's sockets are closed.
func addrWeight(probePorts int, trace bool) int64 {
	tcp := fdsPerConnect*(mainSYNs+probePorts) + fdsHost
	w := max(tcp, fdsFingerprint+fdsHost)
	if trace {
		w = max(w, fdsPerConnect*traceWave+fdsHost)
	}
	return int64(w)
}

// nameWeight is what the name-level probes hold at once: the DNS queries
// (--resolver too), then the connects to other answers' addresses, and the
// proxy test beside them.
func nameWeight(literal, resolver, proxy bool) int64 {
	w := fdsPerConnect // --expect-ip's address is connected to even for a literal
	if !literal {
		dns := fdsDNS
		if resolver {
			dns += 2
		}
		w = max(dns, fdsPerConnect*maxAlt)
	}
	if proxy {
		w += fdsProxy
	}
	return int64(w)
}

// budgetSize is how many descriptors the diagnoses may hold together, given
// the soft limit and how many this process holds already: a margin stays
// free for what the budget does not count (output, the target file, the Go
// runtime, a short-lived read). Under a tiny limit the margin shrinks so one
// connect still fits; should it fail anyway, the verdict says it is
// conndiag's own limit.
func budgetSize(soft, open uint64) int64 {
	const maxSize = 1 << 20
	if soft == host.Unlimited || soft > maxSize+open {
		return maxSize
	}
	margin := max(16, soft/16)
	if soft > open+margin+fdsPerConnect {
		return int64(soft - open - margin)
	}
	if soft > open+2+fdsPerConnect {
		return int64(soft - open - 2)
	}
	return fdsPerConnect
}

// budget is the process-wide descriptor budget, made on first use (the
// limit may be raised after the process starts, by the runtime or a test).
type budget struct {
	once sync.Once
	sem  *semaphore.Weighted
	size int64
	// read is how the limit is read; host.NoFile unless a test swaps it.
	read func() (soft, hard, open uint64, err error)
}

var fds = &budget{read: host.NoFile}

func (b *budget) init() {
	b.once.Do(func() {
		b.size = 4096 // no per-process limit to read (Windows): bounded anyway
		if soft, _, open, err := b.read(); err == nil {
			b.size = budgetSize(soft, open)
		}
		b.sem = semaphore.NewWeighted(b.size)
	})
}

// Size is how many descriptors the budget holds in all.
func (b *budget) Size() int64 { b.init(); return b.size }

// DescriptorBudget is how many descriptors the diagnoses of this process may
// hold together; check -f can size its concurrency from it.
func DescriptorBudget() int64 { return fds.Size() }

// reservation is descriptors taken from the budget by one diagnosis. It is
// shared by the goroutines of the diagnosis and given back when the last of
// them lets go (the name probes may outlive Check by a grace period).
type reservation struct {
	b    *budget
	mu   sync.Mutex
	base int64 // taken with a wait, given back when refs reaches zero
	refs int
}

// reserve waits until n descriptors are free (fewer when n exceeds the whole
// budget) and takes them. It fails only when ctx ends first.
func (b *budget) reserve(ctx context.Context, n int64) (*reservation, error) {
	b.init()
	n = min(n, b.size)
	if err := b.sem.Acquire(ctx, n); err != nil {
		return nil, err
	}
	return &reservation{b: b, base: n, refs: 1}, nil
}

// hold adds a goroutine that must let go before the descriptors go back.
func (r *reservation) hold() {
	r.mu.Lock()
	r.refs++
	r.mu.Unlock()
}

// done lets go of one hold; the last one gives the base back.
func (r *reservation) done() {
	r.mu.Lock()
	r.refs--
	last := r.refs == 0
	r.mu.Unlock()
	if last {
		r.b.sem.Release(r.base)
	}
}

// grow takes up to k more slots of w descriptors without waiting, and
// returns how many it got. It takes none while others wait for the budget,
// so a busy process runs the addresses of one name one after the other
// rather than starving the diagnoses behind it.
func (r *reservation) grow(w int64, k int) int {
	got := 0
	for got < k && r.b.sem.TryAcquire(w) {
		got++
	}
	return got
}

// shrink gives back one slot of w descriptors taken by grow.
func (r *reservation) shrink(w int64) { r.b.sem.Release(w) }

// noFileNow reads the descriptor limit and how many are open, at the moment a
// socket could not be made (read later, the count would say "0 open").
func noFileNow() *verdict.Limit {
	soft, hard, open, err := fds.read()
	if err != nil {
		return nil
	}
	return &verdict.Limit{Soft: soft, Hard: hard, Open: open}
}
