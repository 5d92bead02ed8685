//go:build linux

package integration

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/probe/probetest"
	"github.com/conndiag/conndiag/internal/testbed"
)

// loadReport is the part of load's JSON the tests read.
type loadReport struct {
	Target      string             `json:"target"`
	Mode        string             `json:"mode"`
	Attempted   int                `json:"attempted"`
	Established int                `json:"established"`
	PeakOpen    int                `json:"peak_open"`
	Errors      map[string]int     `json:"errors"`
	Connect     map[string]float64 `json:"connect_ms"`
	Preflight   struct {
		Ceiling int    `json:"ceiling"`
		Limit   string `json:"limit"`
		Ports   int    `json:"ports"`
		Sources []struct {
			Address string `json:"address"`
			Ports   int    `json:"ports"`
			Used    int    `json:"used"`
			Free    int    `json:"free"`
		} `json:"sources"`
	} `json:"preflight"`
	First *struct {
		Cause string `json:"cause"`
		Errno string `json:"errno"`
	} `json:"first_failure"`
	Closed struct {
		Count  int            `json:"count"`
		ByCode map[string]int `json:"by_code"`
		Groups []struct {
			AgeMS float64 `json:"age_ms"`
			Code  int     `json:"code"`
			Count int     `json:"count"`
		} `json:"groups"`
	} `json:"closed"`
	Interrupted bool `json:"interrupted"`
	Verdict     struct {
		Cause      string `json:"cause"`
		Confidence string `json:"confidence"`
	} `json:"verdict"`
	Findings []struct {
		Cause    string   `json:"cause"`
		Summary  string   `json:"summary"`
		Evidence []string `json:"evidence"`
		Fix      []string `json:"fix"`
	} `json:"findings"`
}

func (r loadReport) evidence() string {
	if len(r.Findings) == 0 {
		return ""
	}
	return strings.Join(r.Findings[0].Evidence, "\n")
}

// runLoad runs `conndiag load --json ARGS` in ns.
func runLoad(t *testing.T, ns *testbed.NS, args ...string) (loadReport, int) {
	t.Helper()
	stdout, stderr, code := testbed.Exec(t, ns, bin, append([]string{"load", "--json"}, args...)...)
	var r loadReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("load %v: exit %d, stdout is not one JSON object: %v\nstdout:\n%s\nstderr:\n%s", args, code, err, stdout, stderr)
	}
	return r, code
}

// loadNS is a namespace with only loopback and a conndiag listen endpoint:
// WebSocket on 127.0.0.1:8282, raw TCP echo on 127.0.0.1:8283.
func loadNS(t *testing.T, portRange string) (*testbed.Bed, *testbed.NS, *testbed.Proc) {
	t.Helper()
	b := testbed.New(t)
	ns := b.NS("load")
	ns.Sysctl(t, "net.ipv4.ip_local_port_range", portRange)
	srv := ns.Start(t, bin, "listen", "--json", "--idle-timeout", "0", "ws://127.0.0.1:8282", "tcp://127.0.0.1:8283")
	ns.WaitListening(t, "tcp", 8282, 10*time.Second)
	ns.WaitListening(t, "tcp", 8283, 10*time.Second)
	return b, ns, srv
}

