package exporter

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/conndiag/conndiag/internal/evidence"
)

// Allow is the list of targets the exporter may probe. It is checked before
// anything is sent: a target outside it costs no packet, not even a DNS query.
//
// A literal address is allowed when it lies in one of Networks. A name is
// allowed when it matches one of Names ("db.example.com", "*.example.com"
// for any name below example.com, "*" for every name); it is then probed
// wherever it resolves, since checking its addresses would mean asking DNS
// first. A name is never allowed because of the networks alone.
type Allow struct {
	Networks []netip.Prefix
	Names    []string // lower case, without a trailing dot
}

// DefaultAllow is loopback only.
func DefaultAllow() Allow {
	return Allow{
		Networks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		Names:    []string{"localhost"},
	}
}

// Permits reports whether t may be probed.
func (a Allow) Permits(t evidence.Target) bool {
	if ip, ok := t.IP(); ok {
		ip = ip.Unmap().WithZone("")
		for _, p := range a.Networks {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	name := strings.ToLower(strings.TrimSuffix(t.Host, "."))
	for _, n := range a.Names {
		switch {
		case n == "*", n == name:
			return true
		case strings.HasPrefix(n, "*.") && strings.HasSuffix(name, n[1:]):
			return true
		}
	}
	return false
}

func parseAllow(f fileAllow) (Allow, error) {
	var a Allow
	for _, s := range f.Networks {
		p, err := parseNetwork(s)
		if err != nil {
			return Allow{}, fmt.Errorf("allow.networks: %q is not a network such as 10.0.0.0/8 or 2001:db8::/32 (or one address)", s)
		}
		a.Networks = append(a.Networks, p)
	}
	for _, s := range f.Names {
		n, ok := parseAllowName(s)
		if !ok {
			return Allow{}, fmt.Errorf("allow.names: %q is not a host name, *.example.com or *", s)
		}
		a.Names = append(a.Names, n)
	}
	if len(a.Networks) == 0 && len(a.Names) == 0 {
		return Allow{}, fmt.Errorf("allow: no network and no name is allowed: every probe would be refused (leave [allow] out for loopback only)")
	}
	return a, nil
}

func parseNetwork(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("bad address")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
	}
	return p.Masked(), nil
}

// parseAllowName checks one allow.names entry.
func parseAllowName(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "*" {
		return s, true
	}
	s = strings.TrimSuffix(s, ".")
	rest := strings.TrimPrefix(s, "*.")
	if rest == "" || len(rest) > 253 {
		return "", false
	}
	if _, err := netip.ParseAddr(rest); err == nil {
		return "", false // an address belongs in networks
	}
	for _, label := range strings.Split(rest, ".") {
		if label == "" || len(label) > 63 {
			return "", false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
				return "", false
			}
		}
	}
	return s, true
}
