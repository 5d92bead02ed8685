package explain

// The reference classification: the code of explain --log as it was before
// the fast path, kept verbatim (renamed ref*) so that tests can hold the fast
// path to it line by line. refClassify does not use the matcher at all: it
// looks for every literal of every rule on its own, so a fast path that
// misses a literal (a prefilter, a table) differs from it.

import (
	"bytes"
	"net/netip"
	"sort"
	"strings"

	v "github.com/conndiag/conndiag/internal/verdict"
)

// refClassify finds every occurrence of every rule's literal (ASCII case
// folded) and feeds them to the same decision as classify, in the order the
// matcher reports them: by end offset, then by rule.
func refClassify(l []byte) hit {
	foldAll := func(b []byte) []byte {
		out := make([]byte, len(b))
		for i, c := range b {
			out[i] = fold(c)
		}
		return out
	}
	low := foldAll(l)
	type occ struct{ at, end, rule int }
	var occs []occ
	for ri := range rules {
		lit := foldAll([]byte(rules[ri].lit))
		for i := 0; ; {
			j := bytes.Index(low[i:], lit)
			if j < 0 {
				break
			}
			occs = append(occs, occ{i + j, i + j + len(lit), ri})
			i += j + 1
		}
	}
	sort.Slice(occs, func(a, b int) bool {
		if occs[a].end != occs[b].end {
			return occs[a].end < occs[b].end
		}
		return occs[a].rule < occs[b].rule
	})
	var best hit
	ctxSpec, ctxAt := 0, 0
	for _, o := range occs {
		ru := &rules[o.rule]
		at, end := o.at, o.end
		if ru.ctx != "" {
			if ru.refine != nil {
				if s, _ := ru.refine(l, at, end); s == "" {
					continue
				}
			}
			if ru.spec > ctxSpec || ru.spec == ctxSpec && at < ctxAt {
				best.ctx, ctxSpec, ctxAt = ru.ctx, ru.spec, at
			}
			continue
		}
		sig, note := ru.sig, ""
		if ru.refine != nil {
			sig, note = ru.refine(l, at, end)
		}
		if sig == "" {
			continue
		}
		if ru.spec > best.spec || ru.spec == best.spec && at < best.at {
			best.sig, best.spec, best.at, best.from, best.note = sig, ru.spec, at, ru.from, note
		}
	}
	if best.sig != "" && best.ctx != "" {
		if ph, ok := contexts[best.ctx].phase[best.sig]; ok {
			best.sig = ph
		}
	}
	return best
}

// refJudge is judge as it was.
func refJudge(l []byte) judged {
	h := refClassify(l)
	if !h.ok() {
		return judged{}
	}
	t, _ := refTargetIn(l)
	return judged{h: h, t: t, rs: refCauses(h, t, families{refused4: true})}
}

func refCauses(h hit, t Target, fam families) []rank {
	s := signals[h.sig]
	out := append([]rank(nil), s.causes...)
	if c := contexts[h.ctx]; c.lead.cause != "" {
		out = refLead(out, c.lead)
	}
	addr, err := netip.ParseAddr(t.Host)
	isIP := err == nil
	loopback := isIP && addr.IsLoopback() || strings.EqualFold(t.Host, "localhost")
	switch h.sig {
	case "refused":
		// localhost resolving to ::1 first while the server listens on 127.0.0.1 only
		// (Node 17+ stopped reordering addresses): ECONNREFUSED ::1 alone.
		if isIP && addr == netip.IPv6Loopback() && fam.nodeV6 && !fam.refused4 {
			out = refLead(out, r(v.CauseFamilyMismatch, med))
		}
		if loopback {
			kept := out[:0:0]
			for _, x := range out {
				if x.cause != v.CauseBoundToLoopback {
					kept = append(kept, x)
				}
			}
			out = kept
		}
	case "host_unreach":
		// A loopback destination always has a route: the "unreachable" is an ICMP
		// error a firewall sent (REJECT --reject-with icmp-host-prohibited).
		if loopback {
			out = refLead(out, r(v.CauseFirewallReject, med))
		}
	case "timeout":
		if isIP && (addr.IsPrivate() || netip.MustParsePrefix("100.64.0.0/10").Contains(addr)) {
			out = refInsertAfterFirst(out, r(v.CausePrivateAddress, lo))
		}
	case "net_unreach":
		if isIP && addr.Is6() && !addr.Is4In6() {
			out = refLead(out, r(v.CauseFamilyMismatch, med))
		}
	}
	return out
}

