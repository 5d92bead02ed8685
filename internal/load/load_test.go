package load

import (
	"net/netip"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/verdict"
)

var (
	dst  = netip.MustParseAddrPort("10.0.0.5:8282")
	src2 = netip.MustParseAddr("10.0.0.2")
	src3 = netip.MustParseAddr("10.0.0.3")
	lo   = netip.MustParseAddr("127.0.0.1")
)

func TestPredict(t *testing.T) {
	def := host.PortRange{Lo: 32768, Hi: 60999}
	tests := []struct {
		name string
		f    Facts
		want int
		// expected
		ceiling      int
		binding      Limit
		ports, fds   int
		needSources  int
		needRange    int
		needNoFile   uint64
		twReused     bool
		sustainedMin float64
	}{
		{name: "default range, one source, nothing in use",
			f:       Facts{Dst: dst, Sources: []netip.Addr{src2}, Range: def, Timestamps: true, TwReuse: 2},
			want:    50000,
			ceiling: 28232, binding: LimitPorts, ports: 28232, fds: -1,
			needSources: 2, needRange: 50000},
		{name: "two sources cover 50000",
			f:       Facts{Dst: dst, Sources: []netip.Addr{src2, src3}, Range: def, Timestamps: true},
			want:    50000,
			ceiling: 56464, binding: LimitPorts, ports: 56464, fds: -1},
		{name: "sockets in use and TIME_WAIT not reused (tw_reuse 2, not loopback)",
			f: Facts{Dst: dst, Sources: []netip.Addr{src2}, Range: host.PortRange{Lo: 40000, Hi: 40099}, Timestamps: true, TwReuse: 2,
				Used: map[netip.Addr]int{src2: 30}, TimeWait: map[netip.Addr]int{src2: 20}},
			want:    100,
			ceiling: 70, binding: LimitPorts, ports: 70, fds: -1,
			needSources: 2, needRange: 130},
		{name: "TIME_WAIT reused with tw_reuse 1",
			f: Facts{Dst: dst, Sources: []netip.Addr{src2}, Range: host.PortRange{Lo: 40000, Hi: 40099}, Timestamps: true, TwReuse: 1, TwReuseDelay: time.Second,
				Used: map[netip.Addr]int{src2: 30}, TimeWait: map[netip.Addr]int{src2: 20}},
			want:    0,
			ceiling: 90, binding: LimitPorts, ports: 90, fds: -1, twReused: true, sustainedMin: 100},
		{name: "tw_reuse 1 without timestamps reuses nothing",
			f: Facts{Dst: dst, Sources: []netip.Addr{src2}, Range: host.PortRange{Lo: 40000, Hi: 40099}, Timestamps: false, TwReuse: 1,
				Used: map[netip.Addr]int{src2: 30}, TimeWait: map[netip.Addr]int{src2: 20}},
			ceiling: 70, binding: LimitPorts, ports: 70, fds: -1},
		{name: "loopback destination with tw_reuse 2",
			f: Facts{Dst: netip.AddrPortFrom(lo, 8282), Sources: []netip.Addr{lo}, Range: host.PortRange{Lo: 40000, Hi: 40009}, Timestamps: true, TwReuse: 2,
				Used: map[netip.Addr]int{lo: 10}, TimeWait: map[netip.Addr]int{lo: 10}},
			ceiling: 10, binding: LimitPorts, ports: 10, fds: -1, twReused: true, sustainedMin: 10},
		{name: "reserved ports and a listener inside the range",
			f: Facts{Dst: dst, Sources: []netip.Addr{src2}, Range: host.PortRange{Lo: 40000, Hi: 40011},
				Reserved: []host.PortRange{{Lo: 39990, Hi: 40001}, {Lo: 40011, Hi: 40020}}, Listening: []uint16{22, 40005, 40000}},
			ceiling: 8, binding: LimitPorts, ports: 8, fds: -1},
		{name: "the descriptor limit binds",
			f:       Facts{Dst: dst, Sources: []netip.Addr{src2}, Range: def, NoFileSoft: 20000, NoFileOpen: 12, Reserve: 4},
			want:    25000,
			ceiling: 19984, binding: LimitFDs, ports: 28232, fds: 19984, needNoFile: 25016},
		{name: "conntrack binds",
			f:       Facts{Dst: dst, Sources: []netip.Addr{src2}, Range: def, ConntrackMax: 1000, ConntrackCount: 100},
			ceiling: 900, binding: LimitConntrack, ports: 28232, fds: -1},
		{name: "range unknown: the descriptor limit alone",
			f:       Facts{Dst: dst, Sources: []netip.Addr{{}}, NoFileSoft: 256, NoFileOpen: 6},
			ceiling: 250, binding: LimitFDs, ports: -1, fds: 250},
		{name: "nothing known",
			f:       Facts{Dst: dst, Sources: []netip.Addr{{}}},
			ceiling: -1, binding: LimitNone, ports: -1, fds: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Predict(tt.f, tt.want)
			if p.Ceiling != tt.ceiling || p.Binding != tt.binding || p.Ports != tt.ports || p.FDs != tt.fds {
				t.Errorf("ceiling %d (%q), ports %d, fds %d; want %d (%q), %d, %d", p.Ceiling, p.Binding, p.Ports, p.FDs, tt.ceiling, tt.binding, tt.ports, tt.fds)
			}
			if p.NeedSources != tt.needSources || p.NeedRangeSize != tt.needRange || p.NeedNoFile != tt.needNoFile {
				t.Errorf("needs sources %d, range %d, nofile %d; want %d, %d, %d", p.NeedSources, p.NeedRangeSize, p.NeedNoFile, tt.needSources, tt.needRange, tt.needNoFile)
			}
			if p.TwReused != tt.twReused {
				t.Errorf("TwReused %v, want %v", p.TwReused, tt.twReused)
			}
			if tt.sustainedMin > 0 && p.SustainedRate < tt.sustainedMin {
				t.Errorf("sustained rate %.1f, want at least %.1f", p.SustainedRate, tt.sustainedMin)
			}
		})
	}
}

