package firewall

import (
	"fmt"
	"strconv"
	"strings"
)

// The match options of iptables-save, declared once each: which module
// they belong to, their names, how many values they need and the handler
// that judges them. It is the shape of Kubernetes' iptables test parser
// (pkg/util/iptables/testing), which maps each option to a struct field
// through a `param:"--dport" negatable:"true"` tag; here each row maps an
// option to the function that turns it into a condition.
//
// An option is looked up first among the options every rule has (module
// ""), then among its module's rows, then in its module's default; an
// option of a module that is neither there nor has a default is not
// understood (the rule is then uncertain), and an option outside any
// module that no row names is an error, as iptables would not print it.

// optArgs is one match option of a rule, with the values that follow it.
type optArgs struct {
	t      *Table
	module string // the -m module it follows, "" before any
	opt    string // as written: "-s" or "--source"
	vals   []string
	neg    bool // preceded by "!"
}

// optHandler turns an option into a condition; a nil condition constrains
// nothing.
type optHandler func(optArgs) (condition, error)

// optSpec is one row of the table.
type optSpec struct {
	module string
	names  []string
	min    int // values the option needs
	judge  optHandler
}

func opt(module string, min int, judge optHandler, names ...string) optSpec {
	return optSpec{module: module, names: names, min: min, judge: judge}
}

var iptOptions = []optSpec{
	// Every rule's own options.
	opt("", 1, protoOpt, "-p", "--protocol"),
	opt("", 1, sourceOpt(false), "-s", "--source"),
	opt("", 1, sourceOpt(true), "--src-range"),
	opt("", 1, destOpt(false), "-d", "--destination", "--ctorigdst"),
	opt("", 1, destOpt(true), "--dst-range"),
	opt("", 1, inIfaceOpt, "-i", "--in-interface"),
	opt("", 1, outIfaceOpt, "-o", "--out-interface"),
	opt("", 0, negatedConst(no), "-f", "--fragment"), // a SYN is never a fragment
	opt("", 0, nothing, "-c", "--set-counters"),

	opt("tcp", 1, dportOpt, "--dport", "--destination-port"),
	opt("tcp", 0, sportOpt, "--sport", "--source-port"),
	opt("tcp", 0, negatedConst(yes), "--syn"),
	opt("tcp", 2, tcpFlagsOpt, "--tcp-flags"),

	opt("multiport", 1, multiPortsOpt, "--ports"),
	opt("multiport", 1, dportOpt, "--dports", "--destination-ports"),
	opt("multiport", 0, sportOpt, "--sports", "--source-ports"),

	// -m state and -m conntrack read the same options.
	opt("conntrack", 1, ctStateOpt, "--ctstate", "--state"),
	opt("conntrack", 1, ctStatusOpt, "--ctstatus"),
	opt("conntrack", 1, ctProtoOpt, "--ctproto"),
	opt("conntrack", 1, ctDirOpt, "--ctdir"),
	opt("conntrack", 1, ctOrigDstPortOpt, "--ctorigdstport"),
	opt("conntrack", 0, ctOrigSrcOpt, "--ctorigsrc", "--ctorigsrcport"),
	opt("state", 1, ctStateOpt, "--ctstate", "--state"),
	opt("state", 1, ctStatusOpt, "--ctstatus"),
	opt("state", 1, ctProtoOpt, "--ctproto"),
	opt("state", 1, ctDirOpt, "--ctdir"),
	opt("state", 1, ctOrigDstPortOpt, "--ctorigdstport"),
	opt("state", 0, ctOrigSrcOpt, "--ctorigsrc", "--ctorigsrcport"),

	opt("hashlimit", 0, clientOpt("clients above the rate"), "--hashlimit-above"),

	opt("addrtype", 1, dstTypeOpt, "--dst-type"),
	opt("addrtype", 1, srcTypeOpt, "--src-type"),
	opt("addrtype", 0, nothing, "--limit-iface-in", "--limit-iface-out"),

	opt("set", 2, matchSetOpt, "--match-set"),

	opt("recent", 0, recentOpt, "--rcheck", "--update", "--remove"),
	opt("recent", 0, nothing, "--set"),

	opt("connlimit", 0, connlimitAboveOpt, "--connlimit-above"),
	opt("connlimit", 0, negatedConst(yes), "--connlimit-upto"),

	opt("mark", 1, markOpt, "--mark"),
	opt("connmark", 1, connmarkOpt, "--mark"),

	opt("pkttype", 1, pktTypeOpt, "--pkt-type"),

	opt("policy", 1, policyOpt, "--pol"),

	opt("rpfilter", 0, fixed(no), "--invert"),

	opt("owner", 0, ownerIDOpt(false), "--uid-owner"),
	opt("owner", 0, ownerIDOpt(true), "--gid-owner"),
	opt("owner", 0, ownerSocketOpt, "--socket-exists"),
	opt("owner", 0, ownerModOpt, "--suppl-groups"),
}

