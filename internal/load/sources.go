package load

import (
	"fmt"
	"net/netip"
	"strings"
)

// MaxSources bounds --source: more addresses than this never help one client
// (4,096 × 64,511 ports is far beyond any descriptor limit).
const MaxSources = 4096

// ParseSources reads --source: addresses, ranges (127.0.0.2-127.0.0.20) and
// prefixes (127.0.1.0/28), separated by commas. Duplicates are dropped, order
// is kept, and all addresses must be of one family.
func ParseSources(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	add := func(a netip.Addr) error {
		a = a.Unmap()
		if seen[a] {
			return nil
		}
		if len(out) > 0 && out[0].Is4() != a.Is4() {
			return fmt.Errorf("--source mixes IPv4 and IPv6 addresses (%s and %s)", out[0], a)
		}
		if len(out) == MaxSources {
			return fmt.Errorf("--source gives more than %d addresses", MaxSources)
		}
		seen[a] = true
		out = append(out, a)
		return nil
	}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		switch {
		case strings.Contains(item, "/"):
			p, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("--source: %q is not an address, range or prefix", item)
			}
			p = p.Masked()
			if (p.Addr().Is4() && p.Bits() < 32-12) || (p.Addr().Is6() && p.Bits() < 128-12) {
				return nil, fmt.Errorf("--source: %s holds more than %d addresses", p, MaxSources)
			}
			for a := p.Addr(); p.Contains(a); a = a.Next() {
				if err := add(a); err != nil {
					return nil, err
				}
			}
		case strings.Contains(item, "-"):
			los, his, _ := strings.Cut(item, "-")
			lo, err1 := netip.ParseAddr(strings.TrimSpace(los))
			hi, err2 := netip.ParseAddr(strings.TrimSpace(his))
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("--source: %q is not a range like 127.0.0.2-127.0.0.20", item)
			}
			lo, hi = lo.Unmap(), hi.Unmap()
			if lo.Is4() != hi.Is4() || hi.Less(lo) {
				return nil, fmt.Errorf("--source: range %q must go from a lower to a higher address of one family", item)
			}
			for a := lo; ; a = a.Next() {
				if err := add(a); err != nil {
					return nil, err
				}
				if a == hi {
					break
				}
			}
		default:
			a, err := netip.ParseAddr(item)
			if err != nil {
				return nil, fmt.Errorf("--source: %q is not an IP address", item)
			}
			if a.Zone() != "" {
				return nil, fmt.Errorf("--source: %q: a zone is not supported", item)
			}
			if err := add(a); err != nil {
				return nil, err
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--source %q names no address", s)
	}
	for _, a := range out {
		if a.IsUnspecified() || a.IsMulticast() {
			return nil, fmt.Errorf("--source: %s cannot be a source address", a)
		}
	}
	return out, nil
}