// A 12-port range, 3 ports already held toward the destination and one
// taken by a listener inside the range: the preflight predicts 8, the run
// reaches 8, and the report names ephemeral_ports_exhausted with the counts.
func TestLoadEphemeralPortsExhausted(t *testing.T) {
	testbed.RequireRoot(t)
	_, ns, _ := loadNS(t, "40000 40011")
	ns.ServeAccept(t, ns.Listen(t, "tcp", "127.0.0.5:40005"))
	for i := range 3 {
		if _, err := ns.Dial(t, "tcp", "127.0.0.1:8283", 2*time.Second); err != nil {
			t.Fatalf("holding connection %d: %v", i, err)
		}
	}
	r, code := runLoad(t, ns, "127.0.0.1:8283", "--hold", "50", "--duration", "5s")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if r.Preflight.Ceiling != 8 || r.Preflight.Limit != "ports" {
		t.Errorf("preflight predicted %d (%s), want 8 (ports): %s", r.Preflight.Ceiling, r.Preflight.Limit, dump(r.Preflight))
	}
	if r.Established != r.Preflight.Ceiling || r.PeakOpen != r.Preflight.Ceiling {
		t.Errorf("established %d, peak open %d; the preflight predicted %d", r.Established, r.PeakOpen, r.Preflight.Ceiling)
	}
	if r.Verdict.Cause != "ephemeral_ports_exhausted" || r.Errors["ephemeral_ports_exhausted"] < 1 || r.First == nil || r.First.Errno != "EADDRNOTAVAIL" {
		t.Fatalf("want ephemeral_ports_exhausted from EADDRNOTAVAIL: %s", dump(r))
	}
	ev := r.evidence()
	for _, want := range []string{
		"40000–40011 (12 ports)",                 // the range
		"11 sockets of this machine already use", // 8 of the run and 3 held before it
		"in TIME_WAIT on this machine",           // the TIME_WAIT count
		"net.ipv4.tcp_tw_reuse = 2",              // tcp_tw_reuse
		"The preflight predicted about 8", "8 were reached",
	} {
		if !strings.Contains(ev, want) {
			t.Errorf("evidence lacks %q:\n%s", want, ev)
		}
	}
	if fix := strings.Join(r.Findings[0].Fix, "\n"); !strings.Contains(fix, "sysctl -w net.ipv4.ip_local_port_range") {
		t.Errorf("want the sysctl fix: %s", fix)
	}
}

// Short connections with tcp_tw_reuse=0: the ports run out because closed
// connections sit in TIME_WAIT, and the report says so; with tcp_tw_reuse=1
// the same run goes on past the range.
func TestLoadTimeWait(t *testing.T) {
	testbed.RequireRoot(t)
	_, ns, _ := loadNS(t, "40000 40009")
	ns.Sysctl(t, "net.ipv4.tcp_tw_reuse", "0")
	r, code := runLoad(t, ns, "127.0.0.1:8283", "--short", "--rate", "100", "--duration", "1s")
	if code != 1 || r.Verdict.Cause != "ephemeral_ports_exhausted" || r.Established != 10 {
		t.Fatalf("exit %d, established %d, cause %s; want 1, 10, ephemeral_ports_exhausted: %s", code, r.Established, r.Verdict.Cause, dump(r))
	}
	if !strings.Contains(r.Findings[0].Summary, "TIME_WAIT") || !strings.Contains(r.evidence(), "10 of the 10 sockets toward 127.0.0.1:8283 are in TIME_WAIT") {
		t.Errorf("want TIME_WAIT named as what holds the ports:\n%s\n%s", r.Findings[0].Summary, r.evidence())
	}
	if !strings.Contains(r.evidence(), "tcp_tw_reuse = 0") {
		t.Errorf("want tcp_tw_reuse in the evidence:\n%s", r.evidence())
	}

	// Control: TIME_WAIT ports are reused one second after they closed.
	ns.Sysctl(t, "net.ipv4.tcp_tw_reuse", "1")
	// Let the first run's TIME_WAIT sockets go: a new range avoids waiting 60 s.
	ns.Sysctl(t, "net.ipv4.ip_local_port_range", "41000 41009")
	r, _ = runLoad(t, ns, "127.0.0.1:8283", "--short", "--rate", "50", "--duration", "3s")
	if r.Established <= 20 {
		t.Errorf("with tcp_tw_reuse=1, want well over the 10 ports of the range in 3 s, got %d: %s", r.Established, dump(r))
	}
}

