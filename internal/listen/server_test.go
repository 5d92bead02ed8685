package listen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// recorder collects the connection log.
type recorder struct {
	mu   sync.Mutex
	recs []Record
}

func (r *recorder) add(rec Record) {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
}

// waitFor waits until a record with the code exists for the peer (any peer when "").
func (r *recorder) waitFor(t *testing.T, code, peer string) Record {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		r.mu.Lock()
		for _, rec := range r.recs {
			if rec.Reason.Code == code && (peer == "" || rec.Peer.String() == peer) {
				r.mu.Unlock()
				return rec
			}
		}
		r.mu.Unlock()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Fatalf("no %q record for %q; records: %+v", code, peer, r.recs)
	return Record{}
}

type testServer struct {
	*Server
	rec  *recorder
	urls map[string]string // scheme → host:port
	stop func()
}

// serve starts endpoints on free loopback ports; they stop at cleanup.
func serve(t *testing.T, cfg Config, uris ...string) *testServer {
	t.Helper()
	rec := &recorder{}
	cfg.Log = rec.add
	cfg.Version = "test"
	var eps []Endpoint
	for _, u := range uris {
		e, err := ParseEndpoint(u)
		if err != nil {
			t.Fatal(err)
		}
		eps = append(eps, e)
	}
	srv, err := Listen(context.Background(), cfg, eps)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, rec: rec, urls: map[string]string{}}
	for _, b := range srv.Bound() {
		ts.urls[b.Scheme] = b.Addr.String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ctx)
	}()
	var once sync.Once
	ts.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("Serve did not return after cancel")
			}
		})
	}
	t.Cleanup(ts.stop)
	return ts
}

// bothDrivers runs f with the event loop and with a goroutine per connection.
func bothDrivers(t *testing.T, f func(t *testing.T, cfg Config)) {
	t.Run("loop", func(t *testing.T) { f(t, Config{}) })
	t.Run("stream", func(t *testing.T) { f(t, Config{noLoop: true}) })
}

func dialWS(t *testing.T, addr string) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/any/path?x=1", nil)
	if err != nil {
		t.Fatalf("dial ws://%s: %v", addr, err)
	}
	if got := resp.Header.Get("Server"); got != "conndiag-listen/test" {
		t.Errorf("handshake Server header %q", got)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func wsEcho(t *testing.T, c *websocket.Conn, typ int, msg []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if err := c.WriteMessage(typ, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	gt, got, err := c.ReadMessage()
	if err != nil || gt != typ || string(got) != string(msg) {
		t.Fatalf("echo: type %d, %d bytes, %v; want type %d, %d bytes", gt, len(got), err, typ, len(msg))
	}
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func textEcho(t *testing.T, c net.Conn, line string) {
	t.Helper()
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(line)+1)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != line+"\n" {
		t.Fatalf("text echo %q, %v", got, err)
	}
}

func frameEcho(t *testing.T, c net.Conn, payload string) {
	t.Helper()
	if _, err := c.Write(frameBytes(payload)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(payload)+4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != string(frameBytes(payload)) {
		t.Fatalf("frame echo %q, %v", got, err)
	}
}

// closedByServer waits for EOF or reset, reading whatever comes first.
func closedByServer(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server did not close the connection (read %d bytes)", len(b))
	}
	return b
}

func checkWhoami(t *testing.T, b []byte, proto Proto, client net.Addr) Info {
	t.Helper()
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatalf("whoami %q: %v", b, err)
	}
	if info.Conndiag != "listen" || info.Version != "test" || info.Proto != proto || info.Client != client.String() {
		t.Fatalf("whoami %+v: want proto %s, client %s", info, proto, client)
	}
	return info
}

func TestWebSocketEndpoint(t *testing.T) {
	bothDrivers(t, func(t *testing.T, cfg Config) {
		ts := serve(t, cfg, "websocket://127.0.0.1:0")
		c := dialWS(t, ts.urls["websocket"])
		wsEcho(t, c, websocket.TextMessage, []byte("hello"))
		wsEcho(t, c, websocket.BinaryMessage, []byte{0, 1, 2, 255})
		wsEcho(t, c, websocket.BinaryMessage, make([]byte, 512<<10))

		// whoami answers with the client address as seen by the server.
		c.WriteMessage(websocket.TextMessage, []byte("whoami"))
		_, b, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		info := checkWhoami(t, b, WebSocket, c.LocalAddr())
		if info.Server != ts.urls["websocket"] {
			t.Errorf("whoami server %s, want %s", info.Server, ts.urls["websocket"])
		}

		// Ping gets pong (gorilla calls the handler while reading).
		pong := make(chan string, 1)
		c.SetPongHandler(func(s string) error { pong <- s; return nil })
		c.WriteControl(websocket.PingMessage, []byte("p1"), time.Now().Add(time.Second))
		wsEcho(t, c, websocket.TextMessage, []byte("after ping"))
		select {
		case s := <-pong:
			if s != "p1" {
				t.Errorf("pong %q", s)
			}
		default:
			t.Error("no pong")
		}

		// A fragmented message comes back whole: with a 1 KiB write buffer
		// gorilla sends a frame each time the buffer fills.
		small := websocket.Dialer{WriteBufferSize: 1024}
		fc, _, err := small.Dial("ws://"+ts.urls["websocket"]+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer fc.Close()
		wsEcho(t, fc, websocket.TextMessage, []byte(strings.Repeat("f", 10000)))

		// Close handshake: the status is echoed.
		c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "bye"), time.Now().Add(time.Second))
		_, _, err = c.ReadMessage()
		if !websocket.IsCloseError(err, 4001) {
			t.Fatalf("after close: %v, want close 4001", err)
		}
		rec := ts.rec.waitFor(t, "ws_close", c.LocalAddr().String())
		if rec.In == 0 || rec.Out == 0 || rec.Proto != WebSocket || rec.Endpoint != "websocket://"+ts.urls["websocket"] {
			t.Errorf("log record %+v", rec)
		}
	})
}

