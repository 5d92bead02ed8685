package cli

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/conndiag/conndiag/internal/capture"
	"github.com/conndiag/conndiag/internal/cloud"
	"github.com/conndiag/conndiag/internal/firewall"
	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/verdict"
)

// maxWatch bounds --watch; a day is more than anyone waits at a terminal.
const maxWatch = 24 * time.Hour

func newServer(g *globals) *cobra.Command {
	var watch time.Duration
	cmd := &cobra.Command{
		Use:   "server [PORT...]",
		Short: "Audit this host as the server: listeners, firewall, kernel limits, cloud and panel",
		Long: `Run on the server. For each PORT (every listening port when none is given) it
reads who listens on which address, walks the firewall rules (iptables, nftables,
ufw, firewalld) for a new connection from anywhere, and checks the kernel and
process limits; it names the cloud provider and hosting panel whose firewalls
cannot be seen from the host.

--watch DURATION watches the ports that long for inbound SYNs and tells, for each,
whether the host answered (SYN-ACK or RST) or stayed silent: silence means the
host's own firewall drops them; no SYN at all while a client tries means they
are dropped before the host (security group, provider firewall, the path).

Reading iptables/nftables rules needs root (CAP_NET_ADMIN), --watch needs root
(CAP_NET_RAW), and the processes of other users are seen only by root; without
it, the audit says what it could not read and reports the rest.

Exit status: 0 when nothing is wrong, 1 when a problem was found, 2 for bad
input, 3 when --watch could not run.`,
		Example: `  conndiag server
  conndiag server 8282
  conndiag server --watch 60s 8282
  conndiag server 80 443 --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ports, err := parseServerPorts(args)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("watch") && (watch <= 0 || watch > maxWatch) {
				return usageErr("--watch must be between 1s and %s, got %s", maxWatch, watch)
			}
			return runServer(cmd.Context(), g, auditOptions{Ports: ports, Watch: watch}, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().DurationVar(&watch, "watch", 0, "watch the ports this long for inbound SYNs and the host's answers (e.g. 60s; needs root)")
	return cmd
}

func parseServerPorts(args []string) ([]uint16, error) {
	var out []uint16
	seen := map[uint16]bool{}
	for _, a := range args {
		for _, s := range strings.Split(a, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			n, err := strconv.ParseUint(s, 10, 16)
			if err != nil || n == 0 {
				return nil, usageErr("%q is not a TCP port (1-65535); for example: conndiag server 8282", s)
			}
			if !seen[uint16(n)] {
				seen[uint16(n)] = true
				out = append(out, uint16(n))
			}
		}
	}
	return out, nil
}

type auditOptions struct {
	Ports []uint16
	Watch time.Duration
	// Notify is told when the watch starts (the CLI prints a line on stderr).
	Notify func(ports []uint16, d time.Duration)
}

// serverPort is the audit of one port.
type serverPort struct {
	ev       verdict.PortEvidence
	findings []verdict.Finding
	watched  bool
}

// serverReport is the whole audit.
type serverReport struct {
	Host       string
	Ports      []serverPort
	HostEv     verdict.HostEvidence
	Findings   []verdict.Finding // about the host
	NotChecked []i18n.Msg
	WatchErr   error // --watch was asked and could not run
	Duration   time.Duration
}

func (r serverReport) problem() bool {
	if verdict.Problem(r.Findings) {
		return true
	}
	for _, p := range r.Ports {
		if verdict.Problem(p.findings) {
			return true
		}
	}
	return false
}

func runServer(ctx context.Context, g *globals, opt auditOptions, stderr interface{ Write([]byte) (int, error) }) error {
	opt.Notify = func(ports []uint16, d time.Duration) {
		fmt.Fprintln(stderr, g.printer.T("ui.server.watching", "Ports", joinPorts(ports), "Dur", verdict.Dur(d)))
	}
	rep, err := audit(ctx, opt)
	if err != nil {
		return err
	}
	if g.json {
		if err := writeServerJSON(g.stdout, rep, g.printer); err != nil {
			return toolErr("writing output: %v", err)
		}
	} else {
		renderServerHuman(g.stdout, rep, g.printer, g.color)
	}
	if rep.WatchErr != nil {
		return toolErr("%v", rep.WatchErr)
	}
	if rep.problem() {
		return errProblem
	}
	return nil
}

func joinPorts(ps []uint16) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ", ")
}

// audit gathers the evidence about this host and decides. Only a failure to
// read the sockets at all is an error; everything else degrades into a
// "not checked" line.
func audit(ctx context.Context, opt auditOptions) (serverReport, error) {
	start := time.Now()
	rep := serverReport{}
	rep.Host, _ = os.Hostname()
	nc := func(m i18n.Msg) { rep.NotChecked = append(rep.NotChecked, m) }

	before, cerr := host.ReadTCPCounters()
	if cerr != nil {
		nc(i18n.M("server.nc.counters", "Err", cerr.Error()))
	}

	// The firewall commands are the slowest part: start them first.
	var snap *firewall.Snapshot
	var fwDone sync.WaitGroup
	fwDone.Add(1)
	go func() { defer fwDone.Done(); snap = firewall.Reader{}.Read(ctx, nil) }()

	socks, fromProc, err := host.TCPDiagOrProc(host.AllStates)
	if err != nil {
		fwDone.Wait()
		return rep, toolErr("cannot read this host's sockets: %v", err)
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
			rep.WatchErr = errors.New("--watch: no port to watch; name one, e.g. conndiag server --watch 60s 8282")
		} else if w, err := capture.Open(ports); err != nil {
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

	scan, serr := host.ScanProcs(inodes)
	if serr != nil {
		nc(i18n.M("server.nc.failed", "What", "/proc", "Err", serr.Error()))
	}
	addrs, ifaces := hostAddrs(nc)
	limits := readLimits(socks, nc)
	dmi := cloud.ReadDMI(cloud.Root())
	panel := cloud.DetectPanel(cloud.Root())
	fwDone.Wait()
	snap.FirewalldRunning = scan.Running["firewalld"]
	fwRead := len(snap.Read) > 0
	for _, pr := range snap.Problems {
		if pr.NeedRoot {
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
	if watching && fwRead && ctx.Err() == nil {
		// Read the rules again: their counters then include the SYNs the
		// watch saw dropped, and rules changed during the watch show.
		if again := (firewall.Reader{}).Read(ctx, nil); len(again.Read) > 0 {
			again.FirewalldRunning = snap.FirewalldRunning
			snap = again
		}
	}
	after, aerr := host.ReadTCPCounters()
	h := verdict.HostEvidence{Addrs: addrs, Ports: ports, Cloud: cloud.Identify(dmi), DMIVendor: dmi.SysVendor,
		DMIProduct: dmi.ProductName, Limits: limits, Audit: time.Since(start)}
	if cerr == nil && aerr == nil && after.ListenOverflows >= before.ListenOverflows {
		h.OverflowGrowth, h.OverflowTotal = after.ListenOverflows-before.ListenOverflows, after.ListenOverflows
	}
	if panel != nil {
		h.Panel, h.PanelPort = panel.ID, panel.Port
	}

	hidden := 0
	euid := os.Geteuid()
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
		if fwRead {
			pe.Firewall = firewallEvidence(snap, port, addrs, ifaces)
		}
		sp := serverPort{ev: pe}
		if opt.Watch > 0 && rep.WatchErr == nil {
			sp.watched = true
			pe.Watch = portWatch(watchRes, port)
			sp.ev = pe
		}
		rep.Ports = append(rep.Ports, sp)
	}
	if hidden > 0 {
		nc(i18n.M("server.nc.owners", "N", hidden))
	}
	for i := range rep.Ports {
		rep.Ports[i].findings = verdict.DecidePort(h, rep.Ports[i].ev)
	}
	rep.HostEv = h
	rep.Findings = verdict.DecideHost(h)
	rep.Duration = time.Since(start)
	return rep, nil
}

// hostAddrs lists the addresses clients could use and, per family, the
// interface of the default route (where clients arrive).
func hostAddrs(nc func(i18n.Msg)) ([]netip.Addr, map[firewall.Family]string) {
	ifaces := map[firewall.Family]string{}
	all, err := host.LocalAddrs()
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
		if r, err := host.RouteTo(netip.MustParseAddr(probe)); err == nil && r.Iface != "" && r.Errno == 0 {
			ifaces[fam] = r.Iface
		}
	}
	return out, ifaces
}

// readLimits reads the kernel settings and counts the sockets.
func readLimits(socks []host.DiagSocket, nc func(i18n.Msg)) verdict.Limits {
	l := verdict.Limits{}
	get := func(name string, quiet bool) int {
		v, err := host.SysctlInt(name)
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
	if r, err := host.EphemeralRange(); err == nil {
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
func firewallEvidence(snap *firewall.Snapshot, port uint16, addrs []netip.Addr, ifaces map[firewall.Family]string) []verdict.FirewallEvidence {
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

// routeIface is the interface toward a (a DNAT destination such as a container).
func routeIface(a netip.Addr) string {
	if r, err := host.RouteTo(a); err == nil {
		return r.Iface
	}
	return ""
}

// portWatch picks the port's attempts out of the watch.
func portWatch(r capture.Result, port uint16) *verdict.Watch {
	w := &verdict.Watch{Duration: r.Duration, Untracked: r.Untracked}
	for _, s := range r.SYNs {
		if s.To.Port() == port {
			w.SYNs = append(w.SYNs, verdict.WatchedSYN{From: s.From, To: s.To, Count: s.Count, Answer: string(s.Answer)})
		}
	}
	return w
}
