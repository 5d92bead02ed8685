package diagnose

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/conndiag/conndiag/internal/capture"
	"github.com/conndiag/conndiag/internal/cloud"
	"github.com/conndiag/conndiag/internal/firewall"
	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/verdict"
)

// HostReaders are what the server audit reads from this machine. Audit uses
// RealHostReaders for the fields left nil, so a test replaces only what it fakes.
type HostReaders struct {
	Hostname func() (string, error)
	Euid     func() int
	Counters func() (host.TCPCounters, error)
	// Sockets lists every TCP socket; fromProc says /proc was read because
	// netlink socket diagnostics were unavailable (no backlog then).
	Sockets   func() (socks []host.DiagSocket, fromProc bool, err error)
	Procs     func(inodes map[uint64]bool) (host.ProcScan, error)
	Addrs     func() ([]host.Addr, error)
	Route     func(netip.Addr) (host.Route, error)
	Sysctl    func(name string) (int, error)
	PortRange func() (host.PortRange, error)
	Firewall  func(ctx context.Context) *firewall.Snapshot
	DMI       func() cloud.DMI
	Panel     func() *cloud.Panel
	// Watch opens the SYN watch on the ports (capture.Open).
	Watch func(ports []uint16) (Watcher, error)
}

// Watcher watches SYNs for a while (capture.Watcher).
type Watcher interface {
	Run(ctx context.Context, d time.Duration) (capture.Result, error)
}

// RealHostReaders read this machine.
func RealHostReaders() HostReaders {
	return HostReaders{
		Hostname:  os.Hostname,
		Euid:      os.Geteuid,
		Counters:  host.ReadTCPCounters,
		Sockets:   func() ([]host.DiagSocket, bool, error) { return host.TCPDiagOrProc(host.AllStates) },
		Procs:     host.ScanProcs,
		Addrs:     host.LocalAddrs,
		Route:     host.RouteTo,
		Sysctl:    host.SysctlInt,
		PortRange: host.EphemeralRange,
		Firewall:  func(ctx context.Context) *firewall.Snapshot { return firewall.Reader{}.Read(ctx, nil) },
		DMI:       func() cloud.DMI { return cloud.ReadDMI(cloud.Root()) },
		Panel:     func() *cloud.Panel { return cloud.DetectPanel(cloud.Root()) },
		Watch: func(ports []uint16) (Watcher, error) {
			w, err := capture.Open(ports)
			if err != nil {
				return nil, err
			}
			return w, nil
		},
	}
}

func (r HostReaders) withDefaults() HostReaders {
	d := RealHostReaders()
	if r.Hostname == nil {
		r.Hostname = d.Hostname
	}
	if r.Euid == nil {
		r.Euid = d.Euid
	}
	if r.Counters == nil {
		r.Counters = d.Counters
	}
	if r.Sockets == nil {
		r.Sockets = d.Sockets
	}
	if r.Procs == nil {
		r.Procs = d.Procs
	}
	if r.Addrs == nil {
		r.Addrs = d.Addrs
	}
	if r.Route == nil {
		r.Route = d.Route
	}
	if r.Sysctl == nil {
		r.Sysctl = d.Sysctl
	}
	if r.PortRange == nil {
		r.PortRange = d.PortRange
	}
	if r.Firewall == nil {
		r.Firewall = d.Firewall
	}
	if r.DMI == nil {
		r.DMI = d.DMI
	}
	if r.Panel == nil {
		r.Panel = d.Panel
	}
	if r.Watch == nil {
		r.Watch = d.Watch
	}
	return r
}

// AuditOptions configure a server audit. Zero values mean the defaults.
type AuditOptions struct {
	Ports []uint16      // the ports to audit; none: every listening port
	Watch time.Duration // watch the ports for SYNs this long; 0: no watch
	// Notify is told when the watch starts (the CLI prints a line on stderr).
	Notify  func(ports []uint16, d time.Duration)
	Readers HostReaders
	Now     func() time.Time
}

// AuditPort is the audit of one port.
type AuditPort struct {
	Evidence verdict.PortEvidence
	Findings []verdict.Finding
	Watched  bool
	// Unchecked names what could not be checked for this port (the firewall
	// rules, without root): such a port is never reported as clean.
	Unchecked []i18n.Msg
}

// AuditReport is a whole server audit.
type AuditReport struct {
	Host       string
	Ports      []AuditPort
	HostEv     verdict.HostEvidence
	Findings   []verdict.Finding // about the host
	NotChecked []i18n.Msg
	WatchErr   error // --watch was asked and could not run
	Duration   time.Duration
	// Cancelled: ctx ended (Ctrl-C) before the audit finished, so the watch
	// was cut short and its findings must not be shown as a verdict.
	Cancelled bool
}

