package neterr

import "github.com/conndiag/conndiag/internal/evidence"

// sock_extended_err origins (SO_EE_ORIGIN_*).
const (
	OriginNone  = evidence.OriginNone
	OriginLocal = evidence.OriginLocal
	OriginICMP  = evidence.OriginICMP
	OriginICMP6 = evidence.OriginICMP6
)

// ICMP is one entry of the socket error queue.
type ICMP = evidence.ICMP
