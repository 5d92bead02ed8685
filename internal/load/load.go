// Package load opens many connections to one target, short or held, and
// reports the ceiling reached and why: a preflight predicts the ceiling from
// this machine's limits before the first connection, the engine measures
// connect and handshake latency in HDR histograms, sorts every failure into
// a cause code, and the first failure gets the full diagnosis of check while
// the connections are still held, so it meets the same wall.
//
// Plain targets run on epoll event loops (Linux) with no goroutine and no
// buffer per held connection; TLS targets, and every target on other
// systems, use a goroutine per connection.
package load

import (
	"net/netip"
	"time"

	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

// Mode is how connections are used.
type Mode string

const (
	Hold  Mode = "hold"  // open N and keep them
	Short Mode = "short" // open and close, as fast as the rate allows
)

// Defaults for Config fields left zero.
const (
	DefaultConcurrency = 100
	DefaultTimeout     = 3 * time.Second
)

// Config is one run. Zero values mean the defaults.
type Config struct {
	Target      target.Target
	Dst         netip.AddrPort // the resolved address of Target
	Mode        Mode
	Hold        int           // Hold: connections to open
	Rate        float64       // new connections per second; 0: as fast as Concurrency allows
	Duration    time.Duration // the whole run; 0: until the context ends
	Concurrency int           // connections being opened at once (Short: alive at once)
	Timeout     time.Duration // per connection: connect and handshake
	Sources     []netip.Addr  // local addresses, used in turn; none: the kernel picks
	Ping        time.Duration // WebSocket ping interval while held; 0: none
	Loops       int           // event loops; 0: GOMAXPROCS
	// Progress, when set, is called about five times a second from one goroutine.
	Progress func(Progress)
	// Check diagnoses the target the way conndiag check does, for the first
	// failure that this package cannot explain from its own evidence; nil: no such diagnosis.
	Check func(src netip.Addr) []verdict.Finding

	netEngine bool // tests: the goroutine engine for every target
}

func (c Config) withDefaults() Config {
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	c.Dst = netip.AddrPortFrom(c.Dst.Addr().Unmap(), c.Dst.Port())
	return c
}

// Progress is a live snapshot.
type Progress struct {
	Elapsed     time.Duration
	Open        int64 // established and not closed
	Established int64 // since the start
	Attempted   int64
	Rate        float64 // established per second over the last second
	Errors      map[verdict.Cause]int64
}

// Latency are percentiles in milliseconds from an HDR histogram.
type Latency struct {
	Count              int64
	P50, P90, P99, Max float64
}

// Failure describes the first failed attempt.
type Failure struct {
	Cause  verdict.Cause
	Phase  Phase
	Errno  string // "EADDRNOTAVAIL", ... ; "" for timeouts and protocol errors
	Text   string // the error as the system put it
	Source netip.Addr
	At     time.Duration // since the start
	Open   int64         // connections established and open at that moment
	// Connecting counts the attempts still connecting or in their handshake
	// then, this one included.
	Connecting int64
	Attempt    int64 // attempts started by then (with many in flight, not this one's own number)
	// Established counts the connections established before it.
	Established int64
}

// line is the evidence that tells when and how the first failure came.
func (f Failure) line() i18n.Msg {
	return i18n.M("load.ev.first", "N", f.Attempt, "Open", f.Open, "Connecting", f.Connecting, "At", verdict.Dur(f.At), "Err", f.Text)
}

// Report is the result of a run.
type Report struct {
	Config      Config
	Preflight   Prediction
	Facts       Facts
	FactsErr    string // why the preflight could not read this machine, if it could not
	Attempted   int64
	Established int64
	PeakOpen    int64
	PeakRate    float64 // established per second, best one-second window
	Errors      map[verdict.Cause]int64
	Connect     Latency // TCP connect, from the planned start in --rate mode
	Handshake   Latency // after TCP: TLS, WebSocket or HTTP, until its answer
	First       *Failure
	Deaths      []Death
	PingsSent   int64
	PongsSeen   int64
	Findings    []verdict.Finding
	Duration    time.Duration
	// WallStop: the ramp stopped at a limit of this machine (every source
	// out of ports, or no descriptor left) before opening Hold connections.
	WallStop    bool
	Interrupted bool // the context ended the run (Ctrl-C)
	// RSS of this process, KiB, at the start and at its highest; 0 when unknown.
	RSSStartKiB, RSSPeakKiB int64
}

// Problem reports whether the run found something wrong: a failed attempt
// or a held connection that died.
func (r *Report) Problem() bool {
	return len(r.Errors) > 0 || len(r.Deaths) > 0
}
