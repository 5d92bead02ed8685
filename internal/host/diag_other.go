//go:build !linux

package host

// DiagTCP is Linux-only.
func DiagTCP(mask uint32) ([]DiagSocket, error) { return nil, ErrUnsupported }

// TCPDiagOrProc is Linux-only.
func TCPDiagOrProc(mask uint32) ([]DiagSocket, bool, error) { return nil, false, ErrUnsupported }

// ScanProcs is Linux-only.
func ScanProcs(want map[uint64]bool) (ProcScan, error) { return ProcScan{}, ErrUnsupported }

// ReadTCPCounters is Linux-only.
func ReadTCPCounters() (TCPCounters, error) { return TCPCounters{}, ErrUnsupported }
