//go:build linux

package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conndiag/conndiag/internal/testbed"
)

// listenProc is a running `conndiag listen`.
type listenProc struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
	stderr *bytes.Buffer
	done   chan error
}

// startListen runs `conndiag listen ARGS` on loopback and returns once it
// has printed its startup lines; it is killed at cleanup if still running.
func startListen(t *testing.T, lines int, args ...string) (*listenProc, []string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"listen"}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &listenProc{cmd: cmd, stdout: bufio.NewReader(out), stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	got := make(chan []string, 1)
	go func() {
		var ls []string
		for range lines {
			l, err := p.stdout.ReadString('\n')
			if err != nil {
				break
			}
			ls = append(ls, strings.TrimRight(l, "\n"))
		}
		got <- ls
		io.Copy(io.Discard, p.stdout) // until exit; Wait needs the pipe drained
		p.done <- cmd.Wait()
	}()
	select {
	case ls := <-got:
		if len(ls) < lines {
			t.Fatalf("listen %v: %d startup lines %q, stderr:\n%s", args, len(ls), ls, p.stderr)
		}
		return p, ls
	case <-time.After(10 * time.Second):
		t.Fatalf("listen %v: no startup lines", args)
	}
	return nil, nil
}

// stop sends SIGTERM and returns the exit code.
func (p *listenProc) stop(t *testing.T) int {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(10 * time.Second):
		t.Fatal("listen did not stop on SIGTERM")
	}
	return -1
}

func runListen(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"listen"}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

func TestListenBadInput(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"udp://0.0.0.0:9000"},
		{"text://0.0.0.0"},
		{"ws://127.0.0.1:0", "--max-line", "lots"},
		{"wss://127.0.0.1:0", "--cert", "/nonexistent.pem", "--key", "/nonexistent.key"},
		{"ws://127.0.0.1:18299", "text://127.0.0.1:18299"},
		{"text://127.0.0.1:0", "--cert", "c.pem", "--key", "k.pem"}, // no TLS endpoint to use them
		{"text://127.0.0.1:65536"},
	} {
		stdout, stderr, code := runListen(t, args...)
		if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "conndiag: error: ") {
			t.Errorf("listen %v: exit %d, stdout %q, stderr %q; want exit 2 and one line", args, code, stdout, stderr)
		}
	}
}

func TestListenPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, stderr, code := runListen(t, "websocket://"+ln.Addr().String())
	want := fmt.Sprintf("already in use by PID %d (", os.Getpid())
	if code != 3 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr %q; want exit 3 naming this test process: %q", code, stderr, want)
	}
}

func TestListenServesLogsAndStops(t *testing.T) {
	p, lines := startListen(t, 3, "--json", "ws://127.0.0.1:0", "text://127.0.0.1:0", "http://127.0.0.1:0")
	addr := map[string]string{}
	for _, l := range lines {
		var j struct {
			Listening, Scheme, Address string
			Warnings                   []string
		}
		if err := json.Unmarshal([]byte(l), &j); err != nil {
			t.Fatalf("startup line %q: %v", l, err)
		}
		if len(j.Warnings) != 1 || !strings.Contains(j.Warnings[0], "this machine only") {
			t.Errorf("127.0.0.1 must warn that only this machine can connect: %q", l)
		}
		addr[j.Scheme] = j.Address
	}

	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+addr["ws"]+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Server") == "" || !strings.HasPrefix(resp.Header.Get("Server"), "conndiag-listen/") {
		t.Errorf("Server header %q", resp.Header.Get("Server"))
	}
	ws.WriteMessage(websocket.TextMessage, []byte("whoami"))
	_, b, err := ws.ReadMessage()
	var who struct{ Conndiag, Proto, Client, Server string }
	if err != nil || json.Unmarshal(b, &who) != nil || who.Conndiag != "listen" || who.Client != ws.LocalAddr().String() || who.Server != addr["ws"] {
		t.Errorf("whoami: %s, %v", b, err)
	}

	tc, err := net.Dial("tcp", addr["text"])
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(tc, "hello\n")
	tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(tc).ReadString('\n')
	if line != "hello\n" {
		t.Errorf("text echo %q", line)
	}
	tc.Close()

	// A WebSocket client against the http endpoint gets 200, as from any HTTP server.
	if _, resp, err := websocket.DefaultDialer.Dial("ws://"+addr["http"]+"/", nil); err == nil || resp == nil || resp.StatusCode != 200 {
		t.Errorf("WebSocket to http endpoint: %v", err)
	}

	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM, stderr:\n%s", code, p.stderr)
	}
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := ws.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("WebSocket client after SIGTERM: %v, want close 1001", err)
	}
	reasons := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(p.stderr.String()), "\n") {
		var rec struct{ Endpoint, Peer, Reason, Message string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Peer == "" || rec.Message == "" {
			t.Errorf("log line %q is not a connection record", l)
		}
		reasons[rec.Reason] = true
	}
	for _, r := range []string{"client_closed", "shutdown", "http_upgrade_answered_200"} {
		if !reasons[r] {
			t.Errorf("no %q in the connection log:\n%s", r, p.stderr)
		}
	}
}

