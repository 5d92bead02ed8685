// Package page is the browser check page of conndiag listen: the page
// itself (embedded, no external assets), what its script posts back and
// how that is checked, and the join of the browser's view with what the
// listen endpoints saw, which the rules of internal/verdict then judge.
//
// A page script learns almost nothing about a failed WebSocket (a bare
// error event, close 1006), but the server that served the page saw the
// other half: whether the connection arrived, from which address, and how
// its handshake went. Everything here is pure (the clock is swappable and
// nothing does I/O); internal/listen serves it.
package page

import (
	"strings"
	"time"

	"golang.org/x/text/language"
)

// Defaults of the page's timers.
const (
	// Timeout is how long the page waits for a connection before it gives up
	// on its own timer: a browser itself waits up to 240 s on a silent port.
	Timeout = 4 * time.Second
	// Hold is how long the page keeps working connections open, idle, to see
	// whether something in between closes them (nginx 60 s, Cloudflare 100 s).
	Hold = 5 * time.Minute
	// CheckEvery is how often one address may have the server run check.
	CheckEvery = 10 * time.Second
)

var langTags = []language.Tag{language.English, language.Arabic, language.Chinese}
var langNames = []string{"en", "ar", "zh"}
var matcher = language.NewMatcher(langTags)

// Lang picks the page's language from an Accept-Language header: en, ar or
// zh, English when none of them is asked for.
func Lang(acceptLanguage string) string {
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return "en"
	}
	_, i, conf := matcher.Match(tags...)
	if conf == language.No {
		return "en"
	}
	return langNames[i]
}

// Dir is the text direction of a language.
func Dir(lang string) string {
	if lang == "ar" {
		return "rtl"
	}
	return "ltr"
}

// Known reports whether lang is one of the page's languages.
func Known(lang string) bool {
	for _, l := range langNames {
		if strings.EqualFold(l, lang) {
			return true
		}
	}
	return false
}
