package evidence

import (
	"math"
	"net/netip"
	"strconv"
	"syscall"
)

// TCPState is a TCP socket state in the kernel's numbering (include/net/tcp_states.h).
type TCPState uint8

const (
	StateEstablished   TCPState = 1
	StateSynSent       TCPState = 2
	StateSynRecv       TCPState = 3
	StateFinWait1      TCPState = 4
	StateFinWait2      TCPState = 5
	StateTimeWait      TCPState = 6
	StateClose         TCPState = 7
	StateCloseWait     TCPState = 8
	StateLastAck       TCPState = 9
	StateListen        TCPState = 10
	StateClosing       TCPState = 11
	StateNewSynRecv    TCPState = 12
	StateBoundInactive TCPState = 13
)

var stateNames = [...]string{
	StateEstablished:   "ESTABLISHED",
	StateSynSent:       "SYN_SENT",
	StateSynRecv:       "SYN_RECV",
	StateFinWait1:      "FIN_WAIT1",
	StateFinWait2:      "FIN_WAIT2",
	StateTimeWait:      "TIME_WAIT",
	StateClose:         "CLOSE",
	StateCloseWait:     "CLOSE_WAIT",
	StateLastAck:       "LAST_ACK",
	StateListen:        "LISTEN",
	StateClosing:       "CLOSING",
	StateNewSynRecv:    "NEW_SYN_RECV",
	StateBoundInactive: "BOUND_INACTIVE",
}

func (s TCPState) String() string {
	if int(s) < len(stateNames) && stateNames[s] != "" {
		return stateNames[s]
	}
	return "TCPState(" + strconv.Itoa(int(s)) + ")"
}

// Socket is one line of /proc/net/tcp or /proc/net/tcp6.
//
// Addresses are kept as the kernel reports them: an IPv6 socket that talks
// IPv4 shows ::ffff:a.b.c.d. Use Unmap to compare with IPv4 addresses.
type Socket struct {
	Local, Remote netip.AddrPort
	State         TCPState
	UID           int
	Inode         uint64 // 0 for TIME_WAIT and request sockets, which no process owns
}

// Unmap returns s with IPv4-mapped IPv6 addresses turned into IPv4 ones.
func (s Socket) Unmap() Socket {
	s.Local = unmapAddrPort(s.Local)
	s.Remote = unmapAddrPort(s.Remote)
	return s
}

func unmapAddrPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Route is the kernel's answer to "how would a packet to this address leave?".
type Route struct {
	Dst     netip.Prefix // the matching route's destination, 0.0.0.0/0 for a default route; zero when none matched
	Gateway netip.Addr   // zero when on-link
	Iface   string
	Src     netip.Addr // preferred source address
	// Type is the route type as ip-route(8) names it ("unicast", "local",
	// "broadcast", "unreachable", "prohibit", "blackhole", "throw", ...),
	// or "none" when no route matched at all.
	Type    string
	Default bool // reached only through a default route (Dst.Bits() == 0)
	OnLink  bool // a unicast route without gateway: the destination is on a directly connected network
	// Errno is the kernel's refusal of the lookup, which connect() returns too:
	// ENETUNREACH (no route, or a throw route), EHOSTUNREACH (unreachable),
	// EACCES (prohibit), EINVAL (blackhole). Zero when a route was found.
	Errno syscall.Errno
}

// NextHop is the address whose neighbour entry matters for reaching dst.
func (r Route) NextHop(dst netip.Addr) netip.Addr {
	if r.Gateway.IsValid() {
		return r.Gateway
	}
	return dst
}

// PortRange is an inclusive range of ports.
type PortRange struct{ Lo, Hi int }

// Size is the number of ports in the range. Port 0 is never a usable port,
// so the zero PortRange is empty.
func (p PortRange) Size() int {
	lo := max(p.Lo, 1)
	if p.Hi < lo {
		return 0
	}
	return p.Hi - lo + 1
}

// Contains reports whether port lies in the range.
func (p PortRange) Contains(port int) bool { return port >= max(p.Lo, 1) && port <= p.Hi }

func (p PortRange) String() string { return strconv.Itoa(p.Lo) + "-" + strconv.Itoa(p.Hi) }

// PortUsage counts the sockets that compete for local ports toward one destination.
type PortUsage struct {
	// OS is the system the range was read on (GOOS; "" is Linux): it names
	// the setting in the evidence and the commands of the fix.
	OS string
	// NoSockets: the system's socket table could not be read here, so the
	// counts below are unknown (macOS, FreeBSD, Windows).
	NoSockets      bool
	Range          PortRange // ip_local_port_range (net.inet.ip.portrange.*, the dynamic port range)
	TwReuse        int       // net.ipv4.tcp_tw_reuse: 0 off, 1 on, 2 loopback only; it governs IPv6 too
	ToDest         int       // sockets (any state but LISTEN) whose remote is dst
	TimeWaitToDest int       // of those, in TIME_WAIT
	TimeWait       int       // all TIME_WAIT sockets
	InRange        int       // all sockets whose local port lies in Range (any remote)
}

// Owner is a process that holds a socket.
type Owner struct {
	PID     int
	Process string  // the command name (/proc/PID/comm)
	FDs     int     // descriptors the process has open
	NoFile  *Rlimit // its descriptor limit; nil when unreadable
}

// Rlimit is a soft and hard resource limit; Unlimited stands for "unlimited".
type Rlimit struct{ Soft, Hard uint64 }

// Unlimited is RLIM_INFINITY.
const Unlimited = math.MaxUint64

// NeighFailed reports whether a neighbour-table state means nothing answered
// ARP/NDP for that address on the link.
func NeighFailed(state string) bool { return state == "INCOMPLETE" || state == "FAILED" }

// NeighAnswers reports whether a neighbour-table state shows that the
// address answered ARP/NDP: REACHABLE (confirmed within the last
// reachable_time, about 30 s), or STALE, DELAY and PROBE (a reply was
// seen before, not confirmed since). PERMANENT and NOARP entries are set
// by hand and prove nothing.
func NeighAnswers(state string) bool {
	switch state {
	case "REACHABLE", "STALE", "DELAY", "PROBE":
		return true
	}
	return false
}