func refLead(rs []rank, c rank) []rank {
	out := make([]rank, 0, len(rs)+1)
	for _, x := range rs {
		if x.cause == c.cause {
			if confRank(x.conf) < confRank(c.conf) {
				c.conf = x.conf
			}
			continue
		}
		out = append(out, x)
	}
	i := 0
	for i < len(out) && confRank(out[i].conf) < confRank(c.conf) {
		i++
	}
	out = append(out, rank{})
	copy(out[i+1:], out[i:])
	out[i] = c
	return out
}

func refInsertAfterFirst(rs []rank, c rank) []rank {
	for _, x := range rs {
		if x.cause == c.cause {
			return rs
		}
	}
	if len(rs) == 0 {
		return []rank{c}
	}
	return append([]rank{rs[0], c}, rs[1:]...)
}

func refHostChar(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_'
}

// refValidName accepts a DNS name that names a host: localhost, or dotted with an
// alphabetic last label that is not a source-file extension. single allows a
// one-label name (docker service names in an nginx upstream).
func refValidName(s string, single bool) bool {
	if s == "" || len(s) > 253 || s[0] == '.' || s[0] == '-' {
		return false
	}
	s = strings.TrimSuffix(s, ".")
	if strings.EqualFold(s, "localhost") {
		return true
	}
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		if !single {
			return false
		}
		return strings.IndexFunc(s, func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }) >= 0
	}
	tld := s[i+1:]
	if len(tld) < 2 || sourceExt[strings.ToLower(tld)] {
		return false
	}
	for j := 0; j < len(tld); j++ {
		if !(tld[j] >= 'a' && tld[j] <= 'z' || tld[j] >= 'A' && tld[j] <= 'Z' || tld[j] == '-') {
			return false
		}
	}
	return !strings.Contains(s, "..") && !strings.Contains(s, "_")
}

func refValidHost(s string, single bool) bool {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.IsValid()
	}
	if strings.Count(s, ".") == 3 && strings.Trim(s, "0123456789.") == "" {
		return false // looks like an IPv4 address but is not one
	}
	return refValidName(s, single)
}

func refParsePort(b []byte) (uint16, int) {
	n, i := 0, 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' && i < 6 {
		n = n*10 + int(b[i]-'0')
		i++
	}
	if i == 0 || i < len(b) && b[i] >= '0' && b[i] <= '9' || n < 1 || n > 65535 {
		return 0, 0
	}
	return uint16(n), i
}

// A candidate target in a line and how sure we are it is the target.
type refCand struct {
	t     Target
	score int
}

