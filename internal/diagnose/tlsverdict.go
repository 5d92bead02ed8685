package diagnose

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/probe"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

// The steps of the protocol stage that judge TLS as current clients do and
// tell a path MTU black hole from a stalled server: each runs only when its
// trigger is seen.

// tlsConfig is the verdict handshake's configuration for t (the target, or
// a redirect's URL): SNI for a name, the address checked for a literal, and
// HTTP/1.1 by ALPN above TLS.
func (s *session) tlsConfig(t target.Target) probe.TLSConfig {
	cfg := probe.TLSConfig{Now: s.opt.Now}
	if ip, ok := t.IP(); ok {
		cfg.IP = ip.WithZone("") // certificates name addresses without a zone
	} else {
		cfg.ServerName = t.Host
	}
	if t.Protocol() != target.TLSOnly {
		cfg.ALPN = []string{"http/1.1"}
	} else {
		// Nothing follows the handshake: wait briefly for a TLS 1.3 server
		// to refuse a missing client certificate, which it does only then.
		cfg.Linger = s.p.Wait
	}
	return cfg
}

// legacy runs the second handshake that allows what current clients refuse,
// when the verdict handshake was refused the way an obsolete server refuses
// it (probe.WantLegacy): one more connect and handshake.
func (s *session) legacy(cfg probe.TLSConfig) {
	if t := s.p.TLS; !s.quick && probe.WantLegacy(t) {
		t.Legacy = probe.LegacyHandshake(s.ctx, s.dial, time.Now().Add(s.opt.Timeout), cfg)
	}
}

// lateAlert notes an alert that ended the WebSocket or HTTP step on a
// completed handshake: a TLS 1.3 server refuses a missing client
// certificate only after the handshake, on the first read.
func (s *session) lateAlert() {
	t := s.p.TLS
	if t == nil || t.LateAlert != "" {
		return
	}
	var e *probe.Exchange
	var err error
	switch {
	case s.p.WS != nil:
		e, err = &s.p.WS.Exchange, s.p.WS.Err
	case s.p.HTTP != nil:
		e, err = &s.p.HTTP.Exchange, s.p.HTTP.Err
	default:
		return
	}
	if a := probe.RemoteAlert(e.Err); a != "" {
		t.LateAlert = a
	} else {
		t.LateAlert = probe.RemoteAlert(err)
	}
}

// tlsStalled: the handshake got no answer, or an answer that stopped, within
// the timeout; no alert, no refusal.
func tlsStalled(t *probe.TLS) bool {
	return t != nil && !t.Done && t.Alert == "" && stalledExchange(t.Exchange)
}

// httpStalled: the WebSocket or HTTP answer did not come, or stopped.
func httpStalled(h *probe.HTTP) bool {
	return h != nil && (h.Status == 0 && stalledExchange(h.Exchange) || h.Status != 0 && h.Cut == probe.CutDeadline)
}

func stalledExchange(e probe.Exchange) bool {
	return e.Reply == probe.Silent || e.Reply == probe.Answered && e.Cut == probe.CutDeadline
}

// mssWatch starts the small-MSS retry of a step, and beside it its control
// with the system's MSS, once the step has run for the silence wait (a TLS
// or HTTP answer takes a few round trips), beside the fingerprint tries, so
// a stalled step costs no wait of its own. The retries are kept only when
// the step stalled; otherwise they are cancelled.
type mssWatch struct {
	timer  *time.Timer
	cancel context.CancelFunc
	res    chan *evidence.MSSRetry
	run    func() *evidence.MSSRetry

	mu      sync.Mutex
	started bool
	closed  bool
}

func (s *session) watchStall(stage string, deadline time.Time, cfg probe.TLSConfig) *mssWatch {
	w := &mssWatch{}
	if !neterr.CanSetMSS || s.quick {
		return w
	}
	ctx, cancel := context.WithDeadline(s.ctx, deadline)
	w.cancel = cancel
	w.res = make(chan *evidence.MSSRetry, 1)
	w.run = func() *evidence.MSSRetry {
		control := make(chan *evidence.MSSRetry, 1)
		go func() { control <- s.mssRetry(ctx, 0, stage, deadline, cfg) }()
		m := s.mssRetry(ctx, evidence.SmallMSS, stage, deadline, cfg)
		m.Control = <-control
		return m
	}
	w.timer = time.AfterFunc(s.p.Wait, w.start)
	return w
}