// moduleDefaults judge the options of a module that no row names.
var moduleDefaults = map[string]optHandler{
	"udp":       fixed(no), // a TCP SYN never matches a UDP option
	"icmp":      fixed(no),
	"icmp6":     fixed(no),
	"icmpv6":    fixed(no),
	"comment":   nothing,
	"limit":     nothing, // the first SYNs are within any rate
	"hashlimit": nothing,
	"set":       nothing,
	"recent":    nothing,
	"connlimit": nothing,
	"policy":    nothing,
	"rpfilter":  nothing,
	"string":    negatedConst(no), // a SYN carries no payload
	"helper":    negatedConst(no),
	"frag":      negatedConst(no),
}

type optKey struct{ module, name string }

// optIndex is iptOptions by module and name.
var optIndex = func() map[optKey]optSpec {
	m := map[optKey]optSpec{}
	for _, s := range iptOptions {
		for _, n := range s.names {
			k := optKey{s.module, n}
			if _, dup := m[k]; dup {
				panic("firewall: option declared twice: " + s.module + " " + n)
			}
			m[k] = s
		}
	}
	return m
}()

// optionCond judges one match option for the connection evaluated.
func optionCond(t *Table, module, opt string, vals []string, neg bool) (condition, error) {
	a := optArgs{t: t, module: module, opt: opt, vals: vals, neg: neg}
	spec, ok := optIndex[optKey{"", opt}]
	if !ok {
		spec, ok = optIndex[optKey{module, opt}]
	}
	if ok {
		if len(vals) < spec.min {
			return nil, fmt.Errorf("%s wants %d value(s)", opt, spec.min)
		}
		return spec.judge(a)
	}
	if h, ok := moduleDefaults[module]; ok {
		return h(a)
	}
	if module == "" {
		return nil, fmt.Errorf("unknown option %s", opt)
	}
	return constCond(unknown, "-m "+module+" "+opt), nil
}

// modules whose options carry all their meaning; any other module is not
// understood by itself.
var knownModules = map[string]bool{
	"tcp": true, "comment": true, "limit": true, "hashlimit": true, "conntrack": true, "state": true,
	"multiport": true, "addrtype": true, "set": true, "iprange": true, "recent": true, "connlimit": true,
	"mark": true, "connmark": true, "pkttype": true, "policy": true, "rpfilter": true, "udp": true,
	"icmp": true, "icmp6": true, "icmpv6": true, "string": true, "helper": true, "frag": true,
}

// moduleCond is the condition a module imposes by itself, before its options.
func moduleCond(module string) condition {
	if knownModules[module] {
		return nil
	}
	if module == "owner" {
		// The socket owner is known only for this machine's own connections.
		return func(st *pstate) (tri, string) {
			if st.out {
				return yes, ""
			}
			return unknown, "match module owner"
		}
	}
	return func(*pstate) (tri, string) { return unknown, "match module " + module }
}

// Generic handlers.

func nothing(optArgs) (condition, error) { return nil, nil }

// fixed answers v whatever the option says, negated or not.
func fixed(v tri) optHandler {
	return func(optArgs) (condition, error) { return constCond(v, ""), nil }
}

// negatedConst answers v, or its negation after "!".
func negatedConst(v tri) optHandler {
	return func(a optArgs) (condition, error) { return constCond(negate(v, a.neg), ""), nil }
}

func clientOpt(why string) optHandler {
	return func(a optArgs) (condition, error) {
		return clientCond(a.neg, why+" "+strings.Join(a.vals, " ")), nil
	}
}

// Core options.

func protoOpt(a optArgs) (condition, error) {
	return constCond(negate(boolTri(isTCPProto(a.vals[0])), a.neg), ""), nil
}

func sourceOpt(isRange bool) optHandler {
	return func(a optArgs) (condition, error) { return sourceCond(a.vals[0], a.neg, isRange) }
}

