package evidence

import (
	"net/netip"
	"strconv"
	"time"
)

// NoResponse is DNSAnswer.Rcode when the server never answered.
const NoResponse = -1

// DNSAddr is an address of a DNS answer and the TTL it came with.
type DNSAddr struct {
	IP  netip.Addr
	TTL uint32
}

// DNSAnswer is what one DNS server said about a name (A and AAAA together).
type DNSAnswer struct {
	Server   string // host:port asked
	Name     string // the fully qualified name asked
	Rcode    int    // 0 NOERROR, 3 NXDOMAIN, ...; NoResponse when none came
	Err      string // why no response came (timeout, connection refused, ...)
	Timeout  bool
	Chain    []string  // the CNAME targets after Name, in order
	Addrs    []DNSAddr // A then AAAA records at the end of the chain
	Duration time.Duration
}

// Responded reports whether the server answered at all.
func (a DNSAnswer) Responded() bool { return a.Rcode != NoResponse }

// rcodeNames are the DNS RCODEs by number (RFC 1035, 2136, 6891, 7873, 8490).
var rcodeNames = map[int]string{
	0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
	6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE", 11: "DSOTYPENI",
	16: "BADSIG", 17: "BADKEY", 18: "BADTIME", 19: "BADMODE", 20: "BADNAME", 21: "BADALG",
	22: "BADTRUNC", 23: "BADCOOKIE",
}

// RcodeName is "NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED", ..., or "" without a response.
func (a DNSAnswer) RcodeName() string {
	if !a.Responded() {
		return ""
	}
	if s, ok := rcodeNames[a.Rcode]; ok {
		return s
	}
	return "RCODE" + strconv.Itoa(a.Rcode)
}

// NoAnswer: the name exists (NOERROR) but has no address record.
func (a DNSAnswer) NoAnswer() bool { return a.Rcode == 0 && len(a.Addrs) == 0 }

// IPs are the answer's addresses without TTLs.
func (a DNSAnswer) IPs() []netip.Addr {
	out := make([]netip.Addr, 0, len(a.Addrs))
	for _, x := range a.Addrs {
		out = append(out, x.IP)
	}
	return out
}

// HostsEntry is what the hosts file says about one name.
type HostsEntry struct {
	File  string
	Line  int    // the first line that names it
	Text  string // that line, trimmed (at most 200 bytes)
	Lines int    // how many lines name it
	Addrs []netip.Addr
}
