package load

import (
	"context"
	"crypto/rand"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/verdict"
)

// engine opens and holds the connections of a run.
type engine interface {
	run()     // until run.stopping, then close every connection
	wake()    // make run notice run.stopping
	fds() int // descriptors the engine holds itself
	close()   // release them when run never ran
}

// fdReserve is how many descriptors are kept back for the end of a run
// that meets EMFILE (the diagnosis reads /proc; the report is written), and
// given back then. They are open during the preflight, so it counts them.
const fdReserve = 8

// Runner is a prepared run: the engine is ready and the preflight done.
type Runner struct {
	r       *run
	eng     engine
	reserve []int
	once    sync.Once

	Facts      Facts
	Prediction Prediction
}

// Prepare readies a run of cfg and its preflight; ctx ends the run.
func Prepare(ctx context.Context, cfg Config) (*Runner, error) {
	cfg = cfg.withDefaults()
	random := make([]byte, 16)
	_, _ = rand.Read(random)
	r := newRun(ctx, cfg, random)
	hint := 0
	if cfg.Mode == Hold {
		hint = cfg.Hold
	}
	eng, err := newEngine(r, hint)
	if err != nil {
		return nil, err
	}
	rn := &Runner{r: r, eng: eng, reserve: reserveFDs(fdReserve)}
	r.onWall = rn.releaseReserve
	if c, err := host.ReadTCPCounters(); err == nil {
		r.counters = &c
	}
	rn.Facts = ReadFacts(cfg.Dst, cfg.Sources)
	want := 0
	if cfg.Mode == Hold {
		want = cfg.Hold
	}
	rn.Prediction = Predict(rn.Facts, want)
	return rn, nil
}

func (rn *Runner) releaseReserve() {
	rn.once.Do(func() { closeFDs(rn.reserve) })
}

// Close releases a Runner that will not Run.
func (rn *Runner) Close() {
	rn.eng.close()
	rn.releaseReserve()
}

// sampleEvery is the controller's tick: rates, RSS, progress, the end.
const sampleEvery = 100 * time.Millisecond

// Run runs the connections and returns the report.
func (rn *Runner) Run() *Report {
	r := rn.r
	cfg := r.cfg
	rep := &Report{Config: cfg, Facts: rn.Facts, Preflight: rn.Prediction, RSSStartKiB: rssKiB()}
	r.start = time.Now()
	done := make(chan struct{})
	go func() { defer close(done); rn.eng.run() }()

	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	var samples [11]int64 // established counts of the last second, one per tick, from 0 at the start
	nsample := 1
	var deadline <-chan time.Time
	if cfg.Duration > 0 {
		t := time.NewTimer(cfg.Duration)
		defer t.Stop()
		deadline = t.C
	}
	lastProgress := time.Time{}
	peakRSS := rep.RSSStartKiB
loop:
	for {
		select {
		case <-r.ctx.Done():
			rep.Interrupted = true
			break loop
		case <-deadline:
			break loop
		case <-tick.C:
		}
		est := r.established.Load()
		samples[nsample%len(samples)] = est
		nsample++
		rate := 0.0
		if nsample >= len(samples) {
			rate = float64(est - samples[nsample%len(samples)]) // over the last second
			rep.PeakRate = max(rep.PeakRate, rate)
		} else if el := time.Since(r.start); el > 0 {
			rate = float64(est) / el.Seconds() // the first second, for the live line
		}
		if nsample%5 == 0 {
			peakRSS = max(peakRSS, rssKiB())
		}
		if cfg.Progress != nil && time.Since(lastProgress) >= 200*time.Millisecond {
			lastProgress = time.Now()
			cfg.Progress(Progress{Elapsed: time.Since(r.start), Open: r.open.Load(), Established: est,
				Attempted: r.attempted.Load(), Rate: rate, Errors: r.errorMap()})
		}
		if cfg.Mode == Hold && r.rampDone.Load() && r.open.Load() == 0 && r.inflight.Load() == 0 {
			break // nothing left to open or to watch
		}
	}
	if nsample < len(samples) {
		// Over within a second: its average is its best window.
		rep.PeakRate = max(rep.PeakRate, float64(r.established.Load())/max(time.Since(r.start).Seconds(), 1e-3))
	}
	peakRSS = max(peakRSS, rssKiB())
	// The first failure's diagnosis runs while the connections are open.
	r.mu.Lock()
	diagnosing := r.first != nil
	r.mu.Unlock()
	if diagnosing {
		select {
		case <-r.diagDone:
		case <-time.After(2*cfg.Timeout + 5*time.Second):
		}
	}
	r.stopping.Store(true)
	rn.eng.wake()
	<-done
	rn.releaseReserve()
	rep.Duration = time.Since(r.start)
	rep.RSSPeakKiB = peakRSS
	rn.fill(rep)
	return rep
}

