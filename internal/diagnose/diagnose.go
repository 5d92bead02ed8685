// Package diagnose runs the probes of one diagnosis concurrently, gathers the
// evidence, and hands it to the verdict rules.
package diagnose

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/conndiag/conndiag/internal/cdn"
	"github.com/conndiag/conndiag/internal/dnsprobe"
	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/proxy"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

// Defaults of Options fields left zero.
const (
	DefaultTimeout = 3 * time.Second
	// DefaultMinWait is the shortest time a silent port is given once the host
	// has proved alive; the wait grows with the measured round trip.
	DefaultMinWait = 200 * time.Millisecond
)

// DefaultProbePorts are the ports tried to tell a filtered port from a host that is down.
var DefaultProbePorts = []uint16{22, 80, 443}

// Options configure a diagnosis. Zero values mean the defaults.
type Options struct {
	Timeout    time.Duration
	ProbePorts []uint16 // nil: DefaultProbePorts; empty non-nil: none
	Source     netip.Addr
	MinWait    time.Duration
	Resolver   *net.Resolver
	Now        func() time.Time

	// Name-level checks (name.go in verdict).
	ResolverAddr netip.AddrPort      // --resolver: also ask this DNS server and compare its answer
	ExpectIP     netip.Addr          // --expect-ip: the address the user believes the server has
	CDNRanges    *cdn.List           // --cdn-ranges: edge ranges looked up before the built-in lists
	Getenv       func(string) string // the proxy environment (HTTP_PROXY, ...); nil: os.Getenv
	HostsFile    string              // "": /etc/hosts
	ResolvConf   string              // "": /etc/resolv.conf
	// askConf: ask the resolv.conf servers directly. Not with a custom
	// Resolver (tests) unless ResolvConf is given: there is no system
	// configuration to copy then.
	askConf bool
	// Origin is the Origin header of the first WebSocket handshake (--origin,
	// "http://app.example.com"); "" sends the target's own (OwnOrigin).
	Origin string
	// Trace draws the path to every address whose SYN left this machine
	// (--trace); without it, only a connection that timed out or drew an
	// ICMP error from a box on the way is traced.
	Trace     bool
	TraceHops int // 0: DefaultTraceHops
	// NoHopNames leaves out the reverse lookups of a trace's hops (-n, as
	// traceroute -n and mtr -n): no DNS traffic, and no wait for names.
	NoHopNames bool
	// Agent asks a conndiag listen --agent on the server to watch while
	// this client retries a port that timed out (check --agent).
	Agent *AgentOptions
	// Share hands per-host and per-name measurements to the other targets
	// of a run (check -f); nil: this diagnosis measures everything itself.
	Share *Share
}

// autoTrace: a connection that timed out or drew an ICMP error is traced.
// One diagnosis does so on its own; in a run of many targets (check -f)
// only --trace asks for it, since a trace per target would hold sixty-odd
// descriptors each and send a path's worth of SYNs per port of one host.
func (o Options) autoTrace() bool { return o.Trace || o.Share == nil }

