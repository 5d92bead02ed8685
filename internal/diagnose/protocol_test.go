package diagnose

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/probe/probetest"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

// Every kind of server on loopback, diagnosed through Check: the protocol
// step runs on the connection the TCP step opened.
func TestCheckProtocol(t *testing.T) {
	certs := probetest.NewCerts(t)
	srv := map[string]net.Listener{}
	add := func(name string, start func(net.Listener)) {
		ln := probetest.Listen(t)
		start(ln)
		srv[name] = ln
	}
	add("ws", func(ln net.Listener) { probetest.ServeHTTP(t, ln, probetest.WebSocket("/chat", ""), nil) })
	add("wss", func(ln net.Listener) {
		probetest.ServeHTTP(t, ln, probetest.WebSocket("/chat", ""), tlsConfig(certs.Good))
	})
	add("web", func(ln net.Listener) { probetest.ServeHTTP(t, ln, probetest.HTTP("nginx/1.24.0"), nil) })
	add("echo", func(ln net.Listener) { probetest.Serve(t, ln, probetest.Echo) })
	add("frame", func(ln net.Listener) { probetest.Serve(t, ln, probetest.Frame(false)) })
	add("silent", func(ln net.Listener) { probetest.Serve(t, ln, probetest.Silent) })
	add("ssh", func(ln net.Listener) { probetest.Serve(t, ln, probetest.Banner("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")) })
	add("redis", func(ln net.Listener) { probetest.Serve(t, ln, probetest.Redis) })
	add("reset", func(ln net.Listener) { probetest.Serve(t, ln, probetest.Reset) })
	add("tls", func(ln net.Listener) { probetest.ServeTLS(t, ln, certs.Good, probetest.Silent) })
	add("tls-wrong", func(ln net.Listener) { probetest.ServeTLS(t, ln, certs.WrongName, probetest.Silent) })
	add("tls-expired", func(ln net.Listener) { probetest.ServeTLS(t, ln, certs.Expired, probetest.Silent) })
	add("tls-self", func(ln net.Listener) { probetest.ServeTLS(t, ln, certs.SelfSign, probetest.Silent) })
	add("listen-ws", func(ln net.Listener) {
		probetest.ServeHTTP(t, ln, probetest.WebSocket("/", "conndiag-listen/test"), nil)
	})
	add("listen-text", func(ln net.Listener) { probetest.Serve(t, ln, probetest.TextWhoami) })
	add("listen-frame", func(ln net.Listener) { probetest.Serve(t, ln, probetest.Frame(true)) })

	tests := []struct {
		target, server string
		outcome        verdict.Outcome
		cause          verdict.Cause
		evidence       string
	}{
		{"ws://%s/chat", "ws", verdict.OutcomeOK, verdict.CauseOK, "WebSocket handshake accepted"},
		{"ws://%s/other", "ws", verdict.OutcomeProtocolMismatch, verdict.CauseWSUpgradeRejected, "nothing shows a WebSocket server"},
		{"ws://%s/", "web", verdict.OutcomeProtocolMismatch, verdict.CauseWSUpgradeRejected, "nginx/1.24.0"},
		{"ws://%s/", "echo", verdict.OutcomeProtocolMismatch, verdict.CauseNotHTTP, "echo"},
		{"ws://%s/", "frame", verdict.OutcomeProtocolMismatch, verdict.CauseNotHTTP, "frames"},
		{"ws://%s/", "silent", verdict.OutcomeProtocolMismatch, verdict.CauseNotHTTP, "No answer"},
		{"ws://%s/", "ssh", verdict.OutcomeProtocolMismatch, verdict.CauseOtherService, "SSH-2.0-OpenSSH_9.2p1"},
		{"ws://%s/", "redis", verdict.OutcomeProtocolMismatch, verdict.CauseOtherService, "Redis"},
		{"ws://%s/", "reset", verdict.OutcomeReset, verdict.CauseResetByPeer, "reset"},
		{"ws://%s/chat", "wss", verdict.OutcomeProtocolMismatch, verdict.CauseTLSExpected, "TLS"},
		{"http://%s/", "tls", verdict.OutcomeProtocolMismatch, verdict.CauseTLSExpected, "TLS"},
		{"http://%s/", "web", verdict.OutcomeOK, verdict.CauseOK, "Phases"},
		{"wss://%s/chat", "ws", verdict.OutcomeTLSFailure, verdict.CauseTLSUnexpected, "plain HTTP answer"},
		{"https://%s/", "echo", verdict.OutcomeTLSFailure, verdict.CauseTLSUnexpected, "plain text"},
		{"tls://%s", "tls-wrong", verdict.OutcomeTLSFailure, verdict.CauseTLSCertificate, "other.test"},
		{"tls://%s", "tls-expired", verdict.OutcomeTLSFailure, verdict.CauseTLSCertificate, "expired"},
		{"tls://%s", "tls-self", verdict.OutcomeTLSFailure, verdict.CauseTLSCertificate, "self-signed"},
		{"tls://%s", "ssh", verdict.OutcomeProtocolMismatch, verdict.CauseOtherService, "SSH"},
		{"text://%s", "echo", verdict.OutcomeOK, verdict.CauseOK, `whoami\n`},
		{"text://%s", "silent", verdict.OutcomeOK, verdict.CauseOK, "no answer within"},
		{"text://%s", "web", verdict.OutcomeProtocolMismatch, verdict.CauseOtherService, "HTTP"},
		{"text://%s", "tls", verdict.OutcomeProtocolMismatch, verdict.CauseTLSExpected, "TLS"},
		{"text://%s", "frame", verdict.OutcomeProtocolMismatch, verdict.CauseOtherService, "frame"},
		{"text://%s", "reset", verdict.OutcomeReset, verdict.CauseResetByPeer, "reset"},
		{"frame://%s", "frame", verdict.OutcomeOK, verdict.CauseOK, "ok:whoami"},
		{"frame://%s", "echo", verdict.OutcomeProtocolMismatch, verdict.CauseOtherService, "text"},
		{"frame://%s", "ssh", verdict.OutcomeProtocolMismatch, verdict.CauseOtherService, "SSH"},
		{"ws://%s/", "listen-ws", verdict.OutcomeOK, verdict.CauseOK, "conndiag test endpoint"},
		{"text://%s", "listen-text", verdict.OutcomeOK, verdict.CauseOK, "conndiag test endpoint"},
		{"frame://%s", "listen-frame", verdict.OutcomeOK, verdict.CauseOK, "conndiag test endpoint"},
	}
	p := i18n.New("en")
	for _, tt := range tests {
		raw := strings.Replace(tt.target, "%s", srv[tt.server].Addr().String(), 1)
		t.Run(tt.server+" "+raw, func(t *testing.T) {
			t.Parallel()
			tg, err := target.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			r := Check(context.Background(), tg, Options{ProbePorts: []uint16{}, Timeout: time.Second})
			var text strings.Builder
			for _, f := range r.Findings {
				text.WriteString(string(f.Cause) + ": " + p.Text(f.Summary) + "\n")
				for _, e := range f.Evidence {
					text.WriteString("  " + p.Text(e) + "\n")
				}
			}
			if r.Outcome != tt.outcome || r.Findings[0].Cause != tt.cause {
				t.Fatalf("got %s / %s, want %s / %s\n%s", r.Outcome, r.Findings[0].Cause, tt.outcome, tt.cause, text.String())
			}
			if !strings.Contains(text.String(), tt.evidence) {
				t.Errorf("want %q in the evidence:\n%s", tt.evidence, text.String())
			}
			if strings.HasPrefix(tt.server, "listen") && r.Evidence.Addrs[0].Whoami == nil {
				t.Errorf("AddrEvidence.Whoami not filled")
			}
			if r.Probes[0].Result == "reset" {
				return // the reset came during the connect itself: no protocol step to run
			}
			if len(r.Probes) < 2 || r.Probes[0].Name != "tcp_connect" {
				t.Errorf("want the protocol probe after tcp_connect: %+v", r.Probes)
			}
		})
	}
}

func tlsConfig(c tls.Certificate) *tls.Config { return &tls.Config{Certificates: []tls.Certificate{c}} }

// BenchmarkWebSocketCheck compares, in one process, a full Check of a
// working ws:// target with a plain gorilla client doing only the handshake.
// bench/proto.sh does the same with fresh processes.
func BenchmarkWebSocketCheck(b *testing.B) {
	ln := probetest.Listen(b)
	probetest.ServeHTTP(b, ln, probetest.WebSocket("/", ""), nil)
	url := "ws://" + ln.Addr().String() + "/"
	tg, err := target.Parse(url)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("handshake_only", func(b *testing.B) {
		d := websocket.Dialer{HandshakeTimeout: 3 * time.Second}
		for b.Loop() {
			c, _, err := d.Dial(url, nil)
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
	for _, name := range []string{"check", "check_no_probe_ports"} {
		opt := Options{}
		if name == "check_no_probe_ports" {
			opt.ProbePorts = []uint16{}
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if r := Check(context.Background(), tg, opt); r.Outcome != verdict.OutcomeOK {
					b.Fatalf("outcome %s", r.Outcome)
				}
			}
		})
	}
}
