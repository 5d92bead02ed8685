package diagnose

import (
	"context"
	"net"
	"net/netip"
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
	tests := []struct {
		name                           string
		rtt, elapsed, minWait, timeout time.Duration
		ok                             bool
		wait, giveUpIn, thirdIn        time.Duration
	}{
		{"LAN: the minimum wait", 200 * time.Microsecond, ms, 200 * ms, 3 * time.Second, true, 200 * ms, 199 * ms, 99500 * time.Microsecond},
		{"slow path: ten round trips", 80 * ms, 90 * ms, 200 * ms, 3 * time.Second, true, 800 * ms, 710 * ms, 355 * ms},
		{"late answer: three round trips beyond now", 30 * ms, 280 * ms, 200 * ms, 3 * time.Second, true, 370 * ms, 90 * ms, 45 * ms},
		{"ten round trips reach the timeout: the timeout runs", 400 * ms, 410 * ms, 200 * ms, 3 * time.Second, false, 0, 0, 0},
		{"a short --timeout below the minimum wait", ms, 2 * ms, 200 * ms, 100 * ms, false, 0, 0, 0},
	}
	for _, tt := range tests {
		p, ok := silencePlan(tt.rtt, tt.elapsed, tt.minWait, tt.timeout)
		if ok != tt.ok || p.Wait != tt.wait || p.GiveUpIn != tt.giveUpIn || p.ThirdSYNIn != tt.thirdIn {
			t.Errorf("%s: got %+v %v, want wait %v, give up in %v, third SYN in %v, %v", tt.name, p, ok, tt.wait, tt.giveUpIn, tt.thirdIn, tt.ok)
		}
	}
}
