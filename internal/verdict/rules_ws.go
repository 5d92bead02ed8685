package verdict

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
)

// A refused WebSocket handshake is judged by its status and by who answered
// (evidence.Software: the Server header, a proxy's own error page, a
// WebSocket library's words), and by what the follow-up handshakes showed:
// the same handshake with another Origin after a 401 or 403, and the
// Location of a redirect. The fix follows the software identified.

// sw is who answered the handshake or request.
func (r proto) sw() evidence.Software { return r.http().Software() }

func (r proto) status() int { return r.http().Status }

// swName is how the software is called in sentences ("nginx").
func swName(s evidence.Software) i18n.Msg {
	if s.Name == "" || s.Name == evidence.SoftOther {
		if s.Server != "" {
			return i18n.M("wsverdict.sw.named", "Server", escape.Bytes([]byte(s.Server), 60))
		}
		return i18n.M("wsverdict.sw.unknown")
	}
	return i18n.M("wsverdict.sw." + s.Name)
}

// swLines say who answered, when the answer shows it beyond the Server header.
func (r proto) swLines() []i18n.Msg {
	s := r.sw()
	var out []i18n.Msg
	if s.OwnPage {
		out = append(out, i18n.M("wsverdict.ev.own_page", "Software", swName(s)))
	}
	if s.App != "" && (s.Proxy || s.Name != s.App) {
		out = append(out, i18n.M("wsverdict.ev.app", "App", i18n.M("wsverdict.sw."+s.App)))
	}
	return out
}

// refusalDraft: the status line, the answer's parts a person needs, who answered.
func (r proto) refusalDraft(lines ...i18n.Msg) Draft {
	h := r.http()
	all := append(r.lines(r.statusLine()), r.headerLines(h)...)
	all = append(all, r.swLines()...)
	return Draft{Lines: append(all, lines...)}
}

// wsPath is the target's path without its query, for snippets.
func (r proto) wsPath() string {
	p, _, _ := strings.Cut(r.ws().Path, "?")
	if p == "" {
		return "/"
	}
	return p
}

// ---- redirects ----

// lastHop is the last redirect followed.
func (r proto) lastHop() (*evidence.Retry, bool) {
	if n := len(r.p.Redirects); n > 0 {
		return &r.p.Redirects[n-1], true
	}
	return nil, false
}

func (r proto) redirected() bool {
	return isRedirect(r.status()) && r.ws().Header.Get("Location") != ""
}

func isRedirect(s int) bool { return s == 301 || s == 302 || s == 303 || s == 307 || s == 308 }

// redirectUpgrades: a hop of the redirect accepted the WebSocket handshake.
func (r proto) redirectUpgrades() bool {
	h, ok := r.lastHop()
	return r.redirected() && ok && h.Upgraded()
}

// toSecure: the redirects lead from ws:// to wss://.
func (r proto) toSecure() bool {
	h, ok := r.lastHop()
	return ok && !r.ev.Target.TLS() && h.URL.TLS()
}

// retryURL is the URL a follow-up asked, without the scheme's default port.
func retryURL(t evidence.Target) string {
	if t.Port == evidence.Schemes[t.Scheme].DefaultPort {
		h := t.Host
		if strings.Contains(h, ":") {
			h = "[" + h + "]"
		}
		return t.Scheme + "://" + h + t.Path
	}
	return t.String()
}

// retryResult says what a follow-up handshake got.
func retryResult(h *evidence.Retry) i18n.Msg {
	switch {
	case h.DialErr != nil:
		return i18n.M("wsverdict.res.dial", "Err", h.DialErr.Error())
	case h.TLS != nil && !h.TLS.Done:
		err := ""
		if h.TLS.Err != nil {
			err = h.TLS.Err.Error()
		}
		return i18n.M("wsverdict.res.tls", "Err", err)
	case h.WS == nil:
		return i18n.M("wsverdict.res.none")
	case h.WS.Upgraded:
		return i18n.M("wsverdict.res.upgraded", "Status", escape.Bytes([]byte(h.WS.StatusLine), 100))
	case h.WS.Status != 0:
		return i18n.M("wsverdict.res.status", "Status", escape.Bytes([]byte(h.WS.StatusLine), 100))
	}
	return i18n.M("wsverdict.res.reply", "Reply", i18n.M("reply."+string(h.WS.Reply)))
}

func (r proto) redirectLines() []i18n.Msg {
	var out []i18n.Msg
	for i := range r.p.Redirects {
		h := &r.p.Redirects[i]
		out = append(out, i18n.M("wsverdict.ev.redirect_hop", "URL", retryURL(h.URL), "Result", retryResult(h)))
		if h.TLS != nil && h.TLS.Done && len(h.TLS.Problems) > 0 {
			out = append(out, i18n.M("wsverdict.ev.redirect_cert", "Detail", string(h.TLS.Problems[0].Kind)))
		}
	}
	if r.p.RedirectStop != evidence.StopNone {
		out = append(out, i18n.M("wsverdict.ev.redirect_stop."+string(r.p.RedirectStop),
			"Location", escape.Bytes([]byte(r.p.RedirectNext), 120)))
	}
	return out
}

