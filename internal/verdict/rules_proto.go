package verdict

import (
	"bytes"

	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
)

// The protocol stage judges an address whose TCP connect succeeded, from
// what the protocol step and the fingerprints on fresh connections learned.
// Its tables are first-match, like the TCP table's:
//
//   - TLS that did not complete decides alone (tlsRules);
//   - a completed TLS handshake with certificate problems (certRules) comes
//     first, before what happened on top of TLS: a client trips over the
//     certificate first;
//   - then the WebSocket handshake (wsRules), the HTTP request (httpRules), or
//     the Workerman text/frame message (messageRules); an answer that is no
//     HTTP at all goes to notHTTPRules.

// proto is the evidence the protocol rows read.
type proto struct {
	ev   Evidence
	a    AddrEvidence
	p    *ProtoEvidence
	port uint16
	// The exchange the not-HTTP table judges, what it was, and its error.
	e    evidence.Exchange
	what i18n.Msg
	err  error
}

func (r proto) tls() *evidence.TLS      { return r.p.TLS }
func (r proto) ws() *evidence.WebSocket { return r.p.WS }
func (r proto) msg() *evidence.Message  { return r.p.Message }

// http is the HTTP answer of the WebSocket handshake or the HTTP request.
func (r proto) http() *evidence.HTTP {
	if r.p.WS != nil {
		return &r.p.WS.HTTP
	}
	return r.p.HTTP
}

func replyIs(got evidence.Reply, want ...evidence.Reply) bool {
	for _, w := range want {
		if got == w {
			return true
		}
	}
	return false
}

var silentReplies = []evidence.Reply{evidence.ReplySilent, evidence.ReplyClosed, evidence.ReplyReset}

// lines starts a finding's evidence with the TCP connect.
func (r proto) lines(more ...i18n.Msg) []i18n.Msg {
	return append([]i18n.Msg{r.connectLine()}, more...)
}

// okDraft: a working target, with the TCP connect, the TLS handshake, the
// lines given, and what a conndiag endpoint said.
func (r proto) okDraft(summary i18n.Msg, lines ...i18n.Msg) Draft {
	out := r.lines(append(r.tlsLines(), r.certOptionalLine()...)...)
	out = append(append(out, lines...), r.whoamiLines()...)
	return Draft{Summary: summary, Lines: out}
}

func (r proto) tlsAlertFix() []i18n.Msg {
	return []i18n.Msg{i18n.M("fix.proto.tls_alert"), r.sClient()}
}

func (r proto) resetDraft(lines ...i18n.Msg) Draft {
	return Draft{Args: []any{"Addr", r.a.Addr.String()}, Lines: r.lines(append(lines, r.tryLines()...)...)}
}

// ---- an answer cut at the byte cap or unfinished at the deadline ----

// cut: the answer began but was not read to its end, so what arrived proves
// no protocol. In the TLS step, five plain bytes or more still prove the
// port is plain; a TLS record header that stops is only a start.
func (r proto) cut() bool {
	if r.e.Reply != evidence.ReplyAnswered || r.e.Cut == evidence.CutNone {
		return false
	}
	if t := r.p.TLS; t != nil && !t.Done {
		return r.e.Service.Name == evidence.SvcTLS || len(r.e.Received) < 5
	}
	return true
}

func (r proto) cutTLS() bool {
	tr, ok := r.tryAnswered(evidence.TryTLS)
	return r.cut() && ok && tryIsTLS(tr)
}

func (r proto) cutLine() i18n.Msg {
	e := r.e
	got := show(e.Received, e.ReceivedN)
	if e.Cut == evidence.CutCap {
		return i18n.M("probebounds.ev.too_long", "N", e.ReceivedN, "Bytes", got)
	}
	return i18n.M("probebounds.ev.incomplete", "What", r.what, "Dur", Dur(e.Duration), "N", e.ReceivedN, "Bytes", got)
}

func (r proto) cutOutcome() Outcome {
	if r.e.Cut == evidence.CutCap {
		return OutcomeProtocolMismatch
	}
	return OutcomeTimeout
}

// cutRules judge a cut answer (see proto.cut) in the TLS step and where the
// answer is no HTTP: a TLS server found on a fresh connection, else what
// arrived, with medium confidence when it is a whole HTTP status line.
func cutRules(stage string) []Rule[proto] {
	return []Rule[proto]{
		{ID: stage + ".cut.try_tls", Cause: CauseTLSExpected, Conf: High, Outcome: OutcomeProtocolMismatch,
			When: proto.cutTLS,
			Make: func(r proto) Draft {
				tr, _ := r.tryAnswered(evidence.TryTLS)
				return Draft{Lines: r.lines(r.cutLine(), r.tryLine(tr)), Fix: r.tlsExpectedFix()}
			}, Note: "an answer that stopped, while a fresh ClientHello got TLS"},
		{ID: stage + ".cut", Cause: CauseUnknown, Conf: Medium, OutcomeOf: proto.cutOutcome,
			ConfOf: func(r proto) Confidence { return map[bool]Confidence{true: Medium, false: Low}[r.e.Start != ""] },
			When:   proto.cut,
			Make: func(r proto) Draft {
				e := r.e
				start := escape.Bytes([]byte(e.Start), 100)
				d := Draft{Lines: r.lines(append([]i18n.Msg{r.cutLine()}, r.tryLines()...)...)}
				switch {
				case e.Cut == evidence.CutCap && e.Start != "":
					d.Summary = i18n.M("probebounds.too_long_http.summary", "Status", start, "N", e.ReceivedN)
				case e.Cut == evidence.CutCap:
					d.Summary = i18n.M("probebounds.too_long.summary", "What", r.what, "N", e.ReceivedN)
				case e.Start != "":
					d.Summary = i18n.M("probebounds.incomplete_http.summary", "Status", start, "Dur", Dur(e.Duration))
				default:
					d.Summary = i18n.M("probebounds.incomplete.summary", "What", r.what, "Dur", Dur(e.Duration))
				}
				fix := i18n.M("probebounds.fix.incomplete")
				if e.Cut == evidence.CutCap {
					fix = i18n.M("probebounds.fix.too_long")
				}
				d.Fix = []i18n.Msg{fix, i18n.M("cause.unknown.fix")}
				return d
			}, Note: "cut at the byte cap or unfinished at the deadline: medium when a whole HTTP status line came, low otherwise; never proof of another protocol"},
	}
}

