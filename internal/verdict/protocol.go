package verdict

import (
	"bytes"
	"net/http"
	"strings"
	"time"

	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/probe"
	"github.com/conndiag/conndiag/internal/target"
)

// ProtoEvidence is what the protocol step learned once TCP had connected.
type ProtoEvidence struct {
	Protocol target.Protocol
	TLS      *probe.TLS       // wss, https, tls: the handshake
	HTTP     *probe.HTTP      // http, https: the request
	WS       *probe.WebSocket // ws, wss: the opening handshake
	Message  *probe.Message   // text, frame, and the whoami line on tcp
	Tries    []probe.Try      // fingerprints on fresh connections, after a failure
	Timeout  time.Duration    // how long a handshake answer was waited for
	Wait     time.Duration    // how long silence was waited out where it is an acceptable answer
}

// Step is one conversation of the protocol step, for showing the exchange.
type Step struct {
	Name string // tls, websocket, http, text, frame, tcp, try_tls, try_http, try_frame, try_text
	probe.Exchange
}

// Steps lists the conversations in the order they happened.
func (p *ProtoEvidence) Steps() []Step {
	var out []Step
	if p.TLS != nil {
		out = append(out, Step{"tls", p.TLS.Exchange})
	}
	switch {
	case p.WS != nil:
		out = append(out, Step{"websocket", p.WS.Exchange})
	case p.HTTP != nil:
		out = append(out, Step{"http", p.HTTP.Exchange})
	case p.Message != nil:
		out = append(out, Step{string(p.Protocol), p.Message.Exchange})
	}
	for _, t := range p.Tries {
		if t.DialErr == nil {
			out = append(out, Step{"try_" + string(t.Kind), t.Exchange})
		}
	}
	return out
}

// protoRules judges one address whose TCP connect succeeded.
type protoRules struct {
	ev   Evidence
	a    AddrEvidence
	p    *ProtoEvidence
	port uint16
}

func decideProto(ev Evidence, a AddrEvidence) (Outcome, []Finding) {
	r := protoRules{ev: ev, a: a, p: a.Proto, port: a.Addr.Port()}
	var cert *Finding
	if r.p.TLS != nil {
		out, fs, cf := r.tls()
		if fs != nil {
			return out, fs
		}
		cert = cf
	}
	var out Outcome
	var fs []Finding
	switch {
	case r.p.WS != nil:
		out, fs = r.websocket()
	case r.p.HTTP != nil:
		out, fs = r.http()
	case r.p.Message != nil:
		out, fs = r.message()
	default:
		out, fs = OutcomeOK, []Finding{r.ok(i18n.M("proto.ok.tls", "Addr", r.a.Addr.String()))}
	}
	if cert == nil {
		return out, fs
	}
	// The certificate is what a client trips over first; what happens on top
	// of TLS is still worth knowing.
	if out == OutcomeOK {
		c := cert.with(i18n.M("ev.proto.cert.rest_ok"))
		return OutcomeTLSFailure, []Finding{c}
	}
	return OutcomeTLSFailure, append([]Finding{*cert}, fs...)
}

func (r protoRules) connectLine() i18n.Msg {
	return i18n.M("ev.connect.ok", "Addr", r.a.Addr.String(), "Dur", Dur(r.a.Connect.Duration))
}

// finding starts a finding whose first evidence is the TCP connect.
func (r protoRules) finding(c Cause, conf Confidence, args ...any) Finding {
	return newFinding(c, conf, args...).with(r.connectLine())
}

// ok is the finding for a working target: the TCP connect, the TLS
// handshake, the lines given, then what a conndiag endpoint said.
func (r protoRules) ok(summary i18n.Msg, lines ...i18n.Msg) Finding {
	f := r.finding(CauseOK, High, "Addr", r.a.Addr.String())
	f.Summary = summary
	return f.with(r.tlsLines()...).with(lines...).with(r.whoamiLines()...)
}

// whoamiLines say that the endpoint is a conndiag test endpoint.
func (r protoRules) whoamiLines() []i18n.Msg {
	if w := r.a.Whoami; w != nil {
		return []i18n.Msg{i18n.M("ev.proto.whoami", "Proto", w.Proto, "Version", w.Version,
			"Client", addrOrUnknown(w.Client.String(), w.Client.IsValid()), "Server", addrOrUnknown(w.Server.String(), w.Server.IsValid()))}
	}
	var h *probe.HTTP
	switch {
	case r.p.WS != nil:
		h = &r.p.WS.HTTP
	case r.p.HTTP != nil:
		h = r.p.HTTP
	}
	if v, ok := probe.ListenVersion(h.Server()); ok {
		return []i18n.Msg{i18n.M("ev.proto.whoami_header", "Version", v)}
	}
	return nil
}

