//go:build linux

package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/testbed"
)

// Without root the firewall rules cannot be read: a listening port with
// nothing else wrong is not reported clean, and the audit does not exit 0.
func TestServerWithoutRootIsNotClean(t *testing.T) {
	testbed.RequireRoot(t)
	testbed.RequireTool(t, "setpriv")
	ns := testbed.New(t).NS("server")
	ns.ServeAccept(t, ns.Listen(t, "tcp", "0.0.0.0:8282"))
	// An unprivileged user must be able to run the binary.
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	nobodyBin := filepath.Join(dir, "conndiag")
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(nobodyBin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := testbed.Exec(t, ns, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", nobodyBin, "server", "--no-color", "8282")
	if code != 3 {
		t.Fatalf("exit %d, want 3 (not everything could be checked)\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if strings.Contains(stdout, "✓") || !strings.Contains(stdout, "not fully checked") || !strings.Contains(stdout, "root") {
		t.Errorf("a port whose firewall was not read is shown clean, or without why:\n%s", stdout)
	}
	jout, jerr, jcode := testbed.Exec(t, ns, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", nobodyBin, "server", "--json", "8282")
	r := parseServer(t, jout, jerr, jcode)
	if jcode != 3 || len(r.Ports) != 1 {
		t.Fatalf("JSON: exit %d, %d ports\n%s", jcode, len(r.Ports), jout)
	}
	if !strings.Contains(jout, `"unchecked"`) {
		t.Errorf("JSON does not say what was not checked:\n%s", jout)
	}
}

// Ctrl-C during --watch: no verdict drawn from the cut-short watch, exit 130.
func TestServerWatchInterrupted(t *testing.T) {
	testbed.RequireRoot(t)
	ns := testbed.New(t).NS("server")
	ns.ServeAccept(t, ns.Listen(t, "tcp", "0.0.0.0:8282"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Name(), bin, "server", "--json", "--watch", "60s", "8282")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the watch has begun (its line on stderr), then interrupt.
	for start := time.Now(); !strings.Contains(stderr.String(), "8282") && time.Since(start) < 10*time.Second; {
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code != 130 {
		t.Fatalf("exit %d, want 130\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	if strings.TrimSpace(stdout.String()) != "" {
		t.Errorf("a verdict was printed from a cut-short watch:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("stderr does not say it was interrupted:\n%s", stderr.String())
	}
}
