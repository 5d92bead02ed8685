package host

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// errDumpInterrupted: the socket table changed during the dump.
var errDumpInterrupted = errors.New("host: sock_diag dump interrupted")

// DiagTCP dumps the TCP sockets (IPv4 and IPv6) in the states of mask
// (StateMask, or AllStates) of the calling thread's network namespace through
// NETLINK_SOCK_DIAG. Unlike /proc/net/tcp it reports listen backlogs and
// IPV6_V6ONLY, filters by state in the kernel, and needs no privilege.
func DiagTCP(mask uint32) ([]DiagSocket, error) {
	var out []DiagSocket
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		var socks []DiagSocket
		var err error
		for range 5 {
			if socks, err = diagDump(fam, mask); !errors.Is(err, errDumpInterrupted) {
				break
			}
		}
		if err != nil {
			if fam == unix.AF_INET6 && (errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.ENOENT)) {
				continue // IPv6 disabled
			}
			return nil, err
		}
		out = append(out, socks...)
	}
	return out, nil
}

// TCPDiagOrProc is DiagTCP, falling back to /proc/net/tcp{,6} when the
// kernel offers no sock_diag (fromProc is then true; queues are zero and
// V6Only is -1).
func TCPDiagOrProc(mask uint32) (socks []DiagSocket, fromProc bool, err error) {
	socks, err = DiagTCP(mask)
	if err == nil {
		return socks, false, nil
	}
	plain, perr := TCPSockets()
	if perr != nil {
		return nil, false, fmt.Errorf("%w; /proc fallback: %v", err, perr)
	}
	for _, s := range plain {
		if mask&(1<<s.State) != 0 {
			socks = append(socks, DiagSocket{Socket: s, V6Only: -1})
		}
	}
	return socks, true, nil
}

func diagDump(family uint8, mask uint32) ([]DiagSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("host: sock_diag socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("host: sock_diag bind: %w", err)
	}
	const seq = 1
	if err := unix.Sendto(fd, diagRequest(family, mask, seq), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("host: sock_diag request: %w", err)
	}
	var out []DiagSocket
	buf := make([]byte, 64<<10) // above the kernel's 32 KiB dump chunk, so nothing is truncated
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return nil, fmt.Errorf("host: sock_diag receive: %w", err)
		}
		done, err := diagMessages(buf[:n], seq, &out)
		if err != nil || done {
			return out, err
		}
	}
}

// diagMessages appends the sockets of one netlink datagram to out and
// reports whether the dump is complete.
func diagMessages(b []byte, seq uint32, out *[]DiagSocket) (done bool, err error) {
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		flags := binary.NativeEndian.Uint16(b[6:8])
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return false, errors.New("host: sock_diag message overruns its datagram")
		}
		if binary.NativeEndian.Uint32(b[8:12]) == seq {
			if flags&unix.NLM_F_DUMP_INTR != 0 {
				return true, errDumpInterrupted
			}
			switch typ {
			case unix.NLMSG_DONE:
				return true, nil
			case unix.NLMSG_ERROR:
				if l >= unix.NLMSG_HDRLEN+4 {
					if e := int32(binary.NativeEndian.Uint32(b[16:20])); e != 0 {
						return true, fmt.Errorf("host: sock_diag: %w", syscall.Errno(-e))
					}
				}
			case 20: // SOCK_DIAG_BY_FAMILY
				d, err := parseDiagMsg(b[unix.NLMSG_HDRLEN:l])
				if err != nil {
					return true, err
				}
				*out = append(*out, d)
			}
		}
		b = b[min(len(b), (l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1)):]
	}
	return false, nil
}
