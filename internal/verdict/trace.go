package verdict

import (
	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
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

// Hop is one step of --trace.
type Hop = evidence.Hop

// traceLines renders the path and says where it ends.
func traceLines(hops []Hop) []i18n.Msg {
	if len(hops) == 0 {
		return nil
	}
	out := make([]i18n.Msg, 0, len(hops)+1)
	var lastAnswer *Hop
	for i := range hops {
		h := hops[i]
		switch h.Kind {
		case HopSilent:
			out = append(out, i18n.M("ev.trace.silent", "TTL", h.TTL))
		case HopError:
			out = append(out, i18n.M("ev.trace.error", "TTL", h.TTL, "From", h.From.String(), "ICMP", h.ICMP, "RTT", Dur(h.RTT)))
		case HopReached:
			out = append(out, i18n.M("ev.trace.reached", "TTL", h.TTL, "From", h.From.String(), "RTT", Dur(h.RTT)))
		default:
			out = append(out, i18n.M("ev.trace.router", "TTL", h.TTL, "From", h.From.String(), "RTT", Dur(h.RTT)))
		}
		if h.Kind != HopSilent {
			lastAnswer = &hops[i]
		}
	}
	last := hops[len(hops)-1]
	switch {
	case last.Kind == HopReached:
	case last.Kind == HopError:
		out = append(out, i18n.M("ev.trace.stops_at", "From", last.From.String()))
	case lastAnswer != nil:
		out = append(out, i18n.M("ev.trace.dies_after", "From", lastAnswer.From.String(), "TTL", lastAnswer.TTL))
	default:
		out = append(out, i18n.M("ev.trace.dies_first"))
	}
	return out
}
