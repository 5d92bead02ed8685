package host

import (
	"strings"
	"testing"
)

func TestParseDynamicPorts(t *testing.T) {
	tests := []struct {
		name, out string
		want      PortRange
		err       bool
	}{
		{"english", "\r\nProtocol tcp Dynamic Port Range\r\n---------------------------------\r\nStart Port      : 49152\r\nNumber of Ports : 16384\r\n\r\n", PortRange{Lo: 49152, Hi: 65535}, false},
		{"german", "\nProtokoll tcp Dynamischer Portbereich\n---------------------------------\nStartport       : 10000\nAnzahl der Ports : 55535\n", PortRange{Lo: 10000, Hi: 65534}, false},
		{"chinese", "\n协议 tcp 动态端口范围\n---------------------------------\n启动端口        : 49152\n端口数          : 16384\n", PortRange{Lo: 49152, Hi: 65535}, false},
		{"one port", "Start Port : 50000\nNumber of Ports : 1\n", PortRange{Lo: 50000, Hi: 50000}, false},
		{"past 65535", "Start Port : 60000\nNumber of Ports : 16384\n", PortRange{}, true},
		{"zero ports", "Start Port : 49152\nNumber of Ports : 0\n", PortRange{}, true},
		{"only one number", "Start Port : 49152\n", PortRange{}, true},
		{"an error text", "The requested operation requires elevation (Run as administrator).\n", PortRange{}, true},
		{"empty", "", PortRange{}, true},
		{"not numbers", "Start Port : many\nNumber of Ports : some\n", PortRange{}, true},
		{"huge number skipped", "Start Port : 99999999999999999999\nStart Port : 1024\nNumber of Ports : 10\n", PortRange{Lo: 1024, Hi: 1033}, false},
	}
	for _, tt := range tests {
		got, err := ParseDynamicPorts(tt.out)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("%s: ParseDynamicPorts = %v, %v; want %v (error %v)", tt.name, got, err, tt.want, tt.err)
		}
	}
}

func TestBSDRange(t *testing.T) {
	tests := []struct {
		first, last int
		want        PortRange
		err         bool
	}{
		{49152, 65535, PortRange{Lo: 49152, Hi: 65535}, false}, // macOS and FreeBSD defaults
		{10000, 65535, PortRange{Lo: 10000, Hi: 65535}, false}, // FreeBSD, widened
		{65535, 49152, PortRange{Lo: 49152, Hi: 65535}, false}, // first > last counts down
		{0, 100, PortRange{}, true},
		{1024, 70000, PortRange{}, true},
	}
	for _, tt := range tests {
		got, err := BSDRange(tt.first, tt.last)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("BSDRange(%d, %d) = %v, %v; want %v (error %v)", tt.first, tt.last, got, err, tt.want, tt.err)
		}
	}
}

func TestRangeSource(t *testing.T) {
	for _, os := range []string{"linux", "darwin", "freebsd", "windows"} {
		if RangeSource(os) == "" {
			t.Errorf("RangeSource(%q) is empty", os)
		}
	}
	if RangeSource("plan9") != "" {
		t.Error("RangeSource names a source for plan9")
	}
}

func FuzzParseDynamicPorts(f *testing.F) {
	for _, s := range []string{
		"Start Port      : 49152\r\nNumber of Ports : 16384\r\n",
		"a:1\nb:65535\n", ":-1\n:0\n", strings.Repeat(":1\n", 10000), "\x00:\xff\n:\x1b[2J\n",
		"Start Port : 65535\nNumber of Ports : 1\n", "::::\n1:2:3\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseDynamicPorts(s)
		if err != nil {
			return
		}
		if r.Lo < 1 || r.Hi > 65535 || r.Lo > r.Hi {
			t.Fatalf("ParseDynamicPorts(%q) = %v: not a port range", s, r)
		}
	})
}
