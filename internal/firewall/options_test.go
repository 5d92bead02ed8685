package firewall

import (
	"net/netip"
	"strings"
	"testing"
)

// The states the option rows are judged in: a client connecting to this
// host's port 8282 on eth0 (INPUT), and this host connecting out to
// 198.51.100.3:8282 from 203.0.113.2 on eth0 as uid 1000, gid 100 (OUTPUT).
func optStates() (in, out *pstate) {
	in = &pstate{Packet: Packet{Family: IPv4, Port: 8282, InIface: "eth0", Local: local4}, port: 8282, ct: ctNew}
	c := Conn{Family: IPv4, Dst: netip.MustParseAddr("198.51.100.3"), Port: 8282, OutIface: "eth0",
		Src: netip.MustParseAddr("203.0.113.2"), Local: local4, Owner: &Owner{UID: 1000, GID: 100}}
	out = &pstate{Packet: Packet{Family: IPv4, Port: 8282, Local: local4}, out: true, conn: c, port: 8282, ct: ctNew}
	return in, out
}

var triLetter = map[tri]byte{yes: 'Y', no: 'N', cond: 'C', unknown: 'U'}

// TestOptionTable judges every option of the table, plain and after "!",
// for the generic client (INPUT) and for this machine's own connection
// (OUTPUT). want is four letters: in, in negated, out, out negated (Y yes,
// N no, C conditional, U not understood), or "----" when the option
// constrains nothing.
func TestOptionTable(t *testing.T) {
	rows := []struct {
		module, opt string
		vals        string // space-separated
		want        string
	}{
		{"", "-p", "tcp", "YNYN"},
		{"", "-p", "udp", "NYNY"},
		{"", "--protocol", "6", "YNYN"},
		{"", "-s", "10.0.0.0/8", "CYNY"},
		{"", "-s", "203.0.113.0/24", "CYYN"},
		{"", "--source", "0.0.0.0/0", "YNYN"},
		{"", "--src-range", "203.0.113.1-203.0.113.9", "CYYN"},
		{"", "-d", "203.0.113.2/32", "YNNY"},
		{"", "--destination", "198.51.100.0/24", "NYYN"},
		{"", "--ctorigdst", "198.51.100.3", "NYYN"},
		{"", "--dst-range", "198.51.100.1-198.51.100.5", "NYYN"},
		{"", "-i", "eth0", "YNNY"},
		{"", "--in-interface", "lo", "NYNY"},
		{"", "-o", "eth0", "NYYN"},
		{"", "--out-interface", "eth1", "NYNY"},
		{"", "-f", "", "NYNY"},
		{"", "--fragment", "", "NYNY"},
		{"", "-c", "1 2", "----"},
		{"", "--set-counters", "1 2", "----"},

		{"tcp", "--dport", "8282", "YNYN"},
		{"tcp", "--destination-port", "80:90", "NYNY"},
		{"tcp", "--sport", "1024:65535", "CCYN"},
		{"tcp", "--source-port", "22", "CCNY"},
		{"tcp", "--sport", "40000", "CCCC"},
		{"tcp", "--syn", "", "YNYN"},
		{"tcp", "--tcp-flags", "SYN,RST,ACK,FIN SYN", "YNYN"},
		{"tcp", "--tcp-flags", "SYN,ACK SYN,ACK", "NYNY"},
		{"tcp", "--tcp-option", "2", "UUUU"},

		{"multiport", "--ports", "8282,9000", "YNYN"},
		{"multiport", "--ports", "22", "NYNY"},
		{"multiport", "--dports", "80,8282", "YNYN"},
		{"multiport", "--destination-ports", "1:100", "NYNY"},
		{"multiport", "--sports", "53", "CCNY"},
		{"multiport", "--source-ports", "1024:65535", "CCYN"},

		{"conntrack", "--ctstate", "NEW", "YNYN"},
		{"conntrack", "--ctstate", "ESTABLISHED,RELATED", "NYNY"},
		{"conntrack", "--state", "UNTRACKED", "NYNY"},
		{"conntrack", "--ctstatus", "NONE", "YNYN"},
		{"conntrack", "--ctstatus", "ASSURED", "NYNY"},
		{"conntrack", "--ctproto", "tcp", "YNYN"},
		{"conntrack", "--ctdir", "REPLY", "NYNY"},
		{"conntrack", "--ctorigdstport", "8282", "YNYN"},
		{"conntrack", "--ctorigsrc", "10.0.0.1", "CCNY"},
		{"conntrack", "--ctorigsrcport", "1024:65535", "CCYN"},
		{"state", "--state", "NEW", "YNYN"},
		{"state", "--ctstate", "INVALID", "NYNY"},
		{"state", "--ctstatus", "NONE", "YNYN"},
		{"state", "--ctproto", "udp", "NYNY"},
		{"state", "--ctdir", "ORIGINAL", "YNYN"},
		{"state", "--ctorigdstport", "22", "NYNY"},
		{"state", "--ctorigsrc", "203.0.113.2", "CCYN"},
		{"state", "--ctorigsrcport", "22", "CCNY"},

		{"hashlimit", "--hashlimit-above", "10/sec", "CYCY"},
		{"hashlimit", "--hashlimit-name", "x", "----"},

		{"addrtype", "--dst-type", "LOCAL", "YNNY"},
		{"addrtype", "--dst-type", "UNICAST", "YNYN"},
		{"addrtype", "--src-type", "LOCAL", "NYYN"},
		{"addrtype", "--src-type", "UNICAST", "YNNY"},
		{"addrtype", "--limit-iface-in", "", "----"},
		{"addrtype", "--limit-iface-out", "", "----"},

		{"set", "--match-set", "bad src", "CYUU"},
		{"set", "--match-set", "bad dst", "UUUU"},
		{"set", "--return-nomatch", "", "----"},

		{"recent", "--rcheck", "", "CYCY"},
		{"recent", "--update", "", "CYCY"},
		{"recent", "--remove", "", "CYCY"},
		{"recent", "--set", "", "----"},
		{"recent", "--name", "x", "----"},

		{"connlimit", "--connlimit-above", "10", "CYCY"},
		{"connlimit", "--connlimit-upto", "10", "YNYN"},
		{"connlimit", "--connlimit-mask", "32", "----"},

		{"mark", "--mark", "0x1/0x1", "NYNY"},
		{"mark", "--mark", "0", "YNYN"},
		{"connmark", "--mark", "0x0", "YNYN"},
		{"connmark", "--mark", "0x5", "NYNY"},
		{"mark", "--xor-mark", "1", "UUUU"},

		{"pkttype", "--pkt-type", "unicast", "YNYN"},
		{"pkttype", "--pkt-type", "broadcast", "NYNY"},

		{"policy", "--pol", "none", "YNYN"},
		{"policy", "--pol", "ipsec", "NYNY"},
		{"policy", "--dir", "in", "----"},

		{"rpfilter", "--invert", "", "NNNN"},
		{"rpfilter", "--loose", "", "----"},

		{"owner", "--uid-owner", "1000", "UUYN"},
		{"owner", "--uid-owner", "0-999", "UUNY"},
		{"owner", "--gid-owner", "100", "UUYN"},
		{"owner", "--socket-exists", "", "UUYN"},
		{"owner", "--suppl-groups", "", "UUYY"},

		{"udp", "--dport", "53", "NNNN"},
		{"icmp", "--icmp-type", "8", "NNNN"},
		{"icmp6", "--icmpv6-type", "128", "NNNN"},
		{"icmpv6", "--icmpv6-type", "128", "NNNN"},
		{"comment", "--comment", "anything", "----"},
		{"limit", "--limit", "3/min", "----"},
		{"string", "--algo", "bm", "NYNY"},
		{"helper", "--helper", "ftp", "NYNY"},
		{"frag", "--fragid", "1", "NYNY"},
		{"iprange", "--foo", "1", "UUUU"},
		{"nosuchmodule", "--x", "", "UUUU"},
	}
	tbl := newTable(BackendIptablesNft, "ip", "filter")
	covered := map[optKey]bool{}
	for _, r := range rows {
		var vals []string
		if r.vals != "" {
			vals = strings.Fields(r.vals)
		}
		name := strings.TrimSpace(r.module + " " + r.opt + " " + r.vals)
		got := make([]byte, 0, 4)
		isNil := true
		for _, out := range []bool{false, true} {
			for _, neg := range []bool{false, true} {
				c, err := optionCond(tbl, r.module, r.opt, vals, neg)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				in, o := optStates()
				st := in
				if out {
					st = o
				}
				if c == nil {
					got = append(got, '-')
					continue
				}
				isNil = false
				v, why := c(st)
				got = append(got, triLetter[v])
				if (v == cond || v == unknown) && why == "" {
					t.Errorf("%s (out=%v neg=%v): %c without a reason", name, out, neg, triLetter[v])
				}
			}
		}
		if string(got) != r.want {
			t.Errorf("%s: got %s, want %s (in, in negated, out, out negated)", name, got, r.want)
		}
		if isNil != (r.want == "----") {
			t.Errorf("%s: nil condition %v", name, isNil)
		}
		covered[optKey{r.module, r.opt}] = true
	}
	for k := range optIndex {
		if !covered[k] {
			t.Errorf("option %q of module %q has no row in this table", k.name, k.module)
		}
	}
	for m := range moduleDefaults {
		found := false
		for k := range covered {
			if _, declared := optIndex[k]; k.module == m && !declared {
				found = true
			}
		}
		if !found {
			t.Errorf("module %q's default has no row", m)
		}
	}
}

