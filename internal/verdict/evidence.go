package verdict

import "github.com/conndiag/conndiag/internal/evidence"

// The evidence types are defined in internal/evidence; these names keep the rules readable.
type (
	Evidence     = evidence.Evidence
	DNS          = evidence.DNS
	PortProbe    = evidence.PortProbe
	AddrEvidence = evidence.AddrEvidence
	Whoami       = evidence.Whoami
	Limit        = evidence.Limit
	// OutgoingEvidence is this machine's own OUTPUT rules walked for a connection.
	OutgoingEvidence = evidence.OutgoingEvidence
)
