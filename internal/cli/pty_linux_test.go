//go:build linux

package cli

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// ptyPair returns a terminal and a function that returns what was written to it.
func ptyPair(t *testing.T) (*os.File, func() string) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pts: %v", err)
	}
	t.Cleanup(func() { slave.Close() })
	var mu sync.Mutex
	var got bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			got.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return slave, func() string { mu.Lock(); defer mu.Unlock(); return got.String() }
}

// openPTY returns a real terminal (the slave side of a pseudo-terminal).
func openPTY(t *testing.T) *os.File {
	tty, _ := ptyPair(t)
	return tty
}

func TestColourOnlyOnTerminalWithoutNoColor(t *testing.T) {
	tty := openPTY(t)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name    string
		out     *os.File
		env     map[string]string
		noColor bool
		want    bool
	}{
		{"terminal", tty, nil, false, true},
		{"terminal with NO_COLOR", tty, map[string]string{"NO_COLOR": "1"}, false, false},
		{"terminal with --no-color", tty, nil, true, false},
		{"pipe", os.Stderr, nil, false, false},
		{"terminal with TERM=dumb", tty, map[string]string{"TERM": "dumb"}, false, false},
	}
	for _, tt := range tests {
		g := &globals{stdout: tt.out, getenv: env(tt.env), noColor: tt.noColor, timeout: time.Second}
		if tt.out == os.Stderr {
			r, w, _ := os.Pipe()
			defer r.Close()
			defer w.Close()
			g.stdout = w
		}
		if err := g.setup(&cobra.Command{}); err != nil {
			t.Fatal(err)
		}
		if g.color != tt.want {
			t.Errorf("%s: colour %v, want %v", tt.name, g.color, tt.want)
		}
	}
}

// Golden human output for a few verdicts, built from fixed evidence.
