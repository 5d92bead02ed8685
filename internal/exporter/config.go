package exporter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/conndiag/conndiag/internal/cdn"
	"github.com/conndiag/conndiag/internal/evidence"
)

// DefaultModule is the module a /probe request without module= gets. It is
// always there: a configuration file may redefine it, not remove it.
const DefaultModule = "default"

// maxConfig bounds the configuration file (and a cdn_ranges file it names).
const maxConfig = 1 << 20

// Config is a loaded configuration: the modules and the allow-list.
type Config struct {
	File    string // "" for the built-in configuration
	Allow   Allow
	Modules map[string]Module
}

// Module is one way to probe, chosen by /probe?module=NAME. Zero fields are
// the defaults of conndiag check.
type Module struct {
	Name string
	// Scheme is the protocol the module speaks ("ws", "https", ...): a
	// host:port target is probed as SCHEME://host:port, and a target that
	// names another protocol is refused. "" takes the target as it is.
	Scheme     string
	Timeout    time.Duration  // per connection attempt; 0: serve's --timeout
	ProbePorts []uint16       // nil: check's default; empty: none
	ExpectIP   netip.Addr     // the address the server should have
	Resolver   netip.AddrPort // also ask this DNS server and compare
	CDNFile    string         // where CDNRanges came from, as written in the file
	CDNRanges  *cdn.List      // extra CDN edge ranges
}

// fileConfig is the TOML file as written.
type fileConfig struct {
	Allow   *fileAllow            `toml:"allow"`
	Modules map[string]fileModule `toml:"modules"`
}

type fileAllow struct {
	Networks []string `toml:"networks"`
	Names    []string `toml:"names"`
}

type fileModule struct {
	Protocol   string `toml:"protocol"`
	Timeout    string `toml:"timeout"`
	ProbePorts *[]int `toml:"probe_ports"`
	ExpectIP   string `toml:"expect_ip"`
	Resolver   string `toml:"resolver"`
	CDNRanges  string `toml:"cdn_ranges"`
}

// Builtin is the configuration without a file: the default module and an
// allow-list of loopback only.
func Builtin() *Config {
	return &Config{Allow: DefaultAllow(), Modules: map[string]Module{DefaultModule: {Name: DefaultModule}}}
}

// LoadConfig reads and checks the configuration file at path.
func LoadConfig(path string) (*Config, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the configuration: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxConfig+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the configuration: %w", err)
	}
	if len(b) > maxConfig {
		return nil, fmt.Errorf("%s: larger than %d bytes: not a configuration file", path, maxConfig)
	}
	c, err := ParseConfig(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.File = path
	return c, nil
}

// ParseConfig checks a configuration (TOML). Relative cdn_ranges paths are
// read from dir. Every error names the setting it is about.
func ParseConfig(b []byte, dir string) (*Config, error) {
	// The decoder lets a scalar where a table belongs pass silently
	// ("modules = 3"): look at the shape first.
	var shape map[string]any
	if _, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&shape); err == nil {
		if err := checkShape(shape); err != nil {
			return nil, err
		}
	}
	var f fileConfig
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&f)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("not valid TOML: line %d: %s", pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("not a conndiag serve configuration: %v", err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		keys := make([]string, 0, len(un))
		for _, k := range un {
			keys = append(keys, k.String())
		}
		return nil, fmt.Errorf("unknown setting %q (settings: allow.networks, allow.names, modules.NAME.protocol, timeout, probe_ports, expect_ip, resolver, cdn_ranges)", keys[0])
	}
	c := &Config{Allow: DefaultAllow(), Modules: map[string]Module{DefaultModule: {Name: DefaultModule}}}
	if f.Allow != nil {
		if c.Allow, err = parseAllow(*f.Allow); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(f.Modules))
	for n := range f.Modules {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		m, err := parseModule(n, f.Modules[n], dir)
		if err != nil {
			return nil, err
		}
		c.Modules[n] = m
	}
	return c, nil
}

