package diagnose

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/conndiag/conndiag/internal/target"
)

// Item is one target of a bulk run and where it came from.
type Item struct {
	Target target.Target
	From   string // "FILE:LINE", or "" for a command-line argument
}

// Bulk diagnoses a stream of targets with a fixed number of workers and
// hands the reports back in input order.
//
// Memory is bounded by Workers and Window, never by the number of targets:
// the source is read only while fewer than Window targets wait to be
// delivered, so a slow target holds the reader back rather than letting
// finished reports pile up behind it. Sockets are bounded separately, by the
// descriptor budget every Check reserves from.
//
// Check is where a later version can share per-host probes (liveness, RTT,
// route, DNS answers) across the targets of one run, and Workers where it can
// adapt concurrency to the descriptor budget (DescriptorBudget) and to the
// number of hosts: Run itself knows nothing of what a diagnosis does.
type Bulk struct {
	Workers int // targets diagnosed at once; at least 1
	Window  int // targets taken from the source and not yet delivered; 0: DefaultWindow(Workers)
	// HostsAtOnce bounds how many different hosts are diagnosed at once (0:
	// no bound), so many ports of a few hosts run Workers wide while many
	// hosts run narrower (AutoWidth).
	HostsAtOnce int
	Check       func(context.Context, target.Target) Report
}

// DefaultWindow is how far the reader may run ahead of the oldest target not
// yet delivered: enough that one slow target does not idle the other workers
// at once.
func DefaultWindow(workers int) int { return max(64, 8*workers) }

// MaxNamed bounds BulkResult.FirstMissed.
const MaxNamed = 5

// BulkResult says how a bulk run ended.
type BulkResult struct {
	Delivered int // reports handed to emit
	// Missed counts targets taken from the source but not diagnosed, because
	// ctx ended first; FirstMissed are the first MaxNamed of them, in order.
	Missed      int
	FirstMissed []Item
	// Interrupted: ctx ended before the source was exhausted and every
	// target taken was diagnosed. Exhausted: the source said io.EOF.
	Interrupted, Exhausted bool
	// Err is what the source returned other than io.EOF (a bad line, a read
	// error): the run stopped reading there and finished the targets taken.
	Err error
}

// readerGrace is how long Run waits, once ctx ends, for the reader to stop:
// it cannot interrupt a read that blocks (a terminal), and need not.
const readerGrace = 100 * time.Millisecond

type bulkJob struct {
	item Item
	done chan Report // buffered: a worker never waits for the emitter
}

// Run takes items from next until it returns an error (io.EOF at the end),
// diagnoses them, and calls emit for each report in the order the items came.
// When ctx ends, Run stops reading, delivers the reports already finished,
// counts the others as missed, and returns without waiting for a read that
// blocks. An error from emit (stdout closed) stops the run and is returned.
func (b Bulk) Run(ctx context.Context, next func() (Item, error), emit func(Item, Report) error) (BulkResult, error) {
	workers := max(b.Workers, 1)
	window := b.Window
	if window <= 0 {
		window = DefaultWindow(workers)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()

	// order holds every job taken, in input order, until it is delivered; its
	// capacity is the window. work hands jobs to the workers.
	order := make(chan *bulkJob, window)
	work := make(chan *bulkJob)
	var (
		mu       sync.Mutex
		held     *bulkJob // read, not yet in order, when ctx ended
		srcErr   error
		srcEOF   bool
		readDone = make(chan struct{})
	)
	go func() {
		defer close(readDone)
		defer close(order)
		defer close(work)
		for runCtx.Err() == nil {
			it, err := next()
			if err != nil {
				mu.Lock()
				if errors.Is(err, io.EOF) {
					srcEOF = true
				} else {
					srcErr = err
				}
				mu.Unlock()
				return
			}
			j := &bulkJob{item: it, done: make(chan Report, 1)}
			if runCtx.Err() != nil {
				mu.Lock()
				held = j
				mu.Unlock()
				return
			}
			select {
			case order <- j:
			case <-runCtx.Done():
				mu.Lock()
				held = j
				mu.Unlock()
				return
			}
			select {
			case work <- j:
			case <-runCtx.Done():
				return // j is in order: it is counted as missed there
			}
		}
	}()
	gate := newHostGate(b.HostsAtOnce)
	for range workers {
		go func() {
			for j := range work {
				host := hostKey(j.item.Target)
				if runCtx.Err() != nil || !gate.enter(runCtx, host) {
					j.done <- Report{Target: j.item.Target, Cancelled: true}
					continue
				}
				r := b.Check(runCtx, j.item.Target)
				gate.leave(host)
				j.done <- r
			}
		}()
	}

	var res BulkResult
	miss := func(j *bulkJob) {
		res.Missed++
		if len(res.FirstMissed) < MaxNamed {
			res.FirstMissed = append(res.FirstMissed, j.item)
		}
	}
	deliver := func(j *bulkJob, r Report) error {
		if r.Cancelled {
			miss(j)
			return nil
		}
		if err := emit(j.item, r); err != nil {
			return err
		}
		res.Delivered++
		return nil
	}
	interrupted := false
loop:
	for {
		var j *bulkJob
		select {
		case jj, ok := <-order:
			if !ok {
				break loop
			}
			j = jj
		case <-ctx.Done():
			interrupted = true
			break loop
		}
		select {
		case r := <-j.done:
			if err := deliver(j, r); err != nil {
				return res, err
			}
		case <-ctx.Done():
			interrupted = true
			// j may finish cut short; it is the first of those not diagnosed.
			select {
			case r := <-j.done:
				if err := deliver(j, r); err != nil {
					return res, err
				}
			default:
				miss(j)
			}
			break loop
		}
	}
	if interrupted {
		stop()
		select {
		case <-readDone:
		case <-time.After(readerGrace):
		}
		// What was finished before the interrupt is still delivered, in order;
		// the rest is named as not diagnosed.
	drain:
		for {
			select {
			case j, ok := <-order:
				if !ok {
					break drain
				}
				select {
				case r := <-j.done:
					if err := deliver(j, r); err != nil {
						return res, err
					}
				default:
					miss(j)
				}
			default:
				break drain
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if held != nil {
		miss(held)
	}
	res.Err, res.Exhausted = srcErr, srcEOF
	// The reader may have seen the interrupt first and closed order, which
	// the loop above then read as the end of the input.
	interrupted = interrupted || ctx.Err() != nil && !srcEOF && srcErr == nil
	res.Interrupted = interrupted && (res.Missed > 0 || !srcEOF && srcErr == nil)
	return res, nil
}
