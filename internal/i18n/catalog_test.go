package i18n_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/verdict"
)

var literalID = regexp.MustCompile(`(?:i18n\.M|i18n\.Plural|\.T)\("([a-z0-9_.]+)"[,)]`)

// usedIDs finds every message ID the code names literally, plus the ones it builds.
func usedIDs(t *testing.T) map[string]bool {
	ids := map[string]bool{}
	for _, root := range []string{"..", "../../cmd"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range literalID.FindAllStringSubmatch(string(b), -1) {
				ids[m[1]] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range verdict.Causes {
		ids["cause."+string(c)+".summary"] = true
		ids["cause."+string(c)+".fix"] = true
	}
	for _, c := range []verdict.Confidence{verdict.High, verdict.Medium, verdict.Low} {
		ids["ui.confidence."+string(c)] = true
	}
	for _, s := range []string{"twreuse.0", "twreuse.1", "twreuse.2", "class.private", "class.cgnat", "class.link_local", "class.loopback", "class.ula"} {
		ids[s] = true
	}
	return ids
}

func TestEnglishHasEveryID(t *testing.T) {
	en, err := i18n.Texts("en")
	if err != nil {
		t.Fatal(err)
	}
	used := usedIDs(t)
	if len(used) < 50 {
		t.Fatalf("found only %d IDs in the code; the scan is broken", len(used))
	}
	var missing []string
	for id := range used {
		if _, ok := en[id]; !ok {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("IDs used by the code but missing from locales/en.toml:\n  %s", strings.Join(missing, "\n  "))
	}
}

var placeholder = regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`)

// Every translation must use exactly the arguments of the English text, and no unknown IDs.
func TestTranslationsMatchEnglish(t *testing.T) {
	en, err := i18n.Texts("en")
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range i18n.Languages() {
		if lang == "en" {
			continue
		}
		texts, err := i18n.Texts(lang)
		if err != nil {
			t.Fatal(err)
		}
		for id, text := range texts {
			want, ok := en[id]
			if !ok {
				t.Errorf("%s: %q is not an English ID", lang, id)
				continue
			}
			if a, b := args(text), args(want); a != b {
				t.Errorf("%s: %q uses arguments %s, English uses %s", lang, id, a, b)
			}
		}
	}
}

func args(s string) string {
	var out []string
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func TestDetect(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		flag string
		env  map[string]string
		want string
		err  bool
	}{
		{"", nil, "en", false},
		{"ar", nil, "ar", false},
		{"zh", map[string]string{"LANG": "ar_EG.UTF-8"}, "zh", false},
		{"", map[string]string{"LANG": "zh_CN.UTF-8"}, "zh", false},
		{"", map[string]string{"LC_ALL": "ar_SA.UTF-8", "LANG": "zh_CN.UTF-8"}, "ar", false},
		{"", map[string]string{"LANG": "de_DE.UTF-8"}, "en", false},
		{"", map[string]string{"LANG": "C"}, "en", false},
		{"fr", nil, "", true},
	}
	for _, tt := range tests {
		got, err := i18n.Detect(tt.flag, env(tt.env))
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("Detect(%q, %v) = %q, %v; want %q (error %v)", tt.flag, tt.env, got, err, tt.want, tt.err)
		}
	}
}

func TestTextRendersArgsAndNestedMessages(t *testing.T) {
	p := i18n.New("en")
	got := p.Text(i18n.M("ev.ports.twreuse", "V", 2, "Meaning", i18n.M("twreuse.2")))
	want := "net.ipv4.tcp_tw_reuse = 2: TIME_WAIT ports are reused for loopback connections only."
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := p.Text(i18n.Cmd("ufw allow %d/tcp", 8282)); got != "ufw allow 8282/tcp" {
		t.Errorf("command rendered as %q", got)
	}
}

// Every finding text exists in every language of the catalog.
func TestTranslationsComplete(t *testing.T) {
	en, err := i18n.Texts("en")
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range i18n.Languages() {
		texts, err := i18n.Texts(lang)
		if err != nil {
			t.Fatal(err)
		}
		var missing []string
		for id := range en {
			if _, ok := texts[id]; !ok {
				missing = append(missing, id)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s lacks %d IDs of en.toml:\n  %s", lang, len(missing), strings.Join(missing, "\n  "))
		}
	}
}

// Per-domain catalog files (DOMAIN.LANG.toml) belong to their language, and
// the languages are the same however the catalog is split.
func TestLanguagesFromSplitFiles(t *testing.T) {
	got := strings.Join(i18n.Languages(), ",")
	if got != "ar,en,zh" {
		t.Errorf("Languages() = %s, want ar,en,zh", got)
	}
}
