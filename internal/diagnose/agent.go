package diagnose

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/conndiag/conndiag/internal/agent"
	"github.com/conndiag/conndiag/internal/capture"
	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/verdict"
)

// AgentOptions make check ask a conndiag listen --agent on the server to
// watch while this client retries a port that timed out.
type AgentOptions struct {
	URL   *url.URL // agent.ParseURL
	Token string
	Watch time.Duration // how long the agent watches; 0: agent.DefaultWatch
}

// agentTries are the connects made while the agent watches.
const agentTries = 3

// agentMu makes this process's watches take turns.
var agentMu sync.Mutex

// askAgent has the agent watch ap's port while this client connects to it
// again, and returns what the agent saw.
func askAgent(ctx context.Context, ap netip.AddrPort, opt Options) *verdict.AgentWatch {
	ao := opt.Agent
	aw := &verdict.AgentWatch{URL: ao.URL.String(), AtTarget: agentAt(ctx, ao.URL, ap.Addr(), opt)}
	d := ao.Watch
	if d <= 0 {
		d = agent.DefaultWatch
	}
	c := agent.Client{Base: ao.URL, Token: ao.Token, Source: opt.Source, Timeout: opt.Timeout}
	var tries, connected int
	// An agent watches one watch per client at a time: the addresses of a
	// name (and the targets of check -f) take turns.
	agentMu.Lock()
	defer agentMu.Unlock()
	ans, err := c.Watch(ctx, ap.Port(), d, func(wctx context.Context, seen netip.Addr) {
		if seen.IsValid() && seen.Unmap().Is4() != ap.Addr().Unmap().Is4() {
			return // the SYNs would come from the other family's address: the agent cannot see them
		}
		tries, connected = retryWhileWatched(wctx, ap, d, opt)
	})
	if err != nil {
		aw.Err = err.Error()
		var r *agent.Refused
		if errors.As(err, &r) {
			aw.Refusal, aw.Allowed, aw.Err = r.Code, r.Allowed, r.Message
		}
		return aw
	}
	if ans.SeenAs.IsValid() && ans.SeenAs.Is4() != ap.Addr().Unmap().Is4() {
		aw.Refusal, aw.SeenAs = evidence.AgentFamily, ans.SeenAs
		return aw
	}
	aw.Watched, aw.SeenAs, aw.Duration = true, ans.SeenAs, ans.Duration
	aw.Tries, aw.Connected = tries, connected
	aw.Port, aw.HostAddrs = ans.Evidence(ap.Port())
	aw.FirewallErr, aw.OverflowGrowth = clipText(ans.Result.FirewallErr, 300), ans.Result.ListenOverflows
	aw.Cloud = clipText(ans.Result.Cloud, 32)
	return aw
}

func clipText(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// retryWhileWatched connects to ap agentTries times within the first half
// of the watch, each attempt given until shortly before the watch ends (the
// kernel retransmits each SYN after a second too), and counts what got through.
func retryWhileWatched(ctx context.Context, ap netip.AddrPort, d time.Duration, opt Options) (tries, connected int) {
	start := time.Now()
	end := start.Add(d - d/10)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range agentTries {
		if wait := time.Until(start.Add(time.Duration(i) * d / (2 * agentTries))); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithDeadline(ctx, end)
			defer cancel()
			r, conn := neterr.Dialer{Source: opt.Source}.Connect(cctx, ap)
			if conn != nil {
				conn.Close()
			}
			mu.Lock()
			tries++
			if r.Kind == neterr.OK {
				connected++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return tries, connected
}

// agentAt: the agent's URL names the address checked (or a name that
// resolves to it), so the host it watches is the target host.
func agentAt(ctx context.Context, u *url.URL, dst netip.Addr, opt Options) bool {
	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap() == dst.Unmap()
	}
	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()
	as, err := opt.Resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return false
	}
	for _, a := range as {
		if a.Unmap() == dst.Unmap() {
			return true
		}
	}
	return false
}

// AgentWatch is the watch of listen --agent: the server audit of the one
// port with its SYN watch (the same packet capture and firewall reading as
// conndiag server --watch), read through rd.
func AgentWatch(rd HostReaders) agent.WatchFunc {
	return func(ctx context.Context, port uint16, d time.Duration, started func()) (agent.Report, error) {
		rep, err := Audit(ctx, AuditOptions{Ports: []uint16{port}, Watch: d, Readers: rd,
			Notify: func([]uint16, time.Duration) { started() }})
		if err != nil {
			return agent.Report{}, err
		}
		if rep.WatchErr != nil {
			if errors.Is(rep.WatchErr, capture.ErrNotPermitted) {
				return agent.Report{}, fmt.Errorf("%w: %v", agent.ErrNoRoot, rep.WatchErr)
			}
			return agent.Report{}, rep.WatchErr
		}
		if len(rep.Ports) != 1 {
			return agent.Report{}, errors.New("the audit returned no port")
		}
		p := rep.Ports[0]
		out := agent.Report{Port: p.Evidence, Host: rep.HostEv}
		if p.Evidence.Firewall == nil {
			en := i18n.New("en")
			var why []string
			for _, m := range p.Unchecked {
				why = append(why, en.Text(m))
			}
			out.FirewallErr = strings.Join(why, " ")
		}
		return out, nil
	}
}

// CanWatch says whether this process can open the packet socket a watch
// needs (agent.ErrNoRoot when it lacks the privilege).
func CanWatch() error {
	w, err := capture.Open([]uint16{9})
	if err != nil {
		if errors.Is(err, capture.ErrNotPermitted) {
			return agent.ErrNoRoot
		}
		return err
	}
	return w.Close()
}