// Problem reports whether the audit found something wrong.
func (r AuditReport) Problem() bool {
	if verdict.Problem(r.Findings) {
		return true
	}
	for _, p := range r.Ports {
		if verdict.Problem(p.Findings) {
			return true
		}
	}
	return false
}

// Complete reports whether every port was fully checked.
func (r AuditReport) Complete() bool {
	for _, p := range r.Ports {
		if len(p.Unchecked) > 0 {
			return false
		}
	}
	return true
}

// Why a --watch could not run (AuditReport.WatchErr), for the CLI to say.
var (
	ErrWatchNoPort       = errors.New("--watch: no port to watch; name one, e.g. conndiag server --watch 60s 8282")
	ErrWatchNotPermitted = capture.ErrNotPermitted
)

// ErrNoSockets is the one failure that stops an audit: this host's sockets
// could not be read at all.
var ErrNoSockets = errors.New("cannot read this host's sockets")

// Audit gathers the evidence about this host as the server and decides. It
// flows one way, as Check does: host readers → evidence → rules → report.
// Only a failure to read the sockets at all is an error; everything else
// degrades into a "not checked" line.
func Audit(ctx context.Context, opt AuditOptions) (AuditReport, error) {
	rd := opt.Readers.withDefaults()
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	rep := AuditReport{}
	rep.Host, _ = rd.Hostname()
	nc := func(m i18n.Msg) { rep.NotChecked = append(rep.NotChecked, m) }

	before, cerr := rd.Counters()
	if cerr != nil {
		nc(i18n.M("server.nc.counters", "Err", cerr.Error()))
	}

	// The firewall commands are the slowest part: start them first.
	var snap *firewall.Snapshot
	var fwDone sync.WaitGroup
	fwDone.Add(1)
	go func() { defer fwDone.Done(); snap = rd.Firewall(ctx) }()

	socks, fromProc, err := rd.Sockets()
	if err != nil {
		fwDone.Wait()
		return rep, fmt.Errorf("%w: %v", ErrNoSockets, err)
	}
	if fromProc {
		nc(i18n.M("server.nc.sockets", "Err", "netlink socket diagnostics unavailable"))
	}
	listeners := map[uint16][]host.DiagSocket{}
	inodes := map[uint64]bool{}
	for _, s := range socks {
		if s.State == host.StateListen {
			listeners[s.Local.Port()] = append(listeners[s.Local.Port()], s)
			inodes[s.Inode] = true
		}
	}
	ports := opt.Ports
	asked := len(ports) > 0
	if !asked {
		for p := range listeners {
			ports = append(ports, p)
		}
		sort.Slice(ports, func(i, j int) bool { return ports[i] < ports[j] })
	}

	// The watch runs while the rest of the audit does.
	var watchRes capture.Result
	var watchDone sync.WaitGroup
	watching := false
	if opt.Watch > 0 {
		if len(ports) == 0 {
			rep.WatchErr = ErrWatchNoPort
		} else if w, err := rd.Watch(ports); err != nil {
			rep.WatchErr = err
			if errors.Is(err, capture.ErrNotPermitted) {
				nc(i18n.M("server.nc.watch_root"))
			} else {
				nc(i18n.M("server.nc.watch", "Err", err.Error()))
			}
		} else {
			if opt.Notify != nil {
				opt.Notify(ports, opt.Watch)
			}
			watching = true
			watchDone.Add(1)
			go func() {
				defer watchDone.Done()
				var werr error
				watchRes, werr = w.Run(ctx, opt.Watch)
				if werr != nil {
					rep.WatchErr = werr
				}
			}()
		}
	}

	scan, serr := rd.Procs(inodes)
	if serr != nil {
		nc(i18n.M("server.nc.failed", "What", "/proc", "Err", serr.Error()))
	}
	addrs, ifaces := hostAddrs(rd, nc)
	limits := readLimits(rd, socks, nc)
	dmi := rd.DMI()
	panel := rd.Panel()
	fwDone.Wait()
	snap.FirewalldRunning = scan.Running["firewalld"]
	fwRead := len(snap.Read) > 0
	needRoot := false
	for _, pr := range snap.Problems {
		if pr.NeedRoot {
			needRoot = true
			nc(i18n.M("server.nc.need_root", "What", pr.What, "Err", pr.Err))
		} else {
			nc(i18n.M("server.nc.failed", "What", pr.What, "Err", pr.Err))
		}
	}
	if !fwRead && len(snap.Problems) == 0 {
		nc(i18n.M("server.nc.failed", "What", "iptables/nftables", "Err", "neither iptables-save nor nft is installed, so the rules (if any) could not be read"))
	}
	if dmi.Empty() {
		nc(i18n.M("server.nc.dmi"))
	}

	watchDone.Wait()
	if ctx.Err() != nil {
		rep.Cancelled = true
	}
	if watching && fwRead && ctx.Err() == nil {
		// Read the rules again: their counters then include the SYNs the
		// watch saw dropped, and rules changed during the watch show.
		if again := rd.Firewall(ctx); len(again.Read) > 0 {
			again.FirewalldRunning = snap.FirewalldRunning
			snap = again
		}
	}
	after, aerr := rd.Counters()
	h := verdict.HostEvidence{Addrs: addrs, Ports: ports, Cloud: cloud.Identify(dmi), DMIVendor: dmi.SysVendor,
		DMIProduct: dmi.ProductName, Limits: limits, Audit: now().Sub(start)}
	if cerr == nil && aerr == nil && after.ListenOverflows >= before.ListenOverflows {
		h.OverflowGrowth, h.OverflowTotal = after.ListenOverflows-before.ListenOverflows, after.ListenOverflows
	}
	if panel != nil {
		h.Panel, h.PanelPort = panel.ID, panel.Port
	}

	hidden := 0
	euid := rd.Euid()
	for _, port := range ports {
		pe := verdict.PortEvidence{Port: port, Asked: asked}
		for _, s := range listeners[port] {
			l := verdict.Listener{Addr: s.Local, V6Only: s.V6Only, Backlog: s.WQueue, Queue: s.RQueue, UID: s.UID, Owners: scan.Owners[s.Inode]}
			if fromProc {
				l.Backlog, l.Queue = 0, 0
			}
			if len(l.Owners) == 0 && s.UID != euid && scan.Denied > 0 {
				l.OwnerHidden = true
				hidden++
			}
			if l.Backlog > 0 && l.Queue >= l.Backlog {
				h.QueueFullPorts = append(h.QueueFullPorts, port)
			}
			pe.Listeners = append(pe.Listeners, l)
		}
		ap := AuditPort{}
		if fwRead {
			pe.Firewall = firewallEvidence(rd, snap, port, addrs, ifaces)
		} else {
			why := "server.unchecked.firewall"
			if needRoot {
				why = "server.unchecked.firewall_root"
			}
			ap.Unchecked = append(ap.Unchecked, i18n.M(why, "Port", port))
		}
		if opt.Watch > 0 && rep.WatchErr == nil {
			ap.Watched = true
			pe.Watch = portWatch(watchRes, port)
		}
		ap.Evidence = pe
		rep.Ports = append(rep.Ports, ap)
	}
	if hidden > 0 {
		nc(i18n.M("server.nc.owners", "N", hidden))
	}
	if m, ok := unaskedWatchNote(rep.Ports, asked, opt.Watch > 0 && rep.WatchErr == nil, watchRes.Duration); ok {
		nc(m)
	}
	for i := range rep.Ports {
		rep.Ports[i].Findings = verdict.DecidePort(h, rep.Ports[i].Evidence)
	}
	rep.HostEv = h
	rep.Findings = verdict.DecideHost(h)
	rep.Duration = now().Sub(start)
	return rep, nil
}

