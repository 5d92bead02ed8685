package explain

import (
	v "github.com/conndiag/conndiag/internal/verdict"
)

// A signal is what a message says happened, in the terms of SPEC.md: the
// outcome the client met and the causes that produce it, most likely first.
// Its meaning for a person is the catalog text "explain.sig.KEY".
type signal struct {
	outcome v.Outcome
	causes  []rank
}

type rank struct {
	cause v.Cause
	conf  v.Confidence
}

func r(c v.Cause, conf v.Confidence) rank { return rank{c, conf} }

const (
	hi  = v.High
	med = v.Medium
	lo  = v.Low
)

// signals is the one table of what each kind of message means. Rules (rules.go)
// point at these keys; adjust (explain.go) refines a few with what the target says.
var signals = map[string]signal{
	// TCP connect.
	"refused":         {v.OutcomeRefused, []rank{r(v.CauseNotListening, med), r(v.CauseBoundToLoopback, lo), r(v.CauseFirewallReject, lo), r(v.CauseWrongPort, lo)}},
	"connect_failed":  {v.OutcomeRefused, []rank{r(v.CauseNotListening, lo), r(v.CauseFirewallReject, lo), r(v.CauseNoRoute, lo)}},
	"connect_slow":    {v.OutcomeUnreachable, []rank{r(v.CauseHostUnreachable, lo), r(v.CauseHostDown, lo)}},
	"timeout":         {v.OutcomeTimeout, []rank{r(v.CauseFiltered, med), r(v.CauseFilteredUpstream, lo), r(v.CauseHostDown, lo), r(v.CauseCDNPortNotProxied, lo), r(v.CauseAcceptQueueOverflow, lo)}},
	"host_unreach":    {v.OutcomeUnreachable, []rank{r(v.CauseHostUnreachable, med), r(v.CauseFirewallReject, lo), r(v.CauseHostDown, lo)}},
	"net_unreach":     {v.OutcomeUnreachable, []rank{r(v.CauseNoRoute, med), r(v.CausePrivateAddress, lo), r(v.CauseFamilyMismatch, lo)}},
	"access_denied":   {v.OutcomeUnreachable, []rank{r(v.CauseFirewallReject, med), r(v.CauseClientFirewall, lo), r(v.CauseNoRoute, lo)}},
	"not_permitted":   {v.OutcomeLocalError, []rank{r(v.CauseClientFirewall, med), r(v.CauseBlockedByClient, lo)}},
	"invalid_arg":     {v.OutcomeUnreachable, []rank{r(v.CauseNoRoute, lo), r(v.CauseSourceAddressInvalid, lo)}},
	"addr_notavail":   {v.OutcomeAddrUnavailable, []rank{r(v.CauseEphemeralPortsExhausted, med), r(v.CauseSourceAddressInvalid, lo)}},
	"bind_notavail":   {v.OutcomeAddrUnavailable, []rank{r(v.CauseSourceAddressInvalid, med), r(v.CauseEphemeralPortsExhausted, lo)}},
	"bind_inuse":      {v.OutcomeAddrUnavailable, []rank{r(v.CauseEphemeralPortsExhausted, med), r(v.CauseSourceAddressInvalid, lo)}},
	"listen_inuse":    {v.OutcomeLocalError, []rank{r(v.CauseOtherService, med), r(v.CauseNotListening, lo)}},
	"no_buffers":      {v.OutcomeAddrUnavailable, []rank{r(v.CauseEphemeralPortsExhausted, med), r(v.CauseFDExhausted, lo)}},
	"fd_exhausted":    {v.OutcomeLocalError, []rank{r(v.CauseFDExhausted, hi)}},
	"accept_emfile":   {v.OutcomeTimeout, []rank{r(v.CauseFDExhausted, hi), r(v.CauseAcceptQueueOverflow, lo)}},
	"syn_flood":       {v.OutcomeTimeout, []rank{r(v.CauseAcceptQueueOverflow, med), r(v.CauseFDExhausted, lo)}},
	"conntrack_full":  {v.OutcomeTimeout, []rank{r(v.CauseFirewallLocal, lo), r(v.CauseFilteredUpstream, lo)}},
	"accept_timeout":  {v.OutcomeTimeout, []rank{r(v.CauseFilteredUpstream, lo), r(v.CauseFirewallLocal, lo), r(v.CauseDNSMismatch, lo)}},
	"dns_nx":          {v.OutcomeDNSFailure, []rank{r(v.CauseDNSFailure, hi)}},
	"dns_again":       {v.OutcomeDNSFailure, []rank{r(v.CauseDNSFailure, med), r(v.CauseProxyInPath, lo)}},
	"dns_nodata":      {v.OutcomeDNSFailure, []rank{r(v.CauseDNSFailure, med), r(v.CauseFamilyMismatch, lo)}},
	"dns_failure":     {v.OutcomeDNSFailure, []rank{r(v.CauseDNSFailure, med)}},
	"reset":           {v.OutcomeReset, []rank{r(v.CauseResetByPeer, med), r(v.CauseTLSExpected, lo), r(v.CauseProxyUpstreamFailed, lo), r(v.CauseIdleTimeout, lo)}},
	"aborted":         {v.OutcomeReset, []rank{r(v.CauseResetByPeer, lo), r(v.CauseClientFirewall, lo), r(v.CauseIdleTimeout, lo)}},
	"broken_pipe":     {v.OutcomeReset, []rank{r(v.CauseResetByPeer, med), r(v.CauseIdleTimeout, lo)}},
	"closed_early":    {v.OutcomeProtocolMismatch, []rank{r(v.CauseNotHTTP, med), r(v.CauseProxyUpstreamFailed, lo), r(v.CauseTLSExpected, lo), r(v.CauseResetByPeer, lo)}},
	"timeout_any":     {v.OutcomeTimeout, []rank{r(v.CauseFiltered, lo), r(v.CauseNotHTTP, lo), r(v.CauseProxyUpstreamFailed, lo), r(v.CauseHostDown, lo)}},
	"read_timeout":    {v.OutcomeTimeout, []rank{r(v.CauseNotHTTP, med), r(v.CauseProxyUpstreamFailed, lo), r(v.CauseMTUBlackhole, lo)}},
	"tls_timeout":     {v.OutcomeTimeout, []rank{r(v.CauseTLSUnexpected, lo), r(v.CauseMTUBlackhole, lo), r(v.CauseNotHTTP, lo)}},
	"idle_timeout":    {v.OutcomeTimeout, []rank{r(v.CauseIdleTimeout, med), r(v.CauseProxyUpstreamFailed, lo)}},
	"ws_abnormal":     {v.OutcomeReset, []rank{r(v.CauseIdleTimeout, lo), r(v.CauseResetByPeer, lo), r(v.CauseProxyUpstreamFailed, lo)}},
	"ws_ping_timeout": {v.OutcomeTimeout, []rank{r(v.CauseIdleTimeout, med), r(v.CauseMTUBlackhole, lo)}},

	// WebSocket handshake answered with an HTTP status other than 101 (statusSignal).
	"ws_2xx":   {v.OutcomeProtocolMismatch, []rank{r(v.CauseWSUpgradeRejected, hi)}},
	"ws_3xx":   {v.OutcomeProtocolMismatch, []rank{r(v.CauseWSUpgradeRejected, med), r(v.CauseTLSExpected, lo)}},
	"ws_400":   {v.OutcomeProtocolMismatch, []rank{r(v.CauseWSUpgradeRejected, med), r(v.CauseTLSExpected, lo), r(v.CauseWSPathNotFound, lo)}},
	"ws_401":   {v.OutcomeProtocolMismatch, []rank{r(v.CauseWSUpgradeRejected, lo), r(v.CauseWSOriginRejected, lo)}},
	"ws_403":   {v.OutcomeProtocolMismatch, []rank{r(v.CauseWSOriginRejected, med), r(v.CauseWSUpgradeRejected, lo)}},
	"ws_404":   {v.OutcomeProtocolMismatch, []rank{r(v.CauseWSPathNotFound, hi)}},
	"ws_407":   {v.OutcomeProtocolMismatch, []rank{r(v.CauseProxyInPath, hi)}},
	"ws_426":   {v.OutcomeProtocolMismatch, []rank{r(v.CauseWSUpgradeRejected, med), r(v.CauseProxyUpstreamFailed, lo)}},
	"ws_5xx":   {v.OutcomeProtocolMismatch, []rank{r(v.CauseProxyUpstreamFailed, lo), r(v.CauseWSUpgradeRejected, lo)}},
	"ws_502":   {v.OutcomeProtocolMismatch, []rank{r(v.CauseProxyUpstreamFailed, med), r(v.CauseWSUpgradeRejected, lo)}},
	"ws_other": {v.OutcomeProtocolMismatch, []rank{r(v.CauseWSUpgradeRejected, lo)}},
	"http_502": {v.OutcomeProtocolMismatch, []rank{r(v.CauseProxyUpstreamFailed, med)}},
	"http_504": {v.OutcomeTimeout, []rank{r(v.CauseProxyUpstreamFailed, med), r(v.CauseIdleTimeout, lo)}},

	// Cloudflare's own error pages.
	"cf_520": {v.OutcomeProtocolMismatch, []rank{r(v.CauseProxyUpstreamFailed, hi), r(v.CauseResetByPeer, med)}},
	"cf_521": {v.OutcomeRefused, []rank{r(v.CauseProxyUpstreamFailed, hi), r(v.CauseNotListening, med), r(v.CauseFirewallReject, lo)}},
	"cf_522": {v.OutcomeTimeout, []rank{r(v.CauseProxyUpstreamFailed, hi), r(v.CauseFiltered, med), r(v.CauseHostDown, lo)}},
	"cf_523": {v.OutcomeUnreachable, []rank{r(v.CauseProxyUpstreamFailed, hi), r(v.CauseDNSMismatch, med), r(v.CauseNoRoute, lo)}},
	"cf_524": {v.OutcomeTimeout, []rank{r(v.CauseProxyUpstreamFailed, hi), r(v.CauseIdleTimeout, lo)}},
	"cf_525": {v.OutcomeTLSFailure, []rank{r(v.CauseProxyUpstreamFailed, hi), r(v.CauseTLSUnexpected, med), r(v.CauseTLSObsolete, lo)}},
	"cf_526": {v.OutcomeTLSFailure, []rank{r(v.CauseProxyUpstreamFailed, hi), r(v.CauseTLSCertificate, hi)}},
	"cf_530": {v.OutcomeDNSFailure, []rank{r(v.CauseProxyUpstreamFailed, hi), r(v.CauseDNSFailure, med)}},

	// Protocol after TCP connects.
	"invalid_response": {v.OutcomeProtocolMismatch, []rank{r(v.CauseNotHTTP, med), r(v.CauseTLSExpected, lo), r(v.CauseOtherService, lo)}},
	"tls_bytes":        {v.OutcomeProtocolMismatch, []rank{r(v.CauseTLSExpected, hi)}},
	"other_service":    {v.OutcomeProtocolMismatch, []rank{r(v.CauseOtherService, hi)}},
	"ws_bad_upgrade":   {v.OutcomeProtocolMismatch, []rank{r(v.CauseWSUpgradeRejected, med), r(v.CauseProxyUpstreamFailed, lo)}},
	"ws_not_ws":        {v.OutcomeProtocolMismatch, []rank{r(v.CauseWSUpgradeRejected, med), r(v.CauseProxyUpstreamFailed, lo)}},
	"tls_expected":     {v.OutcomeProtocolMismatch, []rank{r(v.CauseTLSExpected, hi)}},
	"tls_unexpected":   {v.OutcomeTLSFailure, []rank{r(v.CauseTLSUnexpected, hi)}},
	"tls_version_num":  {v.OutcomeTLSFailure, []rank{r(v.CauseTLSUnexpected, med), r(v.CauseProxyInPath, lo)}},
	"tls_cert":         {v.OutcomeTLSFailure, []rank{r(v.CauseTLSCertificate, hi)}},
	"tls_cert_expired": {v.OutcomeTLSFailure, []rank{r(v.CauseTLSCertificate, hi)}},
	"tls_cert_name":    {v.OutcomeTLSFailure, []rank{r(v.CauseTLSCertificate, hi), r(v.CauseDNSMismatch, lo)}},
	"tls_cert_trust":   {v.OutcomeTLSFailure, []rank{r(v.CauseTLSCertificate, hi), r(v.CauseProxyInPath, lo)}},
	"tls_cert_weak":    {v.OutcomeTLSFailure, []rank{r(v.CauseTLSObsolete, hi), r(v.CauseTLSCertificate, med)}},
	"tls_client_cert":  {v.OutcomeTLSFailure, []rank{r(v.CauseTLSClientCertificate, hi)}},
	"tls_bad_cert":     {v.OutcomeTLSFailure, []rank{r(v.CauseTLSClientCertificate, med), r(v.CauseTLSCertificate, lo)}},
	"tls_obsolete":     {v.OutcomeTLSFailure, []rank{r(v.CauseTLSObsolete, med), r(v.CauseTLSUnexpected, lo)}},
	"tls_handshake":    {v.OutcomeTLSFailure, []rank{r(v.CauseTLSObsolete, lo), r(v.CauseTLSClientCertificate, lo), r(v.CauseTLSCertificate, lo), r(v.CauseTLSUnexpected, lo)}},
	"tls_eof":          {v.OutcomeTLSFailure, []rank{r(v.CauseTLSUnexpected, med), r(v.CauseResetByPeer, lo), r(v.CauseProxyInPath, lo)}},
	"tls_generic":      {v.OutcomeTLSFailure, []rank{r(v.CauseTLSCertificate, lo), r(v.CauseTLSUnexpected, lo), r(v.CauseTLSObsolete, lo)}},

	// The client, or a proxy the client is told to use.
	"blocked":        {v.OutcomeLocalError, []rank{r(v.CauseBlockedByClient, hi)}},
	"blocked_ext":    {v.OutcomeLocalError, []rank{r(v.CauseBlockedByClient, med)}},
	"unsafe_port":    {v.OutcomeLocalError, []rank{r(v.CauseBlockedByClient, hi), r(v.CauseWrongPort, lo)}},
	"proxy_failed":   {v.OutcomeRefused, []rank{r(v.CauseProxyInPath, hi)}},
	"no_live":        {v.OutcomeRefused, []rank{r(v.CauseProxyUpstreamFailed, hi), r(v.CauseNotListening, med)}},
	"upstream_dns":   {v.OutcomeDNSFailure, []rank{r(v.CauseProxyUpstreamFailed, hi), r(v.CauseDNSFailure, hi)}},
	"selinux":        {v.OutcomeLocalError, []rank{r(v.CauseProxyUpstreamFailed, hi), r(v.CauseBlockedByClient, med)}},
	"upstream_early": {v.OutcomeProtocolMismatch, []rank{r(v.CauseProxyUpstreamFailed, hi), r(v.CauseNotHTTP, med), r(v.CauseResetByPeer, lo)}},

	// Firefox says the same for refused, timeout, DNS and TLS: no outcome.
	"ambiguous": {"", []rank{r(v.CauseNotListening, lo), r(v.CauseFiltered, lo), r(v.CauseDNSFailure, lo), r(v.CauseTLSCertificate, lo), r(v.CauseBlockedByClient, lo)}},
}

