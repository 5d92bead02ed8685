package verdict

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const rulesDoc = "../../docs/rules.md"

// TestMain runs the tests, then holds the rule tables to two facts: every
// rule is produced by some table case (its proof), and docs/rules.md lists
// them as the tables are. Both need the whole suite, so they are checked only
// when no -run filter narrows it.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code != 0 || flag.Lookup("test.run").Value.String() != "" {
		os.Exit(code)
	}
	if err := checkRules(*update); err != nil {
		fmt.Fprintln(os.Stderr, "rules:", err)
		code = 1
	}
	os.Exit(code)
}

var stageHeads = map[string]string{
	"tcp":         "TCP: one address, from its connect (the first row that holds decides; alternatives follow it)",
	"tcp-loss":    "TCP: SYNs lost while a later one was answered (beside the address's verdict; the verdict when it is otherwise ok)",
	"tls":         "TLS handshake that did not complete (first match)",
	"tls-done":    "After a completed TLS handshake, before the WebSocket and HTTP tables (first match): a required client certificate; an answer that stalled and came whole with a small MSS",
	"websocket":   "WebSocket handshake (first match; an answer that is no HTTP goes to not-http)",
	"http":        "HTTP request (first match; an answer that is no HTTP goes to not-http)",
	"not-http":    "An answer that is not HTTP (first match)",
	"message":     "Workerman text and frame (first match)",
	"name":        "The name: DNS, CDN, proxy, whoami (every row that holds adds a finding; parts of one cause make one finding)",
	"server-port": "Server audit, one port (every row that holds; most certain first)",
	"server-host": "Server audit, the host (every row that holds; most certain first)",
}

func checkRules(write bool) error {
	var b strings.Builder
	b.WriteString("# The rules\n\n")
	b.WriteString("Every finding conndiag prints comes from one row of a table in `internal/verdict` (`rules_*.go`).\n")
	b.WriteString("This file is generated from those tables by `go test ./internal/verdict -update`, and a test fails\n")
	b.WriteString("when it is out of date. *Proven by* is the first table case in `internal/verdict`'s tests whose\n")
	b.WriteString("findings include the rule: every rule has one. Confidence marked \\* depends on the evidence (see the note).\n")
	b.WriteString("Findings are then ranked (`rank` in `rules.go`): by place (lead, verdict, other addresses, also),\n")
	b.WriteString("a cause's catalog record may supersede another (`catalog.go`), and a cause shown twice keeps its first finding.\n")
	var missing []string
	stage := ""
	for _, r := range Rules() {
		if r.Stage != stage {
			stage = r.Stage
			fmt.Fprintf(&b, "\n## %s\n\n| rule | cause | confidence | place | note | proven by |\n|---|---|---|---|---|---|\n", stageHeads[stage])
		}
		conf := string(r.Conf)
		if r.Varies {
			conf += "\\*"
		}
		proof, ok := proofs[r.ID]
		if !ok {
			missing = append(missing, r.ID)
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %s | %s |\n", r.ID, r.Cause, conf, r.Place, strings.ReplaceAll(r.Note, "|", "/"), strings.ReplaceAll(proof, "|", "/"))
	}
	if len(missing) > 0 {
		return fmt.Errorf("no table case proves these rules (add a case that produces each): %s", strings.Join(missing, ", "))
	}
	got := b.String()
	if write {
		if err := os.MkdirAll(filepath.Dir(rulesDoc), 0o755); err != nil {
			return err
		}
		return os.WriteFile(rulesDoc, []byte(got), 0o644)
	}
	want, err := os.ReadFile(rulesDoc)
	if err != nil {
		return fmt.Errorf("%v (go test ./internal/verdict -update writes it)", err)
	}
	if string(want) != got {
		return fmt.Errorf("docs/rules.md is out of date: go test ./internal/verdict -update rewrites it\n%s", firstDiff(string(want), got))
	}
	return nil
}

// Rule IDs are unique, and every cause a rule names is in the catalog.
func TestRuleIDsAndCauses(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules() {
		if seen[r.ID] {
			t.Errorf("rule ID %s is used twice", r.ID)
		}
		seen[r.ID] = true
		if Catalog(r.Cause).Cause != r.Cause {
			t.Errorf("rule %s names cause %q, which has no catalog record", r.ID, r.Cause)
		}
	}
	for _, c := range Causes {
		if Catalog(c).Cause != c {
			t.Errorf("cause %s has no catalog record", c)
		}
	}
}
