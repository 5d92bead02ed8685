// Package firewall evaluates this host's packet filter, read-only, for two
// questions:
//
//   - INPUT: is a new TCP connection to PORT, from a client anywhere on the
//     internet, accepted, dropped or rejected, and by which rule?
//     (Ruleset.Evaluate, Snapshot.Opening)
//   - OUTPUT: is a new TCP connection this machine opens, to an address and
//     port, out of an interface, from a source address, let out, dropped or
//     rejected by this machine's own firewall, and by which rule?
//     (Ruleset.EvaluateOutput, Snapshot.Outgoing, Snapshot.OutgoingOpening)
//
// It reads the rule sets as their own tools print them (iptables-save and
// ip6tables-save for both the nft and legacy back ends, nft -j list
// ruleset, trusted only with json_schema_version 1), turns them into one
// model of tables, chains and rules, and walks the base chains of every hook
// the SYN passes in priority order, as the kernel does: ingress, prerouting,
// input or forward for INPUT; output, postrouting and egress for OUTPUT,
// following jumps, gotos, returns, marks, notrack and DNAT. The
// configuration of ufw and firewalld is read from their files, to name the
// tool that manages the rules and the command that opens a port with it.
//
// A rule can depend on who the client is (its source address, an ipset, the
// interface it arrives on). The INPUT walk answers for a client that no such
// rule names: rules that apply only to particular clients are passed over
// and reported as Notes, and rules it does not understand are passed over and
// make the Result Uncertain. The OUTPUT walk knows the connection (Conn):
// what Conn leaves unknown (the output interface, the source address, the
// socket's owner, the members of an ipset) makes a rule on it uncertain.
//
// # The OUTPUT evaluation, for the client_firewall cause
//
//	snap := firewall.Reader{}.Read(ctx, nil)
//	c := firewall.Conn{Family: firewall.IPv4, Dst: addr, Port: 8282,
//		OutIface: route.Iface, Src: route.Src, Owner: &firewall.Owner{UID: uid, GID: gid}}
//	o := snap.Outgoing(c)
//	switch {
//	case !o.Read:
//		// nothing could be read (often: not root): say so, conclude nothing
//	case o.Action == firewall.Drop || o.Action == firewall.Reject:
//		// client_firewall: o.Decider names the rule (Backend, Table, Chain,
//		// Rule, Pos or Handle, Packets), o.Decider.RejectWith the reject
//		// type; o.Uncertain lowers the confidence; o.Manager is the tool;
//		// snap.OutgoingOpening(o, c).Commands lets it through
//	}
//
// Outgoing.UFWAction and UFWRule add what ufw's own configuration says
// (the user's outgoing rules, DEFAULT_OUTPUT_POLICY). Firewalld filters
// outgoing connections only through policies (ingress zone HOST) and direct
// rules; both are in the rule set the walk reads, and a policy's chain
// names the policy for the firewall-cmd command.
//
// # Outside text
//
// Rule texts, comments, chain names and tuples are kept raw, bounded in
// length when read; they are escaped where they are shown, not here. Every
// name put into a command a person may paste passes a strict character set
// (SafeZoneName, SafeIfaceName and the package's own checks for nft and
// iptables names), or the command is not offered.
package firewall

import (
	"net/netip"
	"sort"
	"strconv"

	"github.com/conndiag/conndiag/internal/evidence"
)

// Family is the IP version of the connection evaluated (defined in internal/evidence).
type Family = evidence.Family

// The families.
const (
	IPv4 = evidence.IPv4
	IPv6 = evidence.IPv6
)

// Action is what the rule set does to the SYN (defined in internal/evidence).
type Action = evidence.Action

// The actions.
const (
	Accept = evidence.Accept
	Drop   = evidence.Drop
	Reject = evidence.Reject
	Queue  = evidence.Queue
)

// Back ends, as Hit.Backend names them.
const (
	BackendIptablesNft    = evidence.BackendIptablesNft
	BackendIptablesLegacy = evidence.BackendIptablesLegacy
	BackendNftables       = evidence.BackendNftables
)