func TestTextFrameTCPEndpoints(t *testing.T) {
	bothDrivers(t, func(t *testing.T, cfg Config) {
		ts := serve(t, cfg, "text://127.0.0.1:0", "frame://127.0.0.1:0", "tcp://127.0.0.1:0")

		tc := dialTCP(t, ts.urls["text"])
		textEcho(t, tc, "hello")
		io.WriteString(tc, "whoami\r\n")
		line, err := bufio.NewReader(tc).ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		checkWhoami(t, []byte(line), Text, tc.LocalAddr())

		fc := dialTCP(t, ts.urls["frame"])
		frameEcho(t, fc, "hello")
		frameEcho(t, fc, "")
		fc.Write(frameBytes("whoami"))
		var size [4]byte
		io.ReadFull(fc, size[:])
		body := make([]byte, binary.BigEndian.Uint32(size[:])-4)
		if _, err := io.ReadFull(fc, body); err != nil {
			t.Fatal(err)
		}
		checkWhoami(t, body, Frame, fc.LocalAddr())

		rc := dialTCP(t, ts.urls["tcp"])
		io.WriteString(rc, "whoami\n")
		br := bufio.NewReader(rc)
		line, _ = br.ReadString('\n')
		checkWhoami(t, []byte(line), TCP, rc.LocalAddr())
		io.WriteString(rc, "raw bytes\x00\xff")
		got := make([]byte, 11)
		if _, err := io.ReadFull(br, got); err != nil || string(got) != "raw bytes\x00\xff" {
			t.Fatalf("raw echo %q, %v", got, err)
		}
		rc.(*net.TCPConn).CloseWrite()
		closedByServer(t, rc)
		ts.rec.waitFor(t, "client_closed", rc.LocalAddr().String())
	})
}

