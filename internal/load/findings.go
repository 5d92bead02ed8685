package load

import (
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/verdict"
)

// diagnose explains the first failure while the run's connections are
// still open, so that the diagnosis meets the same wall.
func (r *run) diagnose(f Failure, errno syscall.Errno) {
	defer close(r.diagDone)
	fs := r.firstFindings(f, errno)
	r.mu.Lock()
	r.diag = fs
	r.mu.Unlock()
}

// baseEvidence is the evidence of a failed connect as check would gather it.
func (r *run) baseEvidence(f Failure, errno syscall.Errno) verdict.Evidence {
	dst := r.cfg.Dst
	res := neterr.Result{Addr: dst, Kind: neterr.KindOf(errno), Op: string(f.Phase), Errno: errno, ErrnoName: neterr.NameOf(errno)}
	ev := verdict.Evidence{Target: r.cfg.Target, Source: f.Source, SourceLocal: true,
		DNS:   verdict.DNS{Literal: true, Addresses: []netip.Addr{dst.Addr()}},
		Addrs: []verdict.AddrEvidence{{Addr: dst, Connect: res, Timeout: r.cfg.Timeout}}}
	return ev
}

func (r *run) firstFindings(f Failure, errno syscall.Errno) []verdict.Finding {
	dst := r.cfg.Dst
	first := f.line()
	switch f.Cause {
	case verdict.CauseEphemeralPortsExhausted:
		ev := r.baseEvidence(f, errno)
		a := &ev.Addrs[0]
		var usage *host.PortUsage
		if u, err := host.EphemeralUsage(dst); err == nil {
			a.Usage, usage = &u, &u
		}
		_, fs := verdict.Decide(ev)
		if len(fs) == 0 {
			return nil
		}
		lines := []i18n.Msg{first}
		lines = append(lines, r.sourceLines(usage)...)
		if usage != nil && usage.TimeWaitToDest > 0 && 2*usage.TimeWaitToDest >= usage.ToDest {
			fs[0].Summary = i18n.M("load.timewait.summary", "Dst", dst.String(), "TW", usage.TimeWaitToDest)
			lines = append(lines, i18n.M("load.ev.timewait", "TW", usage.TimeWaitToDest, "N", usage.ToDest, "Dst", dst.String(),
				"V", usage.TwReuse, "Meaning", i18n.M("twreuse."+strconv.Itoa(min(max(usage.TwReuse, 0), 2)))))
		}
		fs[0].Evidence = append(lines, fs[0].Evidence...)
		return fs
	case verdict.CauseFDExhausted:
		ev := r.baseEvidence(f, errno)
		if soft, hard, open, err := host.NoFile(); err == nil {
			ev.Addrs[0].NoFile = &verdict.Limit{Soft: soft, Hard: hard, Open: open}
		}
		ev.Addrs[0].Connect.Kind = neterr.TooManyFiles
		_, fs := verdict.Decide(ev)
		return prepend(fs, first)
	case verdict.CauseSourceAddressInvalid:
		ev := r.baseEvidence(f, errno)
		ev.SourceLocal, _ = host.IsLocal(f.Source)
		_, fs := verdict.Decide(ev)
		return prepend(fs, first)
	case verdict.CauseAcceptQueueOverflow:
		return []verdict.Finding{r.queueFinding(f, first)}
	}
	var fs []verdict.Finding
	if r.cfg.Check != nil {
		fs = r.cfg.Check(f.Source)
	}
	if len(fs) == 0 || fs[0].Cause == verdict.CauseOK {
		// The failure did not repeat for check: it came with the load.
		own := verdict.Finding{Cause: f.Cause, Confidence: verdict.Medium,
			Summary: i18n.M("cause."+string(f.Cause)+".summary", "Addr", dst.String(), "Dst", dst.String(), "Port", dst.Port(),
				"Host", r.cfg.Target.Host, "Source", f.Source.String(), "Status", f.Text, "Where", dst.String()),
			Evidence: []i18n.Msg{first, i18n.M("load.ev.notrepeated")},
			Fix:      []i18n.Msg{i18n.M("cause." + string(f.Cause) + ".fix")}}
		return append([]verdict.Finding{own}, fs...)
	}
	return prepend(fs, first)
}

func prepend(fs []verdict.Finding, m i18n.Msg) []verdict.Finding {
	if len(fs) > 0 {
		fs[0].Evidence = append([]i18n.Msg{m}, fs[0].Evidence...)
	}
	return fs
}

// sourceLines count, for each source address, the sockets toward the
// destination at the moment of the failure.
func (r *run) sourceLines(u *host.PortUsage) []i18n.Msg {
	if len(r.srcs) < 2 || u == nil {
		return nil
	}
	socks, _, err := host.TCPDiagOrProc(host.AllStates)
	if err != nil {
		return nil
	}
	f := Facts{Dst: r.cfg.Dst, Range: u.Range}
	for _, s := range r.srcs {
		f.Sources = append(f.Sources, s.addr)
	}
	plain := make([]host.Socket, len(socks))
	for i, s := range socks {
		plain[i] = s.Socket
	}
	f.CountSockets(plain)
	var out []i18n.Msg
	for i, s := range f.Sources {
		if i == maxSourceLines {
			out = append(out, i18n.M("load.ev.source.more", "N", len(f.Sources)-i))
			break
		}
		out = append(out, i18n.M("load.ev.source", "Src", s.String(), "N", f.Used[s], "TW", f.TimeWait[s], "Dst", r.cfg.Dst.String()))
	}
	return out
}

const maxSourceLines = 8

