package load

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/conndiag/conndiag/internal/host"
)

// Facts are what the preflight reads about this machine before the first
// connection. Fields that could not be read keep their zero value and say so
// in Missing.
type Facts struct {
	Dst netip.AddrPort
	// Sources are --source, or the one address the kernel picks (the route's
	// preferred source) when none is given; a zero Addr when unknown.
	Sources []netip.Addr
	Range   host.PortRange // net.ipv4.ip_local_port_range
	// Reserved are net.ipv4.ip_local_reserved_ports, which the kernel never
	// hands out as ephemeral ports.
	Reserved []host.PortRange
	// Listening are the local ports of LISTEN sockets: a port bound by
	// bind() is skipped by every connect() that picks its own port.
	Listening []uint16
	// Used counts, per source address, the sockets toward Dst whose local
	// port lies in Range, and TimeWait those of them in TIME_WAIT.
	Used, TimeWait map[netip.Addr]int
	TimeWaitAll    int           // TIME_WAIT sockets of any destination
	TwReuse        int           // net.ipv4.tcp_tw_reuse: 0, 1, 2 (loopback only)
	TwReuseDelay   time.Duration // net.ipv4.tcp_tw_reuse_delay; 1 s where the kernel has no such setting
	Timestamps     bool          // net.ipv4.tcp_timestamps: TIME_WAIT reuse needs them
	// NoFile is the descriptor limit of this process and the descriptors
	// open now; Reserve are descriptors the run keeps for itself.
	NoFileSoft, NoFileOpen uint64
	Reserve                int
	// Conntrack: the connection tracking table, when this machine tracks
	// connections (ConntrackMax 0: not loaded or not readable).
	ConntrackMax, ConntrackCount int
	Missing                      []string // facts that could not be read, by name
}

// Limit names what caps the number of connections.
type Limit string

const (
	LimitNone      Limit = ""
	LimitPorts     Limit = "ports"     // ephemeral ports toward the destination
	LimitFDs       Limit = "fds"       // the descriptor limit
	LimitConntrack Limit = "conntrack" // nf_conntrack_max
)

// SourceCapacity is how many more connections one source address can open
// toward the destination.
type SourceCapacity struct {
	Addr     netip.Addr
	Ports    int // usable ephemeral ports: the range less reserved and listening ports
	Used     int // sockets toward the destination that hold one of them
	TimeWait int // of Used, in TIME_WAIT
	Free     int // what is left for this run
}

// Prediction is the preflight's answer: how many connections this client
// can open toward the destination, and which limit binds.
type Prediction struct {
	Sources   []SourceCapacity
	Ports     int  // sum of Free over the sources
	TwReused  bool // TIME_WAIT ports toward the destination are reused (tcp_tw_reuse applies, timestamps on)
	FDs       int  // descriptors left for connections; -1 when unknown
	Conntrack int  // conntrack entries left; -1 when not tracking
	Ceiling   int  // the smallest of Ports, FDs, Conntrack
	Binding   Limit

	// For a hold run of Want connections beyond Ceiling: what it needs.
	Want          int
	NeedSources   int // source addresses at this range, 0 when ports are not short
	NeedRangeSize int // ports per source address at this number of sources
	NeedNoFile    uint64
	NeedConntrack int

	// For a short run: connections per second the ports sustain once every
	// port has been used once (each closed connection keeps its port for
	// TIME_WAIT, 60 s, or for tcp_tw_reuse_delay when reused).
	SustainedRate float64
}

// TimeWaitLen is TCP_TIMEWAIT_LEN, fixed in the kernel.
const TimeWaitLen = 60 * time.Second

// Predict turns the facts into the ceiling for a run that wants want
// connections open at once (hold), or 0 for a short run.
func Predict(f Facts, want int) Prediction {
	p := Prediction{Want: want, Ports: -1, FDs: -1, Conntrack: -1, Ceiling: -1}
	lower := func(n int, l Limit) {
		if n >= 0 && (p.Ceiling < 0 || n < p.Ceiling) {
			p.Ceiling, p.Binding = n, l
		}
	}
	usable := usablePorts(f.Range, f.Reserved, f.Listening)
	p.TwReused = twReused(f)
	if f.Range.Size() > 0 {
		p.Ports = 0
		for _, s := range f.Sources {
			c := SourceCapacity{Addr: s, Ports: usable, Used: f.Used[s], TimeWait: f.TimeWait[s]}
			held := c.Used
			if p.TwReused {
				held -= c.TimeWait
			}
			c.Free = max(0, usable-held)
			p.Sources = append(p.Sources, c)
			p.Ports += c.Free
		}
		lower(p.Ports, LimitPorts)
		p.SustainedRate = float64(p.Ports) / TimeWaitLen.Seconds()
		if p.TwReused {
			d := f.TwReuseDelay
			if d <= 0 {
				d = time.Second
			}
			p.SustainedRate = float64(usable*len(f.Sources)) / d.Seconds()
		}
	}
	if f.NoFileSoft > 0 {
		p.FDs = max(0, int(min(f.NoFileSoft, 1<<31))-int(f.NoFileOpen)-f.Reserve)
		lower(p.FDs, LimitFDs)
	}
	if f.ConntrackMax > 0 {
		p.Conntrack = max(0, f.ConntrackMax-f.ConntrackCount)
		lower(p.Conntrack, LimitConntrack)
	}
	if want > 0 && p.Ceiling >= 0 && want > p.Ceiling {
		p.needs(f, usable, want)
	}
	return p
}

