package explain

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// Hostile and real seeds: classification never panics, the shown line stays
// valid UTF-8 and bounded, and streaming agrees with the whole-text path.
func FuzzExplain(f *testing.F) {
	for _, e := range readCorpus(f)[:60] {
		f.Add(e.Text)
	}
	for _, s := range []string{"", "\x00\x01\x02", "connect ECONNREFUSED ::1:", "[Errno -", "errno: -", "Unexpected response code: ",
		"ws://[", "ws://[::1", "http://:", "host='", "('", " port 99999999", "error 52", "| 5", "net_error\":-", "err_", "\xff\xfe",
		strings.Repeat("connection refused ", 5000), "upstream: \"", "lookup  on ", "::::::::1:80", "wsae", "10061", "\u202e10061"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		res := Text(s)
		if !utf8.ValidString(res.Text) || utf8.RuneCountInString(res.Text) > showWidth+1 {
			t.Fatalf("shown line not bounded/valid: %q", res.Text)
		}
		if res.Found() && len(res.Findings) == 0 {
			t.Fatalf("signal %q without findings", res.Signal)
		}
		if res.Target.Port == 0 && strings.Contains(res.Target.String(), ":0") {
			t.Fatalf("bad target %q", res.Target.String())
		}
		r2, err := Read(strings.NewReader(s))
		if err == nil && !bytes.ContainsRune([]byte(s), 0) && r2.Signal != res.Signal && len(s) < MaxLine {
			t.Fatalf("Read %q != Text %q", r2.Signal, res.Signal)
		}
		_, _ = Log(strings.NewReader(s))
	})
}
