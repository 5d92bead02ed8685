package firewall

import (
	"regexp"
	"strings"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/fwcmd"
)

// Managers, as Opening.Manager names them.
const (
	ManagerUFW       = evidence.ManagerUFW
	ManagerFirewalld = evidence.ManagerFirewalld
	ManagerNftables  = evidence.ManagerNftables
	ManagerIptables  = evidence.ManagerIptables
)

// Opening is how to let the port through with the tool that manages the firewall (defined in internal/evidence).
type Opening = evidence.Opening

var firewalldChain = regexp.MustCompile(`^(?:filter_)?IN_(.+?)(?:_(?:pre|log|deny|allow|post))?$`)

// Opening returns the commands that open port for the connection r
// describes, or the zero Opening when r did not stop it.
func (s *Snapshot) Opening(r Result, port uint16) Opening {
	h := r.Decider
	if h == nil || r.Action != Drop && r.Action != Reject {
		return Opening{}
	}
	ufwOn := s.UFW != nil && s.UFW.Enabled
	ufwChain := strings.HasPrefix(h.Chain, "ufw-") || strings.HasPrefix(h.Chain, "ufw6-")
	switch {
	case s.UFW != nil && ufwChain || ufwOn && h.Policy && h.Table == "filter" && h.Chain == "INPUT" && h.Backend != BackendNftables:
		// After a "ufw deny" rule an appended allow would come too late.
		insert := strings.HasPrefix(h.Chain, "ufw-user-") || strings.HasPrefix(h.Chain, "ufw6-user-")
		return Opening{Manager: ManagerUFW, Commands: []string{fwcmd.UFWAllow(port, insert)}}
	case h.Table == "firewalld" || firewalldChain.MatchString(h.Chain) || strings.HasPrefix(h.Chain, "INPUT_ZONES") ||
		s.FirewalldRunning && h.Backend != BackendNftables:
		zone := ""
		if m := firewalldChain.FindStringSubmatch(h.Chain); m != nil {
			zone = m[1]
		} else if s.Firewalld != nil {
			zone = s.Firewalld.DefaultZone
		}
		if zone == "" {
			zone = "public"
		}
		if SafeZoneName(zone) {
			return Opening{Manager: ManagerFirewalld, Commands: []string{fwcmd.FirewalldAddPort(zone, port)}}
		}
		if h.Backend == BackendNftables {
			// firewalld's own table, with a zone name no firewall-cmd
			// command may carry: nothing safe to offer.
			return Opening{Manager: ManagerFirewalld}
		}
		// An iptables chain that only looks like firewalld's (its "zone"
		// is no zone name): the rule is an iptables rule, opened as one.
	case h.Backend == BackendNftables:
		if !safeNftFamily(h.Family) || !safeNftName(h.Table) || !safeNftName(h.Base) {
			return Opening{Manager: ManagerNftables}
		}
		return Opening{Manager: ManagerNftables, Commands: []string{fwcmd.NftAccept(h.Family, h.Table, h.Base, port)}}
	}
	pre, ok := iptablesPrefix(s, h)
	if !ok {
		return Opening{Manager: ManagerIptables}
	}
	return Opening{Manager: ManagerIptables, Commands: []string{fwcmd.IptablesAccept(pre, h.Base, port)}}
}

// iptablesPrefix is "iptables", "ip6tables -t nat", "iptables-legacy", ...
// for the table and back end of h, when its table and base chain are
// iptables' own.
func iptablesPrefix(s *Snapshot, h *Hit) (string, bool) {
	if !safeIptTable(h.Table) || iptHook[h.Base] == "" {
		return "", false
	}
	bin := "iptables"
	if h.Family == "ip6" {
		bin = "ip6tables"
	}
	if h.Backend == BackendIptablesLegacy && s.legacyNamed {
		bin += "-legacy"
	}
	if h.Table != "filter" {
		bin += " -t " + h.Table
	}
	return bin, true
}
