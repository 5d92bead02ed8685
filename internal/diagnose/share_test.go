package diagnose

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

// countingListener accepts on loopback and counts the connections.
func countingListener(t *testing.T) (uint16, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String()).Port(), &n
}

// closedPorts returns n loopback ports nothing listens on.
func closedPorts(t *testing.T, n int) []uint16 {
	t.Helper()
	var ports []uint16
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, netip.MustParseAddrPort(ln.Addr().String()).Port())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

func listSource(ts []target.Target) func() (Item, error) {
	i := 0
	return func() (Item, error) {
		if i >= len(ts) {
			return Item{}, io.EOF
		}
		i++
		return Item{Target: ts[i-1]}, nil
	}
}

// Many ports of one host: the probe port is connected to once for all of
// them (plus the counted controls), the route and locality read once, and
// every report still carries the probe port's answer.
func TestShareProbesOncePerHost(t *testing.T) {
	probe, accepts := countingListener(t)
	var facts atomic.Int64
	oldLocal, oldRoute := isLocal, routeTo
	isLocal = func(a netip.Addr) (bool, error) { facts.Add(1); return oldLocal(a) }
	routeTo = func(a netip.Addr) (host.Route, error) { return oldRoute(a) }
	t.Cleanup(func() { isLocal, routeTo = oldLocal, oldRoute })

	ports := closedPorts(t, 40)
	var ts []target.Target
	for _, p := range ports {
		ts = append(ts, mustTarget(t, fmt.Sprintf("127.0.0.1:%d", p)))
	}
	share := NewShare(context.Background(), 64)
	opt := Options{ProbePorts: []uint16{probe}, Share: share, Timeout: 2 * time.Second}
	start := time.Now()
	var reports []Report
	res, err := Bulk{Workers: 16, Check: func(ctx context.Context, tg target.Target) Report {
		return Check(ctx, tg, opt)
	}}.Run(context.Background(), listSource(ts), func(_ Item, r Report) error {
		reports = append(reports, r)
		return nil
	})
	elapsed := time.Since(start)
	if err != nil || res.Delivered != len(ts) {
		t.Fatalf("run: %+v %v", res, err)
	}
	answered := 0
	for _, r := range reports {
		if r.Findings[0].Cause != verdict.CauseNotListening {
			t.Errorf("%v: %s, want not_listening", r.Target, r.Findings[0].Cause)
		}
		// A target refused before the shared answer came has it as
		// canceled, as when it probes for itself.
		seen := false
		for _, p := range r.Probes {
			if p.Name == "tcp_alive" && p.Address == fmt.Sprintf("127.0.0.1:%d", probe) && (p.Result == "ok" || p.Result == "canceled") {
				seen = true
				if p.Result == "ok" {
					answered++
				}
			}
		}
		if !seen {
			t.Errorf("%v: the shared probe port's line is missing: %+v", r.Target, r.Probes)
		}
	}
	if answered == 0 {
		t.Errorf("no target got the shared probe port's answer")
	}
	time.Sleep(100 * time.Millisecond) // a control still out lands
	controls := share.controls.Load()
	if got := accepts.Load(); got != 1+controls {
		t.Errorf("the probe port was connected to %d times for %d targets (%d controls): want once, plus the controls", got, len(ts), controls)
	}
	if max := int64(elapsed/refreshAfter) + 2; controls > max {
		t.Errorf("%d controls in %v: at most one per %v", controls, elapsed, refreshAfter)
	}
	if g := share.groups.Load(); g != 1 {
		t.Errorf("%d probe groups for one host, want 1", g)
	}
	if n := facts.Load(); n != 1 || share.factReads.Load() != 1 {
		t.Errorf("locality read %d times for one host, want once", n)
	}
}

// A name's DNS answers are asked once for all its targets.
func TestShareLooksUpANameOnce(t *testing.T) {
	var queries sync.Map // qtype -> *atomic.Int64
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		n, _ := queries.LoadOrStore(q.Question[0].Qtype, &atomic.Int64{})
		n.(*atomic.Int64).Add(1)
		m := new(dns.Msg)
		m.SetReply(q)
		if q.Question[0].Qtype == dns.TypeA {
			rr, _ := dns.NewRR(q.Question[0].Name + " 60 IN A 127.0.0.1")
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	addr := pc.LocalAddr().String()
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", addr)
	}}

	ports := closedPorts(t, 20)
	var ts []target.Target
	for _, p := range ports {
		ts = append(ts, mustTarget(t, fmt.Sprintf("many.test:%d", p)))
	}
	share := NewShare(context.Background(), 64)
	opt := Options{ProbePorts: []uint16{}, Share: share, Resolver: res, Timeout: 2 * time.Second}
	n := 0
	_, err = Bulk{Workers: 8, Check: func(ctx context.Context, tg target.Target) Report {
		return Check(ctx, tg, opt)
	}}.Run(context.Background(), listSource(ts), func(_ Item, r Report) error {
		n++
		if len(r.Addresses()) != 1 || r.Addresses()[0] != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("%v: addresses %v", r.Target, r.Addresses())
		}
		return nil
	})
	if err != nil || n != len(ts) {
		t.Fatalf("%d reports, %v", n, err)
	}
	a, _ := queries.Load(dns.TypeA)
	if a == nil || a.(*atomic.Int64).Load() != 1 || share.lookups.Load() != 1 {
		t.Errorf("the name was asked for %v times for %d targets, want once", a, len(ts))
	}
}

