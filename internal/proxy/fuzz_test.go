package proxy

import (
	"bytes"
	"io"
	"net"
	"net/url"
	"testing"
	"time"
)

// answer runs fn against a peer that writes b and closes.
func answer(b []byte, fn func(net.Conn)) {
	c, s := net.Pipe()
	go func() {
		s.SetDeadline(time.Now().Add(time.Second))
		go io.Copy(io.Discard, s) // net.Pipe is synchronous: keep reading what the client sends
		s.Write(b)
		s.Close()
	}()
	c.SetDeadline(time.Now().Add(time.Second))
	fn(c)
	c.Close()
}

// Whatever a proxy answers to CONNECT, the probe ends with a stage and never panics.
func FuzzConnectHTTP(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n"))
	f.Add([]byte("\x05\x00"))
	f.Add([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
	// Hostile: an endless header, NUL, CR without LF, ESC sequences, invalid UTF-8, a huge Content-Length.
	f.Add(append([]byte("HTTP/1.1 200 OK\r\nX-Long: "), bytes.Repeat([]byte("a"), maxHead+10)...))
	f.Add([]byte("HTTP/1.1 200 \x00OK\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 403 Forbidden\rX-A: b\r\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 403 \x1b]0;owned\x07\x1b[2J\xff\xfe\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, _ := url.Parse("http://u:p@proxy.test:3128")
		answer(b, func(c net.Conn) {
			r := Result{Asked: "app.test:8282"}
			connectHTTP(&r, &counted{Conn: c}, u)
			if r.Stage == "" || (r.Stage == StageOK) != (r.Status/100 == 2) {
				t.Fatalf("result %+v", r)
			}
		})
	})
}

func FuzzSOCKS5(f *testing.F) {
	f.Add([]byte("\x05\x00\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x50"))
	f.Add([]byte("\x05\x00\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("\x05\xff"))
	f.Add([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, _ := url.Parse("socks5://proxy.test:1080")
		answer(b, func(c net.Conn) {
			r := Result{Asked: "192.0.2.1:8282"}
			socks5(t.Context(), &r, &counted{Conn: c}, u)
			if r.Stage == "" {
				t.Fatalf("result %+v", r)
			}
		})
	})
}
