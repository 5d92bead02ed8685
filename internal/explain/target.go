package explain

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
)

// Target is what the text says the client tried to reach. Each field is
// empty when the text does not name it.
type Target struct {
	Scheme string `json:"scheme,omitempty"`
	Host   string `json:"host,omitempty"`
	Port   uint16 `json:"port,omitempty"`
	Path   string `json:"path,omitempty"`
}

// IsZero reports whether the text named nothing.
func (t Target) IsZero() bool { return t.Host == "" && t.Port == 0 && t.Scheme == "" }

// String is the form `conndiag check` takes: scheme://host:port/path, or host:port.
func (t Target) String() string {
	if t.Host == "" {
		return ""
	}
	host := t.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	hp := host
	if t.Port != 0 {
		hp += ":" + strconv.Itoa(int(t.Port))
	}
	switch t.Scheme {
	case "", "tcp":
		return hp
	}
	return t.Scheme + "://" + hp + t.Path
}

var schemes = map[string]uint16{
	"ws": 80, "wss": 443, "http": 80, "https": 443, "websocket": 80,
	"tcp": 0, "tls": 0, "ssl": 0, "text": 0, "frame": 0, "udp": 0,
}

// docHosts are where programs send people to read more, never a target.
var docHosts = map[string]bool{
	"curl.se": true, "curl.haxx.se": true, "everything.curl.dev": true, "nodejs.org": true, "github.com": true,
	"developer.mozilla.org": true, "docs.python.org": true, "go.dev": true, "golang.org": true, "pkg.go.dev": true,
	"learn.microsoft.com": true, "docs.microsoft.com": true, "aka.ms": true, "go.microsoft.com": true,
	"stackoverflow.com": true, "nginx.org": true, "www.php.net": true, "php.net": true, "openjdk.org": true,
	"docs.oracle.com": true, "www.chromium.org": true, "chromium.org": true, "crbug.com": true,
	"developers.cloudflare.com": true, "support.cloudflare.com": true, "www.cloudflare.com": true,
	"urllib3.readthedocs.io": true, "requests.readthedocs.io": true, "websockets.readthedocs.io": true,
	"g.co": true, "www.openssl.org": true, "openssl.org": true,
}

// sourceExt are name endings that are file names in a stack trace, not hosts.
var sourceExt = map[string]bool{
	"java": true, "py": true, "js": true, "mjs": true, "cjs": true, "ts": true, "go": true, "php": true,
	"c": true, "cc": true, "cpp": true, "h": true, "cs": true, "rb": true, "rs": true, "kt": true,
	"scala": true, "swift": true, "m": true, "mm": true, "lua": true, "pl": true, "ex": true, "exs": true,
	"jar": true, "class": true, "dll": true, "so": true, "exe": true, "html": true, "htm": true, "jsx": true, "tsx": true,
	"vue": true, "json": true, "conf": true, "log": true, "txt": true, "ini": true, "yml": true, "yaml": true, "toml": true,
	"sock": true, "pem": true, "crt": true, "key": true,
}

func hostChar(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_'
}

// validName accepts a DNS name that names a host: localhost, or dotted with an
// alphabetic last label that is not a source-file extension. single allows a
// one-label name (docker service names in an nginx upstream).
func validName(s string, single bool) bool {
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

func validHost(s string, single bool) bool {
	if mayBeIP(s) {
		if a, err := netip.ParseAddr(s); err == nil {
			return a.IsValid()
		}
	}
	if strings.Count(s, ".") == 3 && strings.Trim(s, "0123456789.") == "" {
		return false // looks like an IPv4 address but is not one
	}
	return validName(s, single)
}

// mayBeIP is false for a string netip.ParseAddr rejects for sure (without
// the error it would allocate): one with neither a colon nor only digits and dots.
func mayBeIP(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ':' {
			return true
		} else if c != '.' && (c < '0' || c > '9') {
			return strings.IndexByte(s[i:], ':') >= 0
		}
	}
	return true
}

