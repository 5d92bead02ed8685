package probe_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/probe"
	"github.com/conndiag/conndiag/internal/probe/probetest"
)

// Generous: these deadlines only end the silent cases; nothing asserts time.
const wait = 2 * time.Second

func dial(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dialer(ln net.Listener) probe.DialFunc {
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", ln.Addr().String())
	}
}

func deadline() time.Time { return time.Now().Add(wait) }

func TestWebSocketHandshake(t *testing.T) {
	ctx := context.Background()
	ws := probetest.Listen(t)
	probetest.ServeHTTP(t, ws, probetest.WebSocket("/chat", ""), nil)
	web := probetest.Listen(t)
	probetest.ServeHTTP(t, web, probetest.HTTP("nginx/1.24.0"), nil)
	listen := probetest.Listen(t)
	probetest.ServeHTTP(t, listen, probetest.WebSocket("/", "conndiag-listen/test"), nil)
	echo := probetest.Listen(t)
	probetest.Serve(t, echo, probetest.Echo)
	silent := probetest.Listen(t)
	probetest.Serve(t, silent, probetest.Silent)
	reset := probetest.Listen(t)
	probetest.Serve(t, reset, probetest.ResetAfterRead)
	closer := probetest.Listen(t)
	probetest.Serve(t, closer, probetest.Frame(false)) // closes on "GET " as a 1.2 GB length

	t.Run("upgraded", func(t *testing.T) {
		w := probe.WebSocketHandshake(ctx, dial(t, ws), deadline(), "127.0.0.1", "/chat")
		if !w.Upgraded || w.Status != 101 || !w.AcceptOK() || w.Reply != probe.Answered {
			t.Fatalf("%+v", w)
		}
		if !bytes.HasPrefix(w.Sent, []byte("GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\n")) {
			t.Errorf("request sent: %q", w.Sent)
		}
	})
	t.Run("context ends before the deadline", func(t *testing.T) {
		// The context's end closes the connection under the library's read:
		// silence until then, not an error of conndiag's own.
		ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		w := probe.WebSocketHandshake(ctx, dial(t, silent), time.Now().Add(5*time.Second), "127.0.0.1", "/")
		if w.Reply != probe.Silent || errors.Is(w.Exchange.Err, net.ErrClosed) {
			t.Fatalf("reply %q, err %v", w.Reply, w.Exchange.Err)
		}
	})
	t.Run("path not found", func(t *testing.T) {
		w := probe.WebSocketHandshake(ctx, dial(t, ws), deadline(), "127.0.0.1", "/nope")
		if w.Upgraded || w.Status != 404 || !bytes.Contains(w.Body, []byte("404 page not found")) {
			t.Fatalf("%+v", w)
		}
	})
	t.Run("plain web server", func(t *testing.T) {
		w := probe.WebSocketHandshake(ctx, dial(t, web), deadline(), "127.0.0.1", "/")
		if w.Upgraded || w.Status != 200 || w.Server() != "nginx/1.24.0" || !bytes.Contains(w.Body, []byte("plain web server")) {
			t.Fatalf("%+v", w)
		}
	})
	t.Run("conndiag listen", func(t *testing.T) {
		c := dial(t, listen)
		w := probe.WebSocketHandshake(ctx, c, deadline(), "127.0.0.1", "/")
		if !w.Upgraded || w.Whoami == nil || w.Whoami.Proto != "websocket" || w.Whoami.Client.String() != c.LocalAddr().String() {
			t.Fatalf("whoami: %+v", w.Whoami)
		}
	})
	t.Run("text echo", func(t *testing.T) {
		w := probe.WebSocketHandshake(ctx, dial(t, echo), deadline(), "127.0.0.1", "/")
		if w.Status != 0 || w.Reply != probe.Answered || probe.Classify(w.Received, w.Sent).Name != probe.SvcEcho {
			t.Fatalf("%+v", w)
		}
	})
	t.Run("silent", func(t *testing.T) {
		w := probe.WebSocketHandshake(ctx, dial(t, silent), time.Now().Add(300*time.Millisecond), "127.0.0.1", "/")
		if w.Reply != probe.Silent || w.ReceivedN != 0 {
			t.Fatalf("%+v", w)
		}
	})
	t.Run("reset", func(t *testing.T) {
		w := probe.WebSocketHandshake(ctx, dial(t, reset), deadline(), "127.0.0.1", "/")
		if w.Reply != probe.Reset {
			t.Fatalf("reply %q, err %v", w.Reply, w.Err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		w := probe.WebSocketHandshake(ctx, dial(t, closer), deadline(), "127.0.0.1", "/")
		if w.Reply != probe.Closed {
			t.Fatalf("reply %q, err %v", w.Reply, w.Err)
		}
	})
}

func TestHTTPRequest(t *testing.T) {
	ctx := context.Background()
	web := probetest.Listen(t)
	probetest.ServeHTTP(t, web, probetest.HTTP("nginx/1.24.0"), nil)
	listen := probetest.Listen(t)
	probetest.ServeHTTP(t, listen, probetest.HTTP("conndiag-listen/test"), nil)
	banner := probetest.Listen(t)
	probetest.Serve(t, banner, probetest.Banner("SSH-2.0-OpenSSH_9.2p1\r\n"))

	h := probe.HTTPRequest(ctx, dial(t, web), deadline(), "app.test:8080", "/index?x=1")
	if h.Status != 200 || h.StatusLine != "HTTP/1.1 200 OK" || h.Server() != "nginx/1.24.0" || h.FirstByte <= 0 {
		t.Fatalf("%+v", h)
	}
	if !bytes.HasPrefix(h.Sent, []byte("GET /index?x=1 HTTP/1.1\r\nHost: app.test:8080\r\n")) {
		t.Errorf("request sent: %q", h.Sent)
	}
	if h.Whoami != nil {
		t.Errorf("an ordinary server is not asked whoami")
	}

	c := dial(t, listen)
	h = probe.HTTPRequest(ctx, c, deadline(), "127.0.0.1", "/")
	if h.Status != 200 || h.Whoami == nil || h.Whoami.Proto != "http" || h.Whoami.Client.String() != c.LocalAddr().String() {
		t.Fatalf("whoami over the same connection: %+v", h.Whoami)
	}

	h = probe.HTTPRequest(ctx, dial(t, banner), deadline(), "127.0.0.1", "/")
	if h.Status != 0 || h.Reply != probe.Answered || probe.Classify(h.Received, h.Sent).Name != probe.SvcSSH {
		t.Fatalf("%+v", h)
	}
}

func TestTLSHandshake(t *testing.T) {
	ctx := context.Background()
	certs := probetest.NewCerts(t)
	tlsServer := func(name string) net.Listener {
		ln := probetest.Listen(t)
		switch name {
		case "good":
			probetest.ServeTLS(t, ln, certs.Good, probetest.Silent)
		case "wrong":
			probetest.ServeTLS(t, ln, certs.WrongName, probetest.Silent)
		case "expired":
			probetest.ServeTLS(t, ln, certs.Expired, probetest.Silent)
		case "notyet":
			probetest.ServeTLS(t, ln, certs.NotYet, probetest.Silent)
		case "self":
			probetest.ServeTLS(t, ln, certs.SelfSign, probetest.Silent)
		}
		return ln
	}
	tests := []struct {
		server string
		cfg    probe.TLSConfig
		want   []probe.Problem
	}{
		{"good", probe.TLSConfig{ServerName: "app.test"}, nil},
		{"good", probe.TLSConfig{IP: netip.MustParseAddr("127.0.0.1")}, nil},
		{"good", probe.TLSConfig{ServerName: "elsewhere.test"}, []probe.Problem{probe.WrongName}},
		{"wrong", probe.TLSConfig{ServerName: "app.test"}, []probe.Problem{probe.WrongName}},
		{"expired", probe.TLSConfig{ServerName: "app.test"}, []probe.Problem{probe.Expired}},
		{"notyet", probe.TLSConfig{ServerName: "app.test"}, []probe.Problem{probe.NotYetValid}},
		{"self", probe.TLSConfig{ServerName: "app.test"}, []probe.Problem{probe.Untrusted}},
		{"good", probe.TLSConfig{ServerName: "app.test", Roots: nil}, []probe.Problem{probe.Untrusted}}, // system roots
	}
	for i, tt := range tests {
		ln := tlsServer(tt.server)
		cfg := tt.cfg
		if i < len(tests)-1 {
			cfg.Roots = certs.Pool
		}
		res, tc := probe.TLSHandshake(ctx, dial(t, ln), deadline(), cfg)
		if tc == nil || !res.Done {
			t.Fatalf("%s: handshake failed: %v", tt.server, res.Err)
		}
		tc.Close()
		var got []probe.Problem
		for _, p := range res.Problems {
			got = append(got, p.Kind)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s %+v: problems %v (%+v), want %v", tt.server, tt.cfg, got, res.Problems, tt.want)
		}
		if res.Version == "" || len(res.Chain) == 0 || res.Chain[0].NotAfter.IsZero() || !bytes.HasPrefix(res.Sent, []byte{0x16, 0x03}) {
			t.Errorf("%s: evidence missing: %+v", tt.server, res)
		}
		if tt.server == "self" && !res.Chain[0].SelfSigned {
			t.Errorf("self-signed certificate not recognised")
		}
	}

	web := probetest.Listen(t)
	probetest.ServeHTTP(t, web, probetest.HTTP(""), nil)
	res, tc := probe.TLSHandshake(ctx, dial(t, web), deadline(), probe.TLSConfig{ServerName: "app.test"})
	if tc != nil || res.Reply != probe.Answered || !bytes.HasPrefix(res.Received, []byte("HTTP/1.1 400")) {
		t.Fatalf("plain HTTP server: %+v", res)
	}
	silent := probetest.Listen(t)
	probetest.Serve(t, silent, probetest.Silent)
	res, tc = probe.TLSHandshake(ctx, dial(t, silent), time.Now().Add(300*time.Millisecond), probe.TLSConfig{})
	if tc != nil || res.Reply != probe.Silent {
		t.Fatalf("silent server: %+v", res)
	}
}

func TestTextMessage(t *testing.T) {
	ctx := context.Background()
	echo := probetest.Listen(t)
	probetest.Serve(t, echo, probetest.Echo)
	who := probetest.Listen(t)
	probetest.Serve(t, who, probetest.TextWhoami)
	silent := probetest.Listen(t)
	probetest.Serve(t, silent, probetest.Silent)
	redis := probetest.Listen(t)
	probetest.Serve(t, redis, probetest.Redis)
	frames := probetest.Listen(t)
	probetest.Serve(t, frames, probetest.Frame(false))

	m := probe.TextMessage(ctx, dial(t, echo), deadline())
	if m.Reply != probe.Answered || string(m.Received) != "whoami\n" || m.Service.Name != probe.SvcEcho {
		t.Errorf("echo: %+v", m)
	}
	c := dial(t, who)
	m = probe.TextMessage(ctx, c, deadline())
	if m.Whoami == nil || m.Whoami.Proto != "text" || m.Whoami.Server.String() != c.RemoteAddr().String() {
		t.Errorf("whoami: %+v", m)
	}
	m = probe.TextMessage(ctx, dial(t, silent), time.Now().Add(200*time.Millisecond))
	if m.Reply != probe.Silent {
		t.Errorf("silent: %+v", m)
	}
	m = probe.TextMessage(ctx, dial(t, redis), deadline())
	if m.Service.Name != probe.SvcRedis {
		t.Errorf("redis: %+v", m)
	}
	m = probe.TextMessage(ctx, dial(t, frames), deadline())
	if m.Reply != probe.Closed {
		t.Errorf("a frame server closes on \"whoami\\n\" (a 2 GB length): %+v", m)
	}
}

func TestFrameMessage(t *testing.T) {
	ctx := context.Background()
	frames := probetest.Listen(t)
	probetest.Serve(t, frames, probetest.Frame(false))
	who := probetest.Listen(t)
	probetest.Serve(t, who, probetest.Frame(true))
	echo := probetest.Listen(t)
	probetest.Serve(t, echo, probetest.Echo)

	m := probe.FrameMessage(ctx, dial(t, frames), deadline())
	if p, _, st := probe.ParseFrame(m.Received); st != probe.FrameComplete || string(p) != "ok:whoami" || m.Service.Name != probe.SvcFrame {
		t.Errorf("frame: %+v", m)
	}
	m = probe.FrameMessage(ctx, dial(t, who), deadline())
	if m.Whoami == nil || m.Whoami.Proto != "frame" {
		t.Errorf("whoami: %+v", m)
	}
	// The frame's length byte 10 is a line feed: a text server echoes the
	// header as a line and waits for the rest of "whoami".
	m = probe.FrameMessage(ctx, dial(t, echo), time.Now().Add(300*time.Millisecond))
	if string(m.Received) != "\x00\x00\x00\n" || m.Service.Name != probe.SvcEcho {
		t.Errorf("text server: %+v", m)
	}
}

func TestFingerprint(t *testing.T) {
	certs := probetest.NewCerts(t)
	tlsLn := probetest.Listen(t)
	probetest.ServeTLS(t, tlsLn, certs.Good, probetest.Silent)
	tries := probe.Fingerprint(context.Background(), dialer(tlsLn),
		[]probe.TryKind{probe.TryTLS, probe.TryHTTP, probe.TryFrame, probe.TryText}, deadline(), "app.test")
	if len(tries) != 4 {
		t.Fatalf("%d tries", len(tries))
	}
	if tr := tries[0]; tr.Service.Name != probe.SvcTLS || tr.TLS == nil || tr.TLS.Chain[0].DNSNames[0] != "localhost" {
		t.Errorf("TLS try: %+v", tr)
	}
	for _, tr := range tries[1:] {
		if tr.Service.Name == probe.SvcTLS || tr.Service.Name == probe.SvcNone {
			continue // Go's TLS server answers plain bytes with an alert or a 400, or closes
		}
		if tr.Service.Name != probe.SvcHTTP {
			t.Errorf("%s try on a TLS port: %+v", tr.Kind, tr)
		}
	}

	web := probetest.Listen(t)
	probetest.ServeHTTP(t, web, probetest.HTTP(""), nil)
	tries = probe.Fingerprint(context.Background(), dialer(web), []probe.TryKind{probe.TryTLS, probe.TryHTTP}, deadline(), "127.0.0.1")
	if tries[0].Service.Name != probe.SvcHTTP || tries[0].TLS != nil {
		t.Errorf("ClientHello to a plain web server: %+v", tries[0])
	}
	if tries[1].Service.Name != probe.SvcHTTP || !strings.HasPrefix(tries[1].Service.Detail, "HTTP/1.1 200") {
		t.Errorf("HTTP try: %+v", tries[1])
	}

	ln := probetest.Listen(t)
	ln.Close()
	tries = probe.Fingerprint(context.Background(), dialer(ln), []probe.TryKind{probe.TryText}, deadline(), "127.0.0.1")
	if tries[0].DialErr == nil {
		t.Errorf("a closed port must give a dial error: %+v", tries[0])
	}
}

// A cancelled context ends a try against a silent server at once.
func TestFingerprintCancel(t *testing.T) {
	silent := probetest.Listen(t)
	probetest.Serve(t, silent, probetest.Silent)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []probe.Try)
	go func() {
		done <- probe.Fingerprint(ctx, dialer(silent), []probe.TryKind{probe.TryText}, time.Now().Add(time.Hour), "x")
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case tries := <-done:
		if tries[0].ReceivedN != 0 {
			t.Errorf("%+v", tries[0])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Fingerprint ignored the cancelled context")
	}
}

// A cancelled context (Ctrl-C) ends each handshake against a silent server at once.
func TestHandshakeCancel(t *testing.T) {
	silent := probetest.Listen(t)
	probetest.Serve(t, silent, probetest.Silent)
	far := time.Now().Add(time.Hour)
	for name, step := range map[string]func(context.Context, net.Conn){
		"websocket": func(ctx context.Context, c net.Conn) { probe.WebSocketHandshake(ctx, c, far, "x", "/") },
		"http":      func(ctx context.Context, c net.Conn) { probe.HTTPRequest(ctx, c, far, "x", "/") },
		"tls": func(ctx context.Context, c net.Conn) {
			probe.TLSHandshake(ctx, c, far, probe.TLSConfig{ServerName: "x"})
		},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			step(ctx, dial(t, silent))
		}()
		time.Sleep(50 * time.Millisecond)
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s ignored the cancelled context", name)
		}
	}
}

