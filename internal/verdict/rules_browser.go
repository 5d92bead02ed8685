package verdict

import (
	"strings"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
)

// The browser stage judges one WebSocket connection a browser opened from
// listen's check page. A page script learns almost nothing (a bare error
// event, close 1006), but when the URL is an endpoint of the same listen the
// server saw the other half: whether the connection arrived, from where,
// and how its handshake went. A silent port gives the script nothing for
// 240 s in Chromium, so the page gives up on its own timer (GaveUp), and an
// error before that timer is an answer: something refused. The first row
// that holds decides; its alternatives follow it.

// Browser is the evidence of one browser connection (internal/evidence).
type (
	Browser = evidence.Browser
	Death   = evidence.Death
)

type brw struct{ b Browser }

func (x brw) seen() evidence.BrowserSide { return x.b.Seen }
func (x brw) srv() evidence.ServerSide   { return x.b.Server }

// failed: the connection never opened and the browser told the page so
// (error or close) before the page's own timer ran out.
func (x brw) failed() bool {
	s := x.seen()
	return !s.Opened && !s.GaveUp && (s.Errored || s.Closed) && s.Thrown == ""
}

// failedAfter is when the browser reported the failure.
func (x brw) failedAfter() time.Duration {
	s := x.seen()
	if s.Errored && (!s.Closed || s.Error <= s.Close) {
		return s.Error
	}
	return s.Close
}

// idleDeaths are the held connections that died without a clean close from
// the server (a clean 1001 is the server shutting down, not an idle timeout).
func (x brw) idleDeaths() []Death {
	var out []Death
	for _, d := range x.seen().Deaths {
		if !(d.Clean && d.Code == 1001) {
			out = append(out, d)
		}
	}
	return out
}

// sameAge: at least two held connections died at the same age (within a
// second or 10 %), opened at different times: a timer, not an accident.
func (x brw) sameAge() bool {
	ds := x.idleDeaths()
	if len(ds) < 2 {
		return false
	}
	lo, hi := ds[0].Age, ds[0].Age
	for _, d := range ds[1:] {
		lo, hi = min(lo, d.Age), max(hi, d.Age)
	}
	return hi-lo <= max(time.Second, hi/10)
}

// age is the typical age of the deaths (the shortest).
func (x brw) age() time.Duration {
	ds := x.idleDeaths()
	a := ds[0].Age
	for _, d := range ds[1:] {
		a = min(a, d.Age)
	}
	return a
}

func (x brw) ownArrived() bool { return x.b.Own && x.srv().Arrived }

func (x brw) status() int { return x.srv().Status }

func (x brw) rejected() bool {
	return x.ownArrived() && !x.srv().Upgraded && x.status() != 0 && x.status() != 101 && !x.srv().NotHTTP
}

// otherURL is the URL with the other WebSocket scheme.
func (x brw) otherURL(scheme string) string {
	if _, rest, ok := strings.Cut(x.b.URL, "://"); ok {
		return scheme + "://" + rest
	}
	return scheme + "://" + x.b.URL
}

