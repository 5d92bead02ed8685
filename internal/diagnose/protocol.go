package diagnose

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/probe"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

// protocolStep speaks the protocol the target's scheme implies on conn, the
// connection the TCP step opened, so a working target costs one round trip
// plus the handshake and no second connect. Fresh connections are opened
// only after a failure (or once the server has been silent for a while),
// to find out what the server really speaks. It closes conn.
func protocolStep(ctx context.Context, conn net.Conn, t target.Target, a *verdict.AddrEvidence, opt Options) {
	defer conn.Close()
	p := &verdict.ProtoEvidence{Protocol: t.Protocol(), Timeout: opt.Timeout, Wait: silenceWait(a.Connect.Duration, opt)}
	s := &session{ctx: ctx, t: t, a: a, opt: opt, p: p}
	a.Proto = p
	switch p.Protocol {
	case target.Text, target.Frame:
		s.message(conn)
	default:
		s.handshake(conn)
	}
	a.Whoami = whoamiOf(p)
}

// silenceWait is how long to wait where silence is an acceptable answer (a
// text server need not reply): long against the round trip the connect
// measured, short against the timeout.
func silenceWait(rtt time.Duration, opt Options) time.Duration {
	return min(max(opt.MinWait, 10*rtt), opt.Timeout)
}

type session struct {
	ctx context.Context
	t   target.Target
	a   *verdict.AddrEvidence
	opt Options
	p   *verdict.ProtoEvidence
	// quick: the handshake only, no fingerprints after a failure (another
	// port tried for the target's protocol, elsewhere.go).
	quick bool
}

// dial opens a fresh connection to the same address, for fingerprints.
func (s *session) dial(ctx context.Context) (net.Conn, error) {
	r, c := neterr.Dialer{Source: s.opt.Source}.Connect(ctx, s.a.Addr)
	if c != nil {
		return c, nil
	}
	if r.Err != nil {
		return nil, r.Err
	}
	return nil, fmt.Errorf("connect: %s", r.Kind)
}

// hostHeader is the Host a browser would send: the port only when it is
// not the scheme's default.
func hostHeader(t target.Target) string {
	h := t.Host
	if a, err := netip.ParseAddr(h); err == nil && a.Is6() {
		// A zone names an interface of this machine; it means nothing to the server.
		h = "[" + a.WithZone("").String() + "]"
	}
	def := uint16(80)
	if t.TLS() {
		def = 443
	}
	if t.Port != def {
		h += ":" + strconv.Itoa(int(t.Port))
	}
	return h
}

// run runs step and, if it has not finished after the silence wait, starts
// the fingerprint tries early alongside, so that a silent server costs one
// timeout in all rather than a timeout and then the tries. after, asked once
// step is done, names the tries wanted (nil: none); tries started early are
// kept as they are.
func (s *session) run(step func(), deadline time.Time, early []probe.TryKind, after func() []probe.TryKind) {
	began := time.Now()
	if s.quick {
		early = nil // the handshake only (another port's probe): no fingerprints
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		step()
	}()
	var tries chan []probe.Try
	cancel := func() {}
	start := func(kinds []probe.TryKind, dl time.Time) {
		ctx, c := context.WithCancel(s.ctx)
		cancel = c
		tries = make(chan []probe.Try, 1)
		go func() { tries <- probe.Fingerprint(ctx, s.dial, kinds, dl, hostHeader(s.t)) }()
	}
	wait := time.NewTimer(s.p.Wait)
	defer wait.Stop()
	select {
	case <-done:
	case <-wait.C:
		if len(early) > 0 {
			start(early, deadline)
		}
		<-done
	}
	defer func() { cancel() }()
	kinds := after()
	if len(kinds) == 0 || s.quick {
		if tries != nil {
			cancel()
			<-tries
		}
		return
	}
	if tries == nil {
		start(kinds, time.Now().Add(s.p.Wait))
		s.p.Tries = <-tries
		return
	}
	s.p.Tries = <-tries
	// The tries started early are those the step could call for before it
	// ended; the one that sends nothing is called for only by a close
	// without a byte, and only matters when no try got one either. The
	// server took that long to close the step's connection (a forwarder
	// waiting on its backend), so the try waits as long, and a silence wait.
	if missing := without(kinds, early); len(missing) > 0 && !anyAnswered(s.p.Tries) && s.ctx.Err() == nil {
		wait := min(time.Since(began)+s.p.Wait, s.opt.Timeout)
		s.p.Tries = append(s.p.Tries, probe.Fingerprint(s.ctx, s.dial, missing, time.Now().Add(wait), hostHeader(s.t))...)
	}
}

