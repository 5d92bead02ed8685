package i18n_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/conndiag/conndiag/internal/i18n"
)

// The plural forms each language of the catalog needs (CLDR cardinal rules,
// which go-i18n applies). A new language adds its line here.
var pluralForms = map[string]string{
	"en": "one,other",
	"ar": "few,many,one,other,two,zero",
	"zh": "other",
}

// Every plural message has exactly the forms its language needs, in every
// language, and no form uses an argument the English text does not have
// (Arabic's "one" and "two" say the number in the word, without {{.N}}).
func TestPluralForms(t *testing.T) {
	en, err := i18n.PluralForms("en")
	if err != nil {
		t.Fatal(err)
	}
	if len(en) == 0 {
		t.Fatal("no plural message in the English catalog; the table parsing is broken")
	}
	for _, lang := range i18n.Languages() {
		need, ok := pluralForms[lang]
		if !ok {
			t.Errorf("%s: which plural forms does it need? add it to pluralForms", lang)
			continue
		}
		ps, err := i18n.PluralForms(lang)
		if err != nil {
			t.Fatal(err)
		}
		for id := range en {
			if _, ok := ps[id]; !ok {
				t.Errorf("%s: plural message %q is missing or not a table of forms", lang, id)
			}
		}
		for id, forms := range ps {
			var have []string
			for f := range forms {
				have = append(have, f)
			}
			sort.Strings(have)
			if got := strings.Join(have, ","); got != need {
				t.Errorf("%s: %q has the forms %s, the language needs %s", lang, id, got, need)
			}
			want := map[string]bool{}
			for _, a := range strings.Split(args(en[id]["other"]), ",") {
				want[a] = true
			}
			for f, text := range forms {
				for _, a := range strings.Split(args(text), ",") {
					if a != "" && !want[a] {
						t.Errorf("%s: %q form %s uses {{.%s}}, which English does not have", lang, id, f, a)
					}
				}
			}
		}
	}
}

func TestPluralAgreesWithTheCount(t *testing.T) {
	tests := []struct {
		lang string
		n    int
		want string
	}{
		{"en", 1, "1 byte"},
		{"en", 0, "0 bytes"},
		{"en", 179, "179 bytes"},
		{"ar", 0, "0 بايت"},
		{"ar", 1, "بايت واحد"},
		{"ar", 2, "بايتان"},
		{"ar", 3, "3 بايتات"},
		{"ar", 10, "10 بايتات"},
		{"ar", 11, "11 بايتًا"},
		{"ar", 99, "99 بايتًا"},
		{"ar", 100, "100 بايت"},
		{"ar", 102, "102 بايت"},
		{"ar", 103, "103 بايتات"},
		{"ar", 179, "179 بايتًا"},
		{"zh", 1, "1 字节"},
		{"zh", 179, "179 字节"},
	}
	for _, tt := range tests {
		if got := i18n.New(tt.lang).Text(i18n.Plural("platform.count.bytes", tt.n)); got != tt.want {
			t.Errorf("%s %d: %q, want %q", tt.lang, tt.n, got, tt.want)
		}
	}
	// A plural message nested in another agrees too.
	got := i18n.New("ar").Text(i18n.M("platform.shown.cut", "Bytes", "HTTP/1.1 200…", "Size", i18n.Plural("platform.count.bytes", 179)))
	if want := "HTTP/1.1 200… (179 بايتًا)"; got != want {
		t.Errorf("nested: %q, want %q", got, want)
	}
}
