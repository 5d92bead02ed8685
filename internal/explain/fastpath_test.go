package explain

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// benchLog is the log bench/explain.sh generates (the same awk program, in
// Go): upstream failures of seven kinds toward four upstreams, mixed with
// notice and info lines, until size bytes.
func benchLog(size int) []byte {
	msgs := []string{
		"connect() failed (111: Connection refused) while connecting to upstream",
		"upstream timed out (110: Connection timed out) while connecting to upstream",
		"upstream timed out (110: Connection timed out) while reading response header from upstream",
		"upstream prematurely closed connection while reading response header from upstream",
		"no live upstreams while connecting to upstream",
		"recv() failed (104: Connection reset by peer) while reading response header from upstream",
		"upstream timed out (110: Connection timed out) while proxying upgraded connection",
	}
	ups := []string{"http://127.0.0.1:8080", "http://10.0.0.5:8282", "http://backend", "http://[::1]:3000"}
	var b bytes.Buffer
	for i := 1; b.Len() < size; i++ {
		t := fmt.Sprintf("2026/01/15 %02d:%02d:%02d", i/3600%24, i/60%60, i%60)
		switch {
		case i%5 == 0:
			fmt.Fprintf(&b, "%s [notice] 1234#1234: signal process started\n", t)
		case i%7 == 0:
			fmt.Fprintf(&b, "%s [info] 1234#1234: *%d client 203.0.113.%d closed keepalive connection\n", t, i, i%250)
		default:
			fmt.Fprintf(&b, "%s [error] 1234#1234: *%d %s, client: 203.0.113.%d, server: example.com, request: \"GET /ws HTTP/1.1\", upstream: \"%s/ws\", host: \"example.com\"\n",
				t, i, msgs[i%len(msgs)], i%250, ups[i%len(ups)])
		}
	}
	return b.Bytes()
}