// hostAddrs lists the addresses clients could use and, per family, the
// interface of the default route (where clients arrive).
func hostAddrs(rd HostReaders, nc func(i18n.Msg)) ([]netip.Addr, map[firewall.Family]string) {
	ifaces := map[firewall.Family]string{}
	all, err := rd.Addrs()
	if err != nil {
		nc(i18n.M("server.nc.failed", "What", "addresses", "Err", err.Error()))
	}
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	for _, a := range all {
		ad := a.Prefix.Addr().Unmap()
		if ad.IsLoopback() || ad.IsLinkLocalUnicast() || ad.IsMulticast() || ad.IsUnspecified() || seen[ad] {
			continue
		}
		seen[ad] = true
		out = append(out, ad)
	}
	// Only a route lookup for some public address: no packet is sent.
	for fam, probe := range map[firewall.Family]string{firewall.IPv4: "1.1.1.1", firewall.IPv6: "2606:4700:4700::1111"} {
		if r, err := rd.Route(netip.MustParseAddr(probe)); err == nil && r.Iface != "" && r.Errno == 0 {
			ifaces[fam] = r.Iface
		}
	}
	return out, ifaces
}

// readLimits reads the kernel settings and counts the sockets.
func readLimits(rd HostReaders, socks []host.DiagSocket, nc func(i18n.Msg)) verdict.Limits {
	l := verdict.Limits{}
	get := func(name string, quiet bool) int {
		v, err := rd.Sysctl(name)
		if err != nil {
			if !quiet {
				nc(i18n.M("server.nc.sysctl", "Name", name, "Err", err.Error()))
			}
			return -1
		}
		return v
	}
	l.Somaxconn = get("net.core.somaxconn", false)
	l.SynBacklog = get("net.ipv4.tcp_max_syn_backlog", false)
	l.TwReuse = get("net.ipv4.tcp_tw_reuse", false)
	l.MaxTwBuckets = get("net.ipv4.tcp_max_tw_buckets", false)
	l.BindV6Only = get("net.ipv6.bindv6only", true)
	// Connection tracking exists only when netfilter loaded it.
	l.ConntrackCount = get("net.netfilter.nf_conntrack_count", true)
	l.ConntrackMax = get("net.netfilter.nf_conntrack_max", true)
	if r, err := rd.PortRange(); err == nil {
		l.PortRange = r
	} else {
		nc(i18n.M("server.nc.sysctl", "Name", "net.ipv4.ip_local_port_range", "Err", err.Error()))
	}
	toDst := map[netip.AddrPort]int{}
	for _, s := range socks {
		switch s.State {
		case host.StateTimeWait:
			l.TimeWait++
		case host.StateEstablished:
			l.Established++
		case host.StateListen:
			continue
		}
		if l.PortRange.Contains(int(s.Local.Port())) {
			d := netip.AddrPortFrom(s.Remote.Addr().Unmap(), s.Remote.Port())
			toDst[d]++
		}
	}
	for d, n := range toDst {
		if n > l.BusiestCount {
			l.Busiest, l.BusiestCount = d, n
		}
	}
	return l
}

