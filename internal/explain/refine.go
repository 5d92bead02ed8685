package explain

import "bytes"

// Refiners: each reads the line around a literal and returns the signal it
// stands for there ("" when it is not a connection error after all) and a note
// for the evidence (the program's own name and meaning of a code).

type refiner = func(l []byte, at, end int) (string, string)

func isAlnum(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '_'
}

// word accepts the literal only as a whole word.
func word(sig string) refiner {
	return func(l []byte, at, end int) (string, string) {
		if at > 0 && isAlnum(l[at-1]) || end < len(l) && isAlnum(l[end]) {
			return "", ""
		}
		return sig, ""
	}
}

// atEnd accepts the literal only at the end of a clause.
func atEnd(sig string) refiner {
	return func(l []byte, at, end int) (string, string) {
		if end < len(l) && isAlnum(l[end]) {
			return "", ""
		}
		return sig, ""
	}
}

func containsFold(l []byte, lower string) bool {
	n := len(lower)
	for i := 0; i+n <= len(l); i++ {
		j := 0
		for j < n && fold(l[i+j]) == lower[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

// nearConnect accepts a generic errno text ("permission denied") only on a
// line that is about a connection.
func nearConnect(sig string) refiner {
	return func(l []byte, at, end int) (string, string) {
		for _, w := range []string{"connect", "dial", "socket", "sendto", "upstream"} {
			if containsFold(l, w) {
				return sig, ""
			}
		}
		return "", ""
	}
}

func nearHandshake(l []byte, at, end int) (string, string) {
	for _, w := range []string{"malformed", "invalid", "status", "response", "handshake", "unexpected"} {
		if containsFold(l, w) {
			return "other_service", ""
		}
	}
	return "", ""
}

// number reads an optionally signed decimal at l[i:], after spaces and quotes.
func number(l []byte, i int) (n int, next int, ok bool) {
	for i < len(l) && (l[i] == ' ' || l[i] == '\'' || l[i] == '"') {
		i++
	}
	neg := false
	if i < len(l) && l[i] == '-' {
		neg, i = true, i+1
	}
	start := i
	for i < len(l) && l[i] >= '0' && l[i] <= '9' && i-start < 9 {
		n = n*10 + int(l[i]-'0')
		i++
	}
	if i == start || i < len(l) && l[i] >= '0' && l[i] <= '9' {
		return 0, i, false
	}
	if neg {
		n = -n
	}
	return n, i, true
}

var (
	unixErrno = map[int]string{ // Linux
		111: "refused", 110: "timeout", 113: "host_unreach", 112: "host_unreach", 101: "net_unreach",
		99: "addr_notavail", 98: "bind_inuse", 104: "reset", 103: "aborted", 32: "broken_pipe",
		24: "fd_exhausted", 23: "fd_exhausted", 105: "no_buffers", 13: "access_denied", 1: "not_permitted",
		// getaddrinfo (Python's socket.gaierror)
		-2: "dns_nx", -3: "dns_again", -4: "dns_failure", -5: "dns_nodata", -9: "dns_nodata",
		// libuv on Windows (Node's errno field)
		-4078: "refused", -4039: "timeout", -4077: "reset", -4074: "host_unreach", -4062: "net_unreach",
		-4090: "addr_notavail", -4091: "bind_inuse", -4079: "aborted", -4066: "fd_exhausted", -4047: "broken_pipe",
		-3008: "dns_nx", -3001: "dns_again",
	}
	macErrno = map[int]string{ // macOS, FreeBSD
		61: "refused", 60: "timeout", 65: "host_unreach", 64: "host_unreach", 51: "net_unreach",
		49: "addr_notavail", 48: "bind_inuse", 54: "reset", 53: "aborted", 32: "broken_pipe",
		24: "fd_exhausted", 23: "fd_exhausted", 55: "no_buffers", 13: "access_denied", 1: "not_permitted",
		8: "dns_nx", // EAI_NONAME in a gaierror
	}
	winErrno = map[int]string{ // Winsock
		10061: "refused", 10060: "timeout", 10065: "host_unreach", 10064: "host_unreach",
		10051: "net_unreach", 10050: "net_unreach", 10049: "addr_notavail", 10048: "bind_inuse",
		10054: "reset", 10053: "aborted", 10024: "fd_exhausted", 10055: "no_buffers", 10013: "not_permitted",
		11001: "dns_nx", 11002: "dns_again", 11003: "dns_failure", 11004: "dns_nodata",
	}
	anyErrno = map[int]string{}
)

func init() {
	for k, v := range macErrno {
		anyErrno[k] = v
	}
	for k, v := range unixErrno {
		anyErrno[k] = v // Linux numbers win where they overlap
	}
	for k, v := range winErrno {
		anyErrno[k] = v
	}
}

// errnoAfter reads the number after the literal and looks it up in table;
// Winsock numbers are recognised whatever the table.
func errnoAfter(table map[int]string) refiner {
	return func(l []byte, at, end int) (string, string) {
		start := end
		if end > 0 && l[end-1] == '-' { // the literal ends in the sign ("errno: -")
			start = end - 1
		}
		n, _, ok := number(l, start)
		if !ok {
			return "", ""
		}
		if s, ok := winErrno[n]; ok {
			return s, "Winsock " + itoa(n)
		}
		if s, ok := table[n]; ok {
			return s, "errno " + itoa(n)
		}
		return "", ""
	}
}

// wsaNumber accepts a bare Winsock number (10061) that is not a port or part
// of a longer number.
func wsaNumber(l []byte, at, end int) (string, string) {
	if at > 0 && (l[at-1] >= '0' && l[at-1] <= '9' || l[at-1] == ':' || l[at-1] == '.' || l[at-1] == '/') {
		return "", ""
	}
	_, next, ok := number(l, at)
	if !ok || next-at != 5 {
		return "", ""
	}
	if next < len(l) && (l[next] == '.' || l[next] == ':') && next+1 < len(l) && l[next+1] >= '0' && l[next+1] <= '9' {
		return "", ""
	}
	if next < len(l) && l[next] == '#' {
		return "", "" // nginx's "[error] 10061#10061:" is a worker's pid and thread
	}
	// Only where a number is a code: "(10061)", "[WinError 10061]", "error 10061", "code=10061".
	if at == 0 {
		return winSig(l, at)
	}
	switch l[at-1] {
	case '(', '[', '=':
	case ' ':
		w := l[max(0, at-8) : at-1]
		if !containsFold(w, "error") && !containsFold(w, "errno") && !containsFold(w, "code") && !containsFold(w, "wsa") {
			return "", ""
		}
	default:
		return "", ""
	}
	return winSig(l, at)
}

func winSig(l []byte, at int) (string, string) {
	n, _, _ := number(l, at)
	if s, ok := winErrno[n]; ok {
		return s, "Winsock " + itoa(n)
	}
	return "", ""
}

var wsaNames = map[string]string{
	"connrefused": "refused", "timedout": "timeout", "hostunreach": "host_unreach", "hostdown": "host_unreach",
	"netunreach": "net_unreach", "netdown": "net_unreach", "addrnotavail": "addr_notavail", "addrinuse": "bind_inuse",
	"connreset": "reset", "connaborted": "aborted", "mfile": "fd_exhausted", "nobufs": "no_buffers", "acces": "not_permitted",
}

func wsaName(l []byte, at, end int) (string, string) {
	i := end
	var name []byte
	for i < len(l) && (l[i] >= 'A' && l[i] <= 'Z' || l[i] >= 'a' && l[i] <= 'z') && len(name) < 16 {
		name = append(name, fold(l[i]))
		i++
	}
	if s, ok := wsaNames[string(name)]; ok {
		return s, ""
	}
	return "", ""
}

// nsurlAfter reads an NSURLErrorDomain code (negative).
func nsurlAfter(l []byte, at, end int) (string, string) {
	n, _, ok := number(l, end)
	if !ok {
		return "", ""
	}
	s := map[int]string{
		-1001: "timeout", -1003: "dns_nx", -1004: "connect_failed", -1005: "reset", -1006: "dns_failure",
		-1009: "net_unreach", -1011: "invalid_response", -1022: "blocked", -1200: "tls_generic",
		-1201: "tls_cert_expired", -1202: "tls_cert_trust", -1203: "tls_cert_trust", -1204: "tls_cert_expired",
		-1205: "tls_bad_cert", -1206: "tls_client_cert",
	}[n]
	if s == "" {
		return "", ""
	}
	return s, "NSURLErrorDomain " + itoa(n)
}

// statusAfter reads the HTTP status a WebSocket handshake got.
func statusAfter(l []byte, at, end int) (string, string) {
	n, _, ok := number(l, end)
	if !ok || n < 100 || n > 599 || n == 101 {
		return "", ""
	}
	return statusSignal(n), "HTTP " + itoa(n)
}

func httpStatusAfter(l []byte, at, end int) (string, string) {
	n, _, ok := number(l, end)
	if !ok {
		return "", ""
	}
	switch n {
	case 502, 503:
		return "http_502", "HTTP " + itoa(n)
	case 504:
		return "http_504", "HTTP " + itoa(n)
	case 520, 521, 522, 523, 524, 525, 526, 530:
		return cfSignal(n), "HTTP " + itoa(n)
	}
	return "", ""
}

// dotnetStatus: "The server returned status code '200' when status code '101' was expected."
func dotnetStatus(l []byte, at, end int) (string, string) {
	i := bytes.LastIndex(l[:at], []byte("code '"))
	if i < 0 {
		return "ws_other", ""
	}
	return statusAfter(l, i, i+len("code '"))
}

func cloudflareAfter(l []byte, at, end int) (string, string) {
	if end >= len(l) || l[end] < '0' || l[end] > '9' || end+1 < len(l) && l[end+1] >= '0' && l[end+1] <= '9' {
		return "", ""
	}
	if at > 0 && isAlnum(l[at-1]) {
		return "", ""
	}
	n := 520 + int(l[end]-'0')
	if s := cfSignal(n); s != "ws_5xx" {
		return s, "Cloudflare " + itoa(n)
	}
	return "", ""
}

// curlConnect reads curl's "Failed to connect to H port P after N ms: REASON"
// (7.7x said "H port P: REASON"; 2026 versions "H:P after N ms: Could not
// connect to server"). Without an errno the time tells the cases apart: a
// refusal or a local route failure is immediate, a failed ARP takes about 3 s,
// a dropped SYN takes the whole connect timeout.
func curlConnect(l []byte, at, end int) (string, string) {
	rest := l[end:]
	if bytes.Contains(l, []byte("(28)")) || containsFold(rest, "timeout was reached") || containsFold(rest, "timed out") {
		return "timeout", ""
	}
	i := bytes.Index(rest, []byte(" after "))
	if i < 0 {
		return "connect_failed", ""
	}
	n, next, ok := number(rest, i+len(" after "))
	if !ok || !bytes.HasPrefix(rest[next:], []byte(" ms")) {
		return "connect_failed", ""
	}
	note := "after " + itoa(n) + " ms"
	switch {
	case n >= 20000:
		return "timeout", note
	case n >= 2500:
		return "connect_slow", note
	}
	return "connect_failed", note
}

func curlOperationTimeout(l []byte, at, end int) (string, string) {
	if bytes.Contains(l[end:], []byte(" bytes received")) {
		return "read_timeout", ""
	}
	return "timeout", ""
}

func malformedResponse(l []byte, at, end int) (string, string) {
	if bytes.Contains(l, []byte(`\x15\x03`)) {
		return "tls_bytes", ""
	}
	if containsFold(l, "ssh-") {
		return "other_service", ""
	}
	return "invalid_response", ""
}

// bareChromiumFailure: "WebSocket connection to 'URL' failed: " with no reason
// after it, which recent Chrome prints for every kind of failure.
func bareChromiumFailure(l []byte, at, end int) (string, string) {
	rest := bytes.TrimSpace(l[end:])
	if len(rest) == 0 || bytes.HasPrefix(rest, []byte("(")) || bytes.HasPrefix(rest, []byte("@")) {
		return "ambiguous", ""
	}
	return "", ""
}

func blockedLNA(l []byte, at, end int) (string, string) {
	if containsFold(l, "block") || containsFold(l, "denied") {
		return "blocked", ""
	}
	return "", ""
}

// workermanFailAfter: AsyncTcpConnection's "connect tcp://H:P fail after N seconds".
func workermanFailAfter(l []byte, at, end int) (string, string) {
	if !containsFold(l[:at], "connect ") {
		return "", ""
	}
	sec, _, ok := number(l, end)
	if ok && sec >= 1 {
		return "timeout", "" // a refusal is immediate; a second or more is a dropped SYN
	}
	return "connect_failed", ""
}

// localGiven: Node's "- Local (0.0.0.0:0)" only says no local address was asked for.
func localGiven(l []byte, at, end int) (string, string) {
	rest := l[end:]
	if bytes.HasPrefix(rest, []byte("0.0.0.0:")) || bytes.HasPrefix(rest, []byte(":::")) || bytes.HasPrefix(rest, []byte("::")) {
		return "", ""
	}
	return "bind", ""
}

// wholeEOF: a bare "EOF" is all some clients print when the server closed first.
func wholeEOF(l []byte, at, end int) (string, string) {
	if len(bytes.TrimSpace(l)) == 3 {
		return "closed_early", ""
	}
	return "", ""
}

// urlOnLine accepts a generic text only on a line that names a URL.
func urlOnLine(sig string) refiner {
	return func(l []byte, at, end int) (string, string) {
		if bytes.Contains(l, []byte("://")) {
			return sig, ""
		}
		return "", ""
	}
}
