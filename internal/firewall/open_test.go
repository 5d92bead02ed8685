package firewall

import (
	"strings"
	"testing"
)

// hostileNames are names a rule set can carry that must never reach a
// command a person pastes.
var hostileNames = []string{
	"$(touch${IFS}/tmp/pw)", "`id`", "a;reboot", "a|sh", "a&&b", "a b", "a\tb", "a\nb", "a\rb",
	"'a'", `"a"`, `a\b`, "a>b", "a<b", "*", "?", "~root", "-rf", "--zone=x", "a/b", "a#b", "a!b",
	"\x1b[2J", "a\u202eb", "publіc" /* Cyrillic і */, "", ".", "..", strings.Repeat("a", 300),
}

func TestSafeNames(t *testing.T) {
	for _, s := range []string{"public", "drop", "nm-shared", "allow-host-ipv6", "FedoraWorkstation", "work_2"} {
		if !SafeZoneName(s) {
			t.Errorf("zone %q refused", s)
		}
	}
	for _, s := range []string{"eth0", "wg0", "enp3s0f1", "br-1a2b3c4d5e6f", "veth1.100", "docker0"} {
		if !SafeIfaceName(s) {
			t.Errorf("interface %q refused", s)
		}
	}
	for _, s := range []string{"filter", "firewalld", "input", "filter_INPUT", "egress.v2", "_x"} {
		if !safeNftName(s) {
			t.Errorf("nft name %q refused", s)
		}
	}
	for _, s := range []string{"INPUT", "ufw-user-input", "DOCKER-USER", "KUBE-SVC-XPGD46QRK7WJZT7O", "f2b-sshd"} {
		if !safeIptChain(s) {
			t.Errorf("iptables chain %q refused", s)
		}
	}
	for _, s := range hostileNames {
		if SafeZoneName(s) || SafeIfaceName(s) || safeNftName(s) || safeIptChain(s) || safeNftFamily(s) || safeIptTable(s) {
			t.Errorf("hostile name %q accepted", s)
		}
	}
	if SafeIfaceName("sixteen-chars-xx") || safeIptChain(strings.Repeat("A", 29)) || SafeZoneName(strings.Repeat("z", 33)) {
		t.Error("an over-long name was accepted")
	}
}

// shellMeta are the bytes that would make a pasted line do more than the
// command: none may appear in an offered command outside what the command
// itself writes ("&&" between firewall-cmd's two steps).
func checkCommand(t *testing.T, what, cmd string) {
	t.Helper()
	c := strings.ReplaceAll(cmd, " && firewall-cmd --reload", "")
	if strings.ContainsAny(c, "$`;|&<>()'\"\\*?~!#{}[]\n\r\t\x1b") || strings.ContainsFunc(c, func(r rune) bool { return r > 0x7e }) {
		t.Errorf("%s: unsafe command %q", what, cmd)
	}
}

func TestOpeningHostileNames(t *testing.T) {
	drop := func(h Hit) Result { return Result{Family: IPv4, Port: 8282, Action: Drop, Decider: &h} }
	for _, name := range hostileNames {
		cases := []struct {
			what string
			snap *Snapshot
			r    Result
			want string // the manager; the command, when offered, must be safe
		}{
			{"iptables chain IN_<name>", &Snapshot{}, drop(Hit{Backend: BackendIptablesNft, Family: "ip", Table: "filter", Chain: "IN_" + name, Base: "INPUT"}), ""},
			{"firewalld nft chain", &Snapshot{FirewalldRunning: true}, drop(Hit{Backend: BackendNftables, Family: "inet", Table: "firewalld", Chain: "filter_IN_" + name + "_deny", Base: "filter_INPUT"}), ManagerFirewalld},
			{"firewalld default zone", &Snapshot{FirewalldRunning: true, Firewalld: &Firewalld{DefaultZone: name}}, drop(Hit{Backend: BackendIptablesNft, Family: "ip", Table: "filter", Chain: "INPUT", Base: "INPUT", Policy: true}), ""},
			{"nft table", &Snapshot{}, drop(Hit{Backend: BackendNftables, Family: "inet", Table: name, Chain: "input", Base: "input"}), ManagerNftables},
			{"nft base chain", &Snapshot{}, drop(Hit{Backend: BackendNftables, Family: "inet", Table: "filter", Chain: "x", Base: name}), ManagerNftables},
			{"nft family", &Snapshot{}, drop(Hit{Backend: BackendNftables, Family: name, Table: "filter", Chain: "input", Base: "input"}), ManagerNftables},
			{"iptables table", &Snapshot{}, drop(Hit{Backend: BackendIptablesLegacy, Family: "ip", Table: name, Chain: "x", Base: "INPUT"}), ManagerIptables},
			{"iptables base", &Snapshot{}, drop(Hit{Backend: BackendIptablesNft, Family: "ip6", Table: "filter", Chain: "x", Base: name}), ManagerIptables},
		}
		for _, c := range cases {
			o := c.snap.Opening(c.r, 8282)
			what := c.what + " " + strings.ToValidUTF8(name, "?")
			if c.want != "" && o.Manager != c.want {
				t.Errorf("%s: manager %q, want %q", what, o.Manager, c.want)
			}
			for _, cmd := range o.Commands {
				checkCommand(t, what, cmd)
				if strings.Contains(cmd, name) && name != "" {
					t.Errorf("%s: the name reached the command %q", what, cmd)
				}
			}
		}
	}
}

