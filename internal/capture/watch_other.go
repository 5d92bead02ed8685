//go:build !linux

package capture

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotPermitted: packet sockets need root (CAP_NET_RAW).
var ErrNotPermitted = errors.New("capture: watching packets needs root (CAP_NET_RAW)")

var errUnsupported = fmt.Errorf("capture: watching SYNs needs Linux packet sockets: %w", errors.ErrUnsupported)

// Watcher is Linux-only.
type Watcher struct{}

// Result is what a watch saw.
type Result struct {
	Start       time.Time
	Duration    time.Duration
	SYNs        []SYN
	Untracked   int
	KernelDrops uint32
}

// Open is Linux-only.
func Open(ports []uint16) (*Watcher, error) { return nil, errUnsupported }

// Run is Linux-only.
func (w *Watcher) Run(ctx context.Context, d time.Duration) (Result, error) {
	return Result{}, errUnsupported
}

// Close does nothing.
func (w *Watcher) Close() error { return nil }
