package dnsprobe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/conndiag/conndiag/internal/evidence"
)

// HostsEntry is what the hosts file says about one name.
type HostsEntry = evidence.HostsEntry

// maxHostsLine bounds one line; longer lines are skipped like garbage.
const maxHostsLine = 64 << 10

// ReadHosts looks name up in the hosts file at path; nil when it is not there
// or the file does not exist.
func ReadHosts(path, name string) (*HostsEntry, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return LookupHosts(f, path, name)
}

// LookupHosts reads a hosts file from r and returns the entry for name
// (case-insensitive, trailing dot ignored), or nil. Like the Go and glibc
// resolvers it skips lines whose first field is not an address.
func LookupHosts(r io.Reader, file, name string) (*HostsEntry, error) {
	want := normName(name)
	if want == "" {
		return nil, nil
	}
	var e *HostsEntry
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := readLine(br)
		if line != "" {
			raw := line
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = line[:i]
			}
			f := strings.Fields(line)
			if len(f) >= 2 {
				if a, perr := netip.ParseAddr(f[0]); perr == nil {
					for _, h := range f[1:] {
						if normName(h) != want {
							continue
						}
						if e == nil {
							e = &HostsEntry{File: file, Line: n, Text: clip(strings.TrimSpace(raw), 200)}
						}
						e.Lines++
						a = a.WithZone("").Unmap()
						if !containsAddr(e.Addrs, a) {
							e.Addrs = append(e.Addrs, a)
						}
						break
					}
				}
			}
		}
		if err == io.EOF {
			return e, nil
		}
		if err != nil {
			return e, fmt.Errorf("reading %s: %w", file, err)
		}
	}
}

// readLine returns one line without its end; an over-long line is returned empty.
func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if len(b)+len(chunk) <= maxHostsLine {
			b = append(b, chunk...)
		} else {
			b = b[:0:0]
			for isPrefix && err == nil {
				_, isPrefix, err = br.ReadLine()
			}
			return "", err
		}
		if !isPrefix || err != nil {
			return string(b), err
		}
	}
}

func normName(s string) string { return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), ".")) }

func containsAddr(as []netip.Addr, a netip.Addr) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