// Hostile clients are closed, each alone; the well-behaved ones never notice.
func TestHostileClientsAreClosedAlone(t *testing.T) {
	bothDrivers(t, func(t *testing.T, cfg Config) {
		cfg.MaxLine, cfg.MaxFrame, cfg.MaxMessage = 1024, 1024, 4096
		ts := serve(t, cfg, "websocket://127.0.0.1:0", "text://127.0.0.1:0", "frame://127.0.0.1:0", "tcp://127.0.0.1:0")
		good := dialWS(t, ts.urls["websocket"])
		goodText := dialTCP(t, ts.urls["text"])
		goodFrame := dialTCP(t, ts.urls["frame"])
		goodTCP := dialTCP(t, ts.urls["tcp"])
		stillFine := func() {
			t.Helper()
			wsEcho(t, good, websocket.TextMessage, []byte("still here"))
			textEcho(t, goodText, "still here")
			frameEcho(t, goodFrame, "still here")
			io.WriteString(goodTCP, "x")
			b := make([]byte, 1)
			if _, err := io.ReadFull(goodTCP, b); err != nil {
				t.Fatal(err)
			}
		}

		c := dialTCP(t, ts.urls["text"])
		io.WriteString(c, "ok\n"+strings.Repeat("x", 5000)+"\n")
		if got := closedByServer(t, c); string(got) != "ok\n" {
			t.Errorf("over-long line: got %q before close", got)
		}
		ts.rec.waitFor(t, "line_too_long", c.LocalAddr().String())
		stillFine()

		for _, f := range [][]byte{{0, 0, 0, 2}, {0, 0, 0x10, 0}, {0xff, 0xff, 0xff, 0xff}} {
			c := dialTCP(t, ts.urls["frame"])
			c.Write(f)
			closedByServer(t, c)
		}
		ts.rec.waitFor(t, "frame_too_short", "")
		ts.rec.waitFor(t, "frame_too_big", "")
		stillFine()

		w := dialWS(t, ts.urls["websocket"])
		w.WriteMessage(websocket.BinaryMessage, make([]byte, 5000))
		if _, _, err := w.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
			t.Errorf("oversized message: %v, want close 1009", err)
		}
		stillFine()

		// Bytes that are nothing at all, to every endpoint.
		junk := make([]byte, 64<<10)
		rand.Read(junk)
		junk = bytes.ReplaceAll(junk, []byte{'\n'}, []byte{'n'}) // no line, no HTTP head ends
		junk[0] = 0xff                                           // nor a small frame
		for _, addr := range []string{ts.urls["websocket"], ts.urls["text"], ts.urls["frame"]} {
			c := dialTCP(t, addr)
			c.Write(junk)
			closedByServer(t, c)
		}
		stillFine()
	})
}

// Slow clients that never finish are closed by the deadlines.
func TestSlowClientsAreClosed(t *testing.T) {
	bothDrivers(t, func(t *testing.T, cfg Config) {
		cfg.HandshakeTimeout, cfg.ReadTimeout, cfg.IdleTimeout = 300*time.Millisecond, 300*time.Millisecond, 600*time.Millisecond
		ts := serve(t, cfg, "websocket://127.0.0.1:0", "text://127.0.0.1:0", "frame://127.0.0.1:0")
		good := dialWS(t, ts.urls["websocket"])

		drip := func(addr, start string) net.Conn {
			c := dialTCP(t, addr)
			io.WriteString(c, start)
			go func() { // a byte now and then, never finishing
				for range 100 {
					time.Sleep(50 * time.Millisecond)
					if _, err := c.Write([]byte{'a'}); err != nil {
						return
					}
				}
			}()
			return c
		}
		hs := drip(ts.urls["websocket"], "GET / HTTP/1.1\r\nX: ")
		line := drip(ts.urls["text"], "abc")
		frame := drip(ts.urls["frame"], string([]byte{0, 0, 1, 0}))
		idle := dialTCP(t, ts.urls["text"])
		for _, c := range []net.Conn{hs, line, frame, idle} {
			closedByServer(t, c)
		}
		ts.rec.waitFor(t, "handshake_timeout", hs.LocalAddr().String())
		ts.rec.waitFor(t, "read_timeout", line.LocalAddr().String())
		ts.rec.waitFor(t, "read_timeout", frame.LocalAddr().String())
		ts.rec.waitFor(t, "idle_timeout", idle.LocalAddr().String())
		ts.rec.waitFor(t, "idle_timeout", good.LocalAddr().String())
		wsEcho(t, dialWS(t, ts.urls["websocket"]), websocket.TextMessage, []byte("fine"))
	})
}

