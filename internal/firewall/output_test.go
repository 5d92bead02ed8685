package firewall

import (
	"net/netip"
	"strings"
	"testing"
	"testing/fstest"
)

// output-native.json and output-native-a.txt were captured from nft 1.0.6
// (Linux 6.18) in a scratch namespace with a veth named eth0: a client-side
// rule set with a blocklist set, a verdict map on the destination, owner
// and source-port rules, a nat output DNAT followed by a postrouting drop,
// and a netdev egress chain on eth0.
func TestOutputNftCaptured(t *testing.T) {
	rs := nftRules(t, "output-native.json", "output-native-a.txt")
	src := netip.MustParseAddr("203.0.113.2")
	conn := func(dst string, port uint16) Conn {
		return Conn{Family: IPv4, Dst: netip.MustParseAddr(dst), Port: port, OutIface: "eth0", Src: src, Local: local4, Owner: &Owner{UID: 1000, GID: 1000}}
	}
	for _, tt := range []struct {
		c          Conn
		action     Action
		chain      string
		rule       string
		rejectWith string
		redirect   uint16
		uncertain  bool
		noteWhy    string
	}{
		{c: conn("198.51.100.3", 443), action: Accept},
		{c: conn("192.0.2.77", 443), action: Reject, chain: "out", rule: `comment "blocklist"`, rejectWith: "admin-prohibited"},
		{c: conn("198.51.100.66", 22), action: Reject, chain: "out", rule: "@deny4", rejectWith: "admin-prohibited"},
		{c: conn("198.51.100.10", 80), action: Drop, chain: "out", rule: "vmap"},
		{c: conn("198.51.100.11", 80), action: Accept, chain: "out", rule: "vmap"},
		{c: conn("203.0.113.2", 80), action: Accept, chain: "out", rule: "fib daddr type local"},
		{c: conn("198.51.100.3", 25), action: Accept}, // uid 1000, not 1001
		{c: func() Conn { c := conn("198.51.100.3", 25); c.Owner.UID = 1001; return c }(), action: Reject, chain: "out", rule: "no mail from 1001", rejectWith: "tcp-reset"},
		{c: func() Conn { c := conn("198.51.100.3", 25); c.Owner = nil; return c }(), action: Accept, uncertain: true, noteWhy: "skuid"},
		{c: func() Conn { c := conn("198.51.100.3", 80); c.SrcPort = 1022; return c }(), action: Drop, chain: "out", rule: "privileged source ports"},
		{c: conn("198.51.100.20", 80), action: Drop, chain: "post", rule: "after the dnat", redirect: 8080},
		{c: conn("198.51.100.30", 443), action: Drop, chain: "e", rule: "198.51.100.30"},
		{c: func() Conn { c := conn("198.51.100.30", 443); c.OutIface = "eth1"; return c }(), action: Accept}, // egress is eth0's
		{c: conn("198.51.100.3", 9999), action: Accept},
		{c: func() Conn { c := conn("198.51.100.3", 9999); c.OutIface = "wg0"; return c }(), action: Drop, chain: "out", rule: `oifname "wg*"`},
		{c: func() Conn { c := conn("198.51.100.3", 9999); c.OutIface = ""; return c }(), action: Accept, uncertain: true, noteWhy: "oifname"},
	} {
		r := rs.EvaluateOutput(tt.c)
		name := tt.c.Dst.String() + ":" + itoa(tt.c.Port)
		if r.Action != tt.action || r.Uncertain != tt.uncertain {
			t.Errorf("%s: %s uncertain=%v (decider %+v, notes %+v), want %s uncertain=%v", name, r.Action, r.Uncertain, r.Decider, r.Notes, tt.action, tt.uncertain)
			continue
		}
		if tt.chain != "" && (r.Decider == nil || r.Decider.Chain != tt.chain || !strings.Contains(r.Decider.Rule, tt.rule) || r.Decider.RejectWith != tt.rejectWith) {
			t.Errorf("%s: decider %+v, want %s ~%q %q", name, r.Decider, tt.chain, tt.rule, tt.rejectWith)
		}
		if tt.chain == "" && r.Decider != nil && r.Action != Accept {
			t.Errorf("%s: decider %+v", name, r.Decider)
		}
		if tt.redirect != 0 && (r.Redirect == nil || r.Redirect.Port != tt.redirect) {
			t.Errorf("%s: redirect %+v", name, r.Redirect)
		}
		if tt.noteWhy != "" {
			found := false
			for _, n := range r.Notes {
				found = found || strings.Contains(n.Why, tt.noteWhy)
			}
			if !found {
				t.Errorf("%s: no note about %q: %+v", name, tt.noteWhy, r.Notes)
			}
		}
	}
	// IPv6: the inet table applies, the ip tables do not.
	r := rs.EvaluateOutput(Conn{Family: IPv6, Dst: netip.MustParseAddr("2001:db8:5::1"), Port: 8443, OutIface: "eth0", Src: netip.MustParseAddr("2001:db8:2::2")})
	if r.Action != Drop || r.Decider == nil || r.Decider.Table != "client" || !strings.Contains(r.Decider.Rule, "ip6 daddr 2001:db8::/32") {
		t.Errorf("v6: %+v %+v", r, r.Decider)
	}
	// The INPUT walk is not disturbed by output chains.
	if r := rs.Evaluate(Packet{Family: IPv4, Port: 443, InIface: "eth0", Local: local4}); r.Action != Accept || r.Chains != 0 {
		t.Errorf("input: %+v", r)
	}
}

