package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conndiag/conndiag/internal/diagnose"
	"github.com/conndiag/conndiag/internal/target"
)

func item(s, from string) diagnose.Item {
	t, err := target.Parse(s)
	if err != nil {
		panic(err)
	}
	return diagnose.Item{Target: t, From: from}
}

func TestInterruptedMsg(t *testing.T) {
	file := &targetFile{display: "t.txt", count: 100}
	stream := &targetFile{display: "stdin", count: -1}
	first := []diagnose.Item{item("a.test:1", "t.txt:3"), item("b.test:2", "t.txt:4")}
	tests := []struct {
		name  string
		res   diagnose.BulkResult
		total int
		src   *targetFile
		want  string
	}{
		{"one argument", diagnose.BulkResult{Missed: 1, FirstMissed: []diagnose.Item{item("ws://h:1/", "")}}, 1, nil,
			"interrupted; ws://h:1/ was not diagnosed"},
		{"file: unread lines count", diagnose.BulkResult{Delivered: 2, Missed: 2, FirstMissed: first}, 100, file,
			"interrupted; 98 targets were not diagnosed: a.test:1 (t.txt:3), b.test:2 (t.txt:4) and 96 more"},
		{"stream", diagnose.BulkResult{Delivered: 5, Missed: 2, FirstMissed: first}, -1, stream,
			"interrupted; 2 targets were not diagnosed: a.test:1 (t.txt:3), b.test:2 (t.txt:4); the rest of stdin was not read"},
		{"stream, blocked in a read", diagnose.BulkResult{Delivered: 5}, -1, stream,
			"interrupted; the rest of stdin was not read"},
		{"stream at its end", diagnose.BulkResult{Delivered: 5, Missed: 1, FirstMissed: first[:1], Exhausted: true}, -1, stream,
			"interrupted; a.test:1 (t.txt:3) was not diagnosed"},
	}
	for _, tt := range tests {
		if got := interruptedMsg(tt.res, tt.total, tt.src); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

// A bad line quotes only its start, escaped.
func TestBadLineQuoted(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content, want string
		max                 int // longest stderr line
	}{
		{"kilobytes", "127.0.0.1:1\n" + strings.Repeat("x ", 5000) + "\n", `t.txt:2: bad target "x x x`, 600},
		{"escape sequences", "\x1b]0;owned\x07 \x1b[2J\n", `t.txt:1: bad target "\x1b]0;owned\a \x1b[2J"`, 600},
		{"bidi override", "host\u202e:80\n", `\u202e`, 600},
		{"overlong", strings.Repeat("a", maxLine+1) + "\n", "t.txt:1: the line is longer than 65536 bytes", 200},
	}
	for _, tt := range tests {
		f := filepath.Join(dir, "t.txt")
		os.WriteFile(f, []byte(tt.content), 0o644)
		stdout, stderr, code := run(t, "check", "-f", f)
		if code != ExitUsage || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tt.want) || len(stderr) > tt.max {
			t.Errorf("%s: exit %d, stdout %q, stderr (%d bytes) %.300q", tt.name, code, stdout, len(stderr), stderr)
		}
		if strings.ContainsAny(stderr, "\x1b\x07\u202e") {
			t.Errorf("%s: raw control characters reach stderr: %q", tt.name, stderr)
		}
	}
}

func TestParseOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://App.Example.com":      "https://app.example.com",
		"http://app.example.com:8080/": "http://app.example.com:8080",
		"https://[2001:db8::1]:8443":   "https://[2001:db8::1]:8443",
	} {
		if got, err := parseOrigin(in); err != nil || got != want {
			t.Errorf("parseOrigin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "app.example.com", "ws://app.example.com", "https://user@app.example.com", "https://app.example.com?x", "https://:443"} {
		if _, err := parseOrigin(in); err == nil {
			t.Errorf("parseOrigin(%q) accepted it", in)
		}
	}
}
