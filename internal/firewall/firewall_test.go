package firewall

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// The rule sets in testdata were captured from iptables 1.8.9 and nftables
// 1.0.6 on Linux 6.18, from rules loaded into scratch network namespaces:
// iptables-save -c / ip6tables-save -c (nft back end), iptables-legacy-save,
// iptables-restore of ufw's and Docker's rule layouts, nft -j list ruleset and nft -a
// list ruleset of a native rule set and of firewalld's layout.

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func iptRules(t testing.TB, backend string, files ...string) *Ruleset {
	t.Helper()
	rs := &Ruleset{}
	for _, f := range files {
		fam := "ip"
		if strings.Contains(f, "6") {
			fam = "ip6"
		}
		tables, err := ParseIptablesSave(bytes.NewReader(readTestdata(t, f)), backend, fam)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		rs.Tables = append(rs.Tables, tables...)
	}
	return rs
}

func nftRules(t testing.TB, jsonFile, textFile string) *Ruleset {
	t.Helper()
	var text *bytes.Reader
	if textFile != "" {
		text = bytes.NewReader(readTestdata(t, textFile))
	}
	var tables []*Table
	var err error
	if text != nil {
		tables, err = ParseNftJSON(bytes.NewReader(readTestdata(t, jsonFile)), text, nil)
	} else {
		tables, err = ParseNftJSON(bytes.NewReader(readTestdata(t, jsonFile)), nil, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &Ruleset{Tables: tables}
}

var (
	local4 = []netip.Addr{netip.MustParseAddr("203.0.113.2")}
	local6 = []netip.Addr{netip.MustParseAddr("2001:db8:2::2")}
)

type evalCase struct {
	port     uint16
	family   Family
	iface    string
	action   Action
	chain    string // the decider's chain; "" for none
	policy   bool
	rule     string // substring of the decider's rule text
	redirect uint16 // REDIRECT/DNAT port
	fwd      bool
	noteWhy  string // substring of some note's Why
}

func runCases(t *testing.T, rs *Ruleset, cases []evalCase) {
	t.Helper()
	for _, c := range cases {
		p := Packet{Family: c.family, Port: c.port, InIface: c.iface, Local: local4}
		if c.family == IPv6 {
			p.Local = local6
		}
		if c.family == "" {
			p.Family = IPv4
		}
		r := rs.Evaluate(p)
		name := string(p.Family) + " port " + itoa(c.port)
		if r.Action != c.action {
			t.Errorf("%s: action %s, want %s (decider %+v)", name, r.Action, c.action, r.Decider)
			continue
		}
		switch {
		case c.chain == "" && r.Decider != nil && r.Action != Accept:
			t.Errorf("%s: decider %+v, want none", name, r.Decider)
		case c.chain != "" && r.Decider == nil:
			t.Errorf("%s: no decider, want chain %s", name, c.chain)
		case c.chain != "" && (r.Decider.Chain != c.chain || r.Decider.Policy != c.policy || !strings.Contains(r.Decider.Rule, c.rule)):
			t.Errorf("%s: decider %+v, want chain %s policy %v rule ~%q", name, *r.Decider, c.chain, c.policy, c.rule)
		}
		if c.redirect != 0 && (r.Redirect == nil || r.Redirect.Port != c.redirect) {
			t.Errorf("%s: redirect %+v, want port %d", name, r.Redirect, c.redirect)
		}
		if r.Forwarded != c.fwd {
			t.Errorf("%s: forwarded %v, want %v", name, r.Forwarded, c.fwd)
		}
		if c.noteWhy != "" {
			found := false
			for _, n := range r.Notes {
				found = found || strings.Contains(n.Why, c.noteWhy)
			}
			if !found {
				t.Errorf("%s: no note about %q in %+v", name, c.noteWhy, r.Notes)
			}
		}
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

func TestIptablesNftCaptured(t *testing.T) {
	rs := iptRules(t, BackendIptablesNft, "ipt4-nft.txt", "ipt6-nft.txt")
	runCases(t, rs, []evalCase{
		{port: 22, iface: "eth0", action: Accept, chain: "INPUT", rule: `--comment "ssh in" -j ACCEPT`},
		{port: 80, iface: "eth0", action: Accept, chain: "INPUT", rule: "--dports 80,443,8000:8100"},
		{port: 8100, iface: "eth0", action: Accept, chain: "INPUT", rule: "--dports 80,443,8000:8100"},
		{port: 8282, iface: "eth0", action: Reject, chain: "INPUT", rule: "--reject-with tcp-reset"},
		{port: 3306, iface: "eth0", action: Drop, chain: "INPUT", policy: true, rule: ":INPUT DROP", noteWhy: "source 10.0.0.0/8"},
		{port: 9001, iface: "eth0", action: Drop, chain: "ufw-user-input", rule: "--dport 9001 -j DROP"},
		{port: 9000, iface: "eth0", action: Drop, chain: "INPUT", policy: true},
		{port: 7777, iface: "eth0", action: Drop, chain: "PREROUTING", rule: "--dport 7777 -j DROP"},
		{port: 8080, iface: "eth0", action: Accept, chain: "INPUT", rule: "8000:8100", redirect: 8081},
		{port: 8443, iface: "eth0", action: Accept, redirect: 443, fwd: true},
		{port: 5005, iface: "eth0", action: Accept, chain: "INPUT", rule: "--state NEW"},
		{port: 6000, iface: "eth0", action: Reject, chain: "INPUT", rule: "icmp-port-unreachable"},
		{port: 6001, iface: "eth0", action: Drop, chain: "INPUT", rule: "! -s 192.168.0.0/16"},
		{port: 12345, iface: "", action: Drop, chain: "INPUT", policy: true, noteWhy: "recent"},
		{port: 22, family: IPv6, iface: "eth0", action: Accept, chain: "INPUT"},
		{port: 8282, family: IPv6, iface: "eth0", action: Reject, chain: "INPUT", rule: "icmp6-adm-prohibited"},
		{port: 80, family: IPv6, iface: "eth0", action: Drop, chain: "INPUT", policy: true},
	})
	r := rs.Evaluate(Packet{Family: IPv4, Port: 8282, InIface: "eth0", Local: local4})
	if r.Decider.Pos != 8 || !r.Decider.Counted || r.Decider.Table != "filter" || r.Decider.Base != "INPUT" || r.Decider.RejectWith != "tcp-reset" {
		t.Errorf("8282 decider %+v", *r.Decider)
	}
	// The loopback rule was hit by the capture's own connections.
	lo := rs.Tables[1].Chains["INPUT"].Rules[0]
	if lo.Packets != 6 || lo.Bytes != 300 || lo.Text != "-A INPUT -i lo -j ACCEPT" {
		t.Errorf("loopback rule %+v", lo)
	}
}

func TestIptablesLegacyCaptured(t *testing.T) {
	rs := iptRules(t, BackendIptablesLegacy, "legacy4.txt", "legacy6.txt")
	runCases(t, rs, []evalCase{
		{port: 8282, action: Drop, chain: "INPUT", rule: "--dport 8282 -j DROP"},
		{port: 22, action: Accept, chain: "INPUT", rule: "--dports 22,80"},
		{port: 9999, action: Accept},
		{port: 22, family: IPv6, action: Drop, chain: "INPUT", policy: true},
	})
	if rs.Tables[0].Backend != BackendIptablesLegacy {
		t.Errorf("backend %q", rs.Tables[0].Backend)
	}
}

func TestUFWLayoutCaptured(t *testing.T) {
	rs := iptRules(t, BackendIptablesNft, "ufw-save.txt")
	runCases(t, rs, []evalCase{
		{port: 22, iface: "eth0", action: Accept, chain: "ufw-user-limit-accept", noteWhy: "recent"},
		{port: 80, iface: "eth0", action: Accept, chain: "ufw-user-input", rule: "--dports 80,443"},
		{port: 3306, iface: "eth0", action: Drop, chain: "ufw-user-input", rule: "--dport 3306 -j DROP"},
		{port: 8282, iface: "eth0", action: Drop, chain: "INPUT", policy: true, noteWhy: "source 10.0.0.0/8"},
		{port: 139, iface: "eth0", action: Drop, chain: "ufw-skip-to-policy-input"},
	})
	snap := &Snapshot{Rules: *rs, UFW: &UFW{Enabled: true}}
	open := func(port uint16) Opening {
		return snap.Opening(rs.Evaluate(Packet{Family: IPv4, Port: port, InIface: "eth0", Local: local4}), port)
	}
	if o := open(8282); o.Manager != ManagerUFW || o.Commands[0] != "ufw allow 8282/tcp" {
		t.Errorf("8282: %+v", o)
	}
	if o := open(3306); o.Commands[0] != "ufw insert 1 allow 3306/tcp" {
		t.Errorf("3306 (a deny rule): %+v", o)
	}
	if o := open(80); o.Manager != "" {
		t.Errorf("80 is open, yet %+v", o)
	}
}

// Docker publishes ports by DNAT to a container and accepts them in FORWARD.
func TestDockerLayoutCaptured(t *testing.T) {
	rs := iptRules(t, BackendIptablesNft, "docker-save.txt")
	toDocker := func(netip.Addr) string { return "docker0" }
	p := Packet{Family: IPv4, Port: 8080, InIface: "eth0", Local: local4, OutIface: toDocker}
	r := rs.Evaluate(p)
	if r.Action != Accept || !r.Forwarded || r.Redirect == nil || r.Redirect.Addr != netip.MustParseAddr("172.17.0.2") || r.Redirect.Port != 80 {
		t.Fatalf("published port: %+v redirect %+v", r, r.Redirect)
	}
	if r.Decider == nil || r.Decider.Chain != "DOCKER" || !strings.Contains(r.Decider.Rule, "-d 172.17.0.2/32 ! -i docker0 -o docker0") || r.Uncertain {
		t.Errorf("decider %+v, uncertain %v", r.Decider, r.Uncertain)
	}
	// 8081 goes to a container no DOCKER rule admits: FORWARD's policy drops it.
	p.Port = 8081
	if r := rs.Evaluate(p); r.Action != Drop || r.Decider.Chain != "FORWARD" || !r.Decider.Policy {
		t.Errorf("8081: %+v %+v", r, r.Decider)
	}
	// Without a route lookup the output interface is unknown: the answer says so.
	p.Port, p.OutIface = 8080, nil
	if r := rs.Evaluate(p); !r.Uncertain {
		t.Errorf("without OutIface: %+v", r)
	}
	// Not published: an ordinary port of the host, INPUT accepts.
	p.Port, p.OutIface = 22, toDocker
	if r := rs.Evaluate(p); r.Action != Accept || r.Forwarded || r.Redirect != nil {
		t.Errorf("22: %+v", r)
	}
}

func TestNftNativeCaptured(t *testing.T) {
	rs := nftRules(t, "native.json", "native-a.txt")
	runCases(t, rs, []evalCase{
		{port: 22, iface: "eth0", action: Drop, chain: "in2", rule: "tcp dport 22 drop"},
		{port: 22, family: IPv6, iface: "eth0", action: Accept, chain: "input", rule: `comment "web"`},
		{port: 80, iface: "eth0", action: Accept, chain: "input"},
		{port: 8443, iface: "eth0", action: Accept, chain: "input", rule: "@allowed"},
		{port: 10050, iface: "eth0", action: Accept, chain: "input", rule: "th dport 10000-10100"},
		{port: 5432, family: IPv6, iface: "eth0", action: Drop, chain: "input", policy: true, noteWhy: "fd00::/8"},
		{port: 8282, iface: "eth0", action: Reject, chain: "input", rule: "reject with icmpx admin-prohibited"},
		{port: 8283, iface: "eth0", action: Reject, chain: "input", rule: "reject with tcp reset"},
		{port: 9000, iface: "eth0", action: Accept, chain: "input", rule: "vmap"},
		{port: 9001, iface: "eth0", action: Drop, chain: "input", rule: "vmap"},
		{port: 7000, iface: "eth0", action: Drop, chain: "input", rule: "nfproto ipv4"},
		{port: 7100, iface: "eth0", action: Accept, chain: "input", rule: "limit rate"},
		{port: 7200, iface: "eth0", action: Accept, chain: "input", rule: `iifname "eth0"`},
		{port: 7200, iface: "", action: Drop, chain: "input", policy: true, noteWhy: "interface eth0"},
		{port: 7200, iface: "eth1", action: Drop, chain: "input", policy: true},
		{port: 7300, iface: "eth0", action: Drop, chain: "custom", rule: "tcp dport 7300 drop"},
		{port: 6666, iface: "eth0", action: Drop, chain: "pre"},
		{port: 6667, iface: "eth0", action: Drop, chain: "pre", rule: "fib daddr type local"},
		{port: 8080, iface: "eth0", action: Drop, chain: "input", policy: true, redirect: 8081},
		{port: 8444, iface: "eth0", action: Accept, redirect: 443, fwd: true},
		{port: 1234, iface: "eth0", action: Drop, chain: "input", policy: true, rule: "policy drop"},
	})
	r := rs.Evaluate(Packet{Family: IPv4, Port: 8282, InIface: "eth0", Local: local4})
	d := r.Decider
	if d.Backend != BackendNftables || d.Family != "inet" || d.Table != "filter" || d.Handle != 16 || !d.Counted || d.RejectWith != "admin-prohibited" {
		t.Errorf("8282 decider %+v", *d)
	}
	if r.Uncertain {
		t.Errorf("native rule set must be understood completely: %+v", r.Notes)
	}
	snap := &Snapshot{Rules: *rs}
	if o := snap.Opening(r, 8282); o.Manager != ManagerNftables || o.Commands[0] != "nft insert rule inet filter input tcp dport 8282 accept" {
		t.Errorf("opening %+v", o)
	}
	r = rs.Evaluate(Packet{Family: IPv4, Port: 22, InIface: "eth0", Local: local4})
	if o := snap.Opening(r, 22); o.Commands[0] != "nft insert rule ip extra in2 tcp dport 22 accept" {
		t.Errorf("opening %+v", o)
	}
}

func TestNftWithoutTextDescribesRules(t *testing.T) {
	rs := nftRules(t, "native.json", "")
	r := rs.Evaluate(Packet{Family: IPv4, Port: 8282, InIface: "eth0", Local: local4})
	if r.Action != Reject || !strings.Contains(r.Decider.Rule, "8282") {
		t.Errorf("%+v %+v", r, r.Decider)
	}
}

func TestFirewalldLayoutCaptured(t *testing.T) {
	rs := nftRules(t, "firewalld.json", "firewalld-a.txt")
	runCases(t, rs, []evalCase{
		{port: 22, iface: "eth0", action: Accept, chain: "filter_IN_public_allow"},
		{port: 9090, iface: "", action: Accept, chain: "filter_IN_public_allow"},
		{port: 8282, iface: "eth0", action: Reject, chain: "filter_INPUT", rule: "reject with icmpx admin-prohibited"},
	})
	snap := &Snapshot{Rules: *rs, Firewalld: &Firewalld{DefaultZone: "public"}, FirewalldRunning: true}
	r := rs.Evaluate(Packet{Family: IPv6, Port: 8282, InIface: "eth0", Local: local6})
	o := snap.Opening(r, 8282)
	if o.Manager != ManagerFirewalld || o.Commands[0] != "firewall-cmd --permanent --zone=public --add-port=8282/tcp && firewall-cmd --reload" {
		t.Errorf("opening %+v", o)
	}
}

// iptables-nft tables seen through nft carry xt expressions nft cannot
// show; they are skipped there and read from iptables-save instead.
func TestNftSkipsIptablesTables(t *testing.T) {
	data := readTestdata(t, "iptnft-as-nft.json")
	tables, err := ParseNftJSON(bytes.NewReader(data), nil, func(f, t string) bool { return f == "ip" || f == "ip6" })
	if err != nil || len(tables) != 0 {
		t.Fatalf("got %d tables, %v", len(tables), err)
	}
	tables, err = ParseNftJSON(bytes.NewReader(data), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := (&Ruleset{Tables: tables}).Evaluate(Packet{Family: IPv4, Port: 3306, InIface: "eth0", Local: local4})
	if !r.Uncertain {
		t.Errorf("xt matches must make the result uncertain: %+v", r)
	}
}

func TestNoRules(t *testing.T) {
	r := (&Ruleset{}).Evaluate(Packet{Family: IPv4, Port: 80})
	if r.Action != Accept || r.Decider != nil || r.Chains != 0 {
		t.Errorf("%+v", r)
	}
}

func TestParseIptablesSaveErrors(t *testing.T) {
	for _, in := range []string{
		"-A INPUT -j ACCEPT\n",                            // outside a table
		"*filter\n:INPUT BOGUS [0:0]\n",                   // bad policy
		"*filter\n:NOTACHAIN DROP [0:0]\n",                // policy on a user chain
		"*filter\n[x:1] -A INPUT -j ACCEPT\n",             // bad counters
		"*filter\n-A INPUT -p\n",                          // -p without value
		"*filter\n-A INPUT --bogus 1 -j DROP\n",           // unknown option outside a module
		"*filter\n-A INPUT -m comment --comment \"open\n", // unterminated quote
		"*filter\n-I INPUT -j DROP\n",                     // not -A
		"*filter\n-A INPUT -p tcp --dport 99999 -j DROP\n",
	} {
		if _, err := ParseIptablesSave(strings.NewReader(in), BackendIptablesNft, "ip"); err == nil {
			t.Errorf("ParseIptablesSave(%q): no error", in)
		}
	}
}

func TestParseNftJSONErrors(t *testing.T) {
	for _, in := range []string{"", "{", `{"nftables": 5}`, `{"nftables": [{"table": 5}]}`,
		`{"nftables": [{"rule": {"family": "inet", "table": "t", "chain": "c", "expr": [5]}}]}`} {
		if _, err := ParseNftJSON(strings.NewReader(in), nil, nil); err == nil {
			t.Errorf("ParseNftJSON(%q): no error", in)
		}
	}
}

func TestSplitArgs(t *testing.T) {
	got, err := splitArgs(`-A INPUT -m comment --comment "a \"b\" c" -j LOG --log-prefix "[x] "`)
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, a := range got {
		s = append(s, a.s)
	}
	want := []string{"-A", "INPUT", "-m", "comment", "--comment", `a "b" c`, "-j", "LOG", "--log-prefix", "[x] "}
	if strings.Join(s, "|") != strings.Join(want, "|") {
		t.Errorf("got %q", s)
	}
}

func TestUFWFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"etc/ufw/ufw.conf": {Data: []byte("# /etc/ufw/ufw.conf\nENABLED=yes\nLOGLEVEL=low\n")},
		"etc/default/ufw":  {Data: []byte("IPV6=yes\nDEFAULT_INPUT_POLICY=\"DROP\"\nDEFAULT_OUTPUT_POLICY=\"ACCEPT\"\n")},
		"etc/ufw/user.rules": {Data: []byte(`*filter
:ufw-user-input - [0:0]
### RULES ###

### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in
-A ufw-user-input -p tcp --dport 22 -j ACCEPT -m comment --comment 'dapp_OpenSSH'

### tuple ### deny tcp 3306 0.0.0.0/0 any 0.0.0.0/0 in
-A ufw-user-input -p tcp --dport 3306 -j DROP

### tuple ### allow tcp 8282 0.0.0.0/0 any 10.0.0.0/8 in
-A ufw-user-input -p tcp --dport 8282 -s 10.0.0.0/8 -j ACCEPT

### tuple ### allow_log any 8000:8100 0.0.0.0/0 any 0.0.0.0/0 in_eth0 comment=776562
-A ufw-user-input -i eth0 -p tcp --dport 8000:8100 -j ACCEPT

### tuple ### allow tcp 80,443 0.0.0.0/0 any 0.0.0.0/0 in
-A ufw-user-input -p tcp -m multiport --dports 80,443 -j ACCEPT

### tuple ### route:allow tcp 9000 0.0.0.0/0 any 0.0.0.0/0 in_eth0!out_eth1
### tuple ### allow tcp 5432 0.0.0.0/0 any 0.0.0.0/0 out

### END RULES ###
COMMIT
`)},
		"etc/ufw/user6.rules": {Data: []byte("### tuple ### allow tcp 8282 ::/0 any ::/0 in\n")},
	}
	u := ReadUFW(fsys)
	if u == nil || !u.Enabled || u.DefaultInput != "DROP" || u.RulesErr != nil {
		t.Fatalf("%+v", u)
	}
	if len(u.Rules) != 6 {
		t.Fatalf("want 6 incoming rules (route and out skipped), got %+v", u.Rules)
	}
	if u.Rules[3].Action != "allow" || u.Rules[3].Iface != "eth0" || u.Rules[3].Proto != "any" {
		t.Errorf("allow_log rule %+v", u.Rules[3])
	}
	tests := []struct {
		port   uint16
		v6     bool
		action string
		tuple  string
	}{
		{22, false, "allow", "allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in"},
		{3306, false, "deny", "deny tcp 3306"},
		{8282, false, "drop", ""}, // only from 10.0.0.0/8
		{8282, true, "allow", "allow tcp 8282 ::/0"},
		{8050, false, "drop", ""}, // only on eth0
		{443, false, "allow", "80,443"},
		{9000, false, "drop", ""},
	}
	for _, tt := range tests {
		a, r := u.Decide(tt.port, tt.v6)
		if a != tt.action || (tt.tuple == "") != (r == nil) || r != nil && !strings.Contains(r.Tuple, tt.tuple) {
			t.Errorf("Decide(%d, v6=%v) = %s, %+v; want %s %q", tt.port, tt.v6, a, r, tt.action, tt.tuple)
		}
	}
	if ReadUFW(fstest.MapFS{}) != nil {
		t.Error("no ufw.conf: want nil")
	}
	if u := ReadUFW(fstest.MapFS{"etc/ufw/ufw.conf": {Data: []byte("ENABLED=no\n")}}); u == nil || u.Enabled {
		t.Errorf("disabled: %+v", u)
	}
}

func TestFirewalldFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"etc/firewalld/firewalld.conf": {Data: []byte("# firewalld config file\nDefaultZone=public\nFirewallBackend=nftables\n")},
		"usr/lib/firewalld/zones/public.xml": {Data: []byte(`<?xml version="1.0" encoding="utf-8"?>
<zone>
  <short>Public</short>
  <description>For use in public areas.</description>
  <service name="ssh"/>
  <service name="dhcpv6-client"/>
  <service name="cockpit"/>
  <forward/>
</zone>
`)},
		"etc/firewalld/zones/public.xml": {Data: []byte(`<?xml version="1.0" encoding="utf-8"?>
<zone>
  <short>Public</short>
  <service name="ssh"/>
  <service name="http"/>
  <port port="8000-8100" protocol="tcp"/>
  <port port="9999" protocol="udp"/>
  <rule family="ipv4"><source address="10.0.0.0/8"/><port port="8282" protocol="tcp"/><accept/></rule>
</zone>
`)},
		"usr/lib/firewalld/zones/trusted.xml": {Data: []byte(`<?xml version="1.0" encoding="utf-8"?>
<zone target="ACCEPT"><short>Trusted</short><interface name="wg0"/></zone>
`)},
		"usr/lib/firewalld/zones/drop.xml": {Data: []byte(`<?xml version="1.0" encoding="utf-8"?>
<zone target="DROP"><short>Drop</short></zone>
`)},
		"usr/lib/firewalld/services/http.xml": {Data: []byte(`<?xml version="1.0" encoding="utf-8"?>
<service><short>WWW (HTTP)</short><port protocol="tcp" port="80"/></service>
`)},
	}
	f := ReadFirewalld(fsys)
	if f == nil || f.DefaultZone != "public" {
		t.Fatalf("%+v", f)
	}
	pub := f.Zones["public"]
	if pub.RichRules != 1 || len(pub.Services) != 2 || len(pub.Ports) != 2 {
		t.Errorf("/etc must override /usr/lib: %+v", pub)
	}
	tests := []struct {
		zone string
		port uint16
		how  string
		ok   bool
	}{
		{"public", 22, "service ssh", true}, // from the built-in table: no ssh.xml here
		{"public", 80, "service http", true},
		{"public", 8050, "port 8050/tcp", true},
		{"public", 9999, "", false}, // udp only
		{"public", 8282, "", false}, // only a rich rule from 10.0.0.0/8
		{"trusted", 1, "target ACCEPT", true},
		{"drop", 22, "", false},
		{"nosuch", 22, "", false},
	}
	for _, tt := range tests {
		how, ok := f.Allows(tt.zone, tt.port)
		if how != tt.how || ok != tt.ok {
			t.Errorf("Allows(%s, %d) = %q, %v", tt.zone, tt.port, how, ok)
		}
	}
	if z := f.ZoneFor("wg0"); z != "trusted" {
		t.Errorf("ZoneFor(wg0) = %s", z)
	}
	if z := f.ZoneFor("eth0"); z != "public" {
		t.Errorf("ZoneFor(eth0) = %s", z)
	}
	if ReadFirewalld(fstest.MapFS{}) != nil {
		t.Error("not installed: want nil")
	}
	if _, err := ParseZone("x", strings.NewReader("<zone><port")); err == nil {
		t.Error("broken XML: no error")
	}
}

func TestIncompatibleTables(t *testing.T) {
	out := []byte("# Table `filter' contains incompatible base-chains, use 'nft' tool to list them.\n*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n")
	if m := incompatibleTables(out); !m["filter"] || len(m) != 1 {
		t.Errorf("%v", m)
	}
}

func FuzzParseIptablesSave(f *testing.F) {
	for _, name := range []string{"ipt4-nft.txt", "ipt6-nft.txt", "legacy4.txt", "ufw-save.txt", "docker-save.txt"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte("*filter\n:INPUT DROP [1:2]\n-A INPUT ! -s 1.2.3.4/32 -p tcp -m multiport ! --dports 1:2,3 -g x\n-A x -j MARK --set-xmark 0x1/0xff\nCOMMIT\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tables, err := ParseIptablesSave(bytes.NewReader(data), BackendIptablesNft, "ip")
		if err != nil && len(tables) == 0 {
			return
		}
		rs := &Ruleset{Tables: tables}
		for _, p := range []uint16{22, 80, 8282} {
			r := rs.Evaluate(Packet{Family: IPv4, Port: p, InIface: "eth0", Local: local4})
			if r.Action != Accept && r.Action != Drop && r.Action != Reject && r.Action != Queue {
				t.Fatalf("action %q", r.Action)
			}
			if r.Action != Accept && r.Decider == nil {
				t.Fatalf("%s without a decider", r.Action)
			}
		}
	})
}

// nftSeeds splits captured rule sets into one small document per rule (with
// its table's chains and sets): the fuzzer minimises large inputs slowly.
func nftSeeds(f *testing.F, name string) [][]byte {
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(readTestdata(f, name), &doc); err != nil {
		f.Fatal(err)
	}
	var shared []map[string]json.RawMessage
	for _, o := range doc.Nftables {
		if _, ok := o["chain"]; ok {
			shared = append(shared, o)
		} else if _, ok := o["set"]; ok {
			shared = append(shared, o)
		}
	}
	var out [][]byte
	for _, o := range doc.Nftables {
		if _, ok := o["rule"]; !ok {
			continue
		}
		one := struct {
			Nftables []map[string]json.RawMessage `json:"nftables"`
		}{append(append([]map[string]json.RawMessage{}, shared...), o)}
		b, err := json.Marshal(one)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func FuzzParseNftJSON(f *testing.F) {
	for _, name := range []string{"native.json", "firewalld.json"} {
		for _, seed := range nftSeeds(f, name) {
			f.Add(seed)
		}
	}
	f.Add([]byte(`{"nftables":[{"chain":{"family":"inet","table":"t","name":"c","hook":"input","prio":0,"policy":"drop"}},{"rule":{"family":"inet","table":"t","chain":"c","handle":1,"expr":[{"jump":{"target":"c"}}]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tables, err := ParseNftJSON(bytes.NewReader(data), nil, nil)
		if err != nil {
			return
		}
		rs := &Ruleset{Tables: tables}
		for _, fam := range []Family{IPv4, IPv6} {
			r := rs.Evaluate(Packet{Family: fam, Port: 8282, InIface: "eth0", Local: local4})
			if r.Action != Accept && r.Decider == nil {
				t.Fatalf("%s without a decider", r.Action)
			}
		}
	})
}