// Four source addresses with IP_BIND_ADDRESS_NO_PORT give four ranges.
func TestLoadSourcesLiftTheCeiling(t *testing.T) {
	testbed.RequireRoot(t)
	_, ns, _ := loadNS(t, "40000 40009")
	one, _ := runLoad(t, ns, "ws://127.0.0.1:8282/", "--hold", "100", "--duration", "3s")
	four, _ := runLoad(t, ns, "ws://127.0.0.1:8282/", "--hold", "100", "--duration", "3s", "--source", "127.0.0.2-127.0.0.5")
	if one.Established != 10 || one.Preflight.Ceiling != 10 {
		t.Errorf("one source: established %d, predicted %d; want 10 and 10", one.Established, one.Preflight.Ceiling)
	}
	if four.Established != 4*one.Established || four.Preflight.Ceiling != 40 || len(four.Preflight.Sources) != 4 {
		t.Errorf("four sources: established %d, predicted %d over %d sources; want 4 × %d", four.Established, four.Preflight.Ceiling, len(four.Preflight.Sources), one.Established)
	}
	if four.Verdict.Cause != "ephemeral_ports_exhausted" || !strings.Contains(four.evidence(), "From 127.0.0.3: 10 sockets toward 127.0.0.1:8282") {
		t.Errorf("want the per-source counts: %s", dump(four))
	}
}

// nginx with proxy_read_timeout 3s in front of a WebSocket echo: idle held
// connections die at about 3 s, and the finding is idle_timeout.
func TestLoadIdleTimeoutBehindNginx(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "nginx")
	_, ns, _ := loadNS(t, "40000 49999")
	ns.Nginx(t, "", `  server {
    listen 127.0.0.1:8080;
    location / {
      proxy_pass http://127.0.0.1:8282;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 3s;
    }
  }`, 8080)
	// 20 connections opened over about 2 s, so that dying at one age is not dying at one moment.
	r, code := runLoad(t, ns, "ws://127.0.0.1:8080/", "--hold", "20", "--rate", "10", "--duration", "8s")
	if code != 1 || r.Verdict.Cause != "idle_timeout" {
		t.Fatalf("exit %d, cause %s; want 1 and idle_timeout: %s", code, r.Verdict.Cause, dump(r))
	}
	if r.Established != 20 || r.Closed.Count != 20 || r.Closed.ByCode["1006"] != 20 {
		t.Errorf("want 20 held connections that all died with 1006: %s", dump(r.Closed))
	}
	for _, g := range r.Closed.Groups {
		if g.AgeMS < 2500 || g.AgeMS > 4000 {
			t.Errorf("a group died at %.0f ms, want about 3000: %s", g.AgeMS, dump(r.Closed))
		}
	}
	if r.Verdict.Confidence != "high" || !strings.Contains(r.Findings[0].Summary, "3.") {
		t.Errorf("want a certain idle_timeout naming the age of about 3 s: %s", dump(r.Findings[0]))
	}
	if fix := strings.Join(r.Findings[0].Fix, "\n"); !strings.Contains(fix, "pingInterval") || !strings.Contains(fix, "proxy_read_timeout") {
		t.Errorf("want the heartbeat and the timeout fix: %s", fix)
	}
}

