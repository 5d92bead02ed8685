package diagnose

import (
	"context"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/firewall"
	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/verdict"
)

// This machine's own OUTPUT rules, for the client_firewall cause: read only
// when the connect failed in a way one of them could explain, so a working
// or refused target costs nothing more.

// readRules reads this machine's firewall; swappable for tests.
var readRules = func(ctx context.Context) *firewall.Snapshot { return firewall.Reader{}.Read(ctx, nil) }

// rulesFresh is how long one reading of the rules serves: check -f meets
// many silent targets at once, and the rules do not change between them.
const rulesFresh = 5 * time.Second

// ruleCache holds the last reading; a reading in progress makes the others wait for it.
type ruleCache struct {
	mu   sync.Mutex
	at   time.Time
	snap *firewall.Snapshot
}

var outputRules ruleCache

func (c *ruleCache) get(ctx context.Context, now func() time.Time) *firewall.Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snap != nil && now().Sub(c.at) < rulesFresh {
		return c.snap
	}
	snap := readRules(ctx)
	if ctx.Err() != nil {
		return snap // cut short: not kept
	}
	c.snap, c.at = snap, now()
	return snap
}

// wantsOutgoing: the connect failed in a way this machine's own OUTPUT rules
// could explain. Silence (a DROP, or a REJECT whose answer never came back),
// an ICMP error this machine sent itself, or EACCES/EPERM from connect
// without an ICMP error or a prohibit route. A target on this machine is
// judged by its listeners and INPUT rules instead.
func wantsOutgoing(ev *verdict.AddrEvidence) bool {
	if !outputRulesApply() || ev.Local {
		return false
	}
	c := ev.Connect
	switch {
	case c.Kind == neterr.Timeout, ev.ICMPFromLocal:
		return true
	case c.Kind == neterr.PermissionDenied:
		return c.ICMP == nil && (ev.Route == nil || ev.Route.Type != "prohibit")
	}
	return false
}

// outputRulesApply: the rules are iptables' and nftables', Linux's.
func outputRulesApply() bool { return runtime.GOOS == "linux" }

// outgoingFacts walks this machine's OUTPUT rules (snap, or read now when
// nil) for the connection ev tried.
func outgoingFacts(ctx context.Context, snap *firewall.Snapshot, ev *verdict.AddrEvidence, opt Options) *verdict.OutgoingEvidence {
	if snap == nil {
		snap = outputRules.get(ctx, opt.Now)
	}
	if snap == nil {
		return nil
	}
	dst := ev.Addr.Addr().Unmap().WithZone("") // rules never name a zone
	c := firewall.Conn{Family: firewall.IPv4, Dst: dst, Port: ev.Addr.Port(),
		Owner: &firewall.Owner{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}}
	if !dst.Is4() {
		c.Family = firewall.IPv6
	}
	if r := ev.Route; r != nil {
		c.OutIface, c.Src = r.Iface, r.Src
	}
	if opt.Source.IsValid() {
		c.Src = opt.Source.Unmap()
	}
	if l := ev.Connect.Local; l.IsValid() {
		c.SrcPort = l.Port()
		if a := l.Addr().Unmap(); !a.IsUnspecified() {
			c.Src = a
		}
	}
	if pr, err := host.EphemeralRange(); err == nil && pr.Lo > 0 && pr.Hi <= 65535 && pr.Lo <= pr.Hi {
		c.SrcPorts = [2]uint16{uint16(pr.Lo), uint16(pr.Hi)}
	}
	if as, err := host.LocalAddrs(); err == nil {
		for _, a := range as {
			c.Local = append(c.Local, a.Prefix.Addr())
		}
	}
	return outgoingEvidence(snap, c)
}

// outgoingEvidence is the walk of snap for c, as evidence.
func outgoingEvidence(snap *firewall.Snapshot, c firewall.Conn) *verdict.OutgoingEvidence {
	o := snap.Outgoing(c)
	oe := &verdict.OutgoingEvidence{Read: o.Read, Result: o.Result, Manager: o.Manager,
		UFWOn: o.UFWOn, UFWAction: o.UFWAction, UFWRule: o.UFWRule}
	for _, p := range o.Problems {
		oe.Problems = append(oe.Problems, evidence.RuleProblem{What: p.What, Err: p.Err, NeedRoot: p.NeedRoot})
		oe.NeedRoot = oe.NeedRoot || p.NeedRoot
	}
	if o.Read {
		oe.Open = snap.OutgoingOpening(o, c)
	}
	return oe
}
