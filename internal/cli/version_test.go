package cli

import (
	"encoding/json"
	"runtime/debug"
	"strings"
	"testing"
)

func TestReadBuildInfo(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tests := []struct {
		name                  string
		ldVersion, ldCommit   string
		bi                    *debug.BuildInfo
		ok                    bool
		version, commit, date string
		modified              bool
	}{
		{"nothing known", "", "", nil, false, "dev", "unknown", "unknown", false},
		{"go install at a tag", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, true, "v1.2.3", "unknown", "unknown", false},
		{"go build in a checkout", "", "",
			&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("vcs.revision", "0123456789abcdef0123", "vcs.time", "2026-11-01T10:00:00Z", "vcs.modified", "true")},
			true, "dev", "0123456789ab", "2026-11-01T10:00:00Z", true},
		{"make: -ldflags win over build info", "v2.0.0", "abc1234",
			&debug.BuildInfo{Main: debug.Module{Version: "v1.0.0"}, Settings: vcs("vcs.revision", "ffff", "vcs.modified", "true")},
			true, "v2.0.0", "abc1234", "unknown", false},
	}
	for _, tt := range tests {
		Version, Commit = tt.ldVersion, tt.ldCommit
		b := readBuildInfo(tt.bi, tt.ok)
		Version, Commit = "", ""
		if b.Version != tt.version || b.Commit != tt.commit || b.Date != tt.date || b.Modified != tt.modified {
			t.Errorf("%s: got %+v, want version %q commit %q date %q modified %v", tt.name, b, tt.version, tt.commit, tt.date, tt.modified)
		}
		if b.OS == "" || b.Arch == "" || b.Go == "" {
			t.Errorf("%s: os/arch/go missing: %+v", tt.name, b)
		}
	}
}

func TestVersionCommand(t *testing.T) {
	stdout, stderr, code := run(t, "version")
	if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "conndiag ") || !strings.Contains(stdout, "commit ") {
		t.Errorf("version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	flag, _, _ := run(t, "--version")
	if flag != stdout {
		t.Errorf("--version printed %q, version printed %q", flag, stdout)
	}
	stdout, _, code = run(t, "version", "--json")
	var b map[string]any
	if err := json.Unmarshal([]byte(stdout), &b); code != 0 || err != nil {
		t.Fatalf("version --json: exit %d, %q: %v", code, stdout, err)
	}
	for _, k := range []string{"version", "commit", "date", "go", "os", "arch"} {
		if b[k] == "" {
			t.Errorf("version --json lacks %q: %s", k, stdout)
		}
	}
}
