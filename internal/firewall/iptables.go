package firewall

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// iptables' tables, their hooks' priorities (include/uapi/linux/netfilter_ipv4.h)
// and the hook of each built-in chain.
var iptPrio = map[string]map[string]int{
	"raw":      {"PREROUTING": -300, "OUTPUT": -300},
	"mangle":   {"PREROUTING": -150, "INPUT": -150, "FORWARD": -150, "OUTPUT": -150, "POSTROUTING": -150},
	"nat":      {"PREROUTING": -100, "INPUT": 100, "OUTPUT": -100, "POSTROUTING": 100},
	"filter":   {"INPUT": 0, "FORWARD": 0, "OUTPUT": 0},
	"security": {"INPUT": 50, "FORWARD": 50, "OUTPUT": 50},
}

var iptHook = map[string]string{
	"PREROUTING": "prerouting", "INPUT": "input", "FORWARD": "forward", "OUTPUT": "output", "POSTROUTING": "postrouting",
}

// maxRuleLine bounds one line of iptables-save; real rules are far shorter.
const maxRuleLine = 64 << 10

// ParseIptablesSave reads the output of iptables-save or ip6tables-save
// (with or without -c counters). backend is BackendIptablesNft or
// BackendIptablesLegacy; family is "ip" for iptables, "ip6" for ip6tables.
// A line it cannot read is an error naming the line; the tables read so
// far are returned with it.
func ParseIptablesSave(r io.Reader, backend, family string) ([]*Table, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxRuleLine)
	var tables []*Table
	var cur *Table
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#':
		case line[0] == '*':
			if len(line) > maxName+1 {
				return tables, fmt.Errorf("firewall: iptables-save line %d: table name longer than %d bytes", n, maxName)
			}
			cur = newTable(backend, family, line[1:])
			tables = append(tables, cur)
		case line == "COMMIT":
			cur = nil
		case cur == nil:
			return tables, fmt.Errorf("firewall: iptables-save line %d: outside a table", n)
		case line[0] == ':':
			if err := parseChainLine(cur, line); err != nil {
				return tables, fmt.Errorf("firewall: iptables-save line %d: %w", n, err)
			}
		default:
			if err := parseRuleLine(cur, line); err != nil {
				return tables, fmt.Errorf("firewall: iptables-save line %d: %w", n, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return tables, fmt.Errorf("firewall: iptables-save: %w", err)
	}
	return tables, nil
}

// parseChainLine reads ":INPUT DROP [12:720]" or ":mychain - [0:0]".
func parseChainLine(t *Table, line string) error {
	f := strings.Fields(line[1:])
	if len(f) < 2 {
		return fmt.Errorf("chain line %q", line)
	}
	if len(f[0]) > maxName {
		return fmt.Errorf("chain name longer than %d bytes", maxName)
	}
	c := t.chain(f[0])
	if f[1] == "-" {
		return nil
	}
	prio, ok := iptPrio[t.Name][f[0]]
	if !ok {
		// A policy on a chain this table does not have: not iptables-save output.
		return fmt.Errorf("chain %s has a policy but is not a built-in chain of table %s", f[0], t.Name)
	}
	c.Base, c.Hook, c.Prio, c.Type = true, iptHook[f[0]], prio, "filter"
	if t.Name == "nat" {
		c.Type = "nat"
	}
	switch f[1] {
	case "ACCEPT":
		c.Policy = Accept
	case "DROP":
		c.Policy = Drop
	default:
		return fmt.Errorf("chain %s: policy %q", f[0], f[1])
	}
	return nil
}

