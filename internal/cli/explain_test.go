package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conndiag/conndiag/internal/explain"
	"github.com/conndiag/conndiag/internal/i18n"
)

func TestExplainGolden(t *testing.T) {
	cases := map[string]string{
		"explain_refused": "Error: connect ECONNREFUSED 10.0.0.5:8282",
		"explain_ws200":   "WebSocket connection to 'ws://example.com:8282/chat' failed: Error during WebSocket handshake: Unexpected response code: 200",
		"explain_nginx":   `2026/01/15 10:00:00 [error] 1234#1234: *5 connect() failed (111: Connection refused) while connecting to upstream, client: 203.0.113.9, server: example.com, request: "GET /ws HTTP/1.1", upstream: "http://127.0.0.1:8282/ws", host: "example.com"`,
		"explain_zh_win":  "[WinError 10061] 由于目标计算机积极拒绝，无法连接。",
	}
	for name, text := range cases {
		for _, lang := range []string{"en", "ar", "zh"} {
			t.Run(name+"_"+lang, func(t *testing.T) {
				res := explain.Text(text)
				var b bytes.Buffer
				renderExplain(&b, res, i18n.New(lang), false)
				golden(t, filepath.Join("testdata", name+"."+lang+".golden"), b.String())
				var c bytes.Buffer
				renderExplain(&c, res, i18n.New(lang), true)
				if !strings.Contains(c.String(), "\x1b[") || strings.Contains(b.String(), "\x1b[") {
					t.Errorf("colour must appear only when asked")
				}
			})
		}
	}
}

func runIn(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "in")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(stdin)
	f.Seek(0, 0)
	old := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = old; f.Close() }()
	var o, e bytes.Buffer
	code := Main(context.Background(), args, &o, &e)
	return o.String(), e.String(), code
}

func TestExplainBadInput(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "junk.bin")
	os.WriteFile(bin, []byte("\x00\x01\x02\x03garbage\x00\xff"), 0o644)
	tests := []struct {
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"", []string{"explain"}, ExitUsage, "no text given"},
		{"", []string{"explain", "-"}, ExitUsage, "no text given"},
		{"\x00\x01\x02binary\xff\xfe", []string{"explain", "-"}, ExitUsage, "binary"},
		{"", []string{"explain", "--log", bin}, ExitUsage, "binary"},
		{"", []string{"explain", "--log", filepath.Join(dir, "missing.log")}, ExitUsage, "cannot read"},
		{"", []string{"explain", "--log", dir}, ExitUsage, "directory"},
		{"", []string{"explain", "--log", "-", "extra"}, ExitUsage, "--log takes the file"},
		{"", []string{"explain", "just some words"}, ExitProblem, "no connection error found in this text"},
		{"", []string{"explain", "filterd"}, ExitProblem, "did you mean the cause code filtered? (conndiag explain filtered)"},
		{"lorem ipsum\ndolor sit amet\n", []string{"explain", "-"}, ExitProblem, "no connection error found in this text"},
	}
	for _, tt := range tests {
		stdout, stderr, code := runIn(t, tt.stdin, tt.args...)
		if code != tt.code || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tt.want) || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and one line with %q", tt.args, code, stdout, stderr, tt.code, tt.want)
		}
	}
}

func TestExplainHugeLineFromStdin(t *testing.T) {
	big := strings.Repeat("x", 100<<20)
	_, stderr, code := runIn(t, big, "explain", "-")
	if code != ExitProblem || !strings.Contains(stderr, "no connection error found") {
		t.Errorf("100 MB line: exit %d, %q", code, stderr)
	}
}

func TestExplainJSON(t *testing.T) {
	stdout, _, code := run(t, "explain", "--json", "WebSocket connection to 'ws://example.com:8282/chat' failed: Error during WebSocket handshake: Unexpected response code: 404")
	if code != ExitProblem {
		t.Fatalf("exit %d", code)
	}
	var j struct {
		Outcome string
		Target  struct {
			Scheme string
			Host   string
			Port   int
		}
		Findings []struct{ Cause, Confidence, Summary string }
		Next     string
	}
	if err := json.Unmarshal([]byte(stdout), &j); err != nil || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("not one JSON object: %v %q", err, stdout)
	}
	if j.Outcome != "protocol_mismatch" || j.Target.Scheme != "ws" || j.Target.Host != "example.com" || j.Target.Port != 8282 ||
		len(j.Findings) == 0 || j.Findings[0].Cause != "ws_path_not_found" || j.Next != "conndiag check ws://example.com:8282/chat" {
		t.Errorf("got %+v", j)
	}
	// No target named: the field is absent.
	stdout, _, _ = run(t, "explain", "--json", "由于目标计算机积极拒绝，无法连接。")
	if strings.Contains(stdout, `"target"`) || strings.Contains(stdout, `"next"`) {
		t.Errorf("target or next present without a host: %s", stdout)
	}
}

func TestExplainCause(t *testing.T) {
	for _, lang := range []string{"en", "ar", "zh"} {
		stdout, _, code := run(t, "explain", "--lang", lang, "filtered")
		if code != ExitOK || !strings.Contains(stdout, "conndiag server --watch 60s PORT") {
			t.Errorf("%s: exit %d\n%s", lang, code, stdout)
		}
	}
	stdout, _, _ := run(t, "explain", "--json", "tls_certificate")
	var j struct{ Cause, Summary, How string }
	if json.Unmarshal([]byte(stdout), &j) != nil || j.Cause != "tls_certificate" || j.How == "" {
		t.Errorf("json cause: %s", stdout)
	}
}

func TestExplainLog(t *testing.T) {
	f := filepath.Join(t.TempDir(), "error.log")
	log := `2026/01/15 10:00:00 [error] 1#1: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 203.0.113.9, server: a, request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:8080/", host: "a"
2026/01/15 10:00:05 [error] 1#1: *2 connect() failed (111: Connection refused) while connecting to upstream, client: 203.0.113.9, server: a, request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:8080/", host: "a"
2026/01/15 10:00:09 [info] 1#1: *3 client sent plain HTTP request to HTTPS port while reading client request headers, client: 203.0.113.9, server: a
2026/01/15 10:00:10 [notice] 1#1: signal process started
`
	os.WriteFile(f, []byte(log), 0o644)
	stdout, _, code := run(t, "explain", "--log", f, "--json")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != ExitProblem || len(lines) != 2 {
		t.Fatalf("exit %d:\n%s", code, stdout)
	}
	var g struct {
		Cause       string
		Count       int
		First, Last string
		Next        string
	}
	json.Unmarshal([]byte(lines[0]), &g)
	if g.Cause != "proxy_upstream_failed" || g.Count != 2 || g.First != "2026/01/15 10:00:00" || g.Last != "2026/01/15 10:00:05" || g.Next != "conndiag check http://127.0.0.1:8080/" {
		t.Errorf("group %+v", g)
	}
	stdout, _, _ = run(t, "explain", "--log", f)
	if !strings.Contains(stdout, "2 × proxy_upstream_failed  http://127.0.0.1:8080/") || !strings.Contains(stdout, "$ conndiag check http://127.0.0.1:8080/") {
		t.Errorf("human log:\n%s", stdout)
	}
	clean := filepath.Join(t.TempDir(), "ok.log")
	os.WriteFile(clean, []byte("all good\n"), 0o644)
	if stdout, _, code := run(t, "explain", "--log", clean); code != ExitOK || !strings.Contains(stdout, "No connection errors in 1 line.") {
		t.Errorf("clean log: exit %d %q", code, stdout)
	}
}
