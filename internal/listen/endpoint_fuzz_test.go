package listen

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/net/html"
)

// The fuzz targets here feed hostile bytes to the endpoints that do not
// run on a session alone: the http endpoint (net/http with the info page)
// and the TLS endpoints (the handshake over client bytes, then the stream
// driver over the plaintext).

// memConn is a connection from bytes: Read returns the chunks one by one,
// then io.EOF; what the server writes is collected.
type memConn struct {
	mu     sync.Mutex
	chunks [][]byte
	out    bytes.Buffer
	closed bool
}

func (c *memConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	for len(c.chunks) > 0 && len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	return n, nil
}

func (c *memConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	if c.out.Len() > 16<<20 {
		return 0, errors.New("memConn: the server wrote more than 16 MiB")
	}
	return c.out.Write(p)
}

func (c *memConn) output() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.out.Bytes())
}

func (c *memConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *memConn) LocalAddr() net.Addr              { return net.TCPAddrFromAddrPort(testLocal) }
func (c *memConn) RemoteAddr() net.Addr             { return net.TCPAddrFromAddrPort(testPeer) }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// oneListener accepts one connection, then waits for Close.
type oneListener struct {
	mu     sync.Mutex
	c      net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *oneListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	c := l.c
	l.c = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *oneListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *oneListener) Addr() net.Addr { return net.TCPAddrFromAddrPort(testLocal) }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// pageTags are the elements of the check page and the attributes each may
// have; a client's bytes must never add one.
var pageTags = map[string][]string{
	"html": {"lang", "dir"}, "head": nil, "meta": {"charset", "name", "content"}, "title": nil, "style": nil,
	"body": {"data-state"}, "main": nil, "h1": nil, "p": {"class", "id", "hidden"}, "noscript": nil,
	"section": {"id", "aria-live"}, "form": {"id", "autocomplete"}, "label": {"for"}, "div": {"class"},
	"input":  {"id", "name", "type", "inputmode", "dir", "placeholder", "spellcheck", "maxlength"},
	"button": {"id", "type"}, "details": nil, "summary": nil, "code": {"dir"}, "table": {"dir"},
	"tr": nil, "th": nil, "td": nil, "small": nil, "script": {"type", "id"},
}

// checkPage fails when the page holds an element or attribute the template
// does not write: client bytes that were not escaped.
func checkPage(t *testing.T, body []byte) {
	t.Helper()
	z := html.NewTokenizer(bytes.NewReader(body))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			attrs, ok := pageTags[tok.Data]
			if !ok {
				t.Fatalf("the page has a <%s> element:\n%s", tok.Data, body)
			}
			for _, a := range tok.Attr {
				if !slices.Contains(attrs, a.Key) {
					t.Fatalf("the page has a %s attribute on <%s>:\n%s", a.Key, tok.Data, body)
				}
			}
		}
	}
}