// Packet is the connection asked about.
type Packet struct {
	Family Family
	Port   uint16
	// InIface is the interface clients arrive on (the default route's); ""
	// when unknown, which makes interface-specific rules conditional.
	InIface string
	// Local are this host's own addresses of Family, for rules on the
	// destination address; empty means every destination rule is uncertain.
	Local []netip.Addr
	// OutIface, when set, names the interface toward an address (a route
	// lookup), for rules on the output interface of forwarded connections.
	OutIface func(netip.Addr) string
}

// Hit names a rule (or a chain policy) of the rule set.
type Hit = evidence.Hit

// Note is a rule passed over on the way.
type Note = evidence.Note

// Redirect is a DNAT or REDIRECT on the way in.
type Redirect = evidence.Redirect

// Result is the rule set's answer for one Packet.
type Result = evidence.FirewallResult

const (
	maxNotes = 8
	maxDepth = 64 // jumps; the kernel's own limit is 16 for nft
	// maxSteps bounds the rules visited in one evaluation: real rule sets
	// have no loops, but a made-up one could branch exponentially.
	maxSteps = 1 << 20
	// maxWork bounds the set and map elements compared in one evaluation
	// (a rule on a set of n elements costs n).
	maxWork = 1 << 24
)

// tri is a rule condition's answer for the generic client.
type tri uint8

const (
	yes     tri = iota
	no          // does not match
	cond        // matches some clients only (by source, interface, set)
	unknown     // not understood
)

// and combines the answers of a rule's conditions.
func and(a, b tri) tri {
	switch {
	case a == no || b == no:
		return no
	case a == unknown || b == unknown:
		return unknown
	case a == cond || b == cond:
		return cond
	}
	return yes
}

// pstate is the packet while it walks: what rules can change about it.
type pstate struct {
	Packet
	out       bool // the OUTPUT path: a connection this machine opens, conn
	conn      Conn
	work      int    // set elements compared so far (bounded by maxWork)
	port      uint16 // after DNAT/REDIRECT
	ct        uint32 // conntrack state bit (ctNew, ctUntracked)
	mark      uint32
	dnat      bool
	forwarded bool
	dnatAddr  netip.Addr // where a DNAT sent the connection
	outIface  string     // the interface toward dnatAddr, when forwarded
}

const (
	ctInvalid     = 1
	ctEstablished = 2
	ctRelated     = 4
	ctNew         = 8
	ctUntracked   = 64
)

// condition is one match of a rule; why describes a cond or unknown answer.
type condition func(*pstate) (tri, string)

type actKind uint8

const (
	actNone     actKind = iota // counter, log, ...: go on with the next rule
	actAccept                  // accept
	actDrop                    // drop
	actReject                  // reject
	actQueue                   // queue to user space
	actJump                    // jump target
	actGoto                    // goto target
	actReturn                  // return
	actDNAT                    // dnat / redirect (nat chains): ends the chain, like accept
	actNotrack                 // notrack: ct state becomes untracked
	actMark                    // set the packet mark
	actUnknownT                // a target or statement not understood
)

type action struct {
	kind       actKind
	target     string // chain for jump and goto
	rejectWith string
	addr       netip.Addr // dnat address
	port       uint16     // dnat/redirect port
	mark, mask uint32     // actMark: mark = (mark & ^mask) ^ value
	what       string     // the unknown target or statement
	// dyn picks the action at walk time (nft verdict maps).
	dyn func(*pstate) (action, tri, string)
}

func (a action) terminal() bool {
	switch a.kind {
	case actAccept, actDrop, actReject, actQueue, actJump, actGoto, actDNAT:
		return true
	}
	return false
}

func (a action) noteAction() Action {
	switch a.kind {
	case actAccept, actDNAT:
		return Accept
	case actDrop:
		return Drop
	case actReject:
		return Reject
	case actQueue:
		return Queue
	}
	return ""
}

// Rule is one rule of a chain.
type Rule struct {
	Pos     int
	Handle  int
	Text    string
	Counted bool
	Packets uint64
	Bytes   uint64
	conds   []condition
	act     action
}

// Chain is a chain of a table; base chains are attached to a hook.
type Chain struct {
	Name   string
	Base   bool
	Hook   string // ingress, prerouting, input, forward, output, postrouting
	Type   string // filter, nat, route
	Prio   int
	Dev    string // netdev ingress chains: the device
	Policy Action // base chains: accept or drop
	Rules  []*Rule
}