func (r proto) location() string { return escape.Bytes([]byte(r.ws().Header.Get("Location")), 120) }

// ---- Origin ----

func (r proto) originRejected() bool {
	s := r.status()
	return (s == 401 || s == 403) && r.p.OriginRetry.Upgraded()
}

// originRefusals are what WebSocket libraries say when they refuse an Origin.
var originRefusals = []string{
	"invalid Origin header",                  // Python websockets
	"request origin not allowed by Upgrader", // gorilla/websocket
	"Origin not allowed",                     // many frameworks
}

// originNamed: the refusal's body says it is the Origin.
func (r proto) originNamed() bool {
	b := r.ws().Body
	for _, s := range originRefusals {
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

func (r proto) originLines() []i18n.Msg {
	out := []i18n.Msg{i18n.M("wsverdict.ev.origin_sent", "Origin", r.ws().Origin)}
	if o := r.p.OriginRetry; o != nil {
		switch {
		case o.WS != nil && o.WS.Origin != "":
			out = append(out, i18n.M("wsverdict.ev.origin_retry", "Origin", o.WS.Origin, "Result", retryResult(o)))
		default:
			out = append(out, i18n.M("wsverdict.ev.origin_retry_none", "Result", retryResult(o)))
		}
	}
	return out
}

// originFix: allow the refused origin, in the terms of the library that refused.
func (r proto) originFix() []i18n.Msg {
	refused := r.ws().Origin
	out := []i18n.Msg{i18n.M("wsverdict.fix.origin", "Origin", refused)}
	s := r.sw()
	switch {
	case s.App == evidence.SoftPythonWS || s.Name == evidence.SoftPythonWS:
		out = append(out, i18n.M("wsverdict.fix.origin.python"), i18n.Snippet(`websockets.serve(handler, host, port, origins=["%s"])`, refused))
	case s.App == evidence.SoftNodeWS || s.App == evidence.SoftSocketIO || s.Name == evidence.SoftNode:
		out = append(out, i18n.M("wsverdict.fix.origin.node"),
			i18n.Snippet(`new WebSocketServer({ server, verifyClient: ({ origin }) => origin === '%s' })`, refused))
	case s.App == evidence.SoftGoWS || s.Name == evidence.SoftGo:
		out = append(out, i18n.M("wsverdict.fix.origin.go"),
			i18n.Snippet(`upgrader.CheckOrigin = func(r *http.Request) bool { return r.Header.Get("Origin") == "%s" }`, refused))
	case s.MaybeWorkerman():
		out = append(out, i18n.M("wsverdict.fix.origin.workerman"))
	}
	if r.ws().Origin == r.ev.Target.OwnOrigin() {
		out = append(out, i18n.M("wsverdict.fix.origin.page"), i18n.Cmd("conndiag check %s --origin https://app.example.com", r.ev.Target.String()))
	}
	return out
}

// ---- a proxy in front whose application is down ----

func cloudflare52x(s int) bool { return s >= 520 && s <= 527 }

// upstreamDown: a gateway answered that what is behind it failed. 502 and
// 504 are gateway answers by definition (RFC 9110); a 503 is the proxy's own
// only when the software that makes it for a dead backend says so.
func upstreamDown(status int, s evidence.Software) bool {
	switch status {
	case 502, 504:
		return true
	case 503:
		return s.OwnPage && s.Is(evidence.SoftApache, evidence.SoftHAProxy, evidence.SoftEnvoy, evidence.SoftAWSELB, evidence.SoftCaddy)
	}
	return false
}

func (r proto) upstreamConf() Confidence {
	s := r.sw()
	if upstreamDown(r.status(), s) || cloudflare52x(r.status()) && s.Name == evidence.SoftCloudflare {
		return High
	}
	return Medium
}

// upstreamFix: the application behind the proxy is down; where its log says why.
func (r proto) upstreamFix() []i18n.Msg {
	s, status := r.sw(), r.status()
	switch {
	case s.Name == evidence.SoftCloudflare && cloudflare52x(status):
		return []i18n.Msg{i18n.M("wsverdict.fix.cloudflare." + strconv.Itoa(status)), i18n.M("wsverdict.fix.cloudflare.origin")}
	case s.Name == evidence.SoftNginx:
		first := i18n.M("wsverdict.fix.upstream.nginx")
		if status == 504 {
			first = i18n.M("wsverdict.fix.upstream.nginx_504")
		}
		return []i18n.Msg{first, i18n.Cmd("tail -n 20 /var/log/nginx/error.log"),
			i18n.M("wsverdict.fix.upstream.explain"), i18n.Cmd("conndiag explain --log /var/log/nginx/error.log")}
	case s.Name == evidence.SoftApache:
		return []i18n.Msg{i18n.M("wsverdict.fix.upstream.apache"), i18n.Cmd("tail -n 20 /var/log/apache2/error.log")}
	case s.Is(evidence.SoftHAProxy, evidence.SoftEnvoy, evidence.SoftCaddy, evidence.SoftAWSELB, evidence.SoftIIS):
		return []i18n.Msg{i18n.M("wsverdict.fix.upstream." + s.Name)}
	}
	return []i18n.Msg{i18n.M("cause.proxy_upstream_failed.fix")}
}

func (r proto) upstreamSummary() i18n.Msg {
	s, status := r.sw(), r.status()
	if s.Name == evidence.SoftCloudflare && cloudflare52x(status) {
		return i18n.M("wsverdict.upstream.cloudflare.summary", "Status", status)
	}
	return i18n.M("wsverdict.upstream.summary", "Proxy", swName(s), "Status", escape.Bytes([]byte(r.http().StatusLine), 100))
}

var upstreamRule = Rule[proto]{ID: "http.upstream_failed", Cause: CauseProxyUpstreamFailed, Conf: High,
	ConfOf: proto.upstreamConf, Outcome: OutcomeProtocolMismatch,
	When: func(r proto) bool {
		s, status := r.sw(), r.status()
		return upstreamDown(status, s) || status == 503 && s.Proxy && !s.WebSocket() ||
			cloudflare52x(status) && s.Name == evidence.SoftCloudflare
	},
	Make: func(r proto) Draft {
		d := r.refusalDraft()
		d.Summary, d.Fix = r.upstreamSummary(), r.upstreamFix()
		return d
	}, Note: "502 or 504 (a gateway's answer), a 503 that Apache, HAProxy, Envoy, Caddy or an AWS load balancer makes for a dead backend, Cloudflare 520-527: high; another 503 from a proxy: medium"}

// ---- the upgrade did not reach the application ----

// noUpgrade: an answer that shows the application behind did not get the
// upgrade: 426 (it asks for it), a WebSocket library's refusal of a request
// without it, or 400 from behind a proxy that did not make the page itself.
func (r proto) noUpgrade() bool {
	s, status := r.sw(), r.status()
	switch {
	case status == 426:
		return true
	case status == 400 && s.OwnPage:
		return false
	case status == 400 && (s.App != "" || s.Proxy):
		return true
	case status == 200 && s.App == evidence.SoftWorkerman:
		return true
	}
	return false
}

func (r proto) noUpgradeConf() Confidence {
	s := r.sw()
	if r.status() == 426 || s.App != "" {
		return High
	}
	return Medium
}

// upgradeHeaderFix: how the proxy identified passes the upgrade.
func (r proto) upgradeHeaderFix() []i18n.Msg {
	s := r.sw()
	switch s.Name {
	case evidence.SoftNginx:
		return append(append([]i18n.Msg{i18n.M("wsverdict.fix.nginx_upgrade")}, nginxUpgradeLines(false)...),
			i18n.M("wsverdict.fix.nginx_reload"), i18n.Cmd("nginx -t && nginx -s reload"))
	case evidence.SoftApache:
		return []i18n.Msg{i18n.M("wsverdict.fix.apache_upgrade"),
			i18n.Snippet(`ProxyPass "%s" "http://127.0.0.1:8282%s" upgrade=websocket`, r.wsPath(), r.wsPath()),
			i18n.M("wsverdict.fix.apache_modules"), i18n.Cmd("a2enmod proxy proxy_http proxy_wstunnel && systemctl reload apache2")}
	case evidence.SoftCaddy:
		return []i18n.Msg{i18n.M("wsverdict.fix.caddy_upgrade")}
	case evidence.SoftEnvoy:
		return []i18n.Msg{i18n.M("wsverdict.fix.envoy_upgrade"), i18n.Snippet("upgrade_configs: [{upgrade_type: websocket}]")}
	case evidence.SoftIIS:
		return []i18n.Msg{i18n.M("wsverdict.fix.iis_upgrade")}
	case evidence.SoftCloudflare:
		return []i18n.Msg{i18n.M("wsverdict.fix.cloudflare_upgrade"), i18n.M("wsverdict.fix.cloudflare.origin")}
	}
	return append([]i18n.Msg{i18n.M("wsverdict.fix.proxy_upgrade")}, nginxUpgradeLines(false)...)
}

// nginxUpgradeLines are the three lines that make nginx pass a WebSocket
// upgrade, indented when they go inside a location block shown whole.
func nginxUpgradeLines(indented bool) []i18n.Msg {
	if indented {
		return []i18n.Msg{
			i18n.Snippet("    proxy_http_version 1.1;"),
			i18n.Snippet("    proxy_set_header Upgrade $http_upgrade;"),
			i18n.Snippet(`    proxy_set_header Connection "upgrade";`),
		}
	}
	return []i18n.Msg{
		i18n.Snippet("proxy_http_version 1.1;"),
		i18n.Snippet("proxy_set_header Upgrade $http_upgrade;"),
		i18n.Snippet(`proxy_set_header Connection "upgrade";`),
	}
}

// ---- a page or a 404 where WebSocket was asked for ----

// pageFix: the server answered the path itself; make it proxy or speak WebSocket there.
func (r proto) pageFix() []i18n.Msg {
	s, path := r.sw(), r.wsPath()
	switch s.Name {
	case evidence.SoftNginx:
		out := []i18n.Msg{i18n.M("wsverdict.fix.nginx_location", "Path", path), i18n.Snippet("location %s {", path),
			i18n.Snippet("    proxy_pass http://127.0.0.1:8282;")}
		out = append(append(out, nginxUpgradeLines(true)...), i18n.Snippet("}"))
		return append(out, i18n.M("wsverdict.fix.nginx_reload"), i18n.Cmd("nginx -t && nginx -s reload"))
	case evidence.SoftApache:
		return []i18n.Msg{i18n.M("wsverdict.fix.apache_location", "Path", path),
			i18n.Snippet(`ProxyPass "%s" "http://127.0.0.1:8282%s" upgrade=websocket`, path, path),
			i18n.M("wsverdict.fix.apache_modules"), i18n.Cmd("a2enmod proxy proxy_http proxy_wstunnel && systemctl reload apache2")}
	case evidence.SoftCaddy:
		return []i18n.Msg{i18n.M("wsverdict.fix.caddy_location", "Path", path), i18n.Snippet("reverse_proxy %s 127.0.0.1:8282", path)}
	case evidence.SoftGo:
		return []i18n.Msg{i18n.M("wsverdict.fix.go_handler", "Path", path),
			i18n.Snippet(`http.HandleFunc("%s", func(w http.ResponseWriter, r *http.Request) { c, err := upgrader.Upgrade(w, r, nil); … })`, path)}
	case evidence.SoftNode:
		return []i18n.Msg{i18n.M("wsverdict.fix.node_route", "Path", path), i18n.Snippet("const wss = new WebSocketServer({ server, path: '%s' });", path)}
	case evidence.SoftPythonHTTP:
		return []i18n.Msg{i18n.M("wsverdict.fix.python_http", "Port", r.port)}
	case evidence.SoftWorkerman:
		return []i18n.Msg{i18n.M("fix.proto.ws_http"), i18n.Snippet("new Worker('websocket://0.0.0.0:%d');", r.port)}
	}
	out := []i18n.Msg{i18n.M("wsverdict.fix.http_server")}
	if s.MaybeWorkerman() {
		out = append(out, i18n.M("fix.proto.ws_http"), i18n.Snippet("new Worker('websocket://0.0.0.0:%d');", r.port))
	}
	if !s.Proxy {
		out = append(out, i18n.M("fix.proto.nginx_ws"))
	}
	return out
}

// notFoundSummary: a 404 from a server with no sign of WebSocket.
func (r proto) notFoundSummary() i18n.Msg {
	return i18n.M("wsverdict.not_found.summary", "Server", swName(r.sw()), "Path", escape.Bytes([]byte(r.ws().Path), 100))
}

// ---- authentication ----

func (r proto) authConf() Confidence {
	if r.ws().Header.Get("Www-Authenticate") != "" {
		return High
	}
	return Medium
}

func (r proto) authDraft() Draft {
	w := r.ws()
	d := r.refusalDraft(r.originLines()...)
	challenge := w.Header.Get("Www-Authenticate")
	if challenge != "" {
		d.Summary = i18n.M("wsverdict.auth_http.summary", "Status", w.Status, "Challenge", escape.Bytes([]byte(challenge), 80))
		d.Fix = []i18n.Msg{i18n.M("wsverdict.fix.auth_http")}
		return d
	}
	d.Summary = i18n.M("wsverdict.auth.summary", "Status", w.Status)
	d.Fix = []i18n.Msg{i18n.M("wsverdict.fix.auth"), i18n.M("wsverdict.fix.origin.page"),
		i18n.Cmd("conndiag check %s --origin https://app.example.com", r.ev.Target.String())}
	return d
}

// ---- the table ----

// wsRefusalRules judge a WebSocket handshake answered with a status other
// than 101 (after the 400 that says TLS is expected).
var wsRefusalRules = []Rule[proto]{
	{ID: "ws.redirect.wss", Cause: CauseTLSExpected, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool { return r.redirectUpgrades() && r.toSecure() },
		Make: func(r proto) Draft {
			h, _ := r.lastHop()
			d := r.refusalDraft(r.redirectLines()...)
			d.Summary = i18n.M("wsverdict.redirect_wss.summary", "Location", r.location(), "URL", retryURL(h.URL))
			d.Fix = []i18n.Msg{i18n.M("wsverdict.fix.use_url", "URL", retryURL(h.URL)), i18n.M("wsverdict.fix.wss_page")}
			return d
		}, Note: "a redirect to https://, and the same handshake with wss:// there succeeds"},
	{ID: "ws.redirect.path", Cause: CauseWSPathNotFound, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: proto.redirectUpgrades,
		Make: func(r proto) Draft {
			h, _ := r.lastHop()
			d := r.refusalDraft(r.redirectLines()...)
			d.Summary = i18n.M("wsverdict.redirect_path.summary", "Location", r.location(), "URL", retryURL(h.URL))
			d.Fix = []i18n.Msg{i18n.M("wsverdict.fix.use_url", "URL", retryURL(h.URL)), i18n.M("wsverdict.fix.no_follow")}
			return d
		}, Note: "a redirect whose Location upgrades on a fresh connection: the endpoint is there"},
	{ID: "ws.redirect.https", Cause: CauseTLSExpected, Conf: Medium, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool { return r.redirected() && r.toSecure() },
		Make: func(r proto) Draft {
			h, _ := r.lastHop()
			d := r.refusalDraft(r.redirectLines()...)
			d.Summary = i18n.M("wsverdict.redirect_https.summary", "Location", r.location(), "Result", retryResult(h))
			d.Fix = []i18n.Msg{i18n.M("wsverdict.fix.https_broken"), i18n.Cmd("conndiag check %s", retryURL(h.URL))}
			return d
		}, Note: "a redirect to https://, where wss:// does not upgrade either"},
	{ID: "ws.redirect", Cause: CauseWSUpgradeRejected, Conf: Medium, Outcome: OutcomeProtocolMismatch,
		ConfOf: func(r proto) Confidence {
			if h, ok := r.lastHop(); ok && r.p.RedirectStop == evidence.StopNone && h.WS != nil && h.WS.Status >= 200 && h.WS.Status < 300 {
				return High
			}
			return Medium
		},
		When: proto.redirected,
		Make: func(r proto) Draft {
			d := r.refusalDraft(r.redirectLines()...)
			d.Summary = i18n.M("wsverdict.redirect.summary", "Location", r.location())
			d.Fix = []i18n.Msg{i18n.M("wsverdict.fix.no_follow")}
			if h, ok := r.lastHop(); ok {
				d.Fix = append(d.Fix, i18n.M("wsverdict.fix.redirect_check"), i18n.Cmd("conndiag check %s", retryURL(h.URL)))
			}
			return d
		}, Note: "a redirect that leads nowhere that speaks WebSocket (high when the last hop serves a page), or is not followed (another host, a loop, more than 3 hops)"},
	{ID: "ws.origin_rejected", Cause: CauseWSOriginRejected, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: proto.originRejected,
		Make: func(r proto) Draft {
			d := r.refusalDraft(r.originLines()...)
			d.Summary = i18n.M("wsverdict.origin.summary", "Status", r.status(), "Origin", r.ws().Origin)
			d.Fix = r.originFix()
			return d
		}, Note: "401 or 403, and the same handshake on a fresh connection with the target's own Origin (or none) is accepted"},
	{ID: "ws.origin_named", Cause: CauseWSOriginRejected, Conf: Medium, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool { s := r.status(); return (s == 401 || s == 403) && r.originNamed() },
		Make: func(r proto) Draft {
			d := r.refusalDraft(append(r.originLines(), i18n.M("wsverdict.ev.origin_named"))...)
			d.Summary = i18n.M("wsverdict.origin_named.summary", "Status", r.status())
			d.Fix = []i18n.Msg{i18n.M("wsverdict.fix.origin_list"),
				i18n.Cmd("conndiag check %s --origin https://app.example.com", r.ev.Target.String())}
			return d
		}, Note: "401 or 403 whose body says the Origin is refused (Python websockets, gorilla/websocket), and neither the target's own Origin nor none is accepted: medium, no allowed origin was seen"},
	{ID: "ws.auth", Cause: CauseWSUpgradeRejected, Conf: Medium, ConfOf: proto.authConf, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool { s := r.status(); return s == 401 || s == 403 },
		Make: proto.authDraft,
		Note: "401 or 403 that another Origin does not change: authentication (high with WWW-Authenticate), or an Origin list that allows neither"},
	{ID: "ws.unavailable", Cause: CauseWSUpgradeRejected, Conf: Medium, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool { return r.status() == 503 && r.sw().WebSocket() },
		Make: func(r proto) Draft {
			d := r.refusalDraft()
			d.Summary = i18n.M("wsverdict.unavailable.summary", "App", i18n.M("wsverdict.sw."+r.sw().App))
			d.Fix = []i18n.Msg{i18n.M("wsverdict.fix.unavailable")}
			return d
		}, Note: "the WebSocket server itself answers 503: it is shutting down or full"},
	upstreamRule,
	{ID: "ws.proxy_no_upgrade", Cause: CauseWSUpgradeRejected, Conf: High, ConfOf: proto.noUpgradeConf, Outcome: OutcomeProtocolMismatch,
		When: proto.noUpgrade,
		Make: func(r proto) Draft {
			s := r.sw()
			d := r.refusalDraft()
			who := swName(s)
			if !s.Proxy {
				who = i18n.M("wsverdict.sw.some_proxy")
			}
			d.Summary = i18n.M("wsverdict.no_upgrade.summary", "Status", r.status(), "Proxy", who)
			d.Fix = r.upgradeHeaderFix()
			return d
		}, Note: "426, a WebSocket library's refusal of a request without the upgrade, or a 400 a proxy passed on: high for 426 or the library's words, medium for a bare 400"},
	{ID: "ws.path_not_found", Cause: CauseWSPathNotFound, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool { return r.status() == 404 && r.sw().WebSocket() },
		Make: func(r proto) Draft {
			d := r.refusalDraft()
			d.Fix = []i18n.Msg{i18n.M("fix.proto.ws_404", "Path", escape.Bytes([]byte(r.ws().Path), 100))}
			return d
		}, Note: "404 from a server shown to speak WebSocket (its Server header or a WebSocket library's answer)"},
	{ID: "ws.not_found", Cause: CauseWSUpgradeRejected, Conf: Medium, Outcome: OutcomeProtocolMismatch,
		When: func(r proto) bool { return r.status() == 404 },
		Make: func(r proto) Draft {
			d := r.refusalDraft(i18n.M("wsverdict.ev.no_ws_sign"))
			d.Summary, d.Fix = r.notFoundSummary(), r.pageFix()
			return d
		}, Note: "404 with no sign of WebSocket anywhere: an HTTP server (it may serve WebSocket on a path not seen from here)"},
	{ID: "ws.upgrade_rejected", Cause: CauseWSUpgradeRejected, Conf: High, Outcome: OutcomeProtocolMismatch,
		ConfOf: func(r proto) Confidence {
			if s := r.status(); s >= 200 && s < 300 {
				return High
			}
			return Medium
		},
		When: func(r proto) bool { return r.status() != 0 },
		Make: func(r proto) Draft {
			w := r.ws()
			d := r.refusalDraft()
			if w.Header.Get("Upgrade") == "" {
				d.Lines = append(d.Lines, i18n.M("ev.proto.ws.no_upgrade"))
			}
			d.Args = []any{"Status", w.Status}
			if w.Status < 200 || w.Status >= 300 {
				d.Summary = i18n.M("wsverdict.rejected.summary", "Status", escape.Bytes([]byte(w.StatusLine), 100), "Server", swName(r.sw()))
			}
			d.Fix = r.pageFix()
			return d
		}, Note: "any other status: high for a page (2xx), medium otherwise"},
}

// ---- a server that hangs up before reading ----

// forwarders are the command names of programs that accept a connection and
// pass it on: when the backend is down, they close before reading a byte.
var forwarders = map[string]bool{
	"socat": true, "docker-proxy": true, "haproxy": true, "rinetd": true, "redir": true, "ssh": true, "sshd": true,
	"nginx": true, "envoy": true, "traefik": true, "stunnel": true, "stunnel4": true, "kube-proxy": true, "kubectl": true,
	"gost": true, "frpc": true, "frps": true, "nc": true, "ncat": true, "balance": true, "pen": true, "xinetd": true,
	"rootlessport": true, "slirp4netns": true, "pasta": true, "gvproxy": true, "vpnkit": true, "sslh": true, "caddy": true,
}

// stageExchange is the conversation of the step that failed.
func (r proto) stageExchange() evidence.Exchange {
	switch {
	case r.p.TLS != nil && !r.p.TLS.Done:
		return r.p.TLS.Exchange
	case r.p.WS != nil:
		return r.p.WS.Exchange
	case r.p.HTTP != nil:
		return r.p.HTTP.Exchange
	case r.p.Message != nil:
		return r.p.Message.Exchange
	}
	return evidence.Exchange{}
}

func closedEmpty(e evidence.Exchange) bool {
	return e.ReceivedN == 0 && (e.Reply == evidence.ReplyClosed || e.Reply == evidence.ReplyReset)
}

// closesUnread: the server closed (or reset) the handshake and every fresh
// connection without a byte, one of them before conndiag had sent anything.
func (r proto) closesUnread() bool {
	if !closedEmpty(r.stageExchange()) {
		return false
	}
	idle := false
	for _, t := range r.p.Tries {
		switch {
		case t.DialErr != nil:
		case !closedEmpty(t.Exchange):
			return false
		case t.Kind == evidence.TryIdle:
			idle = true
		}
	}
	return idle
}

// forwarderCloses: the connections are closed unread the way a forwarder
// whose backend is down closes them: the one that sent nothing with a FIN
// (an RST comes only for what it did not read), or the listener is a known
// forwarder. A server that resets every connection at once resets that one
// too, and is reset_by_peer.
func (r proto) forwarderCloses() bool {
	if !r.closesUnread() {
		return false
	}
	if _, ok := r.forwarder(); ok {
		return true
	}
	for _, t := range r.p.Tries {
		if t.Kind == evidence.TryIdle && t.DialErr == nil && t.Reply == evidence.ReplyClosed {
			return true
		}
	}
	return false
}

// forwarder is the listening process that is a known forwarder, if any.
func (r proto) forwarder() (evidence.Owner, bool) {
	for _, o := range r.p.Holders {
		if forwarders[o.Process] {
			return o, true
		}
	}
	return evidence.Owner{}, false
}

func (r proto) holderIsServer() bool {
	_, fw := r.forwarder()
	return r.closesUnread() && len(r.p.Holders) > 0 && !fw
}

// idleLine says what a fresh connection on which nothing was sent did.
func idleLine(t evidence.Try) i18n.Msg {
	switch t.Reply {
	case evidence.ReplyClosed, evidence.ReplyReset:
		how := i18n.M("wsverdict.close.fin")
		if t.Reply == evidence.ReplyReset {
			how = i18n.M("wsverdict.close.rst")
		}
		return i18n.M("wsverdict.ev.idle_closed", "How", how, "Dur", Dur(t.Duration))
	case evidence.ReplyAnswered:
		return i18n.M("wsverdict.ev.idle_greeting", "Bytes", show(t.Received, t.ReceivedN), "Service", serviceName(t.Service.Name))
	case evidence.ReplySilent:
		return i18n.M("wsverdict.ev.idle_silent", "Dur", Dur(t.Duration))
	}
	errText := ""
	if t.Err != nil {
		errText = t.Err.Error()
	}
	return i18n.M("wsverdict.ev.idle_error", "Err", errText)
}

func (r proto) unreadLines() []i18n.Msg {
	e := r.stageExchange()
	what := r.what
	if what.ID == "" {
		what = r.stageWhat()
	}
	lines := r.lines(r.noAnswerLine(e.Reply, what, r.p.Timeout))
	lines = append(lines, r.tryLines()...)
	for _, o := range r.p.Holders {
		lines = append(lines, i18n.M("wsverdict.ev.holder", "Process", o.Process, "PID", o.PID, "Port", r.port))
	}
	return lines
}

func (r proto) stageWhat() i18n.Msg {
	switch {
	case r.p.TLS != nil && !r.p.TLS.Done:
		return i18n.M("what.tls")
	case r.p.WS != nil:
		return i18n.M("what.ws")
	case r.p.HTTP != nil:
		return i18n.M("what.http")
	}
	return r.msgWhat()
}

// closedOutcome is what a client meets when the server hangs up: a reset,
// or the handshake it was in fails.
func (r proto) closedOutcome() Outcome {
	switch {
	case r.stageExchange().Reply == evidence.ReplyReset:
		return OutcomeReset
	case r.p.TLS != nil && !r.p.TLS.Done:
		return OutcomeTLSFailure
	}
	return OutcomeProtocolMismatch
}

// closedUnreadRules come first where a closed or reset connection is
// judged (TLS, not-HTTP, text and frame): a server that hangs up before it
// has read a byte is not refusing what the client said.
func closedUnreadRules(stage string) []Rule[proto] {
	return []Rule[proto]{
		{ID: stage + ".closed_unread.server", Cause: CauseResetByPeer, Conf: High, OutcomeOf: proto.closedOutcome,
			When: proto.holderIsServer,
			Make: func(r proto) Draft {
				o := r.p.Holders[0]
				return Draft{Summary: i18n.M("wsverdict.closes_unread_server.summary", "Process", o.Process, "PID", o.PID, "Port", r.port),
					Lines: r.unreadLines(),
					Fix:   []i18n.Msg{i18n.M("wsverdict.fix.closes_unread_server", "Process", o.Process), i18n.Cmd("ps -o args= -p %d", o.PID)}}
			},
			Also: []Rule[proto]{{ID: stage + ".closed_unread.server.maybe_forwarder", Cause: CauseProxyUpstreamFailed, Conf: Low, When: always[proto],
				Make: func(r proto) Draft {
					o := r.p.Holders[0]
					return Draft{Summary: i18n.M("wsverdict.maybe_forwarder.summary", "Process", o.Process),
						Fix: []i18n.Msg{i18n.Cmd("ps -o args= -p %d", o.PID)}}
				}}},
			Note: "this machine's listener, not a known forwarder, closes before reading"},
		{ID: stage + ".closed_unread", Cause: CauseProxyUpstreamFailed, Conf: Medium, OutcomeOf: proto.closedOutcome,
			ConfOf: func(r proto) Confidence {
				if _, ok := r.forwarder(); ok {
					return High
				}
				return Medium
			},
			When: proto.forwarderCloses,
			Make: func(r proto) Draft {
				d := Draft{Lines: r.unreadLines()}
				if o, ok := r.forwarder(); ok {
					d.Summary = i18n.M("wsverdict.forwarder.summary", "Process", o.Process, "PID", o.PID, "Port", r.port)
					d.Fix = []i18n.Msg{i18n.M("wsverdict.fix.forwarder", "Process", o.Process), i18n.Cmd("ps -o args= -p %d", o.PID)}
					if o.Process == "docker-proxy" {
						d.Fix = append(d.Fix, i18n.M("wsverdict.fix.docker"), i18n.Cmd("docker ps"))
					}
					return d
				}
				d.Summary = i18n.M("wsverdict.closes_unread.summary", "Port", r.port)
				d.Fix = []i18n.Msg{i18n.M("wsverdict.fix.closes_unread", "Port", r.port), listenCheckCmd(r.port),
					i18n.M("wsverdict.fix.docker"), i18n.Cmd("docker ps")}
				return d
			},
			Also: []Rule[proto]{{ID: stage + ".closed_unread.maybe_server", Cause: CauseResetByPeer, Conf: Low,
				When: func(r proto) bool { _, ok := r.forwarder(); return !ok },
				Make: func(r proto) Draft {
					return Draft{Summary: i18n.M("wsverdict.maybe_server.summary", "Port", r.port)}
				}}},
			Note: "the handshake and every fresh connection closed without a byte, one before anything was sent: a forwarder whose backend is down; high when this machine's listener is socat, docker-proxy, haproxy, ssh, …, medium from afar"},
	}
}

// insertBefore puts rows into table before the row id.
func insertBefore(id string, rows, table []Rule[proto]) []Rule[proto] {
	for i, r := range table {
		if r.ID == id {
			return append(append(append([]Rule[proto]{}, table[:i]...), rows...), table[i:]...)
		}
	}
	panic("verdict: no rule " + id)
}

// ---- TLS where the other end is plain, plain where it speaks TLS ----

// plainSoftware is who answered a ClientHello (or, on a fresh connection,
// a plain HTTP request) in plain HTTP.
func (r proto) plainSoftware() evidence.Software {
	if t := r.p.TLS; t != nil {
		if code, line, h, body, ok := evidence.ParseHead(t.Received); ok {
			return evidence.Identify(code, line, h, body)
		}
	}
	if tr, ok := r.tryAnswered(evidence.TryHTTP); ok {
		if code, line, h, body, ok := evidence.ParseHead(tr.Received); ok {
			return evidence.Identify(code, line, h, body)
		}
	}
	return evidence.Software{}
}

// tlsServerSoftware is who answered a plain request on a TLS port, when its
// complaint shows it (nginx's 400 "The plain HTTP request was sent to HTTPS port").
func (r proto) tlsServerSoftware() evidence.Software {
	if r.p.WS != nil || r.p.HTTP != nil {
		return r.sw()
	}
	return evidence.Software{}
}

// enableTLSFix: how the plain server identified serves TLS; nil when it is
// not one conndiag can name (Workerman or unknown: the caller says it in
// Workerman's terms).
func (r proto) enableTLSFix(s evidence.Software) []i18n.Msg {
	switch s.Name {
	case evidence.SoftNginx:
		return []i18n.Msg{i18n.M("wsverdict.fix.nginx_tls", "Port", r.port),
			i18n.Snippet("listen %d ssl;", r.port),
			i18n.Snippet("ssl_certificate     /etc/letsencrypt/live/example.com/fullchain.pem;"),
			i18n.Snippet("ssl_certificate_key /etc/letsencrypt/live/example.com/privkey.pem;"),
			i18n.M("wsverdict.fix.nginx_reload"), i18n.Cmd("nginx -t && nginx -s reload")}
	case evidence.SoftApache:
		return []i18n.Msg{i18n.M("wsverdict.fix.apache_tls", "Port", r.port),
			i18n.Snippet("SSLEngine on"),
			i18n.Snippet("SSLCertificateFile    /etc/letsencrypt/live/example.com/fullchain.pem"),
			i18n.Snippet("SSLCertificateKeyFile /etc/letsencrypt/live/example.com/privkey.pem"),
			i18n.Cmd("a2enmod ssl && systemctl reload apache2")}
	case evidence.SoftCaddy:
		return []i18n.Msg{i18n.M("wsverdict.fix.caddy_tls")}
	case evidence.SoftGo, evidence.SoftNode, evidence.SoftPythonWS, evidence.SoftPythonHTTP, evidence.SoftOther:
		return []i18n.Msg{i18n.M("wsverdict.fix.app_tls", "Software", swName(s)), i18n.M("fix.proto.tls_unexpected.proxy")}
	}
	return nil
}
