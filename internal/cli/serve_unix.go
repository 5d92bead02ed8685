//go:build unix

package cli

import (
	"os"
	"os/signal"
	"syscall"
)

// onHangup calls fn on each SIGHUP (the reload signal of Prometheus
// exporters) until the returned stop is called.
func onHangup(fn func()) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				fn()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}
