package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The generated catalog is what the TOML files say today.
func TestCatalogGenIsCurrent(t *testing.T) {
	want, err := Generate(filepath.Join("..", "locales"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "catalog_gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("internal/i18n/catalog_gen.go is stale: run go generate ./internal/i18n")
	}
}

// A catalog with a message defined twice, a plural table, and a nested
// table is generated as go-i18n reads it, or refused.
func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("en.toml", "a = \"A {{.X}}\"\n[n]\none = \"1 byte\"\nother = \"{{.N}} bytes\"\n")
	write("x.ar.toml", "a = \"\u0623\"\n")
	src, err := Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`{"ar", "ar", []string{}}`, `{"en", "en", []string{"n"}}`, `{ID: "a", Other: "A {{.X}}"}`, `{ID: "n", One: "1 byte", Other: "{{.N}} bytes"}`, "{ID: \"a\", Other: \"\u0623\"}"} {
		if !strings.Contains(string(src), want) {
			t.Errorf("generated source lacks %s:\n%s", want, src)
		}
	}
	write("y.en.toml", "a = \"again\"\n")
	if _, err := Generate(dir); err == nil || !strings.Contains(err.Error(), `"a" is defined in en.toml too`) {
		t.Errorf("a message defined twice: %v", err)
	}
}