// fuzzHTTP serves data, cut into pieces, as one connection to an http
// endpoint and checks the answers.
func fuzzHTTP(t *testing.T, data, split []byte) {
	done := make(chan Record, 1)
	s := newServer(Config{Version: "test", Log: func(r Record) { done <- r }})
	ep := &endpoint{Endpoint: Endpoint{Scheme: "http", Proto: HTTP}, version: "test", addr: testLocal, lfd: -1}
	hs := s.httpServer(ep)
	var errs lockedBuffer
	hs.ErrorLog = log.New(&errs, "", 0)
	mc := &memConn{chunks: splitBy(data, split)}
	ln := &oneListener{c: mc, closed: make(chan struct{})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = hs.Serve(&countListener{Listener: ln, s: s, ep: ep})
	}()
	var rec Record
	select {
	case rec = <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the connection did not end; input %q", data)
	}
	hs.Close()
	<-served

	if e := errs.String(); strings.Contains(e, "panic") {
		t.Fatalf("the handler panicked: %s", e)
	}
	if rec.Reason.Code != "http_done" && rec.Reason.Code != "http_upgrade_answered_200" {
		t.Fatalf("connection ended with %q", rec.Reason.Code)
	}
	out := mc.output()
	// Each request (it takes at least one line) may get the check page, a
	// fixed 16 KiB at most; beyond that the answers grow with the input.
	if len(out) > 100*len(data)+(16<<10)*(1+bytes.Count(data, []byte{'\n'})) {
		t.Fatalf("%d bytes in, %d out", len(data), len(out))
	}
	// A HEAD answer has no body, which ReadResponse without the request
	// cannot know: past one, the answers are not read.
	deep := !bytes.Contains(data, []byte("HEAD"))
	br := bufio.NewReader(bytes.NewReader(out))
	for i := 0; br.Size() > 0; i++ {
		if _, err := br.Peek(1); err != nil {
			break
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if i == 0 {
				t.Fatalf("the first answer is not HTTP: %v\n%q", err, out)
			}
			break
		}
		if resp.StatusCode < 100 || resp.StatusCode > 599 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || (!deep && i > 0) {
			break
		}
		if got := resp.Header.Get("Server"); got != "conndiag-listen/test" {
			t.Fatalf("200 with Server header %q", got)
		}
		switch ct := resp.Header.Get("Content-Type"); {
		case strings.HasPrefix(ct, "text/html"):
			checkPage(t, body)
		case ct == "application/json" && deep:
			var info Info
			if err := json.Unmarshal(body, &info); err != nil || info.Conndiag != "listen" || info.Client != testPeer.String() {
				t.Fatalf("whoami %q: %v", body, err)
			}
		default:
			t.Fatalf("200 with Content-Type %q", ct)
		}
	}
}

// httpSeeds are hostile requests to the http endpoint.
var httpSeeds = []struct{ data, split string }{
	{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", ""},
	{"GET /whoami HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: y\r\nAccept: application/json\r\n\r\n", "\x05\x10\x20"},
	{"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", ""},
	{"GET / HTTP/1.0\n\n", ""}, // LF only
	{"GET / HTTP/1.1\rHost: x\r\r", ""},
	{"GET / HTTP/1.1\r\nHost: x", "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"}, // a head that never ends, a byte at a time
	{"GET /" + strings.Repeat("a", 20000) + " HTTP/1.1\r\nHost: x\r\n\r\n", "\xff"},
	{"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + strings.Repeat("b", 20000) + "\r\n\r\n", "\xff\xff"},
	{"GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: 1\r\n", 3000) + "\r\n", ""},
	{"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\nabc", ""},
	{"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n" + strings.Repeat("c", 1000), ""},
	{"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", ""},
	{"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef", ""},
	{"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nab", ""},
	{"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", ""},
	{"GET / HTTP/1.1\r\nHost: x\r\nX-Evil: <script>alert(1)</script>\r\nX-Quote: \"'><img src=x onerror=y>\r\n\r\n", ""},
	{"GET / HTTP/1.1\r\nHost: x\r\nX-<b>: 1\r\n\r\n", ""}, // not a header name: 400
	{"GET / HTTP/1.1\r\nHost: <svg onload=x>\r\n\r\n", ""},
	{"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: \u202e\x1b]0;title\x07\x1b[2J</code></td>\r\n\r\n", ""},
	{"GET / HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n b\r\n\r\n", ""},
	{"GET http://evil.example/ HTTP/1.1\r\nHost: x\r\n\r\n", ""},
	{"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n", ""},
	{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ""},
	{"GET /\r\n", ""},                                    // HTTP/0.9
	{"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", ""}, // TLS to the plain port
	{"\x00\x00\x00\x00\xff\xfe\r\n\r\n", ""},
	{"GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n", ""},
}

func TestHTTPEndpointHostile(t *testing.T) {
	for _, tt := range httpSeeds {
		fuzzHTTP(t, []byte(tt.data), []byte(tt.split))
	}
}

func FuzzHTTPEndpoint(f *testing.F) {
	for _, tt := range httpSeeds {
		f.Add([]byte(tt.data), []byte(tt.split))
	}
	f.Fuzz(fuzzHTTP)
}

// testTLS is the TLS configuration of the fuzzed endpoints: made once, a
// self-signed certificate costs a few milliseconds.
var testTLS = sync.OnceValues(func() (*tls.Config, error) {
	c, _, err := tlsConfig(Config{}.withDefaults(), nil)
	return c, err
})

func tlsServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Version = "test"
	s := newServer(cfg)
	var err error
	if s.tls, err = testTLS(); err != nil {
		t.Fatal(err)
	}
	return s
}

