//go:build linux

package testbed

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func listenPort(t *testing.T, ln net.Listener) int {
	t.Helper()
	return ln.Addr().(*net.TCPAddr).Port
}

func hostPort(a netip.Addr, port int) string {
	return net.JoinHostPort(a.String(), strconv.Itoa(port))
}

func TestPairConnect(t *testing.T) {
	t.Parallel()
	p := Pair(t)
	for _, tc := range []struct {
		name              string
		client, server    netip.Addr
		network, wildcard string
	}{
		{"ipv4", p.ClientIP, p.ServerIP, "tcp4", "0.0.0.0:0"},
		{"ipv6", p.ClientIP6, p.ServerIP6, "tcp6", "[::]:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.server.IsValid() {
				t.Skip("no IPv6 in this kernel")
			}
			ln := p.Server.Listen(t, tc.network, tc.wildcard)
			p.Server.ServeAccept(t, ln)
			c, err := p.Client.Dial(t, "tcp", hostPort(tc.server, listenPort(t, ln)), 5*time.Second)
			if err != nil {
				t.Fatalf("dial from client: %v", err)
			}
			if got := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr(); got != tc.client {
				t.Errorf("client source address = %v, want %v", got, tc.client)
			}
		})
	}

	// The server's address is not reachable from the host: the namespaces
	// really are isolated.
	ln := p.Server.Listen(t, "tcp4", "0.0.0.0:0")
	p.Server.ServeAccept(t, ln)
	if c, err := net.DialTimeout("tcp", hostPort(p.ServerIP, listenPort(t, ln)), 300*time.Millisecond); err == nil {
		c.Close()
		t.Error("dial from the root namespace reached the server namespace")
	}
}

func TestChainThroughRouter(t *testing.T) {
	t.Parallel()
	c := Chain(t)

	if got := strings.TrimSpace(c.Router.Run(t, "cat", "/proc/sys/net/ipv4/ip_forward")); got != "1" {
		t.Errorf("router ip_forward = %q, want 1", got)
	}
	if ipv6Available() {
		if got := strings.TrimSpace(c.Client.Run(t, "cat", "/proc/sys/net/ipv6/conf/default/accept_dad")); got != "0" {
			t.Errorf("client accept_dad = %q, want 0", got)
		}
		if got, _ := os.ReadFile("/proc/sys/net/ipv6/conf/default/accept_dad"); strings.TrimSpace(string(got)) == "0" {
			t.Errorf("host accept_dad changed to 0")
		}
	}

	for _, tc := range []struct {
		name           string
		client, server netip.Addr
		network        string
	}{
		{"ipv4", c.ClientIP, c.ServerIP, "tcp4"},
		{"ipv6", c.ClientIP6, c.ServerIP6, "tcp6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.server.IsValid() {
				t.Skip("no IPv6 in this kernel")
			}
			ln := c.Server.Listen(t, tc.network, hostPort(tc.server, 0))
			accepted := make(chan net.Addr, 1)
			go func() {
				conn, err := ln.Accept()
				if err != nil {
					close(accepted)
					return
				}
				accepted <- conn.RemoteAddr()
				conn.Close()
			}()
			conn, err := c.Client.Dial(t, "tcp", ln.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatalf("dial through router: %v", err)
			}
			conn.Close()
			select {
			case ra, ok := <-accepted:
				if !ok {
					t.Fatal("accept failed")
				}
				// No NAT on the router: the server sees the client's address.
				if got := ra.(*net.TCPAddr).AddrPort().Addr(); got != tc.client {
					t.Errorf("server saw peer %v, want %v", got, tc.client)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("server did not accept")
			}
		})
	}

	t.Run("refused", func(t *testing.T) {
		ln := c.Server.Listen(t, "tcp4", hostPort(c.ServerIP, 0))
		addr := ln.Addr().String()
		ln.Close()
		_, err := c.Client.Dial(t, "tcp", addr, 5*time.Second)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial closed port: err = %v, want ECONNREFUSED", err)
		}
	})

	t.Run("iptables drop on router", func(t *testing.T) {
		RequireTool(t, "iptables")
		ln := c.Server.Listen(t, "tcp4", hostPort(c.ServerIP, 0))
		c.Server.ServeAccept(t, ln)
		port := strconv.Itoa(listenPort(t, ln))
		c.Router.Iptables(t, "-A", "FORWARD", "-p", "tcp", "--dport", port, "-j", "DROP")
		t.Cleanup(func() { c.Router.Iptables(t, "-D", "FORWARD", "-p", "tcp", "--dport", port, "-j", "DROP") })
		_, err := c.Client.Dial(t, "tcp", ln.Addr().String(), 500*time.Millisecond)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("dial through dropping router: err = %v, want timeout", err)
		}
	})

	t.Run("nft reject on server", func(t *testing.T) {
		RequireTool(t, "nft")
		ln := c.Server.Listen(t, "tcp4", hostPort(c.ServerIP, 0))
		c.Server.ServeAccept(t, ln)
		c.Server.Nft(t, `
table inet tbtest {
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport `+strconv.Itoa(listenPort(t, ln))+` reject with tcp reset
	}
}
`)
		t.Cleanup(func() { c.Server.Run(t, "nft", "delete", "table", "inet", "tbtest") })
		_, err := c.Client.Dial(t, "tcp", ln.Addr().String(), 5*time.Second)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial through nft reject: err = %v, want ECONNREFUSED", err)
		}
	})
}