// A client that sends and never reads is closed once the replies stop
// draining; the server does not buffer without bound meanwhile.
func TestClientThatNeverReads(t *testing.T) {
	bothDrivers(t, func(t *testing.T, cfg Config) {
		cfg.ReadTimeout = 300 * time.Millisecond
		ts := serve(t, cfg, "text://127.0.0.1:0")
		c := dialTCP(t, ts.urls["text"])
		c.(*net.TCPConn).SetReadBuffer(4096)
		go func() {
			lines := []byte(strings.Repeat("whoami\n", 10000))
			for range 100 {
				if _, err := c.Write(lines); err != nil {
					return
				}
			}
		}()
		ts.rec.waitFor(t, "write_timeout", c.LocalAddr().String())
		textEcho(t, dialTCP(t, ts.urls["text"]), "others are fine")
	})
}

// Memory taken by hostile clients is given back when they are closed.
func TestHostileClientsLeaveNoMemory(t *testing.T) {
	cfg := Config{MaxLine: 1024, MaxMessage: 1024}
	ts := serve(t, cfg, "text://127.0.0.1:0", "websocket://127.0.0.1:0")
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	junk := []byte(strings.Repeat("y", 256<<10))
	before := heap()
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := ts.urls["text"]
			if i%2 == 1 {
				addr = ts.urls["websocket"]
			}
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write(junk)
			io.Copy(io.Discard, c)
		}()
	}
	wg.Wait()
	for deadline := time.Now().Add(5 * time.Second); ts.Stats().Open > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if open := ts.Stats().Open; open != 0 {
		t.Fatalf("%d hostile connections still open", open)
	}
	if after := heap(); after > before+4<<20 {
		t.Errorf("heap grew from %d to %d bytes after 100 hostile clients left", before, after)
	}
}

// Idle WebSocket connections on the event loop cost no goroutine.
func TestIdleConnectionsHaveNoGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the event loop is Linux-only")
	}
	ts := serve(t, Config{}, "ws://127.0.0.1:0")
	base := runtime.NumGoroutine()
	conns := make([]*websocket.Conn, 300)
	for i := range conns {
		conns[i] = dialWS(t, ts.urls["ws"])
	}
	wsEcho(t, conns[299], websocket.TextMessage, []byte("x"))
	if n := runtime.NumGoroutine() - base; n > 20 {
		t.Errorf("%d goroutines more for 300 idle connections", n)
	}
	if st := ts.Stats(); st.Open != 300 {
		t.Errorf("open connections %d, want 300", st.Open)
	}
}

func TestHTTPEndpoint(t *testing.T) {
	ts := serve(t, Config{}, "http://127.0.0.1:0")
	base := "http://" + ts.urls["http"]
	get := func(path, accept string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		req.Header.Set("X-Probe", "yes")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.Header.Get("Server") != "conndiag-listen/test" {
			t.Errorf("Server header %q", resp.Header.Get("Server"))
		}
		return resp, string(b)
	}
	resp, body := get("/", "text/html")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "127.0.0.1:") || !strings.Contains(body, "X-Probe") {
		t.Errorf("info page: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	for _, c := range []struct{ path, accept string }{{"/whoami", ""}, {"/anything", "application/json"}} {
		resp, body := get(c.path, c.accept)
		var info Info
		if err := json.Unmarshal([]byte(body), &info); err != nil || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %q, %v", c.path, body, err)
		}
		if info.Proto != HTTP || info.Headers["X-Probe"] != "yes" || info.Headers["Host"] != ts.urls["http"] || info.Server != ts.urls["http"] {
			t.Errorf("%s: %+v", c.path, info)
		}
	}

	// A WebSocket client meets an HTTP-only server: 200, not 101.
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+ts.urls["http"]+"/", nil)
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != 200 {
		t.Fatalf("WebSocket to the http endpoint: %v, %v", err, resp)
	}
	ts.rec.waitFor(t, "http_upgrade_answered_200", "")
}

