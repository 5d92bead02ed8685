package cli

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Set at build time by make build and make dist:
//
//	-ldflags "-X github.com/conndiag/conndiag/internal/cli.Version=v1.2.0
//	          -X github.com/conndiag/conndiag/internal/cli.Commit=0123abc
//	          -X github.com/conndiag/conndiag/internal/cli.Date=2026-11-01T10:00:00Z"
//
// Left empty (go install, go build), they come from the module's build info.
var (
	Version = ""
	Commit  = ""
	Date    = ""
)

// buildInfo is what conndiag version prints.
type buildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	// Modified: built from a work tree with uncommitted changes.
	Modified bool `json:"modified,omitempty"`
}

// readBuildInfo fills what -ldflags left empty from the module build info:
// the module version under go install, the VCS revision and time under go
// build in a checkout.
func readBuildInfo(bi *debug.BuildInfo, ok bool) buildInfo {
	b := buildInfo{Version: Version, Commit: Commit, Date: Date, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if ok && bi != nil {
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.time":
				if b.Date == "" {
					b.Date = s.Value
				}
			case "vcs.modified":
				b.Modified = s.Value == "true" && Commit == ""
			}
		}
		if b.Go == "" {
			b.Go = bi.GoVersion
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	if len(b.Commit) > 12 {
		b.Commit = b.Commit[:12]
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.Date == "" {
		b.Date = "unknown"
	}
	return b
}

func currentBuild() buildInfo { return readBuildInfo(debug.ReadBuildInfo()) }

// version is the version alone, for the listen endpoint's Server header.
func version() string { return currentBuild().Version }

// String is the one line of conndiag version and --version.
func (b buildInfo) String() string {
	commit := b.Commit
	if b.Modified {
		commit += "+dirty"
	}
	return fmt.Sprintf("conndiag %s (commit %s, built %s, %s %s/%s)", b.Version, commit, b.Date, b.Go, b.OS, b.Arch)
}

func newVersion(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print the version, commit and build date",
		Example: "  conndiag version\n  conndiag version --json\n  conndiag --version",
		Args:    noArgs,
		RunE: func(*cobra.Command, []string) error {
			b := currentBuild()
			if asJSON {
				out, err := json.Marshal(b)
				if err != nil {
					return toolErr("writing output: %v", err)
				}
				fmt.Fprintf(g.stdout, "%s\n", out)
				return nil
			}
			fmt.Fprintln(g.stdout, b)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the version as JSON: version, commit, date, go, os, arch")
	return cmd
}

// versionFlagTemplate is what --version prints: the same line as conndiag version.
func versionFlagTemplate() string {
	return strings.ReplaceAll(currentBuild().String(), "{{", "{ {") + "\n"
}