// A shared lookup still ends at once when the target's context does.
func TestShareLookupCancelled(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // never answers
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
	share := NewShare(context.Background(), 16)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	r := Check(ctx, mustTarget(t, "slow.test:80"), Options{Resolver: res, Share: share, Timeout: 10 * time.Second})
	if !r.Cancelled || time.Since(start) > 5*time.Second {
		t.Errorf("cancelled: %v after %v", r.Cancelled, time.Since(start))
	}
}

func TestAutoWidth(t *testing.T) {
	tests := []struct {
		budget, weight int64
		want           Width
	}{
		{1 << 20, 16, Width{MaxAutoWorkers, AutoHostsAtOnce}}, // a raised limit: the cap
		{950, 16, Width{59, AutoHostsAtOnce}},                 // ulimit -n 1024
		{100, 16, Width{6, 6}},                                // a small limit: narrow, hosts too
		{10, 16, Width{1, 1}},                                 // below one target: still one
		{100, 0, Width{MaxAutoWorkers, AutoHostsAtOnce}},
	}
	for _, tt := range tests {
		if got := AutoWidth(tt.budget, tt.weight); got != tt.want {
			t.Errorf("AutoWidth(%d, %d) = %+v, want %+v", tt.budget, tt.weight, got, tt.want)
		}
	}
	// Probe ports and --trace weigh on what one target holds.
	if TargetWeight(Options{ProbePorts: []uint16{}}) >= TargetWeight(Options{}) {
		t.Errorf("no probe ports must weigh less than three")
	}
}

// At most HostsAtOnce different hosts are diagnosed at once, while the
// ports of one host run as wide as the workers.
func TestBulkHostsAtOnce(t *testing.T) {
	var ts []target.Target
	for h := 1; h <= 6; h++ {
		for p := 1; p <= 10; p++ {
			ts = append(ts, mustTarget(t, fmt.Sprintf("127.0.0.%d:%d", h, p)))
		}
	}
	var mu sync.Mutex
	active := map[string]int{}
	peakHosts, peakOne := 0, 0
	b := Bulk{Workers: 8, HostsAtOnce: 2, Check: func(ctx context.Context, tg target.Target) Report {
		mu.Lock()
		active[tg.Host]++
		peakHosts = max(peakHosts, len(active))
		peakOne = max(peakOne, active[tg.Host])
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		if active[tg.Host]--; active[tg.Host] == 0 {
			delete(active, tg.Host)
		}
		mu.Unlock()
		return Report{Target: tg}
	}}
	res, err := b.Run(context.Background(), listSource(ts), func(Item, Report) error { return nil })
	if err != nil || res.Delivered != len(ts) {
		t.Fatalf("%+v %v", res, err)
	}
	if peakHosts > 2 {
		t.Errorf("%d hosts at once, want at most 2", peakHosts)
	}
	if peakOne < 4 {
		t.Errorf("one host's ports ran at most %d at once: want them wide", peakOne)
	}
}

// A worker waiting for a host slot gives up when the run is interrupted:
// its target is named as not diagnosed.
// An interrupt that stops the reading before the end of the input is an
// interrupted run however the last report and the interrupt came in.
func TestBulkInterruptBeforeTheRestIsRead(t *testing.T) {
	ts := []target.Target{mustTarget(t, "127.0.0.1:1"), mustTarget(t, "127.0.0.2:1")}
	for range 50 {
		ctx, cancel := context.WithCancel(context.Background())
		first := true
		src := listSource(ts)
		next := func() (Item, error) {
			if !first {
				<-ctx.Done() // the reader is still on the input when the interrupt comes
			}
			first = false
			return src()
		}
		b := Bulk{Workers: 1, Check: func(ctx context.Context, tg target.Target) Report {
			cancel()
			return Report{Target: tg, Cancelled: true}
		}}
		res, _ := b.Run(ctx, next, func(Item, Report) error { return nil })
		if !res.Interrupted || res.Exhausted {
			t.Fatalf("%+v: want an interrupted run, the input not read to its end", res)
		}
	}
}

