//go:build linux

package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
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

	"github.com/conndiag/conndiag/internal/testbed"
)

// maxBulkRSS is the peak memory check -f may reach, whatever the number of
// targets: generous against the ~25 MB it takes (100,000 targets took 800 MB
// when every line was parsed and given a goroutine first).
const maxBulkRSS = 100 << 20

// lines is a writer that counts complete lines as they arrive.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
	n   int
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n += bytes.Count(p, []byte{'\n'})
	return l.buf.Write(p)
}

func (l *lines) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// peakRSS reads VmHWM (peak resident memory) of pid, in bytes; 0 once it is gone.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// bulkRun is check -f running in the background, its peak memory sampled.
type bulkRun struct {
	cmd    *exec.Cmd
	stdout *lines
	stderr *lines
	done   chan struct{}
	err    error
	mu     sync.Mutex
	peak   int64
}

func startBulk(t *testing.T, stdin io.Reader, args ...string) *bulkRun {
	t.Helper()
	r := &bulkRun{cmd: exec.Command(bin, args...), stdout: &lines{}, stderr: &lines{}, done: make(chan struct{})}
	r.cmd.Stdin, r.cmd.Stdout, r.cmd.Stderr = stdin, r.stdout, r.stderr
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.done
	})
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.done:
				return
			case <-tick.C:
				if p := peakRSS(r.cmd.Process.Pid); p > 0 {
					r.mu.Lock()
					r.peak = max(r.peak, p)
					r.mu.Unlock()
				}
			}
		}
	}()
	return r
}

func (r *bulkRun) peakRSS() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peak
}

