package verdict

import (
	"strings"

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