func parsePort(b []byte) (uint16, int) {
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
type cand struct {
	t     Target
	score int
}

// targetIn finds the target a line names. Precedence: an nginx upstream, a
// WebSocket URL, another URL, explicit host=/port= pairs and "H port P", then
// host:port, then a name a resolver error quotes.
func targetIn(l []byte) (Target, int) { return targetInWith(l, nil) }

// targetInWith is targetIn, taking the nginx upstream's URL from c when a
// line before named the same (nil: no cache).
func targetInWith(l []byte, c *urlCache) (Target, int) {
	best := cand{}
	consider := func(c cand) {
		if c.score > best.score {
			best = c
		}
	}
	if i := bytes.Index(l, []byte(`upstream: "`)); i >= 0 {
		if t, ok := c.urlAt(l, i+len(`upstream: "`)); ok {
			return t, 12 // no candidate scores higher, and a tie keeps the first
		}
	}
	if i := bytes.Index(l, []byte("host not found in upstream \"")); i >= 0 {
		if t, ok := hostPortAt(l[i+len("host not found in upstream \""):], true); ok {
			consider(cand{t.Target, 12})
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
		if t, ok := urlAt(l, k); ok && !docHosts[strings.ToLower(t.Host)] {
			score := 9
			if t.Scheme == "ws" || t.Scheme == "wss" {
				score = 10
			}
			consider(cand{t, score})
		}
		i = j + 3
	}
	if best.score >= 9 {
		return best.t, best.score
	}
	// Python: host='h', port=p ; urllib3: HTTPConnection(host='h', port=p)
	if i := bytes.Index(l, []byte("host='")); i >= 0 {
		rest := l[i+len("host='"):]
		if q := bytes.IndexByte(rest, '\''); q > 0 && validHost(string(rest[:q]), true) {
			t := Target{Host: string(rest[:q])}
			if p := bytes.Index(rest[q:], []byte("port=")); p >= 0 && p < 8 {
				t.Port, _ = parsePort(rest[q+p+len("port="):])
			}
			consider(cand{t, 8})
		}
	}
	// Python asyncio: Connect call failed ('127.0.0.1', 8282)
	if i := bytes.Index(l, []byte("('")); i >= 0 {
		rest := l[i+2:]
		if q := bytes.IndexByte(rest, '\''); q > 0 && bytes.HasPrefix(rest[q:], []byte("', ")) && validHost(string(rest[:q]), true) {
			if p, n := parsePort(rest[q+3:]); n > 0 {
				consider(cand{Target{Host: string(rest[:q]), Port: p}, 8})
			}
		}
	}
	// curl: "to H port P", "connect to H port P failed"
	if i := bytes.Index(l, []byte(" port ")); i >= 0 {
		k := i
		for k > 0 && (hostChar(l[k-1]) || l[k-1] == ':' || l[k-1] == '[' || l[k-1] == ']') {
			k--
		}
		h := strings.Trim(string(l[k:i]), "[]")
		if p, n := parsePort(l[i+len(" port "):]); n > 0 && validHost(h, false) {
			consider(cand{Target{Host: h, Port: p}, 8})
		}
	}
	// Go: "lookup NAME on RESOLVER:53" names NAME, not the resolver.
	lookup := bytes.Index(l, []byte("lookup "))
	if lookup >= 0 {
		rest := l[lookup+len("lookup "):]
		k := 0
		for k < len(rest) && hostChar(rest[k]) {
			k++
		}
		if validHost(string(rest[:k]), true) {
			consider(cand{Target{Host: string(rest[:k])}, 8})
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
		p, n := parsePort(l[i+1:])
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
			for k > 0 && hostChar(l[k-1]) {
				k--
			}
			h = string(l[k:i])
			if k > 0 && l[k-1] == ':' {
				// Node prints IPv6 without brackets: "ECONNREFUSED ::1:3000".
				k2 := k
				for k2 > 0 && (hostChar(l[k2-1]) || l[k2-1] == ':') {
					k2--
				}
				if a, err := netip.ParseAddr(string(l[k2:i])); err == nil && a.Is6() {
					h = a.String()
				} else {
					continue
				}
			}
			if k > 0 && l[k-1] == '/' && k > 1 && hostChar(l[k-2]) {
				// Java: "localhost/127.0.0.1:8080" is the name, then its address.
				continue
			}
		}
		if validHost(h, false) {
			consider(cand{Target{Host: h, Port: p}, 7})
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
		if p, n := parsePort(rest); n > 0 {
			return Target{Port: p}, 3
		}
	}
	// A name alone, quoted by a resolver error.
	for _, p := range namePrefixes {
		if i := indexFold(l, p); i >= 0 {
			rest := l[i+len(p):]
			rest = bytes.TrimLeft(rest, " '\"")
			k := 0
			for k < len(rest) && hostChar(rest[k]) {
				k++
			}
			h := strings.TrimSuffix(string(rest[:k]), ".")
			if validHost(h, true) {
				return Target{Host: h}, 5
			}
		}
	}
	return Target{}, 0
}

var namePrefixes = []string{
	"could not resolve host:", "couldn't resolve host:", "enotfound", "eai_again", "unknownhostexception:",
	"getaddrinfo for", "no such host is known.", "resolve host", "could not resolve proxy:",
}

func indexFold(l []byte, lower string) int {
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

// urlAt parses scheme://host[:port][/path] at l[i:].
func urlAt(l []byte, i int) (Target, bool) {
	j := bytes.Index(l[i:], []byte("://"))
	if j <= 0 {
		return Target{}, false
	}
	scheme, def, ok := schemeOf(l[i : i+j])
	if !ok {
		return Target{}, false
	}
	rest := l[i+j+3:]
	t, ok := hostPortAt(rest, true)
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

// schemeOf looks a scheme up in schemes ignoring case, without allocating
// when it is ASCII.
func schemeOf(b []byte) (string, uint16, bool) {
	var low [16]byte
	if len(b) > len(low) {
		return "", 0, false // no scheme is that long, in any case
	}
	for k, c := range b {
		if c >= 0x80 {
			s := strings.ToLower(string(b)) // Unicode folds (the Kelvin sign is a k)
			def, ok := schemes[s]
			return s, def, ok
		}
		low[k] = fold(c)
	}
	if sc, ok := schemeNames[string(low[:len(b)])]; ok {
		return sc.name, sc.def, true
	}
	return "", 0, false
}

// schemeNames is schemes with each name kept, to hand out without a copy.
var schemeNames = func() map[string]struct {
	name string
	def  uint16
} {
	m := map[string]struct {
		name string
		def  uint16
	}{}
	for name, def := range schemes {
		m[name] = struct {
			name string
			def  uint16
		}{name, def}
	}
	return m
}()

// urlCache keeps what urlAt made of a quoted URL. urlAt(l, i) reads l from i
// on, and no further than the first '"' at or after i: every part it reads
// (scheme, host, [v6], port, path) ends at a quote or fails to parse with one
// inside, as the scheme does ("://" past the quote leaves one in the
// scheme). So what it returns is a function of l[i:q], q that quote. Bounded
// in entries and key length; a log of many upstreams empties it now and then.
type urlCache map[string]urlMemo

type urlMemo struct {
	t  Target
	ok bool
}

const (
	urlCacheMax = 1024
	urlKeyMax   = 512
)

func (c *urlCache) urlAt(l []byte, i int) (Target, bool) {
	if c == nil {
		return urlAt(l, i)
	}
	q := bytes.IndexByte(l[i:], '"')
	if q < 0 || q > urlKeyMax {
		return urlAt(l, i)
	}
	key := l[i : i+q]
	if m, ok := (*c)[string(key)]; ok {
		return m.t, m.ok
	}
	t, ok := urlAt(l, i)
	if *c == nil || len(*c) >= urlCacheMax {
		*c = urlCache{}
	}
	(*c)[string(key)] = urlMemo{t, ok}
	return t, ok
}

type hostPort struct {
	Target
	hpLen int
}

// hostPortAt parses host[:port] or [v6][:port] at the start of b.
func hostPortAt(b []byte, single bool) (hostPort, bool) {
	var h string
	k := 0
	if len(b) > 0 && b[0] == '[' {
		e := bytes.IndexByte(b, ']')
		if e < 0 {
			return hostPort{}, false
		}
		h, k = string(b[1:e]), e+1
		if a, err := netip.ParseAddr(h); err != nil || !a.Is6() {
			return hostPort{}, false
		}
	} else {
		for k < len(b) && hostChar(b[k]) {
			k++
		}
		if k < len(b) && b[k] == '@' { // user@host
			return hostPortAt(b[k+1:], single)
		}
		h = string(b[:k])
		if !validHost(h, single) {
			return hostPort{}, false
		}
	}
	t := hostPort{Target: Target{Host: h}}
	if k < len(b) && b[k] == ':' {
		p, n := parsePort(b[k+1:])
		if n == 0 {
			return hostPort{}, false
		}
		t.Port, k = p, k+1+n
	}
	t.hpLen = k
	return t, true
}