func destOpt(isRange bool) optHandler {
	return func(a optArgs) (condition, error) { return destCond(a.vals[0], a.neg, isRange) }
}

func inIfaceOpt(a optArgs) (condition, error) { return ifaceCond(a.vals[0], a.neg), nil }

func outIfaceOpt(a optArgs) (condition, error) { return outIfaceCond(a.vals[0], a.neg), nil }

// tcp and multiport.

func dportOpt(a optArgs) (condition, error) { return portCond(a.vals[0], a.neg) }

func sportOpt(a optArgs) (condition, error) {
	why := "client source port " + strings.Join(a.vals, " ")
	var ps portSpec
	if len(a.vals) > 0 {
		var err error
		if ps, err = parsePorts(a.vals[0]); err != nil {
			ps = nil // judged as before for the generic client; unknown for this machine's own
		}
	}
	return func(st *pstate) (tri, string) {
		if !st.out {
			return cond, why
		}
		if ps == nil {
			return unknown, "source port " + strings.Join(a.vals, " ")
		}
		return localPortMatch(st, ps, a.neg)
	}, nil
}

// multiPortsOpt: --ports matches the source or the destination port.
func multiPortsOpt(a optArgs) (condition, error) {
	ps, err := parsePorts(a.vals[0])
	if err != nil {
		return nil, err
	}
	return func(st *pstate) (tri, string) {
		d := ps.has(st.port)
		if !st.out {
			return negate(boolTri(d), a.neg), ""
		}
		if d {
			return negate(yes, a.neg), ""
		}
		return localPortMatch(st, ps, a.neg)
	}, nil
}

func tcpFlagsOpt(a optArgs) (condition, error) {
	mask, err1 := tcpFlagNames(a.vals[0])
	comp, err2 := tcpFlagNames(a.vals[1])
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("--tcp-flags %s %s", a.vals[0], a.vals[1])
	}
	return constCond(negate(boolTri(flagSYN&mask == comp), a.neg), ""), nil
}

// conntrack and state.

func ctStateOpt(a optArgs) (condition, error) {
	states := strings.Split(strings.ToUpper(a.vals[0]), ",")
	return func(st *pstate) (tri, string) {
		m := false
		for _, s := range states {
			switch s {
			case "NEW":
				m = m || st.ct == ctNew
			case "UNTRACKED":
				m = m || st.ct == ctUntracked
			case "DNAT":
				m = m || st.dnat
			}
		}
		return negate(boolTri(m), a.neg), ""
	}, nil
}

func ctStatusOpt(a optArgs) (condition, error) {
	m := false
	for _, s := range strings.Split(strings.ToUpper(a.vals[0]), ",") {
		m = m || s == "NONE"
	}
	return constCond(negate(boolTri(m), a.neg), ""), nil
}

func ctProtoOpt(a optArgs) (condition, error) {
	return constCond(negate(boolTri(isTCPProto(a.vals[0])), a.neg), ""), nil
}

func ctDirOpt(a optArgs) (condition, error) {
	return constCond(negate(boolTri(strings.EqualFold(a.vals[0], "ORIGINAL")), a.neg), ""), nil
}

func ctOrigDstPortOpt(a optArgs) (condition, error) { return origPortCond(a.vals[0], a.neg) }

// ctOrigSrcOpt: the original source is the client (or, for this machine's
// own connection, its source address or port).
func ctOrigSrcOpt(a optArgs) (condition, error) {
	why := "client " + strings.Join(a.vals, " ")
	if len(a.vals) == 0 {
		return constCond(cond, why), nil
	}
	var src condition
	var err error
	if a.opt == "--ctorigsrc" {
		src, err = sourceCond(a.vals[0], a.neg, false)
	} else {
		src, err = sportOpt(optArgs{vals: a.vals, neg: a.neg})
	}
	if err != nil {
		src = nil
	}
	return func(st *pstate) (tri, string) {
		if !st.out {
			return cond, why
		}
		if src == nil {
			return unknown, why
		}
		return src(st)
	}, nil
}

// addrtype.

func dstTypeOpt(a optArgs) (condition, error) {
	types := strings.Split(strings.ToUpper(a.vals[0]), ",")
	return func(st *pstate) (tri, string) {
		if st.out {
			return outAddrType(st, types, a.neg)
		}
		m := false
		for _, ty := range types {
			m = m || ty == "UNICAST" || ty == "LOCAL" && !st.forwarded
		}
		return negate(boolTri(m), a.neg), ""
	}, nil
}