// ---- TLS ----

func (r proto) tlsPlainLine() i18n.Msg {
	t := r.tls()
	return i18n.M("ev.proto.tls.plain", "Bytes", show(t.Received, t.ReceivedN))
}

func (r proto) tlsNoAnswerLine() i18n.Msg {
	return r.noAnswerLine(r.tls().Reply, i18n.M("what.tls"), waited(r.tls().Exchange, r.p.Timeout))
}

func (r proto) tlsReplied(want ...evidence.Reply) bool { return replyIs(r.tls().Reply, want...) }

var tlsRules = append(append(append([]Rule[proto]{tlsClientCertAlertRule}, tlsObsoleteRules...), stallRules...),
	append(append(append([]Rule[proto]{tlsAlertRule}, cutRules("tls")...), closedUnreadRules("tls")...), tlsAnswerRules...)...)

// tlsClientCertAlertRule: the server asked for a client certificate and
// refused the handshake without one.
var tlsClientCertAlertRule = Rule[proto]{ID: "tls.client_certificate", Cause: CauseTLSClientCertificate, Conf: High, Outcome: OutcomeTLSFailure,
	When: proto.clientCertRefused,
	Make: func(r proto) Draft {
		return r.clientCertDraft(i18n.M("tlsverdict.ev.cert_refused", "Alert", r.tls().Alert))
	}, Note: "a CertificateRequest, then an alert (TLS 1.2: handshake failure), or the alert certificate_required (116)"}

// tlsObsoleteRules: the verdict handshake was refused and the second one,
// allowing TLS 1.0–1.1 and old suites, completed: what it agreed on is what
// the server offers and current clients do not.
var tlsObsoleteRules = []Rule[proto]{
	{ID: "tls.obsolete.version", Cause: CauseTLSObsolete, Conf: High, Outcome: OutcomeTLSFailure,
		When: func(r proto) bool { return r.obsoleteIs("version") }, Make: proto.obsoleteDraft,
		Note: "refused TLS 1.2/1.3; a TLS 1.0–1.2 ClientHello got TLS 1.0 or 1.1"},
	{ID: "tls.obsolete.cipher", Cause: CauseTLSObsolete, Conf: High, Outcome: OutcomeTLSFailure,
		When: func(r proto) bool { return r.obsoleteIs("cipher") }, Make: proto.obsoleteDraft,
		Note: "only 3DES, RC4, NULL or export suites, which no current client offers"},
	{ID: "tls.obsolete.rsa_kex", Cause: CauseTLSObsolete, Conf: Medium, Outcome: OutcomeTLSFailure,
		When: func(r proto) bool { return r.obsoleteIs("rsa_kex") }, Make: proto.obsoleteDraft,
		Note: "only RSA key exchange: Go refuses it, OpenSSL clients (curl, Node) still accept it"},
	{ID: "tls.obsolete.hello", Cause: CauseTLSObsolete, Conf: Medium, Outcome: OutcomeTLSFailure,
		When: func(r proto) bool { return r.obsoleteIs("hello") }, Make: proto.obsoleteDraft,
		Note: "current suites on TLS 1.2 complete, the current ClientHello (TLS 1.3, large key shares) is refused"},
}

// mtuBlackholeRule: the step stalled, and on a fresh connection whose SYN
// announced a small MSS it completed.
var mtuBlackholeRule = Rule[proto]{ID: "proto.mtu_blackhole", Cause: CauseMTUBlackhole, Conf: High, Outcome: OutcomeTimeout,
	ConfOf: proto.mtuConf, When: proto.mssPassed, Make: proto.mtuDraft,
	Note: "the TLS or HTTP answer stalled; with TCP_MAXSEG 536 it came whole while a control with the usual MSS stalled again (medium without a control)"}

// stallIntermittentRule: the step stalled, and both fresh connections (the
// small MSS and the usual one) got through: not the MTU.
var stallIntermittentRule = Rule[proto]{ID: "proto.stall_intermittent", Cause: CauseUnknown, Conf: Medium, Outcome: OutcomeTimeout,
	When: proto.stallIntermittent, Make: proto.intermittentDraft,
	Note: "the answer stalled once; both retries, with a small and with the usual MSS, got it"}

// stallRules judge an answer that stalled by its retries; in the TLS table,
// and before the WebSocket and HTTP tables when their answer stalled.
var stallRules = []Rule[proto]{mtuBlackholeRule, stallIntermittentRule}

