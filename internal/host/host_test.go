package host

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
)

// Captured on this x86-64 machine (Linux 6.18) with listeners on
// 127.0.0.1:41001, 0.0.0.0:41002, [::]:41003 (dual-stack), [::ffff:127.0.0.1]:41004
// (an AF_INET6 socket) and [::1]:41005, plus connections left in TIME_WAIT.
// tcp lines keep the kernel's trailing padding.
const capturedTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     
   0: 00000000:A02A 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10974 2 00000000b22e21aa 100 0 0 10 0                     
   1: 0100007F:A029 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10972 2 000000006068227b 100 0 0 10 0                     
   2: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 562 1 00000000894b6706 100 0 0 10 0                       
   3: 020200C0:A868 507100CB:01BB 06 00000000:00000000 03:00001624 00000000     0        0 0 3 00000000b4f6c710                                      
   4: 020200C0:A86A 507100CB:01BB 06 00000000:00000000 03:00001622 00000000     0        0 0 3 000000006ea19fb1                                      
   5: 0100007F:8C5C 0100007F:A02B 01 00000000:00000000 02:000005BD 00000000     0        0 10984 3 0000000037a798d4 20 0 0 10 -1                     
   6: 0100007F:9CDA 0100007F:A029 06 00000000:00000000 03:0000175B 00000000     0        0 0 3 000000001b033637                                      
   7: 0100007F:B1A6 0100007F:A029 06 00000000:00000000 03:000015FE 00000000     0        0 0 3 00000000d52bd904                                      
`

const capturedTCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:A02B 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10976 2 00000000f4456e36 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:A02C 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10980 1 000000005c1c5709 100 0 0 10 0
   2: 00000000000000000000000001000000:A02D 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10978 2 000000005da06d2e 100 0 0 10 0
   3: 00000000000000000000000001000000:A02D 00000000000000000000000001000000:E586 01 00000000:00000000 02:000005BD 00000000     0        0 10985 2 0000000061cd0d8b 20 0 0 10 -1
   4: 0000000000000000FFFF00000100007F:A02B 0000000000000000FFFF00000100007F:8C5C 01 00000000:00000000 02:000005BC 00000000     0        0 10986 2 0000000013a385ad 20 0 0 10 -1
   5: 00000000000000000000000001000000:E586 00000000000000000000000001000000:A02D 01 00000000:00000000 02:000005BC 00000000     0        0 10982 3 000000007831bc6f 20 0 0 10 -1
   6: 00000000000000000000000001000000:A02D 00000000000000000000000001000000:86F8 06 00000000:00000000 03:00001612 00000000     0        0 0 3 00000000a76a788c
`