// mixedLog is a log of many shapes: the bench's nginx lines with other
// workers, ids, clients and upstreams; lines of other programs; every line of
// the corpus; and for every rule's literal, a line that holds it and lines
// that nearly do (a byte changed, dropped or doubled, the case changed, the
// literal at the very start or end of the line, cut by a space).
func mixedLog(t testing.TB, n int) []string {
	rng := rand.New(rand.NewSource(7))
	var out []string
	nginx := benchLog(64 << 10)
	out = append(out, strings.Split(strings.TrimSuffix(string(nginx), "\n"), "\n")...)
	pick := func(s ...string) string { return s[rng.Intn(len(s))] }
	for i := 0; i < n; i++ {
		tm := fmt.Sprintf("2026/01/15 %02d:%02d:%02d", rng.Intn(24), rng.Intn(60), rng.Intn(60))
		ip := fmt.Sprintf("%d.%d.%d.%d", rng.Intn(256), rng.Intn(256), rng.Intn(256), rng.Intn(256))
		port := pick("80", "443", "8080", "8282", "10061", "65535", "0", "99999")
		switch i % 12 {
		case 0:
			out = append(out, fmt.Sprintf("%s [error] %s#%s: *%d connect() failed (%s: Connection refused) while connecting to upstream, client: %s, server: a, request: \"GET / HTTP/1.1\", upstream: \"%s://%s:%s/x\", host: \"a\"",
				tm, pick("1", "99", "10061", "10060", "1100"), pick("0", "7"), rng.Intn(1e7), pick("111", "113", "13", "24"), ip, pick("http", "https", "HTTP", "ws", "fastcgi"), pick(ip, "backend", "[::1]", "api.example.com", "10.0.0.300"), port))
		case 1:
			out = append(out, fmt.Sprintf("%s [%s] 1#1: *%d %s, client: %s, server: a, upstream: \"http://%s\"", tm, pick("error", "crit", "warn"), rng.Intn(1e6),
				pick("upstream timed out (110: Connection timed out) while reading upstream", "no live upstreams while connecting to upstream", "host not found in upstream \"db:5432\"",
					"upstream sent invalid header while reading response header from upstream", "SSL_do_handshake() failed while SSL handshaking to upstream", "peer closed connection in SSL handshake",
					"accept4() failed (24: Too many open files)", "connect() to unix:/run/app.sock failed (13: Permission denied) while connecting to upstream"), ip, pick(ip+":"+port, "backend", "[2001:db8::1]:"+port)))
		case 2:
			out = append(out, fmt.Sprintf("%sZ Error: connect %s %s:%s", strings.ReplaceAll(tm, "/", "-"), pick("ECONNREFUSED", "ETIMEDOUT", "EHOSTUNREACH", "ECONNRESET", "EACCES"), pick(ip, "::1", "localhost"), port))
		case 3:
			out = append(out, fmt.Sprintf("Jan 15 %s app[%d]: WebSocket connection to '%s://%s:%s/ws' failed: %s", tm[11:], rng.Intn(1e5), pick("ws", "wss"), pick(ip, "h.example.com"), port,
				pick("Error during WebSocket handshake: Unexpected response code: 502", "net::ERR_CONNECTION_REFUSED", "", "Error in connection establishment: net::ERR_NAME_NOT_RESOLVED")))
		case 4:
			out = append(out, fmt.Sprintf("%s dial tcp %s:%s: connect: %s", tm, ip, port, pick("connection refused", "no route to host", "network is unreachable", "i/o timeout", "connection timed out")))
		case 5:
			out = append(out, fmt.Sprintf("curl: (%s) Failed to connect to %s port %s after %d ms: %s", pick("7", "28"), pick(ip, "example.com"), port, rng.Intn(40000), pick("Connection refused", "Couldn't connect to server", "Timeout was reached")))
		case 6:
			out = append(out, fmt.Sprintf("requests.exceptions.ConnectionError: HTTPConnectionPool(host='%s', port=%s): Max retries exceeded with url: / (Caused by NewConnectionError('[Errno %s] %s'))", pick(ip, "db.internal"), port, pick("111", "110", "-2", "61"), pick("Connection refused", "timed out", "Name or service not known")))
		case 7:
			out = append(out, fmt.Sprintf("%s [info] 1#1: *%d client %s closed keepalive connection%s", tm, rng.Intn(1e6), ip, pick("", " (104: Connection reset by peer)", " while reading client request line")))
		case 8:
			out = append(out, fmt.Sprintf("%s [notice] %d#%d: signal process started", tm, rng.Intn(1e5), rng.Intn(10)))
		case 9:
			out = append(out, fmt.Sprintf("System.Net.Sockets.SocketException (%s): %s [::ffff:%s]:%s", pick("10061", "10060", "111"), pick("No connection could be made because the target machine actively refused it.", "A connection attempt failed"), ip, port))
		case 10:
			out = append(out, fmt.Sprintf("SYN flooding on port %s. Sending cookies.  Check SNMP counters.", port))
		case 11:
			out = append(out, fmt.Sprintf("%s error code %s: %s", tm, pick("10061", "10060", "11001", "11004", "52", "521"), pick("WSAECONNREFUSED", "EOF", ": EOF", "unexpected EOF")))
		}
	}
	// Targets at the edges of what parses: schemes in any case (U+212A, the
	// Kelvin sign, lowercases to k), long schemes, hosts that nearly are addresses.
	for _, sch := range []string{"http", "HTTPS", "Ws", "web\u212asocket", "websocket", "ssl", "fastcgi", "uwsgi", "h\u0130ttp", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"} {
		for _, h := range []string{"10.0.0.5:8282", "backend", "1.2.3", "1.2.3.4.5", "[::1]:3000", "[fe80::1%eth0]:80", "::1", "fe80::1", "a.b:1:2", "db_1:5432", "localhost", "EXAMPLE.com:443", "%x", "1.2.3.x"} {
			out = append(out,
				"2026/01/15 10:00:00 [error] 7#7: *9 connect() failed (111: Connection refused) while connecting to upstream, client: 198.51.100.7, upstream: \""+sch+"://"+h+"/p\", host: \"a\"",
				"Error: connect ECONNREFUSED "+h+" at "+sch+"://"+h+"/ws",
				"dial tcp "+h+": connect: connection refused (lookup "+h+" on 127.0.0.53:53)")
		}
	}
	// An nginx upstream's value, quoted or not quite: what follows the quote
	// must not change what the URL is.
	for _, v := range []string{`http://a:1/p"`, `http://a:1/p`, `http://a:1/p" x://b`, `http://a:1"/p`, `http://a:"1`, `http://a:`, `http://[::1"]:80`, `http://[::1]"`,
		`http"://a`, `http:/"/a`, `"`, ``, `ws://user@h.example.com:8282/ws?x=1"`, `ws://user@"h`, `http://a.b` + strings.Repeat("c", 600) + `"`, `http://` + strings.Repeat("b", 600) + `:80/"`} {
		for _, tail := range []string{"", `, host: "a"`, `://c.example.com:9/`, `]:81/x"`} {
			out = append(out, "2026/01/15 10:00:00 [error] 7#7: *9 no live upstreams while connecting to upstream, client: 198.51.100.7, upstream: \""+v+tail)
		}
	}
	for _, e := range readCorpus(t) {
		for _, l := range strings.Split(e.Text, "\n") {
			out = append(out, strings.TrimSuffix(l, "\r"))
		}
	}
	for _, r := range rules {
		lit := r.lit
		frame := func(s string) string {
			return "2026/01/15 10:00:00 [error] 7#7: *9 " + s + ", client: 198.51.100.7, upstream: \"http://10.0.0.5:8282/\""
		}
		near := []string{lit, " " + lit + " ", strings.ToUpper(lit), frame(lit), frame(lit + "9"), frame("(" + lit + " 10061)")}
		if len(lit) > 1 {
			near = append(near, lit[1:], lit[:len(lit)-1], frame(lit[:len(lit)/2]+" "+lit[len(lit)/2:]),
				frame(lit[:len(lit)-1]+string(lit[len(lit)-1]^1)), frame(string(lit[0]^1)+lit[1:]), frame(lit[:len(lit)/2]+lit[len(lit)/2:len(lit)/2+1]+lit[len(lit)/2:]),
				frame(lit[:len(lit)/2]+lit[len(lit)/2+1:]))
		}
		out = append(out, near...)
	}
	return out
}

