package verdict

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
)

// TLS as current clients judge it (obsolete versions, ciphers and
// certificates; a required client certificate) and a path MTU black hole:
// the conditions and drafts of the rows in rules_proto.go's tables.

// ---- an obsolete server ----

// legacy is the second handshake, allowing TLS 1.0–1.1 and old suites,
// when it completed.
func (r proto) legacy() (*evidence.TLS, bool) {
	t := r.tls()
	if t == nil || t.Legacy == nil || !t.Legacy.Done {
		return nil, false
	}
	return t.Legacy, true
}

// obsoleteKind sorts what the legacy handshake agreed on into why the
// verdict handshake failed: the version, a cipher nobody offers any more,
// RSA key exchange (Go refuses it, OpenSSL still offers it), or something
// else in the current ClientHello that the server trips over.
func (r proto) obsoleteKind() string {
	l, ok := r.legacy()
	switch {
	case !ok:
		return ""
	case l.Version == "TLS 1.0" || l.Version == "TLS 1.1" || l.Version == "SSL 3.0":
		return "version"
	case weakCipher(l.Cipher):
		return "cipher"
	case strings.HasPrefix(l.Cipher, "TLS_RSA_WITH_"):
		return "rsa_kex"
	}
	return "hello"
}

func (r proto) obsoleteIs(kind string) bool { return r.obsoleteKind() == kind }

