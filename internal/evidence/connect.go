package evidence

import (
	"fmt"
	"net/netip"
	"syscall"
	"time"
)

// Kind is the class of a connect outcome.
type Kind string

const (
	OK               Kind = "ok"
	Refused          Kind = "refused"
	Timeout          Kind = "timeout"
	HostUnreachable  Kind = "host_unreachable"
	NetUnreachable   Kind = "net_unreachable"
	AddrNotAvailable Kind = "addr_not_available"
	AddrInUse        Kind = "addr_in_use" // bind with a Source once its ephemeral ports are used up
	TooManyFiles     Kind = "too_many_files"
	PermissionDenied Kind = "permission_denied"
	Reset            Kind = "reset"
	InvalidArgument  Kind = "invalid_argument"
	Canceled         Kind = "canceled" // the caller's context was canceled: says nothing about the network
	Other            Kind = "other"
)

// Connect is what one connect attempt found.
type Connect struct {
	Addr  netip.AddrPort // destination
	Local netip.AddrPort // local address used, when known
	Kind  Kind
	Op    string        // "socket", "bind", "connect" (or "setsockopt") where it failed; "" when unknown or OK
	Errno syscall.Errno // 0 when none (e.g. Go's i/o timeout); the number of the system that ran the connect
	// ErrnoName is that system's name for Errno ("ECONNREFUSED", Winsock's
	// "WSAECONNREFUSED"); "" when unknown. ErrnoIs compares portably.
	ErrnoName string
	ICMP      *ICMP // from the socket error queue, when the kernel had one
	Duration  time.Duration
	Err       error // the original error; errors.Is(Err, syscall.ECONNREFUSED) works
}

// sock_extended_err origins (SO_EE_ORIGIN_*).
const (
	OriginNone  uint8 = 0
	OriginLocal uint8 = 1
	OriginICMP  uint8 = 2
	OriginICMP6 uint8 = 3
)

// ICMP is one entry of the socket error queue.
type ICMP struct {
	Origin     uint8 // 2 = ICMP, 3 = ICMPv6 (SO_EE_ORIGIN_*), 1 = local
	Type, Code uint8
	Errno      syscall.Errno // ee_errno
	From       netip.Addr    // offender address (router or host that sent it); may be our own address for ARP failures
}

var icmp4Unreach = [...]string{
	0:  "net unreachable",
	1:  "host unreachable",
	2:  "protocol unreachable",
	3:  "port unreachable",
	4:  "fragmentation needed",
	5:  "source route failed",
	6:  "destination network unknown",
	7:  "destination host unknown",
	8:  "source host isolated",
	9:  "network administratively prohibited",
	10: "host administratively prohibited",
	11: "network unreachable for TOS",
	12: "host unreachable for TOS",
	13: "communication administratively prohibited",
	14: "host precedence violation",
	15: "precedence cutoff in effect",
}

var icmp6Unreach = [...]string{
	0: "no route to destination",
	1: "administratively prohibited",
	2: "beyond scope of source address",
	3: "address unreachable",
	4: "port unreachable",
	5: "source address failed ingress/egress policy",
	6: "reject route to destination",
	7: "error in source routing header",
}

// Describe names the type/code, or "" when unknown.
func (i ICMP) Describe() string {
	switch i.Origin {
	case OriginICMP:
		switch i.Type {
		case 3:
			if int(i.Code) < len(icmp4Unreach) {
				return icmp4Unreach[i.Code]
			}
			return "destination unreachable"
		case 4:
			return "source quench"
		case 5:
			return "redirect"
		case 11:
			if i.Code == 1 {
				return "fragment reassembly time exceeded"
			}
			return "time exceeded in transit"
		case 12:
			return "parameter problem"
		}
	case OriginICMP6:
		switch i.Type {
		case 1:
			if int(i.Code) < len(icmp6Unreach) {
				return icmp6Unreach[i.Code]
			}
			return "destination unreachable"
		case 2:
			return "packet too big"
		case 3:
			if i.Code == 1 {
				return "fragment reassembly time exceeded"
			}
			return "hop limit exceeded in transit"
		case 4:
			return "parameter problem"
		}
	}
	return ""
}

// String reads like "ICMP type 3 code 13 (communication administratively prohibited) from 10.0.0.1".
func (i ICMP) String() string {
	var s string
	switch i.Origin {
	case OriginICMP, OriginICMP6:
		proto := "ICMP"
		if i.Origin == OriginICMP6 {
			proto = "ICMPv6"
		}
		s = fmt.Sprintf("%s type %d code %d", proto, i.Type, i.Code)
		if d := i.Describe(); d != "" {
			s += " (" + d + ")"
		}
	case OriginLocal:
		s = "local error"
		if i.Errno != 0 {
			s += " (" + i.Errno.Error() + ")"
		}
	default:
		s = fmt.Sprintf("error queue origin %d type %d code %d", i.Origin, i.Type, i.Code)
	}
	if i.From.IsValid() {
		s += " from " + i.From.String()
	}
	return s
}

// PortUnreachable is a REJECT-style answer: v4 3/3, v6 1/4.
func (i ICMP) PortUnreachable() bool {
	return i.is(3, 3) || i.is6(1, 4)
}

// Prohibited is a firewall answer: v4 3/13, 3/10, 3/9; v6 1/1, 1/5, 1/6.
func (i ICMP) Prohibited() bool {
	return i.is(3, 13) || i.is(3, 10) || i.is(3, 9) ||
		i.is6(1, 1) || i.is6(1, 5) || i.is6(1, 6)
}

// HostOrNetUnreachable is a routing/neighbour failure: v4 3/0, 3/1, 3/6, 3/7; v6 1/0, 1/3.
func (i ICMP) HostOrNetUnreachable() bool {
	return i.is(3, 0) || i.is(3, 1) || i.is(3, 6) || i.is(3, 7) ||
		i.is6(1, 0) || i.is6(1, 3)
}

// TimeExceeded is a hop's TTL/hop-limit expiry: v4 11/0, v6 3/0.
func (i ICMP) TimeExceeded() bool {
	return i.is(11, 0) || i.is6(3, 0)
}

func (i ICMP) is(typ, code uint8) bool {
	return i.Origin == OriginICMP && i.Type == typ && i.Code == code
}

func (i ICMP) is6(typ, code uint8) bool {
	return i.Origin == OriginICMP6 && i.Type == typ && i.Code == code
}
