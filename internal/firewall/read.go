package firewall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Snapshot is everything read about this host's firewall.
type Snapshot struct {
	Rules Ruleset
	// Read names the sources that were read ("iptables-nft-save", "nft -j list ruleset", ...).
	Read []string
	// Problems are the sources that exist but could not be read.
	Problems  []Problem
	UFW       *UFW       // nil when ufw is not installed
	Firewalld *Firewalld // nil when firewalld is not installed
	// FirewalldRunning: a firewalld process runs (its rules are then in the rule set).
	FirewalldRunning bool
	// legacyNamed: the legacy back end's commands carry the -legacy suffix.
	legacyNamed bool
}

// Problem is a source that could not be read.
type Problem struct {
	What     string // the command or file
	Err      string // what went wrong, in the tool's words
	NeedRoot bool   // it needs root (CAP_NET_ADMIN)
}

// Reader reads the firewall; the zero value reads this host.
type Reader struct {
	// Root is the file system root for ufw and firewalld files; "" is "/".
	Root string
	// Timeout bounds each command; zero means 5 s.
	Timeout time.Duration
	// LookPath finds commands; nil means exec.LookPath.
	LookPath func(string) (string, error)
	// Netns, when set, names a network namespace (as `ip netns` lists it)
	// whose rules are read instead of this process's: every command runs
	// under `ip netns exec NAME`. Tests use it; it needs root.
	Netns string
}

type cmdOut struct {
	stdout, stderr []byte
	err            error
}

// Read gathers the rule sets of every back end in use, concurrently.
// running is the set of command names of running processes (to tell
// whether firewalld runs); it may be nil.
func (rd Reader) Read(ctx context.Context, running map[string]bool) *Snapshot {
	if rd.Timeout <= 0 {
		rd.Timeout = 5 * time.Second
	}
	look := rd.LookPath
	if look == nil {
		look = exec.LookPath
	}
	root := rd.Root
	if root == "" {
		root = "/"
	}
	snap := &Snapshot{FirewalldRunning: running["firewalld"]}

	type job struct {
		name    string
		argv    []string
		backend string // for iptables-save jobs
		family  string
	}
	var jobs []job
	has := func(name string) bool { _, err := look(name); return err == nil }
	legacyLoaded := func(v6 bool) bool {
		f := "/proc/net/ip_tables_names"
		if v6 {
			f = "/proc/net/ip6_tables_names"
		}
		if rd.Netns != "" {
			// /proc/net is the reading process's namespace's.
			o := rd.run(ctx, []string{"cat", f})
			return o.err == nil && len(bytes.TrimSpace(o.stdout)) > 0
		}
		b, err := os.ReadFile(f)
		return err == nil && len(bytes.TrimSpace(b)) > 0
	}
	for _, v6 := range []bool{false, true} {
		pre, fam := "iptables", "ip"
		if v6 {
			pre, fam = "ip6tables", "ip6"
		}
		nftName, legacyName := pre+"-nft-save", pre+"-legacy-save"
		switch {
		case has(nftName):
			jobs = append(jobs, job{nftName, []string{nftName, "-c"}, BackendIptablesNft, fam})
		case has(pre+"-save") && !has(legacyName):
			// Only one variant installed: ask which.
			if out := rd.run(ctx, []string{pre + "-save", "--version"}); bytes.Contains(out.stdout, []byte("nf_tables")) {
				jobs = append(jobs, job{pre + "-save", []string{pre + "-save", "-c"}, BackendIptablesNft, fam})
			} else {
				legacyName = pre + "-save"
			}
		}
		if has(legacyName) && legacyLoaded(v6) {
			jobs = append(jobs, job{legacyName, []string{legacyName, "-c"}, BackendIptablesLegacy, fam})
			snap.legacyNamed = snap.legacyNamed || strings.HasSuffix(legacyName, "-legacy-save")
		}
	}
	nft := has("nft")

	outs := make([]cmdOut, len(jobs))
	var nftJSON, nftText cmdOut
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() { defer wg.Done(); outs[i] = rd.run(ctx, j.argv) }()
	}
	if nft {
		wg.Add(2)
		go func() { defer wg.Done(); nftJSON = rd.run(ctx, []string{"nft", "-j", "list", "ruleset"}) }()
		go func() { defer wg.Done(); nftText = rd.run(ctx, []string{"nft", "-a", "list", "ruleset"}) }()
	}
	wg.Wait()

	// Tables iptables-nft printed are evaluated from its output, not nft's.
	iptOwned := map[tableKey]bool{}
	for i, j := range jobs {
		o := outs[i]
		if o.err != nil {
			snap.Problems = append(snap.Problems, problem(strings.Join(j.argv, " "), o))
			continue
		}
		tables, err := ParseIptablesSave(bytes.NewReader(o.stdout), j.backend, j.family)
		if err != nil {
			snap.Problems = append(snap.Problems, Problem{What: strings.Join(j.argv, " "), Err: err.Error()})
			continue
		}
		bad := incompatibleTables(o.stdout)
		for _, t := range tables {
			if bad[t.Name] {
				continue // a native nft table iptables-nft cannot show: nft's JSON has it
			}
			snap.Rules.Tables = append(snap.Rules.Tables, t)
			if j.backend == BackendIptablesNft {
				iptOwned[tableKey{j.family, t.Name}] = true
			}
		}
		snap.Read = append(snap.Read, strings.Join(j.argv, " "))
	}
	if nft {
		if nftJSON.err != nil {
			snap.Problems = append(snap.Problems, problem("nft -j list ruleset", nftJSON))
		} else {
			var text io.Reader
			if nftText.err == nil {
				text = bytes.NewReader(nftText.stdout)
			}
			tables, err := parseNftJSON(bytes.NewReader(nftJSON.stdout), text, func(f, t string) bool { return iptOwned[tableKey{f, t}] }, true)
			if err != nil {
				snap.Problems = append(snap.Problems, Problem{What: "nft -j list ruleset", Err: err.Error()})
			} else {
				snap.Rules.Tables = append(snap.Rules.Tables, tables...)
				snap.Read = append(snap.Read, "nft -j list ruleset")
			}
		}
	}
	fsys := os.DirFS(root)
	snap.UFW = ReadUFW(fsys)
	if snap.UFW != nil && snap.UFW.RulesErr != nil && errors.Is(snap.UFW.RulesErr, fs.ErrPermission) {
		snap.Problems = append(snap.Problems, Problem{What: "/etc/ufw/user.rules", Err: snap.UFW.RulesErr.Error(), NeedRoot: true})
	}
	snap.Firewalld = ReadFirewalld(fsys)
	return snap
}