// clientCertRules decide, after a completed handshake, before the WebSocket
// and HTTP tables: the server refuses to go on without a client certificate.
var clientCertRules = []Rule[proto]{
	{ID: "tls.client_certificate.late", Cause: CauseTLSClientCertificate, Conf: High, Outcome: OutcomeTLSFailure,
		When: proto.lateRefused,
		Make: func(r proto) Draft {
			return r.clientCertDraft(i18n.M("tlsverdict.ev.cert_refused_late", "Alert", r.tls().LateAlert))
		}, Note: "TLS 1.3: the alert comes after the handshake, at the first read"},
	{ID: "tls.client_certificate.nginx", Cause: CauseTLSClientCertificate, Conf: High, Outcome: OutcomeTLSFailure,
		When: proto.nginxRefused,
		Make: func(r proto) Draft {
			return r.clientCertDraft(r.statusLine(), i18n.M("tlsverdict.ev.nginx_no_cert", "Line", string(nginxNoCert)))
		}, Note: "nginx ssl_verify_client on completes the handshake and answers 400 \"No required SSL certificate was sent\""},
	{ID: "tls.client_certificate.closed", Cause: CauseTLSClientCertificate, Conf: Medium, Outcome: OutcomeTLSFailure,
		When: proto.certClosed,
		Make: func(r proto) Draft {
			h := r.http()
			return r.clientCertDraft(r.noAnswerLine(h.Reply, r.stepWhat(), r.p.Timeout))
		}, Note: "asked for a certificate, then closed or reset at the request"},
}

var tlsAlertRule = Rule[proto]{ID: "tls.alert", Cause: CauseUnknown, Conf: Medium, Outcome: OutcomeTLSFailure,
	When: func(r proto) bool { return r.tls().Alert != "" },
	Make: func(r proto) Draft {
		t := r.tls()
		lines := r.lines(i18n.M("ev.proto.tls.alert", "Alert", t.Alert))
		if t.ServerName == "" {
			lines = append(lines, i18n.M("ev.proto.tls.no_sni"))
		}
		lines = append(lines, r.legacyLines()...)
		return Draft{Summary: i18n.M("proto.tls_alert.summary", "Alert", t.Alert), Lines: lines, Fix: r.tlsAlertFix()}
	}, Note: "the server answered the ClientHello with a TLS alert"}

var tlsAnswerRules = []Rule[proto]{
	{ID: "tls.plain.other_service", Cause: CauseOtherService, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool {
			return r.tlsReplied(evidence.ReplyAnswered) && evidence.SpeaksOther(r.tls().Service.Name)
		},
		Make: func(r proto) Draft { return r.otherServiceDraft(r.tls().Service, r.tlsPlainLine()) }},
	{ID: "tls.plain", Cause: CauseTLSUnexpected, Conf: High, Outcome: OutcomeTLSFailure,
		When: func(r proto) bool {
			return r.tlsReplied(evidence.ReplyAnswered) && r.tls().Service.Name != evidence.SvcTLS
		},
		Make: func(r proto) Draft {
			svc := r.tls().Service
			lines := r.lines(r.tlsPlainLine())
			if svc.Name == evidence.SvcHTTP {
				lines = append(lines, i18n.M("ev.proto.plain_http", "Line", escape.Bytes([]byte(svc.Detail), 120)))
			}
			return Draft{Lines: lines, Fix: r.tlsUnexpectedFix()}
		}, Note: "the ClientHello was answered in plain text"},
	{ID: "tls.silent.try_http_other_service", Cause: CauseOtherService, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool {
			tr, ok := r.tryAnswered(evidence.TryHTTP)
			return r.tlsReplied(silentReplies...) && ok && evidence.SpeaksOther(tr.Service.Name)
		},
		Make: func(r proto) Draft {
			tr, _ := r.tryAnswered(evidence.TryHTTP)
			return r.otherServiceDraft(tr.Service, r.tlsNoAnswerLine(), r.tryLine(tr))
		}},
	{ID: "tls.silent.try_http", Cause: CauseTLSUnexpected, Conf: High, Outcome: OutcomeTLSFailure,
		When: func(r proto) bool {
			_, ok := r.tryAnswered(evidence.TryHTTP)
			return r.tlsReplied(silentReplies...) && ok
		},
		Make: func(r proto) Draft {
			tr, _ := r.tryAnswered(evidence.TryHTTP)
			return Draft{Lines: r.lines(r.tlsNoAnswerLine(), r.tryLine(tr)), Fix: r.tlsUnexpectedFix()}
		}, Note: "no answer to the ClientHello, while plain HTTP on a fresh connection is answered"},
	{ID: "tls.silent", Cause: CauseTLSUnexpected, Conf: Medium, Outcome: OutcomeTLSFailure,
		When: func(r proto) bool { return r.tlsReplied(evidence.ReplySilent) },
		Make: func(r proto) Draft {
			lines := r.lines(r.tlsNoAnswerLine(), i18n.M("ev.proto.tls.silent_meaning"))
			return Draft{Lines: append(lines, r.tryLines()...), Fix: r.tlsUnexpectedFix()}
		}, Note: "a plain server waits for a line that the ClientHello never ends"},
	{ID: "tls.reset", Cause: CauseResetByPeer, Conf: High, Outcome: OutcomeReset,
		When: func(r proto) bool { return r.tlsReplied(evidence.ReplyReset) },
		Make: func(r proto) Draft { return r.resetDraft(r.tlsNoAnswerLine()) }},
	{ID: "tls.closed", Cause: CauseUnknown, Conf: Low, Outcome: OutcomeTLSFailure,
		When: func(r proto) bool { return r.tlsReplied(evidence.ReplyClosed) },
		Make: func(r proto) Draft {
			return Draft{Lines: r.lines(append([]i18n.Msg{r.tlsNoAnswerLine()}, r.tryLines()...)...), Fix: r.tlsAlertFix()}
		},
		Also: []Rule[proto]{{ID: "tls.closed.maybe_plain", Cause: CauseTLSUnexpected, Conf: Low, When: always[proto],
			Make: func(r proto) Draft { return Draft{Fix: r.tlsUnexpectedFix()} }}}},
	{ID: "tls.error", Cause: CauseUnknown, Conf: Low, Outcome: OutcomeTLSFailure, When: always[proto],
		Make: func(r proto) Draft {
			t := r.tls()
			errText := ""
			if t.Err != nil {
				errText = t.Err.Error()
			}
			lines := r.lines(i18n.M("ev.proto.tls.error", "Err", errText))
			if len(t.Received) > 0 {
				lines = append(lines, i18n.M("ev.proto.received", "Bytes", show(t.Received, t.ReceivedN)))
			}
			lines = append(lines, r.legacyLines()...)
			return Draft{Lines: lines, Fix: r.tlsAlertFix()}
		}},
}