// weakCipher: a suite that no current client offers (3DES, RC4, NULL, export).
func weakCipher(name string) bool {
	for _, w := range []string{"3DES", "RC4", "NULL", "EXPORT", "_DES_"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// refusedLine says how the verdict handshake, as current clients make it, ended.
func (r proto) refusedLine() i18n.Msg {
	t := r.tls()
	if t.Alert != "" {
		return i18n.M("tlsverdict.ev.current_alert", "Alert", t.Alert)
	}
	errText := ""
	if t.Err != nil {
		errText = t.Err.Error()
	}
	return i18n.M("tlsverdict.ev.current_error", "Err", errText)
}

// legacyLine says what the second handshake found.
func legacyLine(l *evidence.TLS) i18n.Msg {
	if l.Done {
		return i18n.M("tlsverdict.ev.legacy_done", "Version", l.Version, "Cipher", l.Cipher)
	}
	switch {
	case l.Alert != "":
		return i18n.M("tlsverdict.ev.legacy_alert", "Alert", l.Alert)
	case l.Err != nil:
		return i18n.M("tlsverdict.ev.legacy_error", "Err", l.Err.Error())
	}
	return i18n.M("tlsverdict.ev.legacy_error", "Err", string(l.Reply))
}

// legacyLines: the second handshake's outcome, when it ran, and its certificate.
func (r proto) legacyLines() []i18n.Msg {
	t := r.tls()
	if t == nil || t.Legacy == nil {
		return nil
	}
	out := []i18n.Msg{legacyLine(t.Legacy)}
	if l := t.Legacy; l.Done && len(l.Chain) > 0 {
		out = append(out, certLine(l.Chain[0]))
	}
	return out
}

func (r proto) obsoleteDraft() Draft {
	l, _ := r.legacy()
	d := Draft{Lines: r.lines(append([]i18n.Msg{r.refusedLine()}, r.legacyLines()...)...)}
	check := r.sClientVersion("-tls1_2")
	switch r.obsoleteKind() {
	case "version":
		d.Summary = i18n.M("tlsverdict.obsolete.version.summary", "Version", l.Version, "Cipher", l.Cipher)
		d.Lines = append(d.Lines, i18n.M("tlsverdict.ev.clients_need_tls12"))
		d.Fix = []i18n.Msg{
			i18n.M("tlsverdict.fix.versions.nginx"), i18n.Snippet("ssl_protocols TLSv1.2 TLSv1.3;"),
			i18n.M("tlsverdict.fix.versions.apache"), i18n.Snippet("SSLProtocol -all +TLSv1.2 +TLSv1.3"),
			i18n.M("tlsverdict.fix.seclevel"), i18n.Snippet("ssl_ciphers HIGH:!aNULL:!MD5;"),
			i18n.M("tlsverdict.fix.check"), check,
		}
	case "cipher":
		d.Summary = i18n.M("tlsverdict.obsolete.cipher.summary", "Version", l.Version, "Cipher", l.Cipher)
		d.Fix = r.cipherFix(check)
	case "rsa_kex":
		d.Summary = i18n.M("tlsverdict.obsolete.rsa_kex.summary", "Cipher", l.Cipher)
		d.Fix = r.cipherFix(check)
	default:
		d.Summary = i18n.M("tlsverdict.obsolete.hello.summary", "Version", l.Version, "Cipher", l.Cipher)
		d.Fix = []i18n.Msg{i18n.M("tlsverdict.fix.hello"), r.sClientVersion("-tls1_3")}
	}
	return d
}

func (r proto) cipherFix(check i18n.Msg) []i18n.Msg {
	return []i18n.Msg{
		i18n.M("tlsverdict.fix.ciphers.nginx"), i18n.Snippet("ssl_ciphers HIGH:!aNULL:!MD5;"),
		i18n.M("tlsverdict.fix.ciphers.apache"), i18n.Snippet("SSLCipherSuite HIGH:!aNULL:!MD5"),
		i18n.M("tlsverdict.fix.check"), check,
	}
}

// sClientVersion is openssl s_client limited to one version (flag "-tls1_2").
func (r proto) sClientVersion(flag string) i18n.Msg {
	if _, isIP := r.ev.Target.IP(); isIP {
		return i18n.Cmd("openssl s_client -connect %s "+flag+" </dev/null", r.a.Addr)
	}
	return i18n.Cmd("openssl s_client -connect %s -servername %s "+flag+" </dev/null", r.a.Addr, r.ev.Target.Host)
}

// ---- an obsolete certificate ----

// weakProblems are the chain's weak algorithms; others its other problems.
func (r proto) weakProblems() (weak, others []evidence.CertProblem) {
	for _, p := range r.tls().Problems {
		if p.Kind.Weak() {
			weak = append(weak, p)
		} else {
			others = append(others, p)
		}
	}
	return weak, others
}

func (r proto) onlyWeakCert() bool {
	weak, others := r.weakProblems()
	return len(weak) > 0 && len(others) == 0
}

// weakCertConf: a SHA-1 or MD5 signature is refused by every current
// client; a short RSA key by browsers and OpenSSL at level 2 (Debian,
// Ubuntu), not by every client.
func (r proto) weakCertConf() Confidence {
	weak, _ := r.weakProblems()
	for _, p := range weak {
		if p.Kind == evidence.WeakSignature {
			return High
		}
	}
	return Medium
}

// weakCertLine and its summary describe one weak problem of cert c.
func weakCertLine(p evidence.CertProblem, c evidence.Cert) (ev, sum i18n.Msg) {
	if p.Kind == evidence.WeakSignature {
		return i18n.M("tlsverdict.ev.cert.weak_signature", "Subject", c.Subject, "Alg", p.Detail),
			i18n.M("tlsverdict.obsolete.weak_signature.summary", "Alg", p.Detail)
	}
	return i18n.M("tlsverdict.ev.cert.weak_key", "Subject", c.Subject, "Key", p.Detail),
		i18n.M("tlsverdict.obsolete.weak_key.summary", "Key", p.Detail)
}

func (r proto) reissueFix() []i18n.Msg {
	return []i18n.Msg{i18n.M("tlsverdict.fix.reissue"),
		i18n.Cmd("openssl req -new -newkey rsa:2048 -sha256 -nodes -keyout server.key -out server.csr -subj /CN=%s", r.ev.Target.Host)}
}

func (r proto) weakCertDraft() Draft {
	t := r.tls()
	d := Draft{Lines: r.lines(r.tlsLines()...)}
	weak, _ := r.weakProblems()
	for i, p := range weak {
		c := t.Chain[0]
		if p.Cert < len(t.Chain) {
			c = t.Chain[p.Cert]
		}
		ev, sum := weakCertLine(p, c)
		d.Lines = append(d.Lines, ev)
		if i == 0 {
			d.Summary = sum
		}
	}
	d.Fix = append(r.reissueFix(), i18n.M("fix.proto.cert.look"), r.sClient())
	return d
}

// ---- a client certificate ----

// certAsked says that the server asked for a client certificate, and whom it trusts.
func certAsked(t *evidence.TLS) i18n.Msg {
	if len(t.CertCAs) == 0 {
		return i18n.M("tlsverdict.ev.cert_requested_any")
	}
	return i18n.M("tlsverdict.ev.cert_requested", "Issuers", strings.Join(t.CertCAs, "; "))
}

// clientCertRefused: the handshake failed with an alert after the server
// asked for a certificate (TLS 1.2: handshake failure, bad certificate), or
// with the alert that says so (116).
func (r proto) clientCertRefused() bool {
	t := r.tls()
	return t.Alert == "certificate required" || t.CertRequested && t.Alert != ""
}

// lateRefused: a completed handshake was refused at the first read (TLS 1.3).
func (r proto) lateRefused() bool {
	t := r.tls()
	return t.LateAlert == "certificate required" || t.CertRequested && t.LateAlert != ""
}

// nginxNoCert is nginx's answer to a request without the certificate
// ssl_verify_client on requires.
var nginxNoCert = []byte("No required SSL certificate was sent")

func (r proto) nginxRefused() bool {
	h := r.http()
	return h != nil && h.Status == 400 && bytes.Contains(h.Body, nginxNoCert)
}

// certClosed: the server asked for a certificate, and closed or reset the
// connection at the request instead of answering.
func (r proto) certClosed() bool {
	h := r.http()
	return r.tls().CertRequested && h != nil && h.Status == 0 && replyIs(h.Reply, evidence.ReplyClosed, evidence.ReplyReset)
}

func (r proto) clientCertDraft(lines ...i18n.Msg) Draft {
	t := r.tls()
	d := Draft{Lines: r.lines(append(r.tlsLines(), lines...)...)}
	if t.CertRequested {
		d.Lines = append(d.Lines, certAsked(t))
	}
	d.Fix = r.clientCertFix(r.nginxRefused())
	return d
}

// clientCertFix: give the client a certificate, or make it optional on the
// server (in nginx's terms when nginx answered).
func (r proto) clientCertFix(nginx bool) []i18n.Msg {
	t := r.ev.Target
	var test i18n.Msg
	switch t.Scheme {
	case "https", "wss":
		url := "https://" + urlHost(t) + t.Path
		test = i18n.Cmd("curl --cert client.crt --key client.key %s", url)
	default:
		test = i18n.Cmd("openssl s_client -connect %s -cert client.crt -key client.key </dev/null", r.a.Addr)
	}
	out := []i18n.Msg{i18n.M("tlsverdict.fix.client_cert.give"), test}
	if nginx {
		return append(out, i18n.M("tlsverdict.fix.client_cert.optional_nginx"), i18n.Snippet("ssl_verify_client optional;"))
	}
	return append(out, i18n.M("tlsverdict.fix.client_cert.optional"), i18n.Snippet("ssl_verify_client optional;"))
}

// urlHost is the target's host and port as a URL writes them.
func urlHost(t evidence.Target) string {
	h := t.Host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	if def := map[string]uint16{"https": 443, "wss": 443}[t.Scheme]; t.Port != def {
		return h + ":" + strconv.Itoa(int(t.Port))
	}
	return h
}

// certOptionalLine: the server asked for a certificate and went on without one.
func (r proto) certOptionalLine() []i18n.Msg {
	t := r.p.TLS
	if t == nil || !t.Done || !t.CertRequested {
		return nil
	}
	if r.p.Protocol == evidence.ProtoTLS {
		return []i18n.Msg{certAsked(t), i18n.M("tlsverdict.ev.cert_optional_tls")}
	}
	return []i18n.Msg{certAsked(t), i18n.M("tlsverdict.ev.cert_optional")}
}

// ---- a path MTU black hole ----

// mssPassed: the step that stalled got through on a connection with a small
// MSS, and its control with the usual MSS did not.
func (r proto) mssPassed() bool {
	m := r.p.MSS
	return m.Passed() && !(m.Control != nil && m.Control.Passed())
}

// mtuConf: certain when the control connected and stalled again; likely
// when there is no control to compare with.
func (r proto) mtuConf() Confidence {
	if r.p.MSS.BlackHole() {
		return High
	}
	return Medium
}

// stalledLine says how the step that the retry got through stalled.
func (r proto) stalledLine() i18n.Msg {
	m := r.p.MSS
	var e evidence.Exchange
	what := i18n.M("what.tls")
	switch {
	case m.Stage == "tls":
		e = r.tls().Exchange
	case r.p.WS != nil:
		e, what = r.p.WS.Exchange, i18n.M("what.ws")
	case r.p.HTTP != nil:
		e, what = r.p.HTTP.Exchange, i18n.M("what.http")
	}
	if e.Reply == evidence.ReplyAnswered {
		return i18n.M("probebounds.ev.incomplete", "What", what, "Dur", Dur(e.Duration), "N", e.ReceivedN, "Bytes", show(e.Received, e.ReceivedN))
	}
	return i18n.M("ev.proto.silent", "What", what, "Dur", Dur(r.p.Timeout))
}

// retryLine says what the small-MSS retry got.
func (r proto) retryLine() i18n.Msg {
	m := r.p.MSS
	switch {
	case m.Stage == "tls":
		t := m.TLS
		return i18n.M("tlsverdict.ev.mss_tls", "MSS", m.MSS, "Dur", Dur(t.Duration), "Version", t.Version, "N", len(t.Chain), "Bytes", t.ReceivedN)
	case m.WS != nil:
		return i18n.M("tlsverdict.ev.mss_http", "MSS", m.MSS, "Dur", Dur(m.WS.Duration), "Status", escape.Bytes([]byte(m.WS.StatusLine), 100), "Bytes", m.WS.ReceivedN)
	}
	return i18n.M("tlsverdict.ev.mss_http", "MSS", m.MSS, "Dur", Dur(m.HTTP.Duration), "Status", escape.Bytes([]byte(m.HTTP.StatusLine), 100), "Bytes", m.HTTP.ReceivedN)
}

// stallWhat names the step that stalled and was retried.
func (r proto) stallWhat() i18n.Msg {
	switch r.p.MSS.Stage {
	case "websocket":
		return i18n.M("what.ws")
	case "http":
		return i18n.M("what.http")
	}
	return i18n.M("what.tls")
}

func (r proto) mtuDraft() Draft {
	lines := r.lines(r.stalledLine(), r.retryLine())
	if r.p.MSS.BlackHole() {
		lines = append(lines, i18n.M("tlsverdict.ev.mss_control_stalled"))
	}
	lines = append(lines, r.tryLines()...)
	return Draft{
		Summary: i18n.M("tlsverdict.mtu.summary", "What", r.stallWhat(), "MSS", r.p.MSS.MSS),
		Lines:   lines,
		Fix:     mtuFix(r.a.Addr.Addr().Is6(), r.a.Addr.Addr().String()),
	}
}

// mtuFix lets "fragmentation needed" through, clamps the MSS where the MTU
// shrinks, and lets the server find the size itself.
func mtuFix(v6 bool, addr string) []i18n.Msg {
	ipt, icmp, ping := "iptables", "-p icmp --icmp-type fragmentation-needed", "ping -c 3 -M do -s 1472 %s"
	if v6 {
		ipt, icmp, ping = "ip6tables", "-p icmpv6 --icmpv6-type packet-too-big", "ping -6 -c 3 -M do -s 1452 %s"
	}
	return []i18n.Msg{
		i18n.M("tlsverdict.fix.mtu.icmp"),
		i18n.CmdLine(ipt + " -I INPUT " + icmp + " -j ACCEPT"),
		i18n.CmdLine(ipt + " -I FORWARD " + icmp + " -j ACCEPT"),
		i18n.M("tlsverdict.fix.mtu.clamp"),
		i18n.CmdLine(ipt + " -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu"),
		i18n.M("tlsverdict.fix.mtu.probing"),
		i18n.CmdLine("sysctl -w net.ipv4.tcp_mtu_probing=1"),
		i18n.M("tlsverdict.fix.mtu.see"),
		i18n.Cmd(ping, addr),
	}
}

// mssStalledToo: the retry with a small MSS connected and stalled the same
// way, so the path's MTU is not what holds the answer back.
func mssStalledToo(p *evidence.ProtoEvidence) (i18n.Msg, bool) {
	m := p.MSS
	if m == nil || m.Connect.Kind != evidence.OK || m.Passed() {
		return i18n.Msg{}, false
	}
	return i18n.M("tlsverdict.ev.mss_stalled_too", "MSS", m.MSS), true
}

// stallIntermittent: the step stalled, and both fresh connections, with the
// small MSS and with the usual one, got through.
func (r proto) stallIntermittent() bool {
	m := r.p.MSS
	return m.Passed() && m.Control != nil && m.Control.Passed()
}

// intermittentDraft: the stall, both retries that got through, and no fix
// but to look behind the address when it happens again.
func (r proto) intermittentDraft() Draft {
	m := r.p.MSS
	c := m.Control
	dur := c.Connect.Duration
	switch {
	case c.TLS != nil && m.Stage == "tls":
		dur = c.TLS.Duration
	case c.WS != nil:
		dur = c.WS.Duration
	case c.HTTP != nil:
		dur = c.HTTP.Duration
	}
	lines := r.lines(r.stalledLine(), r.retryLine(), i18n.M("tlsverdict.ev.control_passed", "Dur", Dur(dur)))
	return Draft{Summary: i18n.M("tlsverdict.intermittent.summary", "What", r.stallWhat()), Lines: lines,
		Fix: []i18n.Msg{i18n.M("tlsverdict.fix.intermittent"), i18n.Cmd("conndiag check %s", r.ev.Target.Raw)}}
}

// stepWhat names the step on top of TLS: the WebSocket handshake or the HTTP request.
func (r proto) stepWhat() i18n.Msg {
	if r.p.WS != nil {
		return i18n.M("what.ws")
	}
	return i18n.M("what.http")
}