func addrOrUnknown(s string, ok bool) any {
	if ok {
		return s
	}
	return i18n.M("ev.proto.unknown_addr")
}

// show escapes server bytes for one evidence line.
func show(b []byte, total int) string { return probe.Show(b, total, 160) }

// ---- TLS ----

// tls judges the handshake. A non-nil fs is the whole verdict; otherwise
// cert is the certificate finding (nil when the certificate is fine) and the
// step on top of TLS is judged next.
func (r protoRules) tls() (Outcome, []Finding, *Finding) {
	t := r.p.TLS
	if t.Done {
		if len(t.Problems) == 0 {
			return "", nil, nil
		}
		f := r.certFinding()
		return "", nil, &f
	}
	what := i18n.M("what.tls")
	svc := probe.Classify(t.Received, t.Sent)
	if t.Alert != "" {
		f := r.finding(CauseUnknown, Medium).with(i18n.M("ev.proto.tls.alert", "Alert", t.Alert))
		if t.ServerName == "" {
			f = f.with(i18n.M("ev.proto.tls.no_sni"))
		}
		f.Summary = i18n.M("proto.tls_alert.summary", "Alert", t.Alert)
		return OutcomeTLSFailure, []Finding{f.fix(i18n.M("fix.proto.tls_alert"), r.sClient())}, nil
	}
	switch t.Reply {
	case probe.Answered:
		if t.Cut != probe.CutNone && (svc.Name == probe.SvcTLS || len(t.Received) < 5) {
			// Fewer bytes than a record header prove nothing either way.
			out, fs := r.cutAnswer(t.Exchange, what)
			return out, fs, nil
		}
		if probe.SpeaksOther(svc.Name) {
			return OutcomeProtocolMismatch, []Finding{r.otherService(svc, i18n.M("ev.proto.tls.plain", "Bytes", show(t.Received, t.ReceivedN)))}, nil
		}
		if svc.Name != probe.SvcTLS {
			f := r.finding(CauseTLSUnexpected, High).with(i18n.M("ev.proto.tls.plain", "Bytes", show(t.Received, t.ReceivedN)))
			if svc.Name == probe.SvcHTTP {
				f = f.with(i18n.M("ev.proto.plain_http", "Line", probe.Escape([]byte(svc.Detail), 120)))
			}
			return OutcomeTLSFailure, []Finding{f.fix(r.tlsUnexpectedFix()...)}, nil
		}
	case probe.Silent, probe.Closed, probe.Reset:
		line := r.noAnswerLine(t.Reply, what, r.p.Timeout)
		if tr, ok := r.tryAnswered(probe.TryHTTP); ok {
			svc := tr.Service
			if probe.SpeaksOther(svc.Name) {
				return OutcomeProtocolMismatch, []Finding{r.otherService(svc, line, r.tryLine(tr))}, nil
			}
			f := r.finding(CauseTLSUnexpected, High).with(line, r.tryLine(tr))
			return OutcomeTLSFailure, []Finding{f.fix(r.tlsUnexpectedFix()...)}, nil
		}
		switch t.Reply {
		case probe.Silent:
			f := r.finding(CauseTLSUnexpected, Medium).with(line, i18n.M("ev.proto.tls.silent_meaning")).with(r.tryLines()...)
			return OutcomeTLSFailure, []Finding{f.fix(r.tlsUnexpectedFix()...)}, nil
		case probe.Reset:
			f := r.finding(CauseResetByPeer, High, "Addr", r.a.Addr.String()).with(line).with(r.tryLines()...)
			return OutcomeReset, []Finding{f.fix(i18n.M("cause.reset_by_peer.fix"))}, nil
		}
		f := r.finding(CauseUnknown, Low).with(line).with(r.tryLines()...)
		alt := newFinding(CauseTLSUnexpected, Low).fix(r.tlsUnexpectedFix()...)
		return OutcomeTLSFailure, []Finding{f.fix(i18n.M("fix.proto.tls_alert"), r.sClient()), alt}, nil
	}
	errText := ""
	if t.Err != nil {
		errText = t.Err.Error()
	}
	f := r.finding(CauseUnknown, Low).with(i18n.M("ev.proto.tls.error", "Err", errText))
	if len(t.Received) > 0 {
		f = f.with(i18n.M("ev.proto.received", "Bytes", show(t.Received, t.ReceivedN)))
	}
	return OutcomeTLSFailure, []Finding{f.fix(i18n.M("fix.proto.tls_alert"), r.sClient())}, nil
}

