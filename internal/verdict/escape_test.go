package verdict

import (
	"strings"
	"testing"

	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/firewall"
	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/i18n"
)

// The prebuilt lines verdict offers pass i18n.CmdLine's check, so they are
// offered as they are; a firewall opening built from a hostile chain name is
// withheld, and one whose value is quoted at its origin is offered.
func TestPrebuiltCommandsAreChecked(t *testing.T) {
	low := Limits{Somaxconn: 128, SynBacklog: 128, TwReuse: 0, PortRange: host.PortRange{Lo: 1024, Hi: 2000}}
	for _, line := range []string{
		SysctlSnippet(SysctlAdvice(low, true, true)),
		sysctlCommand("60-conndiag-ports.conf", []SysctlLine{{Key: "net.ipv4.ip_local_port_range", Value: recommendedPortRangeValue}}),
	} {
		if line == "" {
			t.Fatal("no sysctl advice for low limits")
		}
		if m := i18n.CmdLine(line); !m.IsCmd() || m.Cmd != line {
			t.Errorf("%s: not offered as it is: %+v", line, m)
		}
	}

	hostile := "IN_$(touch${IFS}/tmp/pw)"
	drop := func(cmd string) FirewallEvidence {
		return FirewallEvidence{
			Result: firewall.Result{Family: firewall.IPv4, Port: 8282, Action: firewall.Drop,
				Decider: &firewall.Hit{Backend: firewall.BackendIptablesNft, Family: "ip", Table: "filter", Chain: hostile, Base: "INPUT",
					Rule: "-A " + hostile + " -j DROP", Counted: true, Packets: 3}},
			Open: firewall.Opening{Manager: firewall.ManagerFirewalld, Commands: []string{cmd}},
		}
	}
	p := i18n.New("en")
	tests := []struct {
		name, cmd string
		offered   bool
	}{
		{"unquoted zone", "firewall-cmd --permanent --zone=" + hostile + " --add-port=8282/tcp && firewall-cmd --reload", false},
		{"quoted zone", "firewall-cmd --permanent --zone=" + escape.Quote(hostile) + " --add-port=8282/tcp && firewall-cmd --reload", true},
		{"zone with ESC", "firewall-cmd --permanent --zone=IN_\x1b]0;x\x07 --add-port=8282/tcp", false},
	}
	for _, tt := range tests {
		fs := DecidePort(svHost, PortEvidence{Port: 8282, Asked: true, Listeners: []Listener{svListen("0.0.0.0:8282", -1)},
			Firewall: []FirewallEvidence{drop(tt.cmd)}})
		var cmds, texts []string
		for _, f := range fs {
			for _, m := range append(append([]i18n.Msg{f.Summary}, f.Evidence...), f.Fix...) {
				if m.IsCmd() {
					cmds = append(cmds, m.Cmd)
				}
				texts = append(texts, p.Text(m))
			}
		}
		all := strings.Join(texts, "\n")
		if !escape.IsSafe(strings.ReplaceAll(all, "\n", " ")) {
			t.Errorf("%s: unsafe output:\n%s", tt.name, all)
		}
		offered := false
		for _, c := range cmds {
			offered = offered || c == tt.cmd
			if strings.Contains(c, "$(") && !strings.Contains(c, "'"+hostile+"'") {
				t.Errorf("%s: offers %s", tt.name, c)
			}
		}
		if offered != tt.offered {
			t.Errorf("%s: offered %v, want %v; commands %q", tt.name, offered, tt.offered, cmds)
		}
		if !tt.offered && !strings.Contains(all, "left out") {
			t.Errorf("%s: no note that the command was left out:\n%s", tt.name, all)
		}
	}
}

func TestDNSServerArg(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.53:53", "192.0.2.53"},
		{"192.0.2.53:5353", "192.0.2.53 -p 5353"},
		{"[2001:db8::53]:53", "2001:db8::53"},
		{"[fe80::1%eth0]:5353", "fe80::1%eth0 -p 5353"},
		{"dns.example", "dns.example"},
		{"a;b", "'a;b'"},
	}
	for _, tt := range tests {
		if got := string(dnsServerArg(tt.in)); got != tt.want {
			t.Errorf("dnsServerArg(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if m := i18n.Cmd("dig +short example.com @%s", dnsServerArg(tt.in)); !m.IsCmd() || m.Cmd != "dig +short example.com @"+tt.want {
			t.Errorf("%q: command %+v", tt.in, m)
		}
	}
}
