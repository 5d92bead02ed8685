package listen

import (
	"net/netip"
	"sort"

	"github.com/conndiag/conndiag/internal/host"
)

// holders finds the processes listening on ap's port at an address that
// overlaps ap. Processes of other users are only visible to root; where the
// OS offers no /proc it finds none.
func holders(ap netip.AddrPort) []Holder {
	socks, err := host.Listeners(ap.Port())
	if err != nil {
		return nil
	}
	inodes := map[uint64]bool{}
	for _, s := range socks {
		if s.Inode != 0 && overlap(s.Unmap().Local.Addr(), ap.Addr()) {
			inodes[s.Inode] = true
		}
	}
	if len(inodes) == 0 {
		return nil
	}
	scan, err := host.ScanProcs(inodes)
	if err != nil {
		return nil
	}
	var out []Holder
	seen := map[int]bool{}
	for _, owners := range scan.Owners {
		for _, o := range owners {
			if seen[o.PID] {
				continue
			}
			seen[o.PID] = true
			name := o.Process
			if name == "" {
				name = "?"
			}
			out = append(out, Holder{PID: o.PID, Name: name})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}
