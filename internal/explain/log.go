package explain

import (
	"io"
	"runtime"
	"sort"
	"sync"

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
// largest group first. Memory is bounded by MaxLine, MaxGroups and the batches
// in flight. Classifying a line is the costly part and lines are independent,
// so batches of lines are classified on every core while one goroutine
// groups their results in the order of the log: the summary is the same as a
// line-by-line pass.
func Log(r io.Reader) (Summary, error) {
	workers := runtime.GOMAXPROCS(0)
	g := newGrouper()
	if workers == 1 {
		b, c := &batch{}, &judgeCache{}
		err := eachLine(r, func(l []byte, n int, cont bool) bool {
			if b.add(l, n, cont) {
				b.judge(c)
				b.apply(g)
				b.reset()
			}
			return true
		})
		if err != nil {
			return Summary{}, err
		}
		b.judge(c)
		b.apply(g)
		return g.summary(), nil
	}

	work := make(chan *batch, workers)
	order := make(chan *batch, 2*workers) // bounds the batches in flight
	free := make(chan *batch, 3*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &judgeCache{}
			for b := range work {
				b.judge(c)
				close(b.done)
			}
		}()
	}
	merged := make(chan struct{})
	go func() {
		defer close(merged)
		for b := range order {
			<-b.done
			b.apply(g)
			select {
			case free <- b:
			default:
			}
		}
	}()
	var cur *batch
	send := func() {
		if cur == nil || len(cur.lines) == 0 {
			return
		}
		order <- cur
		work <- cur
		cur = nil
	}
	err := eachLine(r, func(l []byte, n int, cont bool) bool {
		if cur == nil {
			select {
			case cur = <-free:
				cur.reset()
			default:
				cur = &batch{}
			}
			cur.done = make(chan struct{})
		}
		if cur.add(l, n, cont) {
			send()
		}
		return true
	})
	send()
	close(work)
	close(order)
	wg.Wait()
	<-merged
	if err != nil {
		return Summary{}, err
	}
	return g.summary(), nil
}

// A batch is a run of consecutive lines (pieces of a long line included),
// copied out of the reader's buffer, each followed by a newline, and what
// each of them was judged.
type batch struct {
	buf   []byte
	lines []batchLine
	hits  []lineHits
	done  chan struct{}
}

type batchLine struct {
	from, to int
	n        int
	cont     bool
	j        judged
}

const (
	batchBytes = 256 << 10
	batchLines = 2048
)

// add copies a line into the batch and reports whether the batch is full.
func (b *batch) add(l []byte, n int, cont bool) bool {
	b.lines = append(b.lines, batchLine{from: len(b.buf), to: len(b.buf) + len(l), n: n, cont: cont})
	b.buf = append(b.buf, l...)
	b.buf = append(b.buf, '\n')
	return len(b.buf) >= batchBytes || len(b.lines) >= batchLines
}

func (b *batch) reset() {
	b.buf, b.lines = b.buf[:0], b.lines[:0]
}

// judge classifies every line of the batch. The matcher walks the batch's
// text as four streams at once (see matcher.scan4): no literal holds a
// newline, and a newline takes every state back to the start, so a stream
// finds in each line what a scan of that line alone finds.
func (b *batch) judge(c *judgeCache) {
	if len(b.lines) == 0 {
		return
	}
	compileOnce.Do(compile)
	b.hits = b.hits[:0]
	for _, bl := range b.lines {
		b.hits = append(b.hits, lineHits{l: b.buf[bl.from:bl.to]})
	}
	// Four streams, each a run of whole lines, about a quarter of the text.
	var text [4][]byte
	var hs [4]streamHits
	var hitters [4]hitter
	from, line := 0, 0
	for q := range 4 {
		to := len(b.buf)
		if q < 3 {
			next := sort.Search(len(b.lines), func(i int) bool { return b.lines[i].from >= len(b.buf)*(q+1)/4 })
			if next < len(b.lines) {
				to = b.lines[next].from
			}
			to = max(to, from)
		}
		text[q] = b.buf[from:to]
		hs[q] = streamHits{b: b, base: from, line: line}
		hitters[q] = &hs[q]
		for line < len(b.lines) && b.lines[line].from < to {
			line++
		}
		from = to
	}
	lits.scan4(&text, &hitters)
	for i := range b.lines {
		bl := &b.lines[i]
		h := b.hits[i].result()
		bl.j = judged{}
		if h.ok() {
			l := b.buf[bl.from:bl.to]
			t, _ := targetInWith(l, &c.urls)
			bl.j = judged{h: h, t: t, rs: c.ranks.causes(h, t, logFamilies)}
		}
	}
}