func tlsStream(s *Server, p Proto, nc net.Conn) *streamConn {
	sc := &streamConn{s: s, nc: nc, start: time.Now()}
	sc.ep = &endpoint{Endpoint: Endpoint{Scheme: "tls", Proto: p, TLS: true}, version: "test", addr: testLocal, lfd: -1}
	sc.peer, sc.local = testPeer, testLocal
	return sc
}

const plainHTTPAnswer = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"

// tlsAnswer classifies what a TLS endpoint sent to raw bytes.
func tlsAnswer(t *testing.T, out []byte) string {
	t.Helper()
	switch {
	case len(out) == 0:
		return "nothing"
	case string(out) == plainHTTPAnswer:
		return "plain HTTP 400"
	case len(out) > 64<<10:
		t.Fatalf("the handshake sent %d bytes", len(out))
	case out[0] == 0x15:
		return "alert"
	case out[0] == 0x16:
		return "handshake"
	}
	t.Fatalf("a TLS endpoint sent %q", out)
	return ""
}

// fuzzTLSRaw sends client bytes, cut into pieces, to a TLS endpoint, as
// they come before and during the handshake.
func fuzzTLSRaw(t *testing.T, data, split []byte) {
	run := func(chunks [][]byte) (string, Reason) {
		s := tlsServer(t, Config{})
		mc := &memConn{chunks: chunks}
		why := tlsStream(s, WebSocket, mc).run()
		if why.Code == "internal_error" {
			t.Fatalf("panic: %v", why.Msg)
		}
		return tlsAnswer(t, mc.output()), why
	}
	whole, why1 := run([][]byte{bytes.Clone(data)})
	pieces, why2 := run(splitBy(data, split))
	if whole != pieces || why1.Code != why2.Code {
		t.Fatalf("whole: %s (%s), pieces: %s (%s)", whole, why1.Code, pieces, why2.Code)
	}
	for _, m := range []string{"GET /", "POST ", "HEAD "} {
		if bytes.HasPrefix(data, []byte(m)) && whole != "plain HTTP 400" {
			t.Fatalf("an HTTP request to a TLS port got %s", whole)
		}
	}
}

// clientHello is the first flight of a Go TLS client.
func clientHello(t testing.TB) []byte {
	c := &memConn{}
	tc := tls.Client(c, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true})
	_ = tc.Handshake() // fails at EOF, after writing its hello
	return c.output()
}

func tlsRawSeeds(t testing.TB) []struct{ data, split []byte } {
	hello := clientHello(t)
	huge := []byte{0x16, 0x03, 0x01, 0xff, 0xff}
	return []struct{ data, split []byte }{
		{hello, nil},
		{hello, []byte{0, 0, 0, 0, 0, 10}},
		{hello[:len(hello)/2], nil},
		{append(huge, make([]byte, 1000)...), nil},
		{[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), []byte{1}},
		{[]byte("POST /"), nil},
		{[]byte("\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10"), nil}, // SSLv2 hello
		{[]byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28}, nil},       // an alert first
		{[]byte{0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5}, nil},    // application data first
		{[]byte{0x16, 0x03, 0x01, 0x00, 0x00}, nil},                   // an empty record
		{bytes.Repeat([]byte{0x16, 0x03, 0x01, 0x00, 0x01, 0x01}, 200), []byte{2}},
		{[]byte("\x00\xff junk \x1b[2J"), nil},
	}
}

func TestTLSEndpointHostileBytes(t *testing.T) {
	for _, tt := range tlsRawSeeds(t) {
		fuzzTLSRaw(t, tt.data, tt.split)
	}
}

func FuzzTLSHandshake(f *testing.F) {
	for _, tt := range tlsRawSeeds(f) {
		f.Add(tt.data, tt.split)
	}
	f.Fuzz(fuzzTLSRaw)
}

// pipeConn is the server side of a net.Pipe with TCP addresses.
type pipeConn struct{ net.Conn }

func (pipeConn) LocalAddr() net.Addr  { return net.TCPAddrFromAddrPort(testLocal) }
func (pipeConn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(testPeer) }