// tlsLines describe a completed handshake and the certificate.
func (r protoRules) tlsLines() []i18n.Msg {
	t := r.p.TLS
	if t == nil || !t.Done {
		return nil
	}
	out := []i18n.Msg{i18n.M("ev.proto.tls.ok", "Version", t.Version, "Cipher", t.Cipher, "ALPN", t.ALPN, "Dur", Dur(t.Duration))}
	if len(t.Chain) > 0 {
		out = append(out, certLine(t.Chain[0]))
	}
	return out
}

func certLine(c probe.Cert) i18n.Msg {
	return i18n.M("ev.proto.tls.cert", "Subject", c.Subject, "Issuer", c.Issuer,
		"From", day(c.NotBefore), "Until", day(c.NotAfter), "Names", names(c))
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func names(c probe.Cert) string {
	n := c.Names()
	if len(n) == 0 {
		return "(" + c.Subject + ")"
	}
	if len(n) > 8 {
		n = append(n[:8:8], "…")
	}
	return strings.Join(n, ", ")
}

func (r protoRules) certFinding() Finding {
	t := r.p.TLS
	f := r.finding(CauseTLSCertificate, High).with(r.tlsLines()...)
	leaf := t.Chain[0]
	var fixes []i18n.Msg
	for i, pr := range t.Problems {
		c := leaf
		if pr.Cert < len(t.Chain) {
			c = t.Chain[pr.Cert]
		}
		var ev, sum i18n.Msg
		switch pr.Kind {
		case probe.Expired:
			ev = i18n.M("ev.proto.cert.expired", "Subject", c.Subject, "Until", day(c.NotAfter))
			sum = i18n.M("proto.cert.expired.summary", "Until", day(c.NotAfter))
			fixes = append(fixes, i18n.M("fix.proto.cert.expired"), i18n.Cmd("certbot renew"))
		case probe.NotYetValid:
			ev = i18n.M("ev.proto.cert.not_yet_valid", "Subject", c.Subject, "From", day(c.NotBefore))
			sum = i18n.M("proto.cert.not_yet_valid.summary", "From", day(c.NotBefore))
			fixes = append(fixes, i18n.M("fix.proto.cert.clock"), i18n.Cmd("timedatectl"))
		case probe.WrongName:
			ev = i18n.M("ev.proto.cert.wrong_name", "Name", pr.Name, "Names", names(leaf))
			sum = i18n.M("proto.cert.wrong_name.summary", "Name", pr.Name, "Names", names(leaf))
			fixes = append(fixes, i18n.M("fix.proto.cert.wrong_name", "Name", pr.Name, "Names", names(leaf)))
		case probe.Untrusted:
			if leaf.SelfSigned {
				ev = i18n.M("ev.proto.cert.self_signed", "Subject", leaf.Subject)
				sum = i18n.M("proto.cert.self_signed.summary")
			} else {
				ev = i18n.M("ev.proto.cert.untrusted", "Issuer", c.Issuer)
				sum = i18n.M("proto.cert.untrusted.summary", "Issuer", c.Issuer)
			}
			fixes = append(fixes, i18n.M("fix.proto.cert.untrusted"))
		default:
			ev = i18n.M("ev.proto.cert.other", "Detail", pr.Detail)
			sum = i18n.M("cause.tls_certificate.summary")
		}
		f = f.with(ev)
		if i == 0 {
			f.Summary = sum
		}
	}
	if len(t.Chain) > 1 {
		f = f.with(i18n.M("ev.proto.tls.chain", "N", len(t.Chain)))
	}
	return f.fix(fixes...).fix(i18n.M("fix.proto.cert.look"), r.sClient())
}

func (r protoRules) sClient() i18n.Msg {
	name := r.ev.Target.Host
	if strings.Contains(name, ":") {
		name = "[" + name + "]"
	}
	if _, isIP := r.ev.Target.IP(); isIP {
		return i18n.Cmd("openssl s_client -connect %s -showcerts </dev/null", r.a.Addr)
	}
	return i18n.Cmd("openssl s_client -connect %s -servername %s -showcerts </dev/null", r.a.Addr, name)
}

func (r protoRules) tlsUnexpectedFix() []i18n.Msg {
	plain := map[string]string{"wss": "ws", "https": "http"}[r.ev.Target.Scheme]
	out := []i18n.Msg{}
	if plain != "" {
		out = append(out, i18n.M("fix.proto.tls_unexpected.scheme", "Scheme", plain))
	}
	return append(out,
		i18n.M("fix.proto.tls_unexpected.workerman"),
		i18n.Snippet(`$worker = new Worker('websocket://0.0.0.0:%d', ['ssl' => ['local_cert' => '/path/fullchain.pem', 'local_pk' => '/path/privkey.pem']]); $worker->transport = 'ssl';`, r.port),
		i18n.M("fix.proto.tls_unexpected.proxy"))
}

// ---- WebSocket and HTTP ----

func (r protoRules) websocket() (Outcome, []Finding) {
	w := r.p.WS
	what := i18n.M("what.ws")
	status := i18n.M("ev.proto.http.status", "Status", probe.Escape([]byte(w.StatusLine), 100), "Dur", Dur(w.FirstByte))
	switch {
	case w.Upgraded:
		lines := []i18n.Msg{i18n.M("ev.proto.ws.ok", "Status", probe.Escape([]byte(w.StatusLine), 100), "Dur", Dur(w.FirstByte))}
		if w.Subprotocol != "" {
			lines = append(lines, i18n.M("ev.proto.ws.subprotocol", "Proto", probe.Escape([]byte(w.Subprotocol), 60)))
		}
		lines = append(lines, r.serverLine(&w.HTTP)...)
		return OutcomeOK, []Finding{r.ok(i18n.M("proto.ok.websocket", "Addr", r.a.Addr.String(), "Path", w.Path), lines...)}
	case w.Status == http.StatusSwitchingProtocols:
		f := r.finding(CauseUnknown, Medium).with(status)
		f.Summary = i18n.M("proto.ws_bad_101.summary")
		got := w.Header.Get("Sec-WebSocket-Accept")
		if !w.AcceptOK() {
			f = f.with(i18n.M("ev.proto.ws.bad_accept", "Got", probe.Escape([]byte(got), 60), "Want", w.AcceptWant))
		}
		f = f.with(r.headerLines(&w.HTTP)...)
		return OutcomeProtocolMismatch, []Finding{f.fix(i18n.M("fix.proto.ws_bad_101"))}
	case w.Status != 0:
		if out, fs, ok := r.tlsComplaint(&w.HTTP, status); ok {
			return out, fs
		}
		if w.Status == http.StatusNotFound {
			f := r.finding(CauseWSPathNotFound, High).with(status).with(r.headerLines(&w.HTTP)...)
			return OutcomeProtocolMismatch, []Finding{f.fix(i18n.M("fix.proto.ws_404", "Path", probe.Escape([]byte(w.Path), 100)))}
		}
		f := r.finding(CauseWSUpgradeRejected, High, "Status", w.Status).with(status).with(r.headerLines(&w.HTTP)...)
		if w.Header.Get("Upgrade") == "" {
			f = f.with(i18n.M("ev.proto.ws.no_upgrade"))
		}
		return OutcomeProtocolMismatch, []Finding{f.fix(r.upgradeFix(&w.HTTP)...)}
	}
	return r.notHTTP(w.Exchange, what, w.Err)
}

func (r protoRules) http() (Outcome, []Finding) {
	h := r.p.HTTP
	if h.Status == 0 {
		return r.notHTTP(h.Exchange, i18n.M("what.http"), h.Err)
	}
	status := i18n.M("ev.proto.http.status", "Status", probe.Escape([]byte(h.StatusLine), 100), "Dur", Dur(h.FirstByte))
	if out, fs, ok := r.tlsComplaint(h, status); ok {
		return out, fs
	}
	lines := append([]i18n.Msg{status}, r.serverLine(h)...)
	f := r.ok(i18n.M("proto.ok.http", "Addr", r.a.Addr.String(), "Status", probe.Escape([]byte(h.StatusLine), 100)), append(lines, r.timingLine(h))...)
	return OutcomeOK, []Finding{f}
}

// tlsComplaint: a TLS server that got plain HTTP says so in a 400 answer,
// or a ClientHello on a fresh connection proved the port speaks TLS.
func (r protoRules) tlsComplaint(h *probe.HTTP, status i18n.Msg) (Outcome, []Finding, bool) {
	if r.p.TLS != nil || h.Status != http.StatusBadRequest {
		return "", nil, false
	}
	f := r.finding(CauseTLSExpected, High).with(status)
	said := tlsComplaintText(h.Body)
	if said {
		f = f.with(i18n.M("ev.proto.http.tls_complaint", "Bytes", show(h.Body, len(h.Body))))
	}
	tr, tried := r.tryAnswered(probe.TryTLS)
	if tried && tr.Service.Name == probe.SvcTLS {
		f = f.with(r.tryLine(tr))
	} else if !said {
		return "", nil, false
	}
	return OutcomeProtocolMismatch, []Finding{f.fix(r.tlsExpectedFix()...)}, true
}

var tlsComplaints = [][]byte{
	[]byte("HTTP request to an HTTPS server"),              // Go
	[]byte("plain HTTP request was sent to HTTPS port"),    // nginx
	[]byte("speaking plain HTTP to an SSL-enabled server"), // Apache
}

func tlsComplaintText(body []byte) bool {
	for _, c := range tlsComplaints {
		if bytes.Contains(body, c) {
			return true
		}
	}
	return false
}

// serverLine names the server software, which often settles what answered.
func (r protoRules) serverLine(h *probe.HTTP) []i18n.Msg {
	if s := h.Server(); s != "" {
		return []i18n.Msg{i18n.M("ev.proto.http.server", "Server", probe.Escape([]byte(s), 80))}
	}
	return nil
}

// headerLines are the parts of a refusal a person needs to see.
func (r protoRules) headerLines(h *probe.HTTP) []i18n.Msg {
	out := r.serverLine(h)
	if loc := h.Header.Get("Location"); loc != "" {
		out = append(out, i18n.M("ev.proto.http.location", "Location", probe.Escape([]byte(loc), 120)))
	}
	if ct := h.Header.Get("Content-Type"); ct != "" {
		out = append(out, i18n.M("ev.proto.http.content_type", "Type", probe.Escape([]byte(ct), 80)))
	}
	if len(h.Body) > 0 {
		out = append(out, i18n.M("ev.proto.http.body", "Bytes", show(h.Body, len(h.Body))))
	}
	return append(out, r.whoamiLines()...)
}

func (r protoRules) timingLine(h *probe.HTTP) i18n.Msg {
	dns, tlsDur := "", ""
	if !r.ev.DNS.Literal && r.ev.DNS.Duration > 0 {
		dns = Dur(r.ev.DNS.Duration)
	}
	if r.p.TLS != nil {
		tlsDur = Dur(r.p.TLS.Duration)
	}
	return i18n.M("ev.proto.http.timing", "DNS", dns, "Connect", Dur(r.a.Connect.Duration), "TLS", tlsDur, "FirstByte", Dur(h.FirstByte))
}

func (r protoRules) upgradeFix(h *probe.HTTP) []i18n.Msg {
	var out []i18n.Msg
	switch s := h.Status; {
	case s >= 300 && s < 400:
		out = append(out, i18n.M("fix.proto.ws_redirect", "Location", probe.Escape([]byte(h.Header.Get("Location")), 120)))
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		out = append(out, i18n.M("fix.proto.ws_forbidden"))
	case s >= 500:
		out = append(out, i18n.M("fix.proto.ws_backend"))
	}
	return append(out,
		i18n.M("fix.proto.ws_http"),
		i18n.Snippet("new Worker('websocket://0.0.0.0:%d');", r.port),
		i18n.M("fix.proto.nginx_ws"))
}

func (r protoRules) tlsExpectedFix() []i18n.Msg {
	secure := map[string]string{"ws": "wss", "websocket": "wss", "http": "https"}[r.ev.Target.Scheme]
	var out []i18n.Msg
	if secure != "" {
		out = append(out, i18n.M("fix.proto.tls_expected.scheme", "Scheme", secure))
	} else {
		out = append(out, i18n.M("fix.proto.tls_expected.client"))
	}
	return append(out, i18n.M("fix.proto.tls_expected.workerman"))
}

// notHTTP judges a handshake or request that got no HTTP answer.
func (r protoRules) notHTTP(e probe.Exchange, what i18n.Msg, err error) (Outcome, []Finding) {
	switch e.Reply {
	case probe.Answered:
		svc := probe.Classify(e.Received, e.Sent)
		line := i18n.M("ev.proto.not_http", "Bytes", show(e.Received, e.ReceivedN))
		switch {
		case svc.Name == probe.SvcTLS:
			f := r.finding(CauseTLSExpected, High).with(line, i18n.M("ev.proto.tls_record", "Record", svc.Detail))
			return OutcomeProtocolMismatch, []Finding{f.fix(r.tlsExpectedFix()...)}
		case e.Cut != probe.CutNone:
			return r.cutAnswer(e, what)
		case probe.SpeaksOther(svc.Name):
			return OutcomeProtocolMismatch, []Finding{r.otherService(svc, line)}
		}
		f := r.finding(CauseNotHTTP, High).with(line).with(r.kindLine(svc, e)...)
		if tr, ok := r.tryAnswered(probe.TryTLS); ok && tr.Service.Name == probe.SvcTLS {
			f := r.finding(CauseTLSExpected, High).with(line, r.tryLine(tr))
			return OutcomeProtocolMismatch, []Finding{f.fix(r.tlsExpectedFix()...)}
		}
		return OutcomeProtocolMismatch, []Finding{f.fix(r.notHTTPFix(svc.Name)...)}
	case probe.Silent, probe.Closed, probe.Reset:
		line := r.noAnswerLine(e.Reply, what, r.p.Timeout)
		for _, tr := range r.p.Tries {
			if tr.Reply != probe.Answered {
				continue
			}
			switch {
			case tr.Kind == probe.TryTLS && tr.Service.Name == probe.SvcTLS:
				f := r.finding(CauseTLSExpected, High).with(line, r.tryLine(tr))
				return OutcomeProtocolMismatch, []Finding{f.fix(r.tlsExpectedFix()...)}
			case probe.SpeaksOther(tr.Service.Name):
				return OutcomeProtocolMismatch, []Finding{r.otherService(tr.Service, line, r.tryLine(tr))}
			case tr.Kind == probe.TryFrame && (tr.Service.Name == probe.SvcFrame || tr.Whoami != nil):
				f := r.finding(CauseNotHTTP, High).with(line, r.tryLine(tr), i18n.M("ev.proto.is_frame"))
				return OutcomeProtocolMismatch, []Finding{f.fix(r.notHTTPFix(probe.SvcFrame)...)}
			}
		}
		if e.Reply == probe.Reset {
			f := r.finding(CauseResetByPeer, High, "Addr", r.a.Addr.String()).with(line).with(r.tryLines()...)
			return OutcomeReset, []Finding{f.fix(i18n.M("cause.reset_by_peer.fix"))}
		}
		meaning := i18n.M("ev.proto.silent_meaning")
		if e.Reply == probe.Closed {
			meaning = i18n.M("ev.proto.closed_meaning")
		}
		f := r.finding(CauseNotHTTP, Medium).with(line, meaning).with(r.tryLines()...)
		return OutcomeProtocolMismatch, []Finding{f.fix(r.notHTTPFix("")...)}
	}
	errText := ""
	if err != nil {
		errText = err.Error()
	}
	f := r.finding(CauseUnknown, Low).with(i18n.M("ev.proto.error", "What", what, "Err", errText))
	return OutcomeProtocolMismatch, []Finding{f.fix(i18n.M("cause.unknown.fix"))}
}

// cutAnswer judges an answer that began but was not read to its end: cut
// at the probe's byte cap (probe.CutCap), or unfinished when the deadline
// passed (probe.CutDeadline: a server that stalls or trickles). A start
// proves no protocol, so the cause stays unknown: medium when the start is
// a whole, valid HTTP status line (an HTTP server answered and did not
// finish), low otherwise. Only a TLS answer on a fresh connection proves more.
func (r protoRules) cutAnswer(e probe.Exchange, what i18n.Msg) (Outcome, []Finding) {
	got := show(e.Received, e.ReceivedN)
	line := i18n.M("probebounds.ev.incomplete", "What", what, "Dur", Dur(e.Duration), "N", e.ReceivedN, "Bytes", got)
	if e.Cut == probe.CutCap {
		line = i18n.M("probebounds.ev.too_long", "N", e.ReceivedN, "Bytes", got)
	}
	if tr, ok := r.tryAnswered(probe.TryTLS); ok && tr.Service.Name == probe.SvcTLS {
		f := r.finding(CauseTLSExpected, High).with(line, r.tryLine(tr))
		return OutcomeProtocolMismatch, []Finding{f.fix(r.tlsExpectedFix()...)}
	}
	status, isHTTP := httpStart(e.Received)
	conf := Low
	if isHTTP {
		conf = Medium
	}
	f := r.finding(CauseUnknown, conf).with(line).with(r.tryLines()...)
	switch {
	case e.Cut == probe.CutCap && isHTTP:
		f.Summary = i18n.M("probebounds.too_long_http.summary", "Status", status, "N", e.ReceivedN)
	case e.Cut == probe.CutCap:
		f.Summary = i18n.M("probebounds.too_long.summary", "What", what, "N", e.ReceivedN)
	case isHTTP:
		f.Summary = i18n.M("probebounds.incomplete_http.summary", "Status", status, "Dur", Dur(e.Duration))
	default:
		f.Summary = i18n.M("probebounds.incomplete.summary", "What", what, "Dur", Dur(e.Duration))
	}
	if e.Cut == probe.CutCap {
		return OutcomeProtocolMismatch, []Finding{f.fix(i18n.M("probebounds.fix.too_long"), i18n.M("cause.unknown.fix"))}
	}
	return OutcomeTimeout, []Finding{f.fix(i18n.M("probebounds.fix.incomplete"), i18n.M("cause.unknown.fix"))}
}

// httpStart returns the first line of b, escaped, when it is whole and a
// valid HTTP status line.
func httpStart(b []byte) (string, bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return "", false
	}
	line := bytes.TrimSuffix(b[:i], []byte("\r"))
	if _, ok := probe.ParseStatusLine(string(line)); !ok {
		return "", false
	}
	return probe.Escape(line, 100), true
}