func TestTLSEndpoints(t *testing.T) {
	check := func(t *testing.T, ts *testServer, conf *tls.Config) {
		// wss
		d := websocket.Dialer{TLSClientConfig: conf}
		c, _, err := d.Dial("wss://"+ts.urls["wss"]+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		wsEcho(t, c, websocket.TextMessage, []byte("over TLS"))
		c.WriteMessage(websocket.TextMessage, []byte("whoami"))
		_, b, _ := c.ReadMessage()
		checkWhoami(t, b, WebSocket, c.LocalAddr())

		// https
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: conf}}
		resp, err := hc.Get("https://" + ts.urls["https"] + "/whoami")
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		var info Info
		if json.Unmarshal(b, &info); info.Proto != HTTP {
			t.Errorf("https whoami %q", b)
		}

		// ssl: raw echo
		tc, err := tls.Dial("tcp", ts.urls["ssl"], conf)
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		if fp := Fingerprint(tc.ConnectionState().PeerCertificates[0].Raw); fp != ts.Cert().Fingerprint {
			t.Errorf("presented certificate %s, printed fingerprint %s", fp, ts.Cert().Fingerprint)
		}
		io.WriteString(tc, "whoami\n")
		line, _ := bufio.NewReader(tc).ReadString('\n')
		checkWhoami(t, []byte(line), TCP, tc.LocalAddr())
	}

	t.Run("self-signed", func(t *testing.T) {
		ts := serve(t, Config{}, "wss://127.0.0.1:0", "https://127.0.0.1:0", "ssl://127.0.0.1:0")
		if ts.Cert() == nil || !ts.Cert().SelfSigned || len(ts.Cert().Fingerprint) != 95 {
			t.Fatalf("cert info %+v", ts.Cert())
		}
		check(t, ts, &tls.Config{InsecureSkipVerify: true})

		// A plain WebSocket client on the TLS port gets what net/http answers.
		c := dialTCP(t, ts.urls["wss"])
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if got := closedByServer(t, c); !strings.HasPrefix(string(got), "HTTP/1.0 400 Bad Request") {
			t.Errorf("plain HTTP to a TLS port: %q", got)
		}
		ts.rec.waitFor(t, "tls_failed", c.LocalAddr().String())
	})

	t.Run("given certificate", func(t *testing.T) {
		certPEM, keyPEM, pool := testCert(t)
		ts := serve(t, Config{Cert: certPEM, Key: keyPEM}, "wss://127.0.0.1:0", "https://127.0.0.1:0", "ssl://127.0.0.1:0")
		if ts.Cert().SelfSigned {
			t.Error("a given certificate is reported as self-signed")
		}
		check(t, ts, &tls.Config{RootCAs: pool, ServerName: "listen.test"})
	})

	t.Run("bad certificate", func(t *testing.T) {
		e, _ := ParseEndpoint("wss://127.0.0.1:0")
		_, err := Listen(context.Background(), Config{Cert: []byte("nope"), Key: []byte("nope")}, []Endpoint{e})
		var ce *CertError
		if !errors.As(err, &ce) {
			t.Fatalf("got %v, want a CertError", err)
		}
	})
}

func testCert(t *testing.T) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	return testCertValid(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

func testCertValid(t *testing.T, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "listen.test"}, DNSNames: []string{"listen.test"},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), pool
}

