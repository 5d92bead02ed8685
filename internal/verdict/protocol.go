package verdict

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
)

// ProtoEvidence is what the protocol step learned once TCP had connected.
type ProtoEvidence = evidence.ProtoEvidence

// Step is one conversation of the protocol step, for showing the exchange.
type Step = evidence.Step

func (r proto) connectLine() i18n.Msg {
	return i18n.M("ev.connect.ok", "Addr", r.a.Addr.String(), "Dur", Dur(r.a.Connect.Duration))
}

// whoamiLines say that the endpoint is a conndiag test endpoint.
func (r proto) whoamiLines() []i18n.Msg {
	if w := r.a.Whoami; w != nil {
		return []i18n.Msg{i18n.M("ev.proto.whoami", "Proto", w.Proto, "Version", w.Version,
			"Client", addrOrUnknown(w.Client.String(), w.Client.IsValid()), "Server", addrOrUnknown(w.Server.String(), w.Server.IsValid()))}
	}
	var h *evidence.HTTP
	switch {
	case r.p.WS != nil:
		h = &r.p.WS.HTTP
	case r.p.HTTP != nil:
		h = r.p.HTTP
	}
	if v, ok := evidence.ListenVersion(h.Server()); ok {
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
func show(b []byte, total int) i18n.Msg { return ShowMsg(b, total, 160) }

// ShowMsg is Show as a message: the size is counted in the reader's
// language ("179 bytes", "179 بايتًا", "179 字节").
func ShowMsg(b []byte, total, max int) i18n.Msg {
	if len(b) == 0 {
		return i18n.M("platform.shown.all", "Bytes", "")
	}
	if d, ok := evidence.DescribeTLS(b); ok {
		return i18n.M("platform.shown.tls", "What", d, "Size", i18n.Plural("platform.count.bytes", total))
	}
	s := escape.Bytes(b, max)
	if strings.HasSuffix(s, "…") || total > len(b) {
		return i18n.M("platform.shown.cut", "Bytes", s, "Size", i18n.Plural("platform.count.bytes", total))
	}
	return i18n.M("platform.shown.all", "Bytes", s)
}

// Show describes bytes from a server for people: TLS records by what they are
// (a binary ClientHello means nothing escaped), everything else escaped, at
// most max runes, with the total size when not all of it is shown.
func Show(b []byte, total, max int) string {
	if len(b) == 0 {
		return ""
	}
	if d, ok := evidence.DescribeTLS(b); ok {
		return fmt.Sprintf("[%s, %d bytes]", d, total)
	}
	s := escape.Bytes(b, max)
	if strings.HasSuffix(s, "…") || total > len(b) {
		s += fmt.Sprintf(" (%d bytes)", total)
	}
	return s
}

// ---- TLS ----

// tlsLines describe a completed handshake and the certificate.
func (r proto) tlsLines() []i18n.Msg {
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

func certLine(c evidence.Cert) i18n.Msg {
	return i18n.M("ev.proto.tls.cert", "Subject", c.Subject, "Issuer", c.Issuer,
		"From", day(c.NotBefore), "Until", day(c.NotAfter), "Names", names(c))
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func names(c evidence.Cert) string {
	n := c.Names()
	if len(n) == 0 {
		return "(" + c.Subject + ")"
	}
	if len(n) > 8 {
		n = append(n[:8:8], "…")
	}
	return strings.Join(n, ", ")
}

func (r proto) sClient() i18n.Msg {
	name := r.ev.Target.Host
	if strings.Contains(name, ":") {
		name = "[" + name + "]"
	}
	if _, isIP := r.ev.Target.IP(); isIP {
		return i18n.Cmd("openssl s_client -connect %s -showcerts </dev/null", r.a.Addr)
	}
	return i18n.Cmd("openssl s_client -connect %s -servername %s -showcerts </dev/null", r.a.Addr, name)
}

func (r proto) tlsUnexpectedFix() []i18n.Msg {
	plain := map[string]string{"wss": "ws", "https": "http"}[r.ev.Target.Scheme]
	out := []i18n.Msg{}
	if plain != "" {
		out = append(out, i18n.M("fix.proto.tls_unexpected.scheme", "Scheme", plain))
	}
	// Enabling TLS is said in the terms of the plain server that answered.
	sw := r.plainSoftware()
	if more := r.enableTLSFix(sw); more != nil {
		return append(out, more...)
	}
	out = append(out, i18n.M("fix.proto.tls_unexpected.workerman"),
		i18n.Snippet(`$worker = new Worker('websocket://0.0.0.0:%d', ['ssl' => ['local_cert' => '/path/fullchain.pem', 'local_pk' => '/path/privkey.pem']]); $worker->transport = 'ssl';`, r.port))
	if !sw.Proxy {
		out = append(out, i18n.M("fix.proto.tls_unexpected.proxy"))
	}
	return out
}

// ---- WebSocket and HTTP ----

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
func (r proto) serverLine(h *evidence.HTTP) []i18n.Msg {
	if s := h.Server(); s != "" {
		return []i18n.Msg{i18n.M("ev.proto.http.server", "Server", escape.Bytes([]byte(s), 80))}
	}
	return nil
}

// headerLines are the parts of a refusal a person needs to see.
func (r proto) headerLines(h *evidence.HTTP) []i18n.Msg {
	out := r.serverLine(h)
	if loc := h.Header.Get("Location"); loc != "" {
		out = append(out, i18n.M("ev.proto.http.location", "Location", escape.Bytes([]byte(loc), 120)))
	}
	if ct := h.Header.Get("Content-Type"); ct != "" {
		out = append(out, i18n.M("ev.proto.http.content_type", "Type", escape.Bytes([]byte(ct), 80)))
	}
	if len(h.Body) > 0 {
		out = append(out, i18n.M("ev.proto.http.body", "Bytes", show(h.Body, len(h.Body))))
	}
	return append(out, r.whoamiLines()...)
}

func (r proto) timingLine(h *evidence.HTTP) i18n.Msg {
	dns, tlsDur := "", ""
	if !r.ev.DNS.Literal && r.ev.DNS.Duration > 0 {
		dns = Dur(r.ev.DNS.Duration)
	}
	if r.p.TLS != nil {
		tlsDur = Dur(r.p.TLS.Duration)
	}
	return i18n.M("ev.proto.http.timing", "DNS", dns, "Connect", Dur(r.a.Connect.Duration), "TLS", tlsDur, "FirstByte", Dur(h.FirstByte))
}

func (r proto) tlsExpectedFix() []i18n.Msg {
	secure := map[string]string{"ws": "wss", "websocket": "wss", "http": "https"}[r.ev.Target.Scheme]
	var out []i18n.Msg
	if secure != "" {
		out = append(out, i18n.M("fix.proto.tls_expected.scheme", "Scheme", secure))
	} else {
		out = append(out, i18n.M("fix.proto.tls_expected.client"))
	}
	if r.tlsServerSoftware().MaybeWorkerman() {
		out = append(out, i18n.M("fix.proto.tls_expected.workerman"))
	}
	return out
}

// kindLine explains an answer that is not HTTP in Workerman's terms.
func (r proto) kindLine(svc evidence.Service, e evidence.Exchange) []i18n.Msg {
	switch svc.Name {
	case evidence.SvcEcho:
		return []i18n.Msg{i18n.M("ev.proto.is_echo")}
	case evidence.SvcFrame:
		return []i18n.Msg{i18n.M("ev.proto.is_frame")}
	case evidence.SvcText:
		return []i18n.Msg{i18n.M("ev.proto.is_text")}
	case evidence.SvcHTTP:
		return []i18n.Msg{i18n.M("ev.proto.bad_http")}
	}
	return nil
}

// want is the Workerman scheme of what the client expects to speak.
func (r proto) want() string {
	if r.p.Protocol == evidence.ProtoHTTP {
		return "http"
	}
	return "websocket"
}

// wantName is how that protocol is written in a sentence.
func (r proto) wantName() string {
	if r.p.Protocol == evidence.ProtoHTTP {
		return "HTTP"
	}
	return "WebSocket"
}

func (r proto) notHTTPFix(svc string) []i18n.Msg {
	want := r.want()
	var first i18n.Msg
	switch svc {
	case evidence.SvcEcho, evidence.SvcText:
		first = i18n.M("fix.proto.not_http.text", "Want", want)
	case evidence.SvcFrame:
		first = i18n.M("fix.proto.not_http.frame", "Want", want)
	default:
		first = i18n.M("fix.proto.not_http.other", "Want", want)
	}
	return []i18n.Msg{first, i18n.Snippet("new Worker('%s://0.0.0.0:%d');", want, r.port), i18n.M("fix.proto.which_port"), i18n.Cmd("ss -ltnp 'sport = :%d'", r.port)}
}

// ---- text, frame ----

// serviceName is how a service is called in sentences ("an SSH server").
func serviceName(name string) i18n.Msg {
	if name == "" {
		name = evidence.SvcBinary
	}
	return i18n.M("service." + name)
}

// waited is how long an exchange really waited for its answer: its own
// duration, or the budget when it kept none.
func waited(e evidence.Exchange, budget time.Duration) time.Duration {
	if e.Duration > 0 {
		return e.Duration
	}
	return budget
}

func (r proto) noAnswerLine(reply evidence.Reply, what i18n.Msg, wait time.Duration) i18n.Msg {
	switch reply {
	case evidence.ReplyClosed:
		return i18n.M("ev.proto.closed", "What", what)
	case evidence.ReplyReset:
		return i18n.M("ev.proto.reset", "What", what)
	}
	return i18n.M("ev.proto.silent", "What", what, "Dur", Dur(wait))
}

// tryAnswered finds the fingerprint of kind that got an answer.
func (r proto) tryAnswered(kind evidence.TryKind) (evidence.Try, bool) {
	for _, t := range r.p.Tries {
		if t.Kind == kind && t.Reply == evidence.ReplyAnswered {
			return t, true
		}
	}
	return evidence.Try{}, false
}

func tryWhat(k evidence.TryKind) i18n.Msg {
	switch k {
	case evidence.TryTLS:
		return i18n.M("what.tls")
	case evidence.TryHTTP:
		return i18n.M("what.plain_http")
	case evidence.TryFrame:
		return i18n.M("what.frame")
	}
	return i18n.M("what.text")
}

func (r proto) tryLine(t evidence.Try) i18n.Msg {
	if t.Kind == evidence.TryIdle {
		return idleLine(t)
	}
	if t.Reply != evidence.ReplyAnswered {
		return i18n.M("ev.proto.try.none", "What", tryWhat(t.Kind), "Reply", i18n.M("reply."+string(t.Reply)))
	}
	if t.TLS != nil && len(t.TLS.Chain) > 0 {
		c := t.TLS.Chain[0]
		return i18n.M("ev.proto.try.tls", "What", tryWhat(t.Kind), "Version", t.TLS.Version, "Names", names(c))
	}
	return i18n.M("ev.proto.try", "What", tryWhat(t.Kind), "Bytes", show(t.Received, t.ReceivedN), "Service", serviceName(t.Service.Name))
}

func (r proto) tryLines() []i18n.Msg {
	var out []i18n.Msg
	for _, t := range r.p.Tries {
		if t.DialErr == nil {
			out = append(out, r.tryLine(t))
		}
	}
	return out
}
