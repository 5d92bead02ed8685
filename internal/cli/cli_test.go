package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/diagnose"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

var update = flag.Bool("update", false, "rewrite golden files")

func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(context.Background(), args, &o, &e)
	return o.String(), e.String(), code
}

func TestBadInput(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.txt")
	tests := []struct {
		args []string
		want string // in the stderr line
	}{
		{nil, "no command given"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"check"}, "no target given"},
		{[]string{"check", "example.com"}, "port is missing"},
		{[]string{"check", "ftp://h:21"}, "unknown scheme"},
		{[]string{"check", "h:99999"}, "not a number"},
		{[]string{"check", "--bogus", "h:1"}, "--bogus is not a flag of this command"},
		{[]string{"check", "--timeout", "soon", "h:1"}, `--timeout: "soon" is not a duration`},
		{[]string{"check", "--timeout", "-1s", "h:1"}, "--timeout must be positive"},
		{[]string{"check", "--timeout", "1ns", "h:1"}, "too short"},
		{[]string{"check", "--timeout", "10m", "h:1"}, "at most 5m0s"},
		{[]string{"load", "--timeout", "301s", "h:1", "--hold", "1"}, "at most 5m0s"},
		{[]string{"check", "ws://[fe80::1%25nosuch0]:80/"}, "names no interface"},
		{[]string{"load", "ws://[fe80::1%25nosuch0]:80/", "--hold", "1"}, "names no interface"},
		{[]string{"check", "--lang", "fr", "h:1"}, `--lang "fr" is not a language of conndiag`},
		{[]string{"check", "--probe-ports", "22,x", "h:1"}, "--probe-ports"},
		{[]string{"check", "--probe-ports", "0", "h:1"}, "--probe-ports"},
		{[]string{"check", "--source", "nowhere", "h:1"}, "--source"},
		{[]string{"check", "--concurrency", "0", "h:1"}, "--concurrency"},
		{[]string{"check", "--origin", "app.example.com", "ws://h:1/"}, `--origin "app.example.com" is not an origin`},
		{[]string{"check", "--origin", "ftp://app.example.com", "ws://h:1/"}, "--origin"},
		{[]string{"check", "--origin", "https://app.example.com/page", "ws://h:1/"}, "--origin"},
		{[]string{"check", "--origin", "https://app.example.com:0", "ws://h:1/"}, `"0" is not a port from 1 to 65535`},
		{[]string{"check", "-f", missing}, "cannot read -f " + missing + ": no such file"},
		{[]string{"serve", "--config", missing}, "cannot read --config " + missing + ": no such file"},
		{[]string{"version", "extra"}, `conndiag version takes no argument, got "extra"`},
		{[]string{"chek", "h:1"}, "did you mean check?"},
		{[]string{"check", "--json=maybe", "h:1"}, "--json is a switch"},
		{[]string{"check", "--concurrency", "many", "h:1"}, `--concurrency: "many" is not a whole number`},
		{[]string{"check", "256.1.1.1:80"}, "256 is above 255"},
		{[]string{"listen", "--timeout", "1s", "ws://127.0.0.1:0"}, "--timeout is not a flag of this command"},
		{[]string{"server", ""}, `"" is not a TCP port`},
		{[]string{"server", "-1"}, "error: -1 is not a flag of this command"},
		{[]string{"load", "127.0.0.1:1", "--hold", "5", "--source", "127.0.0.9-127.0.0.2"}, `error: --source: range "127.0.0.9-127.0.0.2" must go`},
		{[]string{"completion", "tcsh"}, `no completion for "tcsh"`},
	}
	for _, tt := range tests {
		stdout, stderr, code := run(t, tt.args...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", tt.args, code, stderr)
		}
		if stdout != "" {
			t.Errorf("%v: stdout must stay empty, got %q", tt.args, stdout)
		}
		if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "conndiag: error: ") || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: want one stderr line containing %q, got %q", tt.args, tt.want, stderr)
		}
	}
}

func TestBadTargetInFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "targets.txt")
	os.WriteFile(f, []byte("# comment\n127.0.0.1:1\n\nnot a target\n"), 0o644)
	_, stderr, code := run(t, "check", "-f", f)
	if code != ExitUsage || !strings.Contains(stderr, f+`:4: bad target "not a target"`) {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// Notepad and PowerShell start a UTF-8 file with a byte-order mark and end lines with CRLF.
func TestTargetFileWithBOMAndCRLF(t *testing.T) {
	f := filepath.Join(t.TempDir(), "targets.txt")
	os.WriteFile(f, []byte("\xef\xbb\xbf127.0.0.1:1\r\n# c\r\n\r\n ws://127.0.0.1:2/x # c\r\n"), 0o644)
	tf, err := openTargetFile(f)
	if err != nil {
		t.Fatal(err)
	}
	defer tf.close()
	var got []string
	for {
		it, err := tf.next()
		if err != nil {
			break
		}
		got = append(got, it.Target.String()+" @ "+strings.TrimPrefix(it.From, f))
	}
	if want := []string{"127.0.0.1:1 @ :1", "ws://127.0.0.1:2/x @ :4"}; strings.Join(got, "|") != strings.Join(want, "|") || tf.count != 2 {
		t.Fatalf("got %q (count %d), want %q", got, tf.count, want)
	}
}

func TestCheckFileAndJSONLines(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	f := filepath.Join(t.TempDir(), "targets.txt")
	os.WriteFile(f, []byte("# two targets\n"+ln.Addr().String()+"  # up\n"+closedAddr+"\n"), 0o644)

	stdout, stderr, code := run(t, "check", "--json", "--probe-ports", "", "-f", f)
	if code != ExitProblem {
		t.Fatalf("exit %d, want 1 (stderr %q)", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 JSON lines, got %q", stdout)
	}
	want := []string{"ok", "not_listening"}
	for i, l := range lines {
		var r struct {
			Target  string                 `json:"target"`
			Verdict struct{ Cause string } `json:"verdict"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("line %d is not JSON: %v", i, err)
		}
		if r.Verdict.Cause != want[i] {
			t.Errorf("line %d: %s is %s, want %s", i, r.Target, r.Verdict.Cause, want[i])
		}
	}
	// Only the working one: exit 0.
	if _, _, code := run(t, "check", "--probe-ports", "", ln.Addr().String()); code != ExitOK {
		t.Errorf("a reachable target must exit 0, got %d", code)
	}
}

func TestPendingCommandsSayNotYet(t *testing.T) {
	for _, name := range []string{"explain", "load", "serve"} {
		cmdFound := false
		for _, c := range pending() {
			if strings.Fields(c.Use)[0] == name {
				cmdFound = true
			}
		}
		if !cmdFound {
			continue // implemented meanwhile
		}
		_, stderr, code := run(t, name, "x")
		if code != ExitToolFail || !strings.Contains(stderr, "not yet available") {
			t.Errorf("%s: exit %d, stderr %q", name, code, stderr)
		}
	}
}

func TestHelpHasExamples(t *testing.T) {
	root := newRoot(&globals{})
	for _, c := range root.Commands() {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("conndiag %s --help has no example", c.Name())
		}
	}
	stdout, _, code := run(t, "check", "--help")
	if code != 0 || !strings.Contains(stdout, "conndiag check example.com:80") {
		t.Errorf("check --help: exit %d\n%s", code, stdout)
	}
}

func TestVersion(t *testing.T) {
	stdout, _, code := run(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "conndiag ") {
		t.Errorf("version: exit %d, %q", code, stdout)
	}
}

func TestHumanGolden(t *testing.T) {
	tgt, _ := target.Parse("app.example.test:8282")
	addr := netip.MustParseAddrPort("203.0.113.2:8282")
	cases := map[string]verdict.Evidence{
		"filtered": {Target: tgt, DNS: verdict.DNS{Addresses: []netip.Addr{addr.Addr()}}, Addrs: []verdict.AddrEvidence{{
			Addr: addr, Connect: neterr.Result{Kind: neterr.Timeout, Duration: 205 * time.Millisecond},
			SYNs: 6, Wait: 200 * time.Millisecond, RTT: 180 * time.Microsecond, Timeout: 3 * time.Second,
			Others: []verdict.PortProbe{{Port: 22, Kind: neterr.OK, Duration: 180 * time.Microsecond}, {Port: 80, Kind: neterr.Refused, Duration: 200 * time.Microsecond}},
		}}},
		"ports_exhausted": {Target: tgt, DNS: verdict.DNS{Addresses: []netip.Addr{addr.Addr()}}, Addrs: []verdict.AddrEvidence{{
			Addr: addr, Connect: neterr.Result{Kind: neterr.AddrNotAvailable, Op: "connect", Errno: syscall.EADDRNOTAVAIL, Duration: 20 * time.Microsecond},
			Usage: hostUsage(),
		}}},
	}
	for name, ev := range cases {
		t.Run(name, func(t *testing.T) {
			out, fs := verdict.Decide(ev)
			r := diagnose.Report{Target: tgt, Outcome: out, Findings: fs, Evidence: ev, Duration: 210 * time.Millisecond}
			var b bytes.Buffer
			renderHuman(&b, r, i18n.New("en"), false)
			golden(t, filepath.Join("testdata", name+".golden"), b.String())
			for _, lang := range []string{"ar", "zh"} {
				var l bytes.Buffer
				renderHuman(&l, r, i18n.New(lang), false)
				golden(t, filepath.Join("testdata", name+"."+lang+".golden"), l.String())
			}
			var c bytes.Buffer
			renderHuman(&c, r, i18n.New("en"), true)
			if !strings.Contains(c.String(), "\x1b[") || strings.Contains(b.String(), "\x1b[") {
				t.Errorf("colour must appear only when asked")
			}
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -run Golden -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run with -update after checking):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// The demo's endpoints are real and its verdicts are checked, so this fails
// when a rule or a probe regresses.
func TestDemo(t *testing.T) {
	stdout, stderr, code := run(t, "demo", "--json")
	if code != ExitOK {
		t.Fatalf("demo: exit %d, stderr %q\n%s", code, stderr, stdout)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != len(demoScenarios()) {
		t.Fatalf("want one JSON line per scenario, got %d", len(lines))
	}
	for i, l := range lines {
		var r struct{ Verdict struct{ Cause string } }
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Verdict.Cause != string(demoScenarios()[i].want) {
			t.Errorf("scenario %d: %q (%v)", i, r.Verdict.Cause, err)
		}
	}
}

// Ctrl-C in the middle of a slow diagnosis stops it and prints no verdict
// drawn from the evidence cut short.
func TestCheckInterrupted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accepts and never answers
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for _, args := range [][]string{{"ws://" + ln.Addr().String() + "/"}, {"--json", ln.Addr().String(), "ws://" + ln.Addr().String() + "/"}} {
		ctx, cancel := context.WithCancel(context.Background())
		type result struct {
			out, errOut string
			code        int
		}
		done := make(chan result)
		go func() {
			var o, e bytes.Buffer
			code := Main(ctx, append([]string{"check", "--timeout", "5m", "--probe-ports", ""}, args...), &o, &e)
			done <- result{o.String(), e.String(), code}
		}()
		time.Sleep(300 * time.Millisecond)
		cancel()
		select {
		case r := <-done:
			if r.code != ExitInterrupted || !strings.Contains(r.errOut, "interrupted") || strings.Contains(r.out, "ws://") {
				t.Errorf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.out, r.errOut)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%v: check did not stop after the cancel", args)
		}
	}
}

func TestFixSnippetHasNoShellPrompt(t *testing.T) {
	var b bytes.Buffer
	writeFix(&b, []i18n.Msg{i18n.Cmd("ss -ltn"), i18n.Snippet("new Worker('websocket://0.0.0.0:%d');", 8282)}, i18n.New("en"), style{}, "")
	want := "  $ ss -ltn\n    new Worker('websocket://0.0.0.0:8282');\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