// On shutdown WebSocket clients get close 1001 and everything is closed.
func TestShutdown(t *testing.T) {
	bothDrivers(t, func(t *testing.T, cfg Config) {
		ts := serve(t, cfg, "ws://127.0.0.1:0", "text://127.0.0.1:0", "wss://127.0.0.1:0", "http://127.0.0.1:0")
		w := dialWS(t, ts.urls["ws"])
		wsEcho(t, w, websocket.TextMessage, []byte("x"))
		d := websocket.Dialer{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
		ws2, _, err := d.Dial("wss://"+ts.urls["wss"]+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws2.Close()
		wsEcho(t, ws2, websocket.TextMessage, []byte("x"))
		tc := dialTCP(t, ts.urls["text"])
		textEcho(t, tc, "x")
		ts.stop()
		for _, c := range []*websocket.Conn{w, ws2} {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
				t.Errorf("on shutdown: %v, want close 1001", err)
			}
		}
		closedByServer(t, tc)
		if st := ts.Stats(); st.Open != 0 {
			t.Errorf("%d connections open after shutdown", st.Open)
		}
		ts.rec.waitFor(t, "shutdown", tc.LocalAddr().String())
		if _, err := net.Dial("tcp", ts.urls["text"]); err == nil {
			t.Error("still accepting after shutdown")
		}
	})
}

func TestBindErrors(t *testing.T) {
	held, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	e, _ := ParseEndpoint("text://" + held.Addr().String())
	_, err = Listen(context.Background(), Config{}, []Endpoint{e})
	var be *BindError
	if !errors.As(err, &be) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("got %v, want address in use", err)
	}
	if runtime.GOOS == "linux" {
		if len(be.Holders) != 1 || be.Holders[0].PID != os.Getpid() || be.Holders[0].Name == "" {
			t.Errorf("holders %v, want this process (%d)", be.Holders, os.Getpid())
		}
		if m := be.Msg(); m.ID != "listen.err.in_use_by" {
			t.Errorf("message %s", m.ID)
		}
	}
	// Nothing of a failed Listen stays bound.
	ok, _ := ParseEndpoint("ws://127.0.0.1:0")
	_, err = Listen(context.Background(), Config{}, []Endpoint{ok, e})
	if err == nil {
		t.Fatal("want an error")
	}

	e, _ = ParseEndpoint("tcp://192.0.2.254:9")
	_, err = Listen(context.Background(), Config{}, []Endpoint{e})
	if !errors.As(err, &be) || be.Msg().ID != "listen.err.not_local" {
		t.Errorf("foreign address: %v", err)
	}

	a, _ := ParseEndpoint("ws://0.0.0.0:18999")
	b, _ := ParseEndpoint("text://0.0.0.0:18999")
	var ue *URIError
	if _, err := Listen(context.Background(), Config{}, []Endpoint{a, b}); !errors.As(err, &ue) {
		t.Errorf("two endpoints on one port: %v", err)
	}
}