// certRules: the handshake completed, but the certificate is not valid for this connection.
var certRules = []Rule[proto]{
	{ID: "tls.certificate", Cause: CauseTLSCertificate, Conf: High, Outcome: OutcomeTLSFailure,
		When: func(r proto) bool { _, others := r.weakProblems(); return len(others) > 0 }, Make: proto.certDraft,
		Note: "expired, not yet valid, for another name, untrusted or self-signed"},
	{ID: "tls.obsolete.certificate", Cause: CauseTLSObsolete, Conf: High, Outcome: OutcomeTLSFailure, ConfOf: proto.weakCertConf,
		When: proto.onlyWeakCert, Make: proto.weakCertDraft,
		Note: "valid otherwise, but signed with SHA-1 or MD5 (high) or with an RSA key under 2048 bits (medium: browsers and OpenSSL at level 2 refuse it, not every client)"},
}

func (r proto) certDraft() Draft {
	t := r.tls()
	d := Draft{Lines: r.lines(r.tlsLines()...)}
	leaf := t.Chain[0]
	var fixes []i18n.Msg
	for i, pr := range t.Problems {
		c := leaf
		if pr.Cert < len(t.Chain) {
			c = t.Chain[pr.Cert]
		}
		var ev, sum i18n.Msg
		switch pr.Kind {
		case evidence.Expired:
			ev = i18n.M("ev.proto.cert.expired", "Subject", c.Subject, "Until", day(c.NotAfter))
			sum = i18n.M("proto.cert.expired.summary", "Until", day(c.NotAfter))
			fixes = append(fixes, i18n.M("fix.proto.cert.expired"), i18n.Cmd("certbot renew"))
		case evidence.NotYetValid:
			ev = i18n.M("ev.proto.cert.not_yet_valid", "Subject", c.Subject, "From", day(c.NotBefore))
			sum = i18n.M("proto.cert.not_yet_valid.summary", "From", day(c.NotBefore))
			fixes = append(fixes, i18n.M("fix.proto.cert.clock"), i18n.Cmd("timedatectl"))
		case evidence.WrongName:
			ev = i18n.M("ev.proto.cert.wrong_name", "Name", pr.Name, "Names", names(leaf))
			sum = i18n.M("proto.cert.wrong_name.summary", "Name", pr.Name, "Names", names(leaf))
			fixes = append(fixes, i18n.M("fix.proto.cert.wrong_name", "Name", pr.Name, "Names", names(leaf)))
		case evidence.Untrusted:
			if leaf.SelfSigned {
				ev = i18n.M("ev.proto.cert.self_signed", "Subject", leaf.Subject)
				sum = i18n.M("proto.cert.self_signed.summary")
			} else {
				ev = i18n.M("ev.proto.cert.untrusted", "Issuer", c.Issuer)
				sum = i18n.M("proto.cert.untrusted.summary", "Issuer", c.Issuer)
			}
			fixes = append(fixes, i18n.M("fix.proto.cert.untrusted"))
		case evidence.WeakSignature, evidence.WeakKey:
			ev, sum = weakCertLine(pr, c)
			fixes = append(fixes, r.reissueFix()...)
		default:
			ev = i18n.M("ev.proto.cert.other", "Detail", pr.Detail)
			sum = i18n.M("cause.tls_certificate.summary")
		}
		d.Lines = append(d.Lines, ev)
		if i == 0 {
			d.Summary = sum
		}
	}
	if len(t.Chain) > 1 {
		d.Lines = append(d.Lines, i18n.M("ev.proto.tls.chain", "N", len(t.Chain)))
	}
	d.Fix = append(fixes, i18n.M("fix.proto.cert.look"), r.sClient())
	return d
}

// ---- WebSocket and HTTP ----

func (r proto) statusLine() i18n.Msg {
	h := r.http()
	return i18n.M("ev.proto.http.status", "Status", escape.Bytes([]byte(h.StatusLine), 100), "Dur", Dur(h.FirstByte))
}

// tlsComplains: a TLS server that got plain HTTP says so in a 400 answer,
// or a ClientHello on a fresh connection proved the port speaks TLS.
func (r proto) tlsComplains() bool {
	h := r.http()
	if r.p.TLS != nil || h.Status != 400 {
		return false
	}
	tr, tried := r.tryAnswered(evidence.TryTLS)
	return tlsComplaintText(h.Body) || tried && tr.Service.Name == evidence.SvcTLS
}