// traceHops is how many hops a diagnosis may trace (0: none).
func (o Options) traceHops() int {
	if !o.autoTrace() {
		return 0
	}
	return o.TraceHops
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ProbePorts == nil {
		o.ProbePorts = DefaultProbePorts
	}
	if o.TraceHops <= 0 {
		o.TraceHops = DefaultTraceHops
	}
	if o.MinWait <= 0 {
		o.MinWait = DefaultMinWait
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	o.askConf = o.Resolver == net.DefaultResolver || o.ResolvConf != ""
	if o.HostsFile == "" {
		o.HostsFile = dnsprobe.HostsFile
	}
	if o.ResolvConf == "" {
		o.ResolvConf = dnsprobe.ResolvConf
	}
	return o
}

// Probe is one measurement, as listed in the JSON "probes" array.
type Probe struct {
	Name     string
	Address  string
	Result   string
	Duration time.Duration
	// Sent and Received show the first bytes of a protocol probe, escaped.
	Sent, Received string
}

// Report is the whole diagnosis of one target.
type Report struct {
	Target   target.Target
	Outcome  verdict.Outcome
	Findings []verdict.Finding
	Probes   []Probe
	Evidence verdict.Evidence
	Duration time.Duration
	// Cancelled: ctx ended (Ctrl-C) before the diagnosis finished, so the
	// evidence is cut short and the findings must not be shown as a verdict.
	Cancelled bool
}

// Addresses are the name's addresses (for a literal, the address itself).
func (r Report) Addresses() []netip.Addr { return r.Evidence.DNS.Addresses }

// Skipped is how many of the name's addresses were not tried (at most MaxAddrs are).
func (r Report) Skipped() int { return max(0, len(r.Evidence.DNS.Addresses)-len(r.Evidence.Addrs)) }

// Check diagnoses reaching t from this machine.
func Check(ctx context.Context, t target.Target, opt Options) Report {
	opt = opt.withDefaults()
	start := opt.Now()
	_, literal := t.IP()
	choice := proxy.Choose(opt.Getenv, t)
	aw := addrWeight(probePortCount(opt.ProbePorts, t.Port), opt.traceHops(), opt.Agent != nil)
	res, err := fds.reserve(ctx, nameWeight(literal, opt.ResolverAddr.IsValid(), choice.Applies() && choice.URL != nil)+aw)
	if err != nil {
		// Interrupted while other diagnoses held the descriptors: nothing was tried.
		return Report{Target: t, Duration: opt.Now().Sub(start), Cancelled: true}
	}
	defer res.done()

	ev := verdict.Evidence{Target: t, Source: opt.Source, NotChecked: notChecked(opt.Trace)}
	if runtime.GOOS != "linux" {
		ev.OS = runtime.GOOS
	}
	if opt.Source.IsValid() {
		ev.SourceLocal, _ = isLocal(opt.Source)
	}
	var probes []Probe
	// The DNS servers of resolv.conf (and --resolver) are asked beside the
	// system lookup, under the same deadline: a silent server costs one
	// --timeout, not one for each.
	dnsCtx, cancelDNS := context.WithTimeout(ctx, opt.Timeout)
	defer cancelDNS()
	sources, dns := opt.Share.lookup(dnsCtx, t, literal, opt) // once per name in a run (share.go)
	ev.DNS = dns
	if !ev.DNS.Literal {
		res := "ok"
		switch {
		case ev.DNS.NotFound:
			res = "nxdomain"
		case ev.DNS.Timeout:
			res = "timeout"
		case ev.DNS.Err != "":
			res = "error"
		case len(ev.DNS.Addresses) == 0:
			res = "no_answer"
		}
		probes = append(probes, Probe{Name: "dns", Address: t.Host, Result: res, Duration: ev.DNS.Duration})
	}

	name := startNameProbes(ctx, t, ev.DNS, sources, choice, res, opt)
	tried := pickAddrs(ev.DNS.Addresses, MaxAddrs)
	ev.Addrs = make([]verdict.AddrEvidence, len(tried))
	// One address runs on the reservation taken above; more run beside it
	// when the budget has room now.
	next := make(chan int, len(tried))
	for i := range tried {
		next <- i
	}
	close(next)
	workers := 1
	if len(tried) > 1 {
		workers += res.grow(aw, len(tried)-1)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if w > 0 {
				defer res.shrink(aw)
			}
			for i := range next {
				ev.Addrs[i] = checkAddr(ctx, netip.AddrPortFrom(tried[i], t.Port), t, opt)
			}
		}()
	}
	wg.Wait()
	for _, a := range ev.Addrs {
		probes = append(probes, Probe{Name: "tcp_connect", Address: a.Addr.String(), Result: string(a.Connect.Kind), Duration: a.Connect.Duration})
		probes = append(probes, protoProbes(a)...)
		for _, p := range a.Others {
			probes = append(probes, Probe{Name: "tcp_alive", Address: netip.AddrPortFrom(a.Addr.Addr(), p.Port).String(), Result: string(p.Kind), Duration: p.Duration})
		}
	}
	probes = append(probes, name.finish(&ev, opt)...)
	out, findings := verdict.Decide(ev)
	return Report{Target: t, Outcome: out, Findings: findings, Probes: probes, Evidence: ev, Duration: opt.Now().Sub(start),
		Cancelled: ctx.Err() != nil}
}

