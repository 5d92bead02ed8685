package diagnose

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

func mustTarget(t *testing.T, s string) target.Target {
	t.Helper()
	tg, err := target.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestCheckLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r := Check(context.Background(), mustTarget(t, ln.Addr().String()), Options{})
	if r.Outcome != verdict.OutcomeOK || r.Findings[0].Cause != verdict.CauseOK {
		t.Fatalf("listening port: %s / %s", r.Outcome, r.Findings[0].Cause)
	}
	if len(r.Probes) == 0 || r.Probes[0].Name != "tcp_connect" || r.Probes[0].Result != "ok" {
		t.Errorf("probes: %+v", r.Probes)
	}

	port := netip.MustParseAddrPort(ln.Addr().String()).Port()
	ln.Close()
	r = Check(context.Background(), mustTarget(t, ln.Addr().String()), Options{ProbePorts: []uint16{port, 0}})
	if r.Outcome != verdict.OutcomeRefused || r.Findings[0].Cause != verdict.CauseNotListening {
		t.Fatalf("closed port: %s / %s", r.Outcome, r.Findings[0].Cause)
	}
	for _, p := range r.Probes {
		if p.Name == "tcp_alive" {
			t.Errorf("the target port and port 0 must not be used as probe ports: %+v", p)
		}
	}
}

// A resolver whose server refuses at once: dns_failure, not a hang.
func TestCheckDNSFailureFromResolver(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	pc.Close()
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, dead)
	}}
	r := Check(context.Background(), mustTarget(t, "nosuch.invalid:80"), Options{Resolver: res, Timeout: 2 * time.Second})
	if r.Outcome != verdict.OutcomeDNSFailure || r.Findings[0].Cause != verdict.CauseDNSFailure {
		t.Fatalf("got %s / %s", r.Outcome, r.Findings[0].Cause)
	}
	if len(r.Probes) != 1 || r.Probes[0].Name != "dns" || r.Probes[0].Result == "ok" {
		t.Errorf("want one failed dns probe: %+v", r.Probes)
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	if o.Timeout != DefaultTimeout || o.MinWait != DefaultMinWait || len(o.ProbePorts) != 3 || o.Resolver == nil || o.Now == nil {
		t.Errorf("defaults: %+v", o)
	}
	if o := (Options{ProbePorts: []uint16{}}).withDefaults(); len(o.ProbePorts) != 0 {
		t.Errorf("an explicit empty probe port list must stay empty")
	}
}

// The wait for a silent port, sized from the round trip another port of the
// host answered in.
func TestSilencePlan(t *testing.T) {
	ms := time.Millisecond
	us := time.Microsecond
	tests := []struct {
		name                           string
		rtt, elapsed, minWait, timeout time.Duration
		ok                             bool
		wait, giveUpIn                 time.Duration
		syns                           []time.Duration
	}{
		{"LAN: the minimum wait", 200 * us, ms, 200 * ms, 3 * time.Second, true, 200 * ms, 199 * ms,
			[]time.Duration{0, 49750 * us, 99500 * us, 124375 * us, 149250 * us}},
		{"slow path: ten round trips", 80 * ms, 90 * ms, 200 * ms, 3 * time.Second, true, 800 * ms, 710 * ms,
			[]time.Duration{0, 177500 * us, 355 * ms, 443750 * us, 532500 * us}},
		{"late answer: three round trips beyond now", 30 * ms, 280 * ms, 200 * ms, 3 * time.Second, true, 370 * ms, 90 * ms,
			[]time.Duration{0, 22500 * us, 30 * ms, 30 * ms, 30 * ms}}, // none later than two round trips before the end
		{"ten round trips reach the timeout: the timeout runs", 400 * ms, 410 * ms, 200 * ms, 3 * time.Second, false, 0, 0, nil},
		{"a short --timeout below the minimum wait", ms, 2 * ms, 200 * ms, 100 * ms, false, 0, 0, nil},
	}
	for _, tt := range tests {
		p, ok := silencePlan(tt.rtt, tt.elapsed, tt.minWait, tt.timeout)
		if ok != tt.ok || p.Wait != tt.wait || p.GiveUpIn != tt.giveUpIn || !slices.Equal(p.SYNsIn, tt.syns) {
			t.Errorf("%s: got %+v %v, want wait %v, give up in %v, SYNs in %v, %v", tt.name, p, ok, tt.wait, tt.giveUpIn, tt.syns, tt.ok)
		}
		if !ok {
			continue
		}
		if len(p.SYNsIn) != maxSYNs-1 {
			t.Errorf("%s: %d SYNs beyond the first, want %d", tt.name, len(p.SYNsIn), maxSYNs-1)
		}
		// The last SYN leaves at least two round trips for its answer.
		if last := p.SYNsIn[len(p.SYNsIn)-1]; p.GiveUpIn-last < 2*tt.rtt {
			t.Errorf("%s: last SYN %v before giving up at %v leaves less than two round trips of %v", tt.name, last, p.GiveUpIn, tt.rtt)
		}
	}
}

// A SYN counts as lost only when a SYN sent two round trips after it was answered first.
func TestLostBefore(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := time.Millisecond
	sent := []time.Time{t0, t0.Add(ms), t0.Add(50 * ms), t0.Add(100 * ms), t0.Add(125 * ms)}
	tests := []struct {
		name     string
		inFlight []int
		syn      int
		want     int
	}{
		{"the first SYN answered", []int{2, 3}, 1, 0},
		{"the second answered one round trip after the first: not counted", []int{1}, 2, 0},
		{"the fourth answered, three earlier ones still out", []int{1, 2, 3, 5}, 4, 3},
		{"the third answered, the first still out", []int{1}, 3, 1},
		{"out of range", []int{1}, 9, 0},
	}
	for _, tt := range tests {
		in := map[int]bool{}
		for _, s := range tt.inFlight {
			in[s] = true
		}
		if got := lostBefore(sent, in, tt.syn, ms); got != tt.want {
			t.Errorf("%s: lostBefore = %d, want %d", tt.name, got, tt.want)
		}
	}
	// A SYN whose goroutine had not run yet (zero time) sent nothing: not lost.
	late := []time.Time{{}, t0.Add(ms), t0.Add(50 * ms)}
	if got := lostBefore(late, map[int]bool{1: true, 2: true}, 3, ms); got != 1 {
		t.Errorf("a SYN not yet sent counted as lost: lostBefore = %d, want 1", got)
	}
}
