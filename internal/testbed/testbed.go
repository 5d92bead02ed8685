//go:build linux

package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ExecTimeout bounds every command the package runs, so a hung command
// fails the test instead of stalling the whole suite until go test's
// -timeout kills it without running cleanups.
const ExecTimeout = 60 * time.Second

const (
	netnsRunDir = "/run/netns"
	netnsEtcDir = "/etc/netns"
)

// debPackage names the Debian package that ships a tool, for skip messages.
var debPackage = map[string]string{
	"ip":        "iproute2",
	"ss":        "iproute2",
	"tc":        "iproute2",
	"bridge":    "iproute2",
	"iptables":  "iptables",
	"ip6tables": "iptables",
	"nft":       "nftables",
	"sysctl":    "procps",
	"ping":      "iputils-ping",
	"nc":        "netcat-openbsd",
	"socat":     "socat",
	"curl":      "curl",
	"dig":       "bind9-dnsutils",
	"tcpdump":   "tcpdump",
	"nmap":      "nmap",
	"python3":   "python3",
}

// RequireRoot skips the test unless it can create network namespaces.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("testbed: needs root to create network namespaces (run as root, as CI does)")
	}
	RequireTool(t, "ip")
}

// RequireTool skips the test when binary name is not in PATH.
func RequireTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	if pkg, ok := debPackage[name]; ok {
		t.Skipf("testbed: %s not found in PATH (Debian package %s: apt-get install %s)", name, pkg, pkg)
	}
	t.Skipf("testbed: %s not found in PATH", name)
}

var (
	// runTag is unique per test process; the pid lets Sweep tell a live
	// run's namespaces from a dead one's.
	runTag  = fmt.Sprintf("tb%d-%s", os.Getpid(), randHex(2))
	sweepRe = regexp.MustCompile(`^tb([0-9]+)-[0-9a-f]+-`)

	seqMu sync.Mutex
	seq   int

	// A host's own /etc/netns is never removed, even when empty.
	etcNetnsPreexisted = func() bool {
		_, err := os.Stat(netnsEtcDir)
		return err == nil
	}()
)

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

func nextSeq() int {
	seqMu.Lock()
	defer seqMu.Unlock()
	seq++
	return seq
}

// Bed owns a set of namespaces and everything running in them. NS and Link
// fail through the t given to New, so call them from that test's
// goroutine; the NS methods take their own t and may be used from
// subtests, whose resources are then released when the subtest ends.
type Bed struct {
	t testing.TB

	mu         sync.Mutex
	namespaces []*NS
	procs      []func() // stop background processes
	closers    []func() // close listeners and connections
	wroteEtc   bool     // some NS has an /etc/netns/NAME directory
}

// New returns an empty Bed that is torn down when t finishes. It skips the
// test when not running as root.
func New(t testing.TB) *Bed {
	t.Helper()
	RequireRoot(t)
	b := &Bed{t: t}
	t.Cleanup(b.cleanup)
	return b
}

// track registers an idempotent release function both with the Bed, so the
// Bed's cleanup can order it before namespace deletion, and with t, so a
// subtest using a parent's Bed releases its resources when it ends.
func (b *Bed) track(t testing.TB, list *[]func(), fn func()) func() {
	var once sync.Once
	release := func() { once.Do(fn) }
	b.mu.Lock()
	*list = append(*list, release)
	b.mu.Unlock()
	if t != b.t {
		t.Cleanup(release)
	}
	return release
}

func (b *Bed) cleanup() {
	b.mu.Lock()
	procs, closers, namespaces := b.procs, b.closers, b.namespaces
	b.procs, b.closers, b.namespaces = nil, nil, nil
	b.mu.Unlock()

	for _, stop := range procs {
		stop()
	}
	for _, c := range closers {
		c()
	}
	for i := len(namespaces) - 1; i >= 0; i-- {
		if err := deleteNamespace(namespaces[i].name); err != nil {
			b.t.Errorf("testbed: cleanup: %v", err)
		}
	}
	for _, n := range namespaces {
		if err := os.RemoveAll(filepath.Join(netnsEtcDir, n.name)); err != nil {
			b.t.Errorf("testbed: cleanup: %v", err)
		}
	}
	if b.wroteEtc && !etcNetnsPreexisted {
		// Fails harmlessly while another Bed or run still has files there.
		_ = os.Remove(netnsEtcDir)
	}
}