// without is the kinds not in have.
func without(kinds, have []probe.TryKind) []probe.TryKind {
	var out []probe.TryKind
	for _, k := range kinds {
		if !slices.Contains(have, k) {
			out = append(out, k)
		}
	}
	return out
}

// anyAnswered: a try got at least one byte.
func anyAnswered(tries []probe.Try) bool {
	for _, t := range tries {
		if t.ReceivedN > 0 {
			return true
		}
	}
	return false
}

// tlsOnly keeps the TLS try of kinds.
func tlsOnly(kinds []probe.TryKind) []probe.TryKind {
	for _, k := range kinds {
		if k == probe.TryTLS {
			return []probe.TryKind{probe.TryTLS}
		}
	}
	return nil
}

// withIdle adds the try that sends nothing when the server closed or reset
// the connection without a byte: it tells a server that hangs up before it
// reads (a forwarder whose backend is down) from one that refused the bytes.
func withIdle(kinds []probe.TryKind, e probe.Exchange) []probe.TryKind {
	if e.ReceivedN == 0 && (e.Reply == probe.Closed || e.Reply == probe.Reset) {
		return append(kinds[:len(kinds):len(kinds)], probe.TryIdle)
	}
	return kinds
}

// handshake: TLS when the scheme says so, then WebSocket or HTTP on top.
func (s *session) handshake(conn net.Conn) {
	t, p := s.t, s.p
	var cfg probe.TLSConfig
	if t.TLS() {
		cfg = s.tlsConfig(t)
		var tc net.Conn
		deadline := time.Now().Add(s.opt.Timeout)
		tlsKinds := []probe.TryKind{probe.TryHTTP}
		stall := s.watchStall("tls", deadline, cfg)
		s.run(func() { p.TLS, tc = probe.TLSHandshake(s.ctx, conn, deadline, cfg) }, deadline, tlsKinds,
			func() []probe.TryKind {
				if p.TLS.Done || p.TLS.Alert != "" || p.TLS.Reply == probe.Answered {
					return nil
				}
				return withIdle(tlsKinds, p.TLS.Exchange)
			})
		p.MSS = stall.finish(tlsStalled(p.TLS))
		s.legacy(cfg)
		if tc == nil {
			s.holders()
			return
		}
		defer tc.Close()
		conn = tc
	}
	deadline := time.Now().Add(s.opt.Timeout)
	var kinds []probe.TryKind
	if !t.TLS() {
		// The text line is a command a service that waits for one answers (Redis, memcached).
		kinds = []probe.TryKind{probe.TryTLS, probe.TryFrame, probe.TryText}
	}
	after := func(h *probe.HTTP) func() []probe.TryKind {
		return func() []probe.TryKind {
			switch {
			case !wantTries(h):
				return nil
			case h.Status == 400 && h.Software().App != "":
				return nil // a WebSocket library refused in plain HTTP: the port is plain
			case h.Status == 400:
				// Only a TLS server's 400 is in question; frame and text are for non-HTTP answers.
				return tlsOnly(kinds)
			}
			return withIdle(kinds, h.Exchange)
		}
	}
	switch t.Protocol() {
	case target.WebSocket:
		req := probe.WSRequest{Host: hostHeader(t), Path: t.Path, Origin: s.origin()}
		stall := s.watchStall("websocket", deadline, cfg)
		s.run(func() { p.WS = probe.Upgrade(s.ctx, conn, deadline, req) }, deadline, kinds,
			func() []probe.TryKind { return after(&p.WS.HTTP)() })
		p.MSS = stall.finish(httpStalled(&p.WS.HTTP))
		s.followUp()
	case target.HTTP:
		stall := s.watchStall("http", deadline, cfg)
		s.run(func() { p.HTTP = probe.HTTPRequest(s.ctx, conn, deadline, hostHeader(t), t.Path) }, deadline, kinds,
			func() []probe.TryKind { return after(p.HTTP)() })
		p.MSS = stall.finish(httpStalled(p.HTTP))
	}
	s.lateAlert()
	s.holders()
}

// wantTries: the answer does not already say what the server speaks.
func wantTries(h *probe.HTTP) bool {
	switch {
	case h.Status == 400:
		return true // a TLS server answers plain HTTP with 400
	case h.Status != 0:
		return false
	case h.Reply != probe.Answered:
		return true
	}
	n := probe.Classify(h.Received, h.Sent).Name
	return n == probe.SvcBinary
}

