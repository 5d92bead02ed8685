package verdict

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/fwcmd"
	"github.com/conndiag/conndiag/internal/i18n"
)

// Cause names a checklist item (SPEC.md "Outcome and cause codes").
type Cause string

const (
	CauseOK                      Cause = "ok"
	CauseNotListening            Cause = "not_listening"
	CauseWrongPort               Cause = "wrong_port"
	CauseBoundToLoopback         Cause = "bound_to_loopback"
	CauseBoundToOtherAddress     Cause = "bound_to_other_address"
	CauseProxyInPath             Cause = "proxy_in_path"
	CauseDNSFailure              Cause = "dns_failure"
	CauseDNSMismatch             Cause = "dns_mismatch"
	CauseCDNInPath               Cause = "cdn_in_path"
	CauseCDNPortNotProxied       Cause = "cdn_port_not_proxied"
	CauseFiltered                Cause = "filtered"
	CauseFirewallLocal           Cause = "firewall_local"
	CauseFilteredUpstream        Cause = "filtered_upstream"
	CauseFirewallReject          Cause = "firewall_reject"
	CauseHostDown                Cause = "host_down"
	CauseHostUnreachable         Cause = "host_unreachable"
	CauseNoRoute                 Cause = "no_route"
	CausePrivateAddress          Cause = "private_address"
	CauseEphemeralPortsExhausted Cause = "ephemeral_ports_exhausted"
	CauseSourceAddressInvalid    Cause = "source_address_invalid"
	CauseFDExhausted             Cause = "fd_exhausted"
	CauseAcceptQueueOverflow     Cause = "accept_queue_overflow"
	CauseWSUpgradeRejected       Cause = "ws_upgrade_rejected"
	CauseWSPathNotFound          Cause = "ws_path_not_found"
	CauseNotHTTP                 Cause = "not_http"
	CauseTLSExpected             Cause = "tls_expected"
	CauseTLSUnexpected           Cause = "tls_unexpected"
	CauseTLSCertificate          Cause = "tls_certificate"
	CauseOtherService            Cause = "other_service"
	CauseResetByPeer             Cause = "reset_by_peer"
	CauseClientFirewall          Cause = "client_firewall"
	CauseFamilyMismatch          Cause = "family_mismatch"
	CauseProxyUpstreamFailed     Cause = "proxy_upstream_failed"
	CauseWSOriginRejected        Cause = "ws_origin_rejected"
	CauseTLSClientCertificate    Cause = "tls_client_certificate"
	CauseTLSObsolete             Cause = "tls_obsolete"
	CauseMTUBlackhole            Cause = "mtu_blackhole"
	CauseBlockedByClient         Cause = "blocked_by_client"
	CauseIdleTimeout             Cause = "idle_timeout"
	CauseUnknown                 Cause = "unknown"
)

// Causes lists every cause code, in SPEC order: the catalog's.
var Causes = func() []Cause {
	out := make([]Cause, len(causeCatalog))
	for i, c := range causeCatalog {
		out[i] = c.Cause
	}
	return out
}()

// CauseInfo is the catalog record of one cause: what a client experiences
// when it is the verdict, what it makes redundant, and its general fix. The
// texts are the catalog's "cause.CAUSE.summary" and "cause.CAUSE.fix"; rules
// say more where their evidence allows (Draft).
type CauseInfo struct {
	Cause Cause
	// Outcome is what the client usually experiences (explain, load and the
	// server audit use it; check takes the outcome from the connect itself).
	Outcome Outcome
	// Supersedes are causes whose findings this one makes redundant in the
	// same report: they are dropped when a finding of this cause is present.
	Supersedes []Cause
	// Fix builds the general fix with commands from what the rule knows;
	// nil: the catalog's "cause.CAUSE.fix" text alone.
	Fix func(FixArgs) []i18n.Msg
}

// FixArgs are what a fix builder can use; zero fields are unknown.
type FixArgs struct {
	Port uint16
	Addr netip.Addr // the server's address
	Host string     // the name the client uses
	// V6: the connection is IPv6, so ip6tables rather than iptables.
	V6 bool
	// Listening are the addresses the server listens on now ("127.0.0.1:8282").
	Listening []string
	// OS is the client's system (GOOS; "" is Linux), for fixes run on the client.
	OS string
}

func (c CauseInfo) fix(a FixArgs) []i18n.Msg {
	if c.Fix != nil {
		return c.Fix(a)
	}
	if c.Cause == CauseOK {
		return nil
	}
	return []i18n.Msg{i18n.M("cause." + string(c.Cause) + ".fix")}
}