// refTargetIn finds the target a line names. Precedence: an nginx upstream, a
// WebSocket URL, another URL, explicit host=/port= pairs and "H port P", then
// host:port, then a name a resolver error quotes.
func refTargetIn(l []byte) (Target, int) {
	best := refCand{}
	consider := func(c refCand) {
		if c.score > best.score {
			best = c
		}
	}
	if i := bytes.Index(l, []byte(`upstream: "`)); i >= 0 {
		if t, ok := refUrlAt(l, i+len(`upstream: "`)); ok {
			consider(refCand{t, 12})
		}
	}
	if i := bytes.Index(l, []byte("host not found in upstream \"")); i >= 0 {
		if t, ok := refHostPortAt(l[i+len("host not found in upstream \""):], true); ok {
			consider(refCand{t.Target, 12})
		}
	}
	// URLs.
	for i := 0; i < len(l); {
		j := bytes.Index(l[i:], []byte("://"))
		if j < 0 {
			break
		}
		j += i
		k := j
		for k > 0 && (l[k-1] >= 'a' && l[k-1] <= 'z' || l[k-1] >= 'A' && l[k-1] <= 'Z') {
			k--
		}
		if t, ok := refUrlAt(l, k); ok && !docHosts[strings.ToLower(t.Host)] {
			score := 9
			if t.Scheme == "ws" || t.Scheme == "wss" {
				score = 10
			}
			consider(refCand{t, score})
		}
		i = j + 3
	}
	if best.score >= 9 {
		return best.t, best.score
	}
	// Python: host='h', port=p ; urllib3: HTTPConnection(host='h', port=p)
	if i := bytes.Index(l, []byte("host='")); i >= 0 {
		rest := l[i+len("host='"):]
		if q := bytes.IndexByte(rest, '\''); q > 0 && refValidHost(string(rest[:q]), true) {
			t := Target{Host: string(rest[:q])}
			if p := bytes.Index(rest[q:], []byte("port=")); p >= 0 && p < 8 {
				t.Port, _ = refParsePort(rest[q+p+len("port="):])
			}
			consider(refCand{t, 8})
		}
	}
	// Python asyncio: Connect call failed ('127.0.0.1', 8282)
	if i := bytes.Index(l, []byte("('")); i >= 0 {
		rest := l[i+2:]
		if q := bytes.IndexByte(rest, '\''); q > 0 && bytes.HasPrefix(rest[q:], []byte("', ")) && refValidHost(string(rest[:q]), true) {
			if p, n := refParsePort(rest[q+3:]); n > 0 {
				consider(refCand{Target{Host: string(rest[:q]), Port: p}, 8})
			}
		}
	}
	// curl: "to H port P", "connect to H port P failed"
	if i := bytes.Index(l, []byte(" port ")); i >= 0 {
		k := i
		for k > 0 && (refHostChar(l[k-1]) || l[k-1] == ':' || l[k-1] == '[' || l[k-1] == ']') {
			k--
		}
		h := strings.Trim(string(l[k:i]), "[]")
		if p, n := refParsePort(l[i+len(" port "):]); n > 0 && refValidHost(h, false) {
			consider(refCand{Target{Host: h, Port: p}, 8})
		}
	}
	// Go: "lookup NAME on RESOLVER:53" names NAME, not the resolver.
	lookup := bytes.Index(l, []byte("lookup "))
	if lookup >= 0 {
		rest := l[lookup+len("lookup "):]
		k := 0
		for k < len(rest) && refHostChar(rest[k]) {
			k++
		}
		if refValidHost(string(rest[:k]), true) {
			consider(refCand{Target{Host: string(rest[:k])}, 8})
		}
	}
	// host:port anywhere, and [v6]:port.
	for i := 0; i < len(l); i++ {
		if l[i] != ':' {
			continue
		}
		if lookup >= 0 && i > lookup && bytes.Contains(l[lookup:i], []byte(" on ")) {
			continue
		}
		p, n := refParsePort(l[i+1:])
		if n == 0 {
			continue
		}
		if e := i + 1 + n; e < len(l) && (l[e] == ':' && e+1 < len(l) && l[e+1] >= '0' && l[e+1] <= '9' || l[e] == '.' && e+1 < len(l) && l[e+1] >= '0' && l[e+1] <= '9' || l[e] == '-' && e+1 < len(l) && l[e+1] == '>') {
			continue // line:column, a time, or Go's "LOCAL->REMOTE"
		}
		var h string
		if i > 0 && l[i-1] == ']' {
			k := bytes.LastIndexByte(l[:i-1], '[')
			if k < 0 {
				continue
			}
			h = string(l[k+1 : i-1])
		} else {
			k := i
			for k > 0 && refHostChar(l[k-1]) {
				k--
			}
			h = string(l[k:i])
			if k > 0 && l[k-1] == ':' {
				// Node prints IPv6 without brackets: "ECONNREFUSED ::1:3000".
				k2 := k
				for k2 > 0 && (refHostChar(l[k2-1]) || l[k2-1] == ':') {
					k2--
				}
				if a, err := netip.ParseAddr(string(l[k2:i])); err == nil && a.Is6() {
					h = a.String()
				} else {
					continue
				}
			}
			if k > 0 && l[k-1] == '/' && k > 1 && refHostChar(l[k-2]) {
				// Java: "localhost/127.0.0.1:8080" is the name, then its address.
				continue
			}
		}
		if refValidHost(h, false) {
			consider(refCand{Target{Host: h, Port: p}, 7})
		}
	}
	if best.score > 0 {
		return best.t, best.score
	}
	// The kernel's "SYN flooding on port 8282" names only the port.
	if i := bytes.Index(l, []byte("on port ")); i >= 0 {
		rest := l[i+len("on port "):]
		if j := bytes.LastIndexByte(rest[:min(len(rest), 48)], ':'); j >= 0 && bytes.HasPrefix(rest, []byte("[")) {
			rest = rest[j+1:]
		}
		if p, n := refParsePort(rest); n > 0 {
			return Target{Port: p}, 3
		}
	}
	// A name alone, quoted by a resolver error.
	for _, p := range refNamePrefixes {
		if i := refIndexFold(l, p); i >= 0 {
			rest := l[i+len(p):]
			rest = bytes.TrimLeft(rest, " '\"")
			k := 0
			for k < len(rest) && refHostChar(rest[k]) {
				k++
			}
			h := strings.TrimSuffix(string(rest[:k]), ".")
			if refValidHost(h, true) {
				return Target{Host: h}, 5
			}
		}
	}
	return Target{}, 0
}