// statusSignal is the signal of a WebSocket handshake answered with status n.
func statusSignal(n int) string {
	switch {
	case n >= 200 && n < 300:
		return "ws_2xx"
	case n >= 300 && n < 400:
		return "ws_3xx"
	}
	switch n {
	case 400:
		return "ws_400"
	case 401:
		return "ws_401"
	case 403:
		return "ws_403"
	case 404:
		return "ws_404"
	case 407:
		return "ws_407"
	case 426:
		return "ws_426"
	case 502, 503, 504:
		return "ws_502"
	case 520, 521, 522, 523, 524, 525, 526, 530:
		return cfSignal(n)
	}
	if n >= 500 && n < 600 {
		return "ws_5xx"
	}
	return "ws_other"
}

func cfSignal(n int) string {
	switch n {
	case 520, 521, 522, 523, 524, 525, 526, 530:
		return "cf_" + itoa(n)
	}
	return "ws_5xx"
}

// contexts add a lead cause in front of what the underlying error says:
// the same "connection refused" means something else when nginx says it of
// its upstream, or when it is the proxy the client was told to use.
type context struct {
	lead rank
	// phase rewrites the underlying signal for the step the context names.
	phase map[string]string
}

var contexts = map[string]context{
	"upstream":      {lead: r(v.CauseProxyUpstreamFailed, hi)},
	"upstream_read": {lead: r(v.CauseProxyUpstreamFailed, hi), phase: map[string]string{"timeout": "read_timeout"}},
	"upstream_idle": {lead: r(v.CauseProxyUpstreamFailed, lo), phase: map[string]string{"timeout": "idle_timeout", "read_timeout": "idle_timeout"}},
	"proxy":         {lead: r(v.CauseProxyInPath, hi)},
	"bind":          {phase: map[string]string{"addr_notavail": "bind_notavail", "bind_inuse": "bind_inuse"}},
	"listen":        {phase: map[string]string{"bind_inuse": "listen_inuse", "addr_notavail": "listen_inuse"}},
	"read":          {lead: rank{}, phase: map[string]string{"timeout": "read_timeout"}},
	"tls_phase":     {lead: rank{}, phase: map[string]string{"timeout": "tls_timeout", "reset": "tls_eof", "closed_early": "tls_eof", "tls_unexpected": "tls_expected", "tls_version_num": "tls_expected"}},
	"ws_phase":      {},
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// meaning groups signals that a person reads the same way; its catalog text
// is "explain.sig.MEANING".
var meaning = map[string]string{
	"refused": "refused", "connect_failed": "connect_failed", "connect_slow": "connect_slow",
	"timeout": "timeout", "timeout_any": "timeout_any", "host_unreach": "host_unreach", "net_unreach": "net_unreach",
	"access_denied": "access_denied", "not_permitted": "not_permitted", "invalid_arg": "net_unreach",
	"addr_notavail": "local_addr", "bind_notavail": "bind_addr", "bind_inuse": "local_addr", "no_buffers": "local_addr",
	"listen_inuse": "listen_inuse", "fd_exhausted": "fd", "accept_emfile": "fd",
	"syn_flood": "server_queue", "conntrack_full": "conntrack", "accept_timeout": "accept_timeout",
	"dns_nx": "dns_nx", "dns_again": "dns_other", "dns_nodata": "dns_other", "dns_failure": "dns_other",
	"reset": "reset", "aborted": "reset", "broken_pipe": "reset", "closed_early": "closed_early",
	"read_timeout": "read_timeout", "tls_timeout": "tls_timeout",
	"idle_timeout": "idle", "ws_abnormal": "idle", "ws_ping_timeout": "idle",
	"ws_2xx": "ws_status", "ws_3xx": "ws_status", "ws_400": "ws_status", "ws_401": "ws_status", "ws_403": "ws_status",
	"ws_404": "ws_status", "ws_407": "ws_status", "ws_426": "ws_status", "ws_5xx": "ws_status", "ws_502": "ws_status",
	"ws_other": "ws_status", "http_502": "gateway", "http_504": "gateway",
	"cf_520": "cloudflare", "cf_521": "cloudflare", "cf_522": "cloudflare", "cf_523": "cloudflare", "cf_524": "cloudflare",
	"cf_525": "cloudflare", "cf_526": "cloudflare", "cf_530": "cloudflare",
	"invalid_response": "invalid_response", "tls_bytes": "tls_bytes", "other_service": "other_service",
	"ws_bad_upgrade": "ws_bad_upgrade", "ws_not_ws": "ws_bad_upgrade",
	"tls_expected": "tls_expected", "tls_unexpected": "tls_unexpected", "tls_version_num": "tls_unexpected",
	"tls_cert": "tls_cert", "tls_cert_expired": "tls_cert", "tls_cert_name": "tls_cert", "tls_cert_trust": "tls_cert",
	"tls_cert_weak": "tls_obsolete", "tls_obsolete": "tls_obsolete", "tls_client_cert": "tls_client_cert", "tls_bad_cert": "tls_client_cert",
	"tls_handshake": "tls_handshake", "tls_eof": "tls_handshake", "tls_generic": "tls_handshake",
	"blocked": "blocked", "blocked_ext": "blocked", "unsafe_port": "blocked", "proxy_failed": "proxy_failed",
	"no_live": "upstream", "upstream_dns": "upstream", "upstream_early": "upstream", "selinux": "selinux",
	"ambiguous": "ambiguous",
}
