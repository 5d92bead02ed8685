// Package explain classifies the text of a connection error — a line copied
// from a browser console, a stack trace, an nginx error log — into the outcome
// the client met, the causes that produce it (ranked like check's) and the
// target it names, and says which `conndiag check` to run next. It does no
// network and no I/O besides reading the text it is given.
//
// The knowledge is data: rules.go lists the messages real programs print
// (each a literal and what it means), signals.go what each meaning implies in
// SPEC.md's causes. One Aho-Corasick pass per line finds every literal, so a
// log is classified at a few hundred MB/s.
package explain

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/conndiag/conndiag/internal/i18n"
	v "github.com/conndiag/conndiag/internal/verdict"
)

// MaxLine is how much of one line is classified at a time. A longer line is
// read in pieces of this size (overlapping, so no message is cut in two) and
// every piece is classified.
const MaxLine = 64 << 10

const overlap = 512

// ErrEmpty and ErrBinary are bad input: nothing to classify.
var (
	ErrEmpty  = errors.New("no text given")
	ErrBinary = errors.New("the input is binary data, not text")
)

var (
	compileOnce sync.Once
	lits        *matcher
	litRules    [][]int // literal index → rule indexes
)

func compile() {
	idx := map[string]int{}
	var list []string
	for i, r := range rules {
		k, ok := idx[r.lit]
		if !ok {
			k = len(list)
			idx[r.lit] = k
			list = append(list, r.lit)
			litRules = append(litRules, nil)
		}
		litRules[k] = append(litRules[k], i)
	}
	lits = newMatcher(list)
}

// hit is what one line says.
type hit struct {
	sig  string
	spec int
	at   int
	from string
	note string
	ctx  string
}

func (h hit) ok() bool { return h.sig != "" }

// classify finds the most specific signal on one line and the context that
// modifies it.
func classify(l []byte) hit {
	compileOnce.Do(compile)
	a := lineHits{l: l}
	lits.scan(l, 0, 0, &a)
	return a.result()
}

// lineHits decides, literal by literal, what one line says.
type lineHits struct {
	l              []byte
	best           hit
	ctxSpec, ctxAt int
}

func (a *lineHits) hit(lit, at int) {
	l, end := a.l, at+lits.lens[lit]
	for _, ri := range litRules[lit] {
		ru := &rules[ri]
		if ru.ctx != "" {
			if ru.refine != nil {
				if s, _ := ru.refine(l, at, end); s == "" {
					continue
				}
			}
			if ru.spec > a.ctxSpec || ru.spec == a.ctxSpec && at < a.ctxAt {
				a.best.ctx, a.ctxSpec, a.ctxAt = ru.ctx, ru.spec, at
			}
			continue
		}
		sig, note := ru.sig, ""
		if ru.refine != nil {
			sig, note = ru.refine(l, at, end)
		}
		if sig == "" {
			continue
		}
		if ru.spec > a.best.spec || ru.spec == a.best.spec && at < a.best.at {
			a.best.sig, a.best.spec, a.best.at, a.best.from, a.best.note = sig, ru.spec, at, ru.from, note
		}
	}
}

func (a *lineHits) result() hit {
	best := a.best
	if best.sig != "" && best.ctx != "" {
		if ph, ok := contexts[best.ctx].phase[best.sig]; ok {
			best.sig = ph
		}
	}
	return best
}

// causes is the ranked list for a hit, with its context's lead cause and the
// refinements the target allows.
func causes(h hit, t Target, fam families) []rank {
	s := signals[h.sig]
	out := append([]rank(nil), s.causes...)
	if c := contexts[h.ctx]; c.lead.cause != "" {
		out = lead(out, c.lead)
	}
	addr, err := netip.ParseAddr(t.Host)
	isIP := err == nil
	loopback := isIP && addr.IsLoopback() || strings.EqualFold(t.Host, "localhost")
	switch h.sig {
	case "refused":
		// localhost resolving to ::1 first while the server listens on 127.0.0.1 only
		// (Node 17+ stopped reordering addresses): ECONNREFUSED ::1 alone.
		if isIP && addr == netip.IPv6Loopback() && fam.nodeV6 && !fam.refused4 {
			out = lead(out, r(v.CauseFamilyMismatch, med))
		}
		// A server bound to loopback accepts a client that connects to
		// loopback: that cause is for clients on other machines.
		if loopback {
			out = slices.DeleteFunc(out, func(x rank) bool { return x.cause == v.CauseBoundToLoopback })
		}
	case "host_unreach":
		// A loopback destination always has a route: the "unreachable" is an ICMP
		// error a firewall sent (REJECT --reject-with icmp-host-prohibited).
		if loopback {
			out = lead(out, r(v.CauseFirewallReject, med))
		}
	case "timeout":
		if isIP && (addr.IsPrivate() || netip.MustParsePrefix("100.64.0.0/10").Contains(addr)) {
			out = insertAfterFirst(out, r(v.CausePrivateAddress, lo))
		}
	case "net_unreach":
		if isIP && addr.Is6() && !addr.Is4In6() {
			out = lead(out, r(v.CauseFamilyMismatch, med))
		}
	}
	return out
}

