package diagnose

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/target"
)

// items is a source of n targets 127.0.0.1:1 .. :n; after n it returns end
// (io.EOF unless given), or blocks when end is errBlock.
type items struct {
	n    int
	end  error
	read atomic.Int64
}

var errBlock = errors.New("block")

func (s *items) next() (Item, error) {
	i := int(s.read.Load())
	if i >= s.n {
		if s.end == errBlock {
			select {}
		}
		if s.end != nil {
			return Item{}, s.end
		}
		return Item{}, io.EOF
	}
	s.read.Add(1)
	t, _ := target.Parse(fmt.Sprintf("127.0.0.1:%d", i+1))
	return Item{Target: t, From: fmt.Sprintf("f:%d", i+1)}, nil
}

func fakeReport(t target.Target) Report { return Report{Target: t} }

func TestBulkOrder(t *testing.T) {
	src := &items{n: 500}
	b := Bulk{Workers: 8, Check: func(ctx context.Context, t target.Target) Report {
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
		return fakeReport(t)
	}}
	var got []uint16
	res, err := b.Run(context.Background(), src.next, func(it Item, r Report) error {
		if r.Target != it.Target {
			t.Errorf("report of %v delivered for %v", r.Target, it.Target)
		}
		got = append(got, r.Target.Port)
		return nil
	})
	if err != nil || res.Err != nil || res.Interrupted || !res.Exhausted || res.Delivered != 500 || res.Missed != 0 {
		t.Fatalf("result %+v, err %v", res, err)
	}
	for i, p := range got {
		if int(p) != i+1 {
			t.Fatalf("report %d is for port %d: out of order", i, p)
		}
	}
}

// A slow first target holds the reader back: no more than the window is read
// ahead of it, however long the source.
func TestBulkWindowBound(t *testing.T) {
	src := &items{n: 100000}
	release := make(chan struct{})
	var running, peak atomic.Int64
	b := Bulk{Workers: 4, Window: 10, Check: func(ctx context.Context, t target.Target) Report {
		if n := running.Add(1); n > peak.Load() {
			peak.Store(n)
		}
		defer running.Add(-1)
		if t.Port == 1 {
			<-release
		}
		return fakeReport(t)
	}}
	done := make(chan BulkResult)
	go func() {
		res, _ := b.Run(context.Background(), src.next, func(Item, Report) error { return nil })
		done <- res
	}()
	time.Sleep(200 * time.Millisecond)
	if n := src.read.Load(); n > int64(b.Window)+2 {
		t.Errorf("read %d targets while the first was still running (window %d)", n, b.Window)
	}
	close(release)
	res := <-done
	if res.Delivered != 100000 || peak.Load() > 4 {
		t.Errorf("delivered %d, peak %d running (4 workers)", res.Delivered, peak.Load())
	}
}

// Ctrl-C: the finished reports are delivered in order, the others counted
// and the first ones named, and Run returns though the source blocks.
func TestBulkInterrupted(t *testing.T) {
	src := &items{n: 50, end: errBlock}
	ctx, cancel := context.WithCancel(context.Background())
	var started sync.WaitGroup
	started.Add(3)
	b := Bulk{Workers: 3, Window: 40, Check: func(ctx context.Context, t target.Target) Report {
		if t.Port <= 10 {
			return fakeReport(t)
		}
		if t.Port <= 13 {
			started.Done()
		}
		<-ctx.Done() // a diagnosis cut short
		return Report{Target: t, Cancelled: true}
	}}
	go func() { started.Wait(); cancel() }()
	var delivered []uint16
	done := make(chan struct{})
	var res BulkResult
	go func() {
		defer close(done)
		res, _ = b.Run(ctx, src.next, func(_ Item, r Report) error {
			delivered = append(delivered, r.Target.Port)
			return nil
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the cancel")
	}
	if len(delivered) != 10 || delivered[9] != 10 {
		t.Errorf("delivered %v, want ports 1..10", delivered)
	}
	if !res.Interrupted || res.Exhausted || res.Missed < 3 || len(res.FirstMissed) != min(res.Missed, MaxNamed) || res.FirstMissed[0].From != "f:11" {
		t.Errorf("result %+v", res)
	}
	if int(src.read.Load()) != res.Delivered+res.Missed {
		t.Errorf("read %d, delivered %d + missed %d: some target is unaccounted for", src.read.Load(), res.Delivered, res.Missed)
	}
}

// A bad line: what was read before it is diagnosed and delivered, then the
// run ends with the source's error.
func TestBulkSourceError(t *testing.T) {
	bad := errors.New("f:6: bad target")
	src := &items{n: 5, end: bad}
	b := Bulk{Workers: 2, Check: func(_ context.Context, t target.Target) Report { return fakeReport(t) }}
	n := 0
	res, err := b.Run(context.Background(), src.next, func(Item, Report) error { n++; return nil })
	if err != nil || !errors.Is(res.Err, bad) || res.Interrupted || res.Exhausted || n != 5 || res.Delivered != 5 {
		t.Errorf("result %+v, err %v, %d delivered", res, err, n)
	}
}

func TestBulkEmitError(t *testing.T) {
	src := &items{n: 1000}
	closed := errors.New("broken pipe")
	b := Bulk{Workers: 2, Check: func(_ context.Context, t target.Target) Report { return fakeReport(t) }}
	n := 0
	_, err := b.Run(context.Background(), src.next, func(Item, Report) error {
		if n++; n == 3 {
			return closed
		}
		return nil
	})
	if !errors.Is(err, closed) || n != 3 {
		t.Errorf("err %v after %d", err, n)
	}
}