// queueFinding: SYNs went unanswered after earlier connections had worked.
func (r *run) queueFinding(f Failure, first i18n.Msg) verdict.Finding {
	port := r.cfg.Dst.Port()
	fd := verdict.Finding{Cause: verdict.CauseAcceptQueueOverflow, Confidence: verdict.Medium,
		Summary: i18n.M("cause.accept_queue_overflow.summary")}
	fd.Evidence = []i18n.Msg{first, i18n.M("load.ev.queue", "Timeout", verdict.Dur(r.cfg.Timeout), "Open", f.Open)}
	if local, _ := host.IsLocal(r.cfg.Dst.Addr()); local {
		if c, err := host.ReadTCPCounters(); err == nil && r.counters != nil {
			grew := c.ListenOverflows - r.counters.ListenOverflows
			if grew > 0 {
				fd.Confidence = verdict.High
				fd.Evidence = append(fd.Evidence, i18n.M("load.ev.overflows", "N", grew))
			} else {
				fd.Confidence = verdict.Low
				fd.Evidence = append(fd.Evidence, i18n.M("load.ev.nooverflows"))
			}
		}
	} else {
		fd.Evidence = append(fd.Evidence, i18n.M("load.ev.queue.remote", "Port", port))
	}
	fd.Fix = []i18n.Msg{i18n.M("cause.accept_queue_overflow.fix"),
		i18n.Cmd("sysctl -w net.core.somaxconn=65535"), i18n.Cmd("sysctl -w net.ipv4.tcp_max_syn_backlog=65535"),
		i18n.M("server.fix.backlog"), i18n.M("load.fix.server"), i18n.Cmd("conndiag server %d", port)}
	return fd
}

// deathFinding explains held connections that died.
func deathFinding(ds []Death, ping time.Duration, ws bool) (verdict.Finding, bool) {
	if len(ds) == 0 {
		return verdict.Finding{}, false
	}
	c, ok := ClusterDeaths(ds)
	if !ok {
		resets := 0
		for _, d := range ds {
			if d.Reset {
				resets++
			}
		}
		f := verdict.Finding{Cause: verdict.CauseResetByPeer, Confidence: verdict.Low,
			Summary:  i18n.M("load.deaths.scattered.summary", "N", len(ds)),
			Evidence: []i18n.Msg{i18n.M("load.ev.deaths", "N", len(ds), "Resets", resets, "Min", verdict.Dur(minAge(ds)), "Max", verdict.Dur(maxAge(ds)))},
			Fix:      []i18n.Msg{i18n.M("load.deaths.scattered.fix")}}
		return f, true
	}
	conf := verdict.High
	if c.OpenSpread <= ClusterTolerance(c.Age) {
		conf = verdict.Medium // opened together: a restart at that moment would look the same
	}
	age := verdict.Dur(c.Age)
	f := verdict.Finding{Cause: verdict.CauseIdleTimeout, Confidence: conf,
		Summary: i18n.M("load.idle.summary", "N", c.Count, "Age", age)}
	if code, n := mostCommon(c.Codes); ws {
		f.Evidence = append(f.Evidence, i18n.M("load.ev.cluster.ws", "N", c.Count, "Deaths", c.Deaths, "Age", age, "Code", code, "CodeN", n))
	} else {
		f.Evidence = append(f.Evidence, i18n.M("load.ev.cluster", "N", c.Count, "Deaths", c.Deaths, "Age", age))
	}
	if c.OpenSpread > ClusterTolerance(c.Age) {
		f.Evidence = append(f.Evidence, i18n.M("load.ev.cluster.spread", "Spread", verdict.Dur(c.OpenSpread)))
	} else {
		f.Evidence = append(f.Evidence, i18n.M("load.ev.cluster.together"))
	}
	if ping > 0 && ping < c.Age {
		f.Confidence = verdict.Low
		f.Evidence = append(f.Evidence, i18n.M("load.ev.cluster.pinged", "Ping", verdict.Dur(ping)))
	}
	f.Evidence = append(f.Evidence, culprits(c.Age)...)
	hb := max(time.Second, (c.Age / 2).Truncate(time.Second))
	f.Fix = []i18n.Msg{
		i18n.M("load.idle.fix.heartbeat", "Age", age, "Ping", verdict.Dur(hb)),
		i18n.Snippet("$gateway->pingInterval = %d;  // GatewayWorker; or a Timer that sends a ping or a small message on each connection", int(hb/time.Second)),
		i18n.M("load.idle.fix.timeout"),
		i18n.Snippet("proxy_read_timeout 3600s;  proxy_send_timeout 3600s;  # nginx, in the location that proxies the WebSocket"),
		i18n.M("load.idle.fix.verify"),
	}
	return f, true
}

// culprits names the usual owners of an idle timeout near age.
func culprits(age time.Duration) []i18n.Msg {
	near := func(t time.Duration) bool {
		d := age - t
		return d >= -ClusterTolerance(t)-time.Second && d <= ClusterTolerance(t)+time.Second
	}
	switch {
	case near(60 * time.Second):
		return []i18n.Msg{i18n.M("load.culprit.60")}
	case near(100 * time.Second):
		return []i18n.Msg{i18n.M("load.culprit.100")}
	}
	return []i18n.Msg{i18n.M("load.culprit.other", "Age", verdict.Dur(age))}
}

// mostCommon is the most frequent close code and its count.
func mostCommon(codes map[int]int) (code, n int) {
	n = -1
	for c, k := range codes {
		if k > n || (k == n && c < code) {
			code, n = c, k
		}
	}
	return code, n
}

func minAge(ds []Death) time.Duration {
	m := ds[0].Age
	for _, d := range ds {
		m = min(m, d.Age)
	}
	return m
}

func maxAge(ds []Death) time.Duration {
	m := ds[0].Age
	for _, d := range ds {
		m = max(m, d.Age)
	}
	return m
}