// kindLine explains an answer that is not HTTP in Workerman's terms.
func (r protoRules) kindLine(svc probe.Service, e probe.Exchange) []i18n.Msg {
	switch svc.Name {
	case probe.SvcEcho:
		return []i18n.Msg{i18n.M("ev.proto.is_echo")}
	case probe.SvcFrame:
		return []i18n.Msg{i18n.M("ev.proto.is_frame")}
	case probe.SvcText:
		return []i18n.Msg{i18n.M("ev.proto.is_text")}
	case probe.SvcHTTP:
		return []i18n.Msg{i18n.M("ev.proto.bad_http")}
	}
	return nil
}

func (r protoRules) notHTTPFix(svc string) []i18n.Msg {
	want := "websocket"
	if r.p.Protocol == target.HTTP {
		want = "http"
	}
	var first i18n.Msg
	switch svc {
	case probe.SvcEcho, probe.SvcText:
		first = i18n.M("fix.proto.not_http.text", "Want", want)
	case probe.SvcFrame:
		first = i18n.M("fix.proto.not_http.frame", "Want", want)
	default:
		first = i18n.M("fix.proto.not_http.other", "Want", want)
	}
	return []i18n.Msg{first, i18n.Snippet("new Worker('%s://0.0.0.0:%d');", want, r.port), i18n.M("fix.proto.which_port"), i18n.Cmd("ss -ltnp 'sport = :%d'", r.port)}
}

