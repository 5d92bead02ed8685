package agent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
)

// WatchFunc watches port for d and reports what it saw; it calls started
// once the packet socket is open (before that, a SYN would be missed) and
// returns ErrNoRoot (wrapped) when it cannot open one for lack of privilege.
type WatchFunc func(ctx context.Context, port uint16, d time.Duration, started func()) (Report, error)

// Event is one request the agent answered, for its log.
type Event struct {
	Client netip.Addr
	Port   uint16
	Code   string // "" when watched, else the refusal (an evidence.Agent* code)
	SYNs   int    // the client's attempts seen
	Dur    time.Duration
}

// Config configures the agent's handler.
type Config struct {
	Token    string   // required; compared in constant time
	Ports    []uint16 // the ports it may watch
	MaxWatch time.Duration
	AtOnce   int // watches at once, all clients together; one per client address in any case
	Watch    WatchFunc
	Log      func(Event) // may be nil; must not block
}

// MinTokenLen is the shortest token the agent accepts from its operator.
const MinTokenLen = 12

// NewToken makes a random token (128 bits, hex).
func NewToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

type handler struct {
	cfg    Config
	digest [sha256.Size]byte
	mu     sync.Mutex
	active int
	busy   map[netip.Addr]bool
}

// New returns the agent's handler; it answers Path and refuses everything
// else under Prefix.
func New(cfg Config) http.Handler {
	if cfg.MaxWatch <= 0 {
		cfg.MaxWatch = DefaultMax
	}
	if cfg.AtOnce <= 0 {
		cfg.AtOnce = DefaultAtOnce
	}
	return &handler{cfg: cfg, digest: sha256.Sum256([]byte(cfg.Token)), busy: map[netip.Addr]bool{}}
}

// tokenOK compares digests, so neither the token's bytes nor its length
// show in the time the comparison takes.
func (h *handler) tokenOK(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || h.cfg.Token == "" {
		return false
	}
	d := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(d[:], h.digest[:]) == 1
}

func writeLine(w io.Writer, l Line) {
	b, _ := json.Marshal(l)
	_, _ = w.Write(append(b, '\n'))
}

func (h *handler) refuse(w http.ResponseWriter, status int, client netip.Addr, port uint16, code, msg string, allowed []uint16) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	writeLine(w, Line{State: "error", Error: code, Message: msg, Allowed: allowed})
	if h.cfg.Log != nil {
		h.cfg.Log(Event{Client: client, Port: port, Code: code})
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var client netip.Addr
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		client = ap.Addr().Unmap()
	}
	switch {
	case r.URL.Path != Path:
		h.refuse(w, http.StatusNotFound, client, 0, evidence.AgentBadRequest, "not found: the agent answers POST "+Path, nil)
		return
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, http.StatusMethodNotAllowed, client, 0, evidence.AgentBadRequest, "use POST", nil)
		return
	case !h.tokenOK(r):
		h.refuse(w, http.StatusUnauthorized, client, 0, evidence.AgentRefusedToken, "the token does not match the agent's (--agent-token)", nil)
		return
	case !client.IsValid():
		h.refuse(w, http.StatusBadRequest, client, 0, evidence.AgentBadRequest, "the client's address is unknown", nil)
		return
	}
	var req Request
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	if err := dec.Decode(&req); err != nil || req.Port == 0 || req.DurationMS < 0 {
		h.refuse(w, http.StatusBadRequest, client, 0, evidence.AgentBadRequest, `the body must be {"port": 1-65535, "duration_ms": N}`, nil)
		return
	}
	if !slices.Contains(h.cfg.Ports, req.Port) {
		h.refuse(w, http.StatusForbidden, client, req.Port, evidence.AgentRefusedPort, "this agent may not watch that port (--agent-ports)", h.cfg.Ports)
		return
	}
	d := time.Duration(req.DurationMS) * time.Millisecond
	switch {
	case d == 0:
		d = DefaultWatch
	case d < MinWatch:
		d = MinWatch
	}
	d = min(d, h.cfg.MaxWatch)
	if !h.take(client) {
		h.refuse(w, http.StatusTooManyRequests, client, req.Port, evidence.AgentBusy, "too many watches at once, or one of this client's is still running", nil)
		return
	}
	defer h.give(client)

	// The answer comes after the watch: give the connection the time.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d + time.Minute))
	// The watch ends with the request: a client that goes away stops it.
	ctx, cancel := context.WithTimeout(r.Context(), d+time.Minute)
	defer cancel()
	started := make(chan struct{})
	var once sync.Once
	type outcome struct {
		rep Report
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		rep, err := h.cfg.Watch(ctx, req.Port, d, func() { once.Do(func() { close(started) }) })
		done <- outcome{rep, err}
	}()
	var out outcome
	ended := false
	select {
	case <-started:
	case out = <-done:
		ended = true
	}
	select {
	case <-started:
	default:
		// It ended before it watched: it could not.
		code, msg := evidence.AgentCannotWatch, "the watch could not run"
		if out.err != nil {
			msg = out.err.Error()
		}
		if errors.Is(out.err, ErrNoRoot) {
			code = evidence.AgentNoRoot
		}
		h.refuse(w, http.StatusServiceUnavailable, client, req.Port, code, msg, nil)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	writeLine(w, Line{State: "watching", Client: client.String(), Port: req.Port, DurationMS: d.Milliseconds()})
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	if !ended { // (a watch that started and ended at once is already here)
		out = <-done
	}
	if out.err != nil {
		writeLine(w, Line{State: "error", Error: evidence.AgentCannotWatch, Message: out.err.Error()})
		if h.cfg.Log != nil {
			h.cfg.Log(Event{Client: client, Port: req.Port, Code: evidence.AgentCannotWatch, Dur: d})
		}
		return
	}
	res := out.rep.result(client, d)
	writeLine(w, Line{State: "done", Client: client.String(), Port: req.Port, DurationMS: res.DurationMS, Result: res})
	if h.cfg.Log != nil {
		h.cfg.Log(Event{Client: client, Port: req.Port, SYNs: len(res.SYNs), Dur: d})
	}
}

func (h *handler) take(client netip.Addr) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.active >= h.cfg.AtOnce || h.busy[client] {
		return false
	}
	h.active++
	h.busy[client] = true
	return true
}

func (h *handler) give(client netip.Addr) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.active--
	delete(h.busy, client)
}
