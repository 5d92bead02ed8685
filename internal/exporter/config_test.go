package exporter

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "edges.txt"), []byte("192.0.2.0/24 MyCDN\n198.51.100.7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig([]byte(`
[allow]
networks = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.9", "::ffff:10.1.0.0/112"]
names = ["DB.Example.com.", "*.example.net", "*"]

[modules.ws]
protocol = "WS"
timeout = "1500ms"
probe_ports = [22, 443]
expect_ip = "::ffff:203.0.113.5"
resolver = "[2001:db8::53]:5353"
cdn_ranges = "edges.txt"

[modules.bare]
probe_ports = []

[modules.default]
timeout = "2s"
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	wantNets := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("192.0.2.9/32"), netip.MustParsePrefix("10.1.0.0/16")}
	if !reflect.DeepEqual(c.Allow.Networks, wantNets) {
		t.Errorf("networks = %v, want %v", c.Allow.Networks, wantNets)
	}
	if want := []string{"db.example.com", "*.example.net", "*"}; !reflect.DeepEqual(c.Allow.Names, want) {
		t.Errorf("names = %q, want %q", c.Allow.Names, want)
	}
	ws := c.Modules["ws"]
	if ws.Scheme != "ws" || ws.Timeout != 1500*time.Millisecond || !reflect.DeepEqual(ws.ProbePorts, []uint16{22, 443}) ||
		ws.ExpectIP != netip.MustParseAddr("203.0.113.5") || ws.Resolver != netip.MustParseAddrPort("[2001:db8::53]:5353") {
		t.Errorf("module ws = %+v", ws)
	}
	if ws.CDNRanges == nil || ws.CDNRanges.Len() != 2 || ws.CDNFile != "edges.txt" {
		t.Errorf("module ws cdn_ranges = %v from %q", ws.CDNRanges, ws.CDNFile)
	}
	if b := c.Modules["bare"]; b.ProbePorts == nil || len(b.ProbePorts) != 0 {
		t.Errorf("probe_ports = [] must mean none, not the default: %#v", b.ProbePorts)
	}
	if d := c.Modules[DefaultModule]; d.Timeout != 2*time.Second {
		t.Errorf("a file may redefine the default module: %+v", d)
	}
	if got := c.ModuleNames(); !reflect.DeepEqual(got, []string{"bare", "default", "ws"}) {
		t.Errorf("modules = %q", got)
	}
}