// The module itself, before its options.
func TestModuleCond(t *testing.T) {
	in, out := optStates()
	for _, tt := range []struct {
		module  string
		in, out tri
		isNil   bool
	}{
		{module: "tcp", isNil: true},
		{module: "comment", isNil: true},
		{module: "owner", in: unknown, out: yes},
		{module: "socket", in: unknown, out: unknown},
	} {
		c := moduleCond(tt.module)
		if (c == nil) != tt.isNil {
			t.Errorf("%s: nil %v", tt.module, c == nil)
			continue
		}
		if c == nil {
			continue
		}
		if v, _ := c(in); v != tt.in {
			t.Errorf("%s in: %c", tt.module, triLetter[v])
		}
		if v, _ := c(out); v != tt.out {
			t.Errorf("%s out: %c", tt.module, triLetter[v])
		}
	}
}

func TestOptionErrors(t *testing.T) {
	tbl := newTable(BackendIptablesNft, "ip", "filter")
	for _, r := range []struct {
		module, opt, vals, err string
	}{
		{"", "--bogus", "1", "unknown option --bogus"},
		{"", "-p", "", "-p wants 1 value(s)"},
		{"", "-s", "not-an-address", `address "not-an-address"`},
		{"", "--src-range", "10.0.0.1", "address range"},
		{"tcp", "--dport", "99999", "port"},
		{"tcp", "--tcp-flags", "SYN", "--tcp-flags wants 2 value(s)"},
		{"tcp", "--tcp-flags", "FOO SYN", "--tcp-flags FOO SYN"},
		{"multiport", "--ports", "a:b", "port"},
		{"set", "--match-set", "onlyname", "--match-set wants 2 value(s)"},
		{"mark", "--mark", "x", `mark "x"`},
		{"connmark", "--mark", "1/y", `mark "1/y"`},
	} {
		var vals []string
		if r.vals != "" {
			vals = strings.Fields(r.vals)
		}
		_, err := optionCond(tbl, r.module, r.opt, vals, false)
		if err == nil || !strings.Contains(err.Error(), r.err) {
			t.Errorf("%s %s %q: error %v, want %q", r.module, r.opt, r.vals, err, r.err)
		}
	}
}