// notChecked lists the Linux sources this system does not have, so the
// report says so instead of reading their absence as evidence.
func notChecked(trace bool) []string {
	var out []string
	if !neterr.ErrQueue {
		out = append(out, evidence.UncheckedErrQueue)
	}
	if !host.Netlink {
		out = append(out, evidence.UncheckedRoute, evidence.UncheckedNeighbour, evidence.UncheckedListeners)
	}
	if trace && !neterr.ErrQueue {
		out = append(out, evidence.UncheckedTrace)
	}
	if !outputRulesApply() {
		out = append(out, evidence.UncheckedOutputRules)
	}
	return out
}

// checkAddr runs the TCP step on one address and, when it connects and the
// scheme asks for it, the protocol step on the same connection.
func checkAddr(ctx context.Context, ap netip.AddrPort, t target.Target, opt Options) verdict.AddrEvidence {
	ae, conn := probeAddr(ctx, ap, opt)
	switch {
	case conn == nil:
		if elsewhereWanted(ae, t) {
			ae.Elsewhere = elsewhere(ctx, ae, t, opt)
		}
	case t.Protocol() == target.TCP:
		// SPEC: a plain TCP target is checked at the TCP level only: nothing
		// is sent, but a server that resets or closes at once is seen.
		watchAccepted(ctx, &ae, conn, opt)
		conn.Close()
	default:
		protocolStep(ctx, conn, t, &ae, opt)
	}
	return ae
}

// probePortCount is how many probe ports probeAddr connects to beside the target port.
func probePortCount(ports []uint16, target uint16) int {
	n := 0
	for _, p := range ports {
		if p != target && p != 0 {
			n++
		}
	}
	return n
}

// pickAddrs chooses at most n of a name's addresses to try, in the
// resolver's order. When it must leave some out, it takes the two families
// in turn, so a name with hundreds of IPv4 addresses and a few IPv6 ones
// still has both tried (one family failing is a finding of its own).
func pickAddrs(as []netip.Addr, n int) []netip.Addr {
	if len(as) <= n {
		return as
	}
	var v4, v6 []int
	for i, a := range as {
		if a.Unmap().Is4() {
			v4 = append(v4, i)
		} else {
			v6 = append(v6, i)
		}
	}
	first, second := v4, v6
	if !as[0].Unmap().Is4() {
		first, second = v6, v4
	}
	keep := make([]bool, len(as))
	for k := 0; k < n; k++ {
		switch {
		case len(first) > 0 && (k%2 == 0 || len(second) == 0):
			keep[first[0]], first = true, first[1:]
		default:
			keep[second[0]], second = true, second[1:]
		}
	}
	out := make([]netip.Addr, 0, n)
	for i, a := range as {
		if keep[i] {
			out = append(out, a)
		}
	}
	return out
}

func resolve(ctx context.Context, name string, opt Options) verdict.DNS {
	if a, err := netip.ParseAddr(name); err == nil {
		return verdict.DNS{Literal: true, Addresses: []netip.Addr{a}}
	}
	start := opt.Now()
	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()
	addrs, err := opt.Resolver.LookupNetIP(ctx, "ip", name)
	d := verdict.DNS{Duration: opt.Now().Sub(start)}
	if err != nil {
		d.Err = err.Error()
		var de *net.DNSError
		if errors.As(err, &de) {
			d.NotFound = de.IsNotFound
			d.Timeout = de.IsTimeout
		}
		if errors.Is(err, context.DeadlineExceeded) {
			d.Timeout = true
		}
		return d
	}
	seen := map[netip.Addr]bool{}
	for _, a := range addrs {
		a = a.Unmap()
		if !seen[a] {
			seen[a] = true
			d.Addresses = append(d.Addresses, a)
		}
	}
	return d
}

