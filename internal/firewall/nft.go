package firewall

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// maxNftJSON bounds what ParseNftJSON reads.
const maxNftJSON = 64 << 20

type nftDoc struct {
	Nftables []map[string]json.RawMessage `json:"nftables"`
}

type nftTableObj struct {
	Family string `json:"family"`
	Name   string `json:"name"`
}

type nftChainObj struct {
	Family string          `json:"family"`
	Table  string          `json:"table"`
	Name   string          `json:"name"`
	Type   string          `json:"type"`
	Hook   string          `json:"hook"`
	Prio   json.RawMessage `json:"prio"`
	Policy string          `json:"policy"`
	Dev    json.RawMessage `json:"dev"`
}

type nftRuleObj struct {
	Family  string            `json:"family"`
	Table   string            `json:"table"`
	Chain   string            `json:"chain"`
	Handle  int               `json:"handle"`
	Expr    []json.RawMessage `json:"expr"`
	Comment string            `json:"comment"`
}

type nftSetObj struct {
	Family string            `json:"family"`
	Table  string            `json:"table"`
	Name   string            `json:"name"`
	Elem   []json.RawMessage `json:"elem"`
}

type tableKey struct{ family, name string }

// nftParser holds what rules refer to while they are turned into conditions.
type nftParser struct {
	tables map[tableKey]*Table
	sets   map[tableKey]map[string][]json.RawMessage // named sets and maps by table
	texts  nftText
	// Named sets and verdict maps, parsed once however many rules use them.
	setElems map[setKey][]elem
	vmaps    map[setKey][]vmapEntry
	skip     func(family, table string) bool
}

type setKey struct{ family, table, name string }

type ruleKey struct {
	family, table, chain string
	handle               int
}

// NftSchemaVersion is the libnftables JSON schema version
// (metainfo.json_schema_version, libnftables-json(5)) this package reads.
const NftSchemaVersion = 1

// ErrNftSchema is the error for nft JSON of a schema version other than
// NftSchemaVersion, or without one: its meaning cannot be trusted, so the
// rules are reported as not read rather than judged.
var ErrNftSchema = errors.New("unknown nft JSON schema, so the nftables rules were not read")

// ParseNftJSON reads the output of `nft -j list ruleset`. text, when not
// nil, is the output of `nft -a list ruleset`, which gives each rule's text
// by handle. skip names tables to leave out (those iptables-nft manages,
// which are evaluated from iptables-save instead); it may be nil.
//
// A metainfo object whose json_schema_version is not NftSchemaVersion (or
// is missing) makes it fail with an error wrapping ErrNftSchema, as
// knftables does. A document without metainfo is read (Reader.Read, which
// runs nft itself, requires the metainfo).
func ParseNftJSON(r io.Reader, text io.Reader, skip func(family, table string) bool) ([]*Table, error) {
	return parseNftJSON(r, text, skip, false)
}

// checkNftNames refuses names longer than nft itself allows.
func checkNftNames(doc *nftDoc) error {
	for _, obj := range doc.Nftables {
		for kind, raw := range obj {
			switch kind {
			case "table", "chain", "set", "map", "rule":
			default:
				continue
			}
			var n struct {
				Family string `json:"family"`
				Table  string `json:"table"`
				Name   string `json:"name"`
				Chain  string `json:"chain"`
			}
			if json.Unmarshal(raw, &n) != nil {
				continue // reported where the object is read
			}
			if len(n.Family) > maxName || len(n.Table) > maxName || len(n.Name) > maxName || len(n.Chain) > maxName {
				return fmt.Errorf("firewall: nft %s with a name longer than %d bytes", kind, maxName)
			}
		}
	}
	return nil
}

// checkNftSchema finds the metainfo object and checks its schema version.
func checkNftSchema(doc *nftDoc, require bool) error {
	for _, obj := range doc.Nftables {
		raw, ok := obj["metainfo"]
		if !ok {
			continue
		}
		var mi struct {
			Version json.RawMessage `json:"json_schema_version"`
		}
		if err := json.Unmarshal(raw, &mi); err != nil {
			return fmt.Errorf("firewall: nft json metainfo is not an object: %w", ErrNftSchema)
		}
		v := strings.TrimSpace(string(mi.Version))
		if v == "" {
			return fmt.Errorf("firewall: nft json has no json_schema_version (this conndiag reads %d): %w", NftSchemaVersion, ErrNftSchema)
		}
		var f float64
		if json.Unmarshal(mi.Version, &f) != nil || f != NftSchemaVersion {
			v = clip(v, 24)
			return fmt.Errorf("firewall: nft json_schema_version %s (this conndiag reads %d): %w", v, NftSchemaVersion, ErrNftSchema)
		}
		return nil
	}
	if require {
		return fmt.Errorf("firewall: nft json without metainfo (this conndiag reads schema version %d): %w", NftSchemaVersion, ErrNftSchema)
	}
	return nil
}

