// Package dnsprobe gathers the DNS evidence of a name: which source the
// system resolver takes it from (the hosts file, with its line, or the DNS
// servers of resolv.conf), the CNAME chain, every address with its TTL, and
// the rcode of a failure. It asks servers directly with github.com/miekg/dns
// so a diagnosis can compare the system's answer with another resolver's.
package dnsprobe

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"

	"github.com/miekg/dns"
)

// Default file locations (ip netns exec bind-mounts /etc/netns/NAME/* over them).
const (
	HostsFile  = "/etc/hosts"
	ResolvConf = "/etc/resolv.conf"
)

// MaxChain bounds a CNAME chain, so a loop or a hostile answer ends.
const MaxChain = 16

// NoResponse is Answer.Rcode when the server never answered.
const NoResponse = evidence.NoResponse

// Addr is an address of the answer and the TTL it came with.
type Addr = evidence.DNSAddr

// Answer is what one DNS server said about a name (A and AAAA together).
type Answer = evidence.DNSAnswer

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// Query asks server (host:port) for the A and AAAA records of name, at the
// same time, and merges the two answers. UDP first; TCP when truncated.
func Query(ctx context.Context, server, name string) Answer {
	fqdn := dns.Fqdn(name)
	start := time.Now()
	type res struct {
		m   *dns.Msg
		err error
	}
	ch := make(chan res, 2)
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		go func() {
			m, err := exchange(ctx, server, fqdn, qt)
			ch <- res{m, err}
		}()
	}
	var msgs []*dns.Msg
	var errs []error
	for range 2 {
		r := <-ch
		if r.err != nil {
			errs = append(errs, r.err)
		} else {
			msgs = append(msgs, r.m)
		}
	}
	a := merge(fqdn, msgs, errs)
	a.Server = server
	a.Duration = time.Since(start)
	return a
}

func exchange(ctx context.Context, server, fqdn string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(fqdn, qtype)
	q.RecursionDesired = true
	c := &dns.Client{Net: "udp", UDPSize: dns.DefaultMsgSize}
	if dl, ok := ctx.Deadline(); ok {
		c.Timeout = time.Until(dl)
		if c.Timeout <= 0 {
			return nil, context.DeadlineExceeded
		}
	}
	q.SetEdns0(dns.DefaultMsgSize, false)
	m, _, err := c.ExchangeContext(ctx, q, server)
	if err == nil && m.Truncated {
		c.Net = "tcp"
		m, _, err = c.ExchangeContext(ctx, q, server)
	}
	return m, err
}

// merge joins the A and AAAA answers into one.
func merge(fqdn string, msgs []*dns.Msg, errs []error) Answer {
	a := Answer{Name: fqdn, Rcode: NoResponse}
	if len(msgs) == 0 {
		if len(errs) > 0 {
			a.Err = errText(errs[0])
			a.Timeout = isTimeout(errs[0])
		}
		return a
	}
	rank := func(rc int) int {
		switch rc {
		case dns.RcodeNameError:
			return 3 // the name does not exist: decisive for both types
		case dns.RcodeServerFailure:
			return 2
		case dns.RcodeSuccess:
			return 0
		}
		return 1
	}
	seen := map[netip.Addr]bool{}
	for _, m := range msgs {
		chain, addrs := Extract(m, fqdn)
		if len(chain) > len(a.Chain) {
			a.Chain = chain
		}
		// A hostile or sloppy server may put AAAA records in the A answer
		// too: each address once.
		for _, x := range addrs {
			if !seen[x.IP] {
				seen[x.IP] = true
				a.Addrs = append(a.Addrs, x)
			}
		}
		if a.Rcode == NoResponse || rank(m.Rcode) > rank(a.Rcode) {
			a.Rcode = m.Rcode
		}
	}
	if len(a.Addrs) > 0 {
		a.Rcode = dns.RcodeSuccess
	}
	// A before AAAA, whatever order the answers came in.
	var v4, v6 []Addr
	for _, x := range a.Addrs {
		if x.IP.Is4() {
			v4 = append(v4, x)
		} else {
			v6 = append(v6, x)
		}
	}
	a.Addrs = append(v4, v6...)
	return a
}

