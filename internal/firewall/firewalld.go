package firewall

import (
	"encoding/xml"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
)

// Firewalld is firewalld's permanent configuration: zones and services.
// The running configuration can differ (firewall-cmd without --permanent);
// the rule set itself, read through nft or iptables, is the running truth.
type Firewalld struct {
	DefaultZone string
	Zones       map[string]*Zone
	Services    map[string][]PortProto
}

// Zone is one firewalld zone.
type Zone struct {
	Name       string
	Target     string // default, ACCEPT, DROP, %%REJECT%%
	Services   []string
	Ports      []PortProto
	Interfaces []string
	Sources    []string
	RichRules  int
}

// PortProto is a port or range with its protocol, as firewalld writes it.
type PortProto struct {
	Port     string `xml:"port,attr"` // "8282" or "8000-8100"
	Protocol string `xml:"protocol,attr"`
}

type zoneXML struct {
	Target   string      `xml:"target,attr"`
	Services []nameAttr  `xml:"service"`
	Ports    []PortProto `xml:"port"`
	Ifaces   []nameAttr  `xml:"interface"`
	Sources  []struct {
		Address string `xml:"address,attr"`
	} `xml:"source"`
	Rules []struct{} `xml:"rule"`
}

type nameAttr struct {
	Name string `xml:"name,attr"`
}

type serviceXML struct {
	Ports []PortProto `xml:"port"`
}

// maxXML bounds a zone or service file.
const maxXML = 1 << 20

// ParseZone reads a firewalld zone file.
func ParseZone(name string, r io.Reader) (*Zone, error) {
	var zx zoneXML
	if err := xml.NewDecoder(io.LimitReader(r, maxXML)).Decode(&zx); err != nil {
		return nil, fmt.Errorf("firewall: firewalld zone %s: %w", name, err)
	}
	z := &Zone{Name: name, Target: zx.Target, Ports: zx.Ports, RichRules: len(zx.Rules)}
	if z.Target == "" {
		z.Target = "default"
	}
	for _, s := range zx.Services {
		z.Services = append(z.Services, s.Name)
	}
	for _, i := range zx.Ifaces {
		z.Interfaces = append(z.Interfaces, i.Name)
	}
	for _, s := range zx.Sources {
		z.Sources = append(z.Sources, s.Address)
	}
	return z, nil
}

// ParseService reads a firewalld service file's ports.
func ParseService(r io.Reader) ([]PortProto, error) {
	var sx serviceXML
	if err := xml.NewDecoder(io.LimitReader(r, maxXML)).Decode(&sx); err != nil {
		return nil, fmt.Errorf("firewall: firewalld service: %w", err)
	}
	return sx.Ports, nil
}

// ReadFirewalld reads firewalld's configuration under fsys (the root file
// system): /usr/lib/firewalld for the defaults, /etc/firewalld overriding
// them. It returns nil when firewalld is not installed.
func ReadFirewalld(fsys fs.FS) *Firewalld {
	_, err1 := fs.Stat(fsys, "etc/firewalld")
	_, err2 := fs.Stat(fsys, "usr/lib/firewalld")
	if err1 != nil && err2 != nil {
		return nil
	}
	f := &Firewalld{DefaultZone: "public", Zones: map[string]*Zone{}, Services: map[string][]PortProto{}}
	if conf, err := readConf(fsys, "etc/firewalld/firewalld.conf"); err == nil {
		if z := shellVar(string(conf), "DefaultZone"); z != "" {
			f.DefaultZone = clip(z, maxName)
		}
	}
	for _, dir := range []string{"usr/lib/firewalld", "etc/firewalld"} {
		readXMLDir(fsys, dir+"/zones", func(name string, r io.Reader) {
			if z, err := ParseZone(name, r); err == nil {
				f.Zones[name] = z
			}
		})
		readXMLDir(fsys, dir+"/services", func(name string, r io.Reader) {
			if ps, err := ParseService(r); err == nil {
				f.Services[name] = ps
			}
		})
	}
	return f
}

func readXMLDir(fsys fs.FS, dir string, fn func(name string, r io.Reader)) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".xml")
		if !ok || e.IsDir() {
			continue
		}
		fh, err := fsys.Open(dir + "/" + e.Name())
		if err != nil {
			continue
		}
		fn(name, fh)
		fh.Close()
	}
}

// wellKnownServices stands in for service files that are not installed.
var wellKnownServices = map[string][]PortProto{
	"ssh": {{"22", "tcp"}}, "http": {{"80", "tcp"}}, "https": {{"443", "tcp"}},
	"mysql": {{"3306", "tcp"}}, "postgresql": {{"5432", "tcp"}}, "redis": {{"6379", "tcp"}},
	"cockpit": {{"9090", "tcp"}}, "dhcpv6-client": {{"546", "udp"}},
}

// ZoneFor is the zone that applies to connections arriving on iface.
func (f *Firewalld) ZoneFor(iface string) string {
	names := make([]string, 0, len(f.Zones))
	for n := range f.Zones {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, i := range f.Zones[n].Interfaces {
			if i == iface && iface != "" {
				return n
			}
		}
	}
	return f.DefaultZone
}

// Allows reports whether zone admits TCP port, and through what ("port
// 8282/tcp", "service http", "target ACCEPT").
func (f *Firewalld) Allows(zone string, port uint16) (string, bool) {
	z := f.Zones[zone]
	if z == nil {
		return "", false
	}
	if z.Target == "ACCEPT" {
		return "target ACCEPT", true
	}
	has := func(ps []PortProto) bool {
		for _, p := range ps {
			if p.Protocol != "tcp" {
				continue
			}
			spec, err := parsePorts(p.Port)
			if err == nil && spec.has(port) {
				return true
			}
		}
		return false
	}
	if has(z.Ports) {
		return fmt.Sprintf("port %d/tcp", port), true
	}
	for _, s := range z.Services {
		ps, ok := f.Services[s]
		if !ok {
			ps = wellKnownServices[s]
		}
		if has(ps) {
			return "service " + s, true
		}
	}
	return "", false
}
