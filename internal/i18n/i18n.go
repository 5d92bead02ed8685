// Package i18n holds every human-facing text of conndiag in one message catalog
// (locales/*.toml), so adding a language is a data change, not a code change.
package i18n

import (
	"embed"
	"fmt"
	"path"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"

	"github.com/conndiag/conndiag/internal/escape"
)

//go:embed locales/*.toml
var locales embed.FS

// Msg is a text to be shown to a person: a catalog ID with its arguments,
// or a shell command (Cmd), which is never translated.
type Msg struct {
	ID   string
	Args map[string]any
	Cmd  string
	// Code marks Cmd as a line of configuration or program code (PHP, nginx)
	// rather than a shell command: it is shown without a shell prompt.
	Code bool
	// Count, when set, picks the plural form of a message that has them
	// (Plural): "1 byte", "179 bytes", Arabic's six forms.
	Count any
}

// M builds a message from an ID and key/value pairs.
func M(id string, kv ...any) Msg {
	m := Msg{ID: id}
	if len(kv) > 0 {
		m.Args = make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			m.Args[fmt.Sprint(kv[i])] = kv[i+1]
		}
	}
	return m
}

// Plural builds a message whose text agrees with the count n, by the plural
// rules of each language (CLDR, as go-i18n applies them): the catalog entry
// is a table of forms (one, other; Arabic zero, one, two, few, many, other),
// and n is also its argument N.
func Plural(id string, n int, kv ...any) Msg {
	m := M(id, append([]any{"N", n}, kv...)...)
	m.Count = n
	return m
}

// IsCmd reports whether the message is a command or a snippet.
func (m Msg) IsCmd() bool { return m.Cmd != "" }

var (
	langsOnce sync.Once
	langs     []string

	bundlesMu sync.Mutex
	bundles   = map[string]*goi18n.Bundle{}
)