func parseNftJSON(r io.Reader, text io.Reader, skip func(family, table string) bool, requireMeta bool) ([]*Table, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxNftJSON+1))
	if err != nil {
		return nil, fmt.Errorf("firewall: nft json: %w", err)
	}
	if len(b) > maxNftJSON {
		return nil, fmt.Errorf("firewall: nft json larger than %d bytes", maxNftJSON)
	}
	var doc nftDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("firewall: nft json: %w", err)
	}
	if err := checkNftSchema(&doc, requireMeta); err != nil {
		return nil, err
	}
	p := &nftParser{tables: map[tableKey]*Table{}, sets: map[tableKey]map[string][]json.RawMessage{}, skip: skip}
	if text != nil && textTrusted(&doc) {
		if p.texts, err = parseNftText(text); err != nil {
			return nil, err
		}
	}
	if err := checkNftNames(&doc); err != nil {
		return nil, err
	}
	var order []*Table
	// Sets and chains first, as rules refer to them.
	for _, obj := range doc.Nftables {
		for kind, raw := range obj {
			switch kind {
			case "table":
				var t nftTableObj
				if err := json.Unmarshal(raw, &t); err != nil {
					return nil, fmt.Errorf("firewall: nft table: %w", err)
				}
				if p.skipped(t.Family, t.Name) {
					continue
				}
				k := tableKey{t.Family, t.Name}
				if p.tables[k] == nil {
					p.tables[k] = newTable(BackendNftables, t.Family, t.Name)
					order = append(order, p.tables[k])
				}
			case "set", "map":
				var s nftSetObj
				if err := json.Unmarshal(raw, &s); err != nil {
					return nil, fmt.Errorf("firewall: nft %s: %w", kind, err)
				}
				k := tableKey{s.Family, s.Table}
				if p.sets[k] == nil {
					p.sets[k] = map[string][]json.RawMessage{}
				}
				p.sets[k][s.Name] = s.Elem
			case "chain":
				var c nftChainObj
				if err := json.Unmarshal(raw, &c); err != nil {
					return nil, fmt.Errorf("firewall: nft chain: %w", err)
				}
				t := p.table(c.Family, c.Table)
				if t == nil {
					continue
				}
				ch := t.chain(c.Name)
				if c.Hook != "" {
					ch.Base, ch.Hook, ch.Type = true, c.Hook, c.Type
					ch.Prio = nftPrio(c.Prio)
					ch.Policy = Accept
					if c.Policy == "drop" {
						ch.Policy = Drop
					}
					var dev string
					if json.Unmarshal(c.Dev, &dev) == nil {
						ch.Dev = clip(dev, maxName)
					} else if c.Hook == "egress" {
						ch.Dev = p.texts.devs[ruleKey{c.Family, c.Table, c.Name, 0}]
					}
				}
			}
		}
	}
	for _, obj := range doc.Nftables {
		raw, ok := obj["rule"]
		if !ok {
			continue
		}
		var ro nftRuleObj
		if err := json.Unmarshal(raw, &ro); err != nil {
			return nil, fmt.Errorf("firewall: nft rule: %w", err)
		}
		t := p.table(ro.Family, ro.Table)
		if t == nil {
			continue
		}
		c := t.chain(ro.Chain)
		r := &Rule{Pos: len(c.Rules) + 1, Handle: ro.Handle}
		r.Text = clip(p.texts.rules[ruleKey{ro.Family, ro.Table, ro.Chain, ro.Handle}], maxText)
		if !textMatchesComment(r.Text, ro.Comment) {
			r.Text = "" // the text is not this rule's
		}
		if err := p.rule(t, r, ro.Expr); err != nil {
			return nil, fmt.Errorf("firewall: nft rule %s %s %s handle %d: %w", ro.Family, ro.Table, ro.Chain, ro.Handle, err)
		}
		if r.Text == "" {
			r.Text = describeExprs(ro.Expr)
		}
		c.Rules = append(c.Rules, r)
	}
	return order, nil
}

func (p *nftParser) skipped(family, table string) bool {
	return p.skip != nil && p.skip(family, table)
}

func (p *nftParser) table(family, name string) *Table {
	if p.skipped(family, name) {
		return nil
	}
	k := tableKey{family, name}
	t := p.tables[k]
	if t == nil {
		// A chain before its table: keep it anyway.
		t = newTable(BackendNftables, family, name)
		p.tables[k] = t
	}
	return t
}

// nftPrio reads a chain priority: a number, or in newer nft a name.
func nftPrio(raw json.RawMessage) int {
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return n
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if v, ok := map[string]int{"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}[s]; ok {
			return v
		}
	}
	return 0
}