// lines are the evidence of every browser finding: what the browser saw,
// then what the server saw.
func (x brw) lines() []i18n.Msg {
	b, s := x.b, x.seen()
	var out []i18n.Msg
	if s.Thrown != "" {
		out = append(out, i18n.M("page.ev.thrown", "URL", b.URL, "Name", s.Thrown, "Msg", s.ThrownMsg))
	}
	if s.Opened {
		out = append(out, i18n.M("page.ev.open", "Dur", Dur(s.Open)))
	}
	if s.Echo {
		out = append(out, i18n.M("page.ev.echo"))
	}
	if s.Errored {
		out = append(out, i18n.M("page.ev.error", "Dur", Dur(s.Error)))
	}
	if s.Closed {
		out = append(out, i18n.M("page.ev.close", "Dur", Dur(s.Close), "Code", s.Code, "Reason", s.Reason, "Clean", s.Clean))
	}
	if s.GaveUp {
		out = append(out, i18n.M("page.ev.gave_up", "Timeout", Dur(b.Timeout)))
	}
	for _, d := range s.Deaths {
		out = append(out, i18n.M("page.ev.death", "Age", Dur(d.Age), "Code", d.Code))
	}
	if s.Held > 0 && len(s.Deaths) > 0 {
		out = append(out, i18n.M("page.ev.held", "Dur", Dur(s.Held)))
	}
	if b.PagePort != 0 && b.PageFrom.IsValid() {
		out = append(out, i18n.M("page.ev.page", "Port", b.PagePort, "From", b.PageFrom.String()))
	}
	if b.Check != "" {
		out = append(out, i18n.M("page.ev.check", "URL", b.URL, "Cause", b.Check))
	}
	if !b.Own || s.Thrown != "" {
		return out
	}
	v := x.srv()
	if !v.Arrived {
		return append(out, i18n.M("page.ev.not_arrived", "Port", b.Port))
	}
	out = append(out, i18n.M("page.ev.arrived", "Port", b.Port, "From", v.From.String()))
	if b.PageFrom.IsValid() && v.From.Addr().Unmap() != b.PageFrom.Unmap() {
		out = append(out, i18n.M("page.ev.arrived_other", "From", v.From.Addr().String(), "Page", b.PageFrom.String()))
	}
	switch {
	case v.TLSFailed:
		out = append(out, i18n.M("page.ev.tls_failed", "Err", v.TLSErr))
	case v.NotHTTP:
		out = append(out, i18n.M("page.ev.not_http"))
	case v.Upgraded:
		out = append(out, i18n.M("page.ev.upgraded"))
	case v.Status != 0 && v.HTTP:
		out = append(out, i18n.M("page.ev.status_http", "Status", v.Status, "Port", b.Port))
	case v.Status != 0:
		out = append(out, i18n.M("page.ev.status", "Status", v.Status))
	default:
		out = append(out, i18n.M("page.ev.no_request"))
	}
	switch {
	case v.Ended:
		out = append(out, i18n.M("page.ev.ended", "Age", Dur(v.Age), "Why", v.End))
	case len(s.Deaths) > 0:
		out = append(out, i18n.M("page.ev.still_open"))
	}
	return out
}

func (x brw) draft(summary i18n.Msg, fix ...i18n.Msg) Draft {
	d := Draft{Summary: summary, Lines: x.lines(), FixArgs: FixArgs{Port: x.b.Port, Host: x.b.Host}}
	if len(fix) > 0 {
		d.Fix = fix
	}
	return d
}

// Alternatives of a connection that failed without arriving.
var (
	brwProxy = Rule[brw]{ID: "browser.alt_proxy", Cause: CauseProxyInPath, Conf: Low,
		When: func(brw) bool { return true },
		Make: func(x brw) Draft {
			return Draft{Summary: i18n.M("page.sum.proxy"), Fix: []i18n.Msg{i18n.M("page.fix.proxy")}}
		}}
	brwExtension = Rule[brw]{ID: "browser.alt_extension", Cause: CauseBlockedByClient, Conf: Low,
		When: func(brw) bool { return true },
		Make: func(x brw) Draft {
			return Draft{Summary: i18n.M("page.sum.extension"), Fix: []i18n.Msg{i18n.M("page.fix.extension")}}
		}}
	brwClientFirewall = Rule[brw]{ID: "browser.alt_client_firewall", Cause: CauseClientFirewall, Conf: Low,
		When: func(brw) bool { return true },
		Make: func(x brw) Draft {
			return Draft{Summary: i18n.M("page.sum.client_firewall", "Port", x.b.Port), Fix: []i18n.Msg{i18n.M("page.fix.client_firewall")}}
		}}
)