func (r *run) errorMap() map[verdict.Cause]int64 {
	m := map[verdict.Cause]int64{}
	for i := range r.errs {
		if n := r.errs[i].Load(); n > 0 {
			m[verdict.Causes[i]] = n
		}
	}
	return m
}

// fill completes the report from the run's counters and evidence.
func (rn *Runner) fill(rep *Report) {
	r := rn.r
	rep.Attempted, rep.Established, rep.PeakOpen = r.attempted.Load(), r.established.Load(), r.peakOpen.Load()
	rep.Errors = r.errorMap()
	rep.PingsSent, rep.PongsSeen = r.pings.Load(), r.pongs.Load()
	rep.WallStop = r.wallStop.Load()
	connect := hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)
	handshake := hdrhistogram.New(1, int64(time.Hour/time.Microsecond), 3)
	for _, h := range r.hists {
		connect.Merge(h.connect)
		handshake.Merge(h.handshake)
	}
	rep.Connect, rep.Handshake = latency(connect), latency(handshake)
	r.mu.Lock()
	rep.First = r.first
	rep.Deaths = append([]Death(nil), r.deaths...)
	diag := append([]verdict.Finding(nil), r.diag...)
	r.mu.Unlock()

	var fs []verdict.Finding
	if rep.First != nil {
		if len(diag) == 0 {
			diag = []verdict.Finding{{Cause: rep.First.Cause, Confidence: verdict.Low,
				Summary:  i18n.M("load.summary.undiagnosed"),
				Evidence: []i18n.Msg{rep.First.line()}}}
		}
		diag[0].Evidence = append(diag[0].Evidence, rn.predictionLine(rep)...)
		fs = append(fs, diag...)
	}
	if f, ok := deathFinding(rep.Deaths, r.cfg.Ping, r.ws); ok {
		fs = append(fs, f)
	}
	if len(fs) == 0 {
		fs = append(fs, verdict.Finding{Cause: verdict.CauseOK, Confidence: verdict.High,
			Summary: i18n.M("load.ok.summary", "N", rep.Established, "Dst", r.cfg.Dst.String())})
	}
	rep.Findings = fs
}

// predictionLine compares what the preflight predicted with what was reached.
func (rn *Runner) predictionLine(rep *Report) []i18n.Msg {
	p := rn.Prediction
	if p.Ceiling < 0 || rep.First == nil {
		return nil
	}
	switch rep.First.Cause {
	case verdict.CauseEphemeralPortsExhausted, verdict.CauseFDExhausted:
	default:
		return nil
	}
	reached := rep.PeakOpen
	if rn.r.cfg.Mode == Short {
		reached = rep.First.Established
	}
	return []i18n.Msg{i18n.M("load.ev.predicted", "Ceiling", p.Ceiling, "Reached", reached, "Limit", LimitText(p.Binding))}
}

// LimitText names a limit for people.
func LimitText(l Limit) i18n.Msg {
	switch l {
	case LimitPorts:
		return i18n.M("load.limit.ports")
	case LimitFDs:
		return i18n.M("load.limit.fds")
	case LimitConntrack:
		return i18n.M("load.limit.conntrack")
	}
	return i18n.M("load.limit.none")
}

func latency(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{Count: h.TotalCount(), P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)),
		P99: ms(h.ValueAtQuantile(99)), Max: ms(h.Max())}
}
