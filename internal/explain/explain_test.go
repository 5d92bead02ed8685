package explain

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"

	v "github.com/conndiag/conndiag/internal/verdict"
)

func TestBadInput(t *testing.T) {
	if _, err := Read(strings.NewReader("")); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty: %v", err)
	}
	if _, err := Read(strings.NewReader(" \n\t\n")); !errors.Is(err, ErrEmpty) {
		t.Errorf("blank: %v", err)
	}
	if _, err := Read(bytes.NewReader([]byte("\x7fELF\x02\x01\x01\x00\x00\x00"))); !errors.Is(err, ErrBinary) {
		t.Errorf("binary: %v", err)
	}
	if _, err := Log(bytes.NewReader(bytes.Repeat([]byte{0xff, 0x00, 0x13}, 5000))); !errors.Is(err, ErrBinary) {
		t.Errorf("binary log: %v", err)
	}
}

// A message deep inside a very long line is still found, and the line is
// never held whole.
type repeat struct {
	n, at  int64
	fill   byte
	insert string
	pos    int64
}

func (r *repeat) Read(p []byte) (int, error) {
	if r.at >= r.n {
		return 0, io.EOF
	}
	k := int64(len(p))
	if k > r.n-r.at {
		k = r.n - r.at
	}
	for i := int64(0); i < k; i++ {
		off := r.at + i
		if off >= r.pos && off < r.pos+int64(len(r.insert)) {
			p[i] = r.insert[off-r.pos]
		} else {
			p[i] = r.fill
		}
	}
	r.at += k
	return int(k), nil
}

func TestHugeLineBoundedMemory(t *testing.T) {
	const size = 100 << 20
	msg := " dial tcp 10.0.0.5:8282: connect: connection refused "
	// Placed across a piece boundary, so the overlap must catch it.
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, err := Read(&repeat{n: size, fill: 'a', insert: msg, pos: 7*MaxLine - 20})
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if err != nil || !res.Found() || res.Findings[0].Cause != v.CauseNotListening || res.Target.String() != "10.0.0.5:8282" {
		t.Fatalf("got %+v, %v", res, err)
	}
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 16<<20 {
		t.Errorf("reading a 100 MB line grew the heap by %d bytes", grown)
	}
	none, err := Read(&repeat{n: size, fill: 'a'})
	if err != nil || none.Found() {
		t.Errorf("100 MB of 'a': %+v %v", none.Signal, err)
	}
}

func TestMultiLineMostSpecificWins(t *testing.T) {
	text := `Traceback (most recent call last):
  File "app.py", line 3, in <module>
    requests.get("https://api.example.com/")
requests.exceptions.SSLError: HTTPSConnectionPool(host='api.example.com', port=443): Max retries exceeded with url: / (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired (_ssl.c:1006)')))`
	res := Text(text)
	if res.Findings[0].Cause != v.CauseTLSCertificate || res.Target.String() != "https://api.example.com:443/" || res.Line != 4 {
		t.Errorf("got %s %s line %d", res.Findings[0].Cause, res.Target, res.Line)
	}
	// Caused by: the root cause is more specific than the wrapper above it.
	java := "java.lang.RuntimeException: request failed\n\tat App.main(App.java:10)\nCaused by: java.net.UnknownHostException: db.internal.example: Name or service not known"
	res = Text(java)
	if res.Findings[0].Cause != v.CauseDNSFailure || res.Target.Host != "db.internal.example" {
		t.Errorf("caused-by chain: %s %+v", res.Findings[0].Cause, res.Target)
	}
}

