package dnsprobe

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// zone answers like a small authoritative+recursive server would.
func zone(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	name, qt := strings.ToLower(q.Question[0].Name), q.Question[0].Qtype
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			panic(err)
		}
		return r
	}
	_, udp := w.RemoteAddr().(*net.UDPAddr)
	switch name {
	case "a.test.":
		if qt == dns.TypeA {
			m.Answer = append(m.Answer, rr("a.test. 300 IN A 192.0.2.1"))
		} else {
			m.Answer = append(m.Answer, rr("a.test. 60 IN AAAA 2001:db8::1"))
		}
	case "cdn.test.":
		m.Answer = append(m.Answer, rr("cdn.test. 300 IN CNAME cdn.test.cdn.cloudflare.net."))
		if qt == dns.TypeA {
			m.Answer = append(m.Answer, rr("cdn.test.cdn.cloudflare.net. 120 IN A 104.16.1.1"))
		}
	case "nx.test.":
		m.Rcode = dns.RcodeNameError
	case "fail.test.":
		m.Rcode = dns.RcodeServerFailure
	case "empty.test.":
	case "loop.test.":
		m.Answer = append(m.Answer, rr("loop.test. 60 IN CNAME loop2.test."), rr("loop2.test. 60 IN CNAME loop.test."))
	case "big.test.":
		if udp {
			m.Truncated = true
			break
		}
		if qt == dns.TypeA {
			for i := 1; i <= 40; i++ {
				m.Answer = append(m.Answer, rr("big.test. 30 IN A 192.0.2."+itoa(i)))
			}
		}
	case "app.corp.test.":
		if qt == dns.TypeA {
			m.Answer = append(m.Answer, rr("app.corp.test. 30 IN A 192.0.2.9"))
		}
	default:
		m.Rcode = dns.RcodeNameError
	}
	w.WriteMsg(m)
}

// serve starts a DNS server on loopback (UDP and TCP on one port) and returns its address.
func serve(t *testing.T, h dns.HandlerFunc) string {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		pc, err := net.ListenPacket("udp", ln.Addr().String())
		if err != nil {
			ln.Close()
			continue
		}
		for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
			go s.ActivateAndServe()
			t.Cleanup(func() { s.Shutdown() })
		}
		return ln.Addr().String()
	}
	t.Fatal("no free port for UDP and TCP")
	return ""
}

