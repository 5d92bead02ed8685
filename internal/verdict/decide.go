package verdict

import (
	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
)

// Decide turns the evidence for one target into an outcome and ranked
// findings; the first finding is the verdict. The way is always the same:
//
//  1. a name that resolved to nothing is judged by the DNS table;
//  2. each address by the TCP table (the path table first, when the address
//     was traced or an agent asked), or by the protocol tables once TCP
//     connected; where the path ended and what the agent said are added to
//     the first finding when a table other than the path table decided;
//  3. the first working address decides (a client that tries every address
//     gets through), else the first address; the others' findings follow, a
//     certain one only likely when another address works;
//  4. the name table adds what the name, the proxy and the CDN show, and the
//     verdict finding carries where the name's answer came from;
//  5. rank orders them; the verdict says how many addresses were not tried.
func Decide(ev Evidence) (Outcome, []Finding) {
	if len(ev.Addrs) == 0 {
		fs, _, _ := decideFirst(dnsRules, ev)
		return withName(ev, OutcomeDNSFailure, fs)
	}
	outs := make([]Outcome, len(ev.Addrs))
	per := make([][]Finding, len(ev.Addrs))
	for i, a := range ev.Addrs {
		outs[i], per[i] = decideAddr(ev, a)
		if len(per[i]) > 0 {
			per[i][0] = per[i][0].with(pathLines(a, per[i][0].Rule)...)
		}
	}
	main := 0
	for i, o := range outs {
		if o == OutcomeOK {
			main = i
			break
		}
	}
	out := outs[main]
	findings := append([]Finding(nil), per[main]...)
	for i, fs := range per {
		if i == main {
			continue
		}
		for _, f := range fs {
			f.place = PlaceOther
			if out == OutcomeOK && f.Confidence == High {
				f.Confidence = Medium // a problem of one address only
			}
			findings = append(findings, f)
		}
	}
	out, findings = withName(ev, out, findings)
	return out, withSkipped(ev, findings)
}

// The DNS table judges a name that resolved to no address. The DNS server
// asked directly names the rcode; without it, the system resolver's error.
var dnsRules = []Rule[Evidence]{
	{ID: "dns.server_said", Cause: CauseDNSFailure, Conf: High,
		When: func(ev Evidence) bool { _, _, ok := dnsFailureDetail(ev); return ok },
		Make: func(ev Evidence) Draft {
			lines, fix, _ := dnsFailureDetail(ev)
			return Draft{Args: []any{"Host", ev.Target.Host}, Lines: lines, Fix: fix}
		}, Note: "NXDOMAIN, SERVFAIL, no record, another rcode, or no answer from the resolv.conf server"},
	{ID: "dns.nxdomain", Cause: CauseDNSFailure, Conf: High,
		When: func(ev Evidence) bool { return ev.DNS.NotFound },
		Make: func(ev Evidence) Draft {
			return dnsDraft(ev, i18n.M("ev.dns.nxdomain", "Host", ev.Target.Host))
		}},
	{ID: "dns.timeout", Cause: CauseDNSFailure, Conf: High,
		When: func(ev Evidence) bool { return ev.DNS.Timeout },
		Make: func(ev Evidence) Draft {
			return dnsDraft(ev, i18n.M("ev.dns.timeout", "Host", ev.Target.Host, "Dur", Dur(ev.DNS.Duration)))
		}},
	{ID: "dns.error", Cause: CauseDNSFailure, Conf: High,
		When: func(ev Evidence) bool { return ev.DNS.Err != "" },
		Make: func(ev Evidence) Draft {
			return dnsDraft(ev, i18n.M("ev.dns.error", "Host", ev.Target.Host, "Err", ev.DNS.Err))
		}},
	{ID: "dns.no_answer", Cause: CauseDNSFailure, Conf: High, When: always[Evidence],
		Make: func(ev Evidence) Draft { return dnsDraft(ev, i18n.M("ev.dns.noanswer", "Host", ev.Target.Host)) }},
}

func dnsDraft(ev Evidence, line i18n.Msg) Draft {
	return Draft{Args: []any{"Host", ev.Target.Host}, Lines: []i18n.Msg{line}, FixArgs: FixArgs{Host: ev.Target.Host}}
}

// nameConnected: some address of the name accepted the connection.
func nameConnected(ev Evidence) bool {
	for _, a := range ev.Addrs {
		if a.Connect.Kind == evidence.OK {
			return true
		}
	}
	return false
}
