package firewall

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"testing/fstest"
)

// Fuzz targets for the parsers of outside text that had none, and hostile
// seeds for the two that had. Seeds stay small: the fuzzer minimises a
// large interesting input for minutes (sizes are unit-tested instead, in
// bound_test.go). Each checks what must hold for any input: no
// panic, bounded strings, a decision with a decider, commands only with
// safe names.

// hostileText are seeds every text parser gets.
var hostileText = []string{
	"", "\x00", "\xff\xfe", strings.Repeat("A", 300), strings.Repeat("\n", 50),
	"\x1b]0;owned\x07\x1b[2J", "a\u202eb", "$(touch${IFS}/tmp/pw)", "`id`;reboot",
	strings.Repeat("{", 100), strings.Repeat("}", 100), "\r\n\r\n",
}

func checkStrings(t *testing.T, what string, ss ...string) {
	t.Helper()
	for _, s := range ss {
		if len(s) > maxRuleLine {
			t.Fatalf("%s: %d bytes kept", what, len(s))
		}
	}
}

func FuzzParseUFWRules(f *testing.F) {
	f.Add([]byte("### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in\n"))
	f.Add([]byte("### tuple ### deny tcp 25 0.0.0.0/0 any 0.0.0.0/0 out\n### tuple ### allow any 53 0.0.0.0/0 any 0.0.0.0/0 out_wg0\n"))
	f.Add([]byte("### tuple ### allow_log any 8000:8100 0.0.0.0/0 any 0.0.0.0/0 in_eth0 comment=776562\n"))
	f.Add([]byte("### tuple ### route:allow tcp 9000 0.0.0.0/0 any 0.0.0.0/0 in_eth0!out_eth1\n"))
	f.Add([]byte("### tuple ### limit tcp 1:65535 ::/0 any ::/0 in\n### tuple ### reject tcp 80,443,8000:8100 ::/0 any 2001:db8::/32 in\n"))
	f.Add([]byte("### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in_$(reboot)\n### tuple ### deny tcp 99999 1.2.3.4/99 any x out_\x1b[2J\n"))
	f.Add([]byte("### tuple ###\n### tuple ### a b c d e f g h i j k\n### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=" + strings.Repeat("ff", 300) + "\n"))
	for _, s := range hostileText {
		f.Add([]byte("### tuple ### " + s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, out, _ := parseUFWRules(bytes.NewReader(data), false)
		for _, r := range append(in, out...) {
			checkStrings(t, "tuple", r.Tuple, r.Action, r.DPort, r.Iface)
			if len(r.Tuple) > maxText {
				t.Fatalf("tuple of %d bytes", len(r.Tuple))
			}
		}
		u := ReadUFW(fstest.MapFS{
			"etc/ufw/ufw.conf":   {Data: data},
			"etc/default/ufw":    {Data: data},
			"etc/ufw/user.rules": {Data: data},
		})
		if u == nil {
			t.Fatal("ufw.conf exists: ReadUFW is nil")
		}
		if len(u.DefaultInput) > maxName || len(u.DefaultOutput) > maxName {
			t.Fatalf("policies of %d, %d bytes", len(u.DefaultInput), len(u.DefaultOutput))
		}
		for _, p := range []uint16{22, 80, 8282} {
			u.Decide(p, false)
			u.DecideOutput(Conn{Family: IPv4, Dst: netip.MustParseAddr("198.51.100.3"), Port: p, OutIface: "eth0", Src: netip.MustParseAddr("203.0.113.2")})
		}
	})
}

func FuzzParseZone(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0" encoding="utf-8"?><zone target="ACCEPT"><service name="ssh"/><port port="8000-8100" protocol="tcp"/><interface name="wg0"/><source address="10.0.0.0/8"/><rule><accept/></rule></zone>`))
	f.Add([]byte(`<zone><port port="99999" protocol="tcp"/><port port="a-b" protocol="tcp"/><port port="" protocol=""/></zone>`))
	f.Add([]byte(`<!DOCTYPE zone [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><zone target="&b;"/>`))
	f.Add([]byte(`<zone target="$(touch${IFS}/tmp/pw)"><interface name="` + "\x1b[2J" + `"/><service name="a&#10;b"/></zone>`))
	f.Add([]byte(strings.Repeat("<zone>", 200)))
	f.Add([]byte(`<zone><port port="1" protocol="tcp"/>` + strings.Repeat(`<service name="x"/>`, 50) + `</zone>`))
	for _, s := range hostileText {
		f.Add([]byte("<zone>" + s + "</zone>"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		z, err := ParseZone("z", bytes.NewReader(data))
		if err == nil {
			fw := &Firewalld{DefaultZone: "z", Zones: map[string]*Zone{"z": z}, Services: map[string][]PortProto{}}
			for _, p := range []uint16{22, 80, 8050} {
				if how, ok := fw.Allows("z", p); ok != (how != "") {
					t.Fatalf("Allows: %q %v", how, ok)
				}
			}
			fw.ZoneFor("wg0")
		}
		ps, err := ParseService(bytes.NewReader(data))
		if err == nil {
			fw := &Firewalld{Zones: map[string]*Zone{"z": {Services: []string{"s"}}}, Services: map[string][]PortProto{"s": ps}}
			fw.Allows("z", 80)
		}
	})
}

// nftTextDoc is the JSON the text seeds describe; kept small, as each
// input is parsed with it.
const nftTextDoc = `{"nftables": [{"metainfo": {"json_schema_version": 1}}, {"table": {"family": "inet", "name": "t"}},
{"chain": {"family": "inet", "table": "t", "name": "c", "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
{"chain": {"family": "inet", "table": "t", "name": "e", "type": "filter", "hook": "output", "prio": 0, "policy": "accept"}},
{"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 4, "comment": "ssh", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"accept": null}]}},
{"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 5, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}}, {"drop": null}]}},
{"rule": {"family": "inet", "table": "t", "chain": "e", "handle": 6, "expr": [{"reject": null}]}}]}`

const nftTextSeed = "table inet t { # handle 1\n\tchain c { # handle 1\n\t\ttype filter hook input priority filter; policy drop;\n" +
	"\t\ttcp dport 22 accept comment \"ssh\" # handle 4\n\t\ttcp dport 80 drop # handle 5\n\t}\n" +
	"\tchain e { # handle 2\n\t\ttype filter hook output priority filter; policy accept;\n\t\treject # handle 6\n\t}\n}\n"

func FuzzParseNftText(f *testing.F) {
	f.Add([]byte(nftTextSeed))
	f.Add([]byte(strings.Replace(nftTextSeed, `comment "ssh" # handle 4`, `comment "x # handle 5" # handle 4`, 1)))
	f.Add([]byte(strings.Replace(nftTextSeed, `comment "ssh"`, "comment \"a\n}\n}\ntable inet t {\nchain e {\nx # handle 6\"", 1)))
	f.Add([]byte("table netdev e {\nchain c {\ntype filter hook egress device \"$(id)\x1b[2J\" priority 0;\n# handle -1\n# handle 99999999999999999999\n"))
	f.Add([]byte(strings.Repeat("table inet t {\n", 20) + strings.Repeat("}\n", 60)))
	for _, s := range hostileText {
		f.Add([]byte("table inet t { # handle 1\n\tchain c { # handle 1\n\t\t" + s + " # handle 5\n"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		txt, err := parseNftText(bytes.NewReader(data))
		if err != nil {
			return
		}
		for k, v := range txt.rules {
			if k.handle <= 0 || len(v) > maxRuleLine {
				t.Fatalf("handle %d, %d bytes", k.handle, len(v))
			}
		}
		for _, d := range txt.devs {
			if len(d) > maxName {
				t.Fatalf("device of %d bytes", len(d))
			}
		}
		tables, err := ParseNftJSON(strings.NewReader(nftTextDoc), bytes.NewReader(data), nil)
		if err != nil {
			t.Fatalf("the JSON alone is valid: %v", err)
		}
		for _, c := range tables[0].Chains {
			for _, r := range c.Rules {
				if len(r.Text) > maxText || r.Text == "" {
					t.Fatalf("rule text of %d bytes", len(r.Text))
				}
				// A rule's text never ends in a comment that is not its
				// own (nft prints the rule's comment last).
				own := r.Handle == 4 && strings.HasSuffix(r.Text, `comment "ssh"`)
				if !own && trailingComment.MatchString(r.Text) {
					t.Fatalf("rule %d got a text with another comment: %q", r.Handle, r.Text)
				}
			}
		}
	})
}

// checkEval holds for any evaluation: a decision has a decider, texts are
// bounded, and an offered command carries only safe names.
func checkEval(t *testing.T, snap *Snapshot, r Result, open Opening) {
	t.Helper()
	if r.Action != Accept && r.Action != Drop && r.Action != Reject && r.Action != Queue {
		t.Fatalf("action %q", r.Action)
	}
	if r.Action != Accept && r.Decider == nil {
		t.Fatalf("%s without a decider", r.Action)
	}
	if r.Decider != nil && len(r.Decider.Rule) > maxText {
		t.Fatalf("decider rule of %d bytes", len(r.Decider.Rule))
	}
	for _, n := range r.Notes {
		if len(n.Why) > maxText || len(n.Rule) > maxText {
			t.Fatalf("note of %d/%d bytes", len(n.Why), len(n.Rule))
		}
	}
	if len(r.Notes) > maxNotes {
		t.Fatalf("%d notes", len(r.Notes))
	}
	for _, c := range open.Commands {
		checkCommand(t, "fuzz", c)
	}
}

func fuzzEvaluate(t *testing.T, tables []*Table) {
	rs := &Ruleset{Tables: tables}
	snap := &Snapshot{Rules: *rs, Read: []string{"fuzz"}, UFW: &UFW{Enabled: true}, FirewalldRunning: true, Firewalld: &Firewalld{DefaultZone: "public"}}
	dst := netip.MustParseAddr("198.51.100.3")
	for _, p := range []uint16{22, 80, 8282} {
		r := rs.Evaluate(Packet{Family: IPv4, Port: p, InIface: "eth0", Local: local4})
		checkEval(t, snap, r, snap.Opening(r, p))
		c := Conn{Family: IPv4, Dst: dst, Port: p, OutIface: "eth0", Src: local4[0], Local: local4, Owner: &Owner{UID: 1000}}
		o := snap.Outgoing(c)
		checkEval(t, snap, o.Result, snap.OutgoingOpening(o, c))
	}
}

// Seeds that target the walk and the commands: loops, deep jumps, hostile
// names in every place a command takes one.
var hostileSave = []string{
	"*filter\n:INPUT DROP [0:0]\n:OUTPUT DROP [0:0]\n:a - [0:0]\n:b - [0:0]\n-A INPUT -j a\n-A a -j b\n-A b -j a\n-A OUTPUT -j a\nCOMMIT\n",
	"*filter\n:INPUT ACCEPT [0:0]\n:IN_$(touch${IFS}/tmp/pw) - [0:0]\n-A INPUT -j IN_$(touch${IFS}/tmp/pw)\n-A IN_$(touch${IFS}/tmp/pw) -j DROP\nCOMMIT\n",
	"*$(reboot)\n:INPUT DROP [0:0]\nCOMMIT\n",
	"*filter\n:OUTPUT ACCEPT [0:0]\n:x\x1b[2J - [0:0]\n-A OUTPUT -m owner --uid-owner 1000-999 -m comment --comment \"\x1b]0;x\x07\" -j x\x1b[2J\n-A x\x1b[2J -o wg+ -p tcp -m multiport --sports 1:65535 -j REJECT --reject-with tcp-reset\nCOMMIT\n",
	"*nat\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p tcp -j DNAT --to-destination [::1]:99999\n-A OUTPUT -p tcp -j DNAT --to-destination 1.2.3.4:-\nCOMMIT\n",
	"*filter\n:INPUT DROP [18446744073709551615:18446744073709551615]\n[99999999999999999999:1] -A INPUT -j DROP\nCOMMIT\n",
	"*filter\n-A INPUT " + strings.Repeat("! ", 100) + "-j DROP\n",
	"*filter\n-A INPUT -m " + strings.Repeat("x", 300) + " -j DROP\n",
}

func FuzzParseIptablesSaveOutput(f *testing.F) {
	for _, name := range []string{"ipt4-nft.txt", "legacy4.txt", "ufw-save.txt", "docker-save.txt"} {
		f.Add(readTestdata(f, name))
	}
	for _, s := range append(hostileSave, hostileText...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tables, err := ParseIptablesSave(bytes.NewReader(data), BackendIptablesNft, "ip")
		if err != nil && len(tables) == 0 {
			return
		}
		fuzzEvaluate(t, tables)
	})
}

var hostileNftJSON = []string{
	`{"nftables": [{"metainfo": {"json_schema_version": 2}}, {"table": {"family": "inet", "name": "t"}}]}`,
	`{"nftables": [{"table": {"family": "inet", "name": "$(id)"}}, {"chain": {"family": "inet", "table": "$(id)", "name": "c;reboot", "hook": "output", "prio": 0, "policy": "drop"}}]}`,
	`{"nftables": [{"table": {"family": "inet", "name": "firewalld"}}, {"chain": {"family": "inet", "table": "firewalld", "name": "filter_OUT_policy_$(id)_deny", "hook": "output", "prio": 0, "policy": "drop"}}]}`,
	`{"nftables": [{"table": {"family": "inet", "name": "t"}}, {"map": {"family": "inet", "table": "t", "name": "m", "elem": [[1, {"vmap": {"key": {"meta": {"key": "mark"}}, "data": "@m"}}]]}},` +
		`{"chain": {"family": "inet", "table": "t", "name": "c", "hook": "output", "prio": 0}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "expr": [{"vmap": {"key": {"meta": {"key": "mark"}}, "data": "@m"}}]}}]}`,
	`{"nftables": [{"table": {"family": "inet", "name": "t"}}, {"chain": {"family": "inet", "table": "t", "name": "c", "hook": "output", "prio": 0}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "comment": "a\n}\n", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "sport"}}, "right": {"range": [70000, 1]}}}, {"reject": null}]}}]}`,
	`{"nftables": [{"table": {"family": "inet", "name": "t"}}, {"chain": {"family": "inet", "table": "t", "name": "c", "hook": "output", "prio": 0}}, {"rule": {"family": "inet", "table": "t", "chain": "c", "expr": [{"match": {"op": "in", "left": {"meta": {"key": "skuid"}}, "right": {"set": [1000, {"range": [0, 99]}, "root"]}}}, {"drop": null}]}}]}`,
	`{"nftables": [{"table": {"family": "netdev", "name": "e"}}, {"chain": {"family": "netdev", "table": "e", "name": "c", "hook": "egress", "prio": 0, "dev": 5}}, {"rule": {"family": "netdev", "table": "e", "chain": "c", "expr": [{"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["saddr"]}}, "right": "local"}}, {"drop": null}]}}]}`,
	`{"nftables": [` + strings.Repeat(`{"table": {"family": "inet", "name": "t"}},`, 50) + `{}]}`,
}

func FuzzParseNftJSONOutput(f *testing.F) {
	for _, name := range []string{"native.json", "firewalld.json", "output-native.json"} {
		for _, seed := range nftSeeds(f, name) {
			f.Add(seed)
		}
	}
	for _, s := range append(hostileNftJSON, hostileText...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tables, err := ParseNftJSON(bytes.NewReader(data), nil, nil)
		if err != nil {
			return
		}
		fuzzEvaluate(t, tables)
	})
}