// Table is one table of one back end.
type Table struct {
	Backend string
	Family  string // ip, ip6, inet, arp, bridge, netdev
	Name    string
	Chains  map[string]*Chain
	order   []string
}

func newTable(backend, family, name string) *Table {
	return &Table{Backend: backend, Family: family, Name: name, Chains: map[string]*Chain{}}
}

func (t *Table) chain(name string) *Chain {
	c := t.Chains[name]
	if c == nil {
		c = &Chain{Name: name}
		t.Chains[name] = c
		t.order = append(t.order, name)
	}
	return c
}

// Ruleset is every table read from every back end.
type Ruleset struct {
	Tables []*Table
}

// appliesTo reports whether a table of this family sees packets of f.
func appliesTo(family string, f Family) bool {
	switch family {
	case "inet", "netdev":
		return true
	case "ip":
		return f == IPv4
	case "ip6":
		return f == IPv6
	}
	return false
}

var stageOrder = map[string]int{"ingress": 0, "prerouting": 1, "input": 2, "forward": 2}

type baseRef struct {
	t   *Table
	c   *Chain
	seq int
}

// baseChains is the base chains of the tables that apply to family f whose
// hook is one of stages, in the order the kernel runs them (stage, then
// priority, then rule-set order). A nat chain counts only on natHook, since
// source NAT cannot stop the SYN; keep, when set, passes over the others.
func (rs *Ruleset) baseChains(f Family, stages map[string]int, natHook string, keep func(*Chain) bool) []baseRef {
	var bases []baseRef
	for _, t := range rs.Tables {
		if !appliesTo(t.Family, f) {
			continue
		}
		for _, name := range t.order {
			c := t.Chains[name]
			if !c.Base {
				continue
			}
			if _, ok := stages[c.Hook]; !ok {
				continue
			}
			if c.Type == "nat" && c.Hook != natHook || keep != nil && !keep(c) {
				continue
			}
			bases = append(bases, baseRef{t, c, len(bases)})
		}
	}
	sort.SliceStable(bases, func(i, j int) bool {
		a, b := bases[i].c, bases[j].c
		if sa, sb := stages[a.Hook], stages[b.Hook]; sa != sb {
			return sa < sb
		}
		return a.Prio < b.Prio
	})
	return bases
}

// Evaluate walks the rule set for p, as the kernel would for its first SYN.
func (rs *Ruleset) Evaluate(p Packet) Result {
	res := Result{Family: p.Family, Port: p.Port, Action: Accept}
	st := &pstate{Packet: p, port: p.Port, ct: ctNew}
	bases := rs.baseChains(p.Family, stageOrder, "prerouting", nil)
	w := &walker{res: &res}
	for _, b := range bases {
		if b.c.Hook == "forward" && !st.forwarded || b.c.Hook == "input" && st.forwarded {
			continue
		}
		if b.c.Hook == "ingress" && b.c.Dev != "" && p.InIface != "" && b.c.Dev != p.InIface {
			continue
		}
		if w.judgeBase(&res, b, st, func(a netip.Addr) {
			if !isLocal(st.Local, a) {
				st.forwarded, st.dnatAddr = true, a
				res.Forwarded = true
				if p.OutIface != nil {
					st.outIface = p.OutIface(a)
				}
			}
		}) {
			return res
		}
	}
	return res
}

// judgeBase walks base chain b and applies what it decides to res: true
// when the packet's fate is sealed (a drop, reject or queue, or the policy
// of a chain it fell off). dnatTo takes a DNAT's new address, which the
// INPUT and OUTPUT walks treat apart.
func (w *walker) judgeBase(res *Result, b baseRef, st *pstate, dnatTo func(netip.Addr)) bool {
	res.Chains++
	out, hit := w.walk(b.t, b.c, b.c, st, 0)
	switch out.kind {
	case actNone, actReturn:
		// Fell off the end of the base chain: its policy decides.
		if b.c.Policy == Drop {
			res.Action = Drop
			res.Decider = policyHit(b.t, b.c)
			return true
		}
	case actAccept:
		res.Decider = hit
	case actDNAT:
		res.Redirect = &Redirect{Hit: *hit, Addr: out.addr, Port: out.port}
		st.dnat = true
		if out.port != 0 {
			st.port = out.port
		}
		if out.addr.IsValid() {
			dnatTo(out.addr)
		}
	case actDrop, actReject, actQueue:
		res.Action = map[actKind]Action{actDrop: Drop, actReject: Reject, actQueue: Queue}[out.kind]
		res.Decider = hit
		if out.kind == actReject {
			res.Decider.RejectWith = out.rejectWith
		}
		return true
	}
	return false
}

