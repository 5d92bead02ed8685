package load

import (
	"context"
	"errors"
	"math"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

// ErrUnsupported: this system cannot run the engine a target needs.
var ErrUnsupported = errors.New("load: not supported on this system")

// pauseAfterWall is how long a short run leaves a source address (or, after
// EMFILE, every new connection) alone once it hit a limit, so a full port
// range is retried twenty times a second instead of spinning.
const pauseAfterWall = 50 * time.Millisecond

// source is one --source address and what the run knows of it.
type source struct {
	addr  netip.Addr
	full  atomic.Bool  // hold: out of ports toward the destination until one of its connections ends
	until atomic.Int64 // short: paused until this time (ns since start)
}

var causeIndex = func() map[verdict.Cause]int {
	m := map[verdict.Cause]int{}
	for i, c := range verdict.Causes {
		m[c] = i
	}
	return m
}()

// run is the state the loops of one run share.
type run struct {
	cfg      Config
	ctx      context.Context
	start    time.Time
	proto    target.Protocol
	ws       bool
	request  []byte // the handshake request, sent as soon as TCP connects
	key      wsKey
	interval int64 // ns between planned starts; 0: no rate
	limit    int64 // attempts at most
	timeout  int64
	ping     int64

	next        atomic.Int64 // tickets handed out
	inflight    atomic.Int64 // being opened (Short: alive)
	open        atomic.Int64
	peakOpen    atomic.Int64
	attempted   atomic.Int64
	established atomic.Int64
	connected   atomic.Bool // some attempt got through TCP
	handshook   atomic.Bool // some attempt got through the handshake
	errs        []atomic.Int64
	pings       atomic.Int64
	pongs       atomic.Int64

	rampDone atomic.Bool // no more attempts: all made, or a wall (hold)
	wallStop atomic.Bool
	stopping atomic.Bool
	pauseAll atomic.Int64 // short, after EMFILE: no attempt before this time

	srcs []*source
	rr   atomic.Uint64

	mu       sync.Mutex
	deaths   []Death
	first    *Failure
	diagDone chan struct{} // closed when the first failure's diagnosis is done
	diag     []verdict.Finding
	hists    []*hists
	onWall   func()            // releases the descriptor reserve
	counters *host.TCPCounters // this machine's counters at the start, when readable
}

// hists are one loop's latency histograms, in microseconds.
type hists struct{ connect, handshake *hdrhistogram.Histogram }

func newHists() *hists {
	return &hists{hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3), hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)}
}

func recordUS(h *hdrhistogram.Histogram, ns int64) {
	_ = h.RecordValue(max(1, ns/1000)) // above an hour is clamped by the error, and nothing lives that long per attempt
}

func newRun(ctx context.Context, cfg Config, random []byte) *run {
	r := &run{cfg: cfg, ctx: ctx, proto: cfg.Target.Protocol(), timeout: int64(cfg.Timeout), ping: int64(cfg.Ping),
		errs: make([]atomic.Int64, len(verdict.Causes)), diagDone: make(chan struct{})}
	r.ws = r.proto == target.WebSocket
	hostHeader := cfg.Target.Host
	if a, err := netip.ParseAddr(hostHeader); err == nil && a.Is6() {
		hostHeader = "[" + hostHeader + "]"
	}
	if p := cfg.Target.Port; p != defaultPort(cfg.Target) {
		hostHeader += ":" + itoa(int(p))
	}
	path := cfg.Target.Path
	if path == "" {
		path = "/"
	}
	switch r.proto {
	case target.WebSocket:
		r.key = newWSKey(random)
		r.request = wsRequest(hostHeader, path, r.key)
	case target.HTTP:
		r.request = httpRequest(hostHeader, path)
	}
	if cfg.Rate > 0 {
		r.interval = max(1, int64(float64(time.Second)/cfg.Rate))
	}
	r.limit = math.MaxInt64
	if cfg.Mode == Hold {
		r.limit = int64(cfg.Hold)
	}
	for _, a := range cfg.Sources {
		r.srcs = append(r.srcs, &source{addr: a})
	}
	return r
}

func defaultPort(t target.Target) uint16 {
	switch t.Scheme {
	case "ws", "websocket", "http":
		return 80
	case "wss", "https":
		return 443
	}
	return 0
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}

func (r *run) now() int64 { return int64(time.Since(r.start)) }