func TestParseConfigKeepsDefaults(t *testing.T) {
	c, err := ParseConfig([]byte("[modules.tcp]\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Allow, DefaultAllow()) {
		t.Errorf("no [allow]: loopback only, got %+v", c.Allow)
	}
	if _, ok := c.Modules[DefaultModule]; !ok {
		t.Error("the default module must always be there")
	}
	if m := c.Modules["tcp"]; m.ProbePorts != nil || m.Timeout != 0 || m.Scheme != "" {
		t.Errorf("an empty module takes check's defaults: %+v", m)
	}
}

// Bad configurations, each refused with its exact message.
func TestParseConfigErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ in, want string }{
		{"[modules.a\n", "not valid TOML: line 2: expected '.' or ']' to end table name"},
		{"modules = 3\n", "modules must be a table of modules: [modules.NAME]"},
		{"[modules]\na = 1\n", "modules.a must be a table: [modules.a]"},
		{"allow = [\"10.0.0.0/8\"]\n", "allow must be a table: [allow] with networks = [...] and names = [...]"},
		{"[modules.a]\nport = 1\n", `unknown setting "modules.a.port" (settings: allow.networks, allow.names, modules.NAME.protocol, timeout, probe_ports, expect_ip, resolver, cdn_ranges)`},
		{"[allowed]\nnetworks = []\n", `unknown setting "allowed"`},
		{"[modules.\"a b\"]\n", `module name "a b": use letters, digits, '_', '.' and '-' only (at most 64)`},
		{"[modules.a]\nprotocol = \"gopher\"\n", `module "a": protocol "gopher" is not one of frame, http, https, ssl, tcp, text, tls, websocket, ws, wss`},
		{"[modules.a]\ntimeout = \"3\"\n", `module "a": timeout "3" is not a duration such as 3s or 500ms`},
		{"[modules.a]\ntimeout = \"10us\"\n", `module "a": timeout 10us is too short to hear any answer; use at least 1ms`},
		{"[modules.a]\ntimeout = \"5m\"\n", `module "a": timeout 5m is longer than 2m0s, the longest a probe may take`},
		{"[modules.a]\nprobe_ports = [0]\n", `module "a": probe_ports: 0 is not a port from 1 to 65535`},
		{"[modules.a]\nprobe_ports = [65536]\n", `module "a": probe_ports: 65536 is not a port from 1 to 65535`},
		{"[modules.a]\nprobe_ports = \"22\"\n", "not a conndiag serve configuration: toml: line 2 (last key \"modules.a.probe_ports\"): incompatible types"},
		{"[modules.a]\nexpect_ip = \"example.com\"\n", `module "a": expect_ip "example.com" is not an IP address`},
		{"[modules.a]\nresolver = \"dns.google\"\n", `module "a": resolver "dns.google" is not IP or IP:PORT (for example 1.1.1.1, 1.1.1.1:5353 or [2606:4700:4700::1111]:53)`},
		{"[modules.a]\ncdn_ranges = \"missing.txt\"\n", `module "a": cdn_ranges: cannot read open ` + filepath.Join(dir, "missing.txt") + ": no such file or directory"},
		{"[allow]\nnetworks = [\"10.0.0.0/33\"]\n", `allow.networks: "10.0.0.0/33" is not a network such as 10.0.0.0/8 or 2001:db8::/32 (or one address)`},
		{"[allow]\nnetworks = [\"fe80::1%eth0\"]\n", `allow.networks: "fe80::1%eth0" is not a network such as 10.0.0.0/8 or 2001:db8::/32 (or one address)`},
		{"[allow]\nnames = [\"a..b\"]\n", `allow.names: "a..b" is not a host name, *.example.com or *`},
		{"[allow]\nnames = [\"10.0.0.1\"]\n", `allow.names: "10.0.0.1" is not a host name, *.example.com or *`},
		{"[allow]\nnames = [\"*.\"]\n", `allow.names: "*." is not a host name, *.example.com or *`},
		{"[allow]\nnames = [\"a.*.com\"]\n", `allow.names: "a.*.com" is not a host name, *.example.com or *`},
		{"[allow]\nnetworks = []\n", "allow: no network and no name is allowed: every probe would be refused (leave [allow] out for loopback only)"},
	}
	for _, tt := range tests {
		_, err := ParseConfig([]byte(tt.in), dir)
		if err == nil {
			t.Errorf("%q: accepted, want %q", tt.in, tt.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%q:\n got  %s\n want %s", tt.in, err, tt.want)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "serve.toml")
	if err := os.WriteFile(path, []byte("[modules.a]\ntimeout = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(path)
	if want := path + `: module "a": timeout "x" is not a duration such as 3s or 500ms`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	if err := os.WriteFile(path, []byte(strings.Repeat("#", maxConfig+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a huge file: %v", err)
	}
	if _, err := LoadConfig(filepath.Join(dir, "none.toml")); err == nil || !strings.Contains(err.Error(), "cannot read the configuration") {
		t.Errorf("a missing file: %v", err)
	}
}

// FuzzParseConfig: the configuration parser never panics and anything it
// accepts has the default module and a non-empty allow-list.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		"", "[allow]\nnetworks=[\"0.0.0.0/0\"]\n", "[modules.a]\nprotocol=\"ws\"\nprobe_ports=[1,2]\n",
		"[modules.a]\ntimeout=\"-1s\"\n", "[[modules]]\n", "a=\"\x00\"\n", "[allow]\nnames=[\"*\",\"*.x\"]\n",
		"[modules.a]\nprobe_ports=[-1]\n", "[modules]\na=1\n", strings.Repeat("[", 1000),
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConfig([]byte(s), dir)
		if err != nil {
			return
		}
		if _, ok := c.Modules[DefaultModule]; !ok {
			t.Fatalf("accepted %q without the default module", s)
		}
		if len(c.Allow.Networks)+len(c.Allow.Names) == 0 {
			t.Fatalf("accepted %q with an empty allow-list", s)
		}
	})
}