// waitReports waits until n reports are out and at least 3 s have passed,
// long enough for a reader that does not hold back to take hundreds of MB.
func (r *bulkRun) waitReports(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	least := time.Now().Add(3 * time.Second)
	for r.stdout.count() < n || time.Now().Before(least) {
		select {
		case <-r.done:
			t.Fatalf("check ended after %d reports: %v\nstderr: %s", r.stdout.count(), r.err, r.stderr)
		case <-deadline:
			t.Fatalf("only %d reports after 2 minutes", r.stdout.count())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// interrupt sends SIGINT and returns the exit code.
func (r *bulkRun) interrupt(t *testing.T) int {
	t.Helper()
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("check did not stop within 20 s of Ctrl-C")
	}
	var ee *exec.ExitError
	if errors.As(r.err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

// reportsOK checks that every stdout line is a whole JSON report and returns their number.
func reportsOK(t *testing.T, out string) int {
	t.Helper()
	n := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rep report
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			t.Fatalf("stdout line %d is not a JSON report: %v: %.200s", n+1, err, sc.Text())
		}
		if rep.Verdict.Cause != "not_listening" {
			t.Fatalf("report %d: %s is %s, want not_listening", n+1, rep.Target, rep.Verdict.Cause)
		}
		n++
	}
	return n
}

func closedLoopbackPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

var notDiagnosed = regexp.MustCompile(`^conndiag: error: interrupted; (\d+) targets were not diagnosed: (\S+) \(([^)]+):(\d+)\)`)

// 100,000 targets in a file: memory stays flat while they stream, and
// Ctrl-C stops at once, exits 130 and names exactly the targets not diagnosed.
func TestCheckFileHundredThousand(t *testing.T) {
	const n = 100000
	port := closedLoopbackPort(t)
	file := filepath.Join(t.TempDir(), "targets.txt")
	line := fmt.Sprintf("127.0.0.1:%d\n", port)
	if err := os.WriteFile(file, bytes.Repeat([]byte(line), n), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startBulk(t, nil, "check", "--json", "--probe-ports", "", "--concurrency", "32", "-f", file)
	r.waitReports(t, 1000)
	code := r.interrupt(t)
	if code != 130 {
		t.Fatalf("exit %d after Ctrl-C, want 130; stderr %q", code, r.stderr)
	}
	got := reportsOK(t, r.stdout.String())
	if peak := r.peakRSS(); peak == 0 || peak > maxBulkRSS {
		t.Errorf("peak RSS %d MB over %d targets (limit %d MB)", peak>>20, got, maxBulkRSS>>20)
	} else {
		t.Logf("peak RSS %.1f MB after %d of %d targets", float64(peak)/(1<<20), got, n)
	}
	stderr := r.stderr.String()
	m := notDiagnosed.FindStringSubmatch(stderr)
	if m == nil || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("want one line naming the targets not diagnosed, got %q", stderr)
	}
	missed, _ := strconv.Atoi(m[1])
	first, _ := strconv.Atoi(m[4])
	if missed != n-got {
		t.Errorf("stderr says %d not diagnosed; %d of %d were reported", missed, got, n)
	}
	if m[2] != strings.TrimSpace(line) || m[3] != file || first < 1 || first > got+8*32+2 { // within the read-ahead window of --concurrency 32
		t.Errorf("the first target not diagnosed is named %s at %s:%d (%d reported)", m[2], m[3], first, got)
	}
}

// An endless stdin (yes 127.0.0.1:PORT | conndiag check -f -): memory stays
// bounded, and Ctrl-C stops the reading, exits 130 and says what was left.
func TestCheckEndlessStdin(t *testing.T) {
	port := closedLoopbackPort(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	r := startBulk(t, pr, "check", "--json", "--probe-ports", "", "--concurrency", "64", "-f", "-")
	writerDone := make(chan int64)
	go func() {
		defer pw.Close()
		chunk := bytes.Repeat([]byte(fmt.Sprintf("127.0.0.1:%d\n", port)), 1000)
		var written int64
		for {
			k, err := pw.Write(chunk)
			written += int64(k)
			if err != nil {
				writerDone <- written
				return
			}
		}
	}()
	r.waitReports(t, 1000)
	code := r.interrupt(t)
	pr.Close() // the writer sees EPIPE and stops
	written := <-writerDone
	if code != 130 {
		t.Fatalf("exit %d after Ctrl-C, want 130; stderr %q", code, r.stderr)
	}
	got := reportsOK(t, r.stdout.String())
	if peak := r.peakRSS(); peak == 0 || peak > maxBulkRSS {
		t.Errorf("peak RSS %d MB after %d targets (limit %d MB)", peak>>20, got, maxBulkRSS>>20)
	} else {
		t.Logf("peak RSS %.1f MB after %d targets; %d KiB written to stdin", float64(peak)/(1<<20), got, written>>10)
	}
	stderr := r.stderr.String()
	if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "conndiag: error: interrupted") ||
		!strings.Contains(stderr, "the rest of stdin was not read") {
		t.Errorf("want one line saying the rest of stdin was not read, got %q", stderr)
	}
	if m := regexp.MustCompile(`(\d+) targets were not diagnosed: \S+ \(stdin:(\d+)\)`).FindStringSubmatch(stderr); m != nil {
		if first, _ := strconv.Atoi(m[2]); first < 1 || first > got+8*64+2 {
			t.Errorf("first target not diagnosed at stdin:%d, %d reported", first, got)
		}
	}
}

// Bad input in a stream: the targets before it are reported, the bad line is
// named, exit 2. An overlong line names FILE:LINE instead of "token too long".
func TestCheckStreamBadLine(t *testing.T) {
	port := closedLoopbackPort(t)
	good := fmt.Sprintf("127.0.0.1:%d\n", port)
	tests := []struct {
		name  string
		input string
		want  string // in the stderr line
		n     int    // reports before it
	}{
		{"bad target", good + good + "not a target\n" + good, `stdin:3: bad target "not a target"`, 2},
		{"overlong line", good + strings.Repeat("x", 200<<10) + "\n" + good, "stdin:2: the line is longer than 65536 bytes", 1},
		{"binary junk", good + "\x00\x1b[2J\xff\xfe\n", `stdin:2: bad target "\x00\x1b[2J\xff\xfe"`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, "check", "--json", "--probe-ports", "", "-f", "-")
			cmd.Stdin = strings.NewReader(tt.input)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			ee, _ := err.(*exec.ExitError)
			if ee == nil || ee.ExitCode() != 2 {
				t.Fatalf("want exit 2, got %v; stderr %q", err, stderr.String())
			}
			if strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("want one stderr line with %q, got %q", tt.want, stderr.String())
			}
			if got := reportsOK(t, stdout.String()); got != tt.n {
				t.Errorf("%d reports before the bad line, want %d", got, tt.n)
			}
		})
	}
	// The same bad line in a regular file is refused before any check.
	file := filepath.Join(t.TempDir(), "t.txt")
	os.WriteFile(file, []byte(good+good+"not a target\n"), 0o644)
	cmd := exec.Command(bin, "check", "--json", "--probe-ports", "", "-f", file)
	out, err := cmd.Output()
	if ee, _ := err.(*exec.ExitError); ee == nil || ee.ExitCode() != 2 || len(out) != 0 ||
		!strings.Contains(string(ee.Stderr), file+`:3: bad target "not a target"`) {
		t.Errorf("regular file: %v, stdout %q", err, out)
	}
}