// The try that sends nothing: kept when every other try went unanswered (a
// server that closes before reading), left out once another got a byte.
func TestFingerprintIdle(t *testing.T) {
	closer := probetest.Listen(t)
	probetest.Serve(t, closer, func(c net.Conn) { c.Close() })
	tries := probe.Fingerprint(context.Background(), dialer(closer), []probe.TryKind{probe.TryText, probe.TryIdle}, deadline(), "127.0.0.1")
	if len(tries) != 2 || tries[1].Kind != probe.TryIdle || tries[1].ReceivedN != 0 || tries[1].Reply != probe.Closed || tries[1].SentN != 0 {
		t.Errorf("a server that closes at once: %+v", tries)
	}
	// Redis-like: answers a command, says nothing to a client that says nothing.
	redis := probetest.Listen(t)
	probetest.Serve(t, redis, func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(wait))
		if _, err := c.Read(make([]byte, 64)); err == nil {
			c.Write([]byte("-ERR unknown command 'whoami'\r\n"))
		}
		c.Close()
	})
	tries = probe.Fingerprint(context.Background(), dialer(redis), []probe.TryKind{probe.TryIdle, probe.TryText}, deadline(), "127.0.0.1")
	if len(tries) != 1 || tries[0].Kind != probe.TryText || tries[0].ReceivedN == 0 {
		t.Errorf("a server that answers a command: want only the text try, got %+v", tries)
	}
}
