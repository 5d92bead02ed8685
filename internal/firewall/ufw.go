package firewall

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"strings"

	"github.com/conndiag/conndiag/internal/evidence"
)

// UFW is the configuration of ufw, the Uncomplicated Firewall.
type UFW struct {
	Enabled      bool   // /etc/ufw/ufw.conf ENABLED=yes: ufw loads its rules at boot
	DefaultInput string // /etc/default/ufw DEFAULT_INPUT_POLICY: DROP, REJECT or ACCEPT
	Rules        []UFWRule
	// DefaultOutput is DEFAULT_OUTPUT_POLICY (ACCEPT unless set), and
	// OutRules the user's outgoing rules ("ufw deny out ..."), in order.
	DefaultOutput string
	OutRules      []UFWRule
	// RulesErr says why user.rules could not be read (it is root's only).
	RulesErr error
}

// UFWRule is one rule of ufw (defined in internal/evidence).
type UFWRule = evidence.UFWRule

// ReadUFW reads ufw's files under fsys (the root file system); it returns
// nil when ufw is not installed.
func ReadUFW(fsys fs.FS) *UFW {
	conf, err := readConf(fsys, "etc/ufw/ufw.conf")
	if err != nil {
		return nil
	}
	u := &UFW{Enabled: strings.EqualFold(shellVar(string(conf), "ENABLED"), "yes"), DefaultInput: "DROP", DefaultOutput: "ACCEPT"}
	if def, err := readConf(fsys, "etc/default/ufw"); err == nil {
		if p := shellVar(string(def), "DEFAULT_INPUT_POLICY"); p != "" {
			u.DefaultInput = clip(strings.ToUpper(p), maxName)
		}
		if p := shellVar(string(def), "DEFAULT_OUTPUT_POLICY"); p != "" {
			u.DefaultOutput = clip(strings.ToUpper(p), maxName)
		}
	}
	for _, name := range []string{"user.rules", "user6.rules"} {
		f, err := fsys.Open("etc/ufw/" + name)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && u.RulesErr == nil {
				u.RulesErr = err
			}
			continue
		}
		in, out, err := parseUFWRules(f, name == "user6.rules")
		f.Close()
		if err != nil && u.RulesErr == nil {
			u.RulesErr = err
		}
		u.Rules = append(u.Rules, in...)
		u.OutRules = append(u.OutRules, out...)
	}
	return u
}

// shellVar reads NAME=value (optionally quoted) from a shell-style file.
func shellVar(text, name string) string {
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok && strings.TrimSpace(k) == name {
			return strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return ""
}

// ParseUFWRules reads the tuple lines of user.rules: "### tuple ### ACTION
// PROTO DPORT DST SPORT SRC [DAPP SAPP] DIRECTION [comment=HEX]".
// It returns the incoming rules; outgoing and routed ones are left out.
func ParseUFWRules(r io.Reader, v6 bool) ([]UFWRule, error) {
	in, _, err := parseUFWRules(r, v6)
	return in, err
}

// parseUFWRules reads the incoming and the outgoing rules of user.rules.
func parseUFWRules(r io.Reader, v6 bool) (in, out []UFWRule, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxRuleLine)
	for n := 1; sc.Scan(); n++ {
		rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "### tuple ###")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) > 0 && strings.HasPrefix(f[len(f)-1], "comment=") {
			f = f[:len(f)-1]
		}
		if len(f) != 6 && len(f) != 7 && len(f) != 9 {
			return in, out, fmt.Errorf("firewall: ufw rules line %d: %d fields in tuple", n, len(f))
		}
		ru := UFWRule{Action: f[0], Proto: f[1], DPort: f[2], Dst: f[3], Src: f[5], V6: v6, Tuple: clip(strings.TrimSpace(rest), maxText)}
		ru.Action, _, _ = strings.Cut(ru.Action, "_") // allow_log → allow
		dir := "in"
		if len(f) > 6 {
			dir = f[len(f)-1]
		}
		if d, iface, ok := strings.Cut(dir, "_"); ok {
			dir, ru.Iface = d, iface
		}
		switch {
		case strings.HasPrefix(ru.Action, "route:"):
			// Routed rules are for forwarded traffic.
		case dir == "in":
			in = append(in, ru)
		case dir == "out":
			ru.Out = true
			out = append(out, ru)
		}
	}
	if err := sc.Err(); err != nil {
		return in, out, fmt.Errorf("firewall: ufw rules: %w", err)
	}
	return in, out, nil
}

func anyAddr(s string) bool { return s == "0.0.0.0/0" || s == "::/0" || s == "any" }

// Decide answers what ufw's rules do with a new TCP connection to port from
// anywhere: the first rule that matches it, else the default policy (nil rule).
func (u *UFW) Decide(port uint16, v6 bool) (string, *UFWRule) {
	for i := range u.Rules {
		r := &u.Rules[i]
		if r.V6 != v6 || r.Proto != "tcp" && r.Proto != "any" || !anyAddr(r.Src) || r.Iface != "" {
			continue
		}
		if r.DPort != "any" {
			ps, err := parsePorts(r.DPort)
			if err != nil || !ps.has(port) {
				continue
			}
		}
		return r.Action, r
	}
	return strings.ToLower(u.DefaultInput), nil
}

// DecideOutput answers what ufw's rules do with a new TCP connection this
// machine opens: the first outgoing rule that matches it, else the default
// outgoing policy (nil rule, "accept", "drop" or "reject"). A rule on a
// source address or interface that c leaves unknown is passed over.
func (u *UFW) DecideOutput(c Conn) (string, *UFWRule) {
	v6 := c.Family == IPv6
	for i := range u.OutRules {
		r := &u.OutRules[i]
		if r.V6 != v6 || r.Proto != "tcp" && r.Proto != "any" {
			continue
		}
		if r.Iface != "" && r.Iface != c.OutIface || !ufwAddrHas(r.Dst, c.Dst) || !ufwAddrHas(r.Src, c.Src) {
			continue
		}
		if r.DPort != "any" {
			ps, err := parsePorts(r.DPort)
			if err != nil || !ps.has(c.Port) {
				continue
			}
		}
		return r.Action, r
	}
	return strings.ToLower(u.DefaultOutput), nil
}

// ufwAddrHas reports whether a tuple's address (any, an address or a
// network) holds a; an unknown a is held only by any.
func ufwAddrHas(spec string, a netip.Addr) bool {
	if anyAddr(spec) {
		return true
	}
	if !a.IsValid() {
		return false
	}
	as, err := parseAddrSpec(spec, false)
	return err == nil && as.contains(a)
}