func TestListenHumanOutput(t *testing.T) {
	p, lines := startListen(t, 5, "websocket://127.0.0.1:0", "ssl://127.0.0.1:0")
	out := strings.Join(lines, "\n")
	for _, want := range []string{"listening websocket://127.0.0.1:", `send "whoami"`, "warning: ", "listening ssl://127.0.0.1:", "SHA-256 fingerprint "} {
		if !strings.Contains(out, want) {
			t.Errorf("startup output lacks %q:\n%s", want, out)
		}
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// Behind a NAT the whoami answer shows the router's address, not the
// client's own: what the endpoint is for.
func TestListenWhoamiShowsNAT(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Chain(t)
	n.Router.Iptables(t, "-t", "nat", "-A", "POSTROUTING", "-o", n.RouterServerIf, "-j", "MASQUERADE")
	n.Server.Start(t, bin, "listen", "tcp://0.0.0.0:9000")
	n.Server.WaitListening(t, "tcp", 9000, 5*time.Second)

	c, err := n.Client.Dial(t, "tcp", n.ServerIP.String()+":9000", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "whoami\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	var who struct{ Proto, Client, Server string }
	if err != nil || json.Unmarshal([]byte(line), &who) != nil {
		t.Fatalf("whoami %q: %v", line, err)
	}
	host, _, _ := net.SplitHostPort(who.Client)
	if host != n.RouterServerIP.String() || who.Server != n.ServerIP.String()+":9000" || who.Proto != "tcp" {
		t.Errorf("whoami through NAT = %+v; want client %s (the router), server %s:9000", who, n.RouterServerIP, n.ServerIP)
	}
}

// Out of descriptors, the endpoint says so once, keeps serving the
// connections it has, and accepts again when descriptors are free.
func TestListenDescriptorLimit(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	cmd := exec.Command(prlimit, "--nofile=40:40", bin, "listen", "text://127.0.0.1:0", "--quiet")
	out, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	first, err := bufio.NewReader(out).ReadString('\n')
	fields := strings.Fields(first)
	if err != nil || len(fields) < 2 {
		t.Fatalf("startup line %q: %v", first, err)
	}
	addr := strings.TrimPrefix(fields[1], "text://")
	echoes := func(c net.Conn, s string) bool {
		c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		io.WriteString(c, s+"\n")
		got := make([]byte, len(s)+1)
		_, err := io.ReadFull(c, got)
		return err == nil && string(got) == s+"\n"
	}
	var conns []net.Conn
	for range 60 { // more than the limit; the kernel queues the rest
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for _, c := range conns {
		io.WriteString(c, "a\n")
	}
	time.Sleep(300 * time.Millisecond)
	served := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		got := make([]byte, 2)
		if _, err := io.ReadFull(c, got); err == nil && string(got) == "a\n" {
			served++
		}
	}
	if served == 0 || served == len(conns) {
		t.Fatalf("%d of %d connections served under a limit of 40 descriptors", served, len(conns))
	}
	for _, c := range conns {
		c.Close()
	}
	ok := false
	for deadline := time.Now().Add(10 * time.Second); !ok && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			ok = echoes(c, "again")
			c.Close()
		}
	}
	if !ok {
		t.Error("no connection served after the others closed")
	}
	if n := strings.Count(stderr.String(), "too many open files"); n != 1 {
		t.Errorf("want one warning about the descriptor limit, got %d:\n%s", n, stderr.String())
	}
}