// Ctrl-C: exit 130 with the report, and nothing left open in the namespace.
func TestLoadInterruptClosesEverything(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "ss")
	_, ns, srv := loadNS(t, "40000 49999")
	p := ns.Start(t, bin, "load", "--json", "ws://127.0.0.1:8282/", "--hold", "200", "--duration", "0")
	// A connection is held once the load has read the server's 101: the
	// kernel's ESTABLISHED comes a handshake earlier (the SIGINT used to land
	// while 60 of 200 upgrades were still in flight).
	upgraded := func() int {
		return countUpgraded(ns.Run(t, "ss", "-Htni", "state", "established", "( dport = :8282 )"))
	}
	deadline := time.Now().Add(20 * time.Second)
	for upgraded() < 200 {
		if time.Now().After(deadline) {
			t.Fatalf("the load did not upgrade 200 connections: %d upgraded\nstderr: %s", upgraded(), p.Stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // from reading the 101 to counting it
	if err := syscall.Kill(p.Pid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("load did not end on SIGINT")
	}
	var ee *exec.ExitError
	if err := p.Err(); !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("exit: %v, want status 130", err)
	}
	var r loadReport
	if err := json.Unmarshal([]byte(p.Stdout()), &r); err != nil || !r.Interrupted || r.Established != 200 {
		t.Errorf("want the report of the 200 connections, marked interrupted: %v\n%s", err, p.Stdout())
	}
	// The client's side is closed at once; the server's once it read the close.
	if out := ns.Run(t, "ss", "-Htn", "state", "established", "( dport = :8282 )"); out != "" {
		t.Errorf("client sockets still established after Ctrl-C:\n%s", out)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		out := ns.Run(t, "ss", "-Htn", "state", "established", "( sport = :8282 )")
		if out == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server sockets still established 10 s after Ctrl-C:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Each held WebSocket was closed with a close frame (1001, going away), not dropped.
	deadline = time.Now().Add(5 * time.Second)
	for strings.Count(srv.Stderr(), "1001") < 200 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := strings.Count(srv.Stderr(), "1001"); n < 200 {
		t.Errorf("the server saw %d close frames with 1001, want 200:\n%s", n, tailLines(srv.Stderr(), 5))
	}
}

// countUpgraded counts the sockets in `ss -Htni` output that received bytes
// and have none left unread: the client read the server's answer.
func countUpgraded(ss string) int {
	n := 0
	lines := strings.Split(ss, "\n")
	for i := 0; i+1 < len(lines); i++ {
		head := strings.Fields(lines[i])
		if len(head) < 4 || strings.HasPrefix(lines[i], "\t") || head[0] != "0" {
			continue
		}
		if info := lines[i+1]; strings.HasPrefix(info, "\t") && strings.Contains(info, "bytes_received:") &&
			!strings.Contains(info, "bytes_received:0 ") {
			n++
		}
	}
	return n
}

// A target that is not loopback or private is refused without --yes.
func TestLoadRefusesOthersServers(t *testing.T) {
	for _, args := range [][]string{
		{"198.51.100.3:8282", "--hold", "10"},
		{"ws://203.0.113.2/", "--short"},
		{"127.0.0.1:8282"}, // neither --hold nor --short
		{"127.0.0.1:8282", "--hold", "10", "--short"},
		{"127.0.0.1:8282", "--hold", "10", "--source", "127.0.0.9-127.0.0.2"},
		{"127.0.0.1:8282", "--hold", "10", "--ping", "1s"},
		{"[::1]:8282", "--hold", "10", "--source", "127.0.0.2"},
	} {
		cmd := exec.Command(bin, append([]string{"load"}, args...)...)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || o.Len() != 0 || strings.Count(e.String(), "\n") != 1 {
			t.Errorf("load %v: %v, stdout %q, stderr %q; want exit 2 and one line", args, err, o.String(), e.String())
		}
	}
}

func tailLines(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// wss:// runs on the goroutine engine: TLS, then the WebSocket handshake. An
// untrusted certificate is tls_certificate for every attempt; with the CA
// trusted (SSL_CERT_FILE) every connection is held.
func TestLoadWSS(t *testing.T) {
	testbed.RequireRoot(t)
	b := testbed.New(t)
	ns := b.NS("wss")
	certs := probetest.NewCerts(t)
	dir := t.TempDir()
	keyDER, err := x509.MarshalECPrivateKey(certs.Good.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs.Good.Certificate[0]}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	ns.Start(t, bin, "listen", "--quiet", "--cert", certFile, "--key", keyFile, "wss://127.0.0.1:8443")
	ns.WaitListening(t, "tcp", 8443, 10*time.Second)

	r, code := runLoad(t, ns, "wss://127.0.0.1:8443/", "--hold", "20", "--duration", "2s")
	if code != 1 || r.Verdict.Cause != "tls_certificate" || r.Errors["tls_certificate"] != 20 {
		t.Errorf("untrusted: exit %d, %s, errors %v; want 1, tls_certificate for all 20", code, r.Verdict.Cause, r.Errors)
	}
	stdout, stderr, code := testbed.Exec(t, ns, "env", "SSL_CERT_FILE="+certs.WriteCA(t), bin, "load", "--json", "wss://127.0.0.1:8443/", "--hold", "20", "--duration", "2s")
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("%v\n%s\n%s", err, stdout, stderr)
	}
	if code != 0 || r.Verdict.Cause != "ok" || r.Established != 20 || r.PeakOpen != 20 {
		t.Errorf("trusted: exit %d, %s, established %d, peak %d; want 0, ok, 20, 20: %s", code, r.Verdict.Cause, r.Established, r.PeakOpen, dump(r))
	}
}