// 0.0.0.0 and [::] on the same port both bind, like Workerman on Linux.
func TestIPv4AndIPv6Wildcards(t *testing.T) {
	probe, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6")
	}
	probe.Close()
	free, _ := net.Listen("tcp4", "127.0.0.1:0")
	port := free.Addr().(*net.TCPAddr).Port
	free.Close()
	ts := serve(t, Config{}, "tcp://0.0.0.0:"+itoa(port), "text://[::]:"+itoa(port))
	c4 := dialTCP(t, "127.0.0.1:"+itoa(port))
	c6 := dialTCP(t, "[::1]:"+itoa(port))
	io.WriteString(c4, "abc\n")
	b := make([]byte, 4)
	io.ReadFull(c4, b)
	textEcho(t, c6, "v6")
	if string(b) != "abc\n" || ts.Stats().Accepted != 2 {
		t.Errorf("raw echo %q, accepted %d", b, ts.Stats().Accepted)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// A path is not dropped silently: the endpoint serves every path and says so.
func TestBoundWarnsOfPath(t *testing.T) {
	ep, err := ParseEndpoint("ws://127.0.0.1:0/chat")
	if err != nil || ep.Path != "/chat" {
		t.Fatalf("ParseEndpoint = %+v, %v", ep, err)
	}
	srv, err := Listen(context.Background(), Config{}, []Endpoint{ep})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	found := false
	for _, w := range srv.Bound()[0].Warnings {
		found = found || w.ID == "platform.listen.any_path" && w.Args["Path"] == "/chat"
	}
	if !found {
		t.Errorf("no warning that /chat is not the only path served: %v", srv.Bound()[0].Warnings)
	}
}

func TestBoundWarnings(t *testing.T) {
	ts := serve(t, Config{}, "ws://127.0.0.1:0", "tcp://0.0.0.0:0")
	bs := ts.Bound()
	if len(bs[0].Warnings) != 1 || bs[0].Warnings[0].ID != "listen.warn.loopback" {
		t.Errorf("127.0.0.1: warnings %v", bs[0].Warnings)
	}
	if len(bs[1].Warnings) != 0 || bs[1].Addr.Port() == 0 || bs[1].URI != "tcp://0.0.0.0:"+itoa(int(bs[1].Addr.Port())) {
		t.Errorf("0.0.0.0: %+v", bs[1])
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in     string
		scheme string
		proto  Proto
		tls    bool
		host   string
		port   uint16
	}{
		{"websocket://0.0.0.0:8282", "websocket", WebSocket, false, "0.0.0.0", 8282},
		{"ws://[::]:8282/chat", "ws", WebSocket, false, "::", 8282},
		{"wss://0.0.0.0:443", "wss", WebSocket, true, "0.0.0.0", 443},
		{"http://0.0.0.0:80", "http", HTTP, false, "0.0.0.0", 80},
		{"https://127.0.0.1:8443", "https", HTTP, true, "127.0.0.1", 8443},
		{"text://0.0.0.0:5678", "text", Text, false, "0.0.0.0", 5678},
		{"frame://0.0.0.0:5679", "frame", Frame, false, "0.0.0.0", 5679},
		{"tcp://0.0.0.0:9000", "tcp", TCP, false, "0.0.0.0", 9000},
		{"0.0.0.0:9000", "tcp", TCP, false, "0.0.0.0", 9000},
		{"SSL://0.0.0.0:9443", "ssl", TCP, true, "0.0.0.0", 9443},
		{"tls://[::1]:9443", "tls", TCP, true, "::1", 9443},
		{"text://127.0.0.1:0", "text", Text, false, "127.0.0.1", 0},
		{"ws://[::1]:0/x", "ws", WebSocket, false, "::1", 0},
	}
	for _, tt := range tests {
		e, err := ParseEndpoint(tt.in)
		if err != nil || e.Scheme != tt.scheme || e.Proto != tt.proto || e.TLS != tt.tls || e.Host != tt.host || e.Port != tt.port {
			t.Errorf("ParseEndpoint(%q) = %+v, %v", tt.in, e, err)
		}
	}
	for _, bad := range []string{"", "udp://0.0.0.0:9", "text://0.0.0.0", "tcp://0.0.0.0:99999", "ws://a b:1", "text://0.0.0.0:80/path", "websocket://0.0.0.0:-1",
		// No port: binding 80 or 443 unasked would surprise; the person names the port.
		"http://0.0.0.0", "websocket://0.0.0.0", "ws://0.0.0.0/chat", "wss://[::]"} {
		if _, err := ParseEndpoint(bad); err == nil {
			t.Errorf("ParseEndpoint(%q) accepted", bad)
		} else if !strings.Contains(err.Error(), "accepted forms") {
			t.Errorf("ParseEndpoint(%q): %v does not show the forms", bad, err)
		}
	}
}

// A given certificate that is expired or not yet valid is named at startup:
// every client that verifies it would fail.
func TestBoundCertValidity(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		name   string
		nb, na time.Time
		want   string
	}{
		{"expired", now.Add(-48 * time.Hour), now.Add(-24 * time.Hour), "listen.warn.cert_expired"},
		{"not yet valid", now.Add(24 * time.Hour), now.Add(48 * time.Hour), "listen.warn.cert_not_yet"},
		{"valid", now.Add(-time.Hour), now.Add(time.Hour), ""},
	} {
		certPEM, keyPEM, _ := testCertValid(t, tt.nb, tt.na)
		ts := serve(t, Config{Cert: certPEM, Key: keyPEM}, "wss://0.0.0.0:0", "ws://0.0.0.0:0")
		bs := ts.Bound()
		var got []string
		for _, w := range bs[0].Warnings {
			got = append(got, w.ID)
		}
		if tt.want == "" && len(got) != 0 || tt.want != "" && !slices.Contains(got, tt.want) {
			t.Errorf("%s: wss warnings %v, want %q", tt.name, got, tt.want)
		}
		if len(bs[1].Warnings) != 0 {
			t.Errorf("%s: the plain ws endpoint got warnings %v", tt.name, bs[1].Warnings)
		}
	}
}
