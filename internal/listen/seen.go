package listen

import (
	"bytes"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/conndiag/conndiag/internal/page"
)

// seenLog keeps the recent connections of one endpoint for the check
// page's join (did the browser's connection arrive? from where? how did
// its handshake go?). It is a ring of fixed size, so its memory is bounded
// whatever the load: under a flood, old entries are overwritten and the
// page finds nothing for them, which it says. It exists only when the
// server has an http endpoint, which serves the page.
type seenLog struct {
	mu   sync.Mutex
	ring []page.Seen
	seqs []uint64 // the sequence number of each slot's entry
	next uint64
}

const seenRing = 512

func newSeenLog() *seenLog {
	return &seenLog{ring: make([]page.Seen, seenRing), seqs: make([]uint64, seenRing), next: 1}
}

// begin records a new connection and returns its sequence number (0 when
// the log is off).
func (l *seenLog) begin(peer netip.AddrPort) uint64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	seq := l.next
	l.next++
	i := seq % uint64(len(l.ring))
	l.ring[i] = page.Seen{At: time.Now(), Peer: peer}
	l.seqs[i] = seq
	return seq
}

// update changes the entry of seq, unless it was overwritten meanwhile.
func (l *seenLog) update(seq uint64, f func(*page.Seen)) {
	if l == nil || seq == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := seq % uint64(len(l.ring)); l.seqs[i] == seq {
		f(&l.ring[i])
	}
}

// recent copies the entries, oldest first.
func (l *seenLog) recent() []page.Seen {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]page.Seen, 0, len(l.ring))
	first := uint64(1)
	if l.next > uint64(len(l.ring)) {
		first = l.next - uint64(len(l.ring))
	}
	for seq := first; seq < l.next; seq++ {
		if i := seq % uint64(len(l.ring)); l.seqs[i] == seq {
			out = append(out, l.ring[i])
		}
	}
	return out
}

// handshake records the answer to a WebSocket handshake request: the
// token in its request target, and the status sent (101 when upgraded).
func (c *connInfo) sawHandshake(req []byte, status int, notHTTP bool) {
	if c.ep.seen == nil {
		return
	}
	tok := tokenOf(req)
	c.ep.seen.update(c.seen, func(s *page.Seen) {
		s.Request, s.Token, s.NotHTTP = true, tok, notHTTP
		if status == 101 {
			s.Upgraded = true
		} else {
			s.Status = status
		}
	})
}

// tokenOf finds the check page's token in a request's target
// ("GET /?conndiag=TOKEN HTTP/1.1"), "" when there is none.
func tokenOf(req []byte) string {
	line, _, _ := bytes.Cut(req, []byte{'\n'})
	_, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return ""
	}
	target, _, _ := bytes.Cut(rest, []byte{' '})
	_, query, ok := bytes.Cut(target, []byte{'?'})
	if !ok {
		return ""
	}
	for _, kv := range bytes.Split(query, []byte{'&'}) {
		if v, ok := bytes.CutPrefix(kv, []byte(page.TokenParam+"=")); ok && page.ValidToken(string(v)) {
			return string(v)
		}
	}
	return ""
}

// statusOf is the status code of the HTTP response at the start of b, 0
// when there is none.
func statusOf(b []byte) int {
	if len(b) < 12 || !bytes.HasPrefix(b, []byte("HTTP/1.")) {
		return 0
	}
	n, err := strconv.Atoi(string(b[9:12]))
	if err != nil {
		return 0
	}
	return n
}

// cutText bounds an error text kept for the page.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// enablePage gives every endpoint its log of recent connections when an
// http endpoint serves the check page.
func (s *Server) enablePage() {
	on := false
	for _, ep := range s.eps {
		on = on || ep.Proto == HTTP
	}
	if !on {
		return
	}
	for _, ep := range s.eps {
		ep.seen = newSeenLog()
	}
}
