package verdict

import (
	"os/exec"
	"strings"
	"testing"
)

// ioPackages are packages that do I/O, or conndiag's gatherers: the rules
// must link none of them, so "the rules do no I/O" is a fact, not a habit.
var ioPackages = []string{
	"net", "net/http", "os/exec", "crypto/tls", "syscall/js",
	"github.com/vishvananda/netlink", "github.com/vishvananda/netns", "github.com/miekg/dns",
	"github.com/gorilla/websocket", "github.com/gobwas/ws", "github.com/mdlayher/packet",
}

var gatherers = []string{"probe", "host", "firewall", "neterr", "dnsprobe", "proxy", "cdn", "capture", "cloud", "target", "diagnose", "listen", "cli"}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH")
	}
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

func TestRulesDoNoIO(t *testing.T) {
	for _, pkg := range []string{".", "../evidence"} {
		deps := goList(t, "-deps", pkg)
		for _, d := range deps {
			for _, bad := range ioPackages {
				if d == bad {
					t.Errorf("%s links %s, a package that does I/O", pkg, d)
				}
			}
			for _, g := range gatherers {
				if d == "github.com/conndiag/conndiag/internal/"+g {
					t.Errorf("%s links %s: the rules read plain evidence, not its gatherers", pkg, d)
				}
			}
		}
	}
	for _, d := range goList(t, "-deps", "../evidence") {
		if strings.HasPrefix(d, "github.com/conndiag/conndiag/") && d != "github.com/conndiag/conndiag/internal/evidence" {
			t.Errorf("internal/evidence imports %s: it must import nothing of conndiag's", d)
		}
	}
}

// The CLI parses flags and renders; gathering is diagnose's (Check, Audit).
func TestCLIDoesNotGather(t *testing.T) {
	imports := goList(t, "-f", `{{join .Imports " "}}`, "../cli")
	for _, d := range imports {
		for _, g := range []string{"probe", "host", "neterr", "capture", "firewall", "cloud", "dnsprobe"} {
			if d == "github.com/conndiag/conndiag/internal/"+g {
				t.Errorf("internal/cli imports %s directly: gather through internal/diagnose", d)
			}
		}
	}
}