var browserRules = []Rule[brw]{
	{ID: "browser.mixed_content", Cause: CauseBlockedByClient, Conf: High, Outcome: OutcomeLocalError,
		When: func(x brw) bool { return x.seen().Thrown == "SecurityError" && x.b.PageTLS && x.b.Scheme == "ws" },
		Make: func(x brw) Draft {
			return x.draft(i18n.M("page.sum.mixed", "URL", x.b.URL),
				i18n.M("page.fix.wss", "URL", x.otherURL("wss")), i18n.M("page.fix.http_page"))
		}, Note: "SecurityError from the constructor: ws:// from an https:// page"},
	{ID: "browser.thrown_security", Cause: CauseBlockedByClient, Conf: Medium, Outcome: OutcomeLocalError,
		When: func(x brw) bool { return x.seen().Thrown == "SecurityError" },
		Make: func(x brw) Draft { return x.draft(i18n.M("page.sum.thrown", "URL", x.b.URL)) },
		Note: "a blocked port, Content-Security-Policy, private-network access"},
	{ID: "browser.thrown", Cause: CauseUnknown, Conf: Medium, Outcome: OutcomeLocalError,
		When: func(x brw) bool { return x.seen().Thrown != "" },
		Make: func(x brw) Draft {
			return x.draft(i18n.M("page.sum.thrown_other", "URL", x.b.URL, "Name", x.seen().Thrown), i18n.M("page.fix.url"))
		}},
	{ID: "browser.idle_listen", Cause: CauseIdleTimeout, Conf: High, Outcome: OutcomeReset,
		When: func(x brw) bool { return len(x.idleDeaths()) > 0 && x.b.Own && x.srv().End == "idle_timeout" },
		Make: func(x brw) Draft {
			return x.draft(i18n.M("page.sum.idle_listen", "Age", Dur(x.srv().Age)), i18n.M("page.fix.idle_listen"))
		}, Note: "this listen's own --idle-timeout closed it"},
	{ID: "browser.idle", Cause: CauseIdleTimeout, Conf: High, Outcome: OutcomeReset,
		When: brw.sameAge,
		Make: func(x brw) Draft { return x.draft(i18n.M("page.sum.idle", "URL", x.b.URL, "Age", Dur(x.age()))) },
		Note: "two held connections, opened at different times, died at the same age"},
	{ID: "browser.idle_once", Cause: CauseIdleTimeout, Conf: Low, Outcome: OutcomeReset,
		ConfOf: func(x brw) Confidence {
			if v := x.srv(); x.b.Own && (!v.Ended || v.End == "client_closed" || v.End == "reset") {
				return Medium // the server did not close it: something in between did
			}
			return Low
		},
		When: func(x brw) bool { return len(x.idleDeaths()) > 0 },
		Make: func(x brw) Draft { return x.draft(i18n.M("page.sum.idle_once", "URL", x.b.URL, "Age", Dur(x.age()))) },
		Note: "one held connection died; medium when this listen did not close it"},
	{ID: "browser.tls_unexpected", Cause: CauseTLSUnexpected, Conf: High, Outcome: OutcomeTLSFailure,
		When: func(x brw) bool { return x.ownArrived() && x.srv().NotHTTP && !x.srv().TLS && x.b.Scheme == "wss" },
		Make: func(x brw) Draft {
			return x.draft(i18n.M("page.sum.tls_unexpected", "Port", x.b.Port), i18n.M("page.fix.scheme", "URL", x.otherURL("ws")))
		}},
	{ID: "browser.tls_expected", Cause: CauseTLSExpected, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: func(x brw) bool { return x.ownArrived() && x.srv().TLSFailed && x.b.Scheme == "ws" },
		Make: func(x brw) Draft {
			return x.draft(i18n.M("page.sum.tls_expected", "Port", x.b.Port), i18n.M("page.fix.scheme", "URL", x.otherURL("wss")))
		}},
	{ID: "browser.tls_certificate", Cause: CauseTLSCertificate, Conf: Medium, Outcome: OutcomeTLSFailure,
		When: func(x brw) bool { return x.ownArrived() && x.srv().TLSFailed },
		Make: func(x brw) Draft {
			return x.draft(i18n.M("page.sum.tls_certificate", "Port", x.b.Port),
				i18n.M("page.fix.certificate", "URL", "https://"+hostPortOf(x.b.URL)+"/"))
		}, Note: "the browser's connection arrived and its TLS handshake failed (a self-signed certificate)"},
	{ID: "browser.not_http", Cause: CauseNotHTTP, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: func(x brw) bool { return x.ownArrived() && x.srv().Plain },
		Make: func(x brw) Draft { return x.draft(i18n.M("page.sum.not_http", "Port", x.b.Port)) },
		Note: "the handshake reached a text, frame or raw tcp endpoint"},
	{ID: "browser.ws_path", Cause: CauseWSPathNotFound, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: func(x brw) bool { return x.rejected() && x.status() == 404 },
		Make: func(x brw) Draft { return x.draft(Catalog(CauseWSPathNotFound).summary()) }},
	{ID: "browser.ws_origin", Cause: CauseWSOriginRejected, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: func(x brw) bool { return x.rejected() && x.status() == 403 },
		Make: func(x brw) Draft { return x.draft(Catalog(CauseWSOriginRejected).summary()) }},
	{ID: "browser.ws_rejected", Cause: CauseWSUpgradeRejected, Conf: High, Outcome: OutcomeProtocolMismatch,
		When: brw.rejected,
		Make: func(x brw) Draft {
			return x.draft(i18n.M("page.sum.ws_rejected", "Port", x.b.Port, "Status", x.status()))
		}, Note: "the handshake arrived and got a status other than 101"},
	{ID: "browser.ok", Cause: CauseOK, Conf: High, Outcome: OutcomeOK,
		ConfOf: func(x brw) Confidence {
			if x.b.Own && !x.srv().Upgraded {
				return Medium
			}
			return High
		},
		When: func(x brw) bool { s := x.seen(); return s.Opened && !s.Closed },
		Make: func(x brw) Draft {
			d := x.draft(i18n.M("page.sum.ok", "URL", x.b.URL, "Dur", Dur(x.seen().Open), "Echo", x.seen().Echo))
			d.Fix = []i18n.Msg{}
			return d
		}, Note: "open (and, for an endpoint of this listen, 101 seen by the server; medium otherwise)"},
	{ID: "browser.closed_early", Cause: CauseResetByPeer, Conf: Medium, Outcome: OutcomeReset,
		ConfOf: func(x brw) Confidence {
			if x.seen().Clean {
				return Low
			}
			return Medium
		},
		When: func(x brw) bool { return x.seen().Opened && x.seen().Closed },
		Make: func(x brw) Draft {
			s := x.seen()
			return x.draft(i18n.M("page.sum.closed_early", "URL", x.b.URL, "Dur", Dur(s.Close-s.Open), "Code", s.Code))
		}, Note: "opened, then closed before the page held it (low when the close was clean)"},
	{ID: "browser.upgraded_not_open", Cause: CauseProxyInPath, Conf: Low, Outcome: OutcomeProtocolMismatch,
		When: func(x brw) bool { return x.ownArrived() && x.srv().Upgraded },
		Make: func(x brw) Draft {
			return x.draft(i18n.M("page.sum.upgraded_not_open"), i18n.M("page.fix.proxy"), i18n.M("page.fix.extension"))
		}, Note: "101 sent, yet the browser failed: something in between altered the answer"},
	{ID: "browser.no_request", Cause: CauseUnknown, Conf: Low, Outcome: OutcomeTimeout,
		When: brw.ownArrived,
		Make: func(x brw) Draft {
			return x.draft(i18n.M("page.sum.no_request", "Port", x.b.Port), i18n.M("page.fix.proxy"))
		}, Note: "the connection arrived, no handshake followed"},
	{ID: "browser.bad_port", Cause: CauseBlockedByClient, Conf: High, Outcome: OutcomeLocalError,
		When: func(x brw) bool { return x.failed() && !x.ownArrived() && BadBrowserPort(x.b.Port) },
		Make: func(x brw) Draft {
			return x.draft(i18n.M("page.sum.bad_port", "Port", x.b.Port), i18n.M("page.fix.bad_port", "Port", x.b.Port))
		}, Note: "a port on the Fetch standard's list of bad ports: the browser fails it at once (net::ERR_UNSAFE_PORT) and sends nothing"},
	{ID: "browser.filtered", Cause: CauseFiltered, Conf: Medium, Outcome: OutcomeTimeout,
		When: func(x brw) bool { return x.b.Own && x.seen().GaveUp },
		Make: func(x brw) Draft {
			return x.draft(i18n.M("page.sum.filtered", "PagePort", x.b.PagePort, "Port", x.b.Port, "Timeout", Dur(x.b.Timeout)))
		}, Also: []Rule[brw]{brwClientFirewall},
		Note: "HTTP reached this listen, the browser's connection to the WebSocket port never arrived before the page gave up"},
	{ID: "browser.refused_own", Cause: CauseFirewallReject, Conf: Medium, Outcome: OutcomeRefused,
		When: func(x brw) bool { return x.b.Own && x.failed() },
		Make: func(x brw) Draft {
			return x.draft(i18n.M("page.sum.refused_own", "Port", x.b.Port, "Dur", Dur(x.failedAfter())))
		}, Also: []Rule[brw]{brwProxy, brwExtension},
		Note: "an error before the page's timer, nothing arrived, while this endpoint listens"},
	{ID: "browser.server_reaches", Cause: CauseClientFirewall, Conf: Medium, Outcome: OutcomeTimeout,
		When: func(x brw) bool { return !x.b.Own && x.b.Check == string(CauseOK) && (x.seen().GaveUp || x.failed()) },
		Make: func(x brw) Draft {
			return x.draft(i18n.M("page.sum.server_reaches", "URL", x.b.URL), i18n.M("page.fix.client_firewall"))
		}, Also: []Rule[brw]{brwProxy, brwExtension},
		Note: "conndiag check from the server reaches the URL, the browser does not"},
	{ID: "browser.refused", Cause: CauseNotListening, Conf: Low, Outcome: OutcomeRefused,
		ConfOf: func(x brw) Confidence {
			if x.b.Check == string(CauseNotListening) {
				return Medium
			}
			return Low
		},
		When: brw.failed,
		Make: func(x brw) Draft {
			return x.draft(i18n.M("page.sum.refused", "URL", x.b.URL, "Dur", Dur(x.failedAfter())))
		}, Also: []Rule[brw]{brwProxy, brwExtension},
		Note: "an error within the page's timer: an answer, most often a refusal (medium when check from the server agrees)"},
	{ID: "browser.timeout", Cause: CauseFiltered, Conf: Low, Outcome: OutcomeTimeout,
		ConfOf: func(x brw) Confidence {
			if x.b.Check == string(CauseFiltered) {
				return Medium
			}
			return Low
		},
		When: func(x brw) bool { return x.seen().GaveUp },
		Make: func(x brw) Draft {
			return x.draft(i18n.M("page.sum.timeout", "URL", x.b.URL, "Timeout", Dur(x.b.Timeout)))
		}, Also: []Rule[brw]{brwClientFirewall},
		Note: "no answer before the page gave up (medium when check from the server agrees)"},
	{ID: "browser.unknown", Cause: CauseUnknown, Conf: Low, Outcome: OutcomeLocalError,
		When: func(brw) bool { return true },
		Make: func(x brw) Draft { return x.draft(i18n.M("page.sum.unknown", "URL", x.b.URL)) }},
}

