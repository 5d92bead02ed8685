package host

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/conndiag/conndiag/internal/evidence"
)

// TCPCounters are the network namespace's counters that matter to a server.
type TCPCounters struct {
	// ListenOverflows counts SYNs and handshake ACKs dropped because a
	// listen (accept) queue was full; ListenDrops counts those plus other
	// drops at a listener. Both are totals since the namespace began.
	ListenOverflows, ListenDrops uint64
	CurrEstab                    uint64 // ESTABLISHED and CLOSE_WAIT sockets (Tcp CurrEstab)
	TimeWait                     uint64 // TIME_WAIT sockets (sockstat tw)
}

// maxCounterLine bounds a line of /proc/net/netstat; TcpExt is about 2.5 KB today.
const maxCounterLine = 64 << 10

// ParseSNMP parses the /proc/net/snmp and /proc/net/netstat format: pairs of
// lines "Group: name name ..." and "Group: value value ...". It returns
// values by group and name.
func ParseSNMP(r io.Reader) (map[string]map[string]int64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxCounterLine)
	out := map[string]map[string]int64{}
	var group string
	var names []string
	for n := 1; sc.Scan(); n++ {
		g, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			return out, fmt.Errorf("host: counters line %d: no group name", n)
		}
		fields := strings.Fields(rest)
		if names == nil || g != group {
			group, names = g, fields
			continue
		}
		if len(fields) != len(names) {
			return out, fmt.Errorf("host: counters line %d: %d values for %d names", n, len(fields), len(names))
		}
		m := out[g]
		if m == nil {
			m = make(map[string]int64, len(names))
			out[g] = m
		}
		for i, f := range fields {
			v, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				// Some counters are unsigned 64-bit and may exceed int64.
				u, uerr := strconv.ParseUint(f, 10, 64)
				if uerr != nil {
					return out, fmt.Errorf("host: counters line %d: %s %q is not a number", n, names[i], f)
				}
				v = int64(min(u, math.MaxInt64))
			}
			m[names[i]] = v
		}
		names = nil
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("host: counters: %w", err)
	}
	return out, nil
}

// ParseSockstat parses /proc/net/sockstat: "TCP: inuse 5 orphan 0 tw 3 alloc 7 mem 1".
func ParseSockstat(r io.Reader) (map[string]map[string]int64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), maxCounterLine)
	out := map[string]map[string]int64{}
	for n := 1; sc.Scan(); n++ {
		g, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f)%2 != 0 {
			return out, fmt.Errorf("host: sockstat line %d: odd number of fields", n)
		}
		m := map[string]int64{}
		for i := 0; i < len(f); i += 2 {
			v, err := strconv.ParseInt(f[i+1], 10, 64)
			if err != nil {
				return out, fmt.Errorf("host: sockstat line %d: %s %q is not a number", n, f[i], f[i+1])
			}
			m[f[i]] = v
		}
		out[g] = m
	}
	return out, sc.Err()
}

// Rlimit is a soft and hard resource limit; Unlimited stands for "unlimited".
type Rlimit = evidence.Rlimit

// Unlimited is RLIM_INFINITY.
const Unlimited = evidence.Unlimited

// ParseLimits reads "Max open files" from the /proc/PID/limits format.
func ParseLimits(r io.Reader) (Rlimit, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), 4096)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Max open files")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			return Rlimit{}, fmt.Errorf("host: limits: %q", sc.Text())
		}
		soft, err1 := parseLimit(f[0])
		hard, err2 := parseLimit(f[1])
		if err1 != nil || err2 != nil {
			return Rlimit{}, fmt.Errorf("host: limits: %q", sc.Text())
		}
		return Rlimit{Soft: soft, Hard: hard}, nil
	}
	if err := sc.Err(); err != nil {
		return Rlimit{}, fmt.Errorf("host: limits: %w", err)
	}
	return Rlimit{}, fmt.Errorf("host: limits: no \"Max open files\" line")
}

func parseLimit(s string) (uint64, error) {
	if s == "unlimited" {
		return Unlimited, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// countersFrom picks the server counters out of parsed netstat, snmp and sockstat.
func countersFrom(netstat, snmp, sockstat map[string]map[string]int64) TCPCounters {
	u := func(v int64) uint64 { return uint64(max(v, 0)) }
	return TCPCounters{
		ListenOverflows: u(netstat["TcpExt"]["ListenOverflows"]),
		ListenDrops:     u(netstat["TcpExt"]["ListenDrops"]),
		CurrEstab:       u(snmp["Tcp"]["CurrEstab"]),
		TimeWait:        u(sockstat["TCP"]["tw"]),
	}
}