// parseRuleLine reads "[5:300] -A INPUT -p tcp -m tcp --dport 22 -j ACCEPT".
func parseRuleLine(t *Table, line string) error {
	r := &Rule{}
	if line[0] == '[' {
		end := strings.IndexByte(line, ']')
		if end < 0 {
			return errors.New("counters without ']'")
		}
		p, b, ok := strings.Cut(line[1:end], ":")
		var err1, err2 error
		r.Packets, err1 = strconv.ParseUint(p, 10, 64)
		r.Bytes, err2 = strconv.ParseUint(b, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return fmt.Errorf("counters %q", line[:end+1])
		}
		r.Counted = true
		line = strings.TrimSpace(line[end+1:])
	}
	toks, err := splitArgs(line)
	if err != nil {
		return err
	}
	if len(toks) < 2 || toks[0].s != "-A" && toks[0].s != "--append" {
		return fmt.Errorf("rule %q does not start with -A CHAIN", line)
	}
	if len(toks[1].s) > maxName {
		return fmt.Errorf("chain name longer than %d bytes", maxName)
	}
	c := t.chain(toks[1].s)
	r.Text = clip(line, maxText)
	r.Pos = len(c.Rules) + 1
	if err := parseRuleArgs(t, r, toks[2:]); err != nil {
		return fmt.Errorf("rule %q: %w", line, err)
	}
	c.Rules = append(c.Rules, r)
	return nil
}

type arg struct {
	s      string
	quoted bool
}

// splitArgs splits a line the way iptables-save quotes it: double quotes,
// with backslash escaping inside them.
func splitArgs(line string) ([]arg, error) {
	var out []arg
	var cur strings.Builder
	in, quoted, have := false, false, false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case in && ch == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case ch == '"':
			in, quoted, have = !in, true, true
		case !in && (ch == ' ' || ch == '\t'):
			if have {
				out = append(out, arg{cur.String(), quoted})
				cur.Reset()
				quoted, have = false, false
			}
		default:
			cur.WriteByte(ch)
			have = true
		}
	}
	if in {
		return nil, errors.New("unterminated quote")
	}
	if have {
		out = append(out, arg{cur.String(), quoted})
	}
	return out, nil
}

func isOpt(a arg) bool { return !a.quoted && len(a.s) > 1 && a.s[0] == '-' }

// parseRuleArgs turns the matches and target of one rule into conditions and an action.
func parseRuleArgs(t *Table, r *Rule, toks []arg) error {
	module, neg, inTarget := "", false, false
	target := ""
	var topts []arg
	for i := 0; i < len(toks); i++ {
		a := toks[i]
		if !a.quoted && a.s == "!" {
			neg = true
			continue
		}
		if !isOpt(a) {
			if inTarget {
				topts = append(topts, a)
				continue
			}
			return fmt.Errorf("unexpected %q", a.s)
		}
		// The option's values run to the next option or "!".
		j := i + 1
		for j < len(toks) && !isOpt(toks[j]) && !(toks[j].s == "!" && !toks[j].quoted) {
			j++
		}
		vals := make([]string, 0, j-i-1)
		for _, v := range toks[i+1 : j] {
			vals = append(vals, v.s)
		}
		i = j - 1
		opt := a.s
		switch opt {
		case "-m", "--match":
			if len(vals) != 1 {
				return fmt.Errorf("%s wants one module", opt)
			}
			module, inTarget = vals[0], false
			if c := moduleCond(module); c != nil {
				r.conds = append(r.conds, c)
			}
		case "-j", "--jump", "-g", "--goto":
			if len(vals) != 1 {
				return fmt.Errorf("%s wants one target", opt)
			}
			target, inTarget = vals[0], true
			if opt == "-g" || opt == "--goto" {
				r.act = action{kind: actGoto, target: target}
				target = ""
			}
		default:
			if inTarget {
				topts = append(topts, a)
				for _, v := range vals {
					topts = append(topts, arg{s: v})
				}
				continue
			}
			c, err := optionCond(t, module, opt, vals, neg)
			if err != nil {
				return err
			}
			if c != nil {
				r.conds = append(r.conds, c)
			}
		}
		neg = false
	}
	if target != "" {
		r.act = iptTarget(t, target, topts)
	}
	return nil
}

func constCond(v tri, why string) condition {
	return func(*pstate) (tri, string) { return v, why }
}

func negate(v tri, neg bool) tri {
	if !neg {
		return v
	}
	switch v {
	case yes:
		return no
	case no:
		return yes
	}
	return v // a client-specific or unknown match stays so when negated
}