// badPorts are the Fetch standard's bad ports (fetch.spec.whatwg.org,
// "port blocking", with 4190 and 6679 added in 2024): a browser fails a
// fetch or a WebSocket to them at once, before any packet is sent.
var badPorts = map[uint16]bool{
	0: true, 1: true, 7: true, 9: true, 11: true, 13: true, 15: true, 17: true, 19: true, 20: true, 21: true, 22: true,
	23: true, 25: true, 37: true, 42: true, 43: true, 53: true, 69: true, 77: true, 79: true, 87: true, 95: true,
	101: true, 102: true, 103: true, 104: true, 109: true, 110: true, 111: true, 113: true, 115: true, 117: true,
	119: true, 123: true, 135: true, 137: true, 139: true, 143: true, 161: true, 179: true, 389: true, 427: true,
	465: true, 512: true, 513: true, 514: true, 515: true, 526: true, 530: true, 531: true, 532: true, 540: true,
	548: true, 554: true, 556: true, 563: true, 587: true, 601: true, 636: true, 989: true, 990: true, 993: true,
	995: true, 1719: true, 1720: true, 1723: true, 2049: true, 3659: true, 4045: true, 4190: true, 5060: true,
	5061: true, 6000: true, 6566: true, 6665: true, 6666: true, 6667: true, 6668: true, 6669: true, 6679: true,
	6697: true, 10080: true,
}

