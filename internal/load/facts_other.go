//go:build !linux

package load

import (
	"net/netip"
	"runtime"
	"time"

	"github.com/conndiag/conndiag/internal/host"
)

// ReadFacts reads what this system shows: the descriptor limit, and the
// port range on macOS, FreeBSD and Windows. The socket table and the
// TIME_WAIT settings are read on Linux only.
func ReadFacts(dst netip.AddrPort, sources []netip.Addr) Facts {
	f := Facts{Dst: dst, Sources: sources, TwReuse: -1, TwReuseDelay: time.Second,
		Missing: []string{"sockets", "net.ipv4.tcp_tw_reuse"}}
	if r, err := host.EphemeralRange(); err == nil {
		f.Range = r
	} else {
		f.Missing = append([]string{host.RangeSource(runtime.GOOS)}, f.Missing...)
	}
	if len(f.Sources) == 0 {
		f.Sources = []netip.Addr{{}}
	}
	if soft, _, open, err := host.NoFile(); err == nil {
		f.NoFileSoft, f.NoFileOpen = soft, open
	}
	return f
}

func rssKiB() int64 { return 0 }
