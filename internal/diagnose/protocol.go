package diagnose

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

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
// the fingerprint tries alongside, so that a silent server costs one
// timeout in all rather than a timeout and then the tries. failed, asked
// once step is done, says whether the tries are wanted.
func (s *session) run(step func(), deadline time.Time, kinds []probe.TryKind, failed func() bool) {
	if s.quick {
		kinds = nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		step()
	}()
	var tries chan []probe.Try
	cancel := func() {}
	start := func(dl time.Time) {
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
		if len(kinds) > 0 {
			start(deadline)
		}
		<-done
	}
	defer func() { cancel() }()
	if !failed() || len(kinds) == 0 {
		if tries != nil {
			cancel()
			<-tries
		}
		return
	}
	if tries == nil {
		start(time.Now().Add(s.p.Wait))
	}
	s.p.Tries = <-tries
}

// handshake: TLS when the scheme says so, then WebSocket or HTTP on top.
func (s *session) handshake(conn net.Conn) {
	t, p := s.t, s.p
	if t.TLS() {
		cfg := probe.TLSConfig{Now: s.opt.Now}
		if ip, ok := t.IP(); ok {
			cfg.IP = ip.WithZone("") // certificates name addresses without a zone
		} else {
			cfg.ServerName = t.Host
		}
		if t.Protocol() != target.TLSOnly {
			cfg.ALPN = []string{"http/1.1"}
		}
		var tc net.Conn
		deadline := time.Now().Add(s.opt.Timeout)
		s.run(func() { p.TLS, tc = probe.TLSHandshake(s.ctx, conn, deadline, cfg) }, deadline,
			[]probe.TryKind{probe.TryHTTP},
			func() bool { return !p.TLS.Done && p.TLS.Alert == "" && p.TLS.Reply != probe.Answered })
		if tc == nil {
			return
		}
		defer tc.Close()
		conn = tc
	}
	deadline := time.Now().Add(s.opt.Timeout)
	var kinds []probe.TryKind
	if !t.TLS() {
		kinds = []probe.TryKind{probe.TryTLS, probe.TryFrame}
	}
	switch t.Protocol() {
	case target.WebSocket:
		s.run(func() { p.WS = probe.WebSocketHandshake(s.ctx, conn, deadline, hostHeader(t), t.Path) }, deadline, kinds,
			func() bool { return wantTries(&p.WS.HTTP) })
	case target.HTTP:
		s.run(func() { p.HTTP = probe.HTTPRequest(s.ctx, conn, deadline, hostHeader(t), t.Path) }, deadline, kinds,
			func() bool { return wantTries(p.HTTP) })
	}
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
		p.Tries = probe.Fingerprint(s.ctx, s.dial, []probe.TryKind{probe.TryTLS, probe.TryHTTP, other},
			time.Now().Add(p.Wait), hostHeader(s.t))
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
		res := string(t.Reply)
		switch {
		case t.Done && len(t.Problems) > 0:
			res = "certificate_problem"
		case t.Done:
			res = "ok"
		case t.Alert != "":
			res = "alert"
		case t.Cut != probe.CutNone:
			res = cutResult(t.Cut)
		}
		add("tls_handshake", res, t.Exchange)
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
	return out
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
