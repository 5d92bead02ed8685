//go:build linux

package neterr

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

const sizeofExtErr = 16 // struct sock_extended_err

var (
	errCmsgShort   = errors.New("neterr: truncated control message header")
	errCmsgLen     = errors.New("neterr: control message length out of range")
	errExtErrShort = errors.New("neterr: sock_extended_err shorter than 16 bytes")
)

func cmsgAlign(n uint64) uint64 {
	return (n + unix.SizeofPtr - 1) &^ (unix.SizeofPtr - 1)
}

// parseErrQueue reads the control data of one MSG_ERRQUEUE recvmsg. It
// returns the most informative IP_RECVERR/IPV6_RECVERR entry, or nil when
// there is none. The bytes come from the kernel but are treated as
// untrusted: any input yields an error, never a panic.
func parseErrQueue(oob []byte) (*ICMP, error) {
	var best *ICMP
	for len(oob) > 0 {
		if len(oob) < unix.SizeofCmsghdr {
			return best, errCmsgShort
		}
		var l uint64
		if unix.SizeofCmsghdr == 16 { // cmsg_len is a size_t
			l = binary.NativeEndian.Uint64(oob)
		} else {
			l = uint64(binary.NativeEndian.Uint32(oob))
		}
		if l < unix.SizeofCmsghdr || l > uint64(len(oob)) {
			return best, errCmsgLen
		}
		off := unix.SizeofCmsghdr - 8
		level := int32(binary.NativeEndian.Uint32(oob[off:]))
		typ := int32(binary.NativeEndian.Uint32(oob[off+4:]))
		data := oob[min(cmsgAlign(unix.SizeofCmsghdr), l):l]
		if (level == unix.SOL_IP && typ == unix.IP_RECVERR) ||
			(level == unix.SOL_IPV6 && typ == unix.IPV6_RECVERR) {
			e, err := parseExtErr(data)
			if err != nil {
				return best, err
			}
			best = better(best, e)
		}
		next := cmsgAlign(l)
		if next >= uint64(len(oob)) {
			break
		}
		oob = oob[next:]
	}
	return best, nil
}

// parseExtErr reads struct sock_extended_err and the offender sockaddr after it.
func parseExtErr(b []byte) (*ICMP, error) {
	if len(b) < sizeofExtErr {
		return nil, errExtErrShort
	}
	e := &ICMP{
		Errno:  syscall.Errno(binary.NativeEndian.Uint32(b)),
		Origin: b[4],
		Type:   b[5],
		Code:   b[6],
	}
	sa := b[sizeofExtErr:]
	if len(sa) < 2 {
		return e, nil
	}
	switch binary.NativeEndian.Uint16(sa) {
	case unix.AF_INET: // family, port, addr
		if len(sa) >= 8 {
			e.From = netip.AddrFrom4([4]byte(sa[4:8]))
		}
	case unix.AF_INET6: // family, port, flowinfo, addr, scope id
		if len(sa) >= 24 {
			e.From = netip.AddrFrom16([16]byte(sa[8:24])).Unmap()
		}
	}
	return e, nil
}

// better keeps ICMP over local entries over anything else; the first wins a tie.
func better(cur, cand *ICMP) *ICMP {
	if cand == nil {
		return cur
	}
	if cur == nil || originRank(cand.Origin) > originRank(cur.Origin) {
		return cand
	}
	return cur
}

func originRank(o uint8) int {
	switch o {
	case OriginICMP, OriginICMP6:
		return 3
	case OriginLocal:
		return 2
	case OriginNone:
		return 0
	}
	return 1 // tx timestamps, zerocopy: not an error at all
}
