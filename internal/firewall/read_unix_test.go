//go:build unix

package firewall

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTools puts shell scripts named after firewall tools in a directory
// that becomes the whole PATH, and returns a Reader that finds only them.
func fakeTools(t *testing.T, scripts map[string]string) Reader {
	t.Helper()
	dir := t.TempDir()
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
	return Reader{Root: t.TempDir(), LookPath: func(name string) (string, error) {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return "", exec.ErrNotFound
		}
		return p, nil
	}}
}

const nftRuleset = `{"nftables": [%s{"table": {"family": "inet", "name": "f", "handle": 1}}, ` +
	`{"chain": {"family": "inet", "table": "f", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}]}`

// An nft whose JSON schema is not the one this package reads (or that
// prints no metainfo) degrades to a problem naming it: no rules, no verdict.
func TestReadNftSchemaVersion(t *testing.T) {
	for _, tt := range []struct {
		name, meta string
		ok         bool
	}{
		{"version 1", `{"metainfo": {"version": "1.0.6", "release_name": "x", "json_schema_version": 1}}, `, true},
		{"version 2", `{"metainfo": {"version": "9.9", "release_name": "x", "json_schema_version": 2}}, `, false},
		{"version as a string", `{"metainfo": {"json_schema_version": "1"}}, `, false},
		{"no version", `{"metainfo": {"version": "0.9.0", "release_name": "x"}}, `, false},
		{"no metainfo", ``, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc := strings.Replace(nftRuleset, "%s", tt.meta, 1)
			// Only shell builtins: PATH holds nothing else.
			rd := fakeTools(t, map[string]string{"nft": `
case "$1" in
-j) printf '%s\n' '` + doc + `' ;;
*) echo 'table inet f { # handle 1'; echo '}' ;;
esac
`})
			snap := rd.Read(context.Background(), nil)
			if tt.ok {
				if len(snap.Problems) != 0 || len(snap.Read) != 1 || len(snap.Rules.Tables) != 1 {
					t.Fatalf("read %v, problems %+v, %d tables", snap.Read, snap.Problems, len(snap.Rules.Tables))
				}
				if r := snap.Rules.Evaluate(Packet{Family: IPv4, Port: 80}); r.Action != Drop {
					t.Errorf("policy drop not seen: %+v", r)
				}
				return
			}
			if len(snap.Read) != 0 || len(snap.Rules.Tables) != 0 {
				t.Errorf("an unknown schema was trusted: read %v, %d tables", snap.Read, len(snap.Rules.Tables))
			}
			if len(snap.Problems) != 1 || snap.Problems[0].What != "nft -j list ruleset" || snap.Problems[0].NeedRoot ||
				!strings.Contains(snap.Problems[0].Err, "were not read") {
				t.Errorf("problems %+v", snap.Problems)
			}
		})
	}
}

func TestParseNftJSONSchema(t *testing.T) {
	for _, tt := range []struct {
		meta string
		ok   bool
	}{
		{`{"metainfo": {"json_schema_version": 1}}, `, true},
		{`{"metainfo": {"json_schema_version": 1.0}}, `, true},
		{``, true}, // no metainfo: a document, not nft's own output
		{`{"metainfo": {"json_schema_version": 2}}, `, false},
		{`{"metainfo": {"json_schema_version": 0}}, `, false},
		{`{"metainfo": {"json_schema_version": null}}, `, false},
		{`{"metainfo": {"json_schema_version": [1]}}, `, false},
		{`{"metainfo": {"json_schema_version": "` + strings.Repeat("9", 5000) + `"}}, `, false},
		{`{"metainfo": 5}, `, false},
		{`{"metainfo": {}}, `, false},
	} {
		_, err := ParseNftJSON(strings.NewReader(strings.Replace(nftRuleset, "%s", tt.meta, 1)), nil, nil)
		if (err == nil) != tt.ok || err != nil && !errors.Is(err, ErrNftSchema) {
			t.Errorf("%.60s: %v", tt.meta, err)
		}
		if err != nil && len(err.Error()) > 300 {
			t.Errorf("error not bounded: %d bytes", len(err.Error()))
		}
	}
}