func (w *mssWatch) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started || w.closed {
		return
	}
	w.started = true
	go func() { w.res <- w.run() }()
}

// finish returns the retry when the step stalled, and stops it otherwise.
func (w *mssWatch) finish(stalled bool) *evidence.MSSRetry {
	if w.timer == nil {
		return nil
	}
	w.timer.Stop()
	defer w.cancel()
	if stalled {
		w.start() // the step stalled before the wait: a timeout shorter than it
		return <-w.res
	}
	w.mu.Lock()
	w.closed = true
	started := w.started
	w.mu.Unlock()
	if started {
		w.cancel()
		<-w.res
	}
	return nil
}

// mssRetry runs the stage that stalled again, on a fresh connection whose
// SYN announces mss (evidence.SmallMSS: the server then sends only segments
// small enough for any path; 0: the system's, for the control).
func (s *session) mssRetry(ctx context.Context, mss int, stage string, deadline time.Time, cfg probe.TLSConfig) *evidence.MSSRetry {
	m := &evidence.MSSRetry{MSS: mss, Stage: stage}
	r, conn := neterr.Dialer{Source: s.opt.Source, MSS: m.MSS}.Connect(ctx, s.a.Addr)
	m.Connect = r
	if conn == nil {
		return m
	}
	defer conn.Close()
	if s.t.TLS() {
		cfg.Linger = 0
		var tc net.Conn
		m.TLS, tc = probe.TLSHandshake(ctx, conn, deadline, cfg)
		if tc == nil {
			return m
		}
		defer tc.Close()
		conn = tc
	}
	switch stage {
	case "websocket":
		m.WS = probe.WebSocketHandshake(ctx, conn, deadline, hostHeader(s.t), s.t.Path)
	case "http":
		m.HTTP = probe.HTTPRequest(ctx, conn, deadline, hostHeader(s.t), s.t.Path)
	}
	return m
}

// tlsResult names how a TLS handshake ended, for the JSON "probes".
func tlsResult(t *probe.TLS) string {
	switch {
	case t.LateAlert != "":
		return "alert"
	case t.Done && len(t.Problems) > 0:
		return "certificate_problem"
	case t.Done:
		return "ok"
	case t.Alert != "":
		return "alert"
	case t.Cut != probe.CutNone:
		return cutResult(t.Cut)
	}
	return string(t.Reply)
}

// tlsVerdictProbes lists the legacy handshake and the small-MSS retry for
// the JSON "probes".
func tlsVerdictProbes(addr string, p *evidence.ProtoEvidence) []Probe {
	var out []Probe
	add := func(name, result string, e probe.Exchange) {
		out = append(out, Probe{
			Name: name, Address: addr, Result: result, Duration: e.Duration,
			Sent: verdict.Show(e.Sent, e.SentN, 200), Received: verdict.Show(e.Received, e.ReceivedN, 200),
		})
	}
	if p.TLS != nil && p.TLS.Legacy != nil {
		add("tls_handshake_legacy", tlsResult(p.TLS.Legacy), p.TLS.Legacy.Exchange)
	}
	for m, suffix := p.MSS, "_small_mss"; m != nil; m, suffix = m.Control, "_default_mss" {
		out = append(out, Probe{Name: "tcp_connect" + suffix, Address: addr, Result: string(m.Connect.Kind), Duration: m.Connect.Duration})
		if m.TLS != nil {
			add("tls_handshake"+suffix, tlsResult(m.TLS), m.TLS.Exchange)
		}
		switch {
		case m.WS != nil:
			add("websocket_handshake"+suffix, httpResult(&m.WS.HTTP, m.WS.Upgraded), m.WS.Exchange)
		case m.HTTP != nil:
			add("http_request"+suffix, httpResult(m.HTTP, false), m.HTTP.Exchange)
		}
	}
	return out
}
