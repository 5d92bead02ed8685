package host

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/conndiag/conndiag/internal/evidence"
)

// DiagSocket is a TCP socket as the kernel's socket diagnostics (sock_diag)
// report it: /proc/net/tcp's fields plus the listen backlog and IPV6_V6ONLY.
type DiagSocket struct {
	Socket
	// For a LISTEN socket, RQueue is the accept queue now and WQueue its
	// limit: the backlog given to listen(), capped at net.core.somaxconn.
	// For other states, the receive and send queues in bytes.
	RQueue, WQueue uint32
	// V6Only is 1 when an IPv6 LISTEN socket has IPV6_V6ONLY set (it then
	// refuses IPv4 clients), 0 when not, -1 when unknown or not IPv6.
	V6Only  int8
	IfIndex uint32 // the device the socket is bound to (SO_BINDTODEVICE), 0 for none
}

// StateMask selects socket states for DiagTCP; AllStates selects every state.
func StateMask(states ...TCPState) uint32 {
	var m uint32
	for _, s := range states {
		m |= 1 << s
	}
	return m
}

// AllStates is the StateMask of every TCP state.
const AllStates uint32 = 0xfff

// Sizes and attribute numbers of include/uapi/linux/inet_diag.h.
const (
	sizeofDiagMsg  = 72 // struct inet_diag_msg
	sizeofDiagReq  = 56 // struct inet_diag_req_v2
	diagAttrV6Only = 11 // INET_DIAG_SKV6ONLY
)

// parseDiagMsg decodes one struct inet_diag_msg with its attributes.
func parseDiagMsg(b []byte) (DiagSocket, error) {
	var d DiagSocket
	if len(b) < sizeofDiagMsg {
		return d, fmt.Errorf("host: sock_diag message of %d bytes, want at least %d", len(b), sizeofDiagMsg)
	}
	family := b[0]
	d.State = TCPState(b[1])
	sport := binary.BigEndian.Uint16(b[4:6])
	dport := binary.BigEndian.Uint16(b[6:8])
	switch family {
	case 2: // AF_INET
		d.Local = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[8:12])), sport)
		d.Remote = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[24:28])), dport)
	case 10: // AF_INET6
		d.Local = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), sport)
		d.Remote = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[24:40])), dport)
	default:
		return d, fmt.Errorf("host: sock_diag family %d", family)
	}
	d.IfIndex = binary.NativeEndian.Uint32(b[40:44])
	d.RQueue = binary.NativeEndian.Uint32(b[56:60])
	d.WQueue = binary.NativeEndian.Uint32(b[60:64])
	d.UID = int(binary.NativeEndian.Uint32(b[64:68]))
	d.Inode = uint64(binary.NativeEndian.Uint32(b[68:72]))
	d.V6Only = -1
	for a := b[sizeofDiagMsg:]; len(a) >= 4; {
		l := int(binary.NativeEndian.Uint16(a[0:2]))
		typ := binary.NativeEndian.Uint16(a[2:4]) & 0x3fff
		if l < 4 || l > len(a) {
			return d, errors.New("host: sock_diag attribute overruns its message")
		}
		if typ == diagAttrV6Only && l >= 5 {
			d.V6Only = int8(a[4] & 1)
		}
		a = a[min(len(a), (l+3)&^3):]
	}
	return d, nil
}

// diagRequest builds the NETLINK_SOCK_DIAG dump request for TCP sockets of
// one family in the given states.
func diagRequest(family uint8, states uint32, seq uint32) []byte {
	b := make([]byte, 16+sizeofDiagReq)
	binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:6], 20)        // SOCK_DIAG_BY_FAMILY
	binary.NativeEndian.PutUint16(b[6:8], 0x1|0x300) // NLM_F_REQUEST | NLM_F_DUMP
	binary.NativeEndian.PutUint32(b[8:12], seq)
	r := b[16:]
	r[0] = family
	r[1] = 6 // IPPROTO_TCP
	binary.NativeEndian.PutUint32(r[4:8], states)
	return b
}

// Owner is a process that holds a socket.
type Owner = evidence.Owner

// ProcScan is one pass over every process's descriptors.
type ProcScan struct {
	// Owners maps a socket inode to the processes that hold it (several after fork).
	Owners map[uint64][]Owner
	// Running holds the command name of every process seen.
	Running map[string]bool
	// Denied counts processes whose descriptors could not be read: other
	// users' processes, when not root.
	Denied    int
	Processes int
}
