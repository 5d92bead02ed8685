//go:build linux

package diagnose

import (
	"context"
	"net"
	"net/netip"
	"syscall"
	"testing"
)

// BenchmarkServerAudit is a full audit (sockets, owners, firewall, limits)
// of a host with 10,000 open TCP sockets: 5,000 loopback connections, both
// ends, created by the benchmark itself.
func BenchmarkServerAudit(b *testing.B) {
	const pairs = 5000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if need := uint64(2*pairs + 200); lim.Cur < need {
		raised := lim
		raised.Cur = min(need, lim.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil || raised.Cur < need {
			b.Skipf("cannot raise RLIMIT_NOFILE to %d (hard limit %d): %v", need, lim.Max, err)
		}
		defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, pairs)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range pairs {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			b.Fatalf("after %d connections: %v", len(conns)/2, err)
		}
		conns = append(conns, c, <-accepted)
	}
	port := netip.MustParseAddrPort(ln.Addr().String()).Port()
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		rep, err := Audit(ctx, AuditOptions{Ports: []uint16{port}})
		if err != nil {
			b.Fatal(err)
		}
		if rep.HostEv.Limits.Established < 2*pairs {
			b.Fatalf("saw %d established sockets, want at least %d", rep.HostEv.Limits.Established, 2*pairs)
		}
		if len(rep.Ports) != 1 || len(rep.Ports[0].Evidence.Listeners) != 1 || len(rep.Ports[0].Evidence.Listeners[0].Owners) != 1 {
			b.Fatalf("listener or its owner not found: %+v", rep.Ports)
		}
	}
}
