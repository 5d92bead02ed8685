package explain

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/conndiag/conndiag/internal/i18n"
	v "github.com/conndiag/conndiag/internal/verdict"
)

func confRank(c v.Confidence) int {
	switch c {
	case v.High:
		return 0
	case v.Medium:
		return 1
	}
	return 2
}

// Placeholders stand in for what the text does not name; like commands, they
// are not translated.
const (
	phHost   = "HOST"
	phPort   = "PORT"
	phAddr   = "HOST:PORT"
	phStatus = "NNN"
	phSource = "SOURCE_IP"
)

// args fills every argument a cause's summary and fix can use.
func args(t Target, status string) []any {
	host, port, addr := phHost, phPort, phAddr
	if t.Host != "" {
		host = t.Host
		addr = t.Host
		if strings.Contains(addr, ":") {
			addr = "[" + addr + "]"
		}
		if t.Port != 0 {
			addr += ":" + strconv.Itoa(int(t.Port))
		} else {
			addr += ":" + phPort
		}
	}
	if t.Port != 0 {
		port = strconv.Itoa(int(t.Port))
	}
	if status == "" {
		status = phStatus
	}
	return []any{"Addr", addr, "Host", host, "Port", port, "Dst", addr, "Source", phSource,
		"Status", status, "Where", i18n.M("explain.where")}
}

func statusOf(note string) string {
	if s, ok := strings.CutPrefix(note, "HTTP "); ok {
		return s
	}
	return ""
}

// ownSummary replaces a cause's summary where check's states what it
// measured ("while the host is up") and a pasted line cannot show it.
var ownSummary = map[v.Cause]string{
	v.CauseFiltered: "explain.cause.filtered.summary",
}

// findings turns ranked causes into findings: every finding carries the same
// evidence (the line and what it means), its cause's fix, and how to tell it
// from the others.
func findings(rs []rank, res Result) []v.Finding {
	a := args(res.Target, statusOf(res.Note))
	ev := []i18n.Msg{i18n.M("explain.ev.line", "N", res.Line, "From", res.From, "Line", res.Text)}
	if res.Note != "" {
		ev = append(ev, i18n.M("explain.ev.code", "Code", res.Note))
	}
	ev = append(ev, i18n.M("explain.sig."+meaning[res.Signal], a...))
	if res.Context != "" && res.Context != "read" && res.Context != "ws_phase" && res.Context != "tls_phase" {
		ev = append(ev, i18n.M("explain.ctx."+res.Context))
	}
	if len(rs) > 0 {
		if adj := adjustNote(rs[0], res); adj != "" {
			ev = append(ev, i18n.M(adj, a...))
		}
	}
	out := make([]v.Finding, 0, len(rs))
	for _, c := range rs {
		summary := "cause." + string(c.cause) + ".summary"
		if own, ok := ownSummary[c.cause]; ok {
			summary = own
		}
		f := v.Finding{Cause: c.cause, Confidence: c.conf, Summary: i18n.M(summary, a...)}
		f.Evidence = ev
		f.Fix = append([]i18n.Msg{i18n.M("cause."+string(c.cause)+".fix", a...)}, fixCmds(c.cause, res.Target)...)
		f.Fix = append(f.Fix, i18n.M("explain.how", "How", i18n.M("explain.cause."+string(c.cause)+".how", a...)))
		out = append(out, f)
	}
	return out
}

// adjustNote explains a cause that the target, not the message, put first.
func adjustNote(first rank, res Result) string {
	switch {
	case first.cause == v.CauseFamilyMismatch && res.Signal == "refused":
		return "explain.adj.localhost_v6"
	case first.cause == v.CauseFamilyMismatch && res.Signal == "net_unreach":
		return "explain.adj.no_v6_route"
	case first.cause == v.CauseFirewallReject && res.Signal == "host_unreach":
		return "explain.adj.loopback_unreach"
	}
	return ""
}

