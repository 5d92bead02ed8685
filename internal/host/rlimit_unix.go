//go:build unix

package host

import (
	"os"
	"syscall"
)

// NoFile reads this process's descriptor limit and, where /proc or /dev/fd
// lists them, how many descriptors are open now (0 when that cannot be seen).
func NoFile() (soft, hard, open uint64, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, 0, err
	}
	soft, hard = uint64(rl.Cur), uint64(rl.Max)
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		if fds, err := os.ReadDir(dir); err == nil {
			return soft, hard, uint64(len(fds)), nil
		}
	}
	return soft, hard, 0, nil
}
