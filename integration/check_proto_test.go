//go:build linux

package integration

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/conndiag/conndiag/internal/probe/probetest"
	"github.com/conndiag/conndiag/internal/testbed"
)

// protoServers starts one server of every kind in the server namespace of a
// Pair, each on its own port of 198.51.100.3, and returns the ports by name.
func protoServers(t *testing.T, n *testbed.PairNet, certs *probetest.Certs) map[string]int {
	ports := map[string]int{}
	next := 8000
	add := func(name string, start func(net.Listener)) {
		next++
		ln := n.Server.Listen(t, "tcp", fmt.Sprintf("198.51.100.3:%d", next))
		start(ln)
		ports[name] = next
	}
	tlsCfg := func(c tls.Certificate) *tls.Config { return &tls.Config{Certificates: []tls.Certificate{c}} }
	add("ws", func(ln net.Listener) { probetest.ServeHTTP(t, ln, probetest.WebSocket("/chat", ""), nil) })
	add("web", func(ln net.Listener) { probetest.ServeHTTP(t, ln, probetest.HTTP("nginx/1.24.0"), nil) })
	add("text", func(ln net.Listener) { probetest.Serve(t, ln, probetest.Echo) })
	add("frame", func(ln net.Listener) { probetest.Serve(t, ln, probetest.Frame(false)) })
	add("silent", func(ln net.Listener) { probetest.Serve(t, ln, probetest.Silent) })
	add("ssh", func(ln net.Listener) {
		probetest.Serve(t, ln, probetest.Banner("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"))
	})
	add("redis", func(ln net.Listener) { probetest.Serve(t, ln, probetest.Redis) })
	add("reset", func(ln net.Listener) { probetest.Serve(t, ln, probetest.Reset) })
	add("wss", func(ln net.Listener) {
		probetest.ServeHTTP(t, ln, probetest.WebSocket("/chat", ""), tlsCfg(certs.Good))
	})
	add("https", func(ln net.Listener) { probetest.ServeHTTP(t, ln, probetest.HTTP("nginx/1.24.0"), tlsCfg(certs.Good)) })
	add("tls-wrong", func(ln net.Listener) { probetest.ServeTLS(t, ln, certs.WrongName, probetest.Silent) })
	add("tls-expired", func(ln net.Listener) { probetest.ServeTLS(t, ln, certs.Expired, probetest.Silent) })
	add("tls-self", func(ln net.Listener) { probetest.ServeTLS(t, ln, certs.SelfSign, probetest.Silent) })
	add("listen-ws", func(ln net.Listener) {
		probetest.ServeHTTP(t, ln, probetest.WebSocket("/", "conndiag-listen/test"), nil)
	})
	add("listen-tcp", func(ln net.Listener) { probetest.Serve(t, ln, probetest.TextWhoami) })
	return ports
}

// checkEnv is check with extra environment variables (SSL_CERT_FILE).
func checkEnv(t *testing.T, ns *testbed.NS, env []string, args ...string) (report, int) {
	t.Helper()
	argv := append(append(env, bin, "check", "--json"), args...)
	stdout, stderr, code := testbed.Exec(t, ns, "env", argv...)
	var r report
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &r); err != nil {
		t.Fatalf("check %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, stdout, stderr)
	}
	return r, code
}