// ---- text, frame ----

func (r protoRules) message() (Outcome, []Finding) {
	m := r.p.Message
	proto := r.p.Protocol
	what := i18n.M("what.text")
	if proto == target.Frame {
		what = i18n.M("what.frame")
	}
	if m.Whoami != nil {
		return OutcomeOK, []Finding{r.ok(i18n.M("proto.ok.message", "Addr", r.a.Addr.String(), "Proto", string(proto)))}
	}
	answered := i18n.M("ev.proto.message.answer", "What", what, "Bytes", show(m.Received, m.ReceivedN))
	switch m.Reply {
	case probe.Answered:
		svc := m.Service
		switch {
		case svc.Name == probe.SvcTLS:
			f := r.finding(CauseTLSExpected, High).with(answered, i18n.M("ev.proto.tls_record", "Record", svc.Detail))
			return OutcomeProtocolMismatch, []Finding{f.fix(r.tlsExpectedFix()...)}
		case svc.Name == probe.SvcHTTP || probe.SpeaksOther(svc.Name):
			return OutcomeProtocolMismatch, []Finding{r.otherService(svc, answered)}
		}
		if proto == target.Frame {
			if _, _, st := probe.ParseFrame(m.Received); st != probe.FrameComplete {
				if svc.Name == probe.SvcEcho || svc.Name == probe.SvcText {
					return OutcomeProtocolMismatch, []Finding{r.workermanMismatch(probe.SvcText, answered)}
				}
				f := r.finding(CauseUnknown, Low).with(answered, i18n.M("ev.proto.not_frame"))
				return OutcomeProtocolMismatch, []Finding{f.fix(i18n.M("cause.unknown.fix"))}
			}
		}
		return OutcomeOK, []Finding{r.ok(i18n.M("proto.ok.message", "Addr", r.a.Addr.String(), "Proto", string(proto)), answered)}
	case probe.Silent:
		return OutcomeOK, []Finding{r.ok(i18n.M("proto.ok.message", "Addr", r.a.Addr.String(), "Proto", string(proto)),
			i18n.M("ev.proto.message.silent", "What", what, "Dur", Dur(r.p.Wait)))}
	case probe.Closed, probe.Reset:
		line := r.noAnswerLine(m.Reply, what, r.p.Wait)
		for _, tr := range r.p.Tries {
			if tr.Reply != probe.Answered {
				continue
			}
			switch {
			case tr.Kind == probe.TryTLS && tr.Service.Name == probe.SvcTLS:
				f := r.finding(CauseTLSExpected, High).with(line, r.tryLine(tr))
				return OutcomeProtocolMismatch, []Finding{f.fix(r.tlsExpectedFix()...)}
			case tr.Service.Name == probe.SvcHTTP || probe.SpeaksOther(tr.Service.Name):
				return OutcomeProtocolMismatch, []Finding{r.otherService(tr.Service, line, r.tryLine(tr))}
			case tr.Kind == probe.TryFrame && proto == target.Text && (tr.Service.Name == probe.SvcFrame || tr.Whoami != nil):
				return OutcomeProtocolMismatch, []Finding{r.workermanMismatch(probe.SvcFrame, line, r.tryLine(tr))}
			case tr.Kind == probe.TryText && proto == target.Frame:
				return OutcomeProtocolMismatch, []Finding{r.workermanMismatch(probe.SvcText, line, r.tryLine(tr))}
			}
		}
		if m.Reply == probe.Reset {
			f := r.finding(CauseResetByPeer, High, "Addr", r.a.Addr.String()).with(line).with(r.tryLines()...)
			return OutcomeReset, []Finding{f.fix(i18n.M("cause.reset_by_peer.fix"))}
		}
		f := r.finding(CauseUnknown, Low).with(line).with(r.tryLines()...)
		return OutcomeProtocolMismatch, []Finding{f.fix(i18n.M("cause.unknown.fix"))}
	}
	errText := ""
	if m.Err != nil {
		errText = m.Err.Error()
	}
	f := r.finding(CauseUnknown, Low).with(i18n.M("ev.proto.error", "What", what, "Err", errText))
	return OutcomeProtocolMismatch, []Finding{f.fix(i18n.M("cause.unknown.fix"))}
}

