package cli

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/firewall"
	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/verdict"
)

// goldenServerReports are audits as the server command would assemble them,
// decided by the real rules, for the human output's golden files.
func goldenServerReports() map[string]serverReport {
	v4 := netip.MustParseAddr("203.0.113.2")
	h := verdict.HostEvidence{Addrs: []netip.Addr{v4, netip.MustParseAddr("2001:db8:2::2")}, Ports: []uint16{8282}, Cloud: "aws",
		DMIVendor: "Amazon EC2", DMIProduct: "t3.micro",
		Limits: verdict.Limits{Somaxconn: 4096, SynBacklog: 4096, TwReuse: 2, MaxTwBuckets: 262144, BindV6Only: 0,
			PortRange: host.PortRange{Lo: 32768, Hi: 60999}, TimeWait: 12, Established: 40, ConntrackCount: -1, ConntrackMax: -1}}
	owner := host.Owner{PID: 4242, Process: "php", FDs: 20, NoFile: &host.Rlimit{Soft: 1024, Hard: 524288}}
	listen := func(a string) verdict.Listener {
		return verdict.Listener{Addr: netip.MustParseAddrPort(a), V6Only: -1, Backlog: 511, Owners: []host.Owner{owner}}
	}
	drop := verdict.FirewallEvidence{
		Result: firewall.Result{Family: firewall.IPv4, Port: 8282, Action: firewall.Drop,
			Decider: &firewall.Hit{Backend: firewall.BackendIptablesNft, Family: "ip", Table: "filter", Chain: "INPUT", Base: "INPUT",
				Rule: "-A INPUT -p tcp -m tcp --dport 8282 -j DROP", Pos: 3, Counted: true, Packets: 7}},
		Open: firewall.Opening{Manager: firewall.ManagerIptables, Commands: []string{"iptables -I INPUT -p tcp --dport 8282 -j ACCEPT"}},
	}
	accept := verdict.FirewallEvidence{Result: firewall.Result{Family: firewall.IPv4, Port: 8282, Action: firewall.Accept}}
	watch := &verdict.Watch{Duration: 3 * time.Second, SYNs: []verdict.WatchedSYN{
		{From: netip.MustParseAddrPort("198.51.100.2:40000"), To: netip.AddrPortFrom(v4, 8282), Count: 2, Answer: verdict.AnswerNone}}}

	mk := func(hev verdict.HostEvidence, ports ...verdict.PortEvidence) serverReport {
		r := serverReport{Host: "web1", HostEv: hev, Duration: 87 * time.Millisecond,
			NotChecked: []i18n.Msg{i18n.M("server.nc.dmi")}}
		for _, pe := range ports {
			r.Ports = append(r.Ports, serverPort{Evidence: pe, Findings: verdict.DecidePort(hev, pe), Watched: pe.Watch != nil})
		}
		r.Findings = verdict.DecideHost(hev)
		return r
	}
	clean := h
	clean.Cloud, clean.DMIVendor, clean.DMIProduct = "", "", ""
	return map[string]serverReport{
		"server_loopback_drop": mk(h, verdict.PortEvidence{Port: 8282, Asked: true, Listeners: []verdict.Listener{listen("127.0.0.1:8282")},
			Firewall: []verdict.FirewallEvidence{drop}}),
		"server_watch_dropped": mk(h, verdict.PortEvidence{Port: 8282, Asked: true, Listeners: []verdict.Listener{listen("0.0.0.0:8282")},
			Firewall: []verdict.FirewallEvidence{drop}, Watch: watch}),
		// The SYNs were answered with a reset: the verdict does not need them, the person does.
		"server_watch_loopback": mk(clean, verdict.PortEvidence{Port: 8282, Asked: true, Listeners: []verdict.Listener{listen("127.0.0.1:8282")},
			Firewall: []verdict.FirewallEvidence{accept}, Watch: &verdict.Watch{Duration: 3 * time.Second, SYNs: []verdict.WatchedSYN{
				{From: netip.MustParseAddrPort("198.51.100.2:40000"), To: netip.AddrPortFrom(v4, 8282), Count: 1, Answer: verdict.AnswerRST}}}}),
		"server_clean": mk(clean, verdict.PortEvidence{Port: 8282, Asked: true, Listeners: []verdict.Listener{listen("[::]:8282")},
			Firewall: []verdict.FirewallEvidence{accept}}),
	}
}

// The server audit's human output, in every language, is held to golden files.
func TestServerHumanGolden(t *testing.T) {
	for name, r := range goldenServerReports() {
		for _, lang := range []string{"en", "ar", "zh"} {
			t.Run(name+"/"+lang, func(t *testing.T) {
				var b bytes.Buffer
				renderServerHuman(&b, r, i18n.New(lang), false)
				golden(t, filepath.Join("testdata", name+"."+lang+".golden"), b.String())
				var j bytes.Buffer
				if err := writeServerJSON(&j, r, i18n.New(lang)); err != nil {
					t.Fatal(err)
				}
				golden(t, filepath.Join("testdata", name+"."+lang+".json.golden"), j.String())
			})
		}
	}
}
