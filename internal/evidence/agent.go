package evidence

import (
	"net/netip"
	"time"
)

// Agent refusals, as AgentWatch.Refusal names them (and the agent's API says).
const (
	AgentRefusedToken = "token"        // the token did not match
	AgentRefusedPort  = "port"         // the port is not one the agent may watch (--agent-ports)
	AgentBusy         = "busy"         // too many watches at once, or one of this client's still running
	AgentNoRoot       = "no_root"      // the agent runs without root: it cannot open a packet socket
	AgentCannotWatch  = "cannot_watch" // the watch failed for another reason
	AgentBadRequest   = "bad_request"
	// AgentFamily: the agent sees this client by an address of the other
	// family than the SYNs to the target use, so it cannot match them
	// (set by the client, never sent by an agent).
	AgentFamily = "family"
)

// AgentWatch is what a conndiag listen --agent on the server saw of this
// client's SYNs while the client retried the connection.
type AgentWatch struct {
	URL string // the agent's base URL, as given
	// AtTarget: the agent was reached at the very address checked, so the
	// host it watches is the target host.
	AtTarget bool
	// Err is why the agent could not be asked or could not watch: the HTTP
	// error, or the agent's own message with Refusal.
	Err     string
	Refusal string   // one of the Agent* codes when the agent refused
	Allowed []uint16 // the ports it may watch, when it refused the port
	Watched bool     // the watch ran and its result came back

	SeenAs   netip.Addr    // this client's address as the agent saw it
	Duration time.Duration // how long it watched
	// Tries are the connects this client made while the agent watched;
	// Connected how many of them got through.
	Tries, Connected int
	// Port is the agent's view of the port: its listeners, its firewall's
	// answer per family (nil when the rules could not be read), and Watch,
	// which holds this client's SYNs only.
	Port        PortEvidence
	FirewallErr string       // why the rules could not be read there
	HostAddrs   []netip.Addr // the agent host's addresses
	Cloud       string       // the provider the agent host's DMI data names
	// OverflowGrowth is how much the host's ListenOverflows grew during the watch.
	OverflowGrowth uint64
}

// SYNs are this client's attempts the agent saw.
func (a AgentWatch) SYNs() []WatchedSYN {
	if a.Port.Watch == nil {
		return nil
	}
	return a.Port.Watch.SYNs
}
