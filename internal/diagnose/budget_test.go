package diagnose

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/verdict"
)

func TestBudgetSize(t *testing.T) {
	tests := []struct {
		soft, open uint64
		want       int64
	}{
		{1024, 8, 1024 - 8 - 64},
		{64, 8, 64 - 8 - 16},
		{20, 8, 20 - 8 - 2}, // the margin shrinks under a small limit
		{10, 8, fdsPerConnect},
		{3, 8, fdsPerConnect},
		{host.Unlimited, 8, 1 << 20},
		{1 << 30, 8, 1 << 20},
	}
	for _, tt := range tests {
		if got := budgetSize(tt.soft, tt.open); got != tt.want {
			t.Errorf("budgetSize(%d, %d) = %d, want %d", tt.soft, tt.open, got, tt.want)
		}
	}
}

func TestWeights(t *testing.T) {
	addr := []struct {
		ports int
		trace bool
		want  int64
	}{
		{3, false, max(2*(mainSYNs+3), fdsFingerprint) + fdsHost},
		{5, false, 2*(mainSYNs+5) + fdsHost},
		{0, false, max(2*mainSYNs, fdsFingerprint) + fdsHost}, // six SYNs to the target port (two rounds) or the protocol step
		{0, true, max(2*mainSYNs, fdsFingerprint, 2*traceWave) + fdsHost},
		{20, true, 2*(mainSYNs+20) + fdsHost},
	}
	for _, tt := range addr {
		if got := addrWeight(tt.ports, tt.trace); got != tt.want {
			t.Errorf("addrWeight(%d, %v) = %d, want %d", tt.ports, tt.trace, got, tt.want)
		}
	}
	name := []struct {
		literal, resolver, proxy bool
		want                     int64
	}{
		{true, false, false, fdsPerConnect},
		{true, false, true, fdsPerConnect + fdsProxy},
		{false, false, false, fdsPerConnect * maxAlt},
		{false, true, true, fdsPerConnect*maxAlt + fdsProxy},
	}
	for _, tt := range name {
		if got := nameWeight(tt.literal, tt.resolver, tt.proxy); got != tt.want {
			t.Errorf("nameWeight(%v, %v, %v) = %d, want %d", tt.literal, tt.resolver, tt.proxy, got, tt.want)
		}
	}
	if got := probePortCount([]uint16{22, 80, 443, 0, 8282}, 8282); got != 3 {
		t.Errorf("probePortCount = %d, want 3", got)
	}
}

func addrs(v4, v6 int, v6first bool) []netip.Addr {
	var a4, a6 []netip.Addr
	for i := range v4 {
		a4 = append(a4, netip.AddrFrom4([4]byte{203, 0, byte(113 + i/250), byte(1 + i%250)}))
	}
	for i := range v6 {
		a6 = append(a6, netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", i+1)))
	}
	if v6first {
		return append(a6, a4...)
	}
	return append(a4, a6...)
}

func TestPickAddrs(t *testing.T) {
	count := func(as []netip.Addr) (v4, v6 int) {
		for _, a := range as {
			if a.Is4() {
				v4++
			} else {
				v6++
			}
		}
		return
	}
	tests := []struct {
		name           string
		in             []netip.Addr
		want4, want6   int
		firstIsFirstIn bool
	}{
		{"few", addrs(2, 1, false), 2, 1, true},
		{"exactly the cap", addrs(16, 0, false), 16, 0, true},
		{"400 IPv4", addrs(400, 0, false), 16, 0, true},
		{"300 IPv4 then 2 IPv6", addrs(300, 2, false), 14, 2, true},
		{"IPv6 first", addrs(100, 100, true), 8, 8, true},
		{"200 IPv6", addrs(0, 200, false), 0, 16, true},
	}
	for _, tt := range tests {
		got := pickAddrs(tt.in, MaxAddrs)
		v4, v6 := count(got)
		if v4 != tt.want4 || v6 != tt.want6 {
			t.Errorf("%s: %d IPv4 + %d IPv6, want %d + %d", tt.name, v4, v6, tt.want4, tt.want6)
		}
		if len(got) > 0 && got[0] != tt.in[0] {
			t.Errorf("%s: the resolver's first address must stay first, got %v", tt.name, got[0])
		}
		// The resolver's order is kept.
		at := map[netip.Addr]int{}
		for i, a := range tt.in {
			at[a] = i
		}
		for i := 1; i < len(got); i++ {
			if at[got[i]] <= at[got[i-1]] {
				t.Errorf("%s: order changed at %d: %v", tt.name, i, got)
				break
			}
		}
	}
}

// withBudget swaps the process budget for one sized from a made-up limit.
func withBudget(t *testing.T, soft, open uint64) {
	old := fds
	fds = &budget{read: func() (uint64, uint64, uint64, error) { return soft, soft, open, nil }}
	t.Cleanup(func() { fds = old })
}

// manyServer answers every A query with n loopback addresses, AAAA with none.
func manyServer(t *testing.T, n int) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if r.Question[0].Qtype == dns.TypeA {
			for i := range n {
				rr, _ := dns.NewRR(fmt.Sprintf("%s 60 IN A 127.0.%d.%d", r.Question[0].Name, 1+i/250, 1+i%250))
				m.Answer = append(m.Answer, rr)
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	at := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", at)
	}}
}

