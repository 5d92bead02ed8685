package dnsprobe

import (
	"bytes"
	"testing"

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
