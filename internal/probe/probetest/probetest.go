// Package probetest runs real servers of every kind the protocol probes
// meet (WebSocket, HTTP, TLS with good and bad certificates, Workerman text
// and frame, silent, greeting, resetting) on a listener the test provides,
// so unit tests use loopback and integration tests a network namespace.
// Everything stops when the test ends.
package probetest

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
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Listen listens on a free loopback port and closes at cleanup.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// Serve accepts on ln and runs h on each connection in its own goroutine.
// At cleanup the listener and every connection are closed and the handlers
// waited for.
func Serve(t testing.TB, ln net.Listener, h func(net.Conn)) {
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				h(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// ServeHTTP serves h on ln (TLS when cfg is not nil) with a real http.Server.
func ServeHTTP(t testing.TB, ln net.Listener, h http.Handler, cfg *tls.Config) {
	srv := &http.Server{
		Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0),
		// HTTP's whoami answer needs the connection's addresses.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
	}
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
}

// ServeTLS runs h on each connection after a TLS handshake with cert.
func ServeTLS(t testing.TB, ln net.Listener, cert tls.Certificate, h func(net.Conn)) {
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	Serve(t, ln, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if tc.Handshake() != nil {
			return
		}
		tc.SetDeadline(time.Time{})
		h(tc)
	})
}

// WebSocket is a WebSocket server on path (404 elsewhere) that echoes
// messages; server, when set, is its Server header, and a server that
// calls itself conndiag-listen answers "whoami" with the whoami JSON.
func WebSocket(path, server string) http.Handler {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		var h http.Header
		if server != "" {
			h = http.Header{"Server": {server}}
		}
		c, err := up.Upgrade(w, r, h)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if server != "" && string(msg) == "whoami" {
				msg = WhoamiJSON("websocket", c.NetConn())
			}
			if c.WriteMessage(typ, msg) != nil {
				return
			}
		}
	})
	return mux
}

// HTTP is a plain web server: 200 with a short page on every path; server,
// when set, is its Server header, and GET /whoami on a conndiag-listen one
// answers the whoami JSON.
func HTTP(server string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if server != "" {
			w.Header().Set("Server", server)
			if r.URL.Path == "/whoami" {
				w.Header().Set("Content-Type", "application/json")
				w.Write(WhoamiJSON("http", connOf(r)))
				return
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<html><body>hello from a plain web server</body></html>\n")
	})
}

type connKey struct{}

func connOf(r *http.Request) net.Conn {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	return c
}

// WhoamiJSON is the whoami answer of a conndiag listen endpoint for c.
func WhoamiJSON(proto string, c net.Conn) []byte {
	v := map[string]string{"conndiag": "listen", "version": "test", "proto": proto}
	if c != nil {
		v["client"], v["server"] = c.RemoteAddr().String(), c.LocalAddr().String()
	}
	b, _ := json.Marshal(v)
	return b
}

// Echo is a Workerman text server whose application echoes each line.
func Echo(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			if _, werr := c.Write(line); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TextWhoami is a conndiag listen text endpoint: "whoami\n" gets the JSON
// line, other lines are echoed.
func TextWhoami(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		if string(line) == "whoami\n" {
			line = append(WhoamiJSON("text", c), '\n')
		}
		if _, err := c.Write(line); err != nil {
			return
		}
	}
}

// Frame is a Workerman frame server: it answers each frame with a frame
// ("ok:" and the payload; the whoami JSON when whoami is set and asked),
// and closes the connection on a length beyond 10 MB, as Workerman does.
// Like Workerman it reads what has arrived before it parses, so that close
// sends a FIN, not the RST of a close with unread data.
func Frame(whoami bool) func(net.Conn) {
	return func(conn net.Conn) {
		c := bufio.NewReaderSize(conn, 64<<10)
		for {
			var hdr [4]byte
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				return
			}
			n := binary.BigEndian.Uint32(hdr[:])
			if n < 4 || n > 10<<20 {
				return
			}
			payload := make([]byte, n-4)
			if _, err := io.ReadFull(c, payload); err != nil {
				return
			}
			out := append([]byte("ok:"), payload...)
			if whoami && string(payload) == "whoami" {
				out = WhoamiJSON("frame", conn)
			}
			reply := make([]byte, 4+len(out))
			binary.BigEndian.PutUint32(reply, uint32(len(reply)))
			copy(reply[4:], out)
			if _, err := conn.Write(reply); err != nil {
				return
			}
		}
	}
}