func TestLogSummary(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 30; i++ {
		b.WriteString(`2026/01/15 10:00:0` + itoa(i%10) + ` [error] 9#9: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 203.0.113.9, server: a, request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:8080/", host: "a"` + "\n")
		if i%3 == 0 {
			b.WriteString(`2026/01/15 10:01:00 [error] 9#9: *2 upstream timed out (110: Connection timed out) while proxying upgraded connection, client: 203.0.113.9, server: a, request: "GET /ws HTTP/1.1", upstream: "http://127.0.0.1:8282/ws", host: "a"` + "\n")
		}
		b.WriteString("2026/01/15 10:00:00 [notice] 9#9: signal process started\n")
	}
	s, err := Log(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if s.Failures != 40 || len(s.Groups) != 2 || s.Groups[0].Count != 30 || s.Groups[1].Count != 10 {
		t.Fatalf("got %+v", s)
	}
	g := s.Groups[0]
	if g.Cause != v.CauseProxyUpstreamFailed || g.Target.String() != "http://127.0.0.1:8080/" || g.First != "2026/01/15 10:00:00" || g.Last != "2026/01/15 10:00:09" || g.Next == "" {
		t.Errorf("first group %+v", g)
	}
	if s.Groups[1].Cause != v.CauseIdleTimeout {
		t.Errorf("second group %s", s.Groups[1].Cause)
	}
}

// A line read in many pieces is one long line, whether a piece failed or not.
func TestLogLongLineCountedOnce(t *testing.T) {
	text := strings.Repeat("a", 5*MaxLine) + "\n" + strings.Repeat("b", 3*MaxLine) + " connect() failed (111: Connection refused) " + strings.Repeat("c", 2*MaxLine) + "\nshort\n"
	s, err := Log(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if s.Long != 2 || s.Lines != 3 || s.Failures != 1 {
		t.Errorf("want 2 long lines of 3, 1 failure: long %d, lines %d, failures %d", s.Long, s.Lines, s.Failures)
	}
}

// An nginx worker whose pid is a Winsock code (10061#10061) is not a failure.
func TestLogNginxPidIsNotACode(t *testing.T) {
	var b strings.Builder
	for _, pid := range []string{"10061", "10060", "10065"} {
		b.WriteString(`2026/01/15 10:00:00 [error] ` + pid + `#` + pid + `: *5 open() "/var/www/x" failed (2: No such file or directory), client: 203.0.113.9, server: a, request: "GET /x HTTP/1.1", host: "a"` + "\n")
	}
	b.WriteString(`2026/01/15 10:00:01 [error] 10061#10061: *6 connect() failed (111: Connection refused) while connecting to upstream, client: 203.0.113.9, server: a, request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:8080/", host: "a"` + "\n")
	s, err := Log(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if s.Failures != 1 || len(s.Groups) != 1 || s.Groups[0].Cause != v.CauseProxyUpstreamFailed {
		t.Errorf("want only the refused upstream: %+v", s)
	}
}

func TestLogGroupsBounded(t *testing.T) {
	var b strings.Builder
	for i := 0; i < MaxGroups+500; i++ {
		b.WriteString("Error: connect ECONNREFUSED 10.1." + itoa(i/250) + "." + itoa(i%250) + ":80\n")
	}
	s, err := Log(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Groups) != MaxGroups+1 || s.Failures != MaxGroups+500 {
		t.Fatalf("%d groups, %d failures", len(s.Groups), s.Failures)
	}
	other := 0
	for _, g := range s.Groups {
		if g.Other {
			other = g.Count
		}
	}
	if other != 500 {
		t.Errorf("other targets: %d", other)
	}
}

func TestTimeOf(t *testing.T) {
	for in, want := range map[string]string{
		"2026/01/15 10:00:00 [error] x":           "2026/01/15 10:00:00",
		"2026-01-15T10:00:00.123Z level=error":    "2026-01-15T10:00:00.123Z",
		"Jan 15 10:00:00 host kernel: TCP: x":     "Jan 15 10:00:00",
		"[15/Jan/2026:10:00:00 +0000] \"GET / \"": "15/Jan/2026:10:00:00 +0000",
		"no time here": "",
	} {
		if got := timeOf([]byte(in)); got != want {
			t.Errorf("timeOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkLogNginx(b *testing.B) {
	line := `2026/01/15 10:00:00 [error] 1234#1234: *5 connect() failed (111: Connection refused) while connecting to upstream, client: 203.0.113.9, server: example.com, request: "GET /ws HTTP/1.1", upstream: "http://127.0.0.1:8282/ws", host: "example.com"` + "\n"
	data := []byte(strings.Repeat(line, 10000))
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		if _, err := Log(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// The batches classified in parallel add up to the line-by-line pass: the
// same groups, counts, first and last lines and times, long lines included.
func TestLogParallelSameAsSequential(t *testing.T) {
	var b strings.Builder
	lines := []string{
		`2026/01/15 10:00:0%d [error] 9#9: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 203.0.113.9, server: a, request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:808%d/", host: "a"`,
		`2026/01/15 10:01:0%d [error] 9#9: *2 upstream timed out (110: Connection timed out) while proxying upgraded connection, upstream: "http://10.0.0.%d:8282/ws"`,
		"2026-01-15T10:02:0%dZ Error: connect ECONNREFUSED 10.1.2.%d:80",
		"Jan 15 10:03:0%d app[1]: WebSocket connection to 'wss://h%d.example.com/ws' failed: Error during WebSocket handshake: Unexpected response code: 200",
		"2026/01/15 10:00:0%d [notice] 9#9: signal process %d started",
	}
	for i := 0; i < 20000; i++ {
		b.WriteString(fmt.Sprintf(lines[i%len(lines)], i%10, i%7) + "\n")
		if i%4999 == 0 {
			// a line longer than MaxLine, with a failure in its second piece
			b.WriteString(strings.Repeat("x", MaxLine+100) + " connect ECONNREFUSED 10.9.9.9:80\n")
		}
	}
	text := b.String()
	run := func(procs int) Summary {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		s, err := Log(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	seq, par := run(1), run(4)
	if seq.Failures == 0 || seq.Long == 0 || len(seq.Groups) < 10 {
		t.Fatalf("the corpus does not exercise the summary: %+v", seq)
	}
	if !reflect.DeepEqual(seq, par) {
		t.Errorf("parallel summary differs:\nsequential %+v\nparallel   %+v", seq, par)
	}
}

// A server bound to loopback accepts a client that connects to loopback:
// that cause is offered only for a refusal from another address.
func TestRefusedOnLoopbackIsNotBoundToLoopback(t *testing.T) {
	has := func(res Result, c v.Cause) bool {
		for _, f := range res.Findings {
			if f.Cause == c {
				return true
			}
		}
		return false
	}
	for _, text := range []string{"connect ECONNREFUSED 127.0.0.1:8282", "dial tcp [::1]:8282: connect: connection refused", "Failed to connect to localhost port 8282: Connection refused"} {
		if res := Text(text); len(res.Findings) == 0 || has(res, v.CauseBoundToLoopback) {
			t.Errorf("%s: %v", text, res.Findings)
		}
	}
	if res := Text("connect ECONNREFUSED 10.0.0.5:8282"); !has(res, v.CauseBoundToLoopback) {
		t.Errorf("a refusal from another address: bound_to_loopback is possible: %v", res.Findings)
	}
}

// Chrome's reasonless failure, as copied from the console: the space after
// the colon is often lost.
func TestBareChromiumFailure(t *testing.T) {
	for _, text := range []string{
		"WebSocket connection to 'wss://127.0.0.1:8443/ws' failed: ",
		"WebSocket connection to 'wss://127.0.0.1:8443/ws' failed:",
		"main.js:12 WebSocket connection to 'wss://127.0.0.1:8443/ws' failed:\n",
	} {
		res := Text(text)
		if res.Signal != "ambiguous" || res.Target.String() != "wss://127.0.0.1:8443/ws" {
			t.Errorf("%q: signal %q target %s", text, res.Signal, res.Target)
		}
	}
	res := Text("WebSocket connection to 'ws://127.0.0.1:8282/' failed: Error during WebSocket handshake: Unexpected response code: 200")
	if res.Signal == "ambiguous" || len(res.Findings) == 0 || res.Findings[0].Cause != v.CauseWSUpgradeRejected {
		t.Errorf("a reason after the colon decides: %q %v", res.Signal, res.Findings)
	}
}

func TestNearCause(t *testing.T) {
	for in, want := range map[string]v.Cause{
		"filterd": v.CauseFiltered, "not-listening": v.CauseNotListening, "tls_expect": v.CauseTLSExpected,
		"FILTERED": v.CauseFiltered, "hello": "", "ok": "", "timeout": "", "connection refused": "",
		"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz": "",
	} {
		if got := NearCause(in); got != want {
			t.Errorf("NearCause(%q) = %q, want %q", in, got, want)
		}
	}
}
