//go:build linux

package diagnose

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/conndiag/conndiag/internal/probe/probetest"
	"github.com/conndiag/conndiag/internal/verdict"
)

// peerMSS is the segment size the kernel uses toward the client of c: what
// the client's SYN announced, at most.
func peerMSS(c net.Conn) int {
	mss := 0
	if rc, err := c.(*net.TCPConn).SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { mss, _ = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG) })
	}
	return mss
}

// blackhole serves h to clients that announced a small MSS and stalls the
// others, as a path that drops large segments does: on loopback, with real
// sockets, the retry must tell the two apart.
func blackhole(t *testing.T, h func(net.Conn)) net.Listener {
	ln := probetest.Listen(t)
	probetest.Serve(t, ln, func(c net.Conn) {
		if peerMSS(c) > 1000 {
			io.Copy(io.Discard, c) // the answer would be lost on the way
			return
		}
		h(c)
	})
	return ln
}

func probeNamed(r Report, name string) (Probe, bool) {
	for _, p := range r.Probes {
		if p.Name == name {
			return p, true
		}
	}
	return Probe{}, false
}

func TestCheckMTUBlackhole(t *testing.T) {
	certs := probetest.NewCerts(t)
	opt := Options{Timeout: time.Second, ProbePorts: []uint16{}}
	tlsOK := func(c net.Conn) {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{certs.Good}})
		tc.SetDeadline(time.Now().Add(2 * time.Second))
		if tc.Handshake() == nil {
			io.Copy(io.Discard, tc)
		}
	}
	httpOK := func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nhi\n")
		}
	}
	// once stalls the first connection whatever its MSS and serves the
	// others with h: an intermittent stall, not the path's MTU.
	once := func(h func(net.Conn)) net.Listener {
		ln := probetest.Listen(t)
		var n atomic.Int32
		probetest.Serve(t, ln, func(c net.Conn) {
			if n.Add(1) == 1 {
				io.Copy(io.Discard, c)
				return
			}
			h(c)
		})
		return ln
	}
	tests := []struct {
		name, scheme string
		listen       func(func(net.Conn)) net.Listener
		h            func(net.Conn)
		cause        verdict.Cause
		conf         verdict.Confidence
		retry        string // the probe of the retried step and its result
		control      string // the probe of its control with the usual MSS and its result
	}{
		// The test CA is not among the system's: the handshake completes with a certificate problem.
		{"TLS", "tls", nil, tlsOK, verdict.CauseMTUBlackhole, verdict.High, "tls_handshake_small_mss certificate_problem", "tls_handshake_default_mss silent"},
		{"HTTP", "http", nil, httpOK, verdict.CauseMTUBlackhole, verdict.High, "http_request_small_mss status_200", "http_request_default_mss silent"},
		{"TLS, stalls whatever the MSS", "tls", nil, func(c net.Conn) { io.Copy(io.Discard, c) }, verdict.CauseTLSUnexpected, verdict.Medium,
			"tls_handshake_small_mss silent", "tls_handshake_default_mss silent"},
		{"TLS, only the first connection stalls", "tls", once, tlsOK, verdict.CauseUnknown, verdict.Medium,
			"tls_handshake_small_mss certificate_problem", "tls_handshake_default_mss certificate_problem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			listen := tt.listen
			if listen == nil {
				listen = func(h func(net.Conn)) net.Listener { return blackhole(t, h) }
			}
			ln := listen(tt.h)
			r := Check(context.Background(), mustTarget(t, tt.scheme+"://"+ln.Addr().String()), opt)
			if r.Findings[0].Cause != tt.cause || r.Findings[0].Confidence != tt.conf {
				t.Fatalf("%s (%s), want %s (%s): %+v", r.Findings[0].Cause, r.Findings[0].Confidence, tt.cause, tt.conf, r.Probes)
			}
			for _, want := range []string{tt.retry, tt.control} {
				name, result, _ := strings.Cut(want, " ")
				if p, ok := probeNamed(r, name); !ok || p.Result != result {
					t.Errorf("want probe %s with result %s: %+v", name, result, r.Probes)
				}
			}
			if p, ok := probeNamed(r, "tcp_connect_small_mss"); !ok || p.Result != "ok" {
				t.Errorf("want the small-MSS connect: %+v", r.Probes)
			}
		})
	}

	// A server that answers at once gets no retry.
	ln := probetest.Listen(t)
	probetest.Serve(t, ln, httpOK)
	r := Check(context.Background(), mustTarget(t, "http://"+ln.Addr().String()), opt)
	if _, ok := probeNamed(r, "tcp_connect_small_mss"); ok || r.Findings[0].Cause != verdict.CauseOK {
		t.Errorf("a working server: no retry, ok: %s %+v", r.Findings[0].Cause, r.Probes)
	}
}

// The legacy handshake runs only after a refusal an obsolete server gives,
// and a TLS 1.3 server's late refusal of a missing client certificate is seen
// on a tls:// target.
func TestCheckTLSVerdicts(t *testing.T) {
	certs := probetest.NewCerts(t)
	serve := func(cfg *tls.Config) net.Listener {
		ln := probetest.Listen(t)
		probetest.Serve(t, ln, func(c net.Conn) {
			tc := tls.Server(c, cfg)
			tc.SetDeadline(time.Now().Add(2 * time.Second))
			if tc.Handshake() == nil {
				var b [1]byte
				tc.Read(b[:])
			}
		})
		return ln
	}
	opt := Options{Timeout: time.Second, ProbePorts: []uint16{}}
	old := serve(&tls.Config{Certificates: []tls.Certificate{certs.Good}, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	r := Check(context.Background(), mustTarget(t, "tls://"+old.Addr().String()), opt)
	if r.Findings[0].Cause != verdict.CauseTLSObsolete {
		t.Fatalf("TLS 1.1 server: %s", r.Findings[0].Cause)
	}
	if p, ok := probeNamed(r, "tls_handshake_legacy"); !ok || p.Result != "certificate_problem" {
		t.Errorf("want the legacy handshake: %+v", r.Probes)
	}
	cc := serve(&tls.Config{Certificates: []tls.Certificate{certs.Good}, ClientAuth: tls.RequireAnyClientCert})
	r = Check(context.Background(), mustTarget(t, "tls://"+cc.Addr().String()), opt)
	// The untrusted test CA comes first (a client trips over it first), the refusal after it.
	if len(r.Findings) < 2 || r.Findings[0].Cause != verdict.CauseTLSCertificate || r.Findings[1].Cause != verdict.CauseTLSClientCertificate {
		t.Fatalf("client certificate required: %+v", r.Findings)
	}
	if _, ok := probeNamed(r, "tls_handshake_legacy"); ok {
		t.Errorf("no legacy handshake for a client-certificate refusal: %+v", r.Probes)
	}
	good := serve(&tls.Config{Certificates: []tls.Certificate{certs.Good}})
	r = Check(context.Background(), mustTarget(t, "tls://"+good.Addr().String()), opt)
	if _, ok := probeNamed(r, "tls_handshake_legacy"); ok {
		t.Errorf("no legacy handshake for a current server: %+v", r.Probes)
	}
}
