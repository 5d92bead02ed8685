package firewall

import (
	"bytes"
	"strings"
	"testing"
	"testing/fstest"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdefghij", 10, "abcdefghij"},
		{"abcdefghijk", 10, "abcdefg…"},
		{"ab€€€€", 9, "ab€…"}, // never inside a character
	} {
		got := clip(tt.s, tt.n)
		if got != tt.want || len(got) > tt.n || !utf8.ValidString(got) {
			t.Errorf("clip(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

func TestCapped(t *testing.T) {
	c := &capped{max: 10}
	for i := 0; i < 5; i++ {
		if n, err := c.Write([]byte("abcd")); n != 4 || err != nil {
			t.Fatalf("write: %d %v", n, err)
		}
	}
	if c.b.String() != "abcdabcdab" || !c.over {
		t.Errorf("%q over=%v", c.b.String(), c.over)
	}
	c = &capped{max: 8}
	c.Write([]byte("abcdabcd"))
	if c.over {
		t.Error("exactly the cap is not over it")
	}
}

// Outside text is kept raw but bounded.
func TestBoundedWhenRead(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, in := range []string{
		"*" + long + "\n",
		"*filter\n:" + long + " - [0:0]\n",
		"*filter\n-A " + long + " -j DROP\n",
	} {
		if _, err := ParseIptablesSave(strings.NewReader(in), BackendIptablesNft, "ip"); err == nil || !strings.Contains(err.Error(), "longer than") {
			t.Errorf("%.40s…: %v", in, err)
		}
	}
	comment := strings.Repeat("\x1b[2J\u202e", 2000)
	save := "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -m comment --comment \"" + comment + "\" -m tcp --dport 22 -j REJECT\nCOMMIT\n"
	tables, err := ParseIptablesSave(strings.NewReader(save), BackendIptablesNft, "ip")
	if err != nil {
		t.Fatal(err)
	}
	r := (&Ruleset{Tables: tables}).Evaluate(Packet{Family: IPv4, Port: 22, InIface: "eth0", Local: local4})
	if r.Action != Reject || len(r.Decider.Rule) > maxText || !strings.HasPrefix(r.Decider.Rule, "-A INPUT -p tcp -m comment --comment \"\x1b[2J") {
		t.Errorf("rule text %d bytes: %.60q", len(r.Decider.Rule), r.Decider.Rule)
	}
	doc := `{"nftables": [{"table": {"family": "inet", "name": "` + long + `"}}]}`
	if _, err := ParseNftJSON(strings.NewReader(doc), nil, nil); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("long nft name: %v", err)
	}
	// Tuples and configuration files.
	rules, err := ParseUFWRules(strings.NewReader("### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment="+strings.Repeat("41", 5000)+"\n"), false)
	if err != nil || len(rules) != 1 || len(rules[0].Tuple) > maxText {
		t.Errorf("%v %d", err, len(rules))
	}
	big := bytes.Repeat([]byte("#"+strings.Repeat("y", 100)+"\n"), 2000) // 200 KB before the line
	u := ReadUFW(fstest.MapFS{"etc/ufw/ufw.conf": {Data: append(big, "ENABLED=yes\n"...)}})
	if u == nil || u.Enabled {
		t.Errorf("a setting past %d bytes of ufw.conf was read: %+v", maxConf, u)
	}
	f := ReadFirewalld(fstest.MapFS{"etc/firewalld/firewalld.conf": {Data: []byte("DefaultZone=" + long + long + "\n")}})
	if f == nil || len(f.DefaultZone) > maxName {
		t.Errorf("default zone %d bytes", len(f.DefaultZone))
	}
}

// A set used by many rules costs its size at each: past maxWork the walk
// stops and says it is uncertain instead of running on.
func TestWorkBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"nftables": [{"table": {"family": "inet", "name": "t"}}, {"set": {"family": "inet", "table": "t", "name": "s", "elem": [`)
	for i := 0; i < 40000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"10.` + itoa(uint16(i>>8)) + `.` + itoa(uint16(i&255)) + `.1"`)
	}
	b.WriteString(`]}}, {"chain": {"family": "inet", "table": "t", "name": "c", "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}`)
	for i := 0; i < 1000; i++ {
		b.WriteString(`, {"rule": {"family": "inet", "table": "t", "chain": "c", "handle": ` + itoa(uint16(i+1)) +
			`, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "@s"}}, {"drop": null}]}}`)
	}
	b.WriteString(`]}`)
	tables, err := ParseNftJSON(strings.NewReader(b.String()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := (&Ruleset{Tables: tables}).Evaluate(Packet{Family: IPv4, Port: 80, Local: local4})
	if !r.Uncertain || r.Action != Accept {
		t.Errorf("%+v", r)
	}
	// Nesting deeper than nft prints is not understood, and costs little.
	deep := strings.Repeat(`{"elem": {"val": `, 5000) + `1` + strings.Repeat(`}}`, 5000)
	if e := parseElem([]byte(deep)); !e.bad {
		t.Errorf("deep elem: %+v", e)
	}
	deepAnd := strings.Repeat(`{"&": [`, 3000) + `{"meta": {"key": "mark"}}` + strings.Repeat(`, 1]}`, 3000)
	v := (&nftParser{}).left([]byte(deepAnd))(&pstate{})
	if v.kind != vUnknown {
		t.Errorf("deep &: %+v", v)
	}
}

// What the fuzz seeds leave to unit tests: sizes.
func TestLargeInputs(t *testing.T) {
	line := strings.Repeat("A", maxRuleLine+1)
	if _, err := ParseIptablesSave(strings.NewReader("*filter\n"+line+"\n"), BackendIptablesNft, "ip"); err == nil {
		t.Error("an over-long iptables-save line: no error")
	}
	if _, err := ParseUFWRules(strings.NewReader("### tuple ### "+line+"\n"), false); err == nil {
		t.Error("an over-long user.rules line: no error")
	}
	if _, err := parseNftText(strings.NewReader(line + "\n")); err == nil {
		t.Error("an over-long nft text line: no error")
	}
	deep := strings.Repeat("<zone>", 20000)
	if _, err := ParseZone("z", strings.NewReader(deep)); err == nil {
		t.Error("20000 nested elements: no error")
	}
	big := "<zone>" + strings.Repeat(`<service name="x"/>`, 100000) + "</zone>" // past maxXML
	if _, err := ParseZone("z", strings.NewReader(big)); err == nil {
		t.Error("a zone file past maxXML: no error")
	}
	neg := "*filter\n-A INPUT " + strings.Repeat("! ", 10000) + "-j DROP\n"
	if tables, err := ParseIptablesSave(strings.NewReader(neg), BackendIptablesNft, "ip"); err != nil || len(tables) != 1 {
		t.Errorf("%v", err)
	}
}