func TestOpeningCommands(t *testing.T) {
	drop := func(h Hit) Result { return Result{Family: IPv4, Port: 8282, Action: Drop, Decider: &h} }
	for _, c := range []struct {
		what    string
		snap    *Snapshot
		r       Result
		manager string
		cmd     string // "" for none offered
	}{
		{"firewalld zone from the chain", &Snapshot{}, drop(Hit{Backend: BackendIptablesNft, Family: "ip", Table: "filter", Chain: "IN_work_deny", Base: "INPUT"}),
			ManagerFirewalld, "firewall-cmd --permanent --zone=work --add-port=8282/tcp && firewall-cmd --reload"},
		{"a chain that only looks like firewalld's", &Snapshot{}, drop(Hit{Backend: BackendIptablesNft, Family: "ip", Table: "filter", Chain: "IN_$(touch${IFS}/tmp/pw)", Base: "INPUT"}),
			ManagerIptables, "iptables -I INPUT -p tcp --dport 8282 -j ACCEPT"},
		{"firewalld's nft table, hostile zone", &Snapshot{}, drop(Hit{Backend: BackendNftables, Family: "inet", Table: "firewalld", Chain: "filter_IN_$(id)", Base: "filter_INPUT"}),
			ManagerFirewalld, ""},
		{"firewalld running, default zone", &Snapshot{FirewalldRunning: true, Firewalld: &Firewalld{DefaultZone: "home"}}, drop(Hit{Backend: BackendIptablesNft, Family: "ip", Table: "filter", Chain: "INPUT", Base: "INPUT", Policy: true}),
			ManagerFirewalld, "firewall-cmd --permanent --zone=home --add-port=8282/tcp && firewall-cmd --reload"},
		{"legacy nat", &Snapshot{legacyNamed: true}, drop(Hit{Backend: BackendIptablesLegacy, Family: "ip6", Table: "mangle", Chain: "PREROUTING", Base: "PREROUTING"}),
			ManagerIptables, "ip6tables-legacy -t mangle -I PREROUTING -p tcp --dport 8282 -j ACCEPT"},
		{"accepted", &Snapshot{}, Result{Action: Accept, Decider: &Hit{Chain: "INPUT"}}, "", ""},
	} {
		o := c.snap.Opening(c.r, 8282)
		got := ""
		if len(o.Commands) > 0 {
			got = o.Commands[0]
		}
		if o.Manager != c.manager || got != c.cmd {
			t.Errorf("%s: %q %q, want %q %q", c.what, o.Manager, got, c.manager, c.cmd)
		}
	}
}

// A chain name carrying shell syntax, read from real iptables-save output:
// the walk names it (raw), the opening never carries it.
func TestHostileChainFromSave(t *testing.T) {
	save := "*filter\n:INPUT ACCEPT [0:0]\n:IN_$(touch${IFS}/tmp/pw) - [0:0]\n" +
		"[3:180] -A INPUT -j IN_$(touch${IFS}/tmp/pw)\n" +
		"[3:180] -A IN_$(touch${IFS}/tmp/pw) -p tcp -m tcp --dport 8282 -j DROP\nCOMMIT\n"
	tables, err := ParseIptablesSave(strings.NewReader(save), BackendIptablesNft, "ip")
	if err != nil {
		t.Fatal(err)
	}
	rs := &Ruleset{Tables: tables}
	r := rs.Evaluate(Packet{Family: IPv4, Port: 8282, InIface: "eth0", Local: local4})
	if r.Action != Drop || r.Decider.Chain != "IN_$(touch${IFS}/tmp/pw)" {
		t.Fatalf("%+v %+v", r, r.Decider)
	}
	for _, snap := range []*Snapshot{{}, {FirewalldRunning: true, Firewalld: &Firewalld{DefaultZone: "public"}}} {
		o := snap.Opening(r, 8282)
		if len(o.Commands) != 1 || o.Commands[0] != "iptables -I INPUT -p tcp --dport 8282 -j ACCEPT" {
			t.Errorf("firewalld running %v: %+v", snap.FirewalldRunning, o)
		}
	}
}
