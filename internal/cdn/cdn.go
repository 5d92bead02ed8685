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
	"slices"
	"strings"
	"sync"
)

// Provider is a CDN or acceleration proxy.
type Provider struct {
	ID   string // stable short name: "cloudflare"; "" for a provider named only in a user's file
	Name string // for people: "Cloudflare"
	// Ports the edge forwards to the origin. Empty when the provider publishes
	// no list; Forwards then assumes the HTTP and HTTPS defaults, 80 and 443.
	HTTPPorts, HTTPSPorts []uint16
	// Documented: the port list is the provider's own documented one, so a
	// port outside it is certainly not forwarded.
	Documented bool
	// TCPProduct is the provider's product that forwards arbitrary TCP ports, when it has one.
	TCPProduct string
	// Suffixes are the DNS suffixes of its edge names, as met in CNAME chains.
	Suffixes []string
}

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
var DefaultPorts = []uint16{80, 443}

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

// Ports lists the ports the edge forwards, sorted: the published ones, or DefaultPorts.
func (p Provider) Ports() []uint16 {
	ps := append(append([]uint16(nil), p.HTTPPorts...), p.HTTPSPorts...)
	if len(ps) == 0 {
		ps = append(ps, DefaultPorts...)
	}
	slices.Sort(ps)
	return slices.Compact(ps)
}

// Forwards reports whether the edge forwards port to the origin.
func (p Provider) Forwards(port uint16) bool { return slices.Contains(p.Ports(), port) }

// Label names the provider for people; a range from a user's file with no name gets "".
func (p Provider) Label() string { return p.Name }

// Range is one edge prefix of a provider.
type Range struct {
	Prefix   netip.Prefix
	Provider Provider
	Source   string // the list it came from: "ranges/cloudflare.txt" or the user's file
	Line     int
	Date     string // the list's date ("# date:" header), when it has one
}

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
type Match struct {
	Provider Provider
	Addr     netip.Addr // the address found in a range; invalid for a CNAME match
	Range    Range      // the range that holds Addr
	CNAME    string     // the name whose suffix matched, for a CNAME match
	Suffix   string
	// Seen: Addr is the client address a server reported (conndiag listen's
	// whoami), not an address of the target.
	Seen bool
}

// ByRange reports whether the match came from an address range.
func (m Match) ByRange() bool { return m.Addr.IsValid() }
