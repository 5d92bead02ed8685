// Package fwcmd builds the firewall commands conndiag offers to let a TCP
// port through, in one place for check (which does not know the server's
// firewall, so it offers one per tool) and server (which names the tool and
// the chain that stops the port). Every name given must already have passed
// the firewall reader's strict checks; the CLI checks each line again before
// it prints it.
package fwcmd

import (
	"fmt"
	"net/netip"
)

// UFWAllow opens an incoming port; insert puts the rule first, before a
// "ufw deny" rule an appended allow would come after.
func UFWAllow(port uint16, insert bool) string {
	if insert {
		return fmt.Sprintf("ufw insert 1 allow %d/tcp", port)
	}
	return fmt.Sprintf("ufw allow %d/tcp", port)
}

// FirewalldAddPort opens an incoming port in a zone ("" for the default zone), permanently.
func FirewalldAddPort(zone string, port uint16) string {
	if zone == "" {
		return fmt.Sprintf("firewall-cmd --permanent --add-port=%d/tcp && firewall-cmd --reload", port)
	}
	return fmt.Sprintf("firewall-cmd --permanent --zone=%s --add-port=%d/tcp && firewall-cmd --reload", zone, port)
}

// NftAccept inserts an accept rule for an incoming port into a base chain.
func NftAccept(family, table, chain string, port uint16) string {
	return fmt.Sprintf("nft insert rule %s %s %s tcp dport %d accept", family, table, chain, port)
}

// IptablesAccept inserts an accept rule for an incoming port; prefix is the
// program with its table ("iptables", "ip6tables -t nat", "iptables-legacy").
func IptablesAccept(prefix, chain string, port uint16) string {
	return fmt.Sprintf("%s -I %s -p tcp --dport %d -j ACCEPT", prefix, chain, port)
}

// UFWAllowOut lets this machine connect out to dst:port.
func UFWAllowOut(dst netip.Addr, port uint16, insert bool) string {
	if insert {
		return fmt.Sprintf("ufw insert 1 allow out to %s port %d proto tcp", dst, port)
	}
	return fmt.Sprintf("ufw allow out to %s port %d proto tcp", dst, port)
}

// FirewalldPolicyAddPort lets a port through a firewalld policy, permanently.
func FirewalldPolicyAddPort(policy string, port uint16) string {
	return fmt.Sprintf("firewall-cmd --permanent --policy=%s --add-port=%d/tcp && firewall-cmd --reload", policy, port)
}

// NftAcceptOut inserts an accept rule for a connection out to dst:port; ip is "ip" or "ip6".
func NftAcceptOut(family, table, chain, ip string, dst netip.Addr, port uint16) string {
	return fmt.Sprintf("nft insert rule %s %s %s %s daddr %s tcp dport %d accept", family, table, chain, ip, dst, port)
}

// IptablesAcceptOut inserts an accept rule for a connection out to dst:port.
func IptablesAcceptOut(prefix, chain string, dst netip.Addr, port uint16) string {
	return fmt.Sprintf("%s -I %s -p tcp -d %s --dport %d -j ACCEPT", prefix, chain, dst, port)
}