// fixCmds are the commands that follow a cause's fix text.
func fixCmds(c v.Cause, t Target) []i18n.Msg {
	port := phPort
	if t.Port != 0 {
		port = strconv.Itoa(int(t.Port))
	}
	host := t.Host
	if host == "::1" && (c == v.CauseFamilyMismatch || c == v.CauseDNSFailure) {
		host = "localhost"
	}
	switch c {
	case v.CauseNotListening:
		return []i18n.Msg{i18n.Cmd("ss -ltnp 'sport = :%s'", port)}
	case v.CauseBoundToLoopback, v.CauseBoundToOtherAddress, v.CauseOtherService:
		return []i18n.Msg{i18n.Cmd("conndiag server %s", port)}
	case v.CauseFiltered, v.CauseFirewallLocal, v.CauseFilteredUpstream, v.CauseAcceptQueueOverflow:
		return []i18n.Msg{i18n.Cmd("conndiag server --watch 60s %s", port)}
	case v.CauseDNSFailure, v.CauseFamilyMismatch, v.CauseDNSMismatch:
		if host != "" {
			return []i18n.Msg{i18n.Cmd("getent ahosts %s", host)}
		}
	case v.CauseNoRoute:
		if _, err := netip.ParseAddr(host); err == nil {
			return []i18n.Msg{i18n.Cmd("ip route get %s", host)}
		}
		return []i18n.Msg{i18n.Cmd("ip route")}
	case v.CauseSourceAddressInvalid:
		return []i18n.Msg{i18n.Cmd("ip -br addr")}
	case v.CauseFDExhausted:
		return []i18n.Msg{i18n.Cmd("ulimit -n 65535")}
	case v.CauseEphemeralPortsExhausted:
		return []i18n.Msg{i18n.Cmd("sysctl net.ipv4.ip_local_port_range net.ipv4.tcp_tw_reuse"), i18n.Cmd("ss -tan state time-wait | wc -l")}
	case v.CauseProxyInPath:
		return []i18n.Msg{i18n.Cmd("env | grep -i _proxy")}
	case v.CauseTLSCertificate, v.CauseTLSObsolete, v.CauseTLSClientCertificate, v.CauseTLSExpected, v.CauseTLSUnexpected:
		if host != "" {
			p := port
			if t.Port == 0 {
				p = "443"
			}
			return []i18n.Msg{i18n.Cmd("openssl s_client -connect %s -servername %s </dev/null", joinHP(host, p), host)}
		}
	case v.CauseWSUpgradeRejected, v.CauseWSPathNotFound, v.CauseWSOriginRejected, v.CauseNotHTTP:
		if host != "" {
			u := Target{Scheme: "http", Host: host, Port: t.Port, Path: t.Path}
			if t.Scheme == "wss" || t.Scheme == "https" {
				u.Scheme = "https"
			}
			if u.Path == "" {
				u.Path = "/"
			}
			return []i18n.Msg{i18n.Cmd("curl -i -N -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' %s", u)}
		}
	case v.CauseIdleTimeout:
		return []i18n.Msg{i18n.Snippet("proxy_read_timeout 3600s;")}
	case v.CauseClientFirewall:
		return []i18n.Msg{i18n.Cmd("iptables -S OUTPUT")}
	}
	return nil
}

func joinHP(h, p string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]:" + p
	}
	return h + ":" + p
}

// next is the command that measures the first cause: check of the target the
// text names, with the flags that fit, or the server audit for causes only the
// server can see.
func next(rs []rank, t Target, h hit) string {
	if len(rs) == 0 {
		return ""
	}
	first := rs[0].cause
	if first == v.CauseAcceptQueueOverflow || first == v.CauseFirewallLocal || h.sig == "accept_emfile" {
		if t.Port != 0 {
			return "conndiag server " + strconv.Itoa(int(t.Port))
		}
		return "conndiag server"
	}
	if t.Host == "" {
		return ""
	}
	tt := t
	if tt.Port == 0 {
		switch {
		case tt.Scheme != "" && tt.Scheme != "tcp" && schemes[tt.Scheme] != 0:
			tt.Port = schemes[tt.Scheme]
		case isTLSCause(first):
			tt.Port = 443
		default:
			if first == v.CauseDNSFailure {
				tt.Port = 80 // a name alone: any port tests the lookup
			} else {
				return ""
			}
		}
	}
	if isTLSCause(first) && (tt.Scheme == "" || tt.Scheme == "tcp") {
		tt.Scheme = "tls"
	}
	if first == v.CauseBlockedByClient && tt.Scheme == "ws" {
		tt.Scheme, tt.Port = "wss", 443
	}
	if first == v.CauseFamilyMismatch && tt.Host == "::1" {
		tt.Host = "localhost" // check tries every address of the name
	}
	cmd := "conndiag check " + tt.String()
	switch first {
	case v.CauseFiltered, v.CauseFilteredUpstream, v.CauseHostDown, v.CauseHostUnreachable, v.CauseCDNPortNotProxied:
		cmd += " --trace"
	case v.CauseDNSFailure, v.CauseDNSMismatch:
		cmd += " --resolver 1.1.1.1"
	}
	return cmd
}

func isTLSCause(c v.Cause) bool {
	switch c {
	case v.CauseTLSCertificate, v.CauseTLSObsolete, v.CauseTLSClientCertificate, v.CauseTLSUnexpected:
		return true
	}
	return false
}

// Describe is a cause explained on its own, for `conndiag explain CAUSE`:
// its summary and fix with placeholders, the commands, and how conndiag proves it.
func Describe(c v.Cause) v.Finding {
	a := args(Target{}, "")
	return v.Finding{
		Cause: c, Summary: i18n.M("cause."+string(c)+".summary", a...),
		Evidence: []i18n.Msg{i18n.M("explain.cause."+string(c)+".how", a...)},
		Fix:      append([]i18n.Msg{i18n.M("cause."+string(c)+".fix", a...)}, fixCmds(c, Target{})...),
	}
}

// NearCause is the cause code s is a typo of (at most two letters added,
// dropped or changed, and fewer than half of it), or "".
func NearCause(s string) v.Cause {
	if len(s) < 4 || len(s) > 40 || strings.ContainsAny(s, " \t\n") {
		return ""
	}
	s = strings.ToLower(strings.ReplaceAll(s, "-", "_"))
	best, bestD := v.Cause(""), 3
	for _, c := range v.Causes {
		if d := editDistance(s, string(c)); d < bestD && 2*d < len(c) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of two short ASCII strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// IsCause reports whether s is a cause code of SPEC.md.
func IsCause(s string) bool {
	for _, c := range v.Causes {
		if string(c) == s {
			return true
		}
	}
	return false
}
