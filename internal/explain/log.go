package explain

import (
	"io"
	"sort"

	v "github.com/conndiag/conndiag/internal/verdict"
)

// MaxGroups bounds the summary of a log: past it, failures toward further
// targets are counted in one "other targets" group per cause.
const MaxGroups = 1000

// Group is one line of a log summary: failures of one cause toward one target.
type Group struct {
	Cause      v.Cause
	Confidence v.Confidence
	Outcome    v.Outcome
	Target     Target
	Other      bool // failures toward targets past MaxGroups
	Count      int
	First      string // time of the first failure as the log prints it; "" when lines carry none
	Last       string
	FirstLine  int
	LastLine   int
	Example    string // the first line, escaped and bounded
	Next       string
	last       []byte
}

// Summary is what a log says.
type Summary struct {
	Lines    int
	Failures int
	Long     int // lines longer than MaxLine, read in pieces
	Groups   []Group
}

type groupKey struct {
	cause  v.Cause
	target Target
	other  bool
}

// Log reads a log as a stream and groups its failures by cause and target,
// largest group first. Memory is bounded by MaxLine and MaxGroups.
func Log(r io.Reader) (Summary, error) {
	var s Summary
	groups := map[groupKey]*Group{}
	lastLine := -1
	err := eachLine(r, func(l []byte, n int, cont bool) bool {
		s.Lines = n
		if cont {
			if lastLine != n {
				s.Long++
			}
		}
		if cont && lastLine == n {
			return true // one failure per line, however long
		}
		h := classify(l)
		if !h.ok() {
			return true
		}
		lastLine = n
		t, _ := targetIn(l)
		rs := causes(h, t, families{refused4: true})
		if len(rs) == 0 {
			return true
		}
		s.Failures++
		k := groupKey{cause: rs[0].cause, target: t}
		g := groups[k]
		if g == nil && len(groups) >= MaxGroups {
			k = groupKey{cause: rs[0].cause, other: true}
			g = groups[k]
		}
		if g == nil {
			ts := timeOf(l)
			g = &Group{Cause: rs[0].cause, Confidence: rs[0].conf, Outcome: signals[h.sig].outcome, Target: k.target, Other: k.other,
				First: ts, FirstLine: n, Example: Show(l, showWidth)}
			if !k.other {
				g.Next = next(rs, t, h)
			}
			groups[k] = g
		}
		g.Count++
		g.LastLine = n
		g.last = append(g.last[:0], timeBytes(l)...)
		return true
	})
	if err != nil {
		return Summary{}, err
	}
	for _, g := range groups {
		g.Last, g.last = string(g.last), nil
		s.Groups = append(s.Groups, *g)
	}
	sort.Slice(s.Groups, func(i, j int) bool {
		a, b := s.Groups[i], s.Groups[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.FirstLine < b.FirstLine
	})
	return s, nil
}

// timeOf finds the time a log line starts with: nginx "2006/01/02 15:04:05",
// ISO 8601, syslog "Jan _2 15:04:05", or a bracketed access-log time.
func timeOf(l []byte) string { return string(timeBytes(l)) }

func timeBytes(l []byte) []byte {
	if len(l) > 0 && l[0] == '[' {
		l = l[1:]
	}
	n := min(len(l), 40)
	l = l[:n]
	isD := func(i int) bool { return i < len(l) && l[i] >= '0' && l[i] <= '9' }
	// YYYY/MM/DD HH:MM:SS or YYYY-MM-DD[T ]HH:MM:SS[.frac][zone]
	if len(l) >= 19 && isD(0) && isD(3) && (l[4] == '/' || l[4] == '-') && isD(5) && isD(8) && (l[10] == ' ' || l[10] == 'T') && isD(11) && l[13] == ':' && l[16] == ':' {
		e := 19
		for e < len(l) && (isD(e) || l[e] == '.' || l[e] == ',' || l[e] == 'Z' || l[e] == '+' || l[e] == ':' || l[e] == '-' && e > 19) {
			e++
		}
		return l[:e]
	}
	// syslog: "Jan  2 15:04:05"
	if len(l) >= 15 && l[3] == ' ' && l[0] >= 'A' && l[0] <= 'Z' && l[9] == ':' && l[12] == ':' {
		return l[:15]
	}
	// access log: "02/Jan/2006:15:04:05 -0700"
	if len(l) >= 20 && isD(0) && l[2] == '/' && l[6] == '/' && l[11] == ':' {
		e := 20
		if len(l) >= 26 && l[20] == ' ' {
			e = 26
		}
		return l[:e]
	}
	return nil
}
