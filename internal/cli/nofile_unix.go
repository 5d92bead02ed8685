//go:build unix

package cli

import "syscall"

// minNoFile is what the Go runtime itself needs (stdio, epoll, eventfd) plus
// one socket; below it the runtime aborts with a stack trace on first use.
const minNoFile = 7

// noFileTooLow reports the soft descriptor limit when it is below minNoFile.
func noFileTooLow() (uint64, bool) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, false
	}
	if rl.Cur >= minNoFile {
		return uint64(rl.Cur), false
	}
	if rl.Max >= minNoFile {
		rl.Cur = minNoFile
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
			return 0, false
		}
	}
	return uint64(rl.Cur), true
}
