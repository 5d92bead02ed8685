package cdn

import (
	"net/netip"
	"strings"
	"testing"
)

func TestBuiltinFindsPublishedEdges(t *testing.T) {
	l, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr, provider string
	}{
		{"104.16.132.229", "cloudflare"},
		{"2606:4700::6810:84e5", "cloudflare"},
		{"151.101.1.69", "fastly"},
		{"13.32.1.10", "cloudfront"},
		{"2600:9000:1000::1", "cloudfront"},
		{"45.60.1.1", "imperva"},
		{"::ffff:104.16.0.1", "cloudflare"}, // v4-mapped still matches
		{"203.0.113.2", ""},
		{"8.8.8.8", ""},
	}
	for _, tt := range tests {
		r, ok := l.Lookup(netip.MustParseAddr(tt.addr))
		if got := r.Provider.ID; ok != (tt.provider != "") || got != tt.provider {
			t.Errorf("Lookup(%s) = %q, %v; want %q", tt.addr, got, ok, tt.provider)
		}
		if ok && (r.Date == "" || !strings.HasPrefix(r.Source, "ranges/")) {
			t.Errorf("Lookup(%s): range must name its dated list: %+v", tt.addr, r)
		}
	}
}

func TestMergeUserRangesWin(t *testing.T) {
	user, _, err := Parse(strings.NewReader("104.16.0.0/16 Example Edge\n"), "mine.txt", "")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Merge(&List{ranges: user})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := l.Lookup(netip.MustParseAddr("104.16.1.1")); r.Provider.Name != "Example Edge" || r.Source != "mine.txt" || r.Line != 1 {
		t.Errorf("user range must win: %+v", r)
	}
	if r, _ := l.Lookup(netip.MustParseAddr("104.17.1.1")); r.Provider.ID != "cloudflare" {
		t.Errorf("built-in ranges must remain: %+v", r)
	}
}

func TestParse(t *testing.T) {
	in := `# my edges
# date: 2026-01-02
203.0.113.2/32 cloudflare   # a known name takes its ports
198.51.100.0/24 Example CDN
2001:db8::/32
192.0.2.7

`
	rs, meta, err := Parse(strings.NewReader(in), "f.txt", "")
	if err != nil {
		t.Fatal(err)
	}
	if meta["date"] != "2026-01-02" || len(rs) != 4 {
		t.Fatalf("meta %v, ranges %+v", meta, rs)
	}
	if rs[0].Provider.ID != "cloudflare" || !rs[0].Provider.Forwards(8443) || rs[0].Line != 3 {
		t.Errorf("known provider: %+v", rs[0])
	}
	if rs[1].Provider.Name != "Example CDN" || rs[1].Provider.Forwards(8282) || !rs[1].Provider.Forwards(443) {
		t.Errorf("unknown provider assumes 80 and 443: %+v", rs[1])
	}
	if rs[2].Provider.Name != "" || rs[3].Prefix != netip.MustParsePrefix("192.0.2.7/32") {
		t.Errorf("unnamed range and bare address: %+v %+v", rs[2], rs[3])
	}
	if rs[1].Prefix.String() != "198.51.100.0/24" {
		t.Errorf("prefix %v", rs[1].Prefix)
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.0/8\nexample.com\n":    "f.txt line 2: \"example.com\" is not a CIDR",
		"10.0.0.0/33":                  "line 1",
		"fe80::1%eth0":                 "line 1",
		strings.Repeat("1", MaxLine+1): "longer than",
	} {
		_, _, err := Parse(strings.NewReader(in), "f.txt", "")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%.30q) error %v, want %q", in, err, want)
		}
	}
}

func TestProviderPortsAndNames(t *testing.T) {
	cf, ok := ProviderByName("Cloudflare")
	if !ok || !cf.Documented {
		t.Fatal("Cloudflare must be known, with documented ports")
	}
	for _, p := range []uint16{80, 8080, 8880, 2052, 2082, 2086, 2095, 443, 2053, 2083, 2087, 2096, 8443} {
		if !cf.Forwards(p) {
			t.Errorf("Cloudflare forwards %d", p)
		}
	}
	for _, p := range []uint16{22, 8282, 3306, 8000} {
		if cf.Forwards(p) {
			t.Errorf("Cloudflare does not forward %d", p)
		}
	}
	for name, want := range map[string]string{
		"app.example.com.cdn.cloudflare.net.": "cloudflare",
		"d111111abcdef8.CloudFront.net":       "cloudfront",
		"e1234.a.akamaiedge.net":              "akamai",
		"www.example.com.w.kunlunpi.com":      "alibaba",
		"example.cdn.dnsv1.com":               "tencent",
		"x.cdnhwc1.com":                       "huawei",
		"x.wscdns.com":                        "wangsu",
		"notcloudfront.net":                   "",
		"example.com":                         "",
	} {
		p, _, ok := MatchName(name)
		if p.ID != want || ok != (want != "") {
			t.Errorf("MatchName(%q) = %q, %v; want %q", name, p.ID, ok, want)
		}
	}
}
