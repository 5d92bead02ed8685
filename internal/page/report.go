package page

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/evidence"
)

// Bounds of what the page may post. Everything beyond them is an error, not
// cut: the page's own script never comes near them.
const (
	MaxReport   = 32 << 10 // bytes of one report
	MaxAttempts = 16
	maxEvents   = 8
	maxDeaths   = 16
	maxURL      = 2048
	maxText     = 300 // exception messages
	maxReason   = 123 // a close reason is at most 123 bytes (RFC 6455)
	maxMS       = float64(24 * time.Hour / time.Millisecond)
)

// Report is what the page's script posts: each WebSocket it opened, as the
// browser showed it to the script.
type Report struct {
	Session  string    `json:"session"`
	Holding  bool      `json:"holding,omitempty"` // the page still holds connections open
	Attempts []Attempt `json:"attempts"`
}

// Attempt is one WebSocket the page opened.
type Attempt struct {
	Token     string  `json:"token"`
	URL       string  `json:"url"`
	Thrown    string  `json:"thrown,omitempty"`
	ThrownMsg string  `json:"thrown_msg,omitempty"`
	Events    []Event `json:"events,omitempty"`
	GaveUp    bool    `json:"gave_up,omitempty"`
	Deaths    []Dead  `json:"deaths,omitempty"`
	HeldMS    float64 `json:"held_ms,omitempty"`
}

// Event is one event of the WebSocket, with the time since the constructor.
type Event struct {
	Type   string  `json:"type"` // open, message, error, close
	MS     float64 `json:"ms"`
	Code   int     `json:"code,omitempty"`
	Reason string  `json:"reason,omitempty"`
	Clean  bool    `json:"clean,omitempty"`
}

// Dead is a held connection that closed by itself.
type Dead struct {
	AgeMS float64 `json:"age_ms"`
	Code  int     `json:"code"`
	Clean bool    `json:"clean,omitempty"`
}

// ParseReport decodes and checks a posted report: known fields only, every
// count, length and number within its bound, URLs of ws:// or wss://.
func ParseReport(b []byte) (Report, error) {
	var r Report
	if len(b) > MaxReport {
		return r, fmt.Errorf("the report is larger than %d bytes", MaxReport)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil {
		return Report{}, fmt.Errorf("the report is not valid JSON of the page: %w", err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return Report{}, errors.New("the report has data after its JSON object")
	}
	if !ValidToken(r.Session) {
		return Report{}, errors.New("the report names no valid session")
	}
	if len(r.Attempts) > MaxAttempts {
		return Report{}, fmt.Errorf("the report has more than %d connections", MaxAttempts)
	}
	seen := map[string]bool{}
	for i, a := range r.Attempts {
		if err := a.check(); err != nil {
			return Report{}, fmt.Errorf("connection %d: %w", i+1, err)
		}
		if seen[a.Token] {
			return Report{}, fmt.Errorf("connection %d: token given twice", i+1)
		}
		seen[a.Token] = true
	}
	return r, nil
}

func (a Attempt) check() error {
	if !ValidToken(a.Token) {
		return errors.New("no valid token")
	}
	if _, err := ParseWS(a.URL); err != nil {
		return err
	}
	if !textOK(a.Thrown, 64) || !textOK(a.ThrownMsg, maxText) {
		return errors.New("the exception is too long or not UTF-8")
	}
	if len(a.Events) > maxEvents || len(a.Deaths) > maxDeaths {
		return errors.New("too many events")
	}
	types := map[string]bool{}
	for _, e := range a.Events {
		switch e.Type {
		case "open", "message", "error", "close":
		default:
			return fmt.Errorf("unknown event %q", e.Type)
		}
		if types[e.Type] {
			return fmt.Errorf("event %s given twice", e.Type)
		}
		types[e.Type] = true
		if !msOK(e.MS) || e.Code < 0 || e.Code > 4999 || !textOK(e.Reason, maxReason) {
			return errors.New("an event is out of range")
		}
	}
	for _, d := range a.Deaths {
		if !msOK(d.AgeMS) || d.Code < 0 || d.Code > 4999 {
			return errors.New("a held connection is out of range")
		}
	}
	if !msOK(a.HeldMS) {
		return errors.New("the hold time is out of range")
	}
	return nil
}

func msOK(v float64) bool { return v >= 0 && v <= maxMS } // NaN fails both

func textOK(s string, n int) bool { return len(s) <= n && utf8.ValidString(s) }

// ValidToken reports whether s is a token as the server makes them
// (NewToken): 8 to 64 letters, digits, '-' or '_'.
func ValidToken(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ParseWS parses a WebSocket URL the page may open: ws:// or wss://, a
// host, no fragment, no user information, at most 2048 bytes, nothing that
// escape would have to escape (controls, bidi marks, invalid UTF-8).
func ParseWS(s string) (*url.URL, error) {
	if len(s) > maxURL {
		return nil, fmt.Errorf("the URL is longer than %d bytes", maxURL)
	}
	if strings.Contains(s, " ") || !escape.IsSafe(s) {
		return nil, errors.New("the URL has spaces, control or bidi characters, or is not UTF-8")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("the URL cannot be parsed")
	}
	switch u.Scheme {
	case "ws", "wss":
	default:
		return nil, ErrScheme
	}
	if u.Hostname() == "" || u.Opaque != "" {
		return nil, errors.New("the URL has no host")
	}
	if u.User != nil || u.Fragment != "" || strings.Contains(s, "#") {
		return nil, errors.New("the URL has user information or a #fragment")
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscan(p, &n); err != nil || n < 1 || n > 65535 || strings.TrimLeft(p, "0123456789") != "" {
			return nil, errors.New("the URL's port is not from 1 to 65535")
		}
	}
	return u, nil
}

// ErrScheme is a URL that is not ws:// or wss://.
var ErrScheme = errors.New("only ws:// and wss:// URLs")

// Side turns an attempt into the browser's side of the evidence.
func (a Attempt) Side() evidence.BrowserSide {
	s := evidence.BrowserSide{Thrown: a.Thrown, ThrownMsg: a.ThrownMsg, GaveUp: a.GaveUp, Held: ms(a.HeldMS)}
	for _, e := range a.Events {
		switch e.Type {
		case "open":
			s.Opened, s.Open = true, ms(e.MS)
		case "message":
			s.Echo = true
		case "error":
			s.Errored, s.Error = true, ms(e.MS)
		case "close":
			s.Closed, s.Close, s.Code, s.Reason, s.Clean = true, ms(e.MS), e.Code, e.Reason, e.Clean
		}
	}
	for _, d := range a.Deaths {
		s.Deaths = append(s.Deaths, evidence.Death{Age: ms(d.AgeMS), Code: d.Code, Clean: d.Clean})
	}
	return s
}

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
