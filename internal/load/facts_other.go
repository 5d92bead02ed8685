//go:build !linux

package load

import (
	"net/netip"
	"time"

	"github.com/conndiag/conndiag/internal/host"
)

// ReadFacts reads what this system shows: the descriptor limit. The port
// range, the socket table and the TIME_WAIT settings are read on Linux only.
func ReadFacts(dst netip.AddrPort, sources []netip.Addr) Facts {
	f := Facts{Dst: dst, Sources: sources, TwReuse: -1, TwReuseDelay: time.Second,
		Missing: []string{"net.ipv4.ip_local_port_range", "sockets", "net.ipv4.tcp_tw_reuse"}}
	if len(f.Sources) == 0 {
		f.Sources = []netip.Addr{{}}
	}
	if soft, _, open, err := host.NoFile(); err == nil {
		f.NoFileSoft, f.NoFileOpen = soft, open
	}
	return f
}

func rssKiB() int64 { return 0 }
