//go:build linux

// Command noport measures, in the network namespace it runs in, how many
// connections bind-then-connect clients open from several source addresses
// toward one or two destinations, with and without IP_BIND_ADDRESS_NO_PORT:
// the figures behind --source in the README. Run it through
// bench/load-sources.sh, which gives it a namespace with a small port range.
package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

func sa(ap netip.AddrPort) *unix.SockaddrInet4 {
	return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
}

// fill opens connections from src to dst until one fails; it returns how
// many it opened, the errno that stopped it, and the descriptors to close.
func fill(src netip.Addr, dst netip.AddrPort, noPort bool, limit int) (int, error, []int) {
	var fds []int
	for len(fds) < limit {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return len(fds), err, fds
		}
		if noPort {
			_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		}
		if err := unix.Bind(fd, sa(netip.AddrPortFrom(src, 0))); err != nil {
			unix.Close(fd)
			return len(fds), fmt.Errorf("bind: %w", err), fds
		}
		if err := unix.Connect(fd, sa(dst)); err != nil {
			unix.Close(fd)
			return len(fds), fmt.Errorf("connect: %w", err), fds
		}
		fds = append(fds, fd)
	}
	return len(fds), nil, fds
}

func listen(ap netip.AddrPort) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		err = unix.Bind(fd, sa(ap))
	}
	if err == nil {
		err = unix.Listen(fd, 65535)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "noport: listen:", err)
		os.Exit(1)
	}
}

func name(err error) string {
	var e unix.Errno
	switch {
	case err == nil:
		return "-"
	case errors.As(err, &e) && e == unix.EADDRNOTAVAIL:
		return "EADDRNOTAVAIL"
	case errors.As(err, &e) && e == unix.EADDRINUSE:
		return "EADDRINUSE"
	}
	return err.Error()
}

// main runs one case, named by its arguments ("sources|destinations" and
// "noport|bind"), in a fresh namespace each: closed sockets linger in
// FIN_WAIT or TIME_WAIT and would hold ports for the next case.
func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: noport sources|destinations noport|bind")
		os.Exit(2)
	}
	noPort := os.Args[2] == "noport"
	d1, d2 := netip.MustParseAddrPort("127.0.0.1:8282"), netip.MustParseAddrPort("127.0.0.1:8283")
	listen(d1)
	listen(d2)
	const limit = 15000
	switch os.Args[1] {
	case "sources":
		total := 0
		var counts []string
		var last error
		for i := 2; i <= 5; i++ {
			n, err, _ := fill(netip.AddrFrom4([4]byte{127, 0, 0, byte(i)}), d1, noPort, limit)
			total, last = total+n, err
			counts = append(counts, fmt.Sprint(n))
		}
		fmt.Printf("four sources, one destination, %s: %d (%s), stopped by %s\n", os.Args[2], total, strings.Join(counts, "+"), name(last))
	case "destinations":
		s := netip.MustParseAddr("127.0.0.2")
		n1, _, _ := fill(s, d1, noPort, limit)
		n2, err, _ := fill(s, d2, noPort, limit)
		fmt.Printf("one source, two destinations, %s: %d (%d+%d), stopped by %s\n", os.Args[2], n1+n2, n1, n2, name(err))
	}
}