// A name with 400 addresses (a hosts file in a namespace) under a small
// descriptor limit: at most 16 are tried, the skipped ones are counted, no
// evidence line lists them all, and nothing blames the target for
// conndiag's own EMFILE. The same with check -f at a --concurrency far above
// what the limit allows.
func TestCheckManyAddressesSmallLimit(t *testing.T) {
	testbed.RequireRoot(t)
	b := testbed.New(t)
	ns := b.NS("many")
	var hosts strings.Builder
	for i := range 400 {
		fmt.Fprintf(&hosts, "127.0.%d.%d many.test\n", 1+i/250, 1+i%250)
	}
	ns.Hosts(t, hosts.String())
	ns.ResolvConf(t, "nameserver 127.0.0.1\n") // nothing listens: refused at once, no traffic leaves
	const port = 8282

	noOwnFault := func(t *testing.T, r report) {
		t.Helper()
		for _, p := range r.Probes {
			if p.Result == "too_many_files" {
				t.Errorf("%s: probe %s %s got EMFILE", r.Target, p.Name, p.Address)
			}
		}
		for _, f := range r.Findings {
			switch f.Cause {
			case "fd_exhausted", "firewall_local", "host_down", "filtered":
				t.Errorf("%s: finding %s (%s): %s", r.Target, f.Cause, f.Confidence, f.Summary)
			}
			for _, e := range f.Evidence {
				if n := strings.Count(e, "127.0."); n > 9 {
					t.Errorf("%s: one evidence line lists %d addresses: %.200s…", r.Target, n, e)
				}
			}
		}
	}

	t.Run("one name", func(t *testing.T) {
		stdout, stderr, code := testbed.Exec(t, ns, "bash", "-c", fmt.Sprintf("ulimit -n 64; exec %s check --json many.test:%d", bin, port))
		var r struct {
			report
			Skipped int `json:"addresses_skipped"`
		}
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("exit %d: %v\nstdout %q\nstderr %q", code, err, stdout, stderr)
		}
		if code != 1 || r.Verdict.Cause != "not_listening" {
			t.Errorf("exit %d, verdict %s: %s", code, r.Verdict.Cause, dump(r.report))
		}
		tried := 0
		for _, p := range r.Probes {
			if p.Name == "tcp_connect" {
				tried++
			}
		}
		if len(r.Addresses) != 400 || r.Skipped != 384 || tried != 16 {
			t.Errorf("%d addresses, %d skipped, %d tried", len(r.Addresses), r.Skipped, tried)
		}
		if !hasEvidence(r.report, "many.test has 400 addresses: 16 of them were tried") {
			t.Errorf("the verdict must say how many addresses were tried: %s", dump(r.Findings[0]))
		}
		noOwnFault(t, r.report)

		// Human output: the addresses line is cut too.
		human, _, _ := testbed.Exec(t, ns, "bash", "-c", fmt.Sprintf("ulimit -n 64; exec %s check many.test:%d", bin, port))
		for _, l := range strings.Split(human, "\n") {
			if strings.Count(l, "127.0.") > 9 {
				t.Errorf("a line of human output lists %d addresses: %.200s…", strings.Count(l, "127.0."), l)
			}
		}
		if !strings.Contains(human, "and 392 more") {
			t.Errorf("want the addresses line cut with 'and 392 more':\n%s", human)
		}
	})

	t.Run("many targets", func(t *testing.T) {
		var list strings.Builder
		for i := range 300 {
			fmt.Fprintf(&list, "127.0.0.1:%d\n", 20000+i)
		}
		list.WriteString("many.test:8282\n")
		file := filepath.Join(t.TempDir(), "targets.txt")
		os.WriteFile(file, []byte(list.String()), 0o644)
		stdout, stderr, code := testbed.Exec(t, ns, "bash", "-c", fmt.Sprintf("ulimit -n 64; exec %s check --json --concurrency 200 -f %s", bin, file))
		if code != 1 {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
		n := 0
		for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
			var r report
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("line %d: %v: %.200s", n+1, err, l)
			}
			if r.Verdict.Cause != "not_listening" {
				t.Errorf("%s: %s", r.Target, r.Verdict.Cause)
			}
			noOwnFault(t, r)
			n++
		}
		if n != 301 {
			t.Errorf("%d reports for 301 targets", n)
		}
	})
}