// causeCatalog has one record per SPEC cause, in SPEC order.
var causeCatalog = []CauseInfo{
	{Cause: CauseOK, Outcome: OutcomeOK},
	{Cause: CauseNotListening, Outcome: OutcomeRefused, Fix: notListeningFix},
	{Cause: CauseWrongPort, Outcome: OutcomeRefused},
	{Cause: CauseBoundToLoopback, Outcome: OutcomeRefused, Fix: listenAllFix},
	{Cause: CauseBoundToOtherAddress, Outcome: OutcomeRefused, Fix: listenAllFix},
	{Cause: CauseProxyInPath, Outcome: OutcomeRefused},
	{Cause: CauseDNSFailure, Outcome: OutcomeDNSFailure, Fix: func(a FixArgs) []i18n.Msg {
		return []i18n.Msg{i18n.M("cause.dns_failure.fix"), i18n.Cmd("getent ahosts %s", a.Host)}
	}},
	{Cause: CauseDNSMismatch, Outcome: OutcomeTimeout},
	{Cause: CauseCDNInPath, Outcome: OutcomeTimeout},
	// The edge drops the port: that the name leads to a CDN is part of its evidence.
	{Cause: CauseCDNPortNotProxied, Outcome: OutcomeTimeout, Supersedes: []Cause{CauseCDNInPath}},
	{Cause: CauseFiltered, Outcome: OutcomeTimeout, Fix: func(a FixArgs) []i18n.Msg {
		return append(openPortFix(a.Port, a.V6), watchFix(a.Port)...)
	}},
	{Cause: CauseFirewallLocal, Outcome: OutcomeTimeout, Fix: func(a FixArgs) []i18n.Msg { return hostFirewallFix(a.Port, a.V6) }},
	{Cause: CauseFilteredUpstream, Outcome: OutcomeTimeout, Fix: func(a FixArgs) []i18n.Msg { return watchFix(a.Port) }},
	{Cause: CauseFirewallReject, Outcome: OutcomeRefused, Fix: func(a FixArgs) []i18n.Msg { return openPortFix(a.Port, a.V6) }},
	{Cause: CauseHostDown, Outcome: OutcomeTimeout},
	{Cause: CauseHostUnreachable, Outcome: OutcomeUnreachable},
	{Cause: CauseNoRoute, Outcome: OutcomeUnreachable, Fix: func(a FixArgs) []i18n.Msg {
		return []i18n.Msg{i18n.M("cause.no_route.fix"), i18n.Cmd("ip route get %s", a.Addr)}
	}},
	{Cause: CausePrivateAddress, Outcome: OutcomeTimeout},
	{Cause: CauseEphemeralPortsExhausted, Outcome: OutcomeAddrUnavailable, Fix: func(a FixArgs) []i18n.Msg { return portsFix(a.OS) }},
	{Cause: CauseSourceAddressInvalid, Outcome: OutcomeAddrUnavailable, Fix: func(FixArgs) []i18n.Msg {
		return []i18n.Msg{i18n.M("cause.source_address_invalid.fix"), i18n.Cmd("ip -br addr")}
	}},
	{Cause: CauseFDExhausted, Outcome: OutcomeLocalError, Fix: func(FixArgs) []i18n.Msg {
		return []i18n.Msg{i18n.M("cause.fd_exhausted.fix"), i18n.Cmd("ulimit -n 65535")}
	}},
	{Cause: CauseAcceptQueueOverflow, Outcome: OutcomeTimeout, Fix: func(FixArgs) []i18n.Msg {
		return []i18n.Msg{i18n.M("cause.accept_queue_overflow.fix"), i18n.Cmd("nstat -az TcpExtListenOverflows TcpExtListenDrops")}
	}},
	{Cause: CauseWSUpgradeRejected, Outcome: OutcomeProtocolMismatch},
	{Cause: CauseWSPathNotFound, Outcome: OutcomeProtocolMismatch},
	{Cause: CauseNotHTTP, Outcome: OutcomeProtocolMismatch},
	{Cause: CauseTLSExpected, Outcome: OutcomeProtocolMismatch},
	{Cause: CauseTLSUnexpected, Outcome: OutcomeTLSFailure},
	{Cause: CauseTLSCertificate, Outcome: OutcomeTLSFailure},
	{Cause: CauseOtherService, Outcome: OutcomeProtocolMismatch},
	{Cause: CauseResetByPeer, Outcome: OutcomeReset},
	{Cause: CauseClientFirewall, Outcome: OutcomeTimeout, Fix: func(a FixArgs) []i18n.Msg {
		return localRulesFix(i18n.M("cause.client_firewall.fix"), "OUTPUT", a.V6)
	}},
	// One family works: the working address's ok is part of its evidence, not a verdict of its own.
	{Cause: CauseFamilyMismatch, Outcome: OutcomeTimeout, Supersedes: []Cause{CauseOK}},
	{Cause: CauseProxyUpstreamFailed, Outcome: OutcomeProtocolMismatch},
	{Cause: CauseWSOriginRejected, Outcome: OutcomeProtocolMismatch},
	{Cause: CauseTLSClientCertificate, Outcome: OutcomeTLSFailure},
	{Cause: CauseTLSObsolete, Outcome: OutcomeTLSFailure},
	{Cause: CauseMTUBlackhole, Outcome: OutcomeTimeout},
	{Cause: CauseBlockedByClient, Outcome: OutcomeLocalError},
	{Cause: CauseIdleTimeout, Outcome: OutcomeReset},
	{Cause: CauseUnknown, Outcome: OutcomeLocalError},
}