// Every protocol cause of the checklist, against real servers across a veth
// pair, through the real binary.
func TestCheckProtocol(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	certs := probetest.NewCerts(t)
	ports := protoServers(t, n, certs)
	ca := []string{"SSL_CERT_FILE=" + certs.WriteCA(t)}
	n.Client.Hosts(t, "127.0.0.1 localhost\n198.51.100.3 app.test\n")
	n.Client.ResolvConf(t, "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")

	tests := []struct {
		target  string // %d is the port of server
		server  string
		env     []string
		outcome string
		cause   string
		ev      string // evidence that must be there
	}{
		{"ws://198.51.100.3:%d/chat", "ws", nil, "ok", "ok", "WebSocket handshake accepted"},
		{"ws://198.51.100.3:%d/nope", "ws", nil, "protocol_mismatch", "ws_upgrade_rejected", "Nothing in the answer shows a WebSocket server"},
		{"ws://198.51.100.3:%d/", "web", nil, "protocol_mismatch", "ws_upgrade_rejected", "Server header: nginx/1.24.0"},
		{"ws://198.51.100.3:%d/", "text", nil, "protocol_mismatch", "not_http", "echo"},
		{"ws://198.51.100.3:%d/", "frame", nil, "protocol_mismatch", "not_http", "frames"},
		{"ws://198.51.100.3:%d/", "silent", nil, "protocol_mismatch", "not_http", "No answer to the WebSocket handshake"},
		{"ws://198.51.100.3:%d/", "ssh", nil, "protocol_mismatch", "other_service", "SSH-2.0-OpenSSH_9.2p1"},
		{"ws://198.51.100.3:%d/", "redis", nil, "protocol_mismatch", "other_service", "a Redis server"},
		{"ws://198.51.100.3:%d/", "reset", nil, "reset", "reset_by_peer", "reset"}, // during or right after connect
		{"ws://198.51.100.3:%d/chat", "wss", nil, "protocol_mismatch", "tls_expected", "TLS"},
		{"http://198.51.100.3:%d/", "https", nil, "protocol_mismatch", "tls_expected", "TLS"},
		{"http://app.test:%d/", "web", nil, "ok", "ok", "Phases: DNS"},
		{"wss://198.51.100.3:%d/chat", "ws", nil, "tls_failure", "tls_unexpected", "plain HTTP answer"},
		{"https://198.51.100.3:%d/", "text", nil, "tls_failure", "tls_unexpected", "plain text"},
		{"wss://198.51.100.3:%d/chat", "wss", ca, "ok", "ok", "TLS handshake done"},
		{"wss://app.test:%d/chat", "wss", ca, "ok", "ok", "WebSocket handshake accepted"},
		{"https://app.test:%d/", "https", ca, "ok", "ok", "TLS"},
		{"wss://app.test:%d/chat", "wss", nil, "tls_failure", "tls_certificate", "not among the CAs this machine trusts"},
		{"wss://app.test:%d/chat", "tls-wrong", ca, "tls_failure", "tls_certificate", "The certificate is for other.test; the client asked for app.test"},
		{"tls://app.test:%d", "tls-expired", ca, "tls_failure", "tls_certificate", "expired on"},
		{"tls://app.test:%d", "tls-self", ca, "tls_failure", "tls_certificate", "self-signed"},
		{"text://198.51.100.3:%d", "text", nil, "ok", "ok", `whoami\n`},
		{"text://198.51.100.3:%d", "silent", nil, "ok", "ok", "no answer within"},
		{"text://198.51.100.3:%d", "web", nil, "protocol_mismatch", "other_service", "an HTTP server"},
		{"text://198.51.100.3:%d", "frame", nil, "protocol_mismatch", "other_service", "frame"},
		{"frame://198.51.100.3:%d", "frame", nil, "ok", "ok", "ok:whoami"},
		{"frame://198.51.100.3:%d", "text", nil, "protocol_mismatch", "other_service", "text"},
		{"ws://198.51.100.3:%d/", "listen-ws", nil, "ok", "ok", "sees this client as 198.51.100.2:"},
	}
	for _, tt := range tests {
		tgt := fmt.Sprintf(tt.target, ports[tt.server])
		t.Run(tt.server+" "+tgt, func(t *testing.T) {
			r, code := checkEnv(t, n.Client, tt.env, tgt, "--timeout", "1s", "--probe-ports", "")
			if r.Outcome != tt.outcome || r.Verdict.Cause != tt.cause {
				t.Fatalf("got %s / %s, want %s / %s\n%s", r.Outcome, r.Verdict.Cause, tt.outcome, tt.cause, dump(r))
			}
			if want := map[bool]int{true: 0, false: 1}[tt.cause == "ok"]; code != want {
				t.Errorf("exit %d, want %d", code, want)
			}
			if !hasEvidence(r, tt.ev) {
				t.Errorf("want evidence %q: %s", tt.ev, dump(r))
			}
		})
	}
}

// The human output shows the exchange, escaped; JSON lists the protocol
// probes with the bytes each way.
func TestCheckProtocolExchange(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	probetest.ServeHTTP(t, n.Server.Listen(t, "tcp", "198.51.100.3:8282"), probetest.HTTP("workerman/4.1"), nil)
	probetest.Serve(t, n.Server.Listen(t, "tcp", "198.51.100.3:5678"), probetest.Echo)

	out, _, code := testbed.Exec(t, n.Client, bin, "check", "--no-color", "ws://198.51.100.3:8282/chat")
	for _, want := range []string{"✗ ws_upgrade_rejected", "Exchange with 198.51.100.3:8282", `→ GET /chat HTTP/1.1\r\nHost: 198.51.100.3:8282\r\n`,
		`← HTTP/1.1 200 OK\r\n`, "new Worker('websocket://0.0.0.0:8282');"} {
		if !strings.Contains(out, want) {
			t.Errorf("human output lacks %q:\n%s", want, out)
		}
	}
	if code != 1 {
		t.Errorf("exit %d", code)
	}

	raw, _, _ := testbed.Exec(t, n.Client, bin, "check", "--json", "ws://198.51.100.3:5678/")
	var probes struct {
		Probes []struct{ Name, Result, Sent, Received string } `json:"probes"`
	}
	if err := json.Unmarshal([]byte(raw), &probes); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range probes.Probes {
		if p.Name == "websocket_handshake" && p.Result == "not_http" && strings.HasPrefix(p.Sent, `GET / HTTP/1.1\r\n`) && strings.HasPrefix(p.Received, `GET / HTTP/1.1\r\n`) {
			found = true
		}
	}
	if !found {
		t.Errorf("want a websocket_handshake probe with the echoed request: %s", raw)
	}
}