// lead puts c in front of every cause it is at least as sure of (keeping the
// stronger confidence if c was listed already).
func lead(rs []rank, c rank) []rank {
	out := make([]rank, 0, len(rs)+1)
	for _, x := range rs {
		if x.cause == c.cause {
			if confRank(x.conf) < confRank(c.conf) {
				c.conf = x.conf
			}
			continue
		}
		out = append(out, x)
	}
	i := 0
	for i < len(out) && confRank(out[i].conf) < confRank(c.conf) {
		i++
	}
	out = append(out, rank{})
	copy(out[i+1:], out[i:])
	out[i] = c
	return out
}

func insertAfterFirst(rs []rank, c rank) []rank {
	for _, x := range rs {
		if x.cause == c.cause {
			return rs
		}
	}
	if len(rs) == 0 {
		return []rank{c}
	}
	return append([]rank{rs[0], c}, rs[1:]...)
}

// families records text-wide facts the ranking uses.
type families struct {
	refused4, refused6 bool
	nodeV6             bool // Node's "ECONNREFUSED ::1:PORT"
}

// Result is what a text says.
type Result struct {
	Outcome  v.Outcome
	Findings []v.Finding
	Target   Target
	Next     string // the conndiag command to run next; "" when the text names no host
	Line     int    // the line that decided, from 1
	Text     string // that line, escaped and bounded
	From     string // who prints such a message
	Signal   string
	Note     string
	Context  string
}

// Found reports whether the text holds a connection error.
func (r Result) Found() bool { return r.Signal != "" }

// Explainer accumulates lines of one text.
type Explainer struct {
	n            int
	best         hit
	bestN        int
	bestL        []byte
	bestT        Target
	bestIndented bool
	anyT         Target
	anyTS        int
	urls         []Target
	fam          families
	started      bool
}

// Line classifies one line of the text (without its newline).
func (e *Explainer) Line(l []byte) {
	e.n++
	e.line(l, e.n)
}

func (e *Explainer) line(l []byte, n int) {
	h := classify(l)
	var t Target
	score := 0
	if h.ok() || e.anyTS < 9 || len(e.urls) < 8 {
		t, score = targetIn(l)
	}
	if score > e.anyTS {
		e.anyT, e.anyTS = t, score
	}
	if t.Scheme != "" && t.Host != "" && len(e.urls) < 8 {
		e.urls = append(e.urls, t)
	}
	if !h.ok() {
		return
	}
	if h.sig == "refused" {
		if hasIPv4(l) || t.Host != "" && !strings.Contains(t.Host, ":") {
			e.fam.refused4 = true
		}
		if t.Host != "" && strings.Contains(t.Host, ":") {
			e.fam.refused6 = true
		}
		if bytes.Contains(l, []byte("ECONNREFUSED ::1:")) {
			e.fam.nodeV6 = true
		}
	}
	indented := len(l) > 0 && (l[0] == ' ' || l[0] == '\t')
	if !e.started || h.spec > e.best.spec || h.spec == e.best.spec && e.bestIndented && !indented {
		e.bestIndented = indented
		e.started = true
		e.best, e.bestN, e.bestT = h, n, t
		e.bestL = append(e.bestL[:0], l[:min(len(l), 2*showWidth)]...)
	}
}

// Result ranks what the lines said.
func (e *Explainer) Result() Result {
	if !e.started {
		return Result{}
	}
	t := e.bestT
	if t.Host == "" && e.anyT.Host != "" {
		t = e.anyT
	}
	for _, u := range e.urls {
		if t.Host != "" && strings.EqualFold(u.Host, t.Host) && (t.Port == 0 || t.Port == u.Port) {
			if t.Scheme == "" {
				t.Scheme, t.Path = u.Scheme, u.Path
			}
			if t.Port == 0 {
				t.Port = u.Port
			}
			break
		}
	}
	res := Result{
		Target: t, Line: e.bestN, Text: Show(e.bestL, showWidth), From: e.best.from,
		Signal: e.best.sig, Note: e.best.note, Context: e.best.ctx,
	}
	if e.best.ctx != "" && contexts[e.best.ctx].lead.cause != "" {
		res.From = fromOfContext(e.best.ctx, res.From)
	}
	res.Outcome = signals[e.best.sig].outcome
	rs := causes(e.best, t, e.fam)
	res.Findings = findings(rs, res)
	res.Next = next(rs, t, e.best)
	return res
}

func fromOfContext(ctx, from string) string {
	switch ctx {
	case "upstream", "upstream_read", "upstream_idle":
		return fNginx
	}
	return from
}

// Text classifies a whole text held in memory.
func Text(s string) Result {
	var e Explainer
	for _, l := range strings.Split(s, "\n") {
		e.Line([]byte(strings.TrimSuffix(l, "\r")))
	}
	return e.Result()
}