// deleteNamespace kills whatever still runs in the namespace (daemons the
// tool under test may have spawned), since a process keeps a deleted
// namespace and its veths alive.
func deleteNamespace(name string) error {
	if _, err := os.Stat(filepath.Join(netnsRunDir, name)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if out, err := runCmd(nil, "ip", "netns", "pids", name); err == nil {
		for _, f := range strings.Fields(out) {
			pid, err := strconv.Atoi(f)
			if err != nil || pid == os.Getpid() {
				continue
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	out, err := runCmd(nil, "ip", "netns", "del", name)
	if err != nil {
		if _, serr := os.Stat(filepath.Join(netnsRunDir, name)); errors.Is(serr, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("ip netns del %s: %v: %s", name, err, out)
	}
	return nil
}

// Sweep removes namespaces and /etc/netns directories left behind by test
// processes that died without running their cleanups. Namespaces of live
// processes, including this one, are left alone. Call it from TestMain if
// runs get killed in your environment.
func Sweep() error {
	var errs []error
	for _, dir := range []string{netnsRunDir, netnsEtcDir} {
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		for _, e := range entries {
			m := sweepRe.FindStringSubmatch(e.Name())
			if m == nil {
				continue
			}
			pid, err := strconv.Atoi(m[1])
			if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) != syscall.ESRCH {
				continue
			}
			if dir == netnsRunDir {
				err = deleteNamespace(e.Name())
			} else {
				err = os.RemoveAll(filepath.Join(dir, e.Name()))
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

var roleRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// NS creates a namespace with loopback up. role only makes the name
// readable (tb<pid>-<tag>-<n>-<role>); it need not be unique.
func (b *Bed) NS(role string) *NS {
	t := b.t
	t.Helper()
	if !roleRe.MatchString(role) {
		t.Fatalf("testbed: bad namespace role %q (want 1-32 of [A-Za-z0-9_.-])", role)
	}
	n := &NS{bed: b, role: role, name: fmt.Sprintf("%s-%d-%s", runTag, nextSeq(), role)}
	if out, err := runCmd(nil, "ip", "netns", "add", n.name); err != nil {
		t.Fatalf("testbed: ip netns add %s: %v: %s", n.name, err, out)
	}
	b.mu.Lock()
	b.namespaces = append(b.namespaces, n)
	b.mu.Unlock()
	n.IP(t, "link", "set", "lo", "up")
	if ipv6Available() {
		// Tentative link-local addresses stall IPv6 through a router for
		// ~2 s after setup; nodad on the global addresses is not enough.
		n.Do(t, func() {
			for _, f := range []string{"all", "default"} {
				// /proc/sys/net follows the calling thread's namespace.
				p := "/proc/sys/net/ipv6/conf/" + f + "/accept_dad"
				if err := os.WriteFile(p, []byte("0"), 0o644); err != nil {
					t.Fatalf("testbed: in %s: %v", n.name, err)
				}
			}
		})
	}
	return n
}

// Link connects a and c with a veth pair, assigns the addresses (CIDR
// notation, e.g. "198.51.100.2/24"; empty for none) and brings both ends
// up. It returns the interface names inside a and c. Both ends are created
// directly in their namespaces, so nothing ever appears in the root
// namespace and the names can be short (eth0, eth1, … per namespace).
func (b *Bed) Link(a *NS, aCIDR string, c *NS, cCIDR string) (aIf, cIf string) {
	t := b.t
	t.Helper()
	aIf = a.newIfName()
	cIf = c.newIfName()
	out, err := runCmd(nil, "ip", "link", "add", aIf, "netns", a.name,
		"type", "veth", "peer", "name", cIf, "netns", c.name)
	if err != nil {
		t.Fatalf("testbed: creating veth %s/%s <-> %s/%s: %v: %s", a.name, aIf, c.name, cIf, err, out)
	}
	a.IP(t, "link", "set", aIf, "up")
	c.IP(t, "link", "set", cIf, "up")
	if aCIDR != "" {
		a.AddAddr(t, aIf, aCIDR)
	}
	if cCIDR != "" {
		c.AddAddr(t, cIf, cCIDR)
	}
	return aIf, cIf
}

// NS is one network namespace of a Bed.
type NS struct {
	bed  *Bed
	name string
	role string

	mu    sync.Mutex
	ifSeq int
}

// Name is the namespace name as `ip netns` knows it.
func (n *NS) Name() string { return n.name }

// String names the namespace by role and name, for messages.
func (n *NS) String() string { return n.role + "(" + n.name + ")" }

func (n *NS) newIfName() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	name := fmt.Sprintf("eth%d", n.ifSeq)
	n.ifSeq++
	return name
}

// AddAddr adds an address in CIDR notation to ifname. IPv6 addresses get
// nodad so they are usable at once instead of after ~2 s of DAD.
func (n *NS) AddAddr(t testing.TB, ifname, cidr string) {
	t.Helper()
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		t.Fatalf("testbed: %v", err)
	}
	args := []string{"addr", "add", cidr, "dev", ifname}
	if p.Addr().Is6() {
		args = append(args, "nodad")
	}
	n.IP(t, args...)
}

// Run runs args inside the namespace via `ip netns exec` and returns the
// combined output. It fails the test, showing the output, if the command
// fails or outlives ExecTimeout.
func (n *NS) Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := n.run(nil, args...)
	if err != nil {
		t.Fatalf("testbed: in %s: %s: %v\n%s", n.name, strings.Join(args, " "), err, out)
	}
	return out
}

// Try is Run that returns the error instead of failing the test, for
// commands that are expected to fail.
func (n *NS) Try(args ...string) (string, error) {
	return n.run(nil, args...)
}

func (n *NS) run(stdin []byte, args ...string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("testbed: no command given")
	}
	return runCmd(stdin, append([]string{"ip", "netns", "exec", n.name}, args...)...)
}

// IP runs `ip args...` inside the namespace.
func (n *NS) IP(t testing.TB, args ...string) string {
	t.Helper()
	return n.Run(t, append([]string{"ip"}, args...)...)
}

// Sysctl sets a sysctl inside the namespace; net.* keys are per namespace,
// so this does not touch the host.
func (n *NS) Sysctl(t testing.TB, key, value string) {
	t.Helper()
	RequireTool(t, "sysctl")
	n.Run(t, "sysctl", "-q", "-w", key+"="+value)
}

// Iptables runs iptables inside the namespace; the rules vanish with it.
func (n *NS) Iptables(t testing.TB, args ...string) string {
	t.Helper()
	RequireTool(t, "iptables")
	if !containsAny(args, "-w", "--wait") {
		// iptables-legacy takes a host-wide lock even across namespaces.
		args = append([]string{"-w", "5"}, args...)
	}
	return n.Run(t, append([]string{"iptables"}, args...)...)
}

// Nft loads ruleset (nft -f syntax) into the namespace.
func (n *NS) Nft(t testing.TB, ruleset string) {
	t.Helper()
	RequireTool(t, "nft")
	if out, err := n.run([]byte(ruleset), "nft", "-f", "-"); err != nil {
		t.Fatalf("testbed: in %s: nft -f -: %v\n%s\nruleset:\n%s", n.name, err, out, ruleset)
	}
}

func containsAny(args []string, want ...string) bool {
	for _, a := range args {
		for _, w := range want {
			if a == w {
				return true
			}
		}
	}
	return false
}

// Hosts writes /etc/netns/NAME/hosts, which `ip netns exec` bind-mounts
// over /etc/hosts. Only commands started through ip netns exec (Run, Try,
// Start, Exec) see it; Go code in Do, Listen and Dial still reads the
// host's /etc/hosts.
func (n *NS) Hosts(t testing.TB, content string) {
	t.Helper()
	n.writeEtc(t, "hosts", content)
}

// ResolvConf writes /etc/netns/NAME/resolv.conf, bind-mounted over
// /etc/resolv.conf like Hosts, with the same caveat.
func (n *NS) ResolvConf(t testing.TB, content string) {
	t.Helper()
	n.writeEtc(t, "resolv.conf", content)
}

func (n *NS) writeEtc(t testing.TB, file, content string) {
	t.Helper()
	n.bed.mu.Lock()
	n.bed.wroteEtc = true
	n.bed.mu.Unlock()
	path := filepath.Join(netnsEtcDir, n.name, file)
	var err error
	// Another Bed's cleanup may rmdir an empty /etc/netns between our
	// MkdirAll and WriteFile; retrying covers that race.
	for range 5 {
		if err = os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
			if err = os.WriteFile(path, []byte(content), 0o644); err == nil {
				return
			}
		}
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	t.Fatalf("testbed: %v", err)
}

// runCmd runs a command in its own process group, so the ExecTimeout kill
// reaches everything it spawned, and returns combined output.
func runCmd(stdin []byte, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ExecTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	setGroupKill(cmd)
	err := cmd.Run()
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("%w (%v)", err, ctx.Err())
	}
	return out.String(), err
}

// setGroupKill makes cmd the leader of a new process group, killed as a
// whole when the context is done; Pdeathsig kills at least the leader if
// the test binary dies without cleaning up.
func setGroupKill(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Grandchildren that keep the output pipes open must not block Wait.
	cmd.WaitDelay = 5 * time.Second
}

// Exec runs binary with args inside ns and reports how it ended instead of
// failing the test on a non-zero exit, for running the tool under test.
// It fails the test only when the command cannot be run or outlives
// ExecTimeout. If ip netns exec cannot exec binary, the exit code is 255;
// if a signal killed it, -1.
func Exec(t testing.TB, ns *NS, binary string, args ...string) (stdout, stderr string, exitCode int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ExecTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.name, binary}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout = &o
	cmd.Stderr = &e
	setGroupKill(cmd)
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("testbed: in %s: %s %s: killed after %v: %v\nstdout:\n%s\nstderr:\n%s",
			ns.name, binary, strings.Join(args, " "), ExecTimeout, ctx.Err(), o.String(), e.String())
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		exitCode = exitErr.ExitCode()
	default:
		t.Fatalf("testbed: in %s: %s: %v", ns.name, binary, err)
	}
	return o.String(), e.String(), exitCode
}
