// Package host reads facts about this machine: sockets, addresses, routes,
// neighbours and kernel settings.
//
// The parsers (ParseProcNetTCP, ParsePortRange) and Usage are pure and work on
// every OS. Everything that asks the kernel is Linux-only; elsewhere it returns
// ErrUnsupported. On Linux, the package-level functions answer for the network
// namespace of the calling OS thread, so a caller that has locked its thread and
// switched namespace gets that namespace's facts. A Namespace answers the
// netlink questions for another namespace without switching threads.
package host

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"strconv"
	"strings"

	"github.com/conndiag/conndiag/internal/evidence"
)

// ErrUnsupported is returned where this OS offers no way to read a fact.
// errors.Is(err, errors.ErrUnsupported) holds as well.
var ErrUnsupported error = unsupportedError{}

type unsupportedError struct{}

func (unsupportedError) Error() string        { return "host: not supported on this OS" }
func (unsupportedError) Is(target error) bool { return target == errors.ErrUnsupported }

// TCPState is a TCP socket state in the kernel's numbering (defined in internal/evidence).
type TCPState = evidence.TCPState

// The TCP states.
const (
	StateEstablished   = evidence.StateEstablished
	StateSynSent       = evidence.StateSynSent
	StateSynRecv       = evidence.StateSynRecv
	StateFinWait1      = evidence.StateFinWait1
	StateFinWait2      = evidence.StateFinWait2
	StateTimeWait      = evidence.StateTimeWait
	StateClose         = evidence.StateClose
	StateCloseWait     = evidence.StateCloseWait
	StateLastAck       = evidence.StateLastAck
	StateListen        = evidence.StateListen
	StateClosing       = evidence.StateClosing
	StateNewSynRecv    = evidence.StateNewSynRecv
	StateBoundInactive = evidence.StateBoundInactive
)

// Socket is one line of /proc/net/tcp or /proc/net/tcp6.
type Socket = evidence.Socket

func unmapAddrPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// maxProcLine bounds the work per line. The kernel pads tcp lines to 149 bytes
// and tcp6 lines come to about 170, so anything near this is not /proc output.
const maxProcLine = 1024

// ParseProcNetTCP parses the /proc/net/tcp or /proc/net/tcp6 format. Each line
// is IPv4 or IPv6 by the length of its addresses, so the two files may be
// concatenated. The addresses are hex 32-bit words in this machine's byte order
// (little-endian on x86 and arm64), as the kernel prints them. On a malformed
// line it returns the sockets read so far and an error naming the line.
func ParseProcNetTCP(r io.Reader) ([]Socket, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxProcLine)
	var out []Socket
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 || f[0] == "sl" {
			continue
		}
		s, err := parseTCPLine(f)
		if err != nil {
			return out, fmt.Errorf("host: proc net tcp line %d: %w", n, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("host: proc net tcp: %w", err)
	}
	return out, nil
}

// parseTCPLine reads fields: sl local remote st tx:rx tr:when retrnsmt uid timeout inode ...
func parseTCPLine(f []string) (Socket, error) {
	var s Socket
	if len(f) < 10 {
		return s, fmt.Errorf("%d fields, want at least 10", len(f))
	}
	var err error
	if s.Local, err = parseHexAddrPort(f[1]); err != nil {
		return s, fmt.Errorf("local address: %w", err)
	}
	if s.Remote, err = parseHexAddrPort(f[2]); err != nil {
		return s, fmt.Errorf("remote address: %w", err)
	}
	if s.Local.Addr().Is4() != s.Remote.Addr().Is4() {
		return s, errors.New("local and remote address families differ")
	}
	if len(f[3]) != 2 {
		return s, fmt.Errorf("state %q", f[3])
	}
	st, err := strconv.ParseUint(f[3], 16, 8)
	if err != nil {
		return s, fmt.Errorf("state %q", f[3])
	}
	s.State = TCPState(st)
	uid, err := strconv.ParseUint(f[7], 10, 32)
	if err != nil {
		return s, fmt.Errorf("uid %q", f[7])
	}
	s.UID = int(uid)
	if s.Inode, err = strconv.ParseUint(f[9], 10, 64); err != nil {
		return s, fmt.Errorf("inode %q", f[9])
	}
	return s, nil
}

