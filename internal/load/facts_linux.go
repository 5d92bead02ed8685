//go:build linux

package load

import (
	"net/netip"
	"os"
	"time"

	"github.com/conndiag/conndiag/internal/host"
)

// maxSysctlText bounds the ip_local_reserved_ports read.
const maxSysctlText = 1 << 17

// ReadFacts reads the preflight facts of this machine (of the calling
// thread's network namespace) toward dst. With no sources, the route's
// preferred source address stands for the one the kernel will pick.
func ReadFacts(dst netip.AddrPort, sources []netip.Addr) Facts {
	f := Facts{Dst: dst, Sources: sources, TwReuse: -1, TwReuseDelay: time.Second}
	if len(f.Sources) == 0 {
		src := netip.Addr{}
		if rt, err := host.RouteTo(dst.Addr()); err == nil && rt.Src.IsValid() {
			src = rt.Src.Unmap()
		}
		f.Sources = []netip.Addr{src}
	}
	var err error
	if f.Range, err = host.EphemeralRange(); err != nil {
		f.Missing = append(f.Missing, "net.ipv4.ip_local_port_range")
	}
	if b, err := readLimited("/proc/sys/net/ipv4/ip_local_reserved_ports"); err == nil {
		f.Reserved, _ = ParseReservedPorts(string(b))
	}
	if socks, _, err := host.TCPDiagOrProc(host.AllStates); err == nil {
		plain := make([]host.Socket, len(socks))
		for i, s := range socks {
			plain[i] = s.Socket
		}
		f.CountSockets(plain)
	} else {
		f.Missing = append(f.Missing, "sockets")
	}
	if v, err := host.SysctlInt("net.ipv4.tcp_tw_reuse"); err == nil {
		f.TwReuse = v
	} else {
		f.Missing = append(f.Missing, "net.ipv4.tcp_tw_reuse")
	}
	if v, err := host.SysctlInt("net.ipv4.tcp_tw_reuse_delay"); err == nil && v > 0 {
		f.TwReuseDelay = time.Duration(v) * time.Millisecond
	}
	if v, err := host.SysctlInt("net.ipv4.tcp_timestamps"); err == nil {
		f.Timestamps = v != 0
	}
	if soft, _, open, err := host.NoFile(); err == nil {
		// The listing of /proc/self/fd counts its own descriptor.
		f.NoFileSoft, f.NoFileOpen = soft, max(open, 1)-1
	} else {
		f.Missing = append(f.Missing, "RLIMIT_NOFILE")
	}
	if m, err := host.SysctlInt("net.netfilter.nf_conntrack_max"); err == nil {
		if c, err := host.SysctlInt("net.netfilter.nf_conntrack_count"); err == nil && c > 0 {
			f.ConntrackMax, f.ConntrackCount = m, c
		}
	}
	return f
}

func readLimited(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b := make([]byte, maxSysctlText)
	n, err := fh.Read(b)
	if n == 0 && err != nil {
		return nil, err
	}
	return b[:n], nil
}

// rssKiB is this process's resident memory.
func rssKiB() int64 {
	b, err := readLimited("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, res int64
	for i, n := 0, 0; i < len(b); i++ {
		c := b[i]
		if c == ' ' {
			n++
			if n == 2 {
				break
			}
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		if n == 0 {
			size = size*10 + int64(c-'0')
		} else {
			res = res*10 + int64(c-'0')
		}
	}
	_ = size
	return res * int64(os.Getpagesize()) / 1024
}
