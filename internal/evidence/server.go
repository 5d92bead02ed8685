package evidence

import (
	"net/netip"
	"time"
)

// HostEvidence is what the server audit learned about this host as a whole.
type HostEvidence struct {
	// Addrs are the host's addresses clients could use: every interface
	// address but loopback, link-local and multicast ones.
	Addrs []netip.Addr
	Ports []uint16 // the ports audited
	// Cloud is the provider the DMI data names (cloud.AWS, ...), "" when none.
	Cloud      string
	DMIVendor  string
	DMIProduct string
	// Panel is "baota" when BaoTa/aaPanel is installed; PanelPort its web port.
	Panel, PanelPort string
	Limits           Limits
	// OverflowGrowth is how much ListenOverflows grew while the audit ran
	// (the watch included); OverflowTotal its value at the end.
	OverflowGrowth, OverflowTotal uint64
	Audit                         time.Duration // how long the counters were watched
	// QueueFullPorts are ports whose listener has a full accept queue now.
	QueueFullPorts []uint16
}

// Limits are the kernel settings and counts that cap a server. A value of
// -1 means it could not be read.
type Limits struct {
	Somaxconn, SynBacklog, TwReuse, MaxTwBuckets, BindV6Only int
	PortRange                                                PortRange
	TimeWait, Established                                    int
	ConntrackCount, ConntrackMax                             int
	// Busiest is the remote address:port that the most local sockets with
	// a port in PortRange connect to, with that count: the destination
	// closest to running out of local ports.
	Busiest      netip.AddrPort
	BusiestCount int
}

// Listener is one listening socket of the port.
type Listener struct {
	Addr    netip.AddrPort
	V6Only  int8   // 1 IPV6_V6ONLY set, 0 not, -1 unknown
	Backlog uint32 // effective backlog; 0 when unknown
	Queue   uint32 // connections waiting to be accepted now
	UID     int
	Owners  []Owner
	// OwnerHidden: the owning process could not be seen (other users' /proc/PID/fd without root).
	OwnerHidden bool
}

// FirewallEvidence is the rule set's answer for one address family.
type FirewallEvidence struct {
	Result FirewallResult
	Open   Opening
	// UFW and Firewalld are the configured managers' own answers, when installed.
	UFWAction     string   // allow, deny, reject, limit, or the default policy (drop, reject, accept)
	UFWRule       *UFWRule // nil: the default policy decided
	UFWOn         bool
	FirewalldZone string
	FirewalldHow  string // how the zone allows the port; "" when it does not
	FirewalldOn   bool
}

// WatchedSYN is one client's attempt seen by --watch.
type WatchedSYN struct {
	From, To netip.AddrPort
	Count    int
	Answer   string // "syn-ack", "rst", "none"
}

// Watch is what --watch saw for one port.
type Watch struct {
	Duration  time.Duration
	SYNs      []WatchedSYN
	Untracked int
	// KernelDrops counts packets the watch's socket had no room for: an
	// answer it missed makes a SYN look unanswered.
	KernelDrops uint32
}

// PortEvidence is everything the audit learned about one port.
type PortEvidence struct {
	Port      uint16
	Asked     bool // named on the command line (else found listening)
	Listeners []Listener
	// Firewall holds one answer per family the host has addresses in; nil
	// when the rule set could not be read.
	Firewall []FirewallEvidence
	Watch    *Watch // nil without --watch, or when it could not run
}

// Watched answers.
const (
	AnswerSynAck = "syn-ack"
	AnswerRST    = "rst"
	AnswerNone   = "none"
)
