package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/cdn"
)

// Each published format, as the providers document it, ends as a list that cdn.Parse reads back.
func TestSourcesRenderParseableLists(t *testing.T) {
	bodies := map[string]string{
		"cloudflare": `{"result":{"ipv4_cidrs":["173.245.48.0/20","104.16.0.0/13"],"ipv6_cidrs":["2606:4700::/32"]},"success":true,"errors":[],"messages":[]}`,
		"fastly":     `{"addresses":["151.101.0.0/16","23.235.32.0/20"],"ipv6_addresses":["2a04:4e40::/32"]}`,
		"cloudfront": `{"syncToken":"1","prefixes":[{"ip_prefix":"13.32.0.0/15","region":"GLOBAL","service":"CLOUDFRONT"},{"ip_prefix":"3.5.140.0/22","region":"ap-northeast-2","service":"AMAZON"}],"ipv6_prefixes":[{"ipv6_prefix":"2600:9000:1000::/36","region":"GLOBAL","service":"CLOUDFRONT"}]}`,
		"imperva":    `{"ipRanges":["199.83.128.0/21"],"ipv6Ranges":["2a02:e980::/29"],"res":0}`,
	}
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	for _, s := range sources {
		body, ok := bodies[s.provider]
		if !ok {
			t.Fatalf("no sample body for %s", s.provider)
		}
		cidrs, err := s.parse([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", s.provider, err)
		}
		text, err := render(s.provider, s.url, now, cidrs)
		if err != nil {
			t.Fatalf("%s: %v", s.provider, err)
		}
		rs, meta, err := cdn.Parse(bytes.NewReader(text), s.provider+".txt", s.provider)
		if err != nil {
			t.Fatalf("%s: rendered list does not parse: %v\n%s", s.provider, err, text)
		}
		if meta["date"] != "2026-11-25" || meta["provider"] != s.provider || len(rs) < 2 {
			t.Errorf("%s: meta %v, %d ranges\n%s", s.provider, meta, len(rs), text)
		}
		if rs[0].Provider.ID != s.provider {
			t.Errorf("%s: ranges belong to %q", s.provider, rs[0].Provider.ID)
		}
	}
	// Only the asked AWS service is kept.
	cidrs, _ := parseAWS("CLOUDFRONT")([]byte(bodies["cloudfront"]))
	if strings.Contains(strings.Join(cidrs, " "), "3.5.140.0/22") {
		t.Errorf("an AMAZON prefix leaked into CloudFront's list: %v", cidrs)
	}
}

func TestRenderRejectsBadOrEmptyLists(t *testing.T) {
	if _, err := render("x", "https://example.test/", time.Now(), nil); err == nil {
		t.Error("an empty list must not replace a good one")
	}
	if _, err := render("x", "https://example.test/", time.Now(), []string{"10.0.0.0/8", "bogus"}); err == nil {
		t.Error("a bad CIDR must fail the source")
	}
	if _, err := parseCloudflare([]byte(`{"success":false}`)); err == nil {
		t.Error("success=false must fail")
	}
}

// The committed lists are what go generate would write: each parses and is dated.
func TestCommittedListsAreDated(t *testing.T) {
	files, _ := filepath.Glob("../ranges/*.txt")
	if len(files) < 4 {
		t.Fatalf("found %d lists", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, meta, err := cdn.Parse(bytes.NewReader(b), f, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := time.Parse("2006-01-02", meta["date"]); err != nil || meta["source"] == "" {
			t.Errorf("%s: needs '# date: YYYY-MM-DD' and '# source:' headers, got %v", f, meta)
		}
	}
}
