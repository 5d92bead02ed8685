package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// procRoot is where ScanProcs looks for processes.
var procRoot = "/proc"

// ScanProcs walks /proc/*/fd once and finds the processes holding the
// socket inodes in want. It costs one readlink per open descriptor on the
// machine, so callers gather every inode first and call it once.
func ScanProcs(want map[uint64]bool) (ProcScan, error) {
	ps := ProcScan{Owners: map[uint64][]Owner{}, Running: map[string]bool{}}
	d, err := os.Open(procRoot)
	if err != nil {
		return ps, fmt.Errorf("host: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return ps, fmt.Errorf("host: %w", err)
	}
	buf := make([]byte, 64)
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 {
			continue
		}
		ps.Processes++
		comm := readComm(pid)
		if comm != "" {
			ps.Running[comm] = true
		}
		fds, held, err := scanFDs(pid, want, buf)
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				ps.Denied++
			}
			continue // the process exited, or is not ours to read
		}
		if len(held) == 0 {
			continue
		}
		o := Owner{PID: pid, Process: comm, FDs: fds}
		if lim, err := readNoFile(pid); err == nil {
			o.NoFile = &lim
		}
		for _, ino := range held {
			ps.Owners[ino] = append(ps.Owners[ino], o)
		}
	}
	return ps, nil
}

// scanFDs counts pid's descriptors and returns the wanted socket inodes among them.
func scanFDs(pid int, want map[uint64]bool, buf []byte) (int, []uint64, error) {
	dir := procRoot + "/" + strconv.Itoa(pid) + "/fd"
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	f := os.NewFile(uintptr(dfd), dir)
	defer f.Close()
	fds, err := f.Readdirnames(-1)
	if err != nil {
		return 0, nil, err
	}
	var held []uint64
	if len(want) == 0 {
		return len(fds), nil, nil
	}
	for _, fd := range fds {
		n, err := unix.Readlinkat(dfd, fd, buf)
		if err != nil || n >= len(buf) {
			continue
		}
		if ino, ok := socketInode(buf[:n]); ok && want[ino] {
			held = append(held, ino)
		}
	}
	return len(fds), held, nil
}

// socketInode parses a descriptor link "socket:[12345]".
func socketInode(b []byte) (uint64, bool) {
	s, ok := strings.CutPrefix(string(b), "socket:[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	ino, err := strconv.ParseUint(s, 10, 64)
	return ino, err == nil
}

func readComm(pid int) string {
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func readNoFile(pid int) (Rlimit, error) {
	f, err := os.Open(procRoot + "/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		return Rlimit{}, err
	}
	defer f.Close()
	return ParseLimits(f)
}

// ReadTCPCounters reads the calling thread's namespace's counters from
// /proc/net/netstat, /proc/net/snmp and /proc/net/sockstat.
func ReadTCPCounters() (TCPCounters, error) {
	dir := "thread-self/net"
	if _, err := fs.Stat(procFS, dir); err != nil {
		dir = "self/net"
	}
	var parsed [3]map[string]map[string]int64
	for i, name := range []string{"netstat", "snmp", "sockstat"} {
		f, err := procFS.Open(dir + "/" + name)
		if err != nil {
			return TCPCounters{}, fmt.Errorf("host: %w", err)
		}
		if name == "sockstat" {
			parsed[i], err = ParseSockstat(f)
		} else {
			parsed[i], err = ParseSNMP(f)
		}
		f.Close()
		if err != nil {
			return TCPCounters{}, err
		}
	}
	return countersFrom(parsed[0], parsed[1], parsed[2]), nil
}
