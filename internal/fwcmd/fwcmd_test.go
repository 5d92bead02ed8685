package fwcmd

import (
	"net/netip"
	"testing"
)

func TestCommands(t *testing.T) {
	dst := netip.MustParseAddr("198.51.100.3")
	for got, want := range map[string]string{
		UFWAllow(8282, false):                                    "ufw allow 8282/tcp",
		UFWAllow(8282, true):                                     "ufw insert 1 allow 8282/tcp",
		FirewalldAddPort("", 8282):                               "firewall-cmd --permanent --add-port=8282/tcp && firewall-cmd --reload",
		FirewalldAddPort("public", 8282):                         "firewall-cmd --permanent --zone=public --add-port=8282/tcp && firewall-cmd --reload",
		NftAccept("inet", "filter", "input", 22):                 "nft insert rule inet filter input tcp dport 22 accept",
		IptablesAccept("ip6tables -t nat", "PREROUTING", 80):     "ip6tables -t nat -I PREROUTING -p tcp --dport 80 -j ACCEPT",
		UFWAllowOut(dst, 443, true):                              "ufw insert 1 allow out to 198.51.100.3 port 443 proto tcp",
		FirewalldPolicyAddPort("restrict-out", 443):              "firewall-cmd --permanent --policy=restrict-out --add-port=443/tcp && firewall-cmd --reload",
		NftAcceptOut("inet", "filter", "output", "ip", dst, 443): "nft insert rule inet filter output ip daddr 198.51.100.3 tcp dport 443 accept",
		IptablesAcceptOut("iptables", "OUTPUT", dst, 443):        "iptables -I OUTPUT -p tcp -d 198.51.100.3 --dport 443 -j ACCEPT",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
