// Package evidence holds what conndiag measures as plain values: connect
// results with the kernel's ICMP detail, routes and sockets of this machine,
// DNS answers, CDN and proxy findings, the protocol exchanges with the bytes
// and what they were classified as, firewall verdicts and watched SYNs.
//
// The probes and host readers fill these values; the rules (internal/verdict)
// read them. This package imports nothing of conndiag's and no package that
// does I/O, so the rules that depend on it cannot do I/O either: a test in
// internal/verdict holds that boundary.
package evidence