func checkShape(shape map[string]any) error {
	if v, ok := shape["allow"]; ok {
		if _, ok := v.(map[string]any); !ok {
			return fmt.Errorf("allow must be a table: [allow] with networks = [...] and names = [...]")
		}
	}
	v, ok := shape["modules"]
	if !ok {
		return nil
	}
	mods, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("modules must be a table of modules: [modules.NAME]")
	}
	for name, m := range mods {
		if _, ok := m.(map[string]any); !ok {
			return fmt.Errorf("modules.%s must be a table: [modules.%s]", name, name)
		}
	}
	return nil
}

func parseModule(name string, f fileModule, dir string) (Module, error) {
	if !validModuleName(name) {
		return Module{}, fmt.Errorf("module name %q: use letters, digits, '_', '.' and '-' only (at most 64)", name)
	}
	m := Module{Name: name}
	fail := func(format string, a ...any) (Module, error) {
		return Module{}, fmt.Errorf("module %q: %s", name, fmt.Sprintf(format, a...))
	}
	if f.Protocol != "" {
		s := strings.ToLower(f.Protocol)
		if _, ok := evidence.Schemes[s]; !ok {
			return fail("protocol %q is not one of %s", f.Protocol, schemeList())
		}
		m.Scheme = s
	}
	if f.Timeout != "" {
		d, err := time.ParseDuration(f.Timeout)
		switch {
		case err != nil:
			return fail("timeout %q is not a duration such as 3s or 500ms", f.Timeout)
		case d < time.Millisecond:
			return fail("timeout %s is too short to hear any answer; use at least 1ms", f.Timeout)
		case d > maxTimeout:
			return fail("timeout %s is longer than %s, the longest a probe may take", f.Timeout, maxTimeout)
		}
		m.Timeout = d
	}
	if f.ProbePorts != nil {
		m.ProbePorts = []uint16{}
		for _, p := range *f.ProbePorts {
			if p < 1 || p > 65535 {
				return fail("probe_ports: %d is not a port from 1 to 65535", p)
			}
			m.ProbePorts = append(m.ProbePorts, uint16(p))
		}
	}
	if f.ExpectIP != "" {
		a, err := netip.ParseAddr(f.ExpectIP)
		if err != nil {
			return fail("expect_ip %q is not an IP address", f.ExpectIP)
		}
		m.ExpectIP = a.Unmap()
	}
	if f.Resolver != "" {
		ap, ok := parseResolver(f.Resolver)
		if !ok {
			return fail("resolver %q is not IP or IP:PORT (for example 1.1.1.1, 1.1.1.1:5353 or [2606:4700:4700::1111]:53)", f.Resolver)
		}
		m.Resolver = ap
	}
	if f.CDNRanges != "" {
		path := f.CDNRanges
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		l, err := readRanges(path)
		if err != nil {
			return fail("cdn_ranges: %v", err)
		}
		m.CDNFile, m.CDNRanges = f.CDNRanges, l
	}
	return m, nil
}

func readRanges(path string) (*cdn.List, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %v", err)
	}
	defer fh.Close()
	rs, _, err := cdn.Parse(io.LimitReader(fh, maxConfig), path, "")
	if err != nil {
		return nil, err
	}
	l := &cdn.List{}
	l.Add(rs...)
	return l, nil
}

func validModuleName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '.' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// schemeList names the protocols a module may speak, for messages.
func schemeList() string {
	s := make([]string, 0, len(evidence.Schemes))
	for k := range evidence.Schemes {
		s = append(s, k)
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// parseResolver accepts IP or IP:PORT ([v6]:PORT); the port defaults to 53.
func parseResolver(s string) (netip.AddrPort, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Port() != 0 {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 53), true
	}
	return netip.AddrPort{}, false
}

// ModuleNames lists the modules, sorted.
func (c *Config) ModuleNames() []string {
	out := make([]string, 0, len(c.Modules))
	for n := range c.Modules {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
