// Package diagnose runs the probes of one diagnosis concurrently, gathers the
// evidence, and hands it to the verdict rules.
package diagnose

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

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
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ProbePorts == nil {
		o.ProbePorts = DefaultProbePorts
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
	return o
}

// Probe is one measurement, as listed in the JSON "probes" array.
type Probe struct {
	Name     string
	Address  string
	Result   string
	Duration time.Duration
}

// Report is the whole diagnosis of one target.
type Report struct {
	Target   target.Target
	Outcome  verdict.Outcome
	Findings []verdict.Finding
	Probes   []Probe
	Evidence verdict.Evidence
	Duration time.Duration
}

// Addresses are the addresses that were tried.
func (r Report) Addresses() []netip.Addr { return r.Evidence.DNS.Addresses }

// Check diagnoses reaching t from this machine.
func Check(ctx context.Context, t target.Target, opt Options) Report {
	opt = opt.withDefaults()
	start := opt.Now()
	ev := verdict.Evidence{Target: t, Source: opt.Source}
	if opt.Source.IsValid() {
		ev.SourceLocal, _ = isLocal(opt.Source)
	}
	var probes []Probe
	ev.DNS = resolve(ctx, t.Host, opt)
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

	ev.Addrs = make([]verdict.AddrEvidence, len(ev.DNS.Addresses))
	var wg sync.WaitGroup
	for i, a := range ev.DNS.Addresses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev.Addrs[i] = probeAddr(ctx, netip.AddrPortFrom(a, t.Port), opt)
		}()
	}
	wg.Wait()
	for _, a := range ev.Addrs {
		probes = append(probes, Probe{Name: "tcp_connect", Address: a.Addr.String(), Result: string(a.Connect.Kind), Duration: a.Connect.Duration})
		for _, p := range a.Others {
			probes = append(probes, Probe{Name: "tcp_alive", Address: netip.AddrPortFrom(a.Addr.Addr(), p.Port).String(), Result: string(p.Kind), Duration: p.Duration})
		}
	}
	out, findings := verdict.Decide(ev)
	return Report{Target: t, Outcome: out, Findings: findings, Probes: probes, Evidence: ev, Duration: opt.Now().Sub(start)}
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
