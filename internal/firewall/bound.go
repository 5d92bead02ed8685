package firewall

import (
	"io"
	"io/fs"
	"unicode/utf8"
)

// Bounds on what is kept of outside text. The strings are kept raw (they
// are escaped where they are shown); these only bound their size.
const (
	// maxText bounds a rule's text, a ufw tuple or a note as kept; real
	// ones are far shorter (an iptables comment is at most 256 bytes).
	maxText = 2048
	// maxName bounds a table, chain or set name (nft's limit is 256 bytes,
	// iptables' 28).
	maxName = 256
)

// maxConf bounds a configuration file read whole (ufw.conf,
// /etc/default/ufw, firewalld.conf): real ones are a few KiB.
const maxConf = 64 << 10

// readConf reads at most maxConf bytes of a configuration file.
func readConf(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxConf))
}

// clip cuts s to at most n bytes on a character boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
