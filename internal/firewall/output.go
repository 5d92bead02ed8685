package firewall

import (
	"net/netip"
	"regexp"
	"sort"
	"strings"

	"github.com/conndiag/conndiag/internal/fwcmd"
)

// Conn is a new TCP connection this machine opens (the client side), as
// EvaluateOutput and Snapshot.Outgoing ask about it.
type Conn struct {
	Family Family
	Dst    netip.Addr // the server's address
	Port   uint16     // the server's port
	// OutIface is the interface the route sends the connection out of
	// (ip route get); "" when unknown, which makes rules on the output
	// interface uncertain.
	OutIface string
	// Src is the source address the route picks; the zero Addr when
	// unknown, which makes rules on the source address uncertain.
	Src netip.Addr
	// SrcPort is the local port, 0 when the kernel has not chosen it yet:
	// a rule on the source port is then judged over SrcPorts.
	SrcPort uint16
	// SrcPorts is the range the kernel picks local ports from
	// (net.ipv4.ip_local_port_range); the zero value means Linux's default,
	// 32768-60999.
	SrcPorts [2]uint16
	// Local are this machine's own addresses, for rules on whether the
	// destination is local (addrtype, fib); loopback counts without them.
	Local []netip.Addr
	// Owner is the connecting process's user and group, for owner matches
	// (-m owner, meta skuid); nil when unknown.
	Owner *Owner
}

// Owner is the user and group a socket belongs to.
type Owner struct{ UID, GID uint32 }

// defaultEphemeral is Linux's default net.ipv4.ip_local_port_range.
var defaultEphemeral = [2]uint16{32768, 60999}

// outStage orders the hooks a packet this machine sends passes, after the
// route lookup: output, postrouting, then the device's egress.
var outStage = map[string]int{"output": 0, "postrouting": 1, "egress": 2}

// EvaluateOutput walks the rule set for the first SYN of a connection this
// machine opens: every base chain of the output and postrouting hooks (and
// netdev egress), in priority order, as the kernel does. The Result has the
// same meaning as Evaluate's: Action, the deciding rule or policy with its
// text and counters, the rules passed over (Notes), and Uncertain when a
// rule that was not understood, or that depends on something c leaves
// unknown, was passed over before the decision. A DNAT in a nat output
// chain is followed (Redirect); source NAT cannot stop the SYN and is not
// walked.
func (rs *Ruleset) EvaluateOutput(c Conn) Result {
	res := Result{Family: c.Family, Port: c.Port, Action: Accept}
	if c.SrcPorts == [2]uint16{} {
		c.SrcPorts = defaultEphemeral
	}
	st := &pstate{Packet: Packet{Family: c.Family, Port: c.Port, Local: c.Local}, out: true, conn: c, port: c.Port, ct: ctNew}
	bases := rs.baseChains(c.Family, outStage, "output", func(ch *Chain) bool {
		return ch.Hook != "egress" || ch.Dev == "" || c.OutIface == "" || ch.Dev == c.OutIface
	})
	w := &walker{res: &res}
	for _, b := range bases {
		if w.judgeBase(&res, b, st, func(a netip.Addr) { st.dnatAddr = a }) {
			return res
		}
	}
	return res
}

// localPortMatch judges a rule on the local (source) port of this
// machine's own connection: the port itself when chosen, else the range the
// kernel picks it from: yes when every port of the range is in ps, no when
// none is, cond when some are.
func localPortMatch(st *pstate, ps portSpec, neg bool) (tri, string) {
	if p := st.conn.SrcPort; p != 0 {
		return negate(boolTri(ps.has(p)), neg), ""
	}
	r := st.conn.SrcPorts
	if r == [2]uint16{} {
		r = defaultEphemeral
	}
	in := rangeCovered(ps, r[0], r[1])
	switch {
	case in == 0:
		return negate(no, neg), ""
	case in == int(r[1])-int(r[0])+1:
		return negate(yes, neg), ""
	}
	return cond, "local source port"
}

// rangeCovered counts the ports of lo..hi that ps holds.
func rangeCovered(ps portSpec, lo, hi uint16) int {
	if hi < lo {
		lo, hi = hi, lo
	}
	// Merge ps's ranges clipped to lo..hi, so overlapping entries count once.
	type span struct{ a, b int }
	var spans []span
	for _, r := range ps {
		a, b := max(int(r[0]), int(lo)), min(int(r[1]), int(hi))
		if a <= b {
			spans = append(spans, span{a, b})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].a < spans[j].a })
	n, end := 0, -1
	for _, s := range spans {
		if s.a > end {
			n += s.b - s.a + 1
			end = s.b
		} else if s.b > end {
			n += s.b - end
			end = s.b
		}
	}
	return n
}

// addrType is the kernel's route type of a destination address, as
// addrtype and fib name it.
func addrType(st *pstate, a netip.Addr) string {
	a = a.Unmap()
	switch {
	case isLocal(st.Local, a):
		return "local"
	case a.IsMulticast():
		return "multicast"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	}
	return "unicast"
}

