//go:build linux

package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bulkFile writes a target file of one listening and n closed loopback ports.
func bulkFile(t *testing.T, n int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	lines := []string{ln.Addr().String()}
	var closed []net.Listener
	for range n {
		c, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed = append(closed, c)
		lines = append(lines, c.Addr().String())
	}
	for _, c := range closed {
		c.Close()
	}
	f := filepath.Join(t.TempDir(), "targets.txt")
	if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// The progress bar is drawn on stderr only when it is a terminal; stdout
// keeps the JSON Lines alone.
func TestBulkProgressOnlyOnTerminal(t *testing.T) {
	f := bulkFile(t, 6)
	args := []string{"check", "--json", "--probe-ports", "", "-f", f}
	tty, written := ptyPair(t)
	var out bytes.Buffer
	if code := Main(context.Background(), args, &out, tty); code != ExitProblem {
		t.Fatalf("exit %d, want 1: %s", code, written())
	}
	if n := strings.Count(out.String(), "\n"); n != 7 || strings.Contains(out.String(), "diagnosing") {
		t.Errorf("stdout must be the 7 JSON lines alone, got %q", out.String())
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(written(), "diagnosing") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if s := written(); !strings.Contains(s, "diagnosing") || !strings.Contains(s, "/7") {
		t.Errorf("want the progress bar (description and count of 7) on the terminal, got %q", s)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out.Reset()
	code := Main(context.Background(), args, &out, w)
	w.Close()
	var stderr bytes.Buffer
	stderr.ReadFrom(r)
	if code != ExitProblem || stderr.Len() != 0 {
		t.Errorf("stderr a pipe: exit %d, stderr %q; want 1 and nothing", code, stderr.String())
	}
}

// The human run ends with the reports grouped by cause: problems first,
// the largest first, the targets of each capped; exit 1.
func TestBulkSummaryByCause(t *testing.T) {
	f := bulkFile(t, 7)
	stdout, stderr, code := run(t, "check", "--probe-ports", "", "-f", f)
	if code != ExitProblem || stderr != "" {
		t.Fatalf("exit %d, stderr %q; want 1 and nothing", code, stderr)
	}
	i := strings.Index(stdout, "By cause\n")
	if i < 0 {
		t.Fatalf("no summary table:\n%s", stdout)
	}
	table := strings.Split(strings.TrimSpace(stdout[i:]), "\n")
	if len(table) != 6 || !strings.HasPrefix(table[5], "1 of 8 targets reachable") {
		t.Fatalf("table:\n%s", strings.Join(table, "\n"))
	}
	head, bad, good := strings.Fields(table[1]), strings.Fields(table[2]), strings.Fields(table[3])
	if fmt.Sprint(head) != "[cause count targets]" {
		t.Errorf("header %q", table[1])
	}
	if bad[0] != "not_listening" || bad[1] != "7" || !strings.HasSuffix(table[2], "and 2 more") || strings.Count(table[2], "127.0.0.1:") != 5 {
		t.Errorf("not_listening row %q: want 7, five targets named and 2 more", table[2])
	}
	if good[0] != "ok" || good[1] != "1" {
		t.Errorf("ok row %q: want last, count 1", table[3])
	}
	// JSON Lines carry no table.
	stdout, _, _ = run(t, "check", "--json", "--probe-ports", "", "-f", f)
	if strings.Contains(stdout, "By cause") || strings.Count(stdout, "\n") != 8 {
		t.Errorf("JSON output changed: %q", stdout)
	}
}

// Other languages: the table's header is translated, cause codes are not.
func TestBulkSummaryTranslated(t *testing.T) {
	f := bulkFile(t, 2)
	for lang, head := range map[string]string{"zh": "按原因", "ar": "حسب السبب"} {
		stdout, _, code := run(t, "check", "--lang", lang, "--probe-ports", "", "-f", f)
		if code != ExitProblem || !strings.Contains(stdout, head) || !strings.Contains(stdout, "not_listening") {
			t.Errorf("%s: exit %d\n%s", lang, code, stdout)
		}
	}
}