func TestCleanupRemovesEverything(t *testing.T) {
	RequireRoot(t)
	var names []string
	var pid int
	var listenerPort int
	var serverNS *NS
	// Unique per process, so a parallel run's sleeps are not mistaken for ours.
	sleepArgs := []string{fmt.Sprintf("6001.%d", os.Getpid()), fmt.Sprintf("6002.%d", os.Getpid())}
	t.Run("bed", func(t *testing.T) {
		c := Chain(t)
		for _, n := range []*NS{c.Client, c.Router, c.Server} {
			names = append(names, n.Name())
		}
		c.Client.Hosts(t, "203.0.113.2 server.test\n")
		p := c.Server.Start(t, "sh", "-c", "echo started; exec sleep "+sleepArgs[0])
		pid = p.Pid()
		// A grandchild outside the process group must die too.
		c.Server.Run(t, "sh", "-c", "setsid sleep "+sleepArgs[1]+" >/dev/null 2>&1 &")
		ln := c.Server.Listen(t, "tcp4", "0.0.0.0:0")
		c.Server.ServeAccept(t, ln)
		listenerPort = listenPort(t, ln)
		serverNS = c.Server
		if _, err := c.Client.Dial(t, "tcp", hostPort(c.ServerIP, listenerPort), 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if out := mustRun(t, "ip", "netns", "list"); !strings.Contains(out, names[0]) {
			t.Fatalf("ip netns list does not show %s:\n%s", names[0], out)
		}
	})

	if serverNS == nil {
		t.FailNow()
	}
	out := mustRun(t, "ip", "netns", "list")
	for _, name := range names {
		if strings.Contains(out, name) {
			t.Errorf("namespace %s still listed after cleanup:\n%s", name, out)
		}
		if _, err := os.Stat(filepath.Join(netnsEtcDir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s/%s still exists (err %v)", netnsEtcDir, name, err)
		}
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("background process %d still exists after cleanup (kill -0: %v)", pid, err)
	}
	for _, arg := range sleepArgs {
		if pids := pidsWithArg(t, "sleep", arg); len(pids) > 0 {
			t.Errorf("sleep %s survived cleanup: pids %v", arg, pids)
		}
	}
	if _, err := serverNS.Try("true"); err == nil {
		t.Error("ip netns exec into a deleted namespace worked")
	}
}

// pidsWithArg finds live processes running name arg, giving SIGKILLed
// ones a moment to die.
func pidsWithArg(t *testing.T, name, arg string) []string {
	t.Helper()
	want := name + "\x00" + arg + "\x00"
	var pids []string
	for range 100 {
		pids = pids[:0]
		dirs, err := filepath.Glob("/proc/[0-9]*/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dirs {
			b, err := os.ReadFile(d)
			if err == nil && string(b) == want {
				pids = append(pids, filepath.Base(filepath.Dir(d)))
			}
		}
		if len(pids) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return pids
}

func mustRun(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := runCmd(nil, argv...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return out
}

func TestEtcFiles(t *testing.T) {
	t.Parallel()
	b := New(t)
	ns := b.NS("dns")
	ns.Hosts(t, "203.0.113.9 example.test\n")
	ns.ResolvConf(t, "nameserver 203.0.113.53\n")

	if out := ns.Run(t, "cat", "/etc/hosts"); out != "203.0.113.9 example.test\n" {
		t.Errorf("/etc/hosts inside namespace = %q", out)
	}
	if out := ns.Run(t, "cat", "/etc/resolv.conf"); out != "nameserver 203.0.113.53\n" {
		t.Errorf("/etc/resolv.conf inside namespace = %q", out)
	}
	if out := ns.Run(t, "getent", "hosts", "example.test"); !strings.HasPrefix(out, "203.0.113.9") {
		t.Errorf("getent hosts example.test inside namespace = %q", out)
	}
	host, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(host), "example.test") {
		t.Error("the host's /etc/hosts changed")
	}
}

func TestDoAndExec(t *testing.T) {
	t.Parallel()
	b := New(t)
	ns := b.NS("empty")

	outside, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var inside []net.Interface
	ns.Do(t, func() {
		inside, err = net.Interfaces()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(inside) != 1 || inside[0].Name != "lo" || inside[0].Flags&net.FlagUp == 0 {
		t.Errorf("interfaces in a fresh namespace = %+v, want only lo, up", inside)
	}
	again, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(outside) {
		t.Errorf("after Do: %d interfaces, before: %d; thread not switched back", len(again), len(outside))
	}

	ln := ns.Listen(t, "tcp", "127.0.0.1:0")
	ns.ServeAccept(t, ln)
	ns.WaitListening(t, "tcp", listenPort(t, ln), 5*time.Second)
	if _, err := ns.Dial(t, "tcp", ln.Addr().String(), 5*time.Second); err != nil {
		t.Errorf("dial namespace loopback from inside: %v", err)
	}

	stdout, stderr, code := Exec(t, ns, "sh", "-c", "echo out; echo err >&2; exit 3")
	if stdout != "out\n" || stderr != "err\n" || code != 3 {
		t.Errorf("Exec = %q, %q, %d; want \"out\\n\", \"err\\n\", 3", stdout, stderr, code)
	}
	if _, _, code := Exec(t, ns, "/nonexistent/binary"); code == 0 {
		t.Error("Exec of a missing binary returned exit code 0")
	}
	if _, err := ns.Try("false"); err == nil {
		t.Error("Try(false) returned no error")
	}

	p := ns.Start(t, "sh", "-c", "echo ready; exec sleep 600")
	deadline := time.Now().Add(5 * time.Second)
	for p.Stdout() != "ready\n" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if p.Stdout() != "ready\n" {
		t.Errorf("Start stdout = %q, want %q", p.Stdout(), "ready\n")
	}
	p.Stop()
	select {
	case <-p.Done():
	default:
		t.Error("Stop returned before the process exited")
	}
	p.Stop()
}

func TestSweep(t *testing.T) {
	b := New(t)
	live := b.NS("live")

	// A finished child's pid stands in for a test run that was killed.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("tb%d-0000-1-stale", cmd.Process.Pid)
	mustRun(t, "ip", "netns", "add", stale)
	t.Cleanup(func() { _ = deleteNamespace(stale) })
	staleEtc := filepath.Join(netnsEtcDir, stale)
	if err := os.MkdirAll(staleEtc, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.RemoveAll(staleEtc)
		os.Remove(netnsEtcDir) // only if empty
	})

	if err := Sweep(); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "ip", "netns", "list")
	if strings.Contains(out, stale) {
		t.Errorf("Sweep left %s:\n%s", stale, out)
	}
	if !strings.Contains(out, live.Name()) {
		t.Errorf("Sweep removed the live namespace %s:\n%s", live.Name(), out)
	}
	if _, err := os.Stat(staleEtc); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Sweep left %s (err %v)", staleEtc, err)
	}
}
