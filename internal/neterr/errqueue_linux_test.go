//go:build linux

package neterr

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// cmsg builds one control message the way the kernel lays it out.
func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	if unix.SizeofCmsghdr == 16 {
		binary.NativeEndian.PutUint64(b, uint64(unix.CmsgLen(len(data))))
	} else {
		binary.NativeEndian.PutUint32(b, uint32(unix.CmsgLen(len(data))))
	}
	binary.NativeEndian.PutUint32(b[unix.SizeofCmsghdr-8:], uint32(level))
	binary.NativeEndian.PutUint32(b[unix.SizeofCmsghdr-4:], uint32(typ))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

func extErr(errno syscall.Errno, origin, typ, code uint8, from netip.Addr) []byte {
	b := make([]byte, 16)
	binary.NativeEndian.PutUint32(b, uint32(errno))
	b[4], b[5], b[6] = origin, typ, code
	switch {
	case !from.IsValid():
		b = append(b, make([]byte, 16)...) // AF_UNSPEC, as for local errors
	case from.Is4():
		sa := make([]byte, 16)
		binary.NativeEndian.PutUint16(sa, unix.AF_INET)
		a := from.As4()
		copy(sa[4:], a[:])
		b = append(b, sa...)
	default:
		sa := make([]byte, 28)
		binary.NativeEndian.PutUint16(sa, unix.AF_INET6)
		a := from.As16()
		copy(sa[8:], a[:])
		b = append(b, sa...)
	}
	return b
}

func v4err(errno syscall.Errno, typ, code uint8, from string) []byte {
	return cmsg(unix.SOL_IP, unix.IP_RECVERR, extErr(errno, OriginICMP, typ, code, netip.MustParseAddr(from)))
}

