package explain

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// corpusEntry is one real message: what a program printed, where it comes
// from, and what explain must make of it.
type corpusEntry struct {
	Text    string `json:"text"`
	Source  string `json:"source"`
	Outcome string `json:"outcome"`
	Cause   string `json:"cause"`
	Target  string `json:"target"`
	Note    string `json:"note"`
}

func readCorpus(t testing.TB) []corpusEntry {
	f, err := os.Open("testdata/corpus.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		var e corpusEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("corpus line %d: %v", n, err)
		}
		if e.Text == "" || e.Source == "" {
			t.Fatalf("corpus line %d: every message needs its text and its source", n)
		}
		out = append(out, e)
	}
	return out
}

func corpusTarget(t Target) string {
	if t.Host == "" && t.Port != 0 {
		return ":" + itoa(int(t.Port))
	}
	return t.String()
}

func TestCorpus(t *testing.T) {
	entries := readCorpus(t)
	if len(entries) < 250 {
		t.Fatalf("the corpus has %d messages; it must keep at least 250", len(entries))
	}
	for i, e := range entries {
		res := Text(e.Text)
		cause := ""
		if len(res.Findings) > 0 {
			cause = string(res.Findings[0].Cause)
		}
		if cause != e.Cause || string(res.Outcome) != e.Outcome || corpusTarget(res.Target) != e.Target {
			t.Errorf("corpus line %d (%s):\n  %s\n  got outcome %q cause %q target %q, want %q %q %q",
				i+1, e.Source, strings.ReplaceAll(e.Text[:min(len(e.Text), 160)], "\n", `\n`), res.Outcome, cause, corpusTarget(res.Target), e.Outcome, e.Cause, e.Target)
		}
		// Streaming the same text gives the same answer.
		res2, err := Read(strings.NewReader(e.Text))
		if err != nil || res2.Signal != res.Signal || res2.Target != res.Target {
			t.Errorf("corpus line %d: Read and Text disagree (%v)", i+1, err)
		}
	}
}

// The corpus covers every family of programs the issue names.
func TestCorpusCoversFamilies(t *testing.T) {
	entries := readCorpus(t)
	for _, fam := range []string{"Chromium", "Firefox", "Safari", "curl", "Go", "gorilla", "gobwas", "coder", "Node", "ws 8",
		"CPython", "requests", "websockets", "OpenJDK", "dotnet", "PHP", "Workerman", "nginx", "OpenSSL", "Cloudflare", "zh_CN", "zh-CN", "Winsock"} {
		found := false
		for _, e := range entries {
			if strings.Contains(e.Source, fam) || strings.Contains(e.Text, fam) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no corpus message from %s", fam)
		}
	}
}