var refNamePrefixes = []string{
	"could not resolve host:", "couldn't resolve host:", "enotfound", "eai_again", "unknownhostexception:",
	"getaddrinfo for", "no such host is known.", "resolve host", "could not resolve proxy:",
}

func refIndexFold(l []byte, lower string) int {
	n := len(lower)
	for i := 0; i+n <= len(l); i++ {
		j := 0
		for j < n && fold(l[i+j]) == lower[j] {
			j++
		}
		if j == n {
			return i
		}
	}
	return -1
}

// refUrlAt parses scheme://host[:port][/path] at l[i:].
func refUrlAt(l []byte, i int) (Target, bool) {
	j := bytes.Index(l[i:], []byte("://"))
	if j <= 0 {
		return Target{}, false
	}
	scheme := strings.ToLower(string(l[i : i+j]))
	def, ok := schemes[scheme]
	if !ok {
		return Target{}, false
	}
	rest := l[i+j+3:]
	t, ok := refHostPortAt(rest, true)
	if !ok {
		return Target{}, false
	}
	t.Scheme = scheme
	if scheme == "websocket" {
		t.Scheme = "ws"
	}
	if scheme == "ssl" {
		t.Scheme = "tls"
	}
	if t.Port == 0 {
		t.Port = def
	}
	// The path, up to a delimiter the URL cannot contain in a message.
	k := t.hpLen
	if k < len(rest) && rest[k] == '/' {
		e := k
		for e < len(rest) && rest[e] > ' ' && rest[e] != '\'' && rest[e] != '"' && rest[e] != '>' && rest[e] != ')' && rest[e] != ']' && rest[e] != ',' && e-k < 200 {
			e++
		}
		t.Path = strings.TrimRight(string(rest[k:e]), ".:")
	}
	if t.Scheme == "ws" || t.Scheme == "wss" || t.Scheme == "http" || t.Scheme == "https" {
		if t.Path == "" {
			t.Path = "/"
		}
	} else {
		t.Path = ""
	}
	return t.Target, true
}

type refHostPort struct {
	Target
	hpLen int
}

// refHostPortAt parses host[:port] or [v6][:port] at the start of b.
func refHostPortAt(b []byte, single bool) (refHostPort, bool) {
	var h string
	k := 0
	if len(b) > 0 && b[0] == '[' {
		e := bytes.IndexByte(b, ']')
		if e < 0 {
			return refHostPort{}, false
		}
		h, k = string(b[1:e]), e+1
		if a, err := netip.ParseAddr(h); err != nil || !a.Is6() {
			return refHostPort{}, false
		}
	} else {
		for k < len(b) && refHostChar(b[k]) {
			k++
		}
		if k < len(b) && b[k] == '@' { // user@host
			return refHostPortAt(b[k+1:], single)
		}
		h = string(b[:k])
		if !refValidHost(h, single) {
			return refHostPort{}, false
		}
	}
	t := refHostPort{Target: Target{Host: h}}
	if k < len(b) && b[k] == ':' {
		p, n := refParsePort(b[k+1:])
		if n == 0 {
			return refHostPort{}, false
		}
		t.Port, k = p, k+1+n
	}
	t.hpLen = k
	return t, true
}