var sessionProtos = []Proto{WebSocket, Text, Frame, TCP}

// fuzzTLSSession sends data, cut into pieces, over a real TLS connection to
// an endpoint of the protocol p picks, and checks that the stream driver
// answers what the session alone does.
func fuzzTLSSession(t *testing.T, p byte, data, split []byte) {
	proto := sessionProtos[int(p)%len(sessionProtos)]
	chunks := splitBy(data, split)
	lim := testLimits(256, 64, 64)
	lim.mem = newBudget(1 << 20)
	var ref [][]byte
	for _, c := range chunks {
		ref = append(ref, bytes.Clone(c)) // WebSocket unmasks in place
	}
	want, closed, wantWhy := drive(t, testSession(proto, lim), ref...)

	s := tlsServer(t, Config{MaxMessage: 256, MaxLine: 64, MaxFrame: 64, MaxBuffered: 1 << 20})
	// A pipe has no buffer: a server writing a session ticket while the
	// client writes its Finished would wait for each other until a
	// deadline. The tickets do not matter here.
	s.tls = s.tls.Clone()
	s.tls.SessionTicketsDisabled = true
	cs, ss := net.Pipe()
	whyc := make(chan Reason, 1)
	go func() {
		sc := tlsStream(s, proto, pipeConn{ss})
		why := sc.run()
		ss.Close()
		if used := s.mem.used.Load(); used != sc.held || used < 0 {
			why = Reason{Code: "budget used " + itoa(int(used)) + ", held " + itoa(int(sc.held))}
		}
		whyc <- why
	}()
	tc := tls.Client(cs, &tls.Config{InsecureSkipVerify: true})
	defer tc.Close()
	_ = tc.SetDeadline(time.Now().Add(20 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	var got bytes.Buffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		_, _ = io.Copy(&got, tc)
	}()
	for _, c := range chunks {
		if _, err := tc.Write(c); err != nil {
			break // the server closed the connection
		}
	}
	_ = tc.CloseWrite()
	why := <-whyc
	<-read
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("%s over TLS answered\n%q\nthe session alone\n%q", proto, got.Bytes(), want)
	}
	if closed && why.Code != wantWhy.Code || !closed && why.Code != "client_closed" {
		t.Fatalf("%s over TLS ended with %s; the session alone closed=%v (%s)", proto, why.Code, closed, wantWhy.Code)
	}
}

func tlsSessionSeeds() []struct {
	p           byte
	data, split []byte
} {
	cf := clientFrame
	wsData := append([]byte(handshake), cf(true, ws.OpText, []byte("whoami"))...)
	wsData = append(wsData, cf(false, ws.OpBinary, make([]byte, 100))...)
	wsData = append(wsData, cf(true, ws.OpContinuation, make([]byte, 100))...)
	wsData = append(wsData, cf(true, ws.OpClose, ws.NewCloseFrameBody(1000, ""))...)
	frames := append(frameBytes("hello"), frameBytes("whoami")...)
	frames = append(frames, binary.BigEndian.AppendUint32(nil, 60)...)
	return []struct {
		p           byte
		data, split []byte
	}{
		{0, wsData, []byte{10, 200, 3, 3}},
		{0, append([]byte(handshake), cf(true, ws.OpBinary, make([]byte, 300))...), []byte{255, 0}},
		{0, []byte("GET / HTTP/1.1\r\n\r\n"), nil},
		{1, []byte("hello\nwhoami\r\n" + strings.Repeat("x", 100)), []byte{3}},
		{2, frames, []byte{1, 7}},
		{2, []byte{0xff, 0xff, 0xff, 0xff}, nil},
		{3, []byte("whoami\nraw bytes"), []byte{2}},
	}
}

func TestTLSEndpointSessions(t *testing.T) {
	for _, tt := range tlsSessionSeeds() {
		fuzzTLSSession(t, tt.p, tt.data, tt.split)
	}
}

func FuzzTLSSession(f *testing.F) {
	for _, tt := range tlsSessionSeeds() {
		f.Add(tt.p, tt.data, tt.split)
	}
	f.Fuzz(fuzzTLSSession)
}