func srcTypeOpt(a optArgs) (condition, error) {
	in, out := false, false
	for _, ty := range strings.Split(strings.ToUpper(a.vals[0]), ",") {
		in = in || ty == "UNICAST"
		out = out || ty == "LOCAL" // this machine's own source address is local
	}
	return func(st *pstate) (tri, string) {
		if st.out {
			return negate(boolTri(out), a.neg), ""
		}
		return negate(boolTri(in), a.neg), ""
	}, nil
}

// set: the generic client is in no ipset; for this machine's own
// connection the set's members are not known (ipset is not read).
func matchSetOpt(a optArgs) (condition, error) {
	name, flags := a.vals[0], a.vals[1]
	in := constCond(unknown, "ipset "+name+" "+flags)
	if strings.Contains(flags, "src") {
		in = clientCond(a.neg, "source in ipset "+name)
	}
	return func(st *pstate) (tri, string) {
		if st.out {
			return unknown, "ipset " + name + " " + flags
		}
		return in(st)
	}, nil
}

func recentOpt(a optArgs) (condition, error) {
	return clientCond(a.neg, "clients in the recent list"), nil
}

func connlimitAboveOpt(a optArgs) (condition, error) {
	return clientCond(a.neg, "clients with more than "+strings.Join(a.vals, " ")+" connections"), nil
}

// mark and connmark: a new connection has no connection mark; the packet
// mark is what earlier rules set.

func markOpt(a optArgs) (condition, error) {
	v, m, err := parseMark(a.vals[0])
	if err != nil {
		return nil, err
	}
	return func(st *pstate) (tri, string) { return negate(boolTri(st.mark&m == v), a.neg), "" }, nil
}

func connmarkOpt(a optArgs) (condition, error) {
	v, _, err := parseMark(a.vals[0])
	if err != nil {
		return nil, err
	}
	return constCond(negate(boolTri(v == 0), a.neg), ""), nil
}

func pktTypeOpt(a optArgs) (condition, error) {
	v := strings.EqualFold(a.vals[0], "unicast") || strings.EqualFold(a.vals[0], "host")
	return constCond(negate(boolTri(v), a.neg), ""), nil
}

func policyOpt(a optArgs) (condition, error) {
	return constCond(negate(boolTri(a.vals[0] == "none"), a.neg), ""), nil
}

// owner: only this machine's own connections have a socket owner.

func ownerIDOpt(gid bool) optHandler {
	return func(a optArgs) (condition, error) {
		lo, hi, ok := uint32(0), uint32(0), false
		spec := ""
		if len(a.vals) > 0 {
			spec = a.vals[0]
			lo, hi, ok = parseIDRange(spec)
		}
		why := "-m owner " + a.opt
		return func(st *pstate) (tri, string) {
			if !st.out {
				return unknown, why
			}
			if st.conn.Owner == nil || !ok {
				return unknown, "socket owner " + a.opt + " " + spec
			}
			id := st.conn.Owner.UID
			if gid {
				id = st.conn.Owner.GID
			}
			return negate(boolTri(id >= lo && id <= hi), a.neg), ""
		}, nil
	}
}

func ownerSocketOpt(a optArgs) (condition, error) {
	return func(st *pstate) (tri, string) {
		if !st.out {
			return unknown, "-m owner " + a.opt
		}
		return negate(yes, a.neg), "" // a connect() has its socket
	}, nil
}

// ownerModOpt: --suppl-groups widens --gid-owner; judged with it.
func ownerModOpt(a optArgs) (condition, error) {
	return func(st *pstate) (tri, string) {
		if !st.out {
			return unknown, "-m owner " + a.opt
		}
		return yes, ""
	}, nil
}

// parseIDRange reads "1000" or "1000-1999".
func parseIDRange(s string) (lo, hi uint32, ok bool) {
	a, b, isRange := strings.Cut(s, "-")
	l, err1 := strconv.ParseUint(a, 10, 32)
	h := l
	var err2 error
	if isRange {
		h, err2 = strconv.ParseUint(b, 10, 32)
	}
	if err1 != nil || err2 != nil || h < l {
		return 0, 0, false
	}
	return uint32(l), uint32(h), true
}
