//go:build !unix

package host

// NoFile is not available here: Windows has no per-process descriptor limit
// of this kind (sockets are bounded by memory and the dynamic port range).
func NoFile() (soft, hard, open uint64, err error) { return 0, 0, 0, ErrUnsupported }