// parseHexAddrPort parses "0100007F:0CEA" or the 32-digit IPv6 form.
func parseHexAddrPort(s string) (netip.AddrPort, error) {
	hexIP, hexPort, ok := strings.Cut(s, ":")
	if !ok || len(hexPort) != 4 {
		return netip.AddrPort{}, fmt.Errorf("%q is not ADDR:PORT in hex", s)
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %q", hexPort)
	}
	var b [16]byte
	switch len(hexIP) {
	case 8, 32:
	default:
		return netip.AddrPort{}, fmt.Errorf("address %q has %d hex digits, want 8 or 32", hexIP, len(hexIP))
	}
	for i := 0; i < len(hexIP); i += 8 {
		w, err := strconv.ParseUint(hexIP[i:i+8], 16, 32)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("address %q", hexIP)
		}
		binary.NativeEndian.PutUint32(b[i/2:], uint32(w))
	}
	var a netip.Addr
	if len(hexIP) == 8 {
		a = netip.AddrFrom4([4]byte(b[:4]))
	} else {
		a = netip.AddrFrom16(b)
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}

// Listeners returns the LISTEN sockets on port, or all of them for port 0.
func Listeners(port uint16) ([]Socket, error) {
	socks, err := TCPSockets()
	if err != nil {
		return nil, err
	}
	var out []Socket
	for _, s := range socks {
		if s.State == StateListen && (port == 0 || s.Local.Port() == port) {
			out = append(out, s)
		}
	}
	return out, nil
}

// Addr is an address assigned to an interface.
type Addr struct {
	Prefix netip.Prefix // the address with its on-link prefix length, e.g. 10.0.0.2/24
	Iface  string
}

// Route is the kernel's answer to "how would a packet to this address leave?".
type Route = evidence.Route

// PortRange is an inclusive range of ports.
type PortRange = evidence.PortRange

// ParsePortRange parses the ip_local_port_range format, "32768\t60999\n".
func ParsePortRange(s string) (PortRange, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return PortRange{}, fmt.Errorf("host: port range %q: want two numbers", s)
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return PortRange{}, fmt.Errorf("host: port range %q: not numbers", s)
	}
	if lo < 1 || hi > 65535 || lo > hi {
		return PortRange{}, fmt.Errorf("host: port range %q: want 1 <= low <= high <= 65535", s)
	}
	return PortRange{Lo: lo, Hi: hi}, nil
}

// PortUsage counts the sockets that compete for local ports toward one destination.
type PortUsage = evidence.PortUsage

// EphemeralUsage reads the port range, tcp_tw_reuse and the socket tables and
// counts them toward dst. Port 0 in dst counts every port of that address.
// Where the range can be read but not the socket table (macOS, FreeBSD,
// Windows), it returns the range with NoSockets set.
func EphemeralUsage(dst netip.AddrPort) (PortUsage, error) {
	r, err := EphemeralRange()
	if err != nil {
		return PortUsage{}, err
	}
	socks, err := TCPSockets()
	if errors.Is(err, ErrUnsupported) {
		return PortUsage{Range: r, OS: runtime.GOOS, NoSockets: true}, nil
	}
	if err != nil {
		return PortUsage{}, err
	}
	tw, err := SysctlInt("net.ipv4.tcp_tw_reuse")
	if err != nil {
		return PortUsage{}, err
	}
	u := Usage(socks, dst, r)
	u.TwReuse = tw
	u.OS = runtime.GOOS
	return u, nil
}

// Usage counts socks toward dst; IPv4-mapped addresses match their IPv4 form.
// Port 0 in dst counts every port of that address. TwReuse is left zero.
func Usage(socks []Socket, dst netip.AddrPort, r PortRange) PortUsage {
	u := PortUsage{Range: r}
	da := dst.Addr().Unmap()
	for _, s := range socks {
		if s.State == StateTimeWait {
			u.TimeWait++
		}
		if r.Contains(int(s.Local.Port())) {
			u.InRange++
		}
		if s.State == StateListen || s.Remote.Addr().Unmap() != da {
			continue
		}
		if dst.Port() != 0 && s.Remote.Port() != dst.Port() {
			continue
		}
		u.ToDest++
		if s.State == StateTimeWait {
			u.TimeWaitToDest++
		}
	}
	return u
}