// rule turns a rule's statements into conditions and one action.
func (p *nftParser) rule(t *Table, r *Rule, exprs []json.RawMessage) error {
	for _, raw := range exprs {
		var stmt map[string]json.RawMessage
		if err := json.Unmarshal(raw, &stmt); err != nil {
			return err
		}
		for kind, body := range stmt {
			if err := p.statement(t, r, kind, body); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *nftParser) statement(t *Table, r *Rule, kind string, body json.RawMessage) error {
	setAct := func(a action) {
		if r.act.kind == actNone || r.act.kind == actMark || r.act.kind == actNotrack {
			r.act = a
		}
	}
	switch kind {
	case "match":
		var m struct {
			Op    string          `json:"op"`
			Left  json.RawMessage `json:"left"`
			Right json.RawMessage `json:"right"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			return err
		}
		r.conds = append(r.conds, p.match(t, m.Op, m.Left, m.Right))
	case "counter":
		var c struct {
			Packets uint64 `json:"packets"`
			Bytes   uint64 `json:"bytes"`
		}
		if json.Unmarshal(body, &c) == nil {
			r.Counted, r.Packets, r.Bytes = true, c.Packets, c.Bytes
		}
	case "accept":
		setAct(action{kind: actAccept})
	case "drop":
		setAct(action{kind: actDrop})
	case "reject":
		var rj struct {
			Type string `json:"type"`
			Expr string `json:"expr"`
		}
		_ = json.Unmarshal(body, &rj)
		w := rj.Expr
		switch {
		case rj.Type == "tcp reset":
			w = "tcp-reset"
		case w == "":
			w = "port-unreachable"
		}
		setAct(action{kind: actReject, rejectWith: w})
	case "queue":
		setAct(action{kind: actQueue})
	case "return":
		setAct(action{kind: actReturn})
	case "continue":
	case "jump", "goto":
		var j struct {
			Target string `json:"target"`
		}
		if err := json.Unmarshal(body, &j); err != nil {
			return err
		}
		k := actJump
		if kind == "goto" {
			k = actGoto
		}
		setAct(action{kind: k, target: j.Target})
	case "vmap":
		var v struct {
			Key  json.RawMessage `json:"key"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		setAct(p.vmap(t, v.Key, v.Data))
	case "dnat":
		var d struct {
			Addr json.RawMessage `json:"addr"`
			Port json.RawMessage `json:"port"`
		}
		_ = json.Unmarshal(body, &d)
		a := action{kind: actDNAT}
		var s string
		if json.Unmarshal(d.Addr, &s) == nil {
			a.addr, _ = netip.ParseAddr(s)
		}
		var n uint16
		if json.Unmarshal(d.Port, &n) == nil {
			a.port = n
		}
		setAct(a)
	case "redirect":
		var d struct {
			Port uint16 `json:"port"`
		}
		_ = json.Unmarshal(body, &d)
		setAct(action{kind: actDNAT, port: d.Port})
	case "notrack":
		setAct(action{kind: actNotrack})
	case "mangle":
		var mg struct {
			Key   json.RawMessage `json:"key"`
			Value json.RawMessage `json:"value"`
		}
		_ = json.Unmarshal(body, &mg)
		var n uint32
		if strings.Contains(string(mg.Key), `"mark"`) && !strings.Contains(string(mg.Key), `"ct"`) && json.Unmarshal(mg.Value, &n) == nil {
			setAct(action{kind: actMark, mark: n, mask: 0xffffffff})
		}
	case "limit", "quota":
		var l struct {
			Inv bool `json:"inv"`
		}
		_ = json.Unmarshal(body, &l)
		if l.Inv {
			// "limit rate over": only clients above the rate.
			r.conds = append(r.conds, constCond(cond, "clients over a "+kind))
		}
	case "ct count":
		var l struct {
			Inv bool `json:"inv"`
		}
		_ = json.Unmarshal(body, &l)
		if l.Inv {
			r.conds = append(r.conds, constCond(cond, "clients over a connection count"))
		}
	case "log", "set", "meter", "snat", "masquerade", "dup", "fwd", "flow", "secmark", "ct helper",
		"ct timeout", "ct expectation", "synproxy", "tproxy", "objref", "last", "comment":
		if kind == "synproxy" || kind == "tproxy" {
			r.conds = append(r.conds, constCond(unknown, kind))
		}
	case "xt":
		var x struct {
			Type string `json:"type"`
			Name string `json:"name"`
		}
		_ = json.Unmarshal(body, &x)
		if x.Type == "target" {
			setAct(action{kind: actUnknownT, what: "xt target " + x.Name})
		} else {
			r.conds = append(r.conds, constCond(unknown, "xt "+x.Type+" "+x.Name))
		}
	default:
		r.conds = append(r.conds, constCond(unknown, "statement "+kind))
	}
	return nil
}

// value is what the packet has for a match's left side.
type value struct {
	kind valKind
	n    uint64 // numbers, ports, bit masks
	s    string // strings: protocol, interface, fib type
	why  string // for vCond
	addr bool   // the destination address: judged against every local address
}

type valKind uint8

const (
	vNum       valKind = iota // n
	vBits                     // n, a bit mask (ct state, tcp flags): "in" means any bit set
	vStr                      // s
	vCond                     // depends on the client (source address, ...)
	vNo                       // the packet cannot have this field (udp dport of a TCP SYN)
	vUnknown                  // not understood
	vDst                      // the destination address
	vIface                    // the input interface name (s when known)
	vSrc                      // this machine's own source address (the OUTPUT path)
	vLocalPort                // this machine's own source port, not yet chosen
)

// left evaluates a match's left side for the packet.
func (p *nftParser) left(raw json.RawMessage) func(*pstate) value { return p.leftDepth(raw, 0) }

func (p *nftParser) leftDepth(raw json.RawMessage, depth int) func(*pstate) value {
	if depth > maxElemDepth {
		return constVal(value{kind: vUnknown, why: "nested expression"})
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return constVal(value{kind: vUnknown})
	}
	for kind, body := range obj {
		switch kind {
		case "payload":
			var pl struct {
				Protocol string `json:"protocol"`
				Field    string `json:"field"`
			}
			if json.Unmarshal(body, &pl) != nil || pl.Protocol == "" {
				return constVal(value{kind: vUnknown, why: "raw payload"})
			}
			return payloadVal(pl.Protocol, pl.Field)
		case "meta":
			var m struct {
				Key string `json:"key"`
			}
			_ = json.Unmarshal(body, &m)
			return metaVal(m.Key)
		case "ct":
			var c struct {
				Key string `json:"key"`
				Dir string `json:"dir"`
			}
			_ = json.Unmarshal(body, &c)
			return ctVal(c.Key)
		case "fib":
			var f struct {
				Result string   `json:"result"`
				Flags  []string `json:"flags"`
			}
			_ = json.Unmarshal(body, &f)
			switch f.Result {
			case "type":
				return func(st *pstate) value {
					if st.out {
						return outFibType(st, f.Flags)
					}
					if st.forwarded {
						return value{kind: vStr, s: "unicast"}
					}
					return value{kind: vStr, s: "local"}
				}
			case "oif", "oifname":
				// Reverse-path checks: the generic client has a valid route back.
				return constVal(value{kind: vStr, s: "present", n: 1})
			}
			return constVal(value{kind: vUnknown, why: "fib " + f.Result})
		case "&":
			var parts []json.RawMessage
			if json.Unmarshal(body, &parts) != nil || len(parts) != 2 {
				return constVal(value{kind: vUnknown})
			}
			l := p.leftDepth(parts[0], depth+1)
			mask, ok := bitsOf(parts[1])
			return func(st *pstate) value {
				v := l(st)
				if !ok || v.kind != vBits && v.kind != vNum {
					if v.kind == vNo || v.kind == vCond {
						return v
					}
					return value{kind: vUnknown, why: "bit operation"}
				}
				v.n &= mask
				return v
			}
		}
		return constVal(value{kind: vUnknown, why: kind})
	}
	return constVal(value{kind: vUnknown})
}

func constVal(v value) func(*pstate) value { return func(*pstate) value { return v } }

func payloadVal(proto, field string) func(*pstate) value {
	switch proto {
	case "tcp", "th":
		switch field {
		case "dport":
			return func(st *pstate) value { return value{kind: vNum, n: uint64(st.port)} }
		case "sport":
			return localPortVal("client source port")
		case "flags":
			return constVal(value{kind: vBits, n: flagSYN})
		}
		return constVal(value{kind: vUnknown, why: proto + " " + field})
	case "udp", "udplite", "sctp", "dccp", "icmp", "icmpv6", "igmp", "esp", "ah", "comp", "gre", "vlan", "arp":
		return constVal(value{kind: vNo})
	case "ip", "ip6":
		fam := IPv4
		if proto == "ip6" {
			fam = IPv6
		}
		inner := func(st *pstate) value {
			switch field {
			case "saddr":
				if st.out {
					return value{kind: vSrc, why: "source"}
				}
				return value{kind: vCond, why: "source"}
			case "daddr":
				return value{kind: vDst, addr: true}
			case "protocol", "nexthdr":
				return value{kind: vStr, s: "tcp", n: 6}
			case "version":
				if fam == IPv4 {
					return value{kind: vNum, n: 4}
				}
				return value{kind: vNum, n: 6}
			}
			return value{kind: vUnknown, why: proto + " " + field}
		}
		return func(st *pstate) value {
			if st.Family != fam {
				return value{kind: vNo}
			}
			return inner(st)
		}
	case "ether":
		return constVal(value{kind: vUnknown, why: "ether " + field})
	}
	return constVal(value{kind: vUnknown, why: proto + " " + field})
}

func metaVal(key string) func(*pstate) value {
	switch key {
	case "l4proto":
		return constVal(value{kind: vStr, s: "tcp", n: 6})
	case "nfproto", "protocol":
		return func(st *pstate) value {
			if st.Family == IPv4 {
				if key == "protocol" {
					return value{kind: vStr, s: "ip", n: 0x0800}
				}
				return value{kind: vStr, s: "ipv4", n: 2}
			}
			if key == "protocol" {
				return value{kind: vStr, s: "ip6", n: 0x86dd}
			}
			return value{kind: vStr, s: "ipv6", n: 10}
		}
	case "iif", "iifname":
		return func(st *pstate) value {
			if st.out {
				return value{kind: vStr, s: ""} // a packet this machine sends has no input interface
			}
			return value{kind: vIface, s: st.InIface}
		}
	case "iiftype":
		return constVal(value{kind: vStr, s: "ether", n: 1})
	case "pkttype":
		return constVal(value{kind: vStr, s: "host", n: 0})
	case "mark":
		return func(st *pstate) value { return value{kind: vNum, n: uint64(st.mark)} }
	case "oif", "oifname":
		return func(st *pstate) value {
			if st.out {
				if st.conn.OutIface == "" {
					return value{kind: vUnknown, why: "meta " + key}
				}
				return value{kind: vIface, s: st.conn.OutIface}
			}
			if !st.forwarded {
				return value{kind: vStr, s: ""} // no output interface on the way in
			}
			if st.outIface == "" {
				return value{kind: vUnknown, why: "meta " + key}
			}
			return value{kind: vStr, s: st.outIface}
		}
	case "skuid", "skgid":
		return func(st *pstate) value {
			if !st.out || st.conn.Owner == nil {
				return value{kind: vUnknown, why: "meta " + key}
			}
			if key == "skgid" {
				return value{kind: vNum, n: uint64(st.conn.Owner.GID)}
			}
			return value{kind: vNum, n: uint64(st.conn.Owner.UID)}
		}
	}
	return constVal(value{kind: vUnknown, why: "meta " + key})
}

var ctStateBits = map[string]uint64{"invalid": ctInvalid, "established": ctEstablished, "related": ctRelated, "new": ctNew, "untracked": ctUntracked}

var ctStatusBits = map[string]uint64{"expected": 1, "seen-reply": 2, "assured": 4, "confirmed": 8, "snat": 16, "dnat": 32, "dying": 512}

func ctVal(key string) func(*pstate) value {
	switch key {
	case "state":
		return func(st *pstate) value { return value{kind: vBits, n: uint64(st.ct)} }
	case "status":
		return func(st *pstate) value {
			if st.dnat {
				return value{kind: vBits, n: 32}
			}
			return value{kind: vBits}
		}
	case "mark":
		return constVal(value{kind: vNum})
	case "direction":
		return constVal(value{kind: vStr, s: "original"})
	case "l3proto":
		return func(st *pstate) value {
			if st.Family == IPv4 {
				return value{kind: vStr, s: "ipv4", n: 2}
			}
			return value{kind: vStr, s: "ipv6", n: 10}
		}
	case "protocol":
		return constVal(value{kind: vStr, s: "tcp", n: 6})
	case "proto-dst":
		return func(st *pstate) value { return value{kind: vNum, n: uint64(st.Port)} }
	case "saddr":
		return func(st *pstate) value {
			if st.out {
				return value{kind: vSrc, why: "source"}
			}
			return value{kind: vCond, why: "client " + key}
		}
	case "proto-src":
		return localPortVal("client " + key)
	}
	return constVal(value{kind: vUnknown, why: "ct " + key})
}

// bitsOf reads a mask: a number, a flag name or a list of them.
func bitsOf(raw json.RawMessage) (uint64, bool) {
	var n uint64
	if json.Unmarshal(raw, &n) == nil {
		return n, true
	}
	var names []string
	var one string
	if json.Unmarshal(raw, &one) == nil {
		names = []string{one}
	} else if json.Unmarshal(raw, &names) != nil {
		return 0, false
	}
	var m uint64
	for _, s := range names {
		b, ok := symbolBits(s)
		if !ok {
			return 0, false
		}
		m |= b
	}
	return m, true
}

func symbolBits(s string) (uint64, bool) {
	if b, ok := tcpFlagBits[strings.ToUpper(s)]; ok {
		return uint64(b), true
	}
	if b, ok := ctStateBits[s]; ok {
		return b, true
	}
	if b, ok := ctStatusBits[s]; ok {
		return b, true
	}
	return 0, false
}

// match builds the condition of one match statement.
func (p *nftParser) match(t *Table, op string, leftRaw, rightRaw json.RawMessage) condition {
	left := p.left(leftRaw)
	right := p.right(t, rightRaw)
	return func(st *pstate) (tri, string) {
		v := left(st)
		return compare(st, v, op, right)
	}
}

// elem is one element of a match's right side: a value, a range or a prefix.
type elem struct {
	n, hi   uint64
	s       string
	isRange bool
	isStr   bool
	prefix  netip.Prefix
	alo     netip.Addr // an address range, alo-ahi
	ahi     netip.Addr
	bad     bool // not understood
}

func (e elem) isAddr() bool { return e.prefix.IsValid() || e.alo.IsValid() }

func (e elem) hasAddr(a netip.Addr) bool {
	a = a.Unmap()
	if e.prefix.IsValid() {
		return e.prefix.Contains(a)
	}
	return e.alo.IsValid() && e.alo.Compare(a) <= 0 && a.Compare(e.ahi) <= 0
}

func (e elem) addrString() string {
	if e.prefix.IsValid() {
		return e.prefix.String()
	}
	return e.alo.String() + "-" + e.ahi.String()
}

// rhs is a match's right side: one element, or a set of them.
type rhs struct {
	elems []elem
	set   bool
	named string
	bad   bool
}

func (p *nftParser) right(t *Table, raw json.RawMessage) rhs {
	var s string
	if json.Unmarshal(raw, &s) == nil && strings.HasPrefix(s, "@") {
		name := s[1:]
		elems, ok := p.sets[tableKey{t.Family, t.Name}][name]
		if !ok {
			return rhs{bad: true, named: name}
		}
		k := setKey{t.Family, t.Name, name}
		parsed, done := p.setElems[k]
		if !done {
			parsed = make([]elem, 0, len(elems))
			for _, e := range elems {
				parsed = append(parsed, parseElem(e))
			}
			if p.setElems == nil {
				p.setElems = map[setKey][]elem{}
			}
			p.setElems[k] = parsed
		}
		return rhs{set: true, named: name, elems: parsed}
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		if body, ok := obj["set"]; ok {
			var items []json.RawMessage
			if json.Unmarshal(body, &items) != nil {
				// A one-element set may be printed bare.
				return rhs{set: true, elems: []elem{parseElem(body)}}
			}
			out := rhs{set: true}
			for _, it := range items {
				out.elems = append(out.elems, parseElem(it))
			}
			return out
		}
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		// A list of flag names is one OR-ed mask.
		if m, ok := bitsOf(raw); ok {
			return rhs{elems: []elem{{n: m}}}
		}
		return rhs{bad: true}
	}
	return rhs{elems: []elem{parseElem(raw)}}
}

// maxElemDepth bounds the nesting of elem, range and prefix objects
// (nft prints at most three levels).
const maxElemDepth = 8

func parseElem(raw json.RawMessage) elem { return parseElemDepth(raw, 0) }

func parseElemDepth(raw json.RawMessage, depth int) elem {
	if depth > maxElemDepth {
		return elem{bad: true}
	}
	var n float64
	if json.Unmarshal(raw, &n) == nil {
		if n < 0 || n > math.MaxUint32 {
			return elem{bad: true}
		}
		return elem{n: uint64(n)}
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		if b {
			return elem{n: 1}
		}
		return elem{n: 0}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if bits, ok := symbolBits(s); ok {
			return elem{n: bits, s: s, isStr: true}
		}
		if a, err := netip.ParseAddr(s); err == nil {
			return elem{prefix: netip.PrefixFrom(a, a.BitLen())}
		}
		if p, ok := services[s]; ok {
			return elem{n: uint64(p), s: s, isStr: true}
		}
		return elem{s: s, isStr: true}
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return elem{bad: true}
	}
	if body, ok := obj["range"]; ok {
		var rg []json.RawMessage
		if json.Unmarshal(body, &rg) != nil || len(rg) != 2 {
			return elem{bad: true}
		}
		lo, hi := parseElemDepth(rg[0], depth+1), parseElemDepth(rg[1], depth+1)
		if lo.bad || hi.bad || lo.isStr || hi.isStr {
			return elem{bad: true}
		}
		if lo.prefix.IsValid() && hi.prefix.IsValid() {
			return elem{alo: lo.prefix.Addr(), ahi: hi.prefix.Addr()}
		}
		if lo.prefix.IsValid() || hi.prefix.IsValid() {
			return elem{bad: true}
		}
		return elem{n: lo.n, hi: hi.n, isRange: true}
	}
	if body, ok := obj["prefix"]; ok {
		var pf struct {
			Addr string `json:"addr"`
			Len  int    `json:"len"`
		}
		if json.Unmarshal(body, &pf) != nil {
			return elem{bad: true}
		}
		a, err := netip.ParseAddr(pf.Addr)
		if err != nil || pf.Len < 0 || pf.Len > a.BitLen() {
			return elem{bad: true}
		}
		return elem{prefix: netip.PrefixFrom(a, pf.Len).Masked()}
	}
	if body, ok := obj["elem"]; ok {
		var e struct {
			Val json.RawMessage `json:"val"`
		}
		if json.Unmarshal(body, &e) != nil {
			return elem{bad: true}
		}
		return parseElemDepth(e.Val, depth+1)
	}
	return elem{bad: true}
}

// matchElem reports whether the packet's value v equals (or lies in) e.
func matchElem(v value, e elem, bitwise bool) (bool, bool) {
	if e.bad {
		return false, false
	}
	switch v.kind {
	case vNum, vBits:
		if e.isRange {
			return v.n >= e.n && v.n <= e.hi, true
		}
		if e.isStr && e.n == 0 && e.s != "" {
			if _, ok := symbolBits(e.s); !ok {
				return false, false
			}
		}
		if bitwise {
			return v.n&e.n != 0 || v.n == e.n, true
		}
		return v.n == e.n, true
	case vStr:
		if e.isStr {
			return strings.EqualFold(v.s, e.s), true
		}
		return v.n == e.n, true
	}
	return false, false
}

// compare answers op between the packet's value and the right side.
func compare(st *pstate, v value, op string, r rhs) (tri, string) {
	st.work += len(r.elems) * max(1, len(st.Local))
	neg := op == "!="
	switch v.kind {
	case vNo:
		return no, ""
	case vUnknown:
		return unknown, v.why
	case vCond:
		why := v.why
		if r.named != "" {
			why += " in set @" + r.named
		} else if len(r.elems) > 0 && r.elems[0].isAddr() {
			if r.elems[0].prefix.IsValid() && r.elems[0].prefix.Bits() == 0 {
				return negate(yes, neg), ""
			}
			why += " " + r.elems[0].addrString()
		}
		return clientCond(neg, why)(st)
	case vIface:
		if len(r.elems) == 0 || r.bad {
			return unknown, "interface set"
		}
		lo := false
		for _, e := range r.elems {
			lo = lo || e.s == "lo"
		}
		if v.s == "" {
			if lo && len(r.elems) == 1 {
				return negate(no, neg), ""
			}
			return cond, "interface " + r.elems[0].s
		}
		m := false
		for _, e := range r.elems {
			m = m || ifaceMatch(strings.ReplaceAll(e.s, "*", "+"), v.s)
		}
		return negate(boolTri(m), neg), ""
	case vSrc, vLocalPort:
		return compareOwn(st, v, op, r)
	case vDst:
		if r.bad {
			return unknown, "destination set"
		}
		in := func(a netip.Addr) bool {
			for _, e := range r.elems {
				if e.hasAddr(a) {
					return true
				}
			}
			return false
		}
		return addrMatch(dests(st), in, neg, "destination")
	}
	if r.bad {
		return unknown, "set @" + r.named
	}
	switch op {
	case "==", "!=", "in":
		m := false
		for _, e := range r.elems {
			ok, known := matchElem(v, e, v.kind == vBits && (op == "in" || r.set))
			if !known {
				return unknown, "value " + e.s
			}
			m = m || ok
		}
		return negate(boolTri(m), neg), ""
	case "<", ">", "<=", ">=":
		if len(r.elems) != 1 || v.kind != vNum {
			return unknown, "comparison"
		}
		x, y := v.n, r.elems[0].n
		m := map[string]bool{"<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[op]
		return boolTri(m), ""
	}
	return unknown, "operator " + op
}

// vmapEntry is one element of a verdict map and its verdict.
type vmapEntry struct {
	e   elem
	act action
}

// vmapVerdicts are the statements a verdict map's element may carry.
var vmapVerdicts = map[string]bool{"accept": true, "drop": true, "reject": true, "queue": true, "return": true,
	"continue": true, "jump": true, "goto": true}

// vmapEntries reads a verdict map's elements; bad when one is not a pair
// of a key and a verdict.
func (p *nftParser) vmapEntries(t *Table, items []json.RawMessage) ([]vmapEntry, bool) {
	var entries []vmapEntry
	bad := false
	for _, it := range items {
		var pair []json.RawMessage
		if json.Unmarshal(it, &pair) != nil || len(pair) != 2 {
			bad = true
			continue
		}
		var vr map[string]json.RawMessage
		if json.Unmarshal(pair[1], &vr) != nil {
			bad = true
			continue
		}
		tmp := &Rule{}
		for k, b := range vr {
			if !vmapVerdicts[k] {
				bad = true // not a verdict (and never a nested map)
				continue
			}
			_ = p.statement(t, tmp, k, b)
		}
		entries = append(entries, vmapEntry{parseElem(pair[0]), tmp.act})
	}
	return entries, bad
}

// vmap builds the action of a verdict map: the verdict of the element the
// packet's key matches, none when no element matches.
func (p *nftParser) vmap(t *Table, keyRaw, dataRaw json.RawMessage) action {
	key := p.left(keyRaw)
	var entries []vmapEntry
	var bad bool
	var s string
	if json.Unmarshal(dataRaw, &s) == nil && strings.HasPrefix(s, "@") {
		k := setKey{t.Family, t.Name, s[1:]}
		var done bool
		if entries, done = p.vmaps[k]; !done {
			items := p.sets[tableKey{t.Family, t.Name}][s[1:]]
			entries, bad = p.vmapEntries(t, items)
			bad = bad || items == nil
			if p.vmaps == nil {
				p.vmaps = map[setKey][]vmapEntry{}
			}
			if !bad {
				p.vmaps[k] = entries
			}
		}
	} else {
		var obj struct {
			Set []json.RawMessage `json:"set"`
		}
		if json.Unmarshal(dataRaw, &obj) != nil {
			bad = true
		}
		var bad2 bool
		entries, bad2 = p.vmapEntries(t, obj.Set)
		bad = bad || bad2
	}
	return action{kind: actNone, dyn: func(st *pstate) (action, tri, string) {
		if bad {
			return action{}, unknown, "verdict map"
		}
		st.work += len(entries)
		v := key(st)
		switch v.kind {
		case vNo:
			return action{}, no, ""
		case vCond:
			return action{}, cond, v.why + " verdict map"
		case vNum, vBits, vStr:
		case vSrc, vDst:
			if !st.out {
				return action{}, unknown, "verdict map on " + v.why
			}
			as := srcs(st)
			if v.kind == vDst {
				as = dests(st)
			}
			if len(as) == 0 {
				return action{}, unknown, "verdict map on " + v.why
			}
			for _, en := range entries {
				if en.e.bad {
					return action{}, unknown, "verdict map"
				}
				if en.e.hasAddr(as[0]) {
					return en.act, yes, ""
				}
			}
			return action{}, no, ""
		case vIface:
			if v.s == "" {
				return action{}, cond, "interface verdict map"
			}
			for _, en := range entries {
				if ifaceMatch(strings.ReplaceAll(en.e.s, "*", "+"), v.s) {
					return en.act, yes, ""
				}
			}
			return action{}, no, ""
		default:
			return action{}, unknown, "verdict map on " + v.why
		}
		for _, en := range entries {
			ok, known := matchElem(v, en.e, v.kind == vBits)
			if !known {
				return action{}, unknown, "verdict map"
			}
			if ok {
				return en.act, yes, ""
			}
		}
		return action{}, no, ""
	}}
}

// nftText is what `nft -a list ruleset` adds to the JSON: each rule's
// text by handle, and the device of netdev chains (nft 1.0.6 leaves it out
// of the JSON).
type nftText struct {
	rules map[ruleKey]string
	devs  map[ruleKey]string // handle 0
}

// parseNftText reads `nft -a list ruleset` output. A rule's handle is the
// last " # handle N" of its line, so a comment that carries one does not
// move a text to another rule.
func parseNftText(r io.Reader) (nftText, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxRuleLine)
	out := nftText{rules: map[ruleKey]string{}, devs: map[ruleKey]string{}}
	var family, table, chain string
	depth := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		body, comment := line, ""
		if i := strings.LastIndex(line, " # handle "); i >= 0 {
			body, comment = line[:i], line[i+len(" # "):]
		}
		body = strings.TrimSpace(body)
		switch {
		case strings.HasPrefix(body, "table ") && strings.HasSuffix(body, "{"):
			f := strings.Fields(body)
			if len(f) >= 3 {
				family, table = f[1], f[2]
			}
			depth, chain = 1, ""
		case depth == 1 && strings.HasPrefix(body, "chain ") && strings.HasSuffix(body, "{"):
			f := strings.Fields(body)
			if len(f) >= 2 {
				chain = f[1]
			}
			depth = 2
		case depth == 1 && strings.HasSuffix(body, "{"):
			depth, chain = 2, "" // set, map, flowtable, ...
		case body == "}":
			depth = max(depth-1, 0)
			if depth < 2 {
				chain = ""
			}
		case depth == 2 && chain != "" && strings.HasPrefix(body, "type ") && strings.Contains(body, " hook "):
			if _, rest, ok := strings.Cut(body, ` device "`); ok {
				if dev, _, ok := strings.Cut(rest, `"`); ok {
					out.devs[ruleKey{family, table, chain, 0}] = clip(dev, maxName)
				}
			}
		case depth == 2 && chain != "" && strings.HasPrefix(comment, "handle "):
			h, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(comment, "handle ")))
			if err == nil && h > 0 {
				out.rules[ruleKey{family, table, chain, h}] = body
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nftText{}, fmt.Errorf("firewall: nft text: %w", err)
	}
	return out, nil
}

var trailingComment = regexp.MustCompile(`(?:^|\s)comment "[^"]*"$`)

// textMatchesComment: nft prints a rule's comment last, so its text ends
// with the comment the JSON has, or with none when the JSON has none.
func textMatchesComment(text, comment string) bool {
	if comment != "" {
		return strings.HasSuffix(text, `comment "`+comment+`"`)
	}
	return !trailingComment.MatchString(text)
}

// textTrusted: the nft text lines up with the JSON only when no name or
// comment in it can break a line (nft prints them raw): a line break in a
// comment could start a fake "table", "}" or handle line.
func textTrusted(doc *nftDoc) bool {
	for _, obj := range doc.Nftables {
		for _, raw := range obj {
			var n struct {
				Family  string `json:"family"`
				Table   string `json:"table"`
				Name    string `json:"name"`
				Chain   string `json:"chain"`
				Comment string `json:"comment"`
			}
			if json.Unmarshal(raw, &n) != nil {
				continue
			}
			for _, s := range []string{n.Family, n.Table, n.Name, n.Chain, n.Comment} {
				if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 }) {
					return false
				}
			}
		}
	}
	return true
}

