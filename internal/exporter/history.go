package exporter

import (
	"sync"
	"time"
	"unicode/utf8"
)

// maxDebugKept bounds the debug text kept for one probe of the history.
const maxDebugKept = 64 << 10

// entry is one probe (or refused request) of the landing page.
type entry struct {
	ID         int64
	Time       time.Time
	Module     string
	Target     string // as requested, raw: escaped where shown
	Refused    bool   // not in the allow-list: nothing was sent
	CutShort   bool
	Success    bool
	Cause      string
	Confidence string
	Duration   time.Duration
	Debug      string // the debug=true text, cut at maxDebugKept
}

// history keeps the last max entries, oldest first.
type history struct {
	mu      sync.Mutex
	max     int
	next    int64
	entries []entry
}

func (h *history) add(e entry) {
	if h.max <= 0 {
		return
	}
	if len(e.Debug) > maxDebugKept {
		i := maxDebugKept
		for i > 0 && !utf8.RuneStart(e.Debug[i]) {
			i--
		}
		e.Debug = e.Debug[:i] + "\n…\n"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next++
	e.ID = h.next
	if len(h.entries) == h.max {
		copy(h.entries, h.entries[1:])
		h.entries = h.entries[:h.max-1]
	}
	h.entries = append(h.entries, e)
}

// list returns the entries, newest first.
func (h *history) list() []entry {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]entry, len(h.entries))
	for i, e := range h.entries {
		out[len(out)-1-i] = e
	}
	return out
}

func (h *history) get(id int64) (entry, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.entries {
		if e.ID == id {
			return e, true
		}
	}
	return entry{}, false
}