// acquire takes a slot of the concurrency limit.
func (r *run) acquire() bool {
	for {
		n := r.inflight.Load()
		if n >= int64(r.cfg.Concurrency) {
			return false
		}
		if r.inflight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (r *run) release() { r.inflight.Add(-1) }

// ticket hands out the next attempt and its planned start: on the rate's
// schedule, or now. ok is false when every attempt has been handed out.
func (r *run) ticket(now int64) (planned int64, ok bool) {
	k := r.next.Add(1) - 1
	if k >= r.limit {
		r.rampDone.Store(true)
		return 0, false
	}
	if r.interval > 0 {
		return k * r.interval, true
	}
	return now, true
}

// Results of pickSource besides an index.
const (
	noSource = -1 // no --source: the kernel picks
	srcWall  = -2 // hold: every source is out of ports
)

// pickSource chooses the next source address in turn, skipping full and
// paused ones. wait > 0 says when to try again (short runs).
func (r *run) pickSource(now int64) (idx int, wait int64) {
	if until := r.pauseAll.Load(); until > now {
		return 0, until - now
	}
	n := len(r.srcs)
	if n == 0 {
		return noSource, 0
	}
	start := int(r.rr.Add(1) % uint64(n))
	wait = math.MaxInt64
	anyFree := false
	for i := range n {
		j := (start + i) % n
		s := r.srcs[j]
		if s.full.Load() {
			continue
		}
		anyFree = true
		if until := s.until.Load(); until > now {
			wait = min(wait, until-now)
			continue
		}
		return j, 0
	}
	if !anyFree {
		return srcWall, 0
	}
	return 0, wait
}

func (r *run) addOpen() {
	n := r.open.Add(1)
	for {
		p := r.peakOpen.Load()
		if n <= p || r.peakOpen.CompareAndSwap(p, n) {
			return
		}
	}
}

// fail records a failed attempt from source src (an index, or noSource).
func (r *run) fail(f failure, src int, now int64, text string) {
	if f.phase == PhaseConnect {
		f.everOK = r.connected.Load()
	} else if f.phase == PhaseHandshake {
		f.everOK = r.handshook.Load()
	}
	c := f.cause(r.ws)
	r.errs[causeIndex[c]].Add(1)
	switch c {
	case verdict.CauseEphemeralPortsExhausted:
		switch {
		case r.cfg.Mode == Short && src >= 0:
			r.srcs[src].until.Store(now + int64(pauseAfterWall))
		case r.cfg.Mode == Short:
			r.pauseAll.Store(now + int64(pauseAfterWall))
		case src >= 0:
			r.srcs[src].full.Store(true)
		default:
			r.wall()
		}
	case verdict.CauseFDExhausted:
		if r.onWall != nil {
			r.onWall()
		}
		if r.cfg.Mode == Short {
			r.pauseAll.Store(now + int64(pauseAfterWall))
		} else {
			r.wall()
		}
	case verdict.CauseSourceAddressInvalid:
		if src >= 0 {
			r.srcs[src].full.Store(true) // it will never work
		}
	}
	r.mu.Lock()
	first := r.first == nil
	if first {
		fl := &Failure{Cause: c, Phase: f.phase, Text: text, At: time.Duration(now), Open: r.open.Load(), Connecting: r.inflight.Load(), Attempt: r.attempted.Load(), Established: r.established.Load()}
		if f.errno != 0 {
			// The system's name and words for the error, not Go's "dial tcp4 …: connectex: …".
			fl.Errno = errnoName(f.errno)
			fl.Text = fl.Errno + " (" + strings.TrimSuffix(f.errno.Error(), ".") + ")"
		}
		if src >= 0 {
			fl.Source = r.srcs[src].addr
		}
		r.first = fl
	}
	r.mu.Unlock()
	if first {
		go r.diagnose(*r.first, f.errno)
	}
}

// wall stops a hold run's ramp: nothing more can be opened.
func (r *run) wall() {
	r.wallStop.Store(true)
	r.rampDone.Store(true)
}

// death records a held connection that ended.
func (r *run) death(d Death, src int) {
	r.open.Add(-1)
	if src >= 0 {
		r.srcs[src].full.Store(false)
	}
	r.mu.Lock()
	r.deaths = append(r.deaths, d)
	r.mu.Unlock()
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}