func closedPort(t *testing.T) uint16 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := netip.MustParseAddrPort(ln.Addr().String()).Port()
	ln.Close()
	return port
}

// A budget that fits one diagnosis at a time, six diagnoses of a name with 20
// addresses at once: every one finishes (the budget cannot deadlock), tries
// at most MaxAddrs addresses, and gets a real verdict.
func TestBudgetNeverDeadlocks(t *testing.T) {
	withBudget(t, 64, 8) // 40 descriptors: one name plus one address
	res := manyServer(t, 20)
	port := closedPort(t)
	tg := mustTarget(t, fmt.Sprintf("many.test:%d", port))
	var wg sync.WaitGroup
	reports := make([]Report, 6)
	for i := range reports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i] = Check(context.Background(), tg, Options{Resolver: res, Timeout: 5 * time.Second, ProbePorts: []uint16{}})
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the diagnoses did not finish: the budget deadlocked")
	}
	for i, r := range reports {
		if len(r.Evidence.DNS.Addresses) != 20 || len(r.Evidence.Addrs) != MaxAddrs || r.Skipped() != 20-MaxAddrs {
			t.Errorf("report %d: %d addresses, %d tried, %d skipped", i, len(r.Evidence.DNS.Addresses), len(r.Evidence.Addrs), r.Skipped())
		}
		if r.Findings[0].Cause != verdict.CauseNotListening {
			t.Errorf("report %d: %s", i, r.Findings[0].Cause)
		}
	}
	// Everything went back.
	if !fds.sem.TryAcquire(fds.size) {
		t.Errorf("descriptors still reserved after every diagnosis ended")
	}
}

// A reservation waits only while ctx lives.
func TestReserveCancelled(t *testing.T) {
	withBudget(t, 64, 8)
	r, err := fds.reserve(context.Background(), 1000) // more than the whole budget: all of it
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := fds.reserve(ctx, 1); err == nil {
		t.Fatal("a full budget must make reserve wait until ctx ends")
	}
	rep := Check(ctx, mustTarget(t, "127.0.0.1:1"), Options{})
	if !rep.Cancelled {
		t.Errorf("a check that never got its descriptors must be reported as cut short")
	}
	r.done()
	if got := r.grow(1, 3); got != 3 {
		t.Errorf("grow took %d of 3 free slots", got)
	}
}

// A silent DNS server: the resolv.conf server is asked beside the system
// lookup, not after it has timed out.
func TestSilentDNSServersAskedTogether(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to listen on port 53 of a loopback address")
	}
	type silent struct {
		pc    net.PacketConn
		first chan time.Time
	}
	listen := func(addr string) *silent {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			t.Skipf("cannot listen on %s: %v", addr, err)
		}
		s := &silent{pc, make(chan time.Time, 1)}
		t.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 1500)
			for {
				if _, _, err := pc.ReadFrom(buf); err != nil {
					return
				}
				select {
				case s.first <- time.Now():
				default:
				}
			}
		}()
		return s
	}
	system := listen("127.0.0.1:0")
	conf := listen("127.83.0.53:53")
	sysAddr := system.pc.LocalAddr().String()
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", sysAddr)
	}}
	rc := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(rc, []byte("nameserver 127.83.0.53\noptions timeout:5\n"), 0o644)
	const timeout = 2 * time.Second
	start := time.Now()
	r := Check(context.Background(), mustTarget(t, "silent.test:80"), Options{Resolver: res, ResolvConf: rc,
		HostsFile: filepath.Join(t.TempDir(), "none"), Timeout: timeout})
	for name, s := range map[string]*silent{"system lookup": system, "resolv.conf server": conf} {
		select {
		case at := <-s.first:
			if d := at.Sub(start); d > timeout/2 {
				t.Errorf("the %s was first asked %v after the start: the queries ran one after the other", name, d)
			}
		default:
			t.Errorf("the %s was never asked", name)
		}
	}
	if r.Findings[0].Cause != verdict.CauseDNSFailure {
		t.Errorf("verdict %s", r.Findings[0].Cause)
	}
	seen := map[string]string{}
	for _, p := range r.Probes {
		seen[p.Name] = p.Result
	}
	if seen["dns"] != "timeout" || seen["dns_server"] != "timeout" {
		t.Errorf("probes: %+v", r.Probes)
	}
}