// needs fills what a run of want connections lacks.
func (p *Prediction) needs(f Facts, usable, want int) {
	if p.Ports >= 0 && p.Ports < want {
		// Each source address adds a full range; the ones in use keep what they hold.
		perSource := usable
		if perSource > 0 {
			missing := want - p.Ports
			p.NeedSources = len(f.Sources) + (missing+perSource-1)/perSource
		}
		n := max(len(f.Sources), 1)
		worst := 0
		for _, s := range p.Sources {
			worst = max(worst, s.Ports-s.Free)
		}
		p.NeedRangeSize = (want+n-1)/n + worst + f.Range.Size() - usable
	}
	if p.FDs >= 0 && p.FDs < want {
		p.NeedNoFile = uint64(want) + f.NoFileOpen + uint64(f.Reserve)
	}
	if p.Conntrack >= 0 && p.Conntrack < want {
		p.NeedConntrack = f.ConntrackCount + want
	}
}

// twReused: the kernel reuses a TIME_WAIT port toward the destination for a
// new connection (tcp_tw_reuse 1, or 2 with a loopback address at either end;
// TCP timestamps needed).
func twReused(f Facts) bool {
	if !f.Timestamps {
		return false
	}
	switch f.TwReuse {
	case 1:
		return true
	case 2:
		if f.Dst.Addr().Unmap().IsLoopback() {
			return true
		}
		for _, s := range f.Sources {
			if !s.Unmap().IsLoopback() {
				return false
			}
		}
		return len(f.Sources) > 0
	}
	return false
}

// usablePorts is the range less the reserved ports and the ports held by
// listening sockets inside it.
func usablePorts(r host.PortRange, reserved []host.PortRange, listening []uint16) int {
	n := r.Size()
	if n == 0 {
		return 0
	}
	taken := map[int]bool{}
	for _, rs := range reserved {
		lo, hi := max(rs.Lo, r.Lo), min(rs.Hi, r.Hi)
		for port := lo; port <= hi; port++ {
			taken[port] = true
		}
	}
	for _, l := range listening {
		if r.Contains(int(l)) {
			taken[int(l)] = true
		}
	}
	return n - len(taken)
}

// ParseReservedPorts reads ip_local_reserved_ports: "8000-8100,9000\n", or an
// empty line. At most 65,535 ports can be named, so the work is bounded.
func ParseReservedPorts(s string) ([]host.PortRange, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if len(s) > 1<<16 {
		return nil, errReserved(s[:32] + "…")
	}
	var out []host.PortRange
	for _, item := range strings.Split(s, ",") {
		los, his, isRange := strings.Cut(strings.TrimSpace(item), "-")
		lo, err := strconv.Atoi(los)
		if err != nil {
			return nil, errReserved(item)
		}
		hi := lo
		if isRange {
			if hi, err = strconv.Atoi(his); err != nil {
				return nil, errReserved(item)
			}
		}
		if lo < 1 || hi > 65535 || lo > hi {
			return nil, errReserved(item)
		}
		out = append(out, host.PortRange{Lo: lo, Hi: hi})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Lo < out[j].Lo })
	return out, nil
}

type errReserved string

func (e errReserved) Error() string {
	return "load: ip_local_reserved_ports: " + strconv.Quote(string(e)) + " is not PORT or LOW-HIGH"
}

// CountSockets fills Used, TimeWait, TimeWaitAll and Listening from a socket
// table. A zero source address counts every local address.
func (f *Facts) CountSockets(socks []host.Socket) {
	f.Used, f.TimeWait = map[netip.Addr]int{}, map[netip.Addr]int{}
	dst := netip.AddrPortFrom(f.Dst.Addr().Unmap(), f.Dst.Port())
	want := map[netip.Addr]bool{}
	any := false
	for _, s := range f.Sources {
		if !s.IsValid() {
			any = true
		}
		want[s] = true
	}
	listening := map[uint16]bool{}
	for _, s := range socks {
		s = s.Unmap()
		if s.State == host.StateTimeWait {
			f.TimeWaitAll++
		}
		if s.State == host.StateListen {
			if !listening[s.Local.Port()] {
				listening[s.Local.Port()] = true
				f.Listening = append(f.Listening, s.Local.Port())
			}
			continue
		}
		if s.Remote != dst || !f.Range.Contains(int(s.Local.Port())) {
			continue
		}
		src := s.Local.Addr()
		if any {
			src = netip.Addr{}
		} else if !want[src] {
			continue
		}
		f.Used[src]++
		if s.State == host.StateTimeWait {
			f.TimeWait[src]++
		}
	}
	sort.Slice(f.Listening, func(i, j int) bool { return f.Listening[i] < f.Listening[j] })
}