var tlsComplaintRule = Rule[proto]{ID: "http.tls_complaint", Cause: CauseTLSExpected, Conf: High, Outcome: OutcomeProtocolMismatch,
	When: func(r proto) bool { return r.http().Status != 0 && r.tlsComplains() },
	Make: func(r proto) Draft {
		h := r.http()
		lines := r.lines(r.statusLine())
		if tlsComplaintText(h.Body) {
			lines = append(lines, i18n.M("ev.proto.http.tls_complaint", "Bytes", show(h.Body, len(h.Body))))
		}
		if tr, ok := r.tryAnswered(evidence.TryTLS); ok && tr.Service.Name == evidence.SvcTLS {
			lines = append(lines, r.tryLine(tr))
		}
		return Draft{Lines: lines, Fix: r.tlsExpectedFix()}
	}, Note: "a 400 that says HTTPS (Go, nginx, Apache), or a ClientHello answered on a fresh connection"}

var wsRules = append([]Rule[proto]{
	{ID: "ws.ok", Cause: CauseOK, Conf: High, Outcome: OutcomeOK,
		When: func(r proto) bool { return r.ws().Upgraded },
		Make: func(r proto) Draft {
			w := r.ws()
			lines := []i18n.Msg{i18n.M("ev.proto.ws.ok", "Status", escape.Bytes([]byte(w.StatusLine), 100), "Dur", Dur(w.FirstByte))}
			if w.Subprotocol != "" {
				lines = append(lines, i18n.M("ev.proto.ws.subprotocol", "Proto", escape.Bytes([]byte(w.Subprotocol), 60)))
			}
			lines = append(lines, r.serverLine(&w.HTTP)...)
			return r.okDraft(i18n.M("proto.ok.websocket", "Addr", r.a.Addr.String(), "Path", w.Path), lines...)
		}, Note: "101 with the right Upgrade, Connection and Sec-WebSocket-Accept"},
	{ID: "ws.bad_101", Cause: CauseUnknown, Conf: Medium, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool { return r.ws().Status == 101 },
		Make: func(r proto) Draft {
			w := r.ws()
			lines := r.lines(r.statusLine())
			if !w.AcceptOK() {
				lines = append(lines, i18n.M("ev.proto.ws.bad_accept", "Got", escape.Bytes([]byte(w.Header.Get("Sec-WebSocket-Accept")), 60), "Want", w.AcceptWant))
			}
			return Draft{Summary: i18n.M("proto.ws_bad_101.summary"), Lines: append(lines, r.headerLines(&w.HTTP)...),
				Fix: []i18n.Msg{i18n.M("fix.proto.ws_bad_101")}}
		}, Note: "101 without a valid WebSocket upgrade"},
	tlsComplaintRule,
}, wsRefusalRules...)

var httpRules = []Rule[proto]{
	tlsComplaintRule,
	upstreamRule,
	{ID: "http.ok", Cause: CauseOK, Conf: High, Outcome: OutcomeOK,
		When: func(r proto) bool { return r.http().Status != 0 },
		Make: func(r proto) Draft {
			h := r.http()
			lines := append([]i18n.Msg{r.statusLine()}, r.serverLine(h)...)
			return r.okDraft(i18n.M("proto.ok.http", "Addr", r.a.Addr.String(), "Status", escape.Bytes([]byte(h.StatusLine), 100)),
				append(lines, r.timingLine(h))...)
		}, Note: "any HTTP answer: the request worked"},
}

// ---- an answer that is not HTTP ----

func (r proto) notHTTPLine() i18n.Msg {
	return i18n.M("ev.proto.not_http", "Bytes", show(r.e.Received, r.e.ReceivedN))
}

func (r proto) exchangeNoAnswerLine() i18n.Msg {
	return r.noAnswerLine(r.e.Reply, r.what, waited(r.e, r.p.Timeout))
}

func (r proto) answered() bool { return r.e.Reply == evidence.ReplyAnswered }

// decisiveTry is the first fingerprint that tells what the port speaks
// when the handshake got no answer: TLS, another service, or a Workerman frame.
func (r proto) decisiveTry() (evidence.Try, bool) {
	for _, tr := range r.p.Tries {
		if tr.Reply != evidence.ReplyAnswered {
			continue
		}
		if tr.Kind == evidence.TryTLS && tr.Service.Name == evidence.SvcTLS || evidence.SpeaksOther(tr.Service.Name) ||
			tr.Kind == evidence.TryFrame && (tr.Service.Name == evidence.SvcFrame || tr.Whoami != nil) {
			return tr, true
		}
	}
	return evidence.Try{}, false
}

func (r proto) decidedBy(pred func(evidence.Try) bool) bool {
	tr, ok := r.decisiveTry()
	return ok && replyIs(r.e.Reply, silentReplies...) && pred(tr)
}

func tryIsTLS(tr evidence.Try) bool {
	return tr.Kind == evidence.TryTLS && tr.Service.Name == evidence.SvcTLS
}
func tryIsOther(tr evidence.Try) bool { return evidence.SpeaksOther(tr.Service.Name) }

var notHTTPRules = append(append(append([]Rule[proto]{notHTTPTLSRecord}, cutRules("nothttp")...), closedUnreadRules("nothttp")...), notHTTPAnswerRules...)

var notHTTPTLSRecord = Rule[proto]{ID: "nothttp.tls_record", Cause: CauseTLSExpected, Conf: High, Outcome: OutcomeProtocolMismatch,
	When: func(r proto) bool { return r.answered() && r.e.Service.Name == evidence.SvcTLS },
	Make: func(r proto) Draft {
		return Draft{Lines: r.lines(r.notHTTPLine(), i18n.M("ev.proto.tls_record", "Record", r.e.Service.Detail)), Fix: r.tlsExpectedFix()}
	}, Note: "the answer is a TLS record"}