func TestOutputIptablesLayouts(t *testing.T) {
	// ufw's layout with a user rule "deny out 9001" (what `ufw deny out
	// 9001/tcp` writes), and Docker's, whose DOCKER-USER / FORWARD
	// chains do not touch this machine's own connections.
	ufw := strings.Replace(string(readTestdata(t, "ufw-save.txt")), "[0:0] -A ufw-before-output -o lo -j ACCEPT",
		"[3:180] -A ufw-user-output -p tcp -m tcp --dport 9001 -j DROP\n[0:0] -A ufw-before-output -o lo -j ACCEPT", 1)
	tables, err := ParseIptablesSave(strings.NewReader(ufw), BackendIptablesNft, "ip")
	if err != nil {
		t.Fatal(err)
	}
	rs := iptRules(t, BackendIptablesNft, "docker-save.txt")
	rs.Tables = append(rs.Tables, tables...)
	c := Conn{Family: IPv4, Dst: netip.MustParseAddr("198.51.100.3"), Port: 9001, OutIface: "eth0", Src: netip.MustParseAddr("203.0.113.2"), Local: local4}
	snap := &Snapshot{Rules: *rs, Read: []string{"iptables-nft-save -c"}, UFW: &UFW{Enabled: true, DefaultOutput: "ACCEPT"}}
	o := snap.Outgoing(c)
	if o.Action != Drop || o.Decider.Chain != "ufw-user-output" || o.Decider.Packets != 3 || o.Manager != ManagerUFW || o.Uncertain {
		t.Fatalf("%+v %+v", o, o.Decider)
	}
	if op := snap.OutgoingOpening(o, c); op.Commands[0] != "ufw insert 1 allow out to 198.51.100.3 port 9001 proto tcp" {
		t.Errorf("%+v", op)
	}
	c.Port = 443
	if o := snap.Outgoing(c); o.Action != Accept || o.Manager != "" || o.UFWAction != "accept" || o.UFWRule != nil {
		t.Errorf("443: %+v", o)
	}
	// A connection to this machine itself leaves through lo: ufw accepts it first.
	c.Dst, c.OutIface = netip.MustParseAddr("127.0.0.1"), "lo"
	if o := snap.Outgoing(c); o.Action != Accept || o.Decider == nil || o.Decider.Chain != "ufw-before-output" {
		t.Errorf("loopback: %+v %+v", o, o.Decider)
	}
}

func TestUFWOutputFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"etc/ufw/ufw.conf": {Data: []byte("ENABLED=yes\n")},
		"etc/default/ufw":  {Data: []byte("DEFAULT_OUTPUT_POLICY=\"REJECT\"\n")},
		"etc/ufw/user.rules": {Data: []byte(`
### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in
### tuple ### deny tcp 25 0.0.0.0/0 any 0.0.0.0/0 out
### tuple ### allow tcp 443 0.0.0.0/0 any 0.0.0.0/0 out
### tuple ### allow tcp any 10.0.0.0/8 any 0.0.0.0/0 out
### tuple ### allow tcp 8080 0.0.0.0/0 any 203.0.113.2 out
### tuple ### allow any 53 0.0.0.0/0 any 0.0.0.0/0 out_wg0
### tuple ### route:allow tcp 80 0.0.0.0/0 any 0.0.0.0/0 in_eth0!out_eth1
`)},
		"etc/ufw/user6.rules": {Data: []byte("### tuple ### allow tcp 443 ::/0 any ::/0 out\n")},
	}
	u := ReadUFW(fsys)
	if u == nil || len(u.Rules) != 1 || len(u.OutRules) != 6 || u.DefaultOutput != "REJECT" {
		t.Fatalf("%+v", u)
	}
	src := netip.MustParseAddr("203.0.113.2")
	for _, tt := range []struct {
		c      Conn
		action string
		tuple  string
	}{
		{Conn{Family: IPv4, Dst: netip.MustParseAddr("198.51.100.3"), Port: 25}, "deny", "deny tcp 25"},
		{Conn{Family: IPv4, Dst: netip.MustParseAddr("198.51.100.3"), Port: 443}, "allow", "allow tcp 443 0.0.0.0/0"},
		{Conn{Family: IPv4, Dst: netip.MustParseAddr("10.1.2.3"), Port: 5432}, "allow", "10.0.0.0/8"},
		{Conn{Family: IPv4, Dst: netip.MustParseAddr("198.51.100.3"), Port: 8080, Src: src}, "allow", "203.0.113.2 out"},
		{Conn{Family: IPv4, Dst: netip.MustParseAddr("198.51.100.3"), Port: 8080}, "reject", ""}, // source unknown
		{Conn{Family: IPv4, Dst: netip.MustParseAddr("198.51.100.3"), Port: 53, OutIface: "wg0"}, "allow", "out_wg0"},
		{Conn{Family: IPv4, Dst: netip.MustParseAddr("198.51.100.3"), Port: 53, OutIface: "eth0"}, "reject", ""},
		{Conn{Family: IPv6, Dst: netip.MustParseAddr("2001:db8::1"), Port: 443}, "allow", "::/0"},
		{Conn{Family: IPv6, Dst: netip.MustParseAddr("2001:db8::1"), Port: 25}, "reject", ""},
	} {
		a, r := u.DecideOutput(tt.c)
		if a != tt.action || (tt.tuple == "") != (r == nil) || r != nil && (!strings.Contains(r.Tuple, tt.tuple) || !r.Out) {
			t.Errorf("DecideOutput(%v:%d) = %s %+v, want %s %q", tt.c.Dst, tt.c.Port, a, r, tt.action, tt.tuple)
		}
	}
}

