// Package verdict holds the diagnostic knowledge of conndiag as pure rules:
// evidence in, ranked findings out. Nothing here does I/O: it reads only the
// plain values of internal/evidence (a test holds that boundary), so every
// rule is tested with a table and no network.
//
// The knowledge has three parts:
//
//   - catalog.go: one record per SPEC cause (the outcome a client meets, the
//     causes it supersedes, its general fix), and the fix builders, where
//     every command conndiag offers is built;
//   - rules_*.go: one ordered table per stage (TCP, TLS, WebSocket, HTTP,
//     not-HTTP, message, name, server port and host). Each row names its
//     cause, the condition over the evidence, the confidence and the
//     evidence lines; docs/rules.md lists them with the table case that
//     proves each;
//   - rules.go: how tables are applied (the first row that holds, or every
//     row) and rank, the one ordering of findings.
//
// Adding a cause is a catalog record, rule rows and catalog texts.
package verdict

import (
	"github.com/conndiag/conndiag/internal/i18n"
)

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