var notHTTPAnswerRules = []Rule[proto]{
	{ID: "nothttp.other_service", Cause: CauseOtherService, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool { return r.answered() && evidence.SpeaksOther(r.e.Service.Name) },
		Make: func(r proto) Draft { return r.otherServiceDraft(r.e.Service, r.notHTTPLine()) }},
	{ID: "nothttp.try_tls", Cause: CauseTLSExpected, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool {
			tr, ok := r.tryAnswered(evidence.TryTLS)
			return r.answered() && ok && tryIsTLS(tr)
		},
		Make: func(r proto) Draft {
			tr, _ := r.tryAnswered(evidence.TryTLS)
			return Draft{Lines: r.lines(r.notHTTPLine(), r.tryLine(tr)), Fix: r.tlsExpectedFix()}
		}, Note: "a ClientHello on a fresh connection was answered in TLS"},
	{ID: "nothttp.answered", Cause: CauseNotHTTP, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: proto.answered,
		Make: func(r proto) Draft {
			return Draft{Lines: append(r.lines(r.notHTTPLine()), r.kindLine(r.e.Service, r.e)...), Fix: r.notHTTPFix(r.e.Service.Name)}
		}, Note: "bytes came back that are not an HTTP response"},
	{ID: "nothttp.silent.try_tls", Cause: CauseTLSExpected, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool { return r.decidedBy(tryIsTLS) },
		Make: func(r proto) Draft {
			tr, _ := r.decisiveTry()
			return Draft{Lines: r.lines(r.exchangeNoAnswerLine(), r.tryLine(tr)), Fix: r.tlsExpectedFix()}
		}},
	{ID: "nothttp.silent.other_service", Cause: CauseOtherService, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool { return r.decidedBy(tryIsOther) },
		Make: func(r proto) Draft {
			tr, _ := r.decisiveTry()
			return r.otherServiceDraft(tr.Service, r.exchangeNoAnswerLine(), r.tryLine(tr))
		}, Note: "a service that waits for its client (MySQL greets, Redis waits) is found by a fingerprint"},
	{ID: "nothttp.silent.frame", Cause: CauseNotHTTP, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool { return r.decidedBy(func(evidence.Try) bool { return true }) },
		Make: func(r proto) Draft {
			tr, _ := r.decisiveTry()
			return Draft{Lines: r.lines(r.exchangeNoAnswerLine(), r.tryLine(tr), i18n.M("ev.proto.is_frame")), Fix: r.notHTTPFix(evidence.SvcFrame)}
		}, Note: "a Workerman frame on a fresh connection was answered"},
	{ID: "nothttp.reset", Cause: CauseResetByPeer, Conf: High, Outcome: OutcomeReset,
		When: func(r proto) bool { return r.e.Reply == evidence.ReplyReset },
		Make: func(r proto) Draft { return r.resetDraft(r.exchangeNoAnswerLine()) }},
	{ID: "nothttp.no_answer", Cause: CauseNotHTTP, Conf: Medium, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool { return replyIs(r.e.Reply, evidence.ReplySilent, evidence.ReplyClosed) },
		Make: func(r proto) Draft {
			if r.e.Reply == evidence.ReplyClosed {
				lines := r.lines(r.exchangeNoAnswerLine(), i18n.M("ev.proto.closed_meaning"))
				return Draft{Summary: i18n.M("proto.closed.summary", "What", r.what),
					Lines: append(lines, r.tryLines()...), Fix: r.notHTTPFix("")}
			}
			// Silence is also what an application that stopped accepting
			// (the kernel completes the handshake into its listen queue)
			// gives: the summary says both, the fix tells them apart.
			lines := r.lines(r.exchangeNoAnswerLine(), i18n.M("ev.proto.silent_meaning"))
			return Draft{Summary: i18n.M("proto.silent.summary", "What", r.what, "Dur", Dur(waited(r.e, r.p.Timeout))),
				Lines: append(lines, r.tryLines()...), Fix: append(r.notHTTPFix(""), i18n.M("fix.proto.stuck", "Want", r.wantName()))}
		}, Note: "silence or a close where an HTTP server answers at once; silence may be a stuck application"},
	{ID: "nothttp.error", Cause: CauseUnknown, Conf: Low, Outcome: OutcomeProtocolMismatch, When: always[proto],
		Make: func(r proto) Draft {
			errText := ""
			if r.err != nil {
				errText = r.err.Error()
			}
			return Draft{Lines: r.lines(i18n.M("ev.proto.error", "What", r.what, "Err", errText))}
		}},
}

// ---- Workerman text and frame ----

func (r proto) msgWhat() i18n.Msg {
	if r.p.Protocol == evidence.ProtoFrame {
		return i18n.M("what.frame")
	}
	return i18n.M("what.text")
}

func (r proto) msgAnswerLine() i18n.Msg {
	m := r.msg()
	return i18n.M("ev.proto.message.answer", "What", r.msgWhat(), "Bytes", show(m.Received, m.ReceivedN))
}

func (r proto) msgNoAnswerLine() i18n.Msg {
	return r.noAnswerLine(r.msg().Reply, r.msgWhat(), waited(r.msg().Exchange, r.p.Wait))
}

func (r proto) msgOK(lines ...i18n.Msg) Draft {
	return r.okDraft(i18n.M("proto.ok.message", "Addr", r.a.Addr.String(), "Proto", string(r.p.Protocol)), lines...)
}

func (r proto) msgAnswered() bool { return r.msg().Reply == evidence.ReplyAnswered }

