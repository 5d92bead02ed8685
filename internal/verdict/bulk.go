package verdict

import (
	"strings"
	"syscall"

	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/i18n"
)

// Bounds on what one diagnosis shows: a name with hundreds of addresses, or
// conndiag's own descriptor limit, must not turn into a wall of text or a
// finding about the target.

// maxListed bounds the items one evidence line lists.
const maxListed = 8

// listArg joins items for one line of evidence: at most maxListed of them,
// then "and N more". It is a string, or a message when it had to cut.
func listArg(items []string) any {
	if len(items) <= maxListed {
		return strings.Join(items, ", ")
	}
	return i18n.M("bulk.list.more", "List", strings.Join(items[:maxListed], ", "), "N", len(items)-maxListed)
}

// MaxTried is how many addresses of one name diagnose tries (diagnose.MaxAddrs).
const MaxTried = 16

// withSkipped says, on the verdict, how many of the name's addresses were
// not tried: diagnose tries at most MaxTried of them.
func withSkipped(ev Evidence, fs []Finding) []Finding {
	n, tried := len(ev.DNS.Addresses), len(ev.Addrs)
	if len(fs) == 0 || tried == 0 || n <= tried {
		return fs
	}
	fs[0] = fs[0].with(i18n.M("bulk.ev.addrs_capped", "Host", ev.Target.Host, "N", n, "Tried", tried, "Max", MaxTried, "Skipped", n-tried))
	return fs
}

// fdExhausted: the connect failed with EMFILE or ENFILE. In check the
// process out of descriptors is conndiag itself, so the finding says so and
// says nothing about the target: the socket was never made.
func fdExhausted(a AddrEvidence) Finding {
	c := a.Connect
	if c.Errno == syscall.ENFILE {
		f := newFinding(CauseFDExhausted, High).with(connectLine(a))
		return f.fix(i18n.M("cause.fd_exhausted.fix"), i18n.Cmd("sysctl fs.file-nr fs.file-max"))
	}
	f := newFinding(CauseFDExhausted, High)
	f.Summary = i18n.M("bulk.fd_own.summary", "Addr", a.Addr.String())
	f = f.with(connectLine(a))
	if a.NoFile != nil {
		f = f.with(i18n.M("ev.nofile", "Soft", a.NoFile.Soft, "Hard", a.NoFile.Hard, "Open", a.NoFile.Open))
	}
	f = f.with(i18n.M("bulk.ev.fd_own"))
	want := uint64(4096)
	if a.NoFile != nil && a.NoFile.Soft != host.Unlimited {
		want = max(want, 2*a.NoFile.Soft)
	}
	f = f.fix(i18n.M("bulk.fd_own.fix"), i18n.Cmd("ulimit -n %d", want))
	if a.NoFile != nil && a.NoFile.Hard != host.Unlimited && want > a.NoFile.Hard {
		f = f.fix(i18n.M("bulk.fd_own.fix_hard", "Hard", a.NoFile.Hard))
	}
	return f
}
