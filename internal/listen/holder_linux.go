//go:build linux

package listen

import (
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/conndiag/conndiag/internal/host"
)

// holders finds the processes listening on ap's port at an address that
// overlaps ap: the LISTEN sockets' inodes from /proc/net/tcp{,6}, then the
// processes whose descriptors are "socket:[INODE]". Processes of other users
// are only visible to root.
func holders(ap netip.AddrPort) []Holder {
	socks, err := host.TCPSockets()
	if err != nil {
		return nil
	}
	inodes := map[uint64]bool{}
	for _, s := range socks {
		s = s.Unmap()
		if s.State == host.StateListen && s.Inode != 0 && s.Local.Port() == ap.Port() && overlap(s.Local.Addr(), ap.Addr()) {
			inodes[s.Inode] = true
		}
	}
	if len(inodes) == 0 {
		return nil
	}
	return socketOwners("/proc", inodes)
}

// socketOwners scans proc/PID/fd for links to the given socket inodes.
func socketOwners(proc string, inodes map[uint64]bool) []Holder {
	dirs, err := os.ReadDir(proc)
	if err != nil {
		return nil
	}
	var out []Holder
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid <= 0 {
			continue
		}
		fds, err := os.ReadDir(proc + "/" + d.Name() + "/fd")
		if err != nil {
			continue // gone, or another user's
		}
		for _, fd := range fds {
			link, err := os.Readlink(proc + "/" + d.Name() + "/fd/" + fd.Name())
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
			if err == nil && inodes[ino] {
				out = append(out, Holder{PID: pid, Name: procName(proc, d.Name())})
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}

func procName(proc, pid string) string {
	b, err := os.ReadFile(proc + "/" + pid + "/comm")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