// outAddrType judges addrtype --dst-type for this machine's own connection.
func outAddrType(st *pstate, types []string, neg bool) (tri, string) {
	d := dests(st)
	if len(d) == 0 {
		return unknown, "destination type"
	}
	ty := addrType(st, d[0])
	m := false
	for _, t := range types {
		m = m || strings.EqualFold(t, ty)
	}
	return negate(boolTri(m), neg), ""
}

// Outgoing is this machine's own firewall's answer for a connection it
// opens (Snapshot.Outgoing).
type Outgoing struct {
	// Result is the walk of the output path (EvaluateOutput): Action, the
	// Decider with its rule text and counters, Notes, Uncertain. Uncertain
	// is also set when some rule source could not be read (Problems).
	Result
	// Manager is the tool that manages the rule that drops or rejects the
	// connection (ManagerUFW, ManagerFirewalld, ManagerNftables,
	// ManagerIptables); "" when nothing does.
	Manager string
	// UFWOn: ufw is enabled. UFWAction and UFWRule are then what its
	// configuration says (the first outgoing user rule that matches, or,
	// with UFWRule nil, the default outgoing policy), when user.rules could
	// be read.
	UFWOn     bool
	UFWAction string
	UFWRule   *UFWRule
	// Read: some rule set was read. When false nothing is known (no tool
	// installed, or none readable without root) and Result is only the
	// empty rule set's accept: never a finding that the firewall lets the
	// connection through.
	Read bool
	// Problems are the rule sources that exist but could not be read.
	Problems []Problem
}

var firewalldOutChain = regexp.MustCompile(`^(?:filter_)?OUT_policy_(.+?)(?:_(?:pre|log|deny|allow|post))?$`)

// Outgoing evaluates the connection c this machine opens against the rule
// sets read, and names the tool that manages the deciding rule.
func (s *Snapshot) Outgoing(c Conn) Outgoing {
	o := Outgoing{Result: s.Rules.EvaluateOutput(c), Read: len(s.Read) > 0, Problems: s.Problems}
	if len(s.Problems) > 0 {
		o.Uncertain = true
	}
	if u := s.UFW; u != nil && u.Enabled {
		o.UFWOn = true
		if u.RulesErr == nil {
			o.UFWAction, o.UFWRule = u.DecideOutput(c)
		}
	}
	h := o.Decider
	if h == nil || o.Action != Drop && o.Action != Reject {
		return o
	}
	ufwChain := strings.HasPrefix(h.Chain, "ufw-") || strings.HasPrefix(h.Chain, "ufw6-")
	switch {
	case s.UFW != nil && ufwChain || o.UFWOn && h.Policy && h.Table == "filter" && h.Chain == "OUTPUT" && h.Backend != BackendNftables:
		o.Manager = ManagerUFW
	case h.Table == "firewalld" || firewalldOutChain.MatchString(h.Chain) || strings.HasPrefix(h.Chain, "OUTPUT_direct"):
		o.Manager = ManagerFirewalld
	case h.Backend == BackendNftables:
		o.Manager = ManagerNftables
	default:
		o.Manager = ManagerIptables
	}
	return o
}

// OutgoingOpening returns the commands that let the connection c through
// the rule o names, with the tool that manages it, or the zero Opening
// when nothing stops it. As with Opening, every value in a command passed
// a strict check; when one fails no command is offered.
func (s *Snapshot) OutgoingOpening(o Outgoing, c Conn) Opening {
	h := o.Decider
	if h == nil || o.Action != Drop && o.Action != Reject {
		return Opening{}
	}
	none := Opening{Manager: o.Manager}
	dst := c.Dst.WithZone("")
	if !dst.IsValid() || dst.Unmap().Is4() != (c.Family == IPv4) {
		return none
	}
	dst = dst.Unmap()
	switch o.Manager {
	case ManagerUFW:
		// After a "ufw deny out" rule an appended allow would come too late.
		insert := strings.HasPrefix(h.Chain, "ufw-user-") || strings.HasPrefix(h.Chain, "ufw6-user-")
		return Opening{Manager: ManagerUFW, Commands: []string{fwcmd.UFWAllowOut(dst, c.Port, insert)}}
	case ManagerFirewalld:
		m := firewalldOutChain.FindStringSubmatch(h.Chain)
		if m == nil || !SafeZoneName(m[1]) {
			// A direct rule or a chain of firewalld's without a policy
			// name: a raw rule would vanish at the next reload.
			return none
		}
		return Opening{Manager: ManagerFirewalld, Commands: []string{fwcmd.FirewalldPolicyAddPort(m[1], c.Port)}}
	case ManagerNftables:
		if !safeNftFamily(h.Family) || !safeNftName(h.Table) || !safeNftName(h.Base) {
			return none
		}
		ip := "ip"
		if c.Family == IPv6 {
			ip = "ip6"
		}
		return Opening{Manager: ManagerNftables, Commands: []string{fwcmd.NftAcceptOut(h.Family, h.Table, h.Base, ip, dst, c.Port)}}
	}
	pre, ok := iptablesPrefix(s, h)
	if !ok {
		return none
	}
	return Opening{Manager: ManagerIptables, Commands: []string{fwcmd.IptablesAcceptOut(pre, h.Base, dst, c.Port)}}
}
