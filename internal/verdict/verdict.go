// Package verdict holds the diagnostic knowledge of conndiag as pure rules:
// evidence in, ranked findings out. Nothing here does I/O, so every rule is
// tested with a table and no network.
package verdict

import (
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

// Causes lists every cause code, in SPEC order.
var Causes = []Cause{
	CauseOK, CauseNotListening, CauseWrongPort, CauseBoundToLoopback, CauseBoundToOtherAddress,
	CauseProxyInPath, CauseDNSFailure, CauseDNSMismatch, CauseCDNInPath, CauseCDNPortNotProxied,
	CauseFiltered, CauseFirewallLocal, CauseFilteredUpstream, CauseFirewallReject, CauseHostDown,
	CauseHostUnreachable, CauseNoRoute, CausePrivateAddress, CauseEphemeralPortsExhausted,
	CauseSourceAddressInvalid, CauseFDExhausted, CauseAcceptQueueOverflow, CauseWSUpgradeRejected,
	CauseWSPathNotFound, CauseNotHTTP, CauseTLSExpected, CauseTLSUnexpected, CauseTLSCertificate,
	CauseOtherService, CauseResetByPeer, CauseClientFirewall, CauseFamilyMismatch, CauseProxyUpstreamFailed,
	CauseWSOriginRejected, CauseTLSClientCertificate, CauseTLSObsolete, CauseMTUBlackhole, CauseBlockedByClient,
	CauseIdleTimeout, CauseUnknown,
}

// Outcome is what the client experiences.
type Outcome string

const (
	OutcomeOK               Outcome = "ok"
	OutcomeRefused          Outcome = "refused"
	OutcomeTimeout          Outcome = "timeout"
	OutcomeUnreachable      Outcome = "unreachable"
	OutcomeDNSFailure       Outcome = "dns_failure"
	OutcomeAddrUnavailable  Outcome = "addr_unavailable"
	OutcomeProtocolMismatch Outcome = "protocol_mismatch"
	OutcomeTLSFailure       Outcome = "tls_failure"
	OutcomeReset            Outcome = "reset"
	OutcomeLocalError       Outcome = "local_error"
)

// Confidence says how strongly the evidence supports a finding.
type Confidence string

const (
	High   Confidence = "high"   // the evidence proves it
	Medium Confidence = "medium" // the evidence points to it and rules out what this side can see
	Low    Confidence = "low"    // plausible, cannot be checked from here; the finding says where to check
)

func (c Confidence) rank() int {
	switch c {
	case High:
		return 0
	case Medium:
		return 1
	}
	return 2
}

// Finding is one diagnosed cause with its evidence and fix.
type Finding struct {
	Cause      Cause
	Confidence Confidence
	Summary    i18n.Msg
	Evidence   []i18n.Msg
	Fix        []i18n.Msg
	Rule       string // the rule that made it (docs/rules.md)
	place      Place
	parts      []string // the other rules whose observations it carries (Rule.Part)
}

func (f Finding) with(ev ...i18n.Msg) Finding {
	f.Evidence = append(f.Evidence, ev...)
	return f
}
