package neterr

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// What a connect meets on each system, by number: the classification of
// Windows, macOS and FreeBSD runs here like Linux's.
func TestErrnoKind(t *testing.T) {
	tests := []struct {
		goos string
		n    uintptr
		name string
		kind Kind
	}{
		// Windows: Winsock codes.
		{"windows", 10061, "WSAECONNREFUSED", Refused},
		{"windows", 10060, "WSAETIMEDOUT", Timeout},
		{"windows", 10065, "WSAEHOSTUNREACH", HostUnreachable},
		{"windows", 10064, "WSAEHOSTDOWN", HostUnreachable},
		{"windows", 10051, "WSAENETUNREACH", NetUnreachable},
		{"windows", 10050, "WSAENETDOWN", NetUnreachable},
		{"windows", 10049, "WSAEADDRNOTAVAIL", AddrNotAvailable},
		{"windows", 10048, "WSAEADDRINUSE", AddrInUse},
		{"windows", 10055, "WSAENOBUFS", Other}, // port exhaustion on Windows: a rule of its own, not a Kind
		{"windows", 10013, "WSAEACCES", PermissionDenied},
		{"windows", 10024, "WSAEMFILE", TooManyFiles},
		{"windows", 10054, "WSAECONNRESET", Reset},
		{"windows", 10022, "WSAEINVAL", InvalidArgument},
		{"windows", 10053, "WSAECONNABORTED", Other},
		// Windows: Win32 codes an overlapped connect may end with.
		{"windows", 1225, "ERROR_CONNECTION_REFUSED", Refused},
		{"windows", 1232, "ERROR_HOST_UNREACHABLE", HostUnreachable},
		{"windows", 1231, "ERROR_NETWORK_UNREACHABLE", NetUnreachable},
		{"windows", 1234, "ERROR_PORT_UNREACHABLE", Refused},
		{"windows", 121, "ERROR_SEM_TIMEOUT", Timeout},
		{"windows", 64, "ERROR_NETNAME_DELETED", Reset},
		{"windows", 111, "", Other}, // Linux's ECONNREFUSED means nothing on Windows
		// macOS and FreeBSD: the BSD numbers.
		{"darwin", 61, "ECONNREFUSED", Refused},
		{"darwin", 60, "ETIMEDOUT", Timeout},
		{"darwin", 65, "EHOSTUNREACH", HostUnreachable},
		{"darwin", 64, "EHOSTDOWN", HostUnreachable},
		{"darwin", 51, "ENETUNREACH", NetUnreachable},
		{"darwin", 49, "EADDRNOTAVAIL", AddrNotAvailable},
		{"darwin", 48, "EADDRINUSE", AddrInUse},
		{"darwin", 24, "EMFILE", TooManyFiles},
		{"darwin", 23, "ENFILE", TooManyFiles},
		{"darwin", 13, "EACCES", PermissionDenied},
		{"darwin", 1, "EPERM", PermissionDenied},
		{"darwin", 54, "ECONNRESET", Reset},
		{"darwin", 55, "ENOBUFS", Other},
		{"darwin", 100, "EPROTO", Other},
		{"darwin", 111, "", Other},
		{"freebsd", 61, "ECONNREFUSED", Refused},
		{"freebsd", 49, "EADDRNOTAVAIL", AddrNotAvailable},
		{"freebsd", 92, "EPROTO", Other},
		{"ios", 61, "ECONNREFUSED", Refused},
		// Linux.
		{"linux", 111, "ECONNREFUSED", Refused},
		{"linux", 110, "ETIMEDOUT", Timeout},
		{"linux", 113, "EHOSTUNREACH", HostUnreachable},
		{"linux", 101, "ENETUNREACH", NetUnreachable},
		{"linux", 99, "EADDRNOTAVAIL", AddrNotAvailable},
		{"linux", 98, "EADDRINUSE", AddrInUse},
		{"linux", 24, "EMFILE", TooManyFiles},
		{"linux", 23, "ENFILE", TooManyFiles},
		{"linux", 13, "EACCES", PermissionDenied},
		{"linux", 104, "ECONNRESET", Reset},
		{"linux", 22, "EINVAL", InvalidArgument},
		{"linux", 61, "", Other}, // ENODATA: not a socket error
		{"linux", 0, "", OK},
		{"plan9", 61, "", Other},
	}
	for _, tt := range tests {
		if got := ErrnoName(tt.goos, tt.n); got != tt.name {
			t.Errorf("ErrnoName(%s, %d) = %q, want %q", tt.goos, tt.n, got, tt.name)
		}
		if got := ErrnoKind(tt.goos, tt.n); got != tt.kind {
			t.Errorf("ErrnoKind(%s, %d) = %q, want %q", tt.goos, tt.n, got, tt.kind)
		}
	}
}

func TestPortableName(t *testing.T) {
	for in, want := range map[string]string{
		"WSAECONNREFUSED": "ECONNREFUSED", "WSAEADDRINUSE": "EADDRINUSE", "ERROR_HOST_UNREACHABLE": "EHOSTUNREACH",
		"ECONNREFUSED": "ECONNREFUSED", "WSASYSNOTREADY": "SYSNOTREADY", "": "",
	} {
		if got := PortableName(in); got != want {
			t.Errorf("PortableName(%q) = %q, want %q", in, got, want)
		}
	}
}

// The tables agree with golang.org/x/sys, which is generated from each
// system's own headers: a number typed wrong here fails on any machine.
func TestErrnoTablesMatchXSys(t *testing.T) {
	dir := xsysDir(t)
	files := map[string][]string{
		"linux":   {"unix/zerrors_linux.go", "unix/zerrors_linux_amd64.go", "unix/zerrors_linux_arm64.go"},
		"darwin":  {"unix/zerrors_darwin_amd64.go", "unix/zerrors_darwin_arm64.go"},
		"freebsd": {"unix/zerrors_freebsd_amd64.go", "unix/zerrors_freebsd_arm64.go"},
		"windows": {"windows/zerrors_windows.go", "windows/types_windows.go"},
	}
	def := regexp.MustCompile(`(?m)^\s*([A-Z][A-Z0-9_]+)\s+(?:=\s*syscall\.Errno\(|syscall\.Errno\s*=\s*)(0x[0-9a-f]+|\d+)`)
	for goos, fs := range files {
		// Every file of one system (amd64, arm64) must give each name the same number.
		perFile := map[string]map[string]uint64{}
		for _, f := range fs {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			m := map[string]uint64{}
			for _, d := range def.FindAllStringSubmatch(string(b), -1) {
				n, err := strconv.ParseUint(d[2], 0, 64)
				if err != nil {
					t.Fatalf("%s: %s = %s: %v", f, d[1], d[2], err)
				}
				m[d[1]] = n
			}
			perFile[f] = m
		}
		for n, name := range errnoTable(goos) {
			found := false
			for f, m := range perFile {
				v, ok := m[name]
				if !ok {
					continue
				}
				found = true
				if v != uint64(n) {
					t.Errorf("%s: %s is %d in %s, the table says %d", goos, name, v, f, n)
				}
			}
			if !found {
				t.Errorf("%s: %s (%d) is in none of %s", goos, name, n, strings.Join(fs, ", "))
			}
		}
	}
}

// xsysDir is where the module cache holds golang.org/x/sys.
func xsysDir(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not on PATH: cannot find golang.org/x/sys")
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/sys").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("golang.org/x/sys is not in the module cache (go list: %v)", err)
	}
	return dir
}