func littleEndian() bool { return binary.NativeEndian.Uint16([]byte{1, 0}) == 1 }

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestParseProcNetTCP(t *testing.T) {
	if !littleEndian() {
		t.Skip("captured text is from a little-endian kernel; /proc prints words in host byte order")
	}
	tests := []struct {
		name string
		in   string
		want []Socket
	}{
		{"listen 127.0.0.1", capturedTCP[:strings.Index(capturedTCP, "\n   2:")],
			[]Socket{
				{Local: ap("0.0.0.0:41002"), Remote: ap("0.0.0.0:0"), State: StateListen, Inode: 10974},
				{Local: ap("127.0.0.1:41001"), Remote: ap("0.0.0.0:0"), State: StateListen, Inode: 10972},
			}},
		{"time wait v4", "   7: 0100007F:B1A6 0100007F:A029 06 00000000:00000000 03:000015FE 00000000     0        0 0 3 00000000d52bd904",
			[]Socket{{Local: ap("127.0.0.1:45478"), Remote: ap("127.0.0.1:41001"), State: StateTimeWait}}},
		{"established to dual-stack listener", "   5: 0100007F:8C5C 0100007F:A02B 01 00000000:00000000 02:000005BD 00000000     0        0 10984 3 0000000037a798d4 20 0 0 10 -1",
			[]Socket{{Local: ap("127.0.0.1:35932"), Remote: ap("127.0.0.1:41003"), State: StateEstablished, Inode: 10984}}},
		{"listen ::", "   0: 00000000000000000000000000000000:A02B 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10976 2 00000000f4456e36 100 0 0 10 0",
			[]Socket{{Local: ap("[::]:41003"), Remote: ap("[::]:0"), State: StateListen, Inode: 10976}}},
		{"listen ::ffff:127.0.0.1 stays mapped", "   1: 0000000000000000FFFF00000100007F:A02C 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10980 1 000000005c1c5709 100 0 0 10 0",
			[]Socket{{Local: ap("[::ffff:127.0.0.1]:41004"), Remote: ap("[::]:0"), State: StateListen, Inode: 10980}}},
		{"listen ::1", "   2: 00000000000000000000000001000000:A02D 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10978 2 000000005da06d2e 100 0 0 10 0",
			[]Socket{{Local: ap("[::1]:41005"), Remote: ap("[::]:0"), State: StateListen, Inode: 10978}}},
		{"time wait v6", "   6: 00000000000000000000000001000000:A02D 00000000000000000000000001000000:86F8 06 00000000:00000000 03:00001612 00000000     0        0 0 3 00000000a76a788c",
			[]Socket{{Local: ap("[::1]:41005"), Remote: ap("[::1]:34552"), State: StateTimeWait}}},
		{"uid", "   0: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 42 1 0000000000000000 100 0 0 10 0",
			[]Socket{{Local: ap("127.0.0.1:80"), Remote: ap("0.0.0.0:0"), State: StateListen, UID: 1000, Inode: 42}}},
		{"header only", "  sl  local_address rem_address   st\n", nil},
		{"blank lines", "\n\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProcNetTCP(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d sockets %v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("socket %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseProcNetTCPCaptured(t *testing.T) {
	if !littleEndian() {
		t.Skip("captured text is from a little-endian kernel")
	}
	v4, err := ParseProcNetTCP(strings.NewReader(capturedTCP))
	if err != nil || len(v4) != 8 {
		t.Fatalf("tcp: %d sockets, %v; want 8", len(v4), err)
	}
	v6, err := ParseProcNetTCP(strings.NewReader(capturedTCP6))
	if err != nil || len(v6) != 7 {
		t.Fatalf("tcp6: %d sockets, %v; want 7", len(v6), err)
	}
	both, err := ParseProcNetTCP(strings.NewReader(capturedTCP + capturedTCP6))
	if err != nil || len(both) != 15 {
		t.Fatalf("concatenated: %d sockets, %v; want 15", len(both), err)
	}
	// The accepted side of a v4 connection to a dual-stack listener.
	want := Socket{Local: ap("[::ffff:127.0.0.1]:41003"), Remote: ap("[::ffff:127.0.0.1]:35932"), State: StateEstablished, Inode: 10986}
	if v6[4] != want {
		t.Errorf("tcp6 line 4 = %+v, want %+v", v6[4], want)
	}
	u := v6[4].Unmap()
	if u.Local != ap("127.0.0.1:41003") || u.Remote != ap("127.0.0.1:35932") {
		t.Errorf("Unmap = %v %v", u.Local, u.Remote)
	}
	if v6[0].Unmap().Local != ap("[::]:41003") {
		t.Errorf("Unmap changed a plain IPv6 address: %v", v6[0].Unmap().Local)
	}
}

func TestParseProcNetTCPErrors(t *testing.T) {
	good := "   1: 0100007F:A029 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 10972 2 0 100 0 0 10 0"
	tests := []struct{ name, in, want string }{
		{"too few fields", "   1: 0100007F:A029 00000000:0000 0A", "fields"},
		{"no port", strings.Replace(good, "0100007F:A029", "0100007F", 1), "not ADDR:PORT"},
		{"short port", strings.Replace(good, "0100007F:A029", "0100007F:29", 1), "not ADDR:PORT"},
		{"odd address length", strings.Replace(good, "0100007F:A029", "0100007F00:A029", 1), "hex digits"},
		{"non-hex address", strings.Replace(good, "0100007F:A029", "0100007G:A029", 1), "address"},
		{"signed word", strings.Replace(good, "0100007F:A029", "+100007F:A029", 1), "address"},
		{"families differ", strings.Replace(good, "00000000:0000", "00000000000000000000000000000000:0000", 1), "families"},
		{"bad state", strings.Replace(good, " 0A ", " 0x ", 1), "state"},
		{"long state", strings.Replace(good, " 0A ", " 00A ", 1), "state"},
		{"bad uid", strings.Replace(good, "     0        0 10972", "    -1        0 10972", 1), "uid"},
		{"bad inode", strings.Replace(good, "10972", "1097x", 1), "inode"},
		{"line too long", good + strings.Repeat(" 0", maxProcLine), "too long"},
		{"second line bad", good + "\n junk\n", "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseProcNetTCP(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func FuzzParseProcNetTCP(f *testing.F) {
	f.Add([]byte(capturedTCP))
	f.Add([]byte(capturedTCP6))
	f.Add([]byte(capturedTCP + capturedTCP6))
	f.Add([]byte("   0: 0100007F:0050 00000000:0000 0A 0:0 0:0 0 1000 0 42"))
	f.Add([]byte("sl\n\n\r\n   0: :"))
	f.Add([]byte("0 0:0 0:0 0 0 0 0 0 0 0"))
	f.Add([]byte(strings.Repeat("A", 2*maxProcLine)))
	f.Fuzz(func(t *testing.T, data []byte) {
		socks, err := ParseProcNetTCP(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, s := range socks {
			if !s.Local.IsValid() || !s.Remote.IsValid() {
				t.Fatalf("invalid address in %+v", s)
			}
			if s.Local.Addr().Is4() != s.Remote.Addr().Is4() {
				t.Fatalf("mixed families in %+v", s)
			}
		}
	})
}

func TestTCPStateString(t *testing.T) {
	tests := []struct {
		s    TCPState
		want string
	}{
		{1, "ESTABLISHED"},
		{StateSynSent, "SYN_SENT"},
		{StateSynRecv, "SYN_RECV"},
		{StateFinWait1, "FIN_WAIT1"},
		{StateFinWait2, "FIN_WAIT2"},
		{6, "TIME_WAIT"},
		{StateClose, "CLOSE"},
		{StateCloseWait, "CLOSE_WAIT"},
		{StateLastAck, "LAST_ACK"},
		{10, "LISTEN"},
		{StateClosing, "CLOSING"},
		{StateNewSynRecv, "NEW_SYN_RECV"},
		{StateBoundInactive, "BOUND_INACTIVE"},
		{0, "TCPState(0)"},
		{14, "TCPState(14)"},
		{255, "TCPState(255)"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("TCPState(%d).String() = %q, want %q", uint8(tt.s), got, tt.want)
		}
	}
}

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in      string
		want    PortRange
		size    int
		wantErr bool
	}{
		{"32768\t60999\n", PortRange{Lo: 32768, Hi: 60999}, 28232, false},
		{"40000 40001", PortRange{Lo: 40000, Hi: 40001}, 2, false},
		{"1024\t1024\n", PortRange{Lo: 1024, Hi: 1024}, 1, false},
		{"1 65535", PortRange{Lo: 1, Hi: 65535}, 65535, false},
		{"", PortRange{}, 0, true},
		{"32768", PortRange{}, 0, true},
		{"32768 60999 7", PortRange{}, 0, true},
		{"60999 32768", PortRange{}, 0, true},
		{"0 100", PortRange{}, 0, true},
		{"1 65536", PortRange{}, 0, true},
		{"a b", PortRange{}, 0, true},
		{"-5 10", PortRange{}, 0, true},
	}
	for _, tt := range tests {
		got, err := ParsePortRange(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParsePortRange(%q) err = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if got != tt.want || got.Size() != tt.size {
			t.Errorf("ParsePortRange(%q) = %v (size %d), want %v (size %d)", tt.in, got, got.Size(), tt.want, tt.size)
		}
	}
	for _, r := range []PortRange{{Lo: 5, Hi: 4}, {}, {Lo: 0, Hi: 0}} {
		if r.Size() != 0 || r.Contains(0) {
			t.Errorf("%v: size %d, contains 0: %v; want an empty range", r, r.Size(), r.Contains(0))
		}
	}
	if got := (PortRange{Lo: 0, Hi: 3}).Size(); got != 3 {
		t.Errorf("size of 0-3 = %d, want 3 (port 0 is not usable)", got)
	}
}

func TestUsage(t *testing.T) {
	if !littleEndian() {
		t.Skip("captured text is from a little-endian kernel")
	}
	socks, err := ParseProcNetTCP(strings.NewReader(capturedTCP + capturedTCP6))
	if err != nil {
		t.Fatal(err)
	}
	def := PortRange{Lo: 32768, Hi: 60999}
	tests := []struct {
		name  string
		socks []Socket
		dst   string
		r     PortRange
		want  PortUsage
	}{
		{"no sockets", nil, "127.0.0.1:80", def, PortUsage{Range: def}},
		{"time wait toward a listener", socks, "127.0.0.1:41001", def,
			PortUsage{Range: def, ToDest: 2, TimeWaitToDest: 2, TimeWait: 5, InRange: 14}},
		{"remote web server", socks, "203.0.113.80:443", def,
			PortUsage{Range: def, ToDest: 2, TimeWaitToDest: 2, TimeWait: 5, InRange: 14}},
		{"port 0 counts every port", socks, "127.0.0.1:0", def,
			PortUsage{Range: def, ToDest: 4, TimeWaitToDest: 2, TimeWait: 5, InRange: 14}},
		{"mapped remote matches IPv4 dst", socks, "127.0.0.1:41003", def,
			PortUsage{Range: def, ToDest: 1, TimeWait: 5, InRange: 14}},
		{"mapped dst matches IPv4 remote", socks, "[::ffff:127.0.0.1]:41003", def,
			PortUsage{Range: def, ToDest: 1, TimeWait: 5, InRange: 14}},
		{"ipv6 loopback", socks, "[::1]:41005", def,
			PortUsage{Range: def, ToDest: 1, TimeWait: 5, InRange: 14}},
		{"listeners are not toward anything", socks, "0.0.0.0:0", def,
			PortUsage{Range: def, TimeWait: 5, InRange: 14}},
		{"narrow range", socks, "127.0.0.1:41001", PortRange{Lo: 41001, Hi: 41005},
			PortUsage{Range: PortRange{Lo: 41001, Hi: 41005}, ToDest: 2, TimeWaitToDest: 2, TimeWait: 5, InRange: 8}},
		{"range with no sockets", socks, "192.0.2.9:1", PortRange{Lo: 40000, Hi: 40001},
			PortUsage{Range: PortRange{Lo: 40000, Hi: 40001}, TimeWait: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Usage(tt.socks, ap(tt.dst), tt.r); got != tt.want {
				t.Errorf("Usage = %+v, want %+v", got, tt.want)
			}
		})
	}
}
