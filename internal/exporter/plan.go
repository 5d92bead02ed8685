package exporter

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
)

// maxTimeout is the longest a probe may take, as blackbox_exporter's when
// Prometheus sends no scrape timeout.
const maxTimeout = 120 * time.Second

// ScrapeTimeoutHeader is the header in which Prometheus sends its scrape timeout.
const ScrapeTimeoutHeader = "X-Prometheus-Scrape-Timeout-Seconds"

// plan is the time one /probe may spend.
type plan struct {
	// Deadline bounds the whole probe: the diagnosis is cut there.
	Deadline time.Duration
	// Attempt is the diagnosis's timeout per connection attempt, sized so
	// that the attempts a diagnosis runs one after the other end before
	// the deadline with a margin; a verdict drawn from shorter waits is
	// still a verdict, a diagnosis cut at the deadline is none.
	Attempt time.Duration
	// Scrape is the scrape timeout Prometheus sent, 0 when none.
	Scrape time.Duration
}

// makePlan sizes a probe of t. header is the scrape-timeout header ("" when
// absent), offset --timeout-offset, attempt the module's timeout per
// connection attempt. As blackbox_exporter, the probe gets the scrape
// timeout less the offset, or 120 s without a header; when the offset would
// leave less than half the scrape timeout, half is taken.
func makePlan(header string, offset, attempt time.Duration, t evidence.Target) (plan, error) {
	var p plan
	p.Deadline = maxTimeout - offset
	if header != "" {
		s, err := strconv.ParseFloat(header, 64)
		if err != nil || math.IsNaN(s) || math.IsInf(s, 0) || s <= 0 {
			return plan{}, fmt.Errorf("%s: %q is not a number of seconds", ScrapeTimeoutHeader, header)
		}
		p.Scrape = time.Duration(min(s, maxTimeout.Seconds()) * float64(time.Second))
		p.Deadline = max(p.Scrape-offset, p.Scrape/2)
	}
	p.Deadline = min(p.Deadline, maxTimeout)
	p.Attempt = min(attempt, p.Deadline*9/10/time.Duration(sequential(t)))
	p.Attempt = max(p.Attempt, time.Millisecond)
	return p, nil
}

// sequential is how many connection-attempt timeouts a diagnosis of t may
// spend one after the other: the name lookup, the connect, the TLS
// handshake, the protocol handshake and the fingerprint tries after it.
func sequential(t evidence.Target) int {
	n := 1
	if _, ok := t.IP(); !ok {
		n++
	}
	if t.TLS() {
		n++
	}
	if t.Protocol() != evidence.ProtoTCP {
		n += 2
	}
	return n
}