// workermanMismatch: the server speaks the other Workerman protocol.
func (r protoRules) workermanMismatch(have string, ev ...i18n.Msg) Finding {
	f := r.finding(CauseOtherService, High).with(ev...)
	switch {
	case have == probe.SvcFrame:
		f = f.with(i18n.M("ev.proto.is_frame"))
	case r.p.Message != nil && bytes.Equal(r.p.Message.Received, []byte("\x00\x00\x00\n")):
		f = f.with(i18n.M("ev.proto.frame_as_line"))
	default:
		f = f.with(i18n.M("ev.proto.is_text"))
	}
	f.Summary = i18n.M("proto.workerman_mismatch.summary", "Have", have, "Want", string(r.p.Protocol))
	return f.fix(i18n.M("fix.proto.workerman_mismatch", "Have", have, "Want", string(r.p.Protocol)),
		i18n.Snippet("new Worker('%s://0.0.0.0:%d');", r.p.Protocol, r.port))
}

// otherService: the port is held by a service that is not the one expected.
func (r protoRules) otherService(svc probe.Service, ev ...i18n.Msg) Finding {
	name := serviceName(svc.Name)
	f := r.finding(CauseOtherService, High).with(ev...)
	if svc.Detail != "" {
		f = f.with(i18n.M("ev.proto.service", "Service", name, "Line", probe.Escape([]byte(svc.Detail), 120)))
	}
	f.Summary = i18n.M("proto.other_service.summary", "Port", r.port, "Service", name)
	fix := []i18n.Msg{i18n.M("fix.proto.other_service", "Port", r.port, "Service", name), i18n.Cmd("ss -ltnp 'sport = :%d'", r.port)}
	if svc.Name == probe.SvcHTTP {
		fix = append(fix, i18n.M("fix.proto.speaks_http", "Want", string(r.p.Protocol)), i18n.Snippet("new Worker('%s://0.0.0.0:%d');", r.p.Protocol, r.port))
	}
	return f.fix(fix...)
}