// Silent reads everything and never answers.
func Silent(c net.Conn) { io.Copy(io.Discard, c) }

// Banner greets with b, then reads and says nothing more (SSH, SMTP, …).
func Banner(b string) func(net.Conn) {
	return func(c net.Conn) {
		if _, err := io.WriteString(c, b); err != nil {
			return
		}
		io.Copy(io.Discard, c)
	}
}

// Redis answers inline commands as Redis does: PING with +PONG, anything
// else with an error.
func Redis(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		reply := "-ERR unknown command\r\n"
		if bytes.HasPrefix(bytes.ToUpper([]byte(line)), []byte("PING")) {
			reply = "+PONG\r\n"
		}
		if _, err := io.WriteString(c, reply); err != nil {
			return
		}
	}
}

// Reset accepts and resets the connection at once (SO_LINGER 0, then close).
func Reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
}

// ResetAfterRead reads what the client sends first, then resets.
func ResetAfterRead(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	c.Read(buf)
	Reset(c)
}

// Certs is a test CA and server certificates signed by it (ECDSA P-256).
type Certs struct {
	CA        *x509.Certificate
	CAPEM     []byte
	Pool      *x509.CertPool
	key       *ecdsa.PrivateKey
	Good      tls.Certificate // localhost, 127.0.0.1, ::1, app.test; valid now
	WrongName tls.Certificate // other.test only
	Expired   tls.Certificate // right names, expired a day ago
	NotYet    tls.Certificate // right names, valid from tomorrow
	SelfSign  tls.Certificate // right names, signed by itself
}

// RightNames are the names Good, Expired and SelfSign are for.
var RightNames = []string{"localhost", "app.test"}

// NewCerts makes a CA and the server certificates.
func NewCerts(t testing.TB) *Certs {
	t.Helper()
	now := time.Now()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "conndiag test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	c := &Certs{CA: ca, key: caKey, Pool: x509.NewCertPool()}
	c.Pool.AddCert(ca)
	c.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP("198.51.100.3"), net.ParseIP("203.0.113.2")}
	c.Good = c.leaf(t, "app.test", RightNames, ips, now.Add(-time.Hour), now.Add(12*time.Hour), false)
	c.WrongName = c.leaf(t, "other.test", []string{"other.test"}, nil, now.Add(-time.Hour), now.Add(12*time.Hour), false)
	c.Expired = c.leaf(t, "app.test", RightNames, ips, now.Add(-48*time.Hour), now.Add(-24*time.Hour), false)
	c.NotYet = c.leaf(t, "app.test", RightNames, ips, now.Add(24*time.Hour), now.Add(48*time.Hour), false)
	c.SelfSign = c.leaf(t, "app.test", RightNames, ips, now.Add(-time.Hour), now.Add(12*time.Hour), true)
	return c
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var serial atomic.Int64

func (c *Certs) leaf(t testing.TB, cn string, names []string, ips []net.IP, from, until time.Time, self bool) tls.Certificate {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(100 + serial.Add(1)), Subject: pkix.Name{CommonName: cn},
		DNSNames: names, IPAddresses: ips, NotBefore: from, NotAfter: until,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	parent, signer := c.CA, c.key
	if self {
		parent, signer = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// WriteCA writes the CA certificate to a file in a temporary directory,
// for SSL_CERT_FILE.
func (c *Certs) WriteCA(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, c.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