func TestOutgoingOpeningHostile(t *testing.T) {
	dst := netip.MustParseAddr("198.51.100.3")
	for _, name := range hostileNames {
		for _, o := range []Outgoing{
			{Result: Result{Action: Drop, Decider: &Hit{Backend: BackendNftables, Family: "inet", Table: "firewalld", Chain: "filter_OUT_policy_" + name + "_deny", Base: "filter_OUTPUT"}}, Manager: ManagerFirewalld},
			{Result: Result{Action: Drop, Decider: &Hit{Backend: BackendNftables, Family: "inet", Table: name, Chain: "out", Base: "out"}}, Manager: ManagerNftables},
			{Result: Result{Action: Reject, Decider: &Hit{Backend: BackendNftables, Family: "inet", Table: "t", Chain: "out", Base: name}}, Manager: ManagerNftables},
			{Result: Result{Action: Drop, Decider: &Hit{Backend: BackendIptablesNft, Family: "ip", Table: name, Chain: "OUTPUT", Base: "OUTPUT"}}, Manager: ManagerIptables},
			{Result: Result{Action: Drop, Decider: &Hit{Backend: BackendIptablesNft, Family: "ip", Table: "filter", Chain: "x", Base: name}}, Manager: ManagerIptables},
		} {
			op := (&Snapshot{}).OutgoingOpening(o, Conn{Family: IPv4, Dst: dst, Port: 443})
			for _, cmd := range op.Commands {
				checkCommand(t, "outgoing "+o.Manager, cmd)
				if name != "" && strings.Contains(cmd, name) {
					t.Errorf("the name %q reached %q", name, cmd)
				}
			}
		}
	}
	// An IPv6 link-local destination's zone is an interface name from
	// outside: it never reaches the command.
	o := Outgoing{Result: Result{Action: Drop, Decider: &Hit{Backend: BackendIptablesNft, Family: "ip6", Table: "filter", Chain: "OUTPUT", Base: "OUTPUT"}}, Manager: ManagerIptables}
	op := (&Snapshot{}).OutgoingOpening(o, Conn{Family: IPv6, Dst: netip.MustParseAddr("fe80::1%$(id)"), Port: 443})
	if len(op.Commands) != 1 || op.Commands[0] != "ip6tables -I OUTPUT -p tcp -d fe80::1 --dport 443 -j ACCEPT" {
		t.Errorf("%+v", op)
	}
	// A destination of the other family, or none: nothing offered.
	for _, d := range []netip.Addr{{}, netip.MustParseAddr("::ffff:198.51.100.3")} {
		if op := (&Snapshot{}).OutgoingOpening(o, Conn{Family: IPv6, Dst: d, Port: 443}); len(op.Commands) != 0 {
			t.Errorf("%v: %+v", d, op)
		}
	}
}

// A comment can carry text that looks like a handle, or a line break:
// the rule text shown must still be its own rule's.
func TestNftTextComments(t *testing.T) {
	doc := `{"nftables": [{"metainfo": {"json_schema_version": 1}}, {"table": {"family": "inet", "name": "t"}},
{"chain": {"family": "inet", "table": "t", "name": "c", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
{"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 4, "comment": "%s", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}}, {"drop": null}]}},
{"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 5, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}}, {"drop": null}]}}]}`
	for _, tt := range []struct{ jsonComment, text, want22, want80 string }{
		{"x # handle 5", "table inet t { # handle 1\n\tchain c { # handle 1\n\t\ttcp dport 22 drop comment \"x # handle 5\" # handle 4\n\t\ttcp dport 80 drop # handle 5\n\t}\n}\n",
			`tcp dport 22 drop comment "x # handle 5"`, "tcp dport 80 drop"},
		// A line break in a comment: nft prints it raw, and the text
		// could name any rule; the JSON is described instead.
		{`a\n}\n}\ntable inet t {\nchain c {\ntcp dport 80 accept`, "table inet t { # handle 1\n\tchain c { # handle 1\n\t\ttcp dport 22 drop comment \"a\n}\n}\ntable inet t {\nchain c {\ntcp dport 80 accept\" # handle 4\n\t\ttcp dport 80 drop # handle 5\n\t}\n}\n",
			`"right": 22`, `"right": 80`},
		// A text whose comment is not the JSON's is not the rule's.
		{"real", "table inet t { # handle 1\n\tchain c { # handle 1\n\t\ttcp dport 22 drop comment \"fake\" # handle 4\n\t}\n}\n", `"right": 22`, `"right": 80`},
	} {
		tables, err := ParseNftJSON(strings.NewReader(strings.Replace(doc, "%s", tt.jsonComment, 1)), strings.NewReader(tt.text), nil)
		if err != nil {
			t.Fatal(err)
		}
		rules := tables[0].Chains["c"].Rules
		if !strings.Contains(rules[0].Text, tt.want22) || !strings.Contains(rules[1].Text, tt.want80) {
			t.Errorf("comment %q: texts %q, %q", tt.jsonComment, rules[0].Text, rules[1].Text)
		}
	}
}