// serviceName is how a service is called in sentences ("an SSH server").
func serviceName(name string) i18n.Msg {
	if name == "" {
		name = probe.SvcBinary
	}
	return i18n.M("service." + name)
}

func (r protoRules) noAnswerLine(reply probe.Reply, what i18n.Msg, wait time.Duration) i18n.Msg {
	switch reply {
	case probe.Closed:
		return i18n.M("ev.proto.closed", "What", what)
	case probe.Reset:
		return i18n.M("ev.proto.reset", "What", what)
	}
	return i18n.M("ev.proto.silent", "What", what, "Dur", Dur(wait))
}

// tryAnswered finds the fingerprint of kind that got an answer.
func (r protoRules) tryAnswered(kind probe.TryKind) (probe.Try, bool) {
	for _, t := range r.p.Tries {
		if t.Kind == kind && t.Reply == probe.Answered {
			return t, true
		}
	}
	return probe.Try{}, false
}

func tryWhat(k probe.TryKind) i18n.Msg {
	switch k {
	case probe.TryTLS:
		return i18n.M("what.tls")
	case probe.TryHTTP:
		return i18n.M("what.plain_http")
	case probe.TryFrame:
		return i18n.M("what.frame")
	}
	return i18n.M("what.text")
}

func (r protoRules) tryLine(t probe.Try) i18n.Msg {
	if t.Reply != probe.Answered {
		return i18n.M("ev.proto.try.none", "What", tryWhat(t.Kind), "Reply", i18n.M("reply."+string(t.Reply)))
	}
	if t.TLS != nil && len(t.TLS.Chain) > 0 {
		c := t.TLS.Chain[0]
		return i18n.M("ev.proto.try.tls", "What", tryWhat(t.Kind), "Version", t.TLS.Version, "Names", names(c))
	}
	return i18n.M("ev.proto.try", "What", tryWhat(t.Kind), "Bytes", show(t.Received, t.ReceivedN), "Service", serviceName(t.Service.Name))
}

func (r protoRules) tryLines() []i18n.Msg {
	var out []i18n.Msg
	for _, t := range r.p.Tries {
		if t.DialErr == nil {
			out = append(out, r.tryLine(t))
		}
	}
	return out
}
