package capture

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// Watcher is an open packet socket with the SYN filter attached.
type Watcher struct {
	conn  *packet.Conn
	ports []uint16
}

// ErrNotPermitted: packet sockets need root (CAP_NET_RAW).
var ErrNotPermitted = errors.New("capture: watching packets needs root (CAP_NET_RAW)")

// Open opens a packet socket on every interface of the calling thread's
// network namespace, filtered to SYNs to ports (every port if empty) and
// the host's answers from them. The filter is in place before the socket
// is bound, so nothing else is ever queued. Close it, or Run it to the end.
func Open(ports []uint16) (*Watcher, error) {
	prog, err := Filter(ports)
	if err != nil {
		return nil, err
	}
	// Index 0 binds to every interface, present and future.
	c, err := packet.Listen(&net.Interface{Index: 0}, packet.Datagram, unix.ETH_P_ALL, &packet.Config{Filter: prog})
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("%w: %v", ErrNotPermitted, err)
		}
		return nil, fmt.Errorf("capture: %w", err)
	}
	return &Watcher{conn: c, ports: ports}, nil
}

// Result is what a watch saw.
type Result struct {
	Start    time.Time
	Duration time.Duration
	SYNs     []SYN
	// Untracked counts attempts beyond the tracker's memory limit.
	Untracked int
	// KernelDrops counts packets the socket's queue had no room for.
	KernelDrops uint32
}

// Grace is how long a watch keeps reading after its window for the answers
// to SYNs seen at its very end (no new attempt is taken then): without it, a
// SYN in the window's last moment would look unanswered.
const Grace = 500 * time.Millisecond

// Run reads until d has passed or ctx is done, then for Grace more for the
// answers, then closes the socket. Memory stays bounded: one fixed buffer,
// at most DefaultMaxFlows attempts.
func (w *Watcher) Run(ctx context.Context, d time.Duration) (Result, error) {
	defer w.conn.Close()
	start := time.Now()
	window := start.Add(d)
	if dl, ok := ctx.Deadline(); ok && dl.Before(window) {
		window = dl
	}
	if err := w.conn.SetReadDeadline(window); err != nil {
		return Result{}, fmt.Errorf("capture: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = w.conn.SetReadDeadline(time.Now()) })
	defer stop()

	tr := NewTracker(w.ports, DefaultMaxFlows)
	buf := make([]byte, Snap)
	var err error
	grace := false
	for {
		n, _, rerr := w.conn.ReadFrom(buf)
		if rerr != nil {
			var ne net.Error
			if !errors.As(rerr, &ne) || !ne.Timeout() {
				err = fmt.Errorf("capture: %w", rerr)
				break
			}
			if grace || ctx.Err() != nil {
				break
			}
			grace = true
			tr.Close()
			if err := w.conn.SetReadDeadline(time.Now().Add(Grace)); err != nil {
				break
			}
			continue
		}
		if seg, ok := Decode(buf[:n]); ok {
			tr.Add(seg, time.Now())
		}
	}
	res := Result{Start: start, Duration: min(time.Since(start), window.Sub(start)), SYNs: tr.SYNs(), Untracked: tr.Untracked}
	if st, serr := w.conn.Stats(); serr == nil {
		res.KernelDrops = st.Drops
	}
	return res, err
}

// Close releases the socket without watching.
func (w *Watcher) Close() error { return w.conn.Close() }