func isLocal(local []netip.Addr, a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() {
		return true
	}
	for _, l := range local {
		if l.Unmap() == a {
			return true
		}
	}
	return false
}

func policyHit(t *Table, c *Chain) *Hit {
	return &Hit{Backend: t.Backend, Family: t.Family, Table: t.Name, Chain: c.Name, Base: c.Name, Policy: true, Rule: policyText(t, c)}
}

func policyText(t *Table, c *Chain) string {
	if t.Backend == BackendNftables {
		return "policy " + string(c.Policy)
	}
	return ":" + c.Name + " " + map[Action]string{Accept: "ACCEPT", Drop: "DROP"}[c.Policy]
}

type walker struct {
	res   *Result
	steps int
}

func (w *walker) hit(t *Table, c, base *Chain, r *Rule) *Hit {
	return &Hit{Backend: t.Backend, Family: t.Family, Table: t.Name, Chain: c.Name, Base: base.Name,
		Rule: r.Text, Pos: r.Pos, Handle: r.Handle, Counted: r.Counted, Packets: r.Packets, Bytes: r.Bytes}
}

func (w *walker) note(t *Table, c, base *Chain, r *Rule, a action, m tri, why string) {
	if m == unknown {
		w.res.Uncertain = true
	}
	if len(w.res.Notes) >= maxNotes {
		return
	}
	n := Note{Hit: *w.hit(t, c, base, r), Action: a.noteAction(), Why: clip(why, maxText), Unknown: m == unknown}
	if a.kind == actJump || a.kind == actGoto {
		n.Jump = a.target
	}
	w.res.Notes = append(w.res.Notes, n)
}

// walk runs chain c of table t. It returns the final action (accept, drop,
// reject, queue, dnat) with the rule that took it, or actNone when the chain
// ran out or returned.
func (w *walker) walk(t *Table, c, base *Chain, st *pstate, depth int) (action, *Hit) {
	if depth > maxDepth {
		w.res.Uncertain = true
		return action{}, nil
	}
	for _, r := range c.Rules {
		if w.steps++; w.steps > maxSteps || st.work > maxWork {
			w.res.Uncertain = true
			return action{}, nil
		}
		m, why := yes, ""
		for _, cd := range r.conds {
			got, reason := cd(st)
			if m2 := and(m, got); m2 != m {
				m, why = m2, reason
			}
			if m == no {
				break
			}
		}
		if m == no {
			continue
		}
		a := r.act
		if a.dyn != nil {
			var am tri
			var areason string
			a, am, areason = a.dyn(st)
			if m2 := and(m, am); m2 != m {
				m, why = m2, areason
			}
			if m == no {
				continue
			}
		}
		if m != yes {
			if a.terminal() {
				w.note(t, c, base, r, a, m, why)
			}
			continue
		}
		switch a.kind {
		case actAccept, actDrop, actReject, actQueue, actDNAT:
			return a, w.hit(t, c, base, r)
		case actJump, actGoto:
			next := t.Chains[a.target]
			if next == nil {
				w.note(t, c, base, r, a, unknown, "no chain "+strconv.Quote(a.target))
				continue
			}
			out, h := w.walk(t, next, base, st, depth+1)
			if out.kind != actNone && out.kind != actReturn {
				return out, h
			}
			if a.kind == actGoto {
				return action{}, nil
			}
		case actReturn:
			return action{kind: actReturn}, nil
		case actNotrack:
			st.ct = ctUntracked
		case actMark:
			st.mark = st.mark&^a.mask ^ a.mark
		case actUnknownT:
			w.note(t, c, base, r, a, unknown, a.what)
		}
	}
	return action{}, nil
}
