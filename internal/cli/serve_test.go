package cli

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestServeBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[modules.a]\nprotocol = \"gopher\"\n"), 0o644)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--timeout-offset", "soon"}, `--timeout-offset "soon" is not a number of seconds such as 0.5, or a duration such as 500ms`},
		{[]string{"serve", "--timeout-offset", "-1"}, "--timeout-offset"},
		{[]string{"serve", "--concurrency", "0"}, "--concurrency must be at least 1, got 0"},
		{[]string{"serve", "--history", "-1"}, "--history must not be negative"},
		{[]string{"serve", "--check-config"}, "--check-config needs --config FILE"},
		{[]string{"serve", "--config", filepath.Join(dir, "none.toml")}, "cannot read --config " + filepath.Join(dir, "none.toml") + ": no such file"},
		{[]string{"serve", "--config", bad}, `--config: ` + bad + `: module "a": protocol "gopher" is not one of`},
		{[]string{"serve", "extra"}, "takes no argument"},
	}
	for _, tt := range tests {
		stdout, stderr, code := run(t, tt.args...)
		if code != ExitUsage || stdout != "" || !strings.Contains(stderr, tt.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and one line with %q", tt.args, code, stdout, stderr, tt.want)
		}
	}
}

func TestServeCheckConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "serve.toml")
	os.WriteFile(cfg, []byte("[modules.ws]\nprotocol = \"ws\"\n"), 0o644)
	stdout, stderr, code := run(t, "serve", "--config", cfg, "--check-config")
	if code != ExitOK || stdout != cfg+": the configuration loads; modules: default, ws.\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestServeCannotListen(t *testing.T) {
	for _, bad := range []string{"127.0.0.1:99999", "bogus", "127.0.0.1:-1", ":http"} {
		_, stderr, code := run(t, "serve", "--listen", bad)
		if code != ExitUsage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "want HOST:PORT or :PORT") {
			t.Errorf("--listen %s: exit %d, stderr %q", bad, code, stderr)
		}
	}
	// A well-formed address that cannot be bound is the tool's failure.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, stderr, code := run(t, "serve", "--listen", ln.Addr().String())
	if code != ExitToolFail || !strings.Contains(stderr, "cannot listen on "+ln.Addr().String()) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// lockedBuffer is a Buffer that Main's goroutines and the test can share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serve runs and answers on an address of its own, then stops on ctx with exit 0.
func TestServeRunsAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--json"}, &stdout, &stderr)
	}()
	addrRE := regexp.MustCompile(`Serving on (127\.0\.0\.1:\d+)`)
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == ""; {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no startup line: %q", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	res, err := http.Get("http://" + addr + "/probe?target=127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `conndiag_probe_cause{cause="not_listening",confidence="high"} 1`) {
		t.Errorf("probe: %d\n%s", res.StatusCode, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Errorf("exit %d after the stop, stderr %q", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], `{"msg":"Serving on`) || !strings.Contains(lines[2], `"msg":"Stopped."`) {
		t.Errorf("--json log lines: %q", lines)
	}
	if stdout.String() != "" {
		t.Errorf("serve writes nothing on stdout: %q", stdout.String())
	}
}