var catalogIndex = func() map[Cause]int {
	m := make(map[Cause]int, len(causeCatalog))
	for i, c := range causeCatalog {
		m[c.Cause] = i
	}
	return m
}()

// Catalog returns the record of cause c (the unknown cause's for a code not in SPEC.md).
func Catalog(c Cause) CauseInfo {
	if i, ok := catalogIndex[c]; ok {
		return causeCatalog[i]
	}
	return causeCatalog[catalogIndex[CauseUnknown]]
}

// ---- fix builders: every command of a fix is built here, once ----

func notListeningFix(a FixArgs) []i18n.Msg {
	return []i18n.Msg{i18n.M("cause.not_listening.fix", "Port", a.Port), listenCheckCmd(a.Port),
		i18n.M("fix.server_audit"), i18n.Cmd("conndiag server %d", a.Port)}
}

func listenCheckCmd(port uint16) i18n.Msg { return i18n.Cmd("ss -ltnp 'sport = :%d'", port) }

// openPortFix is how to open a TCP port on the server, for each common
// firewall and in the cloud, and how to audit it there; v6: for IPv6
// clients (ip6tables).
func openPortFix(port uint16, v6 bool) []i18n.Msg {
	return append(hostFirewallFix(port, v6),
		i18n.M("fix.open_port.cloud", "Port", port),
		i18n.M("fix.server_audit"),
		i18n.Cmd("conndiag server %d", port),
	)
}

// hostFirewallFix is how to open a TCP port in the host's own firewall;
// v6: for IPv6 clients, whose rules are ip6tables' (nft's inet tables, ufw
// and firewalld serve both families).
func hostFirewallFix(port uint16, v6 bool) []i18n.Msg {
	return []i18n.Msg{
		i18n.M("fix.open_port", "Port", port),
		i18n.CmdLine(fwcmd.IptablesAccept(iptablesCmd(v6), "INPUT", port)),
		i18n.CmdLine(fwcmd.NftAccept("inet", "filter", "input", port)),
		i18n.CmdLine(fwcmd.UFWAllow(port, false)),
		i18n.CmdLine(fwcmd.FirewalldAddPort("", port)),
	}
}

// watchFix asks for the server's view of the SYNs while the client retries.
func watchFix(port uint16) []i18n.Msg {
	return []i18n.Msg{i18n.M("fix.watch"), i18n.Cmd("conndiag server --watch 60s %d", port)}
}

// iptablesCmd is the iptables command of the family.
func iptablesCmd(v6 bool) string {
	if v6 {
		return "ip6tables"
	}
	return "iptables"
}

// localRulesFix is how to read this machine's own rules in one direction
// ("INPUT", "OUTPUT"), of the family (v6: ip6tables).
func localRulesFix(msg i18n.Msg, chain string, v6 bool) []i18n.Msg {
	return []i18n.Msg{msg, i18n.Cmd("%s -S %s", iptablesCmd(v6), chain), i18n.Cmd("nft list ruleset")}
}

// listenAllFix moves a server from the address it is bound to (Listening,
// when known) to every address of the family the clients use: 0.0.0.0, or
// [::] for IPv6.
func listenAllFix(a FixArgs) []i18n.Msg {
	all := "0.0.0.0"
	if a.V6 {
		all = "[::]"
	}
	first := i18n.M("rejects.fix.listen_all_unknown", "All", all)
	if len(a.Listening) > 0 {
		first = i18n.M("rejects.fix.listen_all", "All", all, "Listening", strings.Join(a.Listening, ", "))
	}
	snippet := workermanSnippet("websocket", all, a.Port)
	if a.V6 {
		snippet = i18n.Snippet("new Worker('websocket://[::]:%d');", a.Port) // brackets are no plain word: in the format
	}
	return []i18n.Msg{first, snippet, i18n.M("rejects.fix.listen_check", "All", all), listenCheckCmd(a.Port)}
}

