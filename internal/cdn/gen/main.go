// Command gen refreshes the embedded CDN edge lists (internal/cdn/ranges)
// from the providers' published sources. It needs the network; the build
// does not, because the lists it writes are committed. Run it with
//
//	go generate ./internal/cdn
//
// A source that cannot be fetched or parsed leaves its file as it was; the
// command then exits 1 after writing the others.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// source is one published list and how to read it.
type source struct {
	provider string
	url      string
	method   string // "" for GET
	body     string // form body for POST
	parse    func([]byte) ([]string, error)
}

var sources = []source{
	{provider: "cloudflare", url: "https://api.cloudflare.com/client/v4/ips", parse: parseCloudflare},
	{provider: "fastly", url: "https://api.fastly.com/public-ip-list", parse: parseFastly},
	{provider: "cloudfront", url: "https://ip-ranges.amazonaws.com/ip-ranges.json", parse: parseAWS("CLOUDFRONT")},
	{provider: "imperva", url: "https://my.imperva.com/api/integration/v1/ips", method: http.MethodPost, body: "resp_format=json", parse: parseImperva},
}

func main() {
	dir := flag.String("dir", "ranges", "directory of the list files")
	timeout := flag.Duration("timeout", 30*time.Second, "per source")
	flag.Parse()
	failed := 0
	for _, s := range sources {
		if err := refresh(s, *dir, *timeout, time.Now().UTC()); err != nil {
			fmt.Fprintf(os.Stderr, "gen: %s: %v (kept the old list)\n", s.provider, err)
			failed++
		}
	}
	if failed > 0 {
		os.Exit(1)
	}
}

func refresh(s source, dir string, timeout time.Duration, now time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	method := s.method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, s.url, strings.NewReader(s.body))
	if err != nil {
		return err
	}
	if s.body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	cidrs, err := s.parse(b)
	if err != nil {
		return err
	}
	text, err := render(s.provider, s.url, now, cidrs)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, s.provider+".txt"), text)
}

// render checks every CIDR and writes the list in the format cdn.Parse reads.
func render(provider, src string, now time.Time, cidrs []string) ([]byte, error) {
	if len(cidrs) == 0 {
		return nil, errors.New("the source listed no ranges")
	}
	var v4, v6 []netip.Prefix
	seen := map[netip.Prefix]bool{}
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return nil, fmt.Errorf("not a CIDR: %q", c)
		}
		p = p.Masked()
		if seen[p] {
			continue
		}
		seen[p] = true
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	cmp := func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	}
	slices.SortFunc(v4, cmp)
	slices.SortFunc(v6, cmp)
	u, _ := url.Parse(src)
	var b strings.Builder
	fmt.Fprintf(&b, "# provider: %s\n# source: %s\n# date: %s\n# note: written by go generate ./internal/cdn\n", provider, u.Redacted(), now.Format("2006-01-02"))
	for _, p := range append(v4, v6...) {
		fmt.Fprintln(&b, p)
	}
	return []byte(b.String()), nil
}

func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".gen-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func parseCloudflare(b []byte) ([]string, error) {
	var v struct {
		Success bool `json:"success"`
		Result  struct {
			IPv4 []string `json:"ipv4_cidrs"`
			IPv6 []string `json:"ipv6_cidrs"`
		} `json:"result"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	if !v.Success {
		return nil, errors.New("the API answered success=false")
	}
	return append(v.Result.IPv4, v.Result.IPv6...), nil
}

func parseFastly(b []byte) ([]string, error) {
	var v struct {
		V4 []string `json:"addresses"`
		V6 []string `json:"ipv6_addresses"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return append(v.V4, v.V6...), nil
}

func parseAWS(service string) func([]byte) ([]string, error) {
	return func(b []byte) ([]string, error) {
		var v struct {
			V4 []struct {
				Prefix  string `json:"ip_prefix"`
				Service string `json:"service"`
			} `json:"prefixes"`
			V6 []struct {
				Prefix  string `json:"ipv6_prefix"`
				Service string `json:"service"`
			} `json:"ipv6_prefixes"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		var out []string
		for _, p := range v.V4 {
			if p.Service == service {
				out = append(out, p.Prefix)
			}
		}
		for _, p := range v.V6 {
			if p.Service == service {
				out = append(out, p.Prefix)
			}
		}
		return out, nil
	}
}

func parseImperva(b []byte) ([]string, error) {
	var v struct {
		V4 []string `json:"ipRanges"`
		V6 []string `json:"ipv6Ranges"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return append(v.V4, v.V6...), nil
}