// clientCond is a match on something particular about the client (its
// address, a list it is in, its rate). The generic client has nothing
// particular, so the match is conditional, and its negation matches.
func clientCond(neg bool, why string) condition {
	if neg {
		return constCond(yes, "")
	}
	return constCond(cond, why)
}

func boolTri(b bool) tri {
	if b {
		return yes
	}
	return no
}

func isTCPProto(p string) bool {
	switch strings.ToLower(p) {
	case "tcp", "6", "all", "0":
		return true
	}
	return false
}

const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagPSH = 0x08
	flagACK = 0x10
	flagURG = 0x20
	flagECE = 0x40
	flagCWR = 0x80
)

var tcpFlagBits = map[string]uint32{
	"FIN": flagFIN, "SYN": flagSYN, "RST": flagRST, "PSH": flagPSH, "ACK": flagACK, "URG": flagURG,
	"ECE": flagECE, "ECN": flagECE, "CWR": flagCWR, "ALL": 0xff, "NONE": 0,
}

func tcpFlagNames(s string) (uint32, error) {
	var m uint32
	for _, n := range strings.Split(strings.ToUpper(s), ",") {
		b, ok := tcpFlagBits[n]
		if !ok {
			return 0, fmt.Errorf("tcp flag %q", n)
		}
		m |= b
	}
	return m, nil
}

// portSpec is a list of ports and inclusive ranges: "22", "8000:8100", "80,443,8000:8100".
type portSpec [][2]uint16

func parsePorts(s string) (portSpec, error) {
	var ps portSpec
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		if !isRange {
			lo, hi, isRange = strings.Cut(part, "-")
		}
		a, err := portNum(lo, 0)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = portNum(hi, 65535); err != nil {
				return nil, err
			}
		}
		ps = append(ps, [2]uint16{a, b})
	}
	return ps, nil
}

func portNum(s string, empty uint16) (uint16, error) {
	if s == "" {
		return empty, nil
	}
	if p, ok := services[s]; ok {
		return p, nil
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %q", s)
	}
	return uint16(n), nil
}

// services are the names iptables and nft may print instead of numbers.
var services = map[string]uint16{
	"ssh": 22, "ftp": 21, "telnet": 23, "smtp": 25, "domain": 53, "http": 80, "https": 443,
	"mysql": 3306, "postgresql": 5432, "redis": 6379, "http-alt": 8080, "submission": 587,
	"imap": 143, "imaps": 993, "pop3": 110, "pop3s": 995, "ms-wbt-server": 3389,
}

func (ps portSpec) has(p uint16) bool {
	for _, r := range ps {
		if p >= r[0] && p <= r[1] {
			return true
		}
	}
	return false
}

func portCond(s string, neg bool) (condition, error) {
	ps, err := parsePorts(s)
	if err != nil {
		return nil, err
	}
	return func(st *pstate) (tri, string) { return negate(boolTri(ps.has(st.port)), neg), "" }, nil
}

func origPortCond(s string, neg bool) (condition, error) {
	ps, err := parsePorts(s)
	if err != nil {
		return nil, err
	}
	return func(st *pstate) (tri, string) { return negate(boolTri(ps.has(st.Port)), neg), "" }, nil
}

// addrSpec is a prefix or an inclusive range of addresses.
type addrSpec struct {
	p      netip.Prefix
	lo, hi netip.Addr
}

func parseAddrSpec(s string, isRange bool) (addrSpec, error) {
	if isRange {
		a, b, ok := strings.Cut(s, "-")
		lo, err1 := netip.ParseAddr(a)
		hi, err2 := netip.ParseAddr(b)
		if !ok || err1 != nil || err2 != nil {
			return addrSpec{}, fmt.Errorf("address range %q", s)
		}
		return addrSpec{lo: lo, hi: hi}, nil
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return addrSpec{p: p.Masked()}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return addrSpec{p: netip.PrefixFrom(a, a.BitLen())}, nil
	}
	return addrSpec{}, fmt.Errorf("address %q", s)
}