// workermanSnippet is a Workerman worker listening on addr:port.
func workermanSnippet(proto, addr string, port uint16) i18n.Msg {
	return i18n.Snippet("new Worker('%s://%s:%d');", proto, addr, port)
}

// recommendedPortRange is the ephemeral range conndiag advises: wide, yet
// above the ports servers usually listen on, so a restarted server does not
// find its port taken by an outgoing connection.
var (
	recommendedPortRange      = evidence.PortRange{Lo: 10000, Hi: 65000}
	recommendedPortRangeValue = fmt.Sprintf("%d %d", recommendedPortRange.Lo, recommendedPortRange.Hi) // sysctl syntax
)

// portsFix widens the range where the client's system keeps it: sysctl on
// Linux, the BSD sysctls on macOS and FreeBSD, netsh on Windows.
func portsFix(goos string) []i18n.Msg {
	switch goos {
	case "darwin", "freebsd":
		return []i18n.Msg{
			i18n.M("platform.fix.ports.bsd"),
			i18n.Cmd("sysctl -w net.inet.ip.portrange.first=%d net.inet.ip.portrange.last=%d", recommendedPortRange.Lo, 65535),
			i18n.M("platform.fix.ports.bsd_msl"),
			i18n.Cmd("sysctl -w net.inet.tcp.msl=%d", 5000),
			i18n.M("platform.fix.ports.bsd_persist"),
			i18n.M("fix.ports.spread"),
		}
	case "windows":
		return []i18n.Msg{
			i18n.M("platform.fix.ports.windows"),
			i18n.Cmd("netsh int ipv4 set dynamicport tcp start=%d num=%d", recommendedPortRange.Lo, 65536-recommendedPortRange.Lo),
			i18n.Cmd("netsh int ipv6 set dynamicport tcp start=%d num=%d", recommendedPortRange.Lo, 65536-recommendedPortRange.Lo),
			i18n.M("platform.fix.ports.windows_check"),
			i18n.Cmd("netstat -ano -p tcp"),
			i18n.M("fix.ports.spread"),
		}
	}
	return []i18n.Msg{
		i18n.M("fix.ports.range"),
		i18n.Cmd(`sysctl -w net.ipv4.ip_local_port_range="%s"`, recommendedPortRangeValue),
		i18n.M("fix.ports.twreuse"),
		i18n.Cmd("sysctl -w net.ipv4.tcp_tw_reuse=1"),
		i18n.M("fix.ports.persist"),
		i18n.CmdLine(sysctlCommand("60-conndiag-ports.conf", []SysctlLine{
			{Key: "net.ipv4.ip_local_port_range", Value: recommendedPortRangeValue},
			{Key: "net.ipv4.tcp_tw_reuse", Value: "1"},
		})),
		i18n.M("fix.ports.spread"),
	}
}

// cloudProviders are the providers the DMI data names, with how people call them
// and where their console opens a port (server.place.ID).
var cloudProviders = map[string]string{
	"aws": "Amazon Web Services (EC2)", "google": "Google Cloud (Compute Engine)", "azure": "Microsoft Azure",
	"alibaba": "Alibaba Cloud (ECS)", "tencent": "Tencent Cloud (CVM)", "huawei": "Huawei Cloud (ECS)",
	"oracle": "Oracle Cloud", "digitalocean": "DigitalOcean", "hetzner": "Hetzner Cloud", "vultr": "Vultr",
	"linode": "Linode (Akamai)",
}

func cloudName(id string) string {
	if n, ok := cloudProviders[id]; ok {
		return n
	}
	return id
}

// cloudPlace is where in the provider's console the port is opened; port 0
// (several ports) says PORT.
func cloudPlace(id string, port uint16) (i18n.Msg, bool) {
	if _, ok := cloudProviders[id]; !ok {
		return i18n.Msg{}, false
	}
	p := "PORT"
	if port != 0 {
		p = strconv.Itoa(int(port))
	}
	return i18n.M("server.place."+id, "Port", p), true
}

// CloudIDs are the providers whose names and console places the catalog knows.
func CloudIDs() []string {
	out := make([]string, 0, len(cloudProviders))
	for id := range cloudProviders {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
