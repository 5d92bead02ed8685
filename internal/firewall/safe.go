package firewall

import "regexp"

// Names that go into a command a person may paste into a root shell are
// checked against a strict character set first; a command with a name that
// fails is not offered. Names are never quoted instead: a quoted name would
// still be a name the tools might not accept, and these sets cover every
// name the tools themselves create (firewalld's zones and policies,
// iptables' and nft's usual tables and chains, Linux interface names in
// practice).
var (
	// firewalld zone and policy names: its own are at most 17 bytes
	// (block, dmz, drop, external, home, internal, nm-shared, public,
	// trusted, work, docker, libvirt, allow-host-ipv6, ...).
	zoneNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$`)
	// nft table, chain and set names: an identifier nft reads unquoted.
	nftNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,63}$`)
	// iptables chain names (at most 28 bytes).
	iptNameRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}$`)
	// Interface names (IFNAMSIZ is 16 with the NUL).
	ifaceNameRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$`)
)

var nftFamilies = map[string]bool{"ip": true, "ip6": true, "inet": true, "arp": true, "bridge": true, "netdev": true}

// SafeZoneName reports whether a firewalld zone or policy name may go into
// a firewall-cmd command.
func SafeZoneName(s string) bool { return zoneNameRe.MatchString(s) }

// SafeIfaceName reports whether an interface name may go into a command.
func SafeIfaceName(s string) bool { return ifaceNameRe.MatchString(s) && s != "." && s != ".." }

func safeNftName(s string) bool   { return nftNameRe.MatchString(s) }
func safeNftFamily(s string) bool { return nftFamilies[s] }
func safeIptChain(s string) bool  { return iptNameRe.MatchString(s) && len(s) <= 28 }
func safeIptTable(s string) bool  { _, ok := iptPrio[s]; return ok }
