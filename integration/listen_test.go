//go:build linux

package integration

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
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
		{"ws://127.0.0.1:0", "--max-buffered", "lots"},
		{"ws://127.0.0.1:0", "--max-buffered", "1MiB"}, // no room for one 1 MiB message and its echo
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

// procStatus reads a kB field of /proc/PID/status (VmRSS, VmHWM), in bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			var kb int64
			if _, err := fmt.Sscan(v, &kb); err != nil {
				t.Fatalf("%s: %q", field, line)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

const floodHandshake = "GET / HTTP/1.1\r\nHost: flood\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// partialMessage opens a connection that announces one message of size
// bytes (a masked binary WebSocket message after the handshake, or a
// frame-protocol frame) and sends part of it. The server may close it
// meanwhile: the writes then fail, which is fine.
func partialMessage(t *testing.T, addr string, websocket bool, size, part int, payload []byte) net.Conn {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Error(err)
		return nil
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	var head []byte
	if websocket {
		io.WriteString(c, floodHandshake)
		br := bufio.NewReader(c)
		status, err := br.ReadString('\n')
		for err == nil {
			var l string
			if l, err = br.ReadString('\n'); l == "\r\n" {
				break
			}
		}
		if err != nil || !strings.HasPrefix(status, "HTTP/1.1 101 ") {
			t.Errorf("flood handshake: %q, %v", status, err)
			return c
		}
		head = binary.BigEndian.AppendUint64([]byte{0x82, 0x80 | 127}, uint64(size))
		head = append(head, 0, 0, 0, 0) // mask key 0
	} else {
		head = binary.BigEndian.AppendUint32(nil, uint32(size))
	}
	if _, err := c.Write(head); err != nil {
		return c
	}
	for sent := 0; sent < part; {
		n, err := c.Write(payload[:min(len(payload), part-sent)])
		sent += n
		if err != nil {
			break
		}
	}
	c.SetDeadline(time.Time{})
	return c
}

// A well-behaved client of each endpoint gets its echo.
func wellBehaved(t *testing.T, wsAddr, frameAddr string) {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+wsAddr+"/", nil)
	if err != nil {
		t.Fatalf("well-behaved WebSocket client: %v", err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := ws.WriteMessage(websocket.BinaryMessage, []byte("still served")); err != nil {
		t.Fatal(err)
	}
	if _, b, err := ws.ReadMessage(); err != nil || string(b) != "still served" {
		t.Fatalf("well-behaved WebSocket echo %q, %v", b, err)
	}
	fc, err := net.DialTimeout("tcp", frameAddr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	fc.SetDeadline(time.Now().Add(10 * time.Second))
	f := append(binary.BigEndian.AppendUint32(nil, 4+12), "still served"...)
	fc.Write(f)
	got := make([]byte, len(f))
	if _, err := io.ReadFull(fc, got); err != nil || !bytes.Equal(got, f) {
		t.Fatalf("well-behaved frame echo %q, %v", got, err)
	}
}

// 300 WebSocket and 300 frame connections each announce a 1 MiB message,
// send 90% of it and stall. The listener's memory stays within its
// --max-buffered budget plus a fixed allowance, it closes only connections
// whose bytes do not fit, serves others meanwhile, and gives the memory
// back to the system once the flood is gone.
func TestListenPartialMessageFlood(t *testing.T) {
	const (
		budget = 32 << 20
		slack  = 96 << 20 // the process itself, garbage not yet collected, kernel-visible slack
		n      = 300
		size   = 1 << 20
		part   = size * 9 / 10
	)
	p, lines := startListen(t, 2, "--json", "ws://127.0.0.1:0", "frame://127.0.0.1:0", "--max-buffered", "32MiB")
	var addrs []string
	for _, l := range lines {
		var j struct{ Address string }
		if err := json.Unmarshal([]byte(l), &j); err != nil {
			t.Fatalf("startup line %q: %v", l, err)
		}
		addrs = append(addrs, j.Address)
	}
	wsAddr, frameAddr := addrs[0], addrs[1]
	pid := p.cmd.Process.Pid
	wellBehaved(t, wsAddr, frameAddr)
	base := procStatus(t, pid, "VmRSS")

	payload := make([]byte, 64<<10)
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range 2 * n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if c := partialMessage(t, map[bool]string{true: wsAddr, false: frameAddr}[i%2 == 0], i%2 == 0, size, part, payload); c != nil {
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
		if i == n {
			wellBehaved(t, wsAddr, frameAddr) // in the middle of the flood
		}
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	time.Sleep(time.Second) // the listener reads what the kernel holds
	wellBehaved(t, wsAddr, frameAddr)
	rss, peak := procStatus(t, pid, "VmRSS"), procStatus(t, pid, "VmHWM")
	t.Logf("RSS %d MiB before, %d MiB with the flood stalled, peak %d MiB (budget %d MiB)", base>>20, rss>>20, peak>>20, budget>>20)
	if peak > budget+slack {
		t.Errorf("peak RSS %d MiB under the flood, over the budget of %d MiB plus %d MiB", peak>>20, budget>>20, slack>>20)
	}
	closed := 0
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
		if _, err := io.Copy(io.Discard, c); err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			closed++
		}
	}
	// 600 × 0.9 MiB cannot fit in 32 MiB: most must have been closed, and
	// those that fit kept. (A kept one holds all it sent once the listener
	// has read it; the bound allows for some not read yet.)
	if closed < 2*n-4*budget/part || closed == len(conns) {
		t.Errorf("%d of %d flood connections closed by the listener; with a budget of %d MiB at most %d fit", closed, len(conns), budget>>20, budget/part)
	}

	for _, c := range conns {
		c.Close()
	}
	var after int64
	closedAt := time.Now()
	deadline := closedAt.Add(30 * time.Second)
	for {
		after = procStatus(t, pid, "VmRSS")
		if after <= base+24<<20 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("RSS %d MiB %.1f s after the flood left", after>>20, time.Since(closedAt).Seconds())
	if after > base+24<<20 {
		t.Errorf("RSS still %d MiB 30 s after the flood left (%d MiB before it)", after>>20, base>>20)
	}
	wellBehaved(t, wsAddr, frameAddr)

	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	overBudget := 0
	for _, l := range strings.Split(p.stderr.String(), "\n") {
		var rec struct{ Reason string }
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Reason == "max_buffered" {
			overBudget++
		}
	}
	if overBudget < closed-5 || !strings.Contains(p.stderr.String(), "--max-buffered") {
		t.Errorf("%d connections logged as closed for max_buffered, %d seen closed; a warning must name --max-buffered", overBudget, closed)
	}
}
