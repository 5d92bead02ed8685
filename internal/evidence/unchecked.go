package evidence

// What this system does not show conndiag (Evidence.NotChecked). The
// sources are Linux's; elsewhere the report lists them as not checked
// rather than guessing what they would have said.
const (
	// UncheckedErrQueue: the socket error queue (IP_RECVERR), which tells a
	// REJECT rule's ICMP error from a closed port's RST, and who sent it.
	UncheckedErrQueue = "icmp_error_queue"
	// UncheckedRoute: the routing table's answer for the destination (netlink).
	UncheckedRoute = "route"
	// UncheckedNeighbour: the neighbour (ARP/NDP) table.
	UncheckedNeighbour = "neighbour"
	// UncheckedListeners: whether the target is this machine, and its
	// listening sockets (sock_diag).
	UncheckedListeners = "local_listeners"
	// UncheckedTrace: --trace (TTL-limited SYNs read through the error queue).
	UncheckedTrace = "trace"
	// UncheckedOutputRules: this machine's own OUTPUT rules (iptables,
	// nftables), which tell client_firewall from a drop on the way.
	UncheckedOutputRules = "output_rules"
)

// UncheckedAll lists every source above, for the catalog's tests.
var UncheckedAll = []string{UncheckedErrQueue, UncheckedRoute, UncheckedNeighbour, UncheckedListeners,
	UncheckedTrace, UncheckedOutputRules}

// Unchecked reports whether the system could not show what.
func (e Evidence) Unchecked(what string) bool {
	for _, w := range e.NotChecked {
		if w == what {
			return true
		}
	}
	return false
}