func sequentialRefLog(t testing.TB, r io.Reader) Summary {
	g := newGrouper()
	if err := eachLine(r, func(l []byte, n int, cont bool) bool {
		g.add(refJudge(l), l, n, cont)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return g.summary()
}

// sameAsReference checks every line of lines, on its own and as one log.
func sameAsReference(t *testing.T, name string, lines []string) {
	t.Helper()
	bad := 0
	fams := []families{{}, {refused4: true}, {refused6: true, nodeV6: true}, {nodeV6: true}}
	for i, s := range lines {
		l := []byte(s)
		h, rh := classify(l), refClassify(l)
		tg, sc := targetIn(l)
		rtg, rsc := refTargetIn(l)
		j, rj := judge(l), refJudge(l)
		ok := h == rh && tg == rtg && sc == rsc && reflect.DeepEqual(j, rj)
		for _, f := range fams {
			ok = ok && reflect.DeepEqual(causes(rh, rtg, f), refCauses(rh, rtg, f))
		}
		if !ok {
			bad++
			if bad <= 10 {
				t.Errorf("%s line %d differs from the reference:\n  %q\n  classify %+v\n  reference %+v\n  target %+v %d, reference %+v %d\n  judged %+v\n  reference %+v",
					name, i+1, s, h, rh, tg, sc, rtg, rsc, j, rj)
			}
		}
	}
	if bad > 10 {
		t.Errorf("%s: %d lines differ from the reference", name, bad)
	}
	text := strings.Join(lines, "\n") + "\n"
	want := sequentialRefLog(t, strings.NewReader(text))
	if want.Failures == 0 {
		t.Fatalf("%s: no failures: the log does not exercise the summary", name)
	}
	for _, procs := range []int{1, 2, 4} {
		prev := runtime.GOMAXPROCS(procs)
		got, err := Log(strings.NewReader(text))
		runtime.GOMAXPROCS(prev)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: the summary on %d cores differs from the reference:\n got  %+v\n want %+v", name, procs, got, want)
		}
	}
}

// The fast path classifies every line exactly as the reference does: the
// corpus, and a generated log of many shapes with lines that near-miss a literal.
func TestFastPathSameAsReference(t *testing.T) {
	var corpus []string
	for _, e := range readCorpus(t) {
		for _, l := range strings.Split(e.Text, "\n") {
			corpus = append(corpus, strings.TrimSuffix(l, "\r"))
		}
	}
	sameAsReference(t, "corpus", corpus)
	sameAsReference(t, "generated log", mixedLog(t, 6000))
	// More upstreams and hosts than the caches keep: they empty and fill again.
	var many []string
	for i := 0; i < 3*max(urlCacheMax, rankCacheMax); i++ {
		many = append(many, fmt.Sprintf("2026/01/15 10:00:00 [error] 7#7: *%d connect() failed (111: Connection refused) while connecting to upstream, client: 198.51.100.7, upstream: \"http://10.%d.%d.%d:%d/\"", i, i%3, i/250%250, i%250, 8000+i%7))
	}
	sameAsReference(t, "many upstreams", many)
}

// The caches stay within their bounds whatever the log.
func TestCachesBounded(t *testing.T) {
	var c judgeCache
	for i := 0; i < 5*urlCacheMax; i++ {
		l := []byte(fmt.Sprintf(`x upstream: "http://h%d.example.com:%d/%s"`, i, 1+i%60000, strings.Repeat("p", i%700)))
		tg, _ := targetInWith(l, &c.urls)
		c.ranks.causes(hit{sig: "refused"}, tg, logFamilies)
		if len(c.urls) > urlCacheMax || len(c.ranks) > rankCacheMax {
			t.Fatalf("after %d lines: %d URLs, %d rankings kept", i+1, len(c.urls), len(c.ranks))
		}
	}
	for k := range c.urls {
		if len(k) > urlKeyMax {
			t.Fatalf("a key of %d bytes kept", len(k))
		}
	}
}

// The reference comparison catches a fast path that loses a literal: with
// one literal taken out of the matcher, some line of the generated log is
// classified differently.
func TestReferenceCatchesADroppedLiteral(t *testing.T) {
	compileOnce.Do(compile)
	lines := mixedLog(t, 600)
	saved := lits
	defer func() { lits = saved }()
	for _, drop := range []string{"no live upstreams", "eof", "110", "拒绝连接", "err_", "while connecting to upstream"} {
		k := -1
		for i, ri := range litRules {
			if rules[ri[0]].lit == drop {
				k = i
			}
		}
		if k < 0 {
			t.Fatalf("no literal %q", drop)
		}
		list := make([]string, len(litRules))
		for i, ri := range litRules {
			list[i] = rules[ri[0]].lit
		}
		list[k] = "\x00\x00dropped"
		lits = newMatcher(list)
		differs := false
		for _, s := range lines {
			if !reflect.DeepEqual(judge([]byte(s)), refJudge([]byte(s))) {
				differs = true
				break
			}
		}
		lits = saved
		if !differs {
			t.Errorf("without the literal %q every line is classified as the reference does: the test cannot see a lost literal", drop)
		}
	}
}

// BenchmarkLog measures Log over the log bench/explain.sh generates.
func BenchmarkLog(b *testing.B) {
	data := benchLog(16 << 20)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Log(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
