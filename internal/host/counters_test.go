package host

import (
	"encoding/binary"
	"net/netip"
	"os"
	"strings"
	"testing"
)

func open(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// The files in testdata were captured from a Linux 6.18 machine.
func TestParseCountersCaptured(t *testing.T) {
	netstat, err := ParseSNMP(open(t, "netstat.txt"))
	if err != nil {
		t.Fatal(err)
	}
	snmp, err := ParseSNMP(open(t, "snmp.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sockstat, err := ParseSockstat(open(t, "sockstat.txt"))
	if err != nil {
		t.Fatal(err)
	}
	c := countersFrom(netstat, snmp, sockstat)
	want := TCPCounters{ListenOverflows: 37, ListenDrops: 37, CurrEstab: 0, TimeWait: 0}
	if c != want {
		t.Errorf("counters = %+v, want %+v", c, want)
	}
	if netstat["TcpExt"]["TW"] != 2479 {
		t.Errorf("TcpExt TW = %d, want 2479", netstat["TcpExt"]["TW"])
	}
	if snmp["Tcp"]["MaxConn"] != -1 {
		t.Errorf("Tcp MaxConn = %d, want -1", snmp["Tcp"]["MaxConn"])
	}
	if len(netstat["IpExt"]) == 0 {
		t.Error("IpExt group missing")
	}
}

func TestParseSNMPErrors(t *testing.T) {
	for _, in := range []string{
		"Tcp: a b\nTcp: 1\n",
		"Tcp: a\nTcp: x\n",
		"no group here\n",
	} {
		if _, err := ParseSNMP(strings.NewReader(in)); err == nil {
			t.Errorf("ParseSNMP(%q): no error", in)
		}
	}
	// A group whose value line is missing is simply absent.
	m, err := ParseSNMP(strings.NewReader("Tcp: a b\nUdp: c\nUdp: 3\n"))
	if err != nil || m["Udp"]["c"] != 3 || m["Tcp"] != nil {
		t.Errorf("got %v, %v", m, err)
	}
	// Unsigned counters beyond int64 saturate.
	m, err = ParseSNMP(strings.NewReader("X: big\nX: 18446744073709551615\n"))
	if err != nil || m["X"]["big"] != 1<<63-1 {
		t.Errorf("got %v, %v", m, err)
	}
}

func TestParseLimits(t *testing.T) {
	lim, err := ParseLimits(open(t, "limits.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if lim != (Rlimit{Soft: 20000, Hard: 20000}) {
		t.Errorf("limits = %+v", lim)
	}
	lim, err = ParseLimits(strings.NewReader("Limit Soft Limit Hard Limit Units\nMax open files            unlimited            unlimited            files\n"))
	if err != nil || lim.Soft != Unlimited || lim.Hard != Unlimited {
		t.Errorf("unlimited: %+v %v", lim, err)
	}
	for _, in := range []string{"", "Max open files 12\n", "Max open files x y files\n"} {
		if _, err := ParseLimits(strings.NewReader(in)); err == nil {
			t.Errorf("ParseLimits(%q): no error", in)
		}
	}
}

func diagMsg(family uint8, state TCPState, local, remote netip.AddrPort, rq, wq uint32, attrs ...[]byte) []byte {
	b := make([]byte, sizeofDiagMsg)
	b[0], b[1] = family, byte(state)
	binary.BigEndian.PutUint16(b[4:], local.Port())
	binary.BigEndian.PutUint16(b[6:], remote.Port())
	copy(b[8:24], local.Addr().AsSlice())
	copy(b[24:40], remote.Addr().AsSlice())
	binary.NativeEndian.PutUint32(b[56:], rq)
	binary.NativeEndian.PutUint32(b[60:], wq)
	binary.NativeEndian.PutUint32(b[64:], 1000)
	binary.NativeEndian.PutUint32(b[68:], 4242)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func TestParseDiagMsg(t *testing.T) {
	v6only := []byte{5, 0, diagAttrV6Only, 0, 1, 0, 0, 0}
	shutdown := []byte{5, 0, 8, 0, 0, 0, 0, 0}
	tests := []struct {
		name string
		in   []byte
		want DiagSocket
	}{
		{"v4 listener", diagMsg(2, StateListen, ap("127.0.0.1:8282"), ap("0.0.0.0:0"), 3, 511),
			DiagSocket{Socket: Socket{Local: ap("127.0.0.1:8282"), Remote: ap("0.0.0.0:0"), State: StateListen, UID: 1000, Inode: 4242}, RQueue: 3, WQueue: 511, V6Only: -1}},
		{"v6 listener v6only", diagMsg(10, StateListen, ap("[::]:80"), ap("[::]:0"), 0, 4096, shutdown, v6only),
			DiagSocket{Socket: Socket{Local: ap("[::]:80"), Remote: ap("[::]:0"), State: StateListen, UID: 1000, Inode: 4242}, WQueue: 4096, V6Only: 1}},
	}
	for _, tt := range tests {
		got, err := parseDiagMsg(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("%s: got %+v, %v\nwant %+v", tt.name, got, err, tt.want)
		}
	}
	if _, err := parseDiagMsg(make([]byte, 10)); err == nil {
		t.Error("short message: no error")
	}
	bad := diagMsg(2, StateListen, ap("127.0.0.1:1"), ap("0.0.0.0:0"), 0, 0, []byte{200, 0, 1, 0})
	if _, err := parseDiagMsg(bad); err == nil {
		t.Error("overrunning attribute: no error")
	}
}
