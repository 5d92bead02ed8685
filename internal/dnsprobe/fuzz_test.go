package dnsprobe

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Any bytes as a DNS answer: unpacked or rejected, the chain walk ends and never panics.
func FuzzExtract(f *testing.F) {
	seed := func(rrs ...string) []byte {
		m := new(dns.Msg)
		m.SetQuestion("app.test.", dns.TypeA)
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				f.Fatal(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(seed("app.test. 60 IN A 192.0.2.1"))
	f.Add(seed("app.test. 60 IN CNAME x.cdn.cloudflare.net.", "x.cdn.cloudflare.net. 60 IN A 104.16.1.1", "x.cdn.cloudflare.net. 60 IN AAAA 2606:4700::1"))
	f.Add(seed("app.test. 60 IN CNAME b.test.", "b.test. 60 IN CNAME app.test."))
	f.Add([]byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil {
			return
		}
		name := "app.test."
		if len(m.Question) > 0 {
			name = m.Question[0].Name
		}
		chain, addrs := Extract(m, name)
		if len(chain) > MaxChain {
			t.Fatalf("chain of %d", len(chain))
		}
		for _, a := range addrs {
			if !a.IP.IsValid() || a.IP.Is4In6() {
				t.Fatalf("bad address %v", a.IP)
			}
		}
		a := merge(name, []*dns.Msg{m, m}, nil)
		_ = a.RcodeName()
	})
}

func FuzzLookupHosts(f *testing.F) {
	f.Add([]byte("127.0.0.1 localhost\n203.0.113.9 app.test # x\n"), "app.test")
	f.Add([]byte("fe80::1%eth0 app.test\n::ffff:1.2.3.4 app.test\n"), "APP.TEST.")
	f.Add([]byte("\r\n\x00 app.test\n"), "app.test")
	f.Fuzz(func(t *testing.T, b []byte, name string) {
		e, _ := LookupHosts(bytes.NewReader(b), "hosts", name)
		if e == nil {
			return
		}
		if e.Line < 1 || e.Lines < 1 || len(e.Addrs) == 0 || len(e.Text) > 200+len("…") {
			t.Fatalf("entry %+v", e)
		}
		for _, a := range e.Addrs {
			if a.Zone() != "" || a.Is4In6() {
				t.Fatalf("address %v", a)
			}
		}
	})
}

// Any resolv.conf text: bounded, clamped to glibc's limits, never a negative
// timeout or a server that is not an IP:53.
func FuzzParseConf(f *testing.F) {
	f.Add([]byte("nameserver 192.0.2.53\nsearch example.test\noptions ndots:2 timeout:2 attempts:3\n"))
	f.Add([]byte("options timeout:9999999999 attempts:99999999999 ndots:-5\nnameserver 1.1.1.1\n"))
	f.Add([]byte("options timeout:0 attempts:0 ndots:99\n"))
	f.Add([]byte("nameserver fe80::1%eth0\nnameserver ::ffff:10.0.0.1\nnameserver 127.0.0.53\nnameserver 8.8.8.8\n"))
	f.Add([]byte("nameserver dns.example.test\nnameserver\nnameserver 1.2.3.4 extra\n"))
	f.Add([]byte("nameserver 1.1.1.1\r\nsearch a.test b.test\r\n\x00nameserver\x00 2.2.2.2\n"))
	f.Add([]byte("search " + strings.Repeat("d.test ", 500) + "\n"))
	f.Add([]byte(strings.Repeat("x", 70<<10) + "\nnameserver 9.9.9.9\n"))
	f.Add([]byte("domain a.test\nsearch b.test\ndomain\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConf(bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(c.Servers) > maxServers || len(c.Search) > maxSearch {
			t.Fatalf("%d servers, %d search domains", len(c.Servers), len(c.Search))
		}
		for _, s := range c.Servers {
			ap, err := netip.ParseAddrPort(s)
			if err != nil || ap.Port() != 53 || ap.Addr().Is4In6() {
				t.Fatalf("server %q", s)
			}
		}
		if c.Timeout < time.Second || c.Timeout > maxTimeout || c.Attempts < 1 || c.Attempts > maxAttempts || c.Ndots < 0 || c.Ndots > 15 {
			t.Fatalf("timeout %v attempts %d ndots %d", c.Timeout, c.Attempts, c.Ndots)
		}
		ns := c.names("app")
		if len(ns) == 0 || len(ns) > 4 {
			t.Fatalf("names %q", ns)
		}
		for _, n := range ns {
			if !strings.HasSuffix(n, ".") {
				t.Fatalf("name %q is not fully qualified", n)
			}
		}
	})
}

// Any two answers (the A and the AAAA query's): each address once, IPv4
// first, success whenever an address came, the chain bounded.
func FuzzMerge(f *testing.F) {
	msg := func(rcode int, rrs ...string) []byte {
		m := new(dns.Msg)
		m.SetQuestion("app.test.", dns.TypeA)
		m.Rcode = rcode
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				f.Fatal(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	both := msg(dns.RcodeSuccess, "app.test. 60 IN A 192.0.2.1", "app.test. 60 IN AAAA 2001:db8::1", "app.test. 60 IN AAAA ::ffff:192.0.2.1")
	f.Add(both, both)
	f.Add(msg(dns.RcodeNameError), msg(dns.RcodeSuccess, "app.test. 60 IN AAAA 2001:db8::1"))
	f.Add(msg(dns.RcodeServerFailure), msg(dns.RcodeRefused))
	f.Add(msg(dns.RcodeSuccess, "app.test. 60 IN CNAME b.test.", "b.test. 60 IN CNAME app.test."), msg(dns.RcodeSuccess, "app.test. 1 IN CNAME c.test.", "c.test. 1 IN A 192.0.2.9"))
	f.Add(msg(dns.RcodeSuccess, "APP.TEST. 60 IN A 192.0.2.1", "other.test. 60 IN A 192.0.2.66"), []byte{0xff})
	f.Add([]byte{}, []byte{0, 0, 0x81, 0x80})
	f.Fuzz(func(t *testing.T, x, y []byte) {
		var msgs []*dns.Msg
		var errs []error
		for _, b := range [][]byte{x, y} {
			m := new(dns.Msg)
			if err := m.Unpack(b); err != nil {
				errs = append(errs, err)
				continue
			}
			msgs = append(msgs, m)
		}
		a := merge("app.test.", msgs, errs)
		if len(msgs) == 0 && a.Responded() {
			t.Fatalf("no message, yet rcode %d", a.Rcode)
		}
		if len(a.Addrs) > 0 && a.Rcode != dns.RcodeSuccess {
			t.Fatalf("addresses with rcode %d", a.Rcode)
		}
		if len(a.Chain) > MaxChain {
			t.Fatalf("chain of %d", len(a.Chain))
		}
		seen := map[netip.Addr]bool{}
		v6 := false
		for _, x := range a.Addrs {
			if !x.IP.IsValid() || x.IP.Is4In6() || seen[x.IP] {
				t.Fatalf("address %v (twice: %v)", x.IP, seen[x.IP])
			}
			seen[x.IP] = true
			if x.IP.Is4() && v6 {
				t.Fatalf("IPv4 after IPv6: %v", a.Addrs)
			}
			v6 = v6 || x.IP.Is6()
		}
		if a.Responded() && a.RcodeName() == "" {
			t.Fatalf("rcode %d has no name", a.Rcode)
		}
	})
}
