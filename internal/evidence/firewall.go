package evidence

import "net/netip"

// Family is the IP version of the connection evaluated.
type Family string

const (
	IPv4 Family = "ipv4"
	IPv6 Family = "ipv6"
)

// Action is what the rule set does to the SYN.
type Action string

const (
	Accept Action = "accept"
	Drop   Action = "drop"
	Reject Action = "reject"
	Queue  Action = "queue" // handed to a user-space program: cannot be known from the rules
)

// Back ends, as Hit.Backend names them.
const (
	BackendIptablesNft    = "iptables-nft"
	BackendIptablesLegacy = "iptables-legacy"
	BackendNftables       = "nftables"
)

// Hit names a rule (or a chain policy) of the rule set.
type Hit struct {
	Backend string // BackendIptablesNft, BackendIptablesLegacy or BackendNftables
	Family  string // the table's family: ip, ip6, inet, netdev
	Table   string
	Chain   string
	Base    string // the base chain (hooked) whose walk reached the rule
	Policy  bool   // the chain's policy decided, not a rule
	Rule    string // the rule as its tool prints it; for a policy, "policy DROP"
	Pos     int    // 1-based position in its chain (iptables rule number)
	Handle  int    // nftables rule handle
	Counted bool   // the rule has packet counters
	Packets uint64
	Bytes   uint64
	// RejectWith is the reject type of a REJECT rule ("tcp-reset",
	// "icmp-port-unreachable", "admin-prohibited", ...).
	RejectWith string
}

// Note is a rule passed over on the way.
type Note struct {
	Hit
	Action Action // what the rule would do: accept, drop, reject, or "" for a jump
	Jump   string // the chain it would jump to
	// Why it was passed over: the client condition it depends on (e.g.
	// "source 10.0.0.0/8"), or what was not understood.
	Why     string
	Unknown bool // not understood (rather than client-specific)
}

// Redirect is a DNAT or REDIRECT on the way in.
type Redirect struct {
	Hit
	Addr netip.Addr // new destination, zero for REDIRECT (this host)
	Port uint16     // new port, 0 when unchanged
}

// FirewallResult is the rule set's answer for one connection (firewall.Packet).
type FirewallResult struct {
	Family Family
	Port   uint16
	Action Action
	// Decider is the rule or policy that dropped or rejected the SYN, or
	// the last explicit rule that accepted it; nil when it passed every
	// base chain on their accept policies (or there were none).
	Decider *Hit
	// Notes are rules passed over because they depend on the client or were
	// not understood, in walk order, at most maxNotes.
	Notes     []Note
	Uncertain bool // a rule that was not understood was passed over before the decision
	Redirect  *Redirect
	Forwarded bool // a DNAT sent the connection to another host (a container, a VM)
	Chains    int  // base chains walked
}

// Managers, as Opening.Manager names them.
const (
	ManagerUFW       = "ufw"
	ManagerFirewalld = "firewalld"
	ManagerNftables  = "nftables"
	ManagerIptables  = "iptables"
)

// Opening is how to let the port through with the tool that manages the
// rule that stopped it.
type Opening struct {
	Manager string
	// Commands are ready to paste; for nftables and iptables they last
	// until reboot. Every name in them passed a strict check (SafeZoneName
	// and the like); when a name fails, Commands is empty: no command is
	// offered rather than one that could run something else.
	Commands []string
}

// UFWRule is one "### tuple ###" line of /etc/ufw/user.rules or user6.rules.
type UFWRule struct {
	Action string // allow, deny, reject, limit
	Proto  string // tcp, udp, any
	DPort  string // "22", "8000:9000", "80,443", "any"
	Dst    string
	Src    string
	Iface  string // in_IFACE (out_IFACE for an outgoing rule)
	V6     bool
	Out    bool   // an outgoing rule: Dst and DPort are the server's, Src this machine's
	Tuple  string // the line after "### tuple ###"
}

// OutgoingEvidence is this machine's own firewall's answer for a connection
// it opened: its OUTPUT rules (iptables, nftables, ufw, firewalld) walked for
// that connection, read when the connect failed in a way such a rule could
// explain (silence, an ICMP error from this machine itself, EACCES/EPERM).
type OutgoingEvidence struct {
	// Read: some rule set was read. When false nothing is known (reading
	// needs root, or no tool is installed) and no verdict may rest on it.
	Read bool
	// NeedRoot: a rule source exists but could not be read without root.
	NeedRoot bool
	// Problems are the rule sources that could not be read.
	Problems []RuleProblem
	// Result is the walk: Action, the Decider with its rule text and
	// counters, Uncertain when a rule passed over was not understood or a
	// source could not be read.
	Result FirewallResult
	// Manager is the tool that manages the deciding rule (ManagerUFW, ...).
	Manager string
	// UFWOn: ufw is enabled; UFWAction and UFWRule are what its own
	// configuration says about the connection (the user's outgoing rule, or
	// with UFWRule nil the default outgoing policy).
	UFWOn     bool
	UFWAction string
	UFWRule   *UFWRule
	// Open lets the connection through with the managing tool; no Commands
	// when none could be built safely.
	Open Opening
}

// RuleProblem is a rule source that could not be read.
type RuleProblem struct {
	What     string // the command or file ("nft -j list ruleset")
	Err      string // what went wrong, in the tool's words
	NeedRoot bool
}

// Stops reports whether the rules read drop or reject the connection.
func (o *OutgoingEvidence) Stops() bool {
	return o != nil && o.Read && (o.Result.Action == Drop || o.Result.Action == Reject) && o.Result.Decider != nil
}
