// Package cdn recognises CDN and acceleration-proxy edges: by the edge
// ranges the providers publish (embedded, dated lists under ranges/, plus
// a user's --cdn-ranges file) and by the CNAME suffixes of their edge
// names, and knows which ports each edge forwards to the origin.
//
// The lists are data committed with the code, so the build never needs the
// network; `go generate ./internal/cdn` refreshes them from their published
// sources when online.
package cdn

//go:generate go run ./gen -dir ranges

import (
	"embed"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"strings"
	"sync"

	"github.com/conndiag/conndiag/internal/evidence"
)

// Provider is a CDN (defined in internal/evidence).
type Provider = evidence.CDNProvider

// Providers are the CDNs known by name. Port lists: Cloudflare documents the
// ports its proxy forwards; CloudFront accepts viewers only on 80 and 443.
var Providers = []Provider{
	{ID: "cloudflare", Name: "Cloudflare",
		HTTPPorts:  []uint16{80, 8080, 8880, 2052, 2082, 2086, 2095},
		HTTPSPorts: []uint16{443, 2053, 2083, 2087, 2096, 8443},
		Documented: true, TCPProduct: "Cloudflare Spectrum",
		Suffixes: []string{"cdn.cloudflare.net"}},
	{ID: "cloudfront", Name: "Amazon CloudFront",
		HTTPPorts: []uint16{80}, HTTPSPorts: []uint16{443}, Documented: true,
		TCPProduct: "AWS Global Accelerator",
		Suffixes:   []string{"cloudfront.net"}},
	{ID: "fastly", Name: "Fastly", Suffixes: []string{"fastly.net", "fastlylb.net"}},
	{ID: "akamai", Name: "Akamai", Suffixes: []string{"edgekey.net", "akamaiedge.net", "edgesuite.net", "akamaihd.net", "akamai.net", "akamaized.net"}},
	{ID: "imperva", Name: "Imperva", Suffixes: []string{"incapdns.net"}},
	{ID: "alibaba", Name: "Alibaba Cloud CDN", Suffixes: []string{"kunlunpi.com", "alikunlun.com", "alikunlun.net", "kunlunca.com", "kunlunsl.com", "cdngslb.com"}},
	{ID: "tencent", Name: "Tencent Cloud CDN", Suffixes: []string{"cdn.dnsv1.com", "tdnsv5.com", "cdntip.com"}},
	{ID: "huawei", Name: "Huawei Cloud CDN", Suffixes: []string{"cdnhwc1.com", "cdnhwc2.com"}},
	{ID: "wangsu", Name: "Wangsu", Suffixes: []string{"wscdns.com", "lxdns.com"}},
	{ID: "azure", Name: "Azure Front Door", Suffixes: []string{"azurefd.net", "azureedge.net"}},
	{ID: "gcore", Name: "Gcore", Suffixes: []string{"gcdn.co"}},
	{ID: "bunny", Name: "Bunny CDN", Suffixes: []string{"b-cdn.net"}},
}

// DefaultPorts are what an edge without a published port list is assumed to forward.
var DefaultPorts = evidence.CDNDefaultPorts

// ProviderByName finds a known provider by its ID or name, ignoring case.
func ProviderByName(s string) (Provider, bool) {
	s = strings.TrimSpace(s)
	for _, p := range Providers {
		if strings.EqualFold(s, p.ID) || strings.EqualFold(s, p.Name) {
			return p, true
		}
	}
	return Provider{}, false
}

// Range is one edge prefix of a provider.
type Range = evidence.CDNRange

// List is a set of edge ranges. The zero value is empty and usable.
type List struct{ ranges []Range }

// Len is the number of ranges.
func (l *List) Len() int {
	if l == nil {
		return 0
	}
	return len(l.ranges)
}

// Add appends ranges; earlier ones win in Lookup, so add a user's file first.
func (l *List) Add(rs ...Range) { l.ranges = append(l.ranges, rs...) }

// Lookup finds the first range that holds a.
func (l *List) Lookup(a netip.Addr) (Range, bool) {
	if l == nil || !a.IsValid() {
		return Range{}, false
	}
	a = a.Unmap()
	for _, r := range l.ranges {
		if r.Prefix.Contains(a) {
			return r, true
		}
	}
	return Range{}, false
}

//go:embed ranges/*.txt
var embedded embed.FS

var (
	builtinOnce sync.Once
	builtin     *List
	builtinErr  error
)

// Builtin returns the embedded lists of published edge ranges.
func Builtin() (*List, error) {
	builtinOnce.Do(func() {
		builtin = &List{}
		builtinErr = fs.WalkDir(embedded, "ranges", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			f, err := embedded.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			rs, _, err := Parse(f, p, strings.TrimSuffix(path.Base(p), ".txt"))
			if err != nil {
				return err
			}
			builtin.Add(rs...)
			return nil
		})
	})
	return builtin, builtinErr
}

// Merge returns a list holding user's ranges first, then the built-in ones.
func Merge(user *List) (*List, error) {
	b, err := Builtin()
	if err != nil {
		return nil, fmt.Errorf("embedded CDN lists: %w", err)
	}
	out := &List{}
	if user != nil {
		out.Add(user.ranges...)
	}
	out.Add(b.ranges...)
	return out, nil
}

// MatchName finds the provider whose edge suffix ends name (a CNAME target).
func MatchName(name string) (p Provider, suffix string, ok bool) {
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	for _, p := range Providers {
		for _, s := range p.Suffixes {
			if n == s || strings.HasSuffix(n, "."+s) {
				return p, s, true
			}
		}
	}
	return Provider{}, "", false
}

// Match is how an address or a name was recognised as a CDN edge.
type Match = evidence.CDNMatch
