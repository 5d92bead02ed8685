package host

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// procFS is /proc; tests swap in an fstest.MapFS.
var procFS fs.FS = os.DirFS("/proc")

// maxSysctl bounds a sysctl read; every integer sysctl is far shorter.
const maxSysctl = 4096

// TCPSockets reads /proc/net/tcp and /proc/net/tcp6 of the calling thread's
// network namespace.
func TCPSockets() ([]Socket, error) { return tcpSockets(procFS) }

func tcpSockets(fsys fs.FS) ([]Socket, error) {
	// /proc/self/net follows the thread-group leader's namespace, not the
	// calling thread's; thread-self (Linux 3.17+) follows the thread.
	dir := "thread-self/net"
	if _, err := fs.Stat(fsys, dir); err != nil {
		dir = "self/net"
	}
	var all []Socket
	for _, name := range []string{"tcp", "tcp6"} {
		f, err := fsys.Open(dir + "/" + name)
		if err != nil {
			if name == "tcp6" && errors.Is(err, fs.ErrNotExist) {
				continue // IPv6 disabled
			}
			return nil, fmt.Errorf("host: %w", err)
		}
		// One large read per page the kernel fills, not one per line:
		// fewer restarts of its walk (see dedupSockets).
		socks, err := ParseProcNetTCP(bufio.NewReaderSize(f, 64<<10))
		f.Close()
		if err != nil {
			return nil, err
		}
		all = append(all, socks...)
	}
	return dedupSockets(all), nil
}

// dedupSockets drops a socket listed twice. The kernel walks its hash tables
// afresh at every read of /proc/net/tcp and resumes by position within a
// bucket, so a socket added or removed between two reads can make one listed
// twice (or skipped). A connection is one four-tuple in a namespace; the
// later line, the fresher state, is kept in the earlier one's place.
// Listeners sharing an address (SO_REUSEPORT) differ by inode.
func dedupSockets(socks []Socket) []Socket {
	type key struct {
		local, remote netip.AddrPort
		inode         uint64
	}
	seen := make(map[key]int, len(socks))
	out := socks[:0]
	for _, s := range socks {
		k := key{local: s.Local, remote: s.Remote}
		if s.State == StateListen {
			k.inode = s.Inode
		}
		if i, ok := seen[k]; ok {
			out[i] = s
			continue
		}
		seen[k] = len(out)
		out = append(out, s)
	}
	return out
}

// SysctlInt reads an integer sysctl such as "net.ipv4.tcp_tw_reuse" from
// /proc/sys, in the calling thread's network namespace for net.* names. A name
// with "/" is taken as a path, so "net/ipv4/conf/eth0.100/rp_filter" works
// where the dots of a VLAN interface would be ambiguous.
func SysctlInt(name string) (int, error) { return sysctlInt(procFS, name) }

func sysctlInt(fsys fs.FS, name string) (int, error) {
	s, err := readSysctl(fsys, name)
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("host: sysctl %s: %q is not one integer", name, strings.TrimSpace(s))
	}
	return v, nil
}

func readSysctl(fsys fs.FS, name string) (string, error) {
	p := name
	if !strings.Contains(p, "/") {
		p = strings.ReplaceAll(p, ".", "/")
	}
	p = "sys/" + p
	if !fs.ValidPath(p) {
		return "", fmt.Errorf("host: sysctl %q: invalid name", name)
	}
	f, err := fsys.Open(p)
	if err != nil {
		return "", fmt.Errorf("host: sysctl %s: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSysctl))
	if err != nil {
		return "", fmt.Errorf("host: sysctl %s: %w", name, err)
	}
	return string(b), nil
}

// EphemeralRange reads net.ipv4.ip_local_port_range (it governs IPv6 too).
func EphemeralRange() (PortRange, error) { return ephemeralRange(procFS) }

func ephemeralRange(fsys fs.FS) (PortRange, error) {
	s, err := readSysctl(fsys, "net.ipv4.ip_local_port_range")
	if err != nil {
		return PortRange{}, err
	}
	return ParsePortRange(s)
}