func (a addrSpec) all() bool { return a.p.IsValid() && a.p.Bits() == 0 }

func (a addrSpec) contains(x netip.Addr) bool {
	x = x.Unmap()
	if a.p.IsValid() {
		return a.p.Contains(x)
	}
	return a.lo.Compare(x) <= 0 && x.Compare(a.hi) <= 0
}

func (a addrSpec) String() string {
	if a.p.IsValid() {
		return a.p.String()
	}
	return a.lo.String() + "-" + a.hi.String()
}

// sourceCond: a rule on the client's address applies to those clients only;
// the generic client is outside every named network, so "! -s NET" matches it.
func sourceCond(s string, neg, isRange bool) (condition, error) {
	a, err := parseAddrSpec(s, isRange)
	if err != nil {
		return nil, err
	}
	if a.all() {
		return constCond(negate(yes, neg), ""), nil
	}
	client := clientCond(neg, "source "+a.String())
	return func(st *pstate) (tri, string) {
		if !st.out {
			return client(st)
		}
		// This machine's own connection: its source address is known.
		return addrMatch(srcs(st), a.contains, neg, "source "+a.String())
	}, nil
}

// destCond judges a destination address against this host's own addresses.
func destCond(s string, neg, isRange bool) (condition, error) {
	a, err := parseAddrSpec(s, isRange)
	if err != nil {
		return nil, err
	}
	if a.all() {
		return constCond(negate(yes, neg), ""), nil
	}
	return func(st *pstate) (tri, string) {
		return addrMatch(dests(st), a.contains, neg, "destination "+a.String())
	}, nil
}

// dests are the destination addresses the connection may have.
func dests(st *pstate) []netip.Addr {
	if st.dnatAddr.IsValid() {
		return []netip.Addr{st.dnatAddr}
	}
	if st.out {
		if st.conn.Dst.IsValid() {
			return []netip.Addr{st.conn.Dst}
		}
		return nil
	}
	return st.Local
}

// srcs is the source address of this machine's own connection, when known.
func srcs(st *pstate) []netip.Addr {
	if st.conn.Src.IsValid() {
		return []netip.Addr{st.conn.Src}
	}
	return nil
}

// addrMatch answers a destination match over the host's addresses: yes when
// it holds for all of them, no for none, cond for some.
func addrMatch(local []netip.Addr, in func(netip.Addr) bool, neg bool, why string) (tri, string) {
	n := 0
	for _, l := range local {
		if in(l) != neg {
			n++
		}
	}
	switch {
	case len(local) == 0:
		return unknown, why
	case n == len(local):
		return yes, ""
	case n == 0:
		return no, ""
	}
	return cond, why
}

// ifaceCond: clients never arrive on loopback; other interfaces depend on
// which one the client's packets come in on.
func ifaceCond(name string, neg bool) condition {
	return func(st *pstate) (tri, string) {
		if st.out {
			return negate(no, neg), "" // a packet this machine sends has no input interface
		}
		if name == "lo" {
			return negate(no, neg), ""
		}
		if st.InIface == "" {
			return cond, "interface " + name
		}
		return negate(boolTri(ifaceMatch(name, st.InIface)), neg), ""
	}
}

// outIfaceCond: a connection to this host has no output interface; a
// forwarded one leaves toward its DNAT destination, and one this machine
// makes leaves on the interface its route names.
func outIfaceCond(name string, neg bool) condition {
	return func(st *pstate) (tri, string) {
		if st.out {
			if st.conn.OutIface == "" {
				return unknown, "output interface " + name
			}
			return negate(boolTri(ifaceMatch(name, st.conn.OutIface)), neg), ""
		}
		if !st.forwarded {
			return negate(no, neg), ""
		}
		if st.outIface == "" {
			return unknown, "output interface " + name
		}
		return negate(boolTri(ifaceMatch(name, st.outIface)), neg), ""
	}
}

func ifaceMatch(pattern, iface string) bool {
	if p, ok := strings.CutSuffix(pattern, "+"); ok {
		return strings.HasPrefix(iface, p)
	}
	return pattern == iface
}

