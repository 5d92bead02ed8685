package host

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// nlmsg wraps a payload in a netlink header.
func nlmsg(typ, flags uint16, seq uint32, payload []byte) []byte {
	b := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(payload)+3)
	binary.NativeEndian.PutUint32(b[0:4], uint32(unix.NLMSG_HDRLEN+len(payload)))
	binary.NativeEndian.PutUint16(b[4:6], typ)
	binary.NativeEndian.PutUint16(b[6:8], flags)
	binary.NativeEndian.PutUint32(b[8:12], seq)
	b = append(b, payload...)
	for len(b)%unix.NLMSG_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}

func FuzzDiagMessages(f *testing.F) {
	sock := diagMsg(2, StateListen, ap("127.0.0.1:8282"), ap("0.0.0.0:0"), 3, 511)
	v6 := diagMsg(10, StateListen, ap("[::]:80"), ap("[::]:0"), 0, 4096, []byte{5, 0, diagAttrV6Only, 0, 1, 0, 0, 0})
	done := nlmsg(unix.NLMSG_DONE, 0, 1, make([]byte, 4))
	f.Add(append(append(nlmsg(20, 0, 1, sock), nlmsg(20, 0, 1, v6)...), done...))
	f.Add(nlmsg(20, 0, 2, sock))                                         // another request's sequence
	f.Add(nlmsg(20, unix.NLM_F_DUMP_INTR, 1, sock))                      // interrupted dump
	f.Add(nlmsg(unix.NLMSG_ERROR, 0, 1, []byte{0xf3, 0xff, 0xff, 0xff})) // -13, EACCES
	f.Add(nlmsg(unix.NLMSG_ERROR, 0, 1, nil))                            // error without its code
	f.Add(nlmsg(20, 0, 1, sock[:40]))                                    // truncated socket
	over := nlmsg(20, 0, 1, sock)
	binary.NativeEndian.PutUint32(over[0:4], 1<<31) // a length beyond the datagram
	f.Add(over)
	zero := nlmsg(20, 0, 1, sock)
	binary.NativeEndian.PutUint32(zero[0:4], 0) // a length that does not advance
	f.Add(zero)
	f.Add(make([]byte, unix.NLMSG_HDRLEN-1))
	f.Fuzz(func(t *testing.T, b []byte) {
		var out []DiagSocket
		_, err := diagMessages(b, 1, &out)
		if len(out)*(unix.NLMSG_HDRLEN+sizeofDiagMsg) > len(b) {
			t.Fatalf("%d sockets from %d bytes", len(out), len(b))
		}
		if err == nil {
			for _, d := range out {
				if d.V6Only < -1 || d.V6Only > 1 || !d.Local.IsValid() {
					t.Fatalf("socket %+v", d)
				}
			}
		}
	})
}