// Extract follows the CNAME chain from qname through the answer section and
// returns the chain and the A/AAAA records at its end. It trusts nothing in
// m: loops and chains longer than MaxChain end the walk.
func Extract(m *dns.Msg, qname string) (chain []string, addrs []Addr) {
	if m == nil {
		return nil, nil
	}
	cur := strings.ToLower(dns.Fqdn(qname))
	seen := map[string]bool{cur: true}
	for len(chain) < MaxChain {
		next := ""
		for _, rr := range m.Answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, cur) {
				next = strings.ToLower(dns.Fqdn(c.Target))
				break
			}
		}
		if next == "" || seen[next] {
			break
		}
		seen[next] = true
		chain = append(chain, next)
		cur = next
	}
	have := map[netip.Addr]bool{}
	for _, rr := range m.Answer {
		var ip net.IP
		switch r := rr.(type) {
		case *dns.A:
			if strings.EqualFold(r.Hdr.Name, cur) {
				ip = r.A
			}
		case *dns.AAAA:
			if strings.EqualFold(r.Hdr.Name, cur) {
				ip = r.AAAA
			}
		}
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			continue
		}
		a = a.Unmap()
		if !have[a] {
			have[a] = true
			addrs = append(addrs, Addr{IP: a, TTL: rr.Header().Ttl})
		}
	}
	return chain, addrs
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// errText shortens transport errors to their cause ("connection refused", "i/o timeout").
func errText(err error) string {
	if isTimeout(err) {
		return "no answer (timeout)"
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		s := oe.Err.Error()
		if i := strings.LastIndex(s, ": "); i >= 0 {
			s = s[i+2:]
		}
		return s
	}
	return err.Error()
}

// Conf is the part of resolv.conf the system resolver uses.
type Conf struct {
	Servers  []string // host:port, in order
	Search   []string
	Ndots    int
	Timeout  time.Duration // per query
	Attempts int
	Missing  bool // the file did not exist: Go then asks 127.0.0.1 and ::1
}

// Bounds on resolv.conf, as glibc applies them (resolv.h): at most three
// servers, a timeout of at most 30 s, at most 5 attempts, 6 search domains.
const (
	maxServers  = 3
	maxTimeout  = 30 * time.Second
	maxAttempts = 5
	maxSearch   = 6
	// maxConfBytes bounds what is read of the file.
	maxConfBytes = 64 << 10
)

// ReadConf reads a resolv.conf. Lines that are not IP nameservers are
// skipped, as the Go resolver does.
func ReadConf(path string) (Conf, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Conf{Servers: []string{"127.0.0.1:53", "[::1]:53"}, Ndots: 1, Timeout: 5 * time.Second, Attempts: 2, Missing: true}, nil
	}
	if err != nil {
		return Conf{}, err
	}
	defer f.Close()
	return ParseConf(io.LimitReader(f, maxConfBytes))
}

// ParseConf parses resolv.conf text. Values out of glibc's bounds are
// clamped to them: "options timeout:9999999999" must not wrap into a
// negative duration that makes every query fail at once.
func ParseConf(r io.Reader) (Conf, error) {
	cc, err := dns.ClientConfigFromReader(r)
	if err != nil {
		return Conf{}, err
	}
	c := Conf{Ndots: cc.Ndots, Timeout: maxTimeout, Attempts: min(max(cc.Attempts, 1), maxAttempts)}
	if cc.Timeout >= 1 && cc.Timeout < int(maxTimeout/time.Second) {
		c.Timeout = time.Duration(cc.Timeout) * time.Second
	}
	for _, s := range cc.Search {
		if len(c.Search) < maxSearch && s != "" && len(s) <= 253 {
			c.Search = append(c.Search, s)
		}
	}
	for _, s := range cc.Servers {
		if a, err := netip.ParseAddr(s); err == nil && len(c.Servers) < maxServers {
			c.Servers = append(c.Servers, netip.AddrPortFrom(a.Unmap(), 53).String())
		}
	}
	return c, nil
}

// names lists the names the system resolver tries for name, search list included.
func (c Conf) names(name string) []string {
	cc := dns.ClientConfig{Search: c.Search, Ndots: c.Ndots}
	ns := cc.NameList(name)
	if len(ns) > 4 {
		ns = ns[:4]
	}
	return ns
}

// Ask resolves name the way the system resolver does with c: every name of
// the search list in turn, each server in order until one gives a definite
// answer (NOERROR or NXDOMAIN). It returns the answer that gave addresses,
// else the final answer for the first name tried.
func Ask(ctx context.Context, c Conf, name string) (Answer, bool) {
	if len(c.Servers) == 0 {
		return Answer{}, false
	}
	var first *Answer
	for _, n := range c.names(name) {
		var final *Answer
		for _, srv := range c.Servers {
			qctx, cancel := context.WithTimeout(ctx, c.Timeout)
			a := Query(qctx, srv, n)
			cancel()
			if final == nil || a.Responded() && !final.Responded() || definite(a) {
				final = &a
			}
			if definite(a) || ctx.Err() != nil {
				break
			}
		}
		if len(final.Addrs) > 0 {
			return *final, true
		}
		if first == nil {
			first = final
		}
		if ctx.Err() != nil {
			break
		}
	}
	return *first, true
}

func definite(a Answer) bool {
	return a.Rcode == dns.RcodeSuccess || a.Rcode == dns.RcodeNameError
}