func v6err(errno syscall.Errno, typ, code uint8, from string) []byte {
	return cmsg(unix.SOL_IPV6, unix.IPV6_RECVERR, extErr(errno, OriginICMP6, typ, code, netip.MustParseAddr(from)))
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func TestParseErrQueue(t *testing.T) {
	local := cmsg(unix.SOL_IP, unix.IP_RECVERR, extErr(syscall.EMSGSIZE, OriginLocal, 0, 0, netip.Addr{}))
	other := cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, make([]byte, 16))
	tests := []struct {
		name    string
		oob     []byte
		want    *ICMP
		wantErr bool
	}{
		{"empty", nil, nil, false},
		{"admin prohibited v4", v4err(syscall.EHOSTUNREACH, 3, 13, "10.0.0.1"),
			&ICMP{Origin: OriginICMP, Type: 3, Code: 13, Errno: syscall.EHOSTUNREACH, From: mustAddr("10.0.0.1")}, false},
		{"port unreachable v4", v4err(syscall.ECONNREFUSED, 3, 3, "192.0.2.9"),
			&ICMP{Origin: OriginICMP, Type: 3, Code: 3, Errno: syscall.ECONNREFUSED, From: mustAddr("192.0.2.9")}, false},
		{"time exceeded v4", v4err(syscall.EHOSTUNREACH, 11, 0, "10.9.8.7"),
			&ICMP{Origin: OriginICMP, Type: 11, Code: 0, Errno: syscall.EHOSTUNREACH, From: mustAddr("10.9.8.7")}, false},
		{"admin prohibited v6", v6err(syscall.EACCES, 1, 1, "2001:db8::1"),
			&ICMP{Origin: OriginICMP6, Type: 1, Code: 1, Errno: syscall.EACCES, From: mustAddr("2001:db8::1")}, false},
		{"v4 ICMP on a v6 socket: mapped offender",
			cmsg(unix.SOL_IPV6, unix.IPV6_RECVERR, extErr(syscall.ECONNREFUSED, OriginICMP, 3, 3, mustAddr("::ffff:10.0.0.2"))),
			&ICMP{Origin: OriginICMP, Type: 3, Code: 3, Errno: syscall.ECONNREFUSED, From: mustAddr("10.0.0.2")}, false},
		{"local error, no offender", local,
			&ICMP{Origin: OriginLocal, Errno: syscall.EMSGSIZE}, false},
		{"unrelated cmsg only", other, nil, false},
		{"unrelated then icmp", cat(other, v4err(syscall.EHOSTUNREACH, 3, 1, "10.0.0.3")),
			&ICMP{Origin: OriginICMP, Type: 3, Code: 1, Errno: syscall.EHOSTUNREACH, From: mustAddr("10.0.0.3")}, false},
		{"icmp preferred over local", cat(local, v4err(syscall.EHOSTUNREACH, 3, 1, "10.0.0.3")),
			&ICMP{Origin: OriginICMP, Type: 3, Code: 1, Errno: syscall.EHOSTUNREACH, From: mustAddr("10.0.0.3")}, false},
		{"first icmp wins a tie", cat(v4err(syscall.EHOSTUNREACH, 11, 0, "10.0.0.4"), v4err(syscall.EHOSTUNREACH, 3, 1, "10.0.0.3")),
			&ICMP{Origin: OriginICMP, Type: 11, Code: 0, Errno: syscall.EHOSTUNREACH, From: mustAddr("10.0.0.4")}, false},
		{"extended error without offender",
			cmsg(unix.SOL_IP, unix.IP_RECVERR, extErr(syscall.ECONNREFUSED, OriginICMP, 3, 3, netip.Addr{})[:16]),
			&ICMP{Origin: OriginICMP, Type: 3, Code: 3, Errno: syscall.ECONNREFUSED}, false},
		{"unknown offender family",
			cmsg(unix.SOL_IP, unix.IP_RECVERR, append(extErr(syscall.ECONNREFUSED, OriginICMP, 3, 3, netip.Addr{})[:16], 99, 0, 1, 2, 3, 4, 5, 6)),
			&ICMP{Origin: OriginICMP, Type: 3, Code: 3, Errno: syscall.ECONNREFUSED}, false},
		{"truncated sockaddr_in",
			cmsg(unix.SOL_IP, unix.IP_RECVERR, extErr(syscall.ECONNREFUSED, OriginICMP, 3, 3, mustAddr("10.0.0.1"))[:22]),
			&ICMP{Origin: OriginICMP, Type: 3, Code: 3, Errno: syscall.ECONNREFUSED}, false},
		{"short extended error", cmsg(unix.SOL_IP, unix.IP_RECVERR, make([]byte, 8)), nil, true},
		{"short header", make([]byte, unix.SizeofCmsghdr-1), nil, true},
		{"length past end", v4err(syscall.EHOSTUNREACH, 3, 1, "10.0.0.3")[:20], nil, true},
		{"length below header", func() []byte {
			b := v4err(syscall.EHOSTUNREACH, 3, 1, "10.0.0.3")
			b[0] = 3
			return b
		}(), nil, true},
		{"good entry then garbage", cat(v4err(syscall.EHOSTUNREACH, 3, 1, "10.0.0.3"), []byte{1, 2, 3}),
			&ICMP{Origin: OriginICMP, Type: 3, Code: 1, Errno: syscall.EHOSTUNREACH, From: mustAddr("10.0.0.3")}, true},
		{"unpadded last message", v4err(syscall.EHOSTUNREACH, 3, 1, "10.0.0.3")[:unix.CmsgLen(32)],
			&ICMP{Origin: OriginICMP, Type: 3, Code: 1, Errno: syscall.EHOSTUNREACH, From: mustAddr("10.0.0.3")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseErrQueue(tt.oob)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v; wantErr %v", err, tt.wantErr)
			}
			if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Fatalf("got %+v; want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseErrQueue(f *testing.F) {
	f.Add(v4err(syscall.EHOSTUNREACH, 3, 13, "10.0.0.1"))
	f.Add(v4err(syscall.ECONNREFUSED, 3, 3, "127.0.0.1"))
	f.Add(v4err(syscall.EHOSTUNREACH, 11, 0, "10.99.0.1"))
	f.Add(v6err(syscall.EACCES, 1, 1, "::1"))
	f.Add(v6err(syscall.ECONNREFUSED, 1, 4, "2001:db8::2"))
	f.Add(cmsg(unix.SOL_IP, unix.IP_RECVERR, extErr(syscall.EMSGSIZE, OriginLocal, 0, 0, netip.Addr{})))
	f.Add(cat(cmsg(unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, make([]byte, 16)), v4err(syscall.EHOSTUNREACH, 3, 1, "10.0.0.3")))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, oob []byte) {
		e, err := parseErrQueue(oob)
		if e != nil && e.Origin != 0 {
			_ = e.String()
		}
		if err == nil && len(oob) > 0 && len(oob) < unix.SizeofCmsghdr {
			t.Fatalf("accepted %d bytes, shorter than a cmsg header", len(oob))
		}
	})
}
