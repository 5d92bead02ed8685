package capture

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/bpf"
)

// ipv4 builds an IPv4 packet carrying a TCP header.
func ipv4(src, dst string, sport, dport uint16, flags uint8, opts ...func([]byte) []byte) []byte {
	b := make([]byte, 20+20)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[8], b[9] = 64, 6
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	tcp := b[20:]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	tcp[12] = 5 << 4
	tcp[13] = flags
	for _, o := range opts {
		b = o(b)
	}
	return b
}

// ipv6 builds an IPv6 packet carrying a TCP header, after ext (extension
// headers, already encoded, the first one's type in extType).
func ipv6(src, dst string, sport, dport uint16, flags uint8, extType uint8, ext []byte) []byte {
	b := make([]byte, 40, 40+len(ext)+20)
	b[0] = 0x60
	b[6], b[7] = 6, 64
	if ext != nil {
		b[6] = extType
	}
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	b = append(b, ext...)
	tcp := make([]byte, 20)
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	tcp[12] = 5 << 4
	tcp[13] = flags
	b = append(b, tcp...)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
	return b
}

func fragmentOffset(b []byte) []byte { binary.BigEndian.PutUint16(b[6:], 5); return b }
func withOptions(b []byte) []byte {
	// IHL 6: four bytes of options (a NOP and an end-of-list, padded).
	out := append([]byte{}, b[:20]...)
	out[0] = 0x46
	out = append(out, 1, 0, 0, 0)
	return append(out, b[20:]...)
}

var (
	client = "198.51.100.2"
	server = "198.51.100.3"
)

