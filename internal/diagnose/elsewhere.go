package diagnose

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/probe"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

// After the target port refused with a plain RST, the target's own protocol
// is spoken to the other ports of the host that accept (the probe ports, and
// on this machine its listeners): a WebSocket upgrade or an HTTP answer on
// one of them says the service is there, on the wrong port (wrong_port).
// This runs only on that trigger, for schemes whose protocol proves
// something; a plain TCP target has nothing to recognise the service by.

// Bounds of the search.
const (
	// maxElsewhere bounds the ports tried, nearest to the target port first.
	maxElsewhere = 8
	// elsewhereAtOnce: connects at once, within the address's descriptor
	// reservation (addrWeight keeps at least fdsFingerprint+fdsHost for the
	// protocol step, which this replaces).
	elsewhereAtOnce = 4
)

// listenersAll is swappable for tests; the real one reads this machine's sockets.
var listenersAll = func() ([]host.Socket, error) { return host.Listeners(0) }

// elsewhereWanted: the target refused with an RST (an ICMP answer is a
// firewall's, not a closed port's) and its scheme has a protocol to recognise.
func elsewhereWanted(a verdict.AddrEvidence, t target.Target) bool {
	c := a.Connect
	return c.Kind == neterr.Refused && c.ICMP == nil && t.Protocol() != target.TCP
}

// candidate is another port of the host to try.
type candidate struct {
	port     uint16
	listener bool
}

// elsewherePorts picks the ports to try: this machine's listeners that would
// accept a connection to dst (nearest to the target port first), then the
// probe ports that accepted or had not answered yet, at most maxElsewhere. A local target port with a
// listener of its own is not searched: the listener's address explains it.
func elsewherePorts(port uint16, dst netip.Addr, probes []evidence.PortProbe, listeners []evidence.Socket, local bool) []candidate {
	dst = dst.Unmap().WithZone("")
	var out []candidate
	seen := map[uint16]bool{port: true}
	if local {
		var ls []uint16
		for _, l := range listeners {
			la := l.Local.Addr().Unmap()
			p := l.Local.Port()
			if p == port {
				return nil
			}
			accepts := la == dst || la.IsUnspecified() && (la.Is6() || dst.Is4())
			if accepts && !seen[p] {
				seen[p] = true
				ls = append(ls, p)
			}
		}
		dist := func(p uint16) int { return max(int(p)-int(port), int(port)-int(p)) }
		slices.SortStableFunc(ls, func(a, b uint16) int { return dist(a) - dist(b) })
		for _, p := range ls {
			out = append(out, candidate{port: p, listener: true})
		}
	}
	for _, pp := range probes {
		// A probe port cancelled when the target's fast refusal ended the
		// connect is tried too: that refusal comes before most answers.
		if (pp.Kind == evidence.OK || pp.Kind == evidence.Canceled) && !seen[pp.Port] {
			seen[pp.Port] = true
			out = append(out, candidate{port: pp.Port})
		}
	}
	if len(out) > maxElsewhere {
		out = out[:maxElsewhere]
	}
	return out
}

// elsewhereWait is how long each other port is given for the handshake:
// ten round trips of the refusal, at least twice the shortest silence wait,
// at most the timeout.
func elsewhereWait(rtt time.Duration, opt Options) time.Duration {
	return min(max(2*opt.MinWait, 10*rtt), opt.Timeout)
}

// elsewhereConnectWait bounds the connect to another port: ten round trips
// of the refusal, at least 100 ms, at most the handshake's wait. A probe port
// that the fast refusal cut short may be filtered: its silence must not
// cost the whole wait.
func elsewhereConnectWait(rtt time.Duration, opt Options) time.Duration {
	return min(max(100*time.Millisecond, 10*rtt), elsewhereWait(rtt, opt))
}

// elsewhere speaks the target's protocol to each candidate port.
func elsewhere(ctx context.Context, a verdict.AddrEvidence, t target.Target, opt Options) []evidence.Elsewhere {
	var listeners []evidence.Socket
	if a.Local {
		listeners, _ = listenersAll()
	}
	cands := elsewherePorts(a.Addr.Port(), a.Addr.Addr(), a.Others, listeners, a.Local)
	if len(cands) == 0 {
		return nil
	}
	wait := elsewhereWait(a.Connect.Duration, opt)
	quick := opt
	quick.Timeout = wait
	out := make([]evidence.Elsewhere, len(cands))
	sem := make(chan struct{}, elsewhereAtOnce)
	var wg sync.WaitGroup
	for i, c := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = tryElsewhere(ctx, a.Addr.Addr(), c, t, quick, elsewhereConnectWait(a.Connect.Duration, opt))
		}()
	}
	wg.Wait()
	return out
}

func tryElsewhere(ctx context.Context, addr netip.Addr, c candidate, t target.Target, opt Options, connectWait time.Duration) evidence.Elsewhere {
	ap := netip.AddrPortFrom(addr, c.port)
	cctx, cancel := context.WithTimeout(ctx, connectWait)
	defer cancel()
	r, conn := neterr.Dialer{Source: opt.Source}.Connect(cctx, ap)
	e := evidence.Elsewhere{Port: c.port, Listener: c.listener, Connect: r}
	if conn == nil {
		return e
	}
	t.Port = c.port
	ae := verdict.AddrEvidence{Addr: ap, Connect: r}
	p := &verdict.ProtoEvidence{Protocol: t.Protocol(), Timeout: opt.Timeout, Wait: silenceWait(r.Duration, opt)}
	s := &session{ctx: ctx, t: t, a: &ae, opt: opt, p: p, quick: true}
	func() {
		defer conn.Close()
		switch p.Protocol {
		case target.Text, target.Frame:
			s.message(conn)
		default:
			s.handshake(conn)
		}
	}()
	e.Proto = p
	return e
}

// acceptWatch is how long a plain TCP target's accepted connection is
// watched, sending nothing, for a server that resets or closes it at once:
// four round trips of the connect, at least 100 ms, at most the timeout.
func acceptWatch(rtt time.Duration, opt Options) time.Duration {
	return min(max(100*time.Millisecond, 4*rtt), opt.Timeout)
}

// watchAccepted watches the connection a plain TCP target accepted.
func watchAccepted(ctx context.Context, a *verdict.AddrEvidence, conn net.Conn, opt Options) {
	e := probe.Quiet(ctx, conn, time.Now().Add(acceptWatch(a.Connect.Duration, opt)))
	a.AfterAccept = &e
}
