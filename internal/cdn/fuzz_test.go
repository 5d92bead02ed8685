package cdn

import (
	"bytes"
	"net/netip"
	"testing"
)

// The --cdn-ranges file is user input: any bytes give ranges or an error, never a panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"203.0.113.2/32 cloudflare\n",
		"# date: 2026-01-01\n10.0.0.0/8 My CDN # c\n\n2001:db8::/32\n",
		"192.0.2.1\n::ffff:1.2.3.4/128\n",
		"not a cidr",
		"1.2.3.4/99",
		"#:\n# : x\n#a:b:c\n",
		"\x00\xff/\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, meta, err := Parse(bytes.NewReader(b), "fuzz", "")
		if err != nil {
			return
		}
		if meta == nil {
			t.Fatal("nil meta without error")
		}
		l := &List{}
		l.Add(rs...)
		for _, r := range rs {
			if !r.Prefix.IsValid() || r.Prefix != r.Prefix.Masked() {
				t.Fatalf("bad prefix %v", r.Prefix)
			}
			if _, ok := l.Lookup(r.Prefix.Addr()); !ok {
				t.Fatalf("a listed prefix must hold its own address: %v", r.Prefix)
			}
			_ = r.Provider.Forwards(443)
		}
		_, _ = l.Lookup(netip.MustParseAddr("192.0.2.1"))
	})
}