func TestPredictShortWithoutReuse(t *testing.T) {
	p := Predict(Facts{Dst: dst, Sources: []netip.Addr{src2}, Range: host.PortRange{Lo: 32768, Hi: 60999}}, 0)
	if got := p.SustainedRate; got < 470 || got > 471 {
		t.Errorf("28232 ports over 60 s: want 470.5 connections per second, got %.1f", got)
	}
}

func TestCountSockets(t *testing.T) {
	ap := netip.MustParseAddrPort
	mapped := netip.AddrPortFrom(netip.AddrFrom16(src2.As16()), 40001) // ::ffff:10.0.0.2
	socks := []host.Socket{
		{Local: ap("10.0.0.2:40000"), Remote: dst, State: host.StateEstablished},
		{Local: mapped, Remote: netip.AddrPortFrom(netip.AddrFrom16(dst.Addr().As16()), dst.Port()), State: host.StateTimeWait},
		{Local: ap("10.0.0.3:40002"), Remote: dst, State: host.StateTimeWait},
		{Local: ap("10.0.0.2:30000"), Remote: dst, State: host.StateEstablished}, // outside the range
		{Local: ap("10.0.0.2:40003"), Remote: ap("10.0.0.5:9999"), State: host.StateEstablished},
		{Local: ap("10.0.0.9:40004"), Remote: dst, State: host.StateEstablished}, // not a source
		{Local: ap("0.0.0.0:40005"), State: host.StateListen},
		{Local: ap("0.0.0.0:22"), State: host.StateListen},
		{Local: ap("[::]:22"), State: host.StateListen},
	}
	f := Facts{Dst: dst, Sources: []netip.Addr{src2, src3}, Range: host.PortRange{Lo: 40000, Hi: 40099}}
	f.CountSockets(socks)
	if f.Used[src2] != 2 || f.TimeWait[src2] != 1 || f.Used[src3] != 1 || f.TimeWait[src3] != 1 || f.TimeWaitAll != 2 {
		t.Errorf("used %v, time_wait %v, all %d", f.Used, f.TimeWait, f.TimeWaitAll)
	}
	if !reflect.DeepEqual(f.Listening, []uint16{22, 40005}) {
		t.Errorf("listening %v, want [22 40005]", f.Listening)
	}
	// No source known: every local address counts.
	g := Facts{Dst: dst, Sources: []netip.Addr{{}}, Range: host.PortRange{Lo: 40000, Hi: 40099}}
	g.CountSockets(socks)
	if g.Used[netip.Addr{}] != 4 {
		t.Errorf("any source: used %v, want 4", g.Used)
	}
}