// nameProbes run beside the TCP probes: the name's other sources (the
// hosts-file line, the resolv.conf server asked directly for its CNAME chain,
// TTLs and rcode, --resolver), connects to the addresses those sources give
// instead, and the test of the client's proxy.
type nameProbes struct {
	t         target.Target
	hosts     *dnsprobe.HostsEntry
	waitAll   bool          // finish waits for the DNS sources whatever they take
	sources   chan struct{} // closed once server, resolver and alt are set
	server    *dnsprobe.Answer
	resolver  *dnsprobe.Answer
	alt       []verdict.AltConnect
	proxyDone chan struct{}
	proxy     *verdict.ProxyEvidence
}

// maxAlt bounds the connects to other answers' addresses.
const maxAlt = 4

// sourceGrace is how long a diagnosis whose addresses came from the hosts
// file waits, after its own probes, for a DNS server that is slow to say
// whether it agrees: a dead DNS server says nothing about such a connection.
const sourceGrace = 500 * time.Millisecond

// dnsSources are the answers of the name's other DNS sources, asked beside
// the system lookup: the first resolv.conf server that answers, asked
// directly, and --resolver.
type dnsSources struct {
	done             chan struct{} // closed once server and resolver are set
	server, resolver *dnsprobe.Answer
}

// askSources starts asking the name's other DNS sources under ctx, which
// carries the DNS deadline the system lookup also runs under.
func askSources(ctx context.Context, t target.Target, literal bool, opt Options) *dnsSources {
	s := &dnsSources{done: make(chan struct{})}
	if literal {
		close(s.done)
		return s
	}
	go func() {
		defer close(s.done)
		var server, resolver *dnsprobe.Answer
		var wg sync.WaitGroup
		if opt.askConf && !isLocalhost(t.Host) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if conf, err := dnsprobe.ReadConf(opt.ResolvConf); err == nil {
					if a, ok := dnsprobe.Ask(ctx, conf, t.Host); ok {
						server = &a
					}
				}
			}()
		}
		if opt.ResolverAddr.IsValid() {
			a := dnsprobe.Query(ctx, opt.ResolverAddr.String(), t.Host)
			resolver = &a
		}
		wg.Wait()
		s.server, s.resolver = server, resolver
	}()
	return s
}

func startNameProbes(ctx context.Context, t target.Target, d verdict.DNS, src *dnsSources, choice proxy.Choice, res *reservation, opt Options) *nameProbes {
	n := &nameProbes{t: t, sources: make(chan struct{}), proxyDone: make(chan struct{})}
	if !d.Literal {
		n.hosts, _ = dnsprobe.ReadHosts(opt.HostsFile, t.Host)
	}
	hostsUsed := n.hosts != nil && containsAny(d.Addresses, n.hosts.Addrs)
	n.waitAll = !hostsUsed || opt.ResolverAddr.IsValid() || opt.ExpectIP.IsValid()

	// This goroutine may outlive Check (finish stops waiting for it after
	// sourceGrace): it keeps its share of the descriptor budget until it ends.
	res.hold()
	go func() {
		defer res.done()
		defer close(n.sources)
		<-src.done
		server, resolver := src.server, src.resolver
		var others []netip.Addr
		add := func(as ...netip.Addr) {
			for _, a := range as {
				if a.IsValid() && !containsAddr(d.Addresses, a) && !containsAddr(others, a) && len(others) < maxAlt {
					others = append(others, a)
				}
			}
		}
		add(opt.ExpectIP.Unmap())
		if hostsUsed && server != nil {
			add(server.IPs()...)
		}
		if resolver != nil {
			add(resolver.IPs()...)
		}
		alt := make([]verdict.AltConnect, len(others))
		var wg sync.WaitGroup
		for i, a := range others {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ap := netip.AddrPortFrom(a, t.Port)
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opt.Timeout)
				defer cancel()
				r, conn := neterr.Dialer{Source: opt.Source}.Connect(cctx, ap)
				if conn != nil {
					conn.Close()
				}
				alt[i] = verdict.AltConnect{Addr: ap, Result: r}
			}()
		}
		wg.Wait()
		n.server, n.resolver, n.alt = server, resolver, alt
	}()

	n.proxy = &verdict.ProxyEvidence{Choice: choice}
	go func() {
		defer close(n.proxyDone)
		if choice.Applies() && choice.URL != nil {
			var ip netip.Addr
			if len(d.Addresses) > 0 {
				ip = d.Addresses[0]
			}
			r := proxy.Probe(ctx, choice.URL, t.Host, ip, t.Port, opt.Timeout)
			n.proxy.Result = &r
		}
	}()
	return n
}