func deadServer(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestQuery(t *testing.T) {
	srv := serve(t, zone)
	tests := []struct {
		name     string
		rcode    string
		addrs    []Addr
		chain    []string
		noAnswer bool
	}{
		{name: "a.test", rcode: "NOERROR", addrs: []Addr{{IP: netip.MustParseAddr("192.0.2.1"), TTL: 300}, {IP: netip.MustParseAddr("2001:db8::1"), TTL: 60}}},
		{name: "cdn.test", rcode: "NOERROR", chain: []string{"cdn.test.cdn.cloudflare.net."}, addrs: []Addr{{IP: netip.MustParseAddr("104.16.1.1"), TTL: 120}}},
		{name: "nx.test", rcode: "NXDOMAIN"},
		{name: "fail.test", rcode: "SERVFAIL"},
		{name: "empty.test", rcode: "NOERROR", noAnswer: true},
		{name: "loop.test", rcode: "NOERROR", chain: []string{"loop2.test."}, noAnswer: true},
	}
	for _, tt := range tests {
		a := Query(ctx(t), srv, tt.name)
		if a.RcodeName() != tt.rcode || !slices.Equal(a.Addrs, tt.addrs) || !slices.Equal(a.Chain, tt.chain) || a.NoAnswer() != tt.noAnswer {
			t.Errorf("%s: got %+v", tt.name, a)
		}
		if a.Server != srv || a.Name != tt.name+"." {
			t.Errorf("%s: server %q name %q", tt.name, a.Server, a.Name)
		}
	}
	// A truncated UDP answer is asked again over TCP.
	if a := Query(ctx(t), srv, "big.test"); len(a.Addrs) != 40 {
		t.Errorf("truncated answer: got %d addresses, want 40 over TCP: %+v", len(a.Addrs), a)
	}
}

func TestQueryDeadServer(t *testing.T) {
	a := Query(ctx(t), deadServer(t), "a.test")
	if a.Responded() || a.RcodeName() != "" || !strings.Contains(a.Err, "refused") {
		t.Errorf("dead server: %+v", a)
	}
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if a := Query(c, silent.LocalAddr().String(), "a.test"); a.Responded() || !a.Timeout {
		t.Errorf("silent server: %+v", a)
	}
}

func TestAskFollowsServersAndSearch(t *testing.T) {
	srv := serve(t, zone)
	dead := deadServer(t)
	c := Conf{Servers: []string{dead, srv}, Search: []string{"corp.test"}, Ndots: 1, Timeout: time.Second}
	// The dead first server is skipped, as the system resolver does.
	a, ok := Ask(ctx(t), c, "a.test")
	if !ok || a.Server != srv || len(a.Addrs) != 2 {
		t.Errorf("Ask a.test: %+v", a)
	}
	// A single label goes through the search list.
	if a, _ := Ask(ctx(t), c, "app"); a.Name != "app.corp.test." || len(a.Addrs) != 1 {
		t.Errorf("Ask app: %+v", a)
	}
	// NXDOMAIN is definite: the answer for the name itself is kept.
	if a, _ := Ask(ctx(t), c, "nx.test"); a.RcodeName() != "NXDOMAIN" || a.Name != "nx.test." {
		t.Errorf("Ask nx.test: %+v", a)
	}
	// SERVFAIL everywhere stays SERVFAIL.
	if a, _ := Ask(ctx(t), Conf{Servers: []string{srv}, Ndots: 1, Timeout: time.Second}, "fail.test"); a.RcodeName() != "SERVFAIL" {
		t.Errorf("Ask fail.test: %+v", a)
	}
	if _, ok := Ask(ctx(t), Conf{}, "a.test"); ok {
		t.Error("no server: nothing to ask")
	}
}

func TestReadConf(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "resolv.conf")
	os.WriteFile(p, []byte("# c\nnameserver 192.0.2.53\nnameserver not-an-ip\nnameserver 2001:db8::53\nsearch corp.test\noptions timeout:1 attempts:1 ndots:2\n"), 0o644)
	c, err := ReadConf(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Servers, []string{"192.0.2.53:53", "[2001:db8::53]:53"}) || c.Timeout != time.Second || c.Ndots != 2 || c.Search[0] != "corp.test" {
		t.Errorf("conf: %+v", c)
	}
	c, err = ReadConf(filepath.Join(dir, "none"))
	if err != nil || !c.Missing || len(c.Servers) != 2 {
		t.Errorf("missing file: %+v %v", c, err)
	}
}

func TestLookupHosts(t *testing.T) {
	in := "127.0.0.1 localhost\n# 10.0.0.1 app.test\n203.0.113.9   App.Test  app   # stale\nbogus app.test\n2001:db8::9 app.test.\n203.0.113.9 app.test\n"
	e, err := LookupHosts(strings.NewReader(in), "/etc/hosts", "app.test")
	if err != nil || e == nil {
		t.Fatalf("%+v %v", e, err)
	}
	want := []netip.Addr{netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("2001:db8::9")}
	if e.Line != 3 || e.Lines != 3 || !slices.Equal(e.Addrs, want) || e.Text != "203.0.113.9   App.Test  app   # stale" {
		t.Errorf("entry: %+v", e)
	}
	if e, _ := LookupHosts(strings.NewReader(in), "h", "other.test"); e != nil {
		t.Errorf("absent name: %+v", e)
	}
	long := strings.Repeat("x", maxHostsLine+10) + "\n198.51.100.1 app.test\n"
	if e, err := LookupHosts(strings.NewReader(long), "h", "app.test"); err != nil || e == nil || e.Line != 2 {
		t.Errorf("a line after an over-long one: %+v %v", e, err)
	}
	if e, err := ReadHosts(filepath.Join(t.TempDir(), "none"), "app.test"); e != nil || err != nil {
		t.Errorf("missing hosts file: %v %v", e, err)
	}
}
