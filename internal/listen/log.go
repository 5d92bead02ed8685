package listen

import (
	"bufio"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Log writes connection records from a bounded queue, so that a slow
// stderr never stalls an event loop: when the queue is full, records are
// dropped and counted.
type Log struct {
	mu      sync.RWMutex
	closed  bool
	ch      chan Record
	done    chan struct{}
	dropped atomic.Int64
}

// NewLog starts writing format(r) to w for every record.
func NewLog(w io.Writer, format func(Record) []byte) *Log {
	l := &Log{ch: make(chan Record, 8192), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		bw := bufio.NewWriter(w)
		flush := time.NewTicker(200 * time.Millisecond)
		defer flush.Stop()
		for {
			select {
			case r, ok := <-l.ch:
				if !ok {
					bw.Flush()
					return
				}
				bw.Write(format(r))
				if len(l.ch) == 0 {
					bw.Flush()
				}
			case <-flush.C:
				bw.Flush()
			}
		}
	}()
	return l
}

// Record queues r; it never blocks. It is Config.Log.
func (l *Log) Record(r Record) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return
	}
	select {
	case l.ch <- r:
	default:
		l.dropped.Add(1)
	}
}

// Close writes what is queued and stops.
func (l *Log) Close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.ch)
	}
	l.mu.Unlock()
	<-l.done
}

// Dropped counts the records lost to a full queue.
func (l *Log) Dropped() int64 { return l.dropped.Load() }
