// Package i18n holds every human-facing text of conndiag in one message catalog
// (locales/*.toml), so adding a language is a data change, not a code change.
package i18n

import (
	"fmt"
	"reflect"
	"strings"
	"sync"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"

	"github.com/conndiag/conndiag/internal/escape"
)

// The catalog is compiled in: after editing locales/*.toml, run go generate
// ./internal/i18n (a test fails while catalog_gen.go is stale).
//
//go:generate go run ./gen -dir locales -o catalog_gen.go

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
	bundlesMu sync.Mutex
	bundles   = map[string]*goi18n.Bundle{}
)

// bundleFor builds the bundle of lang and of English, its fallback, once per
// language, from the catalog compiled into catalog_gen.go (go generate turns
// locales/*.toml into Go values: parsing the TOML at run time cost about
// 20 ms, more than diagnosing a rejected port).
func bundleFor(lang string) *goi18n.Bundle {
	bundlesMu.Lock()
	defer bundlesMu.Unlock()
	if b, ok := bundles[lang]; ok {
		return b
	}
	b := goi18n.NewBundle(language.English)
	for _, l := range catalogLangs {
		if l.lang != "en" && l.lang != lang {
			continue
		}
		ms := catalogOf(l.lang)
		ps := make([]*goi18n.Message, len(ms))
		for i := range ms {
			ps[i] = &ms[i]
		}
		if err := b.AddMessages(language.Make(l.tag), ps...); err != nil {
			panic("i18n: compiled catalog is broken: " + err.Error())
		}
	}
	bundles[lang] = b
	return b
}

// Languages lists the languages of the catalog.
func Languages() []string {
	out := make([]string, len(catalogLangs))
	for i, l := range catalogLangs {
		out[i] = l.lang
	}
	return out
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

// Prepare makes the catalog ready in the background, so that the first
// text does not wait for it (a command whose work is mostly waiting on the
// network calls it at its start).
func (p *Printer) Prepare() { go p.loc() }

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
	ms := catalogOf(lang)
	if len(ms) == 0 {
		return nil, nil, fmt.Errorf("no catalog for language %q", lang)
	}
	table := map[string]bool{}
	for _, l := range catalogLangs {
		if l.lang == lang {
			for _, id := range l.plurals {
				table[id] = true
			}
		}
	}
	all := make(map[string]string, len(ms))
	plurals := map[string]map[string]string{}
	for _, m := range ms {
		all[m.ID] = m.Other
		if !table[m.ID] {
			continue
		}
		forms := map[string]string{}
		for _, f := range []struct{ form, text string }{
			{"zero", m.Zero}, {"one", m.One}, {"two", m.Two}, {"few", m.Few}, {"many", m.Many},
		} {
			if f.text != "" {
				forms[f.form] = f.text
			}
		}
		if m.Other == "" {
			return nil, nil, fmt.Errorf("plural message %q of %s has no \"other\" form", m.ID, lang)
		}
		forms["other"] = m.Other
		plurals[m.ID] = forms
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