// message: one Workerman text or frame message; silence is a fine answer,
// so it is waited for only briefly.
func (s *session) message(conn net.Conn) {
	p := s.p
	deadline := time.Now().Add(p.Wait)
	other := probe.TryFrame
	if p.Protocol == target.Frame {
		p.Message = probe.FrameMessage(s.ctx, conn, deadline)
		other = probe.TryText
	} else {
		p.Message = probe.TextMessage(s.ctx, conn, deadline)
	}
	if r := p.Message.Reply; !s.quick && (r == probe.Closed || r == probe.Reset) {
		p.Tries = probe.Fingerprint(s.ctx, s.dial, withIdle([]probe.TryKind{probe.TryTLS, probe.TryHTTP, other}, p.Message.Exchange),
			time.Now().Add(p.Wait), hostHeader(s.t))
		s.holders()
	}
}

func whoamiOf(p *verdict.ProtoEvidence) *verdict.Whoami {
	var w *probe.Whoami
	switch {
	case p.WS != nil:
		w = p.WS.Whoami
	case p.HTTP != nil:
		w = p.HTTP.Whoami
	case p.Message != nil:
		w = p.Message.Whoami
	}
	if w == nil {
		return nil
	}
	return &verdict.Whoami{Proto: w.Proto, Version: w.Version, Client: w.Client, Server: w.Server}
}

// protoProbes lists the protocol step's conversations for the JSON "probes".
func protoProbes(a verdict.AddrEvidence) []Probe {
	p := a.Proto
	if p == nil {
		return nil
	}
	var out []Probe
	add := func(name, result string, e probe.Exchange) {
		out = append(out, Probe{
			Name: name, Address: a.Addr.String(), Result: result, Duration: e.Duration,
			Sent: verdict.Show(e.Sent, e.SentN, 200), Received: verdict.Show(e.Received, e.ReceivedN, 200),
		})
	}
	if t := p.TLS; t != nil {
		add("tls_handshake", tlsResult(t), t.Exchange)
	}
	switch {
	case p.WS != nil:
		add("websocket_handshake", httpResult(&p.WS.HTTP, p.WS.Upgraded), p.WS.Exchange)
	case p.HTTP != nil:
		add("http_request", httpResult(p.HTTP, false), p.HTTP.Exchange)
	case p.Message != nil:
		name := string(p.Protocol) + "_message"
		res := string(p.Message.Reply)
		switch {
		case p.Message.Whoami != nil:
			res = "whoami"
		case p.Message.Cut != probe.CutNone:
			res = cutResult(p.Message.Cut)
		}
		add(name, res, p.Message.Exchange)
	}
	for _, t := range p.Tries {
		if t.DialErr != nil {
			out = append(out, Probe{Name: "fingerprint_" + string(t.Kind), Address: a.Addr.String(), Result: "connect_failed"})
			continue
		}
		res := string(t.Reply)
		if t.Reply == probe.Answered {
			res = t.Service.Name
		}
		add("fingerprint_"+string(t.Kind), res, t.Exchange)
	}
	retry := func(name string, r *evidence.Retry) {
		at := r.Addr.String()
		switch {
		case r.DialErr != nil:
			out = append(out, Probe{Name: name, Address: at, Result: "connect_failed"})
			return
		case r.TLS != nil && !r.TLS.Done:
			e := r.TLS.Exchange
			out = append(out, Probe{Name: name + "_tls", Address: at, Result: "tls_" + string(e.Reply), Duration: e.Duration,
				Sent: verdict.Show(e.Sent, e.SentN, 200), Received: verdict.Show(e.Received, e.ReceivedN, 200)})
		}
		if w := r.WS; w != nil {
			out = append(out, Probe{Name: name, Address: at, Result: httpResult(&w.HTTP, w.Upgraded), Duration: w.Duration,
				Sent: verdict.Show(w.Sent, w.SentN, 200), Received: verdict.Show(w.Received, w.ReceivedN, 200)})
		}
	}
	if p.OriginRetry != nil {
		retry("websocket_origin_retry", p.OriginRetry)
	}
	for i := range p.Redirects {
		retry("websocket_redirect", &p.Redirects[i])
	}
	return append(out, tlsVerdictProbes(a.Addr.String(), p)...)
}

func httpResult(h *probe.HTTP, upgraded bool) string {
	switch {
	case upgraded:
		return "upgraded"
	case h.Status != 0:
		return "status_" + strconv.Itoa(h.Status)
	case h.Cut != probe.CutNone:
		return cutResult(h.Cut)
	case h.Reply == probe.Answered:
		return "not_http"
	}
	return string(h.Reply)
}

// cutResult names an answer that began but was not read to its end: longer
// than the probe reads, or unfinished at the deadline (a stall, a trickle).
func cutResult(c probe.Cut) string {
	if c == probe.CutCap {
		return "too_long"
	}
	return "incomplete"
}
