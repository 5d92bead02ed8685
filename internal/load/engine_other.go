//go:build !linux

package load

// newEngine: without epoll every target runs on the goroutine engine.
func newEngine(r *run, sizeHint int) (engine, error) { return newNetEngine(r), nil }

// EpollEngine reports whether plain targets run on event loops here.
const EpollEngine = false
