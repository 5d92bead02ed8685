//go:build linux

package integration

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/probe/probetest"
	"github.com/conndiag/conndiag/internal/testbed"
)

// wsApp is a Python websockets echo server: origins given, it allows only
// those ("-" stands for a handshake without an Origin header).
const wsApp = `import asyncio, sys, websockets
async def echo(ws, path=None):
    async for m in ws:
        await ws.send(m)
async def main():
    origins = [None if o == "-" else o for o in sys.argv[2:]] or None
    async with websockets.serve(echo, "127.0.0.1", int(sys.argv[1]), origins=origins):
        await asyncio.Future()
asyncio.run(main())
`

// wsNodeApp is a Node.js ws echo server: origins given, verifyClient
// allows only those ("-" stands for none).
const wsNodeApp = `const { WebSocketServer } = require('ws');
const allowed = process.argv.slice(3);
const opts = { host: '127.0.0.1', port: +process.argv[2] };
if (allowed.length) opts.verifyClient = ({ origin }) => allowed.includes(origin || '-');
new WebSocketServer(opts).on('connection', (ws) => ws.on('message', (m) => ws.send(m)));
`

// nodeWS is the environment under which node finds the ws package
// (Debian's node-ws is in /usr/share/nodejs), nil when it cannot.
func nodeWS() []string {
	if _, err := exec.LookPath("node"); err != nil {
		return nil
	}
	for _, env := range [][]string{{"NODE_PATH=/usr/share/nodejs"}, {}} {
		cmd := exec.Command("node", "-e", "require('ws')")
		cmd.Env = append(os.Environ(), env...)
		if cmd.Run() == nil {
			return append([]string{"env"}, env...)
		}
	}
	return nil
}

// wsPython is a Python interpreter that has the websockets package
// (Debian's python3-websockets is in /usr/bin/python3, which a pyenv or
// venv python3 earlier in PATH may not see).
func wsPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import websockets").Run() == nil {
			return py
		}
	}
	t.Skip("no python3 with the websockets package (Debian package python3-websockets: apt-get install python3-websockets)")
	return ""
}

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	pkg := map[string]string{"nginx": "nginx-light", "redis-server": "redis-server", "socat": "socat"}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found in PATH (Debian package %s: apt-get install %s)", tool, pkg[tool], pkg[tool])
		}
	}
}