// describeExprs is a rule's text when nft's own is not at hand.
func describeExprs(exprs []json.RawMessage) string {
	var parts []string
	for _, e := range exprs {
		parts = append(parts, clip(string(e), 120))
	}
	return clip(strings.Join(parts, " "), maxText)
}

// localPortVal is a rule's view of the source port: the client's (which
// depends on the client), or this machine's own when it connects.
func localPortVal(why string) func(*pstate) value {
	return func(st *pstate) value {
		if !st.out {
			return value{kind: vCond, why: why}
		}
		if p := st.conn.SrcPort; p != 0 {
			return value{kind: vNum, n: uint64(p)}
		}
		return value{kind: vLocalPort, why: "local source port"}
	}
}

// elemPorts turns a right side's elements into a port list.
func elemPorts(elems []elem) (portSpec, bool) {
	var ps portSpec
	for _, e := range elems {
		switch {
		case e.bad || e.isAddr() || e.n > 65535 || e.hi > 65535:
			return nil, false
		case e.isRange:
			ps = append(ps, [2]uint16{uint16(e.n), uint16(e.hi)})
		case e.isStr:
			p, ok := services[e.s]
			if !ok {
				return nil, false
			}
			ps = append(ps, [2]uint16{p, p})
		default:
			ps = append(ps, [2]uint16{uint16(e.n), uint16(e.n)})
		}
	}
	return ps, true
}

// outFibType is `fib daddr type` (or saddr) for this machine's own
// connection: its source is local, its destination is what it is.
func outFibType(st *pstate, flags []string) value {
	for _, f := range flags {
		if f == "saddr" {
			return value{kind: vStr, s: "local"}
		}
	}
	d := dests(st)
	if len(d) == 0 {
		return value{kind: vUnknown, why: "fib daddr type"}
	}
	return value{kind: vStr, s: addrType(st, d[0])}
}

// compareOwn answers a match on this machine's own source address or port.
func compareOwn(st *pstate, v value, op string, r rhs) (tri, string) {
	neg := op == "!="
	if r.bad {
		return unknown, "set @" + r.named
	}
	if v.kind == vSrc {
		in := func(a netip.Addr) bool {
			for _, e := range r.elems {
				if e.hasAddr(a) {
					return true
				}
			}
			return false
		}
		return addrMatch(srcs(st), in, neg, "source")
	}
	if op != "==" && op != "!=" && op != "in" {
		return cond, "local source port"
	}
	ps, ok := elemPorts(r.elems)
	if !ok {
		return unknown, "source port"
	}
	return localPortMatch(st, ps, neg)
}