// catalogFiles lists the catalog's files; a broken embed is a build error.
func catalogFiles() []string {
	entries, err := locales.ReadDir("locales")
	if err != nil {
		panic("i18n: embedded catalog is missing: " + err.Error())
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// bundleFor parses the files of lang and of English, its fallback, once per
// language. Parsing the whole catalog costs more than the rest of a
// conndiag start (conndiag version), so only what is shown is parsed, and
// only when the first text is rendered.
func bundleFor(lang string) *goi18n.Bundle {
	bundlesMu.Lock()
	defer bundlesMu.Unlock()
	if b, ok := bundles[lang]; ok {
		return b
	}
	b := goi18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	for _, name := range catalogFiles() {
		if l := fileLang(name); l != "en" && l != lang {
			continue
		}
		if _, err := b.LoadMessageFileFS(locales, path.Join("locales", name)); err != nil {
			panic("i18n: embedded catalog is broken: " + err.Error())
		}
	}
	bundles[lang] = b
	return b
}

// fileLang is the language of a catalog file: "en.toml" and the per-domain
// "explain.en.toml" are both English. Splitting the catalog by domain keeps
// it one catalog while letting features add texts without touching each other's files.
func fileLang(name string) string {
	name = strings.TrimSuffix(name, ".toml")
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// Languages lists the languages of the catalog.
func Languages() []string {
	langsOnce.Do(func() {
		seen := map[string]bool{}
		for _, name := range catalogFiles() {
			if l := fileLang(name); !seen[l] {
				seen[l] = true
				langs = append(langs, l)
			}
		}
		sort.Strings(langs)
	})
	return append([]string(nil), langs...)
}

// Printer renders messages in one language, falling back to English for
// texts not yet translated.
type Printer struct {
	Lang string
	loc  func() *goi18n.Localizer
}

// New returns a printer for lang ("en", "ar", "zh"). The catalog is parsed
// when the printer renders its first text.
func New(lang string) *Printer {
	return &Printer{Lang: lang, loc: sync.OnceValue(func() *goi18n.Localizer {
		return goi18n.NewLocalizer(bundleFor(lang), lang, "en")
	})}
}

// Text renders m. An ID missing from the catalog renders as the ID itself,
// which the catalog test forbids for every ID the code uses.
//
// This is the rendering edge for everything that came from outside: every
// string argument (and every argument that is not a number, a bool or a
// nested Msg, printed as fmt would) is escaped with escape.String, so no
// certificate name, process name, chain name or server line can drive the
// terminal or reorder the text, in any language. Nested Msg arguments are
// our own catalog text and are rendered, not escaped; the catalog itself is
// never touched. A command whose text is not safe to show is withheld.
func (p *Printer) Text(m Msg) string {
	if m.IsCmd() {
		if !escape.IsSafe(m.Cmd) {
			return p.Text(withheld(m.Cmd))
		}
		return m.Cmd
	}
	var args map[string]any
	if len(m.Args) > 0 {
		args = make(map[string]any, len(m.Args))
		for k, v := range m.Args {
			args[k] = p.arg(v)
		}
	}
	s, err := p.loc().Localize(&goi18n.LocalizeConfig{MessageID: m.ID, TemplateData: args, PluralCount: m.Count})
	if err != nil && s == "" {
		return m.ID
	}
	return s
}

// arg is a message argument as the template gets it.
func (p *Printer) arg(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case Msg:
		return p.Text(x)
	case string:
		return escape.String(x)
	}
	switch reflect.ValueOf(v).Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return v // numbers (time.Duration too) stay numbers, for the templates' {{if}}
	}
	return escape.String(fmt.Sprint(v))
}

// T renders the message id with key/value arguments.
func (p *Printer) T(id string, kv ...any) string { return p.Text(M(id, kv...)) }

// Texts returns the messages that lang's own catalog files define, by ID.
// An ID defined in two files of one language is an error. A plural message
// is given by its "other" form, the text it renders without a count;
// PluralForms has all its forms.
func Texts(lang string) (map[string]string, error) {
	all, _, err := texts(lang)
	return all, err
}

// PluralForms returns lang's plural messages, by ID, each as its forms
// ("one", "other", ...) and their texts.
func PluralForms(lang string) (map[string]map[string]string, error) {
	_, plurals, err := texts(lang)
	return plurals, err
}

func texts(lang string) (map[string]string, map[string]map[string]string, error) {
	entries, err := locales.ReadDir("locales")
	if err != nil {
		return nil, nil, err
	}
	all := map[string]string{}
	plurals := map[string]map[string]string{}
	for _, e := range entries {
		if fileLang(e.Name()) != lang {
			continue
		}
		var m map[string]any
		if _, err := toml.DecodeFS(locales, path.Join("locales", e.Name()), &m); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		for id, v := range m {
			if _, dup := all[id]; dup {
				return nil, nil, fmt.Errorf("%s: %q is defined twice for %s", e.Name(), id, lang)
			}
			switch x := v.(type) {
			case string:
				all[id] = x
			case map[string]any:
				forms := map[string]string{}
				for form, t := range x {
					text, ok := t.(string)
					if !ok {
						return nil, nil, fmt.Errorf("%s: %q form %q is not a text", e.Name(), id, form)
					}
					forms[form] = text
				}
				if _, ok := forms["other"]; !ok {
					return nil, nil, fmt.Errorf("%s: plural message %q has no \"other\" form", e.Name(), id)
				}
				all[id], plurals[id] = forms["other"], forms
			default:
				return nil, nil, fmt.Errorf("%s: %q is neither a text nor a table of plural forms", e.Name(), id)
			}
		}
	}
	if len(all) == 0 {
		return nil, nil, fmt.Errorf("no catalog for language %q", lang)
	}
	return all, plurals, nil
}

// Detect picks the language: the flag when set, else LC_ALL, LC_MESSAGES, LANG, else English.
// An unsupported --lang value is an error; an unsupported environment falls back to English.
func Detect(flag string, getenv func(string) string) (string, error) {
	supported := Languages()
	match := func(v string) string {
		v = strings.ToLower(v)
		if i := strings.IndexAny(v, "_.@-"); i >= 0 {
			v = v[:i]
		}
		for _, l := range supported {
			if v == l {
				return l
			}
		}
		return ""
	}
	if flag != "" {
		if l := match(flag); l != "" {
			return l, nil
		}
		return "", fmt.Errorf("unsupported language %q (choose one of: %s)", flag, strings.Join(supported, ", "))
	}
	for _, k := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if v := getenv(k); v != "" {
			if l := match(v); l != "" {
				return l, nil
			}
			return "en", nil
		}
	}
	return "en", nil
}
