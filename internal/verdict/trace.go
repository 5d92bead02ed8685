package verdict

import (
	"github.com/conndiag/conndiag/internal/evidence"
)

// HopKind is what answered a TTL-limited SYN.
type HopKind = evidence.HopKind

// The hop kinds.
const (
	HopRouter  = evidence.HopRouter
	HopReached = evidence.HopReached
	HopError   = evidence.HopError
	HopSilent  = evidence.HopSilent
)

// Hop is one step of a trace.
type Hop = evidence.Hop

// Path is the trace of one address (evidence.Path).
type Path = evidence.Path

// PathEnd is where a trace ended (evidence.PathEnd).
type PathEnd = evidence.PathEnd

// AgentWatch is what an agent on the server saw (evidence.AgentWatch).
type AgentWatch = evidence.AgentWatch