// frameBroken: a frame target's answer is not a whole frame.
func (r proto) frameBroken() bool {
	_, _, st := evidence.ParseFrame(r.msg().Received)
	return r.p.Protocol == evidence.ProtoFrame && st != evidence.FrameComplete
}

// msgTry is the first fingerprint that tells what the port speaks when the
// message got no answer but a close.
func (r proto) msgTry() (evidence.Try, string, bool) {
	proto := r.p.Protocol
	for _, tr := range r.p.Tries {
		if tr.Reply != evidence.ReplyAnswered {
			continue
		}
		switch {
		case tryIsTLS(tr):
			return tr, "tls", true
		case tr.Service.Name == evidence.SvcHTTP || tryIsOther(tr):
			return tr, "other", true
		case tr.Kind == evidence.TryFrame && proto == evidence.ProtoText && (tr.Service.Name == evidence.SvcFrame || tr.Whoami != nil):
			return tr, "frame", true
		case tr.Kind == evidence.TryText && proto == evidence.ProtoFrame:
			return tr, "text", true
		}
	}
	return evidence.Try{}, "", false
}

func (r proto) msgClosedBy(what string) bool {
	_, got, ok := r.msgTry()
	return ok && got == what && replyIs(r.msg().Reply, evidence.ReplyClosed, evidence.ReplyReset)
}

func (r proto) msgTryDraft(make func(evidence.Try, i18n.Msg) Draft) Draft {
	tr, _, _ := r.msgTry()
	return make(tr, r.msgNoAnswerLine())
}

var messageRules = insertBefore("msg.closed.try_tls", closedUnreadRules("msg"), []Rule[proto]{
	{ID: "msg.whoami", Cause: CauseOK, Conf: High, Outcome: OutcomeOK,
		When: func(r proto) bool { return r.msg().Whoami != nil },
		Make: func(r proto) Draft { return r.msgOK() }, Note: "a conndiag listen endpoint answered whoami"},
	{ID: "msg.tls_record", Cause: CauseTLSExpected, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool { return r.msgAnswered() && r.msg().Service.Name == evidence.SvcTLS },
		Make: func(r proto) Draft {
			return Draft{Lines: r.lines(r.msgAnswerLine(), i18n.M("ev.proto.tls_record", "Record", r.msg().Service.Detail)), Fix: r.tlsExpectedFix()}
		}},
	{ID: "msg.other_service", Cause: CauseOtherService, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool {
			svc := r.msg().Service.Name
			return r.msgAnswered() && (svc == evidence.SvcHTTP || evidence.SpeaksOther(svc))
		},
		Make: func(r proto) Draft { return r.otherServiceDraft(r.msg().Service, r.msgAnswerLine()) }},
	{ID: "msg.text_for_frame", Cause: CauseOtherService, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool {
			svc := r.msg().Service.Name
			return r.msgAnswered() && r.frameBroken() && (svc == evidence.SvcEcho || svc == evidence.SvcText)
		},
		Make: func(r proto) Draft { return r.workermanDraft(evidence.SvcText, r.msgAnswerLine()) },
		Note: "a frame target answered with a line: the server speaks text"},
	{ID: "msg.not_frame", Cause: CauseUnknown, Conf: Low, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool { return r.msgAnswered() && r.frameBroken() },
		Make: func(r proto) Draft { return Draft{Lines: r.lines(r.msgAnswerLine(), i18n.M("ev.proto.not_frame"))} }},
	{ID: "msg.answered", Cause: CauseOK, Conf: High, Outcome: OutcomeOK,
		When: proto.msgAnswered,
		Make: func(r proto) Draft { return r.msgOK(r.msgAnswerLine()) }},
	{ID: "msg.silent", Cause: CauseOK, Conf: High, Outcome: OutcomeOK,
		When: func(r proto) bool { return r.msg().Reply == evidence.ReplySilent },
		Make: func(r proto) Draft {
			return r.msgOK(i18n.M("ev.proto.message.silent", "What", r.msgWhat(), "Dur", Dur(waited(r.msg().Exchange, r.p.Wait))))
		}, Note: "a text or frame server may stay silent until it has something to say"},
	{ID: "msg.closed.try_tls", Cause: CauseTLSExpected, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool { return r.msgClosedBy("tls") },
		Make: func(r proto) Draft {
			return r.msgTryDraft(func(tr evidence.Try, line i18n.Msg) Draft {
				return Draft{Lines: r.lines(line, r.tryLine(tr)), Fix: r.tlsExpectedFix()}
			})
		}},
	{ID: "msg.closed.other_service", Cause: CauseOtherService, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool { return r.msgClosedBy("other") },
		Make: func(r proto) Draft {
			return r.msgTryDraft(func(tr evidence.Try, line i18n.Msg) Draft {
				return r.otherServiceDraft(tr.Service, line, r.tryLine(tr))
			})
		}},
	{ID: "msg.closed.speaks_frame", Cause: CauseOtherService, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool { return r.msgClosedBy("frame") },
		Make: func(r proto) Draft {
			return r.msgTryDraft(func(tr evidence.Try, line i18n.Msg) Draft {
				return r.workermanDraft(evidence.SvcFrame, line, r.tryLine(tr))
			})
		}, Note: "a text target closed, while a frame on a fresh connection was answered"},
	{ID: "msg.closed.speaks_text", Cause: CauseOtherService, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool { return r.msgClosedBy("text") },
		Make: func(r proto) Draft {
			return r.msgTryDraft(func(tr evidence.Try, line i18n.Msg) Draft {
				return r.workermanDraft(evidence.SvcText, line, r.tryLine(tr))
			})
		}, Note: "a frame target closed, while a line on a fresh connection was answered"},
	{ID: "msg.reset", Cause: CauseResetByPeer, Conf: High, Outcome: OutcomeReset,
		When: func(r proto) bool { return r.msg().Reply == evidence.ReplyReset },
		Make: func(r proto) Draft { return r.resetDraft(r.msgNoAnswerLine()) }},
	{ID: "msg.closed", Cause: CauseUnknown, Conf: Low, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool { return r.msg().Reply == evidence.ReplyClosed },
		Make: func(r proto) Draft {
			return Draft{Lines: r.lines(append([]i18n.Msg{r.msgNoAnswerLine()}, r.tryLines()...)...)}
		}},
	{ID: "msg.error", Cause: CauseUnknown, Conf: Low, Outcome: OutcomeProtocolMismatch, When: always[proto],
		Make: func(r proto) Draft {
			errText := ""
			if m := r.msg(); m.Err != nil {
				errText = m.Err.Error()
			}
			return Draft{Lines: r.lines(i18n.M("ev.proto.error", "What", r.msgWhat(), "Err", errText))}
		}},
})