// Read classifies a text read as a stream. Memory stays bounded whatever its
// size: lines are read MaxLine bytes at a time.
func Read(r io.Reader) (Result, error) {
	var e Explainer
	err := eachLine(r, func(l []byte, n int, cont bool) bool {
		e.n = n
		e.line(l, n)
		return true
	})
	if err != nil {
		return Result{}, err
	}
	return e.Result(), nil
}

// eachLine calls f with every line of r (a long line in overlapping pieces,
// cont set on the pieces after the first). It fails with ErrEmpty for a text
// of nothing but space and ErrBinary when the start of the input is not text.
func eachLine(r io.Reader, f func(l []byte, n int, cont bool) bool) error {
	buf := make([]byte, 0, MaxLine+overlap)
	chunk := make([]byte, 32<<10)
	n, sawText, checked := 1, false, false
	var head []byte
	flushLine := func(l []byte, cont bool) bool {
		l = bytes.TrimSuffix(l, []byte("\r"))
		if !sawText && len(bytes.TrimSpace(l)) > 0 {
			sawText = true
		}
		return f(l, n, cont)
	}
	cont := false
	for {
		k, err := r.Read(chunk)
		data := chunk[:k]
		if !checked && k > 0 {
			head = append(head, data[:min(len(data), 8192-len(head))]...)
			if len(head) >= 8192 || err != nil {
				checked = true
				if binary(head) {
					return ErrBinary
				}
			}
		}
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				room := MaxLine - len(buf)
				if len(data) < room {
					buf = append(buf, data...)
					break
				}
				buf = append(buf, data[:room]...)
				data = data[room:]
				if !flushLine(buf, cont) {
					return nil
				}
				cont = true
				// keep the tail, so a message across the cut is still whole in the next piece
				copy(buf, buf[len(buf)-overlap:])
				buf = buf[:overlap]
				continue
			}
			if len(buf)+i > MaxLine {
				room := MaxLine - len(buf)
				buf = append(buf, data[:room]...)
				data = data[room:]
				if !flushLine(buf, cont) {
					return nil
				}
				cont = true
				copy(buf, buf[len(buf)-overlap:])
				buf = buf[:overlap]
				continue
			}
			var l []byte
			if len(buf) > 0 {
				buf = append(buf, data[:i]...)
				l = buf
			} else {
				l = data[:i]
			}
			if !flushLine(l, cont) {
				return nil
			}
			buf, cont = buf[:0], false
			n++
			data = data[i+1:]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if !checked && binary(head) {
		return ErrBinary
	}
	if len(buf) > 0 {
		if !flushLine(buf, cont) {
			return nil
		}
	}
	if !sawText {
		return ErrEmpty
	}
	return nil
}

// binary reports whether the start of an input is not text: a NUL byte, or
// more than one byte in ten that is neither printable nor valid UTF-8.
func binary(b []byte) bool {
	if bytes.IndexByte(b, 0) >= 0 {
		return true
	}
	bad, total := 0, 0
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 && len(b) >= utf8.UTFMax {
			bad++
		} else if r < 0x20 && r != '\n' && r != '\r' && r != '\t' && r != 0x1b {
			bad++
		}
		total++
		b = b[size:]
	}
	return total > 0 && bad*10 > total
}

const showWidth = 300

// Show escapes a line for display: control bytes and invalid UTF-8 as \xNN,
// at most width runes.
func Show(b []byte, width int) string {
	var sb strings.Builder
	n := 0
	for len(b) > 0 && n < width {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size == 1, r < 0x20 && r != '\t', r == 0x7f:
			sb.WriteString(`\x`)
			sb.WriteByte("0123456789abcdef"[b[0]>>4])
			sb.WriteByte("0123456789abcdef"[b[0]&15])
		case r >= 0x80 && r < 0xa0, r == 0x2028, r == 0x2029, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			// C1 controls and bidirectional overrides would reorder what a person sees.
			sb.WriteString(`\u`)
			for s := 12; s >= 0; s -= 4 {
				sb.WriteByte("0123456789abcdef"[(r>>s)&15])
			}
		default:
			sb.Write(b[:size])
		}
		b = b[size:]
		n++
	}
	if len(b) > 0 {
		sb.WriteString("…")
	}
	return strings.TrimSpace(sb.String())
}

// keep the i18n import used when the file is read alone
var _ = i18n.M

// hasIPv4 reports whether a line quotes a dotted IPv4 address.
func hasIPv4(l []byte) bool {
	for i := 0; i < len(l); i++ {
		if l[i] < '0' || l[i] > '9' || i > 0 && (l[i-1] >= '0' && l[i-1] <= '9' || l[i-1] == '.') {
			continue
		}
		j, dots := i, 0
		for j < len(l) && (l[j] >= '0' && l[j] <= '9' || l[j] == '.') {
			if l[j] == '.' {
				dots++
			}
			j++
		}
		if dots == 3 {
			if a, err := netip.ParseAddr(string(l[i:j])); err == nil && a.Is4() {
				return true
			}
		}
		i = j
	}
	return false
}