// The servers of the WebSocket tests, in one namespace on loopback:
//
//	18080  nginx: /good/ proxies to the app with the upgrade headers, /noup/
//	       without them (HTTP/1.0), /noup11/ with HTTP/1.1 but no Upgrade or
//	       Connection, /dead/ to a port nothing listens on, /old redirects to
//	       /good/, anything else is a file that does not exist
//	19001  the app, any Origin
//	19002  the app, only no Origin or its own (http://127.0.0.1:19002)
//	19003  the app, only https://app.example
//	17000  socat forwarding to 17001, where nothing listens
//	16390  redis-server
//	19101  a Node.js ws app, only no Origin or its own; 19102 any Origin,
//	       behind nginx's /node-noup/ without the upgrade headers (when node
//	       and its ws package are there)
//	18443  nginx with TLS (a test CA's certificate), proxying to the app;
//	       18080's /secure/ redirects to it
//
// The environment returned makes check trust the test CA.
func wsServers(t *testing.T) (ns *testbed.NS, env []string, node bool) {
	t.Helper()
	testbed.RequireRoot(t)
	requireTools(t, "nginx", "socat", "redis-server")
	py := wsPython(t)
	ns = testbed.New(t).NS("ws")
	dir := t.TempDir()
	app := filepath.Join(dir, "app.py")
	if err := os.WriteFile(app, []byte(wsApp), 0o644); err != nil {
		t.Fatal(err)
	}
	ports := []int{18080, 18443, 19001, 19002, 19003, 17000, 16390}
	if run := nodeWS(); run != nil {
		js := filepath.Join(dir, "app.js")
		if err := os.WriteFile(js, []byte(wsNodeApp), 0o644); err != nil {
			t.Fatal(err)
		}
		ns.Start(t, append(run, "node", js, "19101", "-", "http://127.0.0.1:19101")...)
		ns.Start(t, append(run, "node", js, "19102")...)
		ports, node = append(ports, 19101, 19102), true
	}
	ns.Start(t, py, app, "19001")
	ns.Start(t, py, app, "19002", "-", "http://127.0.0.1:19002")
	ns.Start(t, py, app, "19003", "https://app.example")
	if err := os.Mkdir(filepath.Join(dir, "www"), 0o755); err != nil {
		t.Fatal(err)
	}
	certs := probetest.NewCerts(t)
	writePEM(t, filepath.Join(dir, "cert.pem"), "CERTIFICATE", certs.Good.Certificate[0])
	key, err := x509.MarshalECPrivateKey(certs.Good.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "key.pem"), "EC PRIVATE KEY", key)
	ns.Nginx(t, dir, fmt.Sprintf(`  server {
    listen 127.0.0.1:18080;
    root %[1]s/www;
    location /good/ {
      proxy_pass http://127.0.0.1:19001;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
    }
    location /noup/ { proxy_pass http://127.0.0.1:19001; }
    location /noup11/ { proxy_pass http://127.0.0.1:19001; proxy_http_version 1.1; }
    location /dead/ {
      proxy_pass http://127.0.0.1:19009;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
    }
    location /node-noup/ { proxy_pass http://127.0.0.1:19102; }
    location = /old { return 301 /good/; }
    location /secure/ { return 301 https://$host:18443$request_uri; }
  }
  server {
    listen 127.0.0.1:18443 ssl;
    ssl_certificate %[1]s/cert.pem;
    ssl_certificate_key %[1]s/key.pem;
    location / {
      proxy_pass http://127.0.0.1:19001;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
    }
  }`, dir))
	ns.Start(t, "socat", "TCP-LISTEN:17000,bind=127.0.0.1,fork,reuseaddr", "TCP:127.0.0.1:17001")
	ns.Start(t, "redis-server", "--port", "16390", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no")
	for _, port := range ports {
		ns.WaitListening(t, "tcp", port, 15*time.Second)
	}
	return ns, []string{"SSL_CERT_FILE=" + certs.WriteCA(t)}, node
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// probeCount counts the probes whose name starts with prefix.
func probeCount(r report, prefix string) int {
	n := 0
	for _, p := range r.Probes {
		if strings.HasPrefix(p.Name, prefix) {
			n++
		}
	}
	return n
}

// Each WebSocket refusal is judged by its status and by who answered, and
// the first fix line is in the terms of the server identified. The follow-up
// steps (the Origin retry, the redirect hop, the try that sends nothing) run
// only when their trigger is seen, one handshake each.
func TestCheckWSVerdicts(t *testing.T) {
	ns, env, node := wsServers(t)
	nginxUpgrade := "nginx passed the handshake to the application without the upgrade: by default it speaks HTTP/1.0 to the upstream and drops the Upgrade and Connection headers. In the location that proxies to the application, add:"
	tests := []struct {
		name        string
		node        bool // needs node and its ws package
		args        []string
		outcome     string
		cause, conf string
		fix         string         // the first fix line, exactly ("" for ok)
		fix2        string         // the second fix line, its start
		evidence    string         // an evidence line, its part
		probes      map[string]int // probe name prefix → how many
	}{
		{"nginx with the upgrade headers", false, []string{"ws://127.0.0.1:18080/good/"},
			"ok", "ok", "high", "", "", "Server header: nginx/1.22",
			map[string]int{"websocket_origin_retry": 0, "websocket_redirect": 0, "fingerprint_": 0}},
		{"nginx without the upgrade headers (HTTP/1.0)", false, []string{"ws://127.0.0.1:18080/noup/"},
			"protocol_mismatch", "ws_upgrade_rejected", "high", nginxUpgrade, "proxy_http_version 1.1;", "Python websockets",
			map[string]int{"websocket_origin_retry": 0, "websocket_redirect": 0, "fingerprint_": 0}},
		{"nginx with HTTP/1.1 but no Upgrade header: 426", false, []string{"ws://127.0.0.1:18080/noup11/"},
			"protocol_mismatch", "ws_upgrade_rejected", "high", nginxUpgrade, "proxy_http_version 1.1;", "426 Upgrade Required", nil},
		{"nginx with a dead upstream: 502", false, []string{"ws://127.0.0.1:18080/dead/"},
			"protocol_mismatch", "proxy_upstream_failed", "high",
			"nginx got no answer from its upstream (proxy_pass): the application behind it is down, or listens on another address or port. nginx's error log names the upstream it tried:",
			"tail -n 20 /var/log/nginx/error.log", "nginx's own error page", nil},
		{"nginx redirects /old to /good/, which upgrades", false, []string{"ws://127.0.0.1:18080/old"},
			"protocol_mismatch", "ws_path_not_found", "high", "Connect to ws://127.0.0.1:18080/good/.", "WebSocket clients, browsers included, do not follow redirects",
			"ws://127.0.0.1:18080/good/ got: HTTP/1.1 101 Switching Protocols", map[string]int{"websocket_redirect": 1, "websocket_origin_retry": 0}},
		{"nginx redirects to https://: wss:// there upgrades", false, []string{"ws://127.0.0.1:18080/secure/chat"},
			"protocol_mismatch", "tls_expected", "high", "Connect to wss://127.0.0.1:18443/secure/chat.",
			"A page served over https:// must open wss:// anyway", "wss://127.0.0.1:18443/secure/chat got: HTTP/1.1 101",
			map[string]int{"websocket_redirect": 1, "websocket_redirect_tls": 0}},
		{"nginx's 404 from its files is an HTTP server, not a WebSocket path", false, []string{"ws://127.0.0.1:18080/static/x"},
			"protocol_mismatch", "ws_upgrade_rejected", "medium",
			"nginx answered /static/x itself (from its files): no location proxies it to the WebSocket server. Add one, with your WebSocket server's address in proxy_pass:",
			"location /static/x {", "Nothing in the answer shows a WebSocket server", nil},
		{"an Origin-checking server, its own origin", false, []string{"ws://127.0.0.1:19002/chat"},
			"ok", "ok", "high", "", "", "101 Switching Protocols", map[string]int{"websocket_origin_retry": 0}},
		{"an Origin-checking server, another page's origin", false, []string{"ws://127.0.0.1:19002/chat", "--origin", "https://evil.example"},
			"protocol_mismatch", "ws_origin_rejected", "high",
			"Add the page's origin, https://evil.example, to the origins the WebSocket server allows (a client that is not a browser may also send no Origin at all).",
			"In Python websockets, the allowed origins are the origins list:", "the same handshake with Origin http://127.0.0.1:19002 got: HTTP/1.1 101",
			map[string]int{"websocket_origin_retry": 1}},
		{"an Origin-checking server that allows neither its own origin nor none", false, []string{"ws://127.0.0.1:19003/chat"},
			"protocol_mismatch", "ws_origin_rejected", "medium",
			"Check with the origin of the page that opens the socket; if the server refuses that one too, add it to the origins the server allows:",
			"conndiag check ws://127.0.0.1:19003/chat --origin https://app.example.com", "without an Origin header got: HTTP/1.1 403",
			map[string]int{"websocket_origin_retry": 1}},
		{"socat forwarding to a dead backend", false, []string{"ws://127.0.0.1:17000/"},
			"protocol_mismatch", "proxy_upstream_failed", "high",
			"socat passes the connections on to an application that is down or listens elsewhere. See where it forwards (its command line), then start that application or correct the address:",
			"ps -o args= -p ", "it hangs up before it reads anything", map[string]int{"fingerprint_idle": 1}},
		{"redis behind ws://, recognised by a command it answers", false, []string{"ws://127.0.0.1:16390/"},
			"protocol_mismatch", "other_service", "high",
			"Point the client at your own service's port, or move one of the two; see which process holds port 16390 (on the server):",
			"ss -ltnp 'sport = :16390'", "a Redis server", nil},
		{"nginx without the upgrade headers in front of a Node.js ws app: 426", true, []string{"ws://127.0.0.1:18080/node-noup/"},
			"protocol_mismatch", "ws_upgrade_rejected", "high", nginxUpgrade, "proxy_http_version 1.1;", "426 Upgrade Required", nil},
		{"a Node.js ws app whose verifyClient refuses another page's origin", true, []string{"ws://127.0.0.1:19101/", "--origin", "https://evil.example"},
			"protocol_mismatch", "ws_origin_rejected", "high",
			"Add the page's origin, https://evil.example, to the origins the WebSocket server allows (a client that is not a browser may also send no Origin at all).",
			"In Node.js (ws), decide in verifyClient", "the same handshake with Origin http://127.0.0.1:19101 got: HTTP/1.1 101",
			map[string]int{"websocket_origin_retry": 1}},
		{"a Node.js ws app, its own origin", true, []string{"ws://127.0.0.1:19101/"},
			"ok", "ok", "high", "", "", "101 Switching Protocols", map[string]int{"websocket_origin_retry": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.node && !node {
				t.Skip("node with the ws package not found (Debian package node-ws: apt-get install node-ws)")
			}
			r, code := checkEnv(t, ns, env, tt.args...)
			if r.Outcome != tt.outcome || r.Verdict.Cause != tt.cause || len(r.Findings) == 0 {
				t.Fatalf("got outcome %q cause %q, want %q / %q\nfindings: %s", r.Outcome, r.Verdict.Cause, tt.outcome, tt.cause, dump(r.Findings))
			}
			if want := map[bool]int{true: 0, false: 1}[tt.cause == "ok"]; code != want {
				t.Errorf("exit %d, want %d", code, want)
			}
			t.Logf("%s in %d ms", r.Verdict.Cause, r.DurationMS)
			f := r.Findings[0]
			if f.Confidence != tt.conf {
				t.Errorf("confidence %s, want %s: %s", f.Confidence, tt.conf, dump(f))
			}
			if tt.fix != "" && (len(f.Fix) < 2 || f.Fix[0] != tt.fix || !strings.HasPrefix(f.Fix[1], tt.fix2)) {
				t.Errorf("fix lines\n got: %q\nwant: %q, then %q…", f.Fix, tt.fix, tt.fix2)
			}
			if fix := strings.Join(f.Fix, "\n"); strings.Contains(fix, "Workerman") || strings.Contains(fix, "new Worker") {
				t.Errorf("Workerman advice for a server that is not Workerman: %s", fix)
			}
			if !hasEvidence(r, tt.evidence) {
				t.Errorf("no evidence line with %q: %s", tt.evidence, dump(r.Findings))
			}
			for prefix, want := range tt.probes {
				if got := probeCount(r, prefix); got != want {
					t.Errorf("%d probes %s*, want %d: %s", got, prefix, want, dump(r.Probes))
				}
			}
		})
	}
}

// A forwarder whose backend is down, seen from another machine: socat in the
// server namespace accepts and closes before reading; the client cannot see
// who listens, so the verdict is medium and says where to look. wss:// to it
// fails in the TLS handshake the same way.
func TestCheckWSForwarderFromAfar(t *testing.T) {
	testbed.RequireRoot(t)
	requireTools(t, "socat")
	n := testbed.Pair(t)
	n.Server.Start(t, "socat", "TCP-LISTEN:8282,bind="+n.ServerIP.String()+",fork,reuseaddr", "TCP:127.0.0.1:9")
	n.Server.WaitListening(t, "tcp", 8282, 10*time.Second)
	for _, tt := range []struct{ scheme, outcome string }{{"ws", "protocol_mismatch"}, {"wss", "tls_failure"}} {
		t.Run(tt.scheme, func(t *testing.T) {
			r := expect(t, n.Client, tt.outcome, "proxy_upstream_failed", tt.scheme+"://"+n.ServerIP.String()+":8282/chat")
			f := r.Findings[0]
			want := "On the server, see which process holds port 8282: a forwarder there (socat, docker-proxy, haproxy, an SSH tunnel) has a backend that is down; start the application behind it, or point the forwarder at it:"
			if f.Confidence != "medium" || len(f.Fix) < 2 || f.Fix[0] != want || f.Fix[1] != "ss -ltnp 'sport = :8282'" {
				t.Errorf("want a medium verdict that says where to look, got %s: %q", f.Confidence, f.Fix)
			}
			if !hasEvidence(r, "it hangs up before it reads anything") || probeCount(r, "fingerprint_idle") != 1 {
				t.Errorf("want the try that sent nothing: %s", dump(r))
			}
			if len(r.Findings) < 2 || r.Findings[1].Cause != "reset_by_peer" || r.Findings[1].Confidence != "low" {
				t.Errorf("want the server that refuses everyone as the low alternative: %s", dump(r.Findings))
			}
		})
	}
}