// BadBrowserPort reports whether browsers refuse to connect to port.
func BadBrowserPort(port uint16) bool { return badPorts[port] }

// summary is the cause's catalog summary without arguments.
func (c CauseInfo) summary() i18n.Msg { return i18n.M("cause." + string(c.Cause) + ".summary") }

func hostPortOf(url string) string {
	_, rest, _ := strings.Cut(url, "://")
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// DecideBrowser judges one browser connection. check is what conndiag
// check from the server found for a typed URL (nil when it did not run):
// when the browser's own view only says "refused" or "no answer" and the
// server's check names a cause that is not the browser's first guess, the
// check's verdict comes first, carrying the browser's evidence, since it
// measured what the browser could not.
func DecideBrowser(b Browser, check []Finding) []Finding {
	fs, _, _ := decideFirst(browserRules, brw{b})
	if len(check) == 0 || b.Own || len(fs) == 0 {
		return rank(fs, false)
	}
	first := check[0]
	switch fs[0].Rule {
	case "browser.refused", "browser.timeout":
	default:
		return rank(fs, false)
	}
	if first.Cause == CauseOK || first.Cause == fs[0].Cause {
		return rank(fs, false)
	}
	// The check explains the failure; the browser's own first guess goes,
	// its alternatives (a proxy, an extension) stay.
	lead := first
	lead.Evidence = append(brw{b}.lines(), first.Evidence...)
	lead.place = PlaceVerdict
	return rank(append([]Finding{lead}, fs[1:]...), false)
}
