package host

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

// The /proc files are the kernel's, but they are parsed as untrusted bytes:
// these targets feed the parsers hostile and broken input, and check that
// they never panic, stay bounded, and that what they accept reads back the same.

func seedFile(f *testing.F, name string) {
	f.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
}

// formatCounters writes parsed counters back in the snmp format, groups and names sorted.
func formatCounters(m map[string]map[string]int64) string {
	var b strings.Builder
	groups := make([]string, 0, len(m))
	for g := range m {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	for _, g := range groups {
		names := make([]string, 0, len(m[g]))
		for n := range m[g] {
			names = append(names, n)
		}
		slices.Sort(names)
		vals := make([]string, len(names))
		for i, n := range names {
			vals[i] = fmt.Sprint(m[g][n])
		}
		fmt.Fprintf(&b, "%s: %s\n%s: %s\n", g, strings.Join(names, " "), g, strings.Join(vals, " "))
	}
	return b.String()
}

func equalCounters(a, b map[string]map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for g, m := range a {
		n, ok := b[g]
		if !ok || len(m) != len(n) {
			return false
		}
		for k, v := range m {
			if w, ok := n[k]; !ok || w != v {
				return false
			}
		}
	}
	return true
}

func FuzzParseSNMP(f *testing.F) {
	seedFile(f, "snmp.txt")
	seedFile(f, "netstat.txt")
	for _, s := range []string{
		"Tcp: A B\nTcp: 1\n",                      // fewer values than names
		"Tcp: A\nTcp: 18446744073709551615\n",     // unsigned 64-bit counter
		"Tcp: A\nTcp: 18446744073709551616\n",     // beyond 64 bits
		"Tcp: A\nTcp: -9223372036854775808\n",     // most negative
		"Tcp: A A\nTcp: 1 2\n",                    // a name twice
		"Tcp: A\nUdp: B\nUdp: 3\n",                // a names line without values
		"no colon here\n",                         // no group
		"Tcp:\nTcp:\n",                            // no names at all
		"Tcp: \x1b]0;pwned\x07\nTcp: 1\n",         // a terminal escape as a name
		"Tcp: A\r\nTcp: 1\r\n",                    // CRLF
		"\x00\xff\xfe: \xff\nx\x00: 1\n",          // binary junk
		"Tcp: " + strings.Repeat("A ", 40000),     // an overlong line
		"Tcp:A:B C\nTcp:A:B 5\n",                  // colons in names
		strings.Repeat("G: a\nG: 1\n", 1000),      // many repeats
		"TcpExt: ListenOverflows\nTcpExt: 0x10\n", // not decimal
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseSNMP(bytes.NewReader(b))
		if err != nil {
			return
		}
		n := 0
		for _, g := range m {
			n += len(g)
		}
		if n > len(b) {
			t.Fatalf("%d counters from %d bytes", n, len(b))
		}
		again, err := ParseSNMP(strings.NewReader(formatCounters(m)))
		if err != nil || !equalCounters(m, again) {
			t.Fatalf("parsed %v, written back and parsed again %v (%v)", m, again, err)
		}
		_ = countersFrom(m, m, m)
	})
}

func FuzzParseSockstat(f *testing.F) {
	seedFile(f, "sockstat.txt")
	for _, s := range []string{
		"TCP: inuse 1 orphan\n",               // odd number of fields
		"TCP: tw -5 tw 7\n",                   // a key twice, a negative count
		"TCP: tw 99999999999999999999\n",      // overflow
		"sockets used 13\n",                   // no colon
		"TCP: inuse \x1b[2J\n",                // an escape as a value
		"TCP: \u202e 1\n",                     // bidi as a key
		":\n: a 1\n",                          // empty group
		"TCP: " + strings.Repeat("a 1 ", 2e4), // an overlong line
		"\x00\x01\x02",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseSockstat(bytes.NewReader(b))
		if err != nil {
			return
		}
		var w strings.Builder
		for g, kv := range m {
			w.WriteString(g + ":")
			for k, v := range kv {
				fmt.Fprintf(&w, " %s %d", k, v)
			}
			w.WriteString("\n")
		}
		again, err := ParseSockstat(strings.NewReader(w.String()))
		if err != nil || !equalCounters(m, again) {
			t.Fatalf("parsed %v, written back and parsed again %v (%v)", m, again, err)
		}
	})
}