var incompatibleRe = regexp.MustCompile("# Table `([^']+)' (?:is incompatible|contains incompatible)")

func incompatibleTables(out []byte) map[string]bool {
	m := map[string]bool{}
	for _, s := range incompatibleRe.FindAllSubmatch(out, -1) {
		m[string(s[1])] = true
	}
	return m
}

func (rd Reader) run(ctx context.Context, argv []string) cmdOut {
	ctx, cancel := context.WithTimeout(ctx, rd.Timeout)
	defer cancel()
	if rd.Netns != "" {
		argv = append([]string{"ip", "netns", "exec", rd.Netns}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	o, e := &capped{max: maxCmdOutput}, &capped{max: maxCmdStderr}
	cmd.Stdout, cmd.Stderr = o, e
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	err := cmd.Run()
	if ctx.Err() != nil && err != nil {
		err = fmt.Errorf("%w (%v)", err, ctx.Err())
	}
	if err == nil && o.over {
		err = fmt.Errorf("output larger than %d bytes", maxCmdOutput)
		e.b.Reset()
		e.b.WriteString(err.Error())
	}
	return cmdOut{o.b.Bytes(), e.b.Bytes(), err}
}

// Bounds on what a command may print: the largest real rule sets
// (Kubernetes nodes) print a few tens of MiB.
const (
	maxCmdOutput = maxNftJSON
	maxCmdStderr = 64 << 10
)

// capped keeps the first max bytes written to it and drops the rest.
type capped struct {
	b    bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.b.Len(); len(p) > room {
		c.b.Write(p[:max(room, 0)])
		c.over = true
		return len(p), nil
	}
	return c.b.Write(p)
}

func problem(what string, o cmdOut) Problem {
	msg := strings.TrimSpace(string(o.stderr))
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	msg = clip(msg, maxText)
	if msg == "" {
		msg = o.err.Error()
	}
	low := strings.ToLower(msg)
	return Problem{What: what, Err: msg, NeedRoot: strings.Contains(low, "permission denied") ||
		strings.Contains(low, "must be root") || strings.Contains(low, "operation not permitted")}
}
