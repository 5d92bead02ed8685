package cdn

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// MaxLine bounds one line of a range list.
const MaxLine = 1024

// Parse reads a range list: one CIDR (or a single address) a line,
// optionally followed by a provider name; '#' starts a comment. Header
// comments "# key: value" are returned in meta; "# provider:" names the
// provider of lines that name none (else defProvider), "# date:" dates the
// list. source names the list in errors and in every Range.
//
// A provider name that matches a known provider (ProviderByName) takes that
// provider's port list; any other name is a provider of its own, assumed to
// forward only DefaultPorts.
func Parse(r io.Reader, source, defProvider string) (ranges []Range, meta map[string]string, err error) {
	meta = map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), MaxLine)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			if k, v, ok := strings.Cut(line[i+1:], ":"); ok && strings.TrimSpace(line[:i]) == "" {
				if k = strings.ToLower(strings.TrimSpace(k)); k != "" && !strings.ContainsAny(k, " \t") {
					meta[k] = strings.TrimSpace(v)
				}
			}
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		pfx, err := parsePrefix(fields[0])
		if err != nil {
			return nil, nil, fmt.Errorf("%s line %d: %v", source, n, err)
		}
		name := strings.Join(fields[1:], " ")
		if name == "" {
			name = meta["provider"]
		}
		if name == "" {
			name = defProvider
		}
		ranges = append(ranges, Range{Prefix: pfx, Provider: providerNamed(name), Source: source, Line: n})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, nil, fmt.Errorf("%s: a line is longer than %d bytes: not a CIDR list", source, MaxLine)
		}
		return nil, nil, fmt.Errorf("%s: %w", source, err)
	}
	for i := range ranges {
		ranges[i].Date = meta["date"]
	}
	return ranges, meta, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as 104.16.0.0/13 or 2606:4700::/32", s)
		}
		if a := p.Addr(); a.Is4In6() {
			// Addresses are compared unmapped, so an IPv4-mapped prefix becomes IPv4.
			if p.Bits() < 96 {
				return netip.Prefix{}, fmt.Errorf("%q mixes IPv4-mapped and IPv6 space", s)
			}
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as 104.16.0.0/13 or 2606:4700::/32", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func providerNamed(name string) Provider {
	if p, ok := ProviderByName(name); ok {
		return p
	}
	return Provider{Name: name}
}