// Unknown owners and addresses make OUTPUT answers uncertain, never guessed.
func TestOutputUnknowns(t *testing.T) {
	tbl := newTable(BackendIptablesNft, "ip", "filter")
	_, out := optStates()
	out.conn.Owner, out.conn.Src, out.conn.OutIface = nil, netip.Addr{}, ""
	for _, r := range []struct{ module, opt, vals string }{
		{"owner", "--uid-owner", "1000"},
		{"owner", "--uid-owner", "alice"},
		{"", "-s", "203.0.113.0/24"},
		{"", "-o", "eth0"},
	} {
		c, err := optionCond(tbl, r.module, r.opt, strings.Fields(r.vals), false)
		if err != nil {
			t.Fatal(err)
		}
		if v, why := c(out); v != unknown || why == "" {
			t.Errorf("%s %s %s: %c %q, want unknown with a reason", r.module, r.opt, r.vals, triLetter[v], why)
		}
	}
	// A chosen local port is judged itself, not its range.
	out.conn.SrcPort = 22
	c, _ := optionCond(tbl, "tcp", "--sport", []string{"22"}, false)
	if v, _ := c(out); v != yes {
		t.Errorf("--sport 22 from port 22: %c", triLetter[v])
	}
	// A configured ephemeral range.
	out.conn.SrcPort, out.conn.SrcPorts = 0, [2]uint16{40000, 40010}
	if v, _ := c(out); v != no {
		t.Errorf("--sport 22 from 40000-40010: %c", triLetter[v])
	}
	c, _ = optionCond(tbl, "multiport", "--sports", []string{"40000:40005,40003:40010"}, false)
	if v, _ := c(out); v != yes {
		t.Errorf("overlapping ranges covering 40000-40010: %c", triLetter[v])
	}
}

func TestRangeCovered(t *testing.T) {
	for _, tt := range []struct {
		ps     string
		lo, hi uint16
		n      int
	}{
		{"1:10", 1, 10, 10},
		{"1:10,5:20", 1, 30, 20},
		{"5,5,5", 1, 10, 1},
		{"100:200", 1, 10, 0},
		{"0:65535", 32768, 60999, 28232},
		{"8,1:3,2:9", 1, 10, 9},
	} {
		ps, err := parsePorts(tt.ps)
		if err != nil {
			t.Fatal(err)
		}
		if n := rangeCovered(ps, tt.lo, tt.hi); n != tt.n {
			t.Errorf("rangeCovered(%s, %d, %d) = %d, want %d", tt.ps, tt.lo, tt.hi, n, tt.n)
		}
	}
}