// tlsOnlyRules: a tls:// target whose handshake completed.
var tlsOnlyRules = []Rule[proto]{
	{ID: "tls.ok", Cause: CauseOK, Conf: High, Outcome: OutcomeOK, When: always[proto],
		Make: func(r proto) Draft { return r.okDraft(i18n.M("proto.ok.tls", "Addr", r.a.Addr.String())) }},
}

// decideProto judges one connected address with the protocol tables; a
// small-MSS retry that stalled too says so on the verdict.
func decideProto(ev Evidence, a AddrEvidence) (Outcome, []Finding) {
	out, fs := decideProtoTables(ev, a)
	if line, ok := mssStalledToo(a.Proto); ok && len(fs) > 0 {
		fs[0] = fs[0].with(line)
	}
	return out, fs
}

func decideProtoTables(ev Evidence, a AddrEvidence) (Outcome, []Finding) {
	r := proto{ev: ev, a: a, p: a.Proto, port: a.Addr.Port()}
	var cert []Finding
	if t := r.p.TLS; t != nil {
		if !t.Done {
			r.e, r.what = t.Exchange, i18n.M("what.tls")
			fs, out, _ := decideFirst(tlsRules, r)
			return out, fs
		}
		cert, _, _ = decideFirst(certRules, r)
	}
	var fs []Finding
	var out Outcome
	var ok bool
	switch {
	case r.p.MSS.Passed():
		fs, out, ok = decideFirst(stallRules, r)
	case r.p.TLS != nil:
		fs, out, ok = decideFirst(clientCertRules, r)
	}
	switch {
	case ok:
	case r.p.WS != nil:
		fs, out, ok = decideFirst(wsRules, r)
		r.e, r.what, r.err = r.p.WS.Exchange, i18n.M("what.ws"), r.p.WS.Err
	case r.p.HTTP != nil:
		fs, out, ok = decideFirst(httpRules, r)
		r.e, r.what, r.err = r.p.HTTP.Exchange, i18n.M("what.http"), r.p.HTTP.Err
	case r.p.Message != nil:
		fs, out, ok = decideFirst(messageRules, r)
	default:
		fs, out, ok = decideFirst(tlsOnlyRules, r)
	}
	if !ok {
		fs, out, _ = decideFirst(notHTTPRules, r)
	}
	if len(cert) == 0 {
		return out, fs
	}
	if out == OutcomeOK {
		cert[0] = cert[0].with(i18n.M("ev.proto.cert.rest_ok"))
		return OutcomeTLSFailure, cert
	}
	return OutcomeTLSFailure, append(cert, fs...)
}

// workermanDraft: the server speaks the other Workerman protocol.
func (r proto) workermanDraft(have string, ev ...i18n.Msg) Draft {
	lines := r.lines(ev...)
	switch {
	case have == evidence.SvcFrame:
		lines = append(lines, i18n.M("ev.proto.is_frame"))
	case r.p.Message != nil && bytes.Equal(r.p.Message.Received, []byte("\x00\x00\x00\n")):
		lines = append(lines, i18n.M("ev.proto.frame_as_line"))
	default:
		lines = append(lines, i18n.M("ev.proto.is_text"))
	}
	want := string(r.p.Protocol)
	return Draft{Summary: i18n.M("proto.workerman_mismatch.summary", "Have", have, "Want", want), Lines: lines,
		Fix: []i18n.Msg{i18n.M("fix.proto.workerman_mismatch", "Have", have, "Want", want), workermanSnippet(want, "0.0.0.0", r.port)}}
}

// otherServiceDraft: the port is held by a service that is not the one expected.
func (r proto) otherServiceDraft(svc evidence.Service, ev ...i18n.Msg) Draft {
	name := serviceName(svc.Name)
	lines := r.lines(ev...)
	if svc.Detail != "" {
		lines = append(lines, i18n.M("ev.proto.service", "Service", name, "Line", escape.Bytes([]byte(svc.Detail), 120)))
	}
	fix := []i18n.Msg{i18n.M("fix.proto.other_service", "Port", r.port), listenCheckCmd(r.port)}
	if svc.Name == evidence.SvcHTTP {
		fix = append(fix, i18n.M("fix.proto.speaks_http", "Want", string(r.p.Protocol)), workermanSnippet(string(r.p.Protocol), "0.0.0.0", r.port))
	}
	return Draft{Summary: i18n.M("proto.other_service.summary", "Port", r.port, "Service", name), Lines: lines, Fix: fix}
}