func TestParseReservedPorts(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []host.PortRange
		err  bool
	}{
		{"\n", nil, false},
		{"8000-8100,9000\n", []host.PortRange{{Lo: 8000, Hi: 8100}, {Lo: 9000, Hi: 9000}}, false},
		{"9000,8000-8001", []host.PortRange{{Lo: 8000, Hi: 8001}, {Lo: 9000, Hi: 9000}}, false},
		{"0", nil, true},
		{"70000", nil, true},
		{"9-1", nil, true},
		{"a-b", nil, true},
		{"1,,2", nil, true},
	} {
		got, err := ParseReservedPorts(tt.in)
		if (err != nil) != tt.err || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseReservedPorts(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func FuzzParseReservedPorts(f *testing.F) {
	for _, s := range []string{"", "8000-8100,9000", "1-65535", "65535-1", "-", ",", "1-2-3", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParseReservedPorts(s)
		if err != nil {
			return
		}
		for _, r := range rs {
			if r.Lo < 1 || r.Hi > 65535 || r.Lo > r.Hi {
				t.Fatalf("%q gave %v", s, r)
			}
		}
	})
}

func TestParseSources(t *testing.T) {
	a := netip.MustParseAddr
	for _, tt := range []struct {
		in   string
		want []netip.Addr
		err  bool
	}{
		{"127.0.0.2", []netip.Addr{a("127.0.0.2")}, false},
		{"127.0.0.2-127.0.0.4", []netip.Addr{a("127.0.0.2"), a("127.0.0.3"), a("127.0.0.4")}, false},
		{"10.0.0.2, 10.0.0.3,10.0.0.2", []netip.Addr{a("10.0.0.2"), a("10.0.0.3")}, false},
		{"127.0.1.0/30,127.0.0.9", []netip.Addr{a("127.0.1.0"), a("127.0.1.1"), a("127.0.1.2"), a("127.0.1.3"), a("127.0.0.9")}, false},
		{"fd00::1-fd00::2", []netip.Addr{a("fd00::1"), a("fd00::2")}, false},
		{"::ffff:10.0.0.2", []netip.Addr{a("10.0.0.2")}, false},
		{"127.0.0.255-127.0.1.1", []netip.Addr{a("127.0.0.255"), a("127.0.1.0"), a("127.0.1.1")}, false},
		{"127.0.0.9-127.0.0.2", nil, true},
		{"127.0.0.2,::1", nil, true},
		{"10.0.0.0/8", nil, true},
		{"10.0.0.0-10.0.255.255", nil, true}, // more than MaxSources
		{"0.0.0.0", nil, true},
		{"224.0.0.1", nil, true},
		{"host.example", nil, true},
		{",", nil, true},
		{"127.0.0.1-", nil, true},
	} {
		got, err := ParseSources(tt.in)
		if (err != nil) != tt.err || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseSources(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func FuzzParseSources(f *testing.F) {
	for _, s := range []string{"127.0.0.2-127.0.0.20", "10.0.0.2,10.0.0.3", "fd00::/120", "1.2.3.4/32", "-", "::-::", "0.0.0.0/20"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseSources(s)
		if err != nil {
			return
		}
		if len(got) == 0 || len(got) > MaxSources {
			t.Fatalf("%q gave %d addresses", s, len(got))
		}
		for _, a := range got {
			if a.Is4() != got[0].Is4() {
				t.Fatalf("%q mixes families", s)
			}
		}
	})
}

func TestClusterDeaths(t *testing.T) {
	s := time.Second
	ms := time.Millisecond
	d := func(opened, age time.Duration, code int) Death { return Death{Opened: opened, Age: age, Code: code} }
	tests := []struct {
		name       string
		ds         []Death
		ok         bool
		age        time.Duration
		count      int
		spreadOver time.Duration // OpenSpread must exceed this (0: must not exceed the tolerance)
	}{
		{"too few", []Death{d(0, 60*s, 1006), d(s, 60*s, 1006)}, false, 0, 0, 0},
		{"nginx 60 s, openings spread", []Death{d(0, 60*s, 1006), d(2*s, 60*s+100*ms, 1006), d(4*s, 59*s+900*ms, 1006), d(6*s, 60*s, 1006)}, true, 60 * s, 4, 5 * s},
		{"cloudflare 100 s with strays", []Death{d(0, 100*s, 1006), d(s, 100*s, 1006), d(2*s, 101*s, 1006), d(3*s, 12*s, 1001), d(4*s, 99*s+500*ms, 1006)}, true, 100 * s, 4, 3 * s},
		{"scattered ages", []Death{d(0, 3*s, 1006), d(0, 17*s, 1006), d(0, 40*s, 1006), d(0, 90*s, 1006)}, false, 0, 0, 0},
		{"opened together, died together", []Death{d(0, 3*s, 1006), d(10*ms, 3*s, 1006), d(20*ms, 3*s, 1006)}, true, 3 * s, 3, 0},
		{"a cluster under half of the deaths", []Death{d(0, 5*s, 1006), d(0, 5*s, 1006), d(0, 5*s, 1006), d(0, 20*s, 1006), d(0, 30*s, 1006), d(0, 40*s, 1006), d(0, 50*s, 1006)}, false, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := ClusterDeaths(tt.ds)
			if ok != tt.ok {
				t.Fatalf("ok %v, want %v (%+v)", ok, tt.ok, c)
			}
			if !ok {
				return
			}
			if c.Count != tt.count || c.Age < tt.age-ClusterTolerance(tt.age) || c.Age > tt.age+ClusterTolerance(tt.age) {
				t.Errorf("cluster of %d at %v, want %d at %v", c.Count, c.Age, tt.count, tt.age)
			}
			if tt.spreadOver > 0 && c.OpenSpread <= tt.spreadOver {
				t.Errorf("open spread %v, want over %v", c.OpenSpread, tt.spreadOver)
			}
			if tt.spreadOver == 0 && c.OpenSpread > ClusterTolerance(c.Age) {
				t.Errorf("open spread %v, want within the tolerance", c.OpenSpread)
			}
		})
	}
}

func TestDeathFinding(t *testing.T) {
	s := time.Second
	var ds []Death
	for i := range 10 {
		ds = append(ds, Death{Opened: time.Duration(i) * s, Age: 100 * s, Code: 1006})
	}
	f, ok := deathFinding(ds, 0, true)
	if !ok || f.Cause != verdict.CauseIdleTimeout || f.Confidence != verdict.High {
		t.Fatalf("got %s %s", f.Cause, f.Confidence)
	}
	found := false
	for _, e := range f.Evidence {
		if e.ID == "load.culprit.100" {
			found = true
		}
	}
	if !found {
		t.Errorf("want Cloudflare's 100 s named: %+v", f.Evidence)
	}
	// Pinged every 30 s and still dying at 100 s: not silence that kills them.
	if f, _ := deathFinding(ds, 30*s, true); f.Confidence != verdict.Low {
		t.Errorf("with pings more often than the age: confidence %s, want low", f.Confidence)
	}
	// Scattered deaths are not an idle timeout.
	scattered := []Death{{Age: s}, {Age: 20 * s, Reset: true}, {Age: 50 * s}}
	if f, ok := deathFinding(scattered, 0, false); !ok || f.Cause == verdict.CauseIdleTimeout {
		t.Errorf("scattered deaths: %s", f.Cause)
	}
	if _, ok := deathFinding(nil, 0, true); ok {
		t.Error("no deaths, no finding")
	}
}

func TestFailureCause(t *testing.T) {
	for _, tt := range []struct {
		f    failure
		ws   bool
		want verdict.Cause
	}{
		{failure{phase: PhaseSocket, errno: syscall.EMFILE}, false, verdict.CauseFDExhausted},
		{failure{phase: PhaseSocket, errno: syscall.ENFILE}, false, verdict.CauseFDExhausted},
		{failure{phase: PhaseBind, errno: syscall.EADDRNOTAVAIL}, false, verdict.CauseSourceAddressInvalid},
		{failure{phase: PhaseBind, errno: syscall.EADDRINUSE}, false, verdict.CauseEphemeralPortsExhausted},
		{failure{phase: PhaseConnect, errno: syscall.EADDRNOTAVAIL}, false, verdict.CauseEphemeralPortsExhausted},
		{failure{phase: PhaseConnect, errno: syscall.ECONNREFUSED}, false, verdict.CauseNotListening},
		{failure{phase: PhaseConnect, timeout: true}, false, verdict.CauseFiltered},
		{failure{phase: PhaseConnect, timeout: true, everOK: true}, false, verdict.CauseAcceptQueueOverflow},
		{failure{phase: PhaseConnect, errno: syscall.ETIMEDOUT, everOK: true}, false, verdict.CauseAcceptQueueOverflow},
		{failure{phase: PhaseConnect, errno: syscall.EHOSTUNREACH}, false, verdict.CauseHostUnreachable},
		{failure{phase: PhaseConnect, errno: syscall.ENETUNREACH}, false, verdict.CauseNoRoute},
		{failure{phase: PhaseConnect, errno: syscall.EPERM}, false, verdict.CauseClientFirewall},
		{failure{phase: PhaseHandshake, errno: syscall.ECONNRESET}, true, verdict.CauseResetByPeer},
		{failure{phase: PhaseHandshake, eof: true}, true, verdict.CauseResetByPeer},
		{failure{phase: PhaseHandshake, timeout: true}, true, verdict.CauseNotHTTP},
		{failure{phase: PhaseHandshake, timeout: true, everOK: true}, true, verdict.CauseAcceptQueueOverflow},
		{failure{phase: PhaseHandshake, status: 404}, true, verdict.CauseWSPathNotFound},
		{failure{phase: PhaseHandshake, status: 200}, true, verdict.CauseWSUpgradeRejected},
		{failure{phase: PhaseHandshake, status: 502}, true, verdict.CauseProxyUpstreamFailed},
		{failure{phase: PhaseHandshake, status: 503}, false, verdict.CauseProxyUpstreamFailed},
		{failure{phase: PhaseHandshake, proto: errNotHTTP}, true, verdict.CauseNotHTTP},
		{failure{phase: PhaseHandshake, override: verdict.CauseTLSCertificate}, true, verdict.CauseTLSCertificate},
	} {
		if got := tt.f.cause(tt.ws); got != tt.want {
			t.Errorf("%+v: %s, want %s", tt.f, got, tt.want)
		}
	}
}