func parseMark(s string) (v, m uint32, err error) {
	vs, ms, hasMask := strings.Cut(s, "/")
	v64, err := strconv.ParseUint(vs, 0, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("mark %q", s)
	}
	m = 0xffffffff
	if hasMask {
		m64, err := strconv.ParseUint(ms, 0, 32)
		if err != nil {
			return 0, 0, fmt.Errorf("mark %q", s)
		}
		m = uint32(m64)
	}
	return uint32(v64), m, nil
}

// iptTarget turns -j TARGET and its options into an action.
func iptTarget(t *Table, target string, opts []arg) action {
	opt := func(name string) string {
		for i, o := range opts {
			if o.s == name && i+1 < len(opts) {
				return opts[i+1].s
			}
		}
		return ""
	}
	has := func(name string) bool {
		for _, o := range opts {
			if o.s == name {
				return true
			}
		}
		return false
	}
	switch target {
	case "ACCEPT":
		return action{kind: actAccept}
	case "DROP", "TARPIT":
		return action{kind: actDrop}
	case "REJECT":
		w := opt("--reject-with")
		if w == "" {
			w = "icmp-port-unreachable"
			if t.Family == "ip6" {
				w = "icmp6-port-unreachable"
			}
		}
		return action{kind: actReject, rejectWith: w}
	case "RETURN":
		return action{kind: actReturn}
	case "QUEUE", "NFQUEUE":
		return action{kind: actQueue}
	case "NOTRACK":
		return action{kind: actNotrack}
	case "CT":
		if has("--notrack") {
			return action{kind: actNotrack}
		}
		return action{}
	case "MARK":
		for _, o := range []string{"--set-xmark", "--set-mark"} {
			if s := opt(o); s != "" {
				v, m, err := parseMark(s)
				if err != nil {
					return action{kind: actUnknownT, what: "MARK " + s}
				}
				if o == "--set-mark" {
					v &= m // --set-mark v/m zeroes the mask bits, then ORs v
				}
				return action{kind: actMark, mark: v, mask: m}
			}
		}
		return action{kind: actUnknownT, what: "MARK"}
	case "DNAT":
		return dnatAction(opt("--to-destination"))
	case "REDIRECT":
		a := action{kind: actDNAT}
		if p := opt("--to-ports"); p != "" {
			ps, err := parsePorts(p)
			if err == nil && len(ps) > 0 {
				a.port = ps[0][0]
			}
		}
		return a
	case "LOG", "NFLOG", "ULOG", "TRACE", "AUDIT", "TEE", "CLASSIFY", "TOS", "DSCP", "TCPMSS", "TTL",
		"HL", "ECN", "CONNMARK", "CONNSECMARK", "SECMARK", "SET", "IDLETIMER", "LED", "CHECKSUM",
		"RATEEST", "SNAT", "MASQUERADE", "NETMAP", "CLUSTERIP", "TPROXY":
		return action{}
	}
	if _, ok := t.Chains[target]; ok || !isUpper(target) {
		return action{kind: actJump, target: target}
	}
	return action{kind: actUnknownT, what: "target " + target}
}

// isUpper: built-in targets are upper case; user chains usually are not,
// and iptables-save declares them before the rules in any case.
func isUpper(s string) bool { return strings.ToUpper(s) == s }

// dnatAction reads "10.1.2.3:443", "[2001:db8::1]:443", ":8080", "10.1.2.3".
func dnatAction(s string) action {
	a := action{kind: actDNAT}
	if s == "" {
		return a
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		if end := strings.Index(s, "]"); end > 0 {
			host, port = s[1:end], strings.TrimPrefix(s[end+1:], ":")
		}
	} else if strings.Count(s, ":") == 1 {
		host, port, _ = strings.Cut(s, ":")
	}
	if h, _, _ := strings.Cut(host, "-"); h != "" {
		if ad, err := netip.ParseAddr(h); err == nil {
			a.addr = ad
		}
	}
	if p, _, _ := strings.Cut(port, "-"); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err == nil {
			a.port = uint16(n)
		}
	}
	return a
}