func FuzzParseLimits(f *testing.F) {
	seedFile(f, "limits.txt")
	for _, s := range []string{
		"Max open files 12\n",
		"Max open files unlimited unlimited files\n",
		"Max open files 18446744073709551615 18446744073709551616 files\n",
		"Max open files -1 -1 files\n",
		"Max open files\x1b[2J 1 1\n",
		"Max open filesx 1 2 files\n",
		"Max open files " + strings.Repeat("9", 5000) + " 1\n", // a line beyond the bound
		"\xff\xfeMax open files 1 2\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		lim, err := ParseLimits(bytes.NewReader(b))
		if err != nil {
			if lim != (Rlimit{}) {
				t.Fatalf("error %v with a limit %+v", err, lim)
			}
			return
		}
		if !bytes.Contains(b, []byte("Max open files")) {
			t.Fatalf("a limit %+v from %q", lim, b)
		}
	})
}

func FuzzParsePortRange(f *testing.F) {
	for _, s := range []string{
		"32768\t60999\n", "1 65535", "0 65535", "1024 65536", "60999 32768", "-1 5", "1 2 3",
		"99999999999999999999 1", "１ ２", "0x10 0x20", "\x1b[2J 1", "", " \t\n", "10000\u00a065000",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParsePortRange(s)
		if err != nil {
			return
		}
		if r.Lo < 1 || r.Hi > 65535 || r.Lo > r.Hi || r.Size() != r.Hi-r.Lo+1 {
			t.Fatalf("ParsePortRange(%q) = %+v", s, r)
		}
		if again, err := ParsePortRange(strings.ReplaceAll(r.String(), "-", " ")); err != nil || again != r {
			t.Fatalf("%+v reads back as %+v (%v)", r, again, err)
		}
	})
}

func FuzzParseDiagMsg(f *testing.F) {
	v6only := []byte{5, 0, diagAttrV6Only, 0, 1, 0, 0, 0}
	f.Add(diagMsg(2, StateListen, ap("127.0.0.1:8282"), ap("0.0.0.0:0"), 3, 511))
	f.Add(diagMsg(10, StateListen, ap("[::]:80"), ap("[::]:0"), 0, 4096, v6only))
	f.Add(diagMsg(10, StateEstablished, ap("[::1]:80"), ap("[::1]:4000"), 0, 0, []byte{4, 0, diagAttrV6Only, 0}))   // attribute without its byte
	f.Add(diagMsg(2, StateListen, ap("127.0.0.1:1"), ap("0.0.0.0:0"), 0, 0, []byte{200, 0, 1, 0}))                  // overrunning attribute
	f.Add(diagMsg(2, StateListen, ap("127.0.0.1:1"), ap("0.0.0.0:0"), 0, 0, []byte{0, 0, 1, 0, 0, 0, 0, 0}))        // zero-length attribute
	f.Add(diagMsg(2, StateListen, ap("127.0.0.1:1"), ap("0.0.0.0:0"), 0, 0, []byte{5, 0, diagAttrV6Only, 0x80, 1})) // nested flag
	f.Add(diagMsg(2, TCPState(255), ap("127.0.0.1:1"), ap("0.0.0.0:0"), math.MaxUint32, math.MaxUint32, []byte{3, 0}))
	junk := diagMsg(2, StateListen, ap("127.0.0.1:1"), ap("0.0.0.0:0"), 0, 0)
	junk[0] = 17 // AF_PACKET
	f.Add(junk)
	f.Add(make([]byte, sizeofDiagMsg-1))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseDiagMsg(b)
		if err != nil {
			return
		}
		if len(b) < sizeofDiagMsg || b[0] != 2 && b[0] != 10 {
			t.Fatalf("accepted %d bytes of family %d", len(b), b[0])
		}
		if d.V6Only < -1 || d.V6Only > 1 {
			t.Fatalf("V6Only %d", d.V6Only)
		}
		if !d.Local.IsValid() || !d.Remote.IsValid() || d.Local.Addr().Is4() != (b[0] == 2) {
			t.Fatalf("addresses %v %v for family %d", d.Local, d.Remote, b[0])
		}
		if d.RQueue != binary.NativeEndian.Uint32(b[56:60]) {
			t.Fatalf("RQueue %d", d.RQueue)
		}
	})
}