// streamHits hands the literals a stream finds to the line they are in.
type streamHits struct {
	b    *batch
	base int // offset of the stream in the batch's text
	line int // the line of the last literal
}

func (s *streamHits) hit(lit, at int) {
	at += s.base
	for s.b.lines[s.line].to < at+lits.lens[lit] {
		s.line++
	}
	s.b.hits[s.line].hit(lit, at-s.b.lines[s.line].from)
}

func (b *batch) apply(g *grouper) {
	for _, bl := range b.lines {
		g.add(bl.j, b.buf[bl.from:bl.to], bl.n, bl.cont)
	}
}

// judged is what one line (or piece of a long line) says on its own.
type judged struct {
	h  hit
	t  Target
	rs []rank
}

// judge is what batch.judge finds in one line.
func judge(l []byte) judged {
	h := classify(l)
	if !h.ok() {
		return judged{}
	}
	t, _ := targetIn(l)
	return judged{h: h, t: t, rs: causes(h, t, logFamilies)}
}

// logFamilies are the text-wide facts a log's lines are ranked with: each
// line on its own, as if the client had also tried IPv4.
var logFamilies = families{refused4: true}

// judgeCache is what a worker keeps from one batch to the next.
type judgeCache struct {
	ranks rankCache
	urls  urlCache
}

// rankCache keeps what causes returned: it depends on the signal, the
// context, the target's host and the families alone, and a log repeats a few
// of them. The lists are shared and never changed. Bounded: a log of many
// hosts empties it now and then.
type rankCache map[rankKey][]rank

type rankKey struct {
	sig, ctx, host string
	fam            families
}

const rankCacheMax = 1024

func (c *rankCache) causes(h hit, t Target, fam families) []rank {
	k := rankKey{h.sig, h.ctx, t.Host, fam}
	if rs, ok := (*c)[k]; ok {
		return rs
	}
	if *c == nil || len(*c) >= rankCacheMax {
		*c = rankCache{}
	}
	rs := causes(h, t, fam)
	(*c)[k] = rs
	return rs
}

// grouper adds judged lines, in the log's order, to the groups.
type grouper struct {
	s        Summary
	groups   map[groupKey]*Group
	lastLine int // the last line that counted as a failure
	longLine int // the last line counted as long
}

func newGrouper() *grouper {
	return &grouper{groups: map[groupKey]*Group{}, lastLine: -1, longLine: -1}
}

func (g *grouper) add(j judged, l []byte, n int, cont bool) {
	g.s.Lines = n
	if cont && g.longLine != n {
		g.s.Long++ // once per line, whichever of its pieces failed
		g.longLine = n
	}
	if cont && g.lastLine == n {
		return // one failure per line, however long
	}
	if !j.h.ok() {
		return
	}
	g.lastLine = n
	rs, t := j.rs, j.t
	if len(rs) == 0 {
		return
	}
	g.s.Failures++
	k := groupKey{cause: rs[0].cause, target: t}
	gr := g.groups[k]
	if gr == nil && len(g.groups) >= MaxGroups {
		k = groupKey{cause: rs[0].cause, other: true}
		gr = g.groups[k]
	}
	if gr == nil {
		gr = &Group{Cause: rs[0].cause, Confidence: rs[0].conf, Outcome: signals[j.h.sig].outcome, Target: k.target, Other: k.other,
			First: timeOf(l), FirstLine: n, Example: Show(l, showWidth)}
		if !k.other {
			gr.Next = next(rs, t, j.h)
		}
		g.groups[k] = gr
	}
	gr.Count++
	gr.LastLine = n
	gr.last = append(gr.last[:0], timeBytes(l)...)
}

func (g *grouper) summary() Summary {
	s := g.s
	for _, gr := range g.groups {
		gr.Last, gr.last = string(gr.last), nil
		s.Groups = append(s.Groups, *gr)
	}
	sort.Slice(s.Groups, func(i, j int) bool {
		a, b := s.Groups[i], s.Groups[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.FirstLine < b.FirstLine
	})
	return s
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