func TestDecode(t *testing.T) {
	hbh := []byte{6, 0, 1, 4, 0, 0, 0, 0} // hop-by-hop, next TCP, 8 bytes
	frag0 := []byte{6, 0, 0, 0, 0, 0, 0, 1}
	fragN := []byte{6, 0, 0, 8, 0, 0, 0, 1}
	tests := []struct {
		name string
		in   []byte
		ok   bool
		want Segment
	}{
		{"v4 syn", ipv4(client, server, 40000, 8282, flagSYN), true,
			Segment{netip.MustParseAddrPort("198.51.100.2:40000"), netip.MustParseAddrPort("198.51.100.3:8282"), flagSYN}},
		{"v4 with options", ipv4(client, server, 40000, 8282, flagSYN|flagACK, withOptions), true,
			Segment{netip.MustParseAddrPort("198.51.100.2:40000"), netip.MustParseAddrPort("198.51.100.3:8282"), flagSYN | flagACK}},
		{"v4 later fragment", ipv4(client, server, 1, 2, flagSYN, fragmentOffset), false, Segment{}},
		{"v6 syn", ipv6("2001:db8::2", "2001:db8::3", 40000, 443, flagSYN, 0, nil), true,
			Segment{netip.MustParseAddrPort("[2001:db8::2]:40000"), netip.MustParseAddrPort("[2001:db8::3]:443"), flagSYN}},
		{"v6 hop-by-hop", ipv6("2001:db8::2", "2001:db8::3", 1, 2, flagRST, 0, hbh), true,
			Segment{netip.MustParseAddrPort("[2001:db8::2]:1"), netip.MustParseAddrPort("[2001:db8::3]:2"), flagRST}},
		{"v6 first fragment", ipv6("2001:db8::2", "2001:db8::3", 1, 2, flagSYN, 44, frag0), true,
			Segment{netip.MustParseAddrPort("[2001:db8::2]:1"), netip.MustParseAddrPort("[2001:db8::3]:2"), flagSYN}},
		{"v6 later fragment", ipv6("2001:db8::2", "2001:db8::3", 1, 2, flagSYN, 44, fragN), false, Segment{}},
		{"v6 unknown next header", ipv6("2001:db8::2", "2001:db8::3", 1, 2, flagSYN, 17, make([]byte, 8)), false, Segment{}},
		{"truncated tcp", ipv4(client, server, 1, 2, flagSYN)[:30], false, Segment{}},
		{"truncated ip", []byte{0x45, 0, 0}, false, Segment{}},
		{"udp", func() []byte { b := ipv4(client, server, 1, 2, 0); b[9] = 17; return b }(), false, Segment{}},
		{"bad ihl", func() []byte { b := ipv4(client, server, 1, 2, 0); b[0] = 0x43; return b }(), false, Segment{}},
		{"version 5", []byte{0x50, 0, 0, 0}, false, Segment{}},
		{"empty", nil, false, Segment{}},
	}
	for _, tt := range tests {
		got, ok := Decode(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("%s: Decode = %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(ipv4(client, server, 40000, 8282, flagSYN))
	f.Add(ipv4(client, server, 40000, 8282, flagSYN, withOptions))
	f.Add(ipv6("2001:db8::2", "2001:db8::3", 1, 2, flagRST, 0, []byte{6, 0, 1, 4, 0, 0, 0, 0}))
	f.Add(ipv6("2001:db8::2", "2001:db8::3", 1, 2, flagSYN, 44, []byte{6, 0, 0, 0, 0, 0, 0, 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, ok := Decode(b)
		if !ok {
			return
		}
		if !s.Src.IsValid() || !s.Dst.IsValid() || s.Src.Addr().Is4() != s.Dst.Addr().Is4() {
			t.Fatalf("decoded %+v from %x", s, b)
		}
		tr := NewTracker([]uint16{s.Dst.Port()}, 2)
		tr.Add(s, time.Unix(0, 0))
		if len(tr.SYNs()) > 1 {
			t.Fatal("one segment, several attempts")
		}
	})
}

// runFilter runs the filter in x/net/bpf's VM as the kernel would for a
// packet of type pktType (0 PACKET_HOST, 4 PACKET_OUTGOING).
func runFilter(t *testing.T, ports []uint16, pktType uint32, pkt []byte) int {
	t.Helper()
	raw, err := program(ports, bpf.LoadConstant{Dst: bpf.RegA, Val: pktType})
	if err != nil {
		t.Fatal(err)
	}
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("filter does not disassemble")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
	n, err := vm.Run(pkt)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestFilter(t *testing.T) {
	const host, out = 0, packetOutgoing
	ports := []uint16{8282, 443}
	v6syn := ipv6("2001:db8::2", "2001:db8::3", 40000, 443, flagSYN, 0, nil)
	tests := []struct {
		name    string
		pktType uint32
		pkt     []byte
		keep    bool
	}{
		{"inbound SYN to a watched port", host, ipv4(client, server, 40000, 8282, flagSYN), true},
		{"inbound SYN to another port", host, ipv4(client, server, 40000, 22, flagSYN), false},
		{"inbound SYN with IP options", host, ipv4(client, server, 40000, 8282, flagSYN, withOptions), true},
		{"inbound SYN-ACK (we are the client)", host, ipv4(server, client, 8282, 40000, flagSYN|flagACK), false},
		{"inbound RST from the client", host, ipv4(client, server, 40000, 8282, flagRST), false},
		{"our SYN-ACK", out, ipv4(server, client, 8282, 40000, flagSYN|flagACK), true},
		{"our RST", out, ipv4(server, client, 8282, 40000, flagRST|flagACK), true},
		{"our RST from another port", out, ipv4(server, client, 22, 40000, flagRST|flagACK), false},
		{"our own SYN to that port elsewhere", out, ipv4(server, client, 40000, 8282, flagSYN), false},
		{"our data segment", out, ipv4(server, client, 8282, 40000, flagACK), false},
		{"later fragment", host, ipv4(client, server, 40000, 8282, flagSYN, fragmentOffset), false},
		{"udp", host, func() []byte { b := ipv4(client, server, 1, 8282, 0); b[9] = 17; return b }(), false},
		{"inbound IPv6 SYN", host, v6syn, true},
		{"IPv6 SYN behind an extension header", host, ipv6("2001:db8::2", "2001:db8::3", 1, 443, flagSYN, 0, []byte{6, 0, 1, 4, 0, 0, 0, 0}), false},
	}
	for _, tt := range tests {
		n := runFilter(t, ports, tt.pktType, tt.pkt)
		if (n > 0) != tt.keep || n != 0 && n != Snap {
			t.Errorf("%s: filter returned %d, want keep=%v", tt.name, n, tt.keep)
		}
	}
	// Without ports, and with more ports than the filter tests, every port passes.
	many := make([]uint16, 0, maxFilterPorts+1)
	for p := range uint16(maxFilterPorts + 1) {
		many = append(many, 10000+p)
	}
	for _, ps := range [][]uint16{nil, many} {
		if runFilter(t, ps, host, ipv4(client, server, 1, 22, flagSYN)) != Snap {
			t.Errorf("ports %d: SYN to 22 filtered", len(ps))
		}
	}
	// The most ports the filter tests itself still assemble.
	if _, err := Filter(many[:maxFilterPorts]); err != nil {
		t.Fatal(err)
	}
	if runFilter(t, many[:maxFilterPorts], out, ipv4(server, client, 10000+maxFilterPorts-1, 1, flagRST)) != Snap {
		t.Error("last port of the largest filter not kept")
	}
}

func TestTracker(t *testing.T) {
	at := time.Unix(100, 0)
	seg := func(src, dst string, flags uint8) Segment {
		return Segment{netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst), flags}
	}
	tr := NewTracker([]uint16{8282}, 3)
	tr.Add(seg("198.51.100.2:40000", "198.51.100.3:8282", flagSYN), at)
	tr.Add(seg("198.51.100.2:40000", "198.51.100.3:8282", flagSYN), at.Add(time.Second)) // retransmission
	tr.Add(seg("198.51.100.2:40001", "198.51.100.3:8282", flagSYN), at.Add(2*time.Second))
	tr.Add(seg("198.51.100.3:8282", "198.51.100.2:40001", flagSYN|flagACK), at.Add(2*time.Second))
	tr.Add(seg("198.51.100.3:8282", "198.51.100.2:40001", flagRST|flagACK), at.Add(3*time.Second)) // closed later: still accepted
	tr.Add(seg("[::ffff:198.51.100.4]:5", "[::ffff:198.51.100.3]:8282", flagSYN), at.Add(3*time.Second))
	tr.Add(seg("198.51.100.3:8282", "198.51.100.4:5", flagRST|flagACK), at.Add(3*time.Second))
	tr.Add(seg("198.51.100.2:40002", "198.51.100.3:22", flagSYN), at)                      // not watched
	tr.Add(seg("198.51.100.3:8282", "198.51.100.9:1", flagSYN|flagACK), at)                // answer to an unseen SYN
	tr.Add(seg("198.51.100.2:40009", "198.51.100.3:8282", flagSYN), at.Add(4*time.Second)) // over the limit
	got := tr.SYNs()
	want := []SYN{
		{From: netip.MustParseAddrPort("198.51.100.2:40000"), To: netip.MustParseAddrPort("198.51.100.3:8282"), First: at, Last: at.Add(time.Second), Count: 2, Answer: None},
		{From: netip.MustParseAddrPort("198.51.100.2:40001"), To: netip.MustParseAddrPort("198.51.100.3:8282"), First: at.Add(2 * time.Second), Last: at.Add(2 * time.Second), Count: 1, Answer: SynAck},
		{From: netip.MustParseAddrPort("198.51.100.4:5"), To: netip.MustParseAddrPort("198.51.100.3:8282"), First: at.Add(3 * time.Second), Last: at.Add(3 * time.Second), Count: 1, Answer: RST},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("attempt %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if tr.Untracked != 1 {
		t.Errorf("Untracked = %d, want 1", tr.Untracked)
	}
}
