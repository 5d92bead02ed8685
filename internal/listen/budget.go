package listen

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// budget is the memory all connections together may hold in buffers: the
// bytes of unfinished lines, frames, messages and handshakes, and replies
// the client has not read yet (Config.MaxBuffered). Every such buffer is
// allocated through it, as bytes arrive, never from a length the client
// announced; a connection whose next bytes do not fit is closed, and only
// that one.
//
// A nil *budget charges nothing (the session tests).
type budget struct {
	max  int64
	used atomic.Int64
	// freed counts the bytes of buffers dropped since the last collection;
	// past reclaimAt, reclaim is woken.
	freed     atomic.Int64
	reclaimAt atomic.Int64
	wake      chan struct{}
	refused   atomic.Int64 // connections closed for the budget
}

const (
	// reclaimAfter is how many bytes of dropped buffers make reclaim run a
	// collection, at least. The runtime's own pacing lets garbage grow as
	// large as what is live, which would let the process take twice the
	// budget; this keeps it at the budget plus a fixed amount. A
	// collection's cost grows with the memory that is not buffers (the
	// connections themselves): reclaim waits for half of that when it is
	// more, so that a million idle connections do not make every
	// collection expensive and frequent at once.
	reclaimAfter = 16 << 20
	// reclaimEvery is the shortest time between two returns of memory to
	// the OS, which cost page faults when the memory is wanted again.
	reclaimEvery = time.Second
)

func newBudget(limit int64) *budget {
	b := &budget{max: limit, wake: make(chan struct{}, 1)}
	b.reclaimAt.Store(reclaimAfter)
	return b
}

// take charges n bytes, unless they would take the total over max.
func (b *budget) take(n int64) bool {
	if b == nil || n <= 0 {
		return true
	}
	for {
		u := b.used.Load()
		if u+n > b.max {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// give returns n bytes charged before.
func (b *budget) give(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.used.Add(-n)
	b.garbage(n)
}

// garbage counts n bytes of buffers dropped, which the runtime is to
// collect and return to the OS.
func (b *budget) garbage(n int64) {
	if b.freed.Add(n) >= b.reclaimAt.Load() {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
}

// append returns buf with data appended, charging the capacity it adds to
// *held (what one connection holds). It grows the buffer geometrically as
// bytes arrive, but never past limit when the unit being assembled is known
// to end there (limit 0: not known); when the geometric step does not fit
// in the budget it tries the exact size. ok is false, and buf unchanged,
// when even that does not fit.
func (b *budget) append(held *int64, buf, data []byte, limit int) ([]byte, bool) {
	want := len(buf) + len(data)
	if want <= cap(buf) {
		return append(buf, data...), true
	}
	if b == nil {
		return append(buf, data...), true
	}
	size := max(want, 2*cap(buf), 512)
	if limit >= want {
		size = min(size, limit)
	}
	if !b.take(int64(size - cap(buf))) {
		if size == want || !b.take(int64(want-cap(buf))) {
			return buf, false
		}
		size = want
	}
	nb := make([]byte, want, size)
	copy(nb, buf)
	copy(nb[len(buf):], data)
	*held += int64(size - cap(buf))
	b.garbage(int64(cap(buf)))
	return nb, true
}

// drop returns the capacity of buf, which the caller no longer uses.
func (b *budget) drop(held *int64, buf []byte) {
	if b == nil || cap(buf) == 0 {
		return
	}
	*held -= int64(cap(buf))
	b.give(int64(cap(buf)))
}

// keep stores rest, the bytes a session left unconsumed, in the buffer a
// driver holds them in, in, and returns it. rest is part of in when inOwned,
// else of the read buffer. ok is false when they do not fit in the budget.
func (b *budget) keep(held *int64, in, rest []byte, inOwned bool, need int) ([]byte, bool) {
	switch {
	case len(rest) == 0:
		b.drop(held, in)
		return nil, true
	case !inOwned:
		return b.append(held, in[:0], rest, need)
	case len(rest) == len(in):
		return in, true
	case cap(in) > 128<<10 && len(rest) < cap(in)/4:
		// Do not hold a big buffer for a small rest.
		if small, ok := b.append(held, nil, rest, need); ok {
			b.drop(held, in)
			return small, true
		}
	}
	return in[:copy(in, rest)], true
}

// release returns all that a connection held, when it ends.
func (b *budget) release(held *int64) {
	if b == nil {
		return
	}
	b.give(*held)
	*held = 0
}

// reclaim collects dropped buffers once reclaimAfter bytes of them have
// piled up, and returns free memory to the OS at most every reclaimEvery
// but within about that time of the last large drop: without it, the
// runtime keeps freed memory for minutes. It runs until stop is closed.
func (b *budget) reclaim(stop <-chan struct{}) {
	var last time.Time // of the last return to the OS
	due := time.NewTimer(0)
	<-due.C
	pending := false // a return to the OS is due
	for {
		select {
		case <-b.wake:
		case <-due.C:
			pending = false
		case <-stop:
			due.Stop()
			return
		}
		b.freed.Store(0)
		if wait := time.Until(last.Add(reclaimEvery)); wait > 0 {
			runtime.GC()
			if !pending {
				pending = true
				due.Reset(wait)
			}
		} else {
			debug.FreeOSMemory()
			last = time.Now()
		}
		live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(live)
		if live[0].Value.Kind() == metrics.KindUint64 {
			other := int64(live[0].Value.Uint64()) - b.used.Load()
			b.reclaimAt.Store(max(reclaimAfter, other/2))
		}
	}
}