// finish waits for the name probes, adds their evidence and the CDN matches
// to ev, and returns their probe lines.
func (n *nameProbes) finish(ev *verdict.Evidence, opt Options) []Probe {
	<-n.proxyDone
	var probes []Probe
	d := &ev.DNS
	d.Hosts = n.hosts
	if opt.ExpectIP.IsValid() {
		d.ExpectIP = opt.ExpectIP.Unmap()
	}
	ev.Proxy = n.proxy
	grace := time.NewTimer(sourceGrace)
	defer grace.Stop()
	answered := true
	if n.waitAll {
		<-n.sources
	} else {
		select {
		case <-n.sources:
		case <-grace.C:
			answered = false // the goroutine still writes its fields: leave them alone
		}
	}
	if answered {
		d.Server, d.Resolver, d.Alt = n.server, n.resolver, n.alt
	}
	for _, ans := range []struct {
		name string
		a    *dnsprobe.Answer
	}{{"dns_server", d.Server}, {"dns_resolver", d.Resolver}} {
		if ans.a != nil {
			probes = append(probes, Probe{Name: ans.name, Address: ans.a.Server, Result: dnsResult(ans.a), Duration: ans.a.Duration})
		}
	}
	for _, a := range d.Alt {
		probes = append(probes, Probe{Name: "tcp_connect_alt", Address: a.Addr.String(), Result: string(a.Result.Kind), Duration: a.Result.Duration})
	}
	if r := n.proxy.Result; r != nil {
		probes = append(probes, Probe{Name: "proxy_" + r.Scheme, Address: r.URL, Result: string(r.Stage), Duration: r.Duration})
	}

	list, err := opt.Share.cdnList(opt.CDNRanges) // merged once per run (share.go)
	if err != nil {
		return probes
	}
	for _, a := range d.Addresses {
		if r, ok := list.Lookup(a); ok {
			ev.CDN = append(ev.CDN, cdn.Match{Provider: r.Provider, Addr: a.Unmap(), Range: r})
		}
	}
	// The CNAME chain counts only when DNS, not the hosts file, gave the addresses.
	names := []string{n.t.Host}
	if d.Server != nil && containsAny(d.Addresses, d.Server.IPs()) {
		names = append(names, d.Server.Chain...)
	}
	for _, name := range names {
		if p, suffix, ok := cdn.MatchName(name); ok {
			ev.CDN = append(ev.CDN, cdn.Match{Provider: p, CNAME: strings.TrimSuffix(name, "."), Suffix: suffix})
			break
		}
	}
	for _, a := range ev.Addrs {
		if a.Whoami == nil {
			continue
		}
		seen := a.Whoami.Client.Addr().Unmap()
		if r, ok := list.Lookup(seen); ok {
			ev.CDN = append(ev.CDN, cdn.Match{Provider: r.Provider, Addr: seen, Range: r, Seen: true})
		}
		break
	}
	return probes
}

// isLocalhost: names under localhost never go to DNS (RFC 6761).
func isLocalhost(name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	return name == "localhost" || strings.HasSuffix(name, ".localhost")
}

func dnsResult(a *dnsprobe.Answer) string {
	switch {
	case a.Timeout:
		return "timeout"
	case !a.Responded():
		return "no_response"
	case a.NoAnswer():
		return "no_answer"
	}
	return strings.ToLower(a.RcodeName())
}

func containsAddr(as []netip.Addr, a netip.Addr) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

func containsAny(as, bs []netip.Addr) bool {
	for _, b := range bs {
		if containsAddr(as, b) {
			return true
		}
	}
	return false
}