func TestBulkHostGateInterrupted(t *testing.T) {
	ts := []target.Target{mustTarget(t, "127.0.0.1:1"), mustTarget(t, "127.0.0.2:1")}
	ctx, cancel := context.WithCancel(context.Background())
	// The interrupt comes once the second target is read: one not read yet
	// would be the rest of the input, not a target given up.
	read2 := make(chan struct{})
	src := listSource(ts)
	n := 0
	next := func() (Item, error) {
		it, err := src()
		if n++; n == 2 {
			close(read2)
		}
		return it, err
	}
	b := Bulk{Workers: 2, HostsAtOnce: 1, Check: func(ctx context.Context, tg target.Target) Report {
		<-read2
		cancel()
		<-ctx.Done()
		return Report{Target: tg, Cancelled: true}
	}}
	done := make(chan BulkResult)
	go func() {
		res, _ := b.Run(ctx, next, func(Item, Report) error { return nil })
		done <- res
	}()
	select {
	case res := <-done:
		if res.Missed != 2 || !res.Interrupted {
			t.Errorf("%+v: want both targets missed", res)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the run did not end after the interrupt")
	}
}

func TestLRUBounded(t *testing.T) {
	c := newLRU[int, int](3)
	for i := range 10 {
		c.put(i, i)
		c.get(0) // kept in use
	}
	if c.len() != 3 {
		t.Errorf("%d entries, want 3", c.len())
	}
	if _, ok := c.get(0); !ok {
		t.Errorf("the entry in use was dropped")
	}
	if _, ok := c.get(1); ok {
		t.Errorf("an old entry was kept")
	}
}

// The controls that confirm silent ports are shared: many targets whose
// wait ran out together need one control in flight and one after it, not
// one each; each target waits for controlRounds of them, then gives up.
func TestSilenceControlsShared(t *testing.T) {
	if (*Share)(nil).silence(netip.MustParseAddr("127.0.0.1"), Options{}).confirm() != nil {
		t.Fatal("nothing shared: the wait alone decides")
	}
	probe, accepts := countingListener(t)
	share := NewShare(context.Background(), 16)
	a := netip.MustParseAddr("127.0.0.1")
	opt := Options{ProbePorts: []uint16{probe}, Timeout: 2 * time.Second}.withDefaults()
	g := share.probeGroup(a, opt)
	if g == nil {
		t.Fatal("no probe group")
	}
	for deadline := time.Now().Add(2 * time.Second); ; {
		if _, ok := share.host(a).answeringPort(share); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the probe port never answered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	const targets = 20
	judges := make([]*silence, targets)
	for i := range judges {
		judges[i] = share.silence(a, opt)
	}
	for round := range controlRounds {
		var wg sync.WaitGroup
		for _, j := range judges {
			ch := j.confirm()
			if ch == nil {
				t.Fatalf("round %d: no control to wait for", round)
			}
			wg.Add(1)
			go func() { defer wg.Done(); <-ch }()
		}
		wg.Wait()
	}
	for _, j := range judges {
		if j.confirm() != nil {
			t.Fatalf("after %d rounds a target must give up", controlRounds)
		}
	}
	// One or two a round when the targets ask together; a slow machine may
	// see a control come back before every target asked, hence the margin.
	if c := share.controls.Load(); c < controlRounds || c > targets*controlRounds/4 {
		t.Errorf("%d controls for %d targets over %d rounds: want them shared", c, targets, controlRounds)
	}
	time.Sleep(50 * time.Millisecond)
	if got := accepts.Load(); got != 1+share.controls.Load() {
		t.Errorf("%d connects to the probe port, want the group's one and the %d controls", got, share.controls.Load())
	}
}

// A run of many targets traces only when --trace asks: a trace per silent
// port would hold sixty-odd descriptors each and narrow the run.
func TestAutoTraceOnlyAlone(t *testing.T) {
	sh := NewShare(context.Background(), 4)
	for _, tt := range []struct {
		opt  Options
		want bool
	}{
		{Options{}, true},
		{Options{Share: sh}, false},
		{Options{Share: sh, Trace: true}, true},
	} {
		if got := tt.opt.withDefaults().autoTrace(); got != tt.want {
			t.Errorf("autoTrace(share %v, trace %v) = %v, want %v", tt.opt.Share != nil, tt.opt.Trace, got, tt.want)
		}
		if hops := tt.opt.withDefaults().traceHops(); (hops > 0) != tt.want {
			t.Errorf("traceHops(share %v, trace %v) = %d", tt.opt.Share != nil, tt.opt.Trace, hops)
		}
	}
	if TargetWeight(Options{Trace: true}) <= TargetWeight(Options{}) {
		t.Errorf("--trace must weigh more in a run: %d <= %d", TargetWeight(Options{Trace: true}), TargetWeight(Options{}))
	}
}