// firewallEvidence evaluates the rule set for the port in each family the
// host has addresses in (IPv4 at least).
func firewallEvidence(rd HostReaders, snap *firewall.Snapshot, port uint16, addrs []netip.Addr, ifaces map[firewall.Family]string) []verdict.FirewallEvidence {
	routeIface := func(a netip.Addr) string { // the interface toward a DNAT destination such as a container
		if r, err := rd.Route(a); err == nil {
			return r.Iface
		}
		return ""
	}
	var out []verdict.FirewallEvidence
	for _, fam := range []firewall.Family{firewall.IPv4, firewall.IPv6} {
		var local []netip.Addr
		for _, a := range addrs {
			if a.Is4() == (fam == firewall.IPv4) {
				local = append(local, a)
			}
		}
		if len(local) == 0 && fam == firewall.IPv6 {
			continue
		}
		r := snap.Rules.Evaluate(firewall.Packet{Family: fam, Port: port, InIface: ifaces[fam], Local: local, OutIface: routeIface})
		e := verdict.FirewallEvidence{Result: r, Open: snap.Opening(r, port)}
		if u := snap.UFW; u != nil && u.Enabled {
			e.UFWOn = true
			if u.RulesErr == nil {
				e.UFWAction, e.UFWRule = u.Decide(port, fam == firewall.IPv6)
			}
		}
		if f := snap.Firewalld; f != nil && snap.FirewalldRunning {
			e.FirewalldOn = true
			e.FirewalldZone = f.ZoneFor(ifaces[fam])
			e.FirewalldHow, _ = f.Allows(e.FirewalldZone, port)
		}
		out = append(out, e)
	}
	return out
}

// portWatch picks the port's attempts out of the watch.
func portWatch(r capture.Result, port uint16) *verdict.Watch {
	w := &verdict.Watch{Duration: r.Duration, Untracked: r.Untracked, KernelDrops: r.KernelDrops}
	for _, s := range r.SYNs {
		if s.To.Port() == port {
			w.SYNs = append(w.SYNs, verdict.WatchedSYN{From: s.From, To: s.To, Count: s.Count, Answer: string(s.Answer)})
		}
	}
	return w
}

// unaskedWatchNote says, for a watch of every listening port (no port
// named), that only the ports that received SYNs are judged: a listening
// port no client tried during the watch proves nothing by its silence.
func unaskedWatchNote(ports []AuditPort, asked, watched bool, d time.Duration) (i18n.Msg, bool) {
	if asked || !watched {
		return i18n.Msg{}, false
	}
	var seen []uint16
	quiet := 0
	for _, p := range ports {
		if w := p.Evidence.Watch; w != nil && len(w.SYNs) > 0 {
			seen = append(seen, p.Evidence.Port)
		} else {
			quiet++
		}
	}
	if quiet == 0 {
		return i18n.Msg{}, false
	}
	if len(seen) == 0 {
		return i18n.M("portfamily.server.nc.watch_unasked_none", "N", quiet, "Dur", verdict.Dur(d)), true
	}
	return i18n.M("portfamily.server.nc.watch_unasked", "Seen", verdict.JoinPorts(seen), "N", quiet, "Dur", verdict.Dur(d)), true
}
