package verdict

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/target"
)

var (
	server   = netip.MustParseAddrPort("203.0.113.2:8282")
	private  = netip.MustParseAddrPort("10.20.0.5:8282")
	defRoute = &host.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("198.51.100.1"),
		Iface: "eth0", Type: "unicast", Default: true}
	lanRoute = &host.Route{Dst: netip.MustParsePrefix("10.20.0.0/16"), Iface: "eth1", Type: "unicast", OnLink: true}
)

func conn(kind neterr.Kind, errno syscall.Errno) neterr.Result {
	d := time.Millisecond
	if kind == neterr.Timeout {
		d = 3 * time.Second // a silence waited out to the full --timeout
	}
	return neterr.Result{Kind: kind, Errno: errno, Op: "connect", Duration: d}
}

// silentFor is a connect given up after the adaptive wait d.
func silentFor(d time.Duration) neterr.Result {
	return neterr.Result{Kind: neterr.Timeout, Op: "connect", Duration: d}
}

func withICMP(r neterr.Result, typ, code uint8, from string) neterr.Result {
	r.ICMP = &neterr.ICMP{Origin: 2, Type: typ, Code: code, From: netip.MustParseAddr(from)}
	return r
}

func listener(s string) host.Socket {
	return host.Socket{Local: netip.MustParseAddrPort(s), State: 10}
}

func TestDecide(t *testing.T) {
	snap := newSnapshot(t)
	alive := []PortProbe{{Port: 22, Kind: neterr.Refused, Duration: time.Millisecond}}
	silentOthers := []PortProbe{{Port: 22, Kind: neterr.Timeout}, {Port: 80, Kind: neterr.Timeout}}
	tests := []struct {
		name    string
		ev      Evidence
		outcome Outcome
		cause   Cause
		conf    Confidence
	}{
		{"dns nxdomain", Evidence{DNS: DNS{NotFound: true}}, OutcomeDNSFailure, CauseDNSFailure, High},
		{"dns no answer", Evidence{DNS: DNS{}}, OutcomeDNSFailure, CauseDNSFailure, High},
		{"connected", ev1(AddrEvidence{Addr: server, Connect: conn(neterr.OK, 0)}), OutcomeOK, CauseOK, High},
		{"refused remote", ev1(AddrEvidence{Addr: server, Connect: conn(neterr.Refused, syscall.ECONNREFUSED), Route: defRoute}),
			OutcomeRefused, CauseNotListening, Medium},
		{"refused local, no listener", ev1(AddrEvidence{Addr: server, Local: true, Connect: conn(neterr.Refused, syscall.ECONNREFUSED)}),
			OutcomeRefused, CauseNotListening, High},
		{"refused local, loopback listener", ev1(AddrEvidence{Addr: server, Local: true, Connect: conn(neterr.Refused, syscall.ECONNREFUSED),
			Listeners: []host.Socket{listener("127.0.0.1:8282")}}), OutcomeRefused, CauseBoundToLoopback, High},
		{"refused local, v6 loopback listener", ev1(AddrEvidence{Addr: server, Local: true, Connect: conn(neterr.Refused, syscall.ECONNREFUSED),
			Listeners: []host.Socket{listener("[::1]:8282")}}), OutcomeRefused, CauseBoundToLoopback, High},
		{"refused local, other address", ev1(AddrEvidence{Addr: server, Local: true, Connect: conn(neterr.Refused, syscall.ECONNREFUSED),
			Listeners: []host.Socket{listener("198.51.100.7:8282")}}), OutcomeRefused, CauseBoundToOtherAddress, High},
		{"refused loopback target, listener on other address", ev1(AddrEvidence{Addr: netip.MustParseAddrPort("127.0.0.1:8282"), Local: true,
			Connect: conn(neterr.Refused, syscall.ECONNREFUSED), Listeners: []host.Socket{listener("198.51.100.7:8282")}}),
			OutcomeRefused, CauseBoundToOtherAddress, High},
		{"refused loopback target, listener on another loopback address", ev1(AddrEvidence{Addr: netip.MustParseAddrPort("127.0.0.1:8282"), Local: true,
			Connect: conn(neterr.Refused, syscall.ECONNREFUSED), Listeners: []host.Socket{listener("127.0.0.2:8282")}}),
			OutcomeRefused, CauseBoundToOtherAddress, High},
		{"refused despite wildcard listener", ev1(AddrEvidence{Addr: server, Local: true, Connect: conn(neterr.Refused, syscall.ECONNREFUSED),
			Listeners: []host.Socket{listener("0.0.0.0:8282")}}), OutcomeRefused, CauseFirewallReject, Medium},
		{"REJECT port-unreachable from server", ev1(AddrEvidence{Addr: server, Route: defRoute,
			Connect: withICMP(conn(neterr.Refused, syscall.ECONNREFUSED), 3, 3, "203.0.113.2")}), OutcomeRefused, CauseFirewallReject, High},
		{"REJECT port-unreachable from router", ev1(AddrEvidence{Addr: server, Route: defRoute,
			Connect: withICMP(conn(neterr.Refused, syscall.ECONNREFUSED), 3, 3, "198.51.100.1")}), OutcomeRefused, CauseFirewallReject, High},
		{"admin prohibited", ev1(AddrEvidence{Addr: server, Route: defRoute,
			Connect: withICMP(conn(neterr.HostUnreachable, syscall.EHOSTUNREACH), 3, 13, "203.0.113.2")}), OutcomeUnreachable, CauseFirewallReject, High},
		{"host prohibited", ev1(AddrEvidence{Addr: server, Route: defRoute,
			Connect: withICMP(conn(neterr.HostUnreachable, syscall.EHOSTUNREACH), 3, 10, "198.51.100.1")}), OutcomeUnreachable, CauseFirewallReject, High},
		{"router says host unreachable", ev1(AddrEvidence{Addr: server, Route: defRoute,
			Connect: withICMP(conn(neterr.HostUnreachable, syscall.EHOSTUNREACH), 3, 1, "198.51.100.1")}), OutcomeUnreachable, CauseHostUnreachable, High},
		{"ARP failure reported by own kernel", ev1(AddrEvidence{Addr: server, Route: lanRoute, ICMPFromLocal: true,
			Connect: slow(withICMP(conn(neterr.HostUnreachable, syscall.EHOSTUNREACH), 3, 1, "198.51.100.2"), 3070*time.Millisecond)}), OutcomeUnreachable, CauseHostUnreachable, High},
		{"neighbour incomplete at timeout", ev1(AddrEvidence{Addr: server, Route: lanRoute, Neigh: "INCOMPLETE",
			Connect: conn(neterr.Timeout, 0), Others: silentOthers}), OutcomeTimeout, CauseHostUnreachable, High},
		{"private behind default route, router unreachable", ev1(AddrEvidence{Addr: private, Route: defRoute,
			Connect: withICMP(conn(neterr.HostUnreachable, syscall.EHOSTUNREACH), 3, 1, "198.51.100.1")}), OutcomeUnreachable, CausePrivateAddress, High},
		{"private behind default route, silence", ev1(AddrEvidence{Addr: private, Route: defRoute,
			Connect: conn(neterr.Timeout, 0), Others: silentOthers}), OutcomeTimeout, CausePrivateAddress, Medium},
		{"private on a LAN route is an ordinary host", ev1(AddrEvidence{Addr: private, Route: lanRoute,
			Connect: conn(neterr.Timeout, 0), Others: silentOthers}), OutcomeTimeout, CauseHostDown, Medium},
		{"private behind default route, other ports answer: filtered", ev1(AddrEvidence{Addr: private, Route: defRoute,
			Connect: silentFor(200 * time.Millisecond), Others: alive, Wait: 200 * time.Millisecond, RTT: time.Millisecond, SYNs: 6}),
			OutcomeTimeout, CauseFiltered, Medium},
		{"cgnat behind default route", ev1(AddrEvidence{Addr: netip.MustParseAddrPort("100.64.3.4:80"), Route: defRoute,
			Connect: conn(neterr.Timeout, 0)}), OutcomeTimeout, CausePrivateAddress, Medium},
		{"silent own address: this machine's firewall", ev1(AddrEvidence{Addr: server, Local: true, Connect: conn(neterr.Timeout, 0),
			Others: alive, Listeners: []host.Socket{listener("0.0.0.0:8282")}}), OutcomeTimeout, CauseFirewallLocal, Medium},
		{"filtered: other ports answer", ev1(AddrEvidence{Addr: server, Route: defRoute, Connect: silentFor(200 * time.Millisecond),
			Others: alive, Wait: 200 * time.Millisecond, RTT: time.Millisecond, SYNs: 6}), OutcomeTimeout, CauseFiltered, Medium},
		{"silent port, another port drew ICMP unreachable", ev1(AddrEvidence{Addr: server, Route: defRoute, Connect: conn(neterr.Timeout, 0),
			Others: []PortProbe{{Port: 22, Kind: neterr.HostUnreachable}, {Port: 80, Kind: neterr.Timeout}}}), OutcomeTimeout, CauseHostUnreachable, Medium},
		{"host down: silence everywhere", ev1(AddrEvidence{Addr: server, Route: defRoute, Connect: conn(neterr.Timeout, 0),
			Others: silentOthers}), OutcomeTimeout, CauseHostDown, Medium},
		{"no route at all", ev1(AddrEvidence{Addr: server, Route: &host.Route{Type: "none", Errno: syscall.ENETUNREACH},
			Connect: conn(neterr.NetUnreachable, syscall.ENETUNREACH)}), OutcomeUnreachable, CauseNoRoute, High},
		{"local unreachable route", ev1(AddrEvidence{Addr: server, Route: &host.Route{Type: "unreachable", Dst: netip.MustParsePrefix("203.0.113.0/24")},
			Connect: conn(neterr.HostUnreachable, syscall.EHOSTUNREACH)}), OutcomeUnreachable, CauseNoRoute, High},
		{"local blackhole route", ev1(AddrEvidence{Addr: server, Route: &host.Route{Type: "blackhole", Dst: netip.MustParsePrefix("203.0.113.0/24")},
			Connect: conn(neterr.InvalidArgument, syscall.EINVAL)}), OutcomeUnreachable, CauseNoRoute, High},
		{"local prohibit route", ev1(AddrEvidence{Addr: server, Route: &host.Route{Type: "prohibit", Dst: netip.MustParsePrefix("203.0.113.0/24")},
			Connect: conn(neterr.PermissionDenied, syscall.EACCES)}), OutcomeUnreachable, CauseNoRoute, High},
		{"ephemeral ports exhausted", ev1(AddrEvidence{Addr: server, Connect: conn(neterr.AddrNotAvailable, syscall.EADDRNOTAVAIL),
			Usage: &host.PortUsage{Range: host.PortRange{Lo: 40000, Hi: 40003}, ToDest: 4}}), OutcomeAddrUnavailable, CauseEphemeralPortsExhausted, High},
		{"source ports exhausted at bind", ev1(AddrEvidence{Addr: server, Connect: neterr.Result{Kind: neterr.Other, Op: "bind", Errno: syscall.EADDRINUSE}}),
			OutcomeAddrUnavailable, CauseEphemeralPortsExhausted, High},
		{"source address not local", Evidence{Source: netip.MustParseAddr("192.0.2.77"), DNS: DNS{Literal: true},
			Addrs: []AddrEvidence{{Addr: server, Connect: neterr.Result{Kind: neterr.AddrNotAvailable, Op: "bind", Errno: syscall.EADDRNOTAVAIL}}}},
			OutcomeAddrUnavailable, CauseSourceAddressInvalid, High},
		{"IPv4 source toward an IPv6 address", Evidence{Source: netip.MustParseAddr("198.51.100.2"), DNS: DNS{Literal: true},
			Addrs: []AddrEvidence{{Addr: netip.MustParseAddrPort("[fd00::5]:8282"), Route: defRoute,
				Connect: neterr.Result{Kind: neterr.InvalidArgument, Op: "bind"}}}},
			OutcomeLocalError, CauseSourceAddressInvalid, High},
		{"too many open files", ev1(AddrEvidence{Addr: server, Connect: neterr.Result{Kind: neterr.TooManyFiles, Op: "socket", Errno: syscall.EMFILE},
			NoFile: &Limit{Soft: 1024, Hard: 4096, Open: 1024}}), OutcomeLocalError, CauseFDExhausted, High},
		{"system file table full", ev1(AddrEvidence{Addr: server, Connect: neterr.Result{Kind: neterr.TooManyFiles, Op: "socket", Errno: syscall.ENFILE}}),
			OutcomeLocalError, CauseFDExhausted, High},
		{"reset", ev1(AddrEvidence{Addr: server, Connect: conn(neterr.Reset, syscall.ECONNRESET)}), OutcomeReset, CauseResetByPeer, High},
		{"eacces without route or icmp", ev1(AddrEvidence{Addr: server, Route: defRoute, Connect: conn(neterr.PermissionDenied, syscall.EACCES)}),
			OutcomeUnreachable, CauseClientFirewall, Medium},
		{"unexplained", ev1(AddrEvidence{Addr: server, Route: defRoute, Connect: conn(neterr.Other, syscall.EPROTO)}), OutcomeLocalError, CauseUnknown, Low},
		{"private behind default route, router prohibits", ev1(AddrEvidence{Addr: private, Route: defRoute,
			Connect: withICMP(conn(neterr.HostUnreachable, syscall.EHOSTUNREACH), 3, 13, "198.51.100.1")}), OutcomeUnreachable, CauseFirewallReject, High},
		{"private, no route at all", ev1(AddrEvidence{Addr: private, Route: &host.Route{Type: "none", Errno: syscall.ENETUNREACH},
			Connect: conn(neterr.NetUnreachable, syscall.ENETUNREACH)}), OutcomeUnreachable, CauseNoRoute, High},
		{"private behind default route, unreachable without ICMP", ev1(AddrEvidence{Addr: private, Route: defRoute,
			Connect: conn(neterr.HostUnreachable, syscall.EHOSTUNREACH)}), OutcomeUnreachable, CausePrivateAddress, Medium},
		{"unreachable on the link, neighbour failed", ev1(AddrEvidence{Addr: server, Route: &host.Route{Dst: netip.MustParsePrefix("203.0.113.0/24"), Iface: "eth1", Type: "unicast", OnLink: true},
			Neigh: "FAILED", Connect: conn(neterr.HostUnreachable, syscall.EHOSTUNREACH)}), OutcomeUnreachable, CauseHostUnreachable, High},
		{"unreachable without ICMP or neighbour", ev1(AddrEvidence{Addr: server, Route: defRoute,
			Connect: conn(neterr.HostUnreachable, syscall.EHOSTUNREACH)}), OutcomeUnreachable, CauseHostUnreachable, Medium},
		{"one of two addresses works", Evidence{DNS: DNS{Addresses: []netip.Addr{server.Addr(), netip.MustParseAddr("203.0.113.3")}},
			Addrs: []AddrEvidence{
				{Addr: server, Connect: conn(neterr.Timeout, 0), Others: silentOthers, Route: defRoute},
				{Addr: netip.MustParseAddrPort("203.0.113.3:8282"), Connect: conn(neterr.OK, 0)},
			}}, OutcomeOK, CauseOK, High},
		// One family works and the other does not: no longer ok (issue 11), clients of one address fail.
		{"IPv4 silent, IPv6 works", Evidence{DNS: DNS{Addresses: []netip.Addr{server.Addr(), netip.MustParseAddr("2001:db8::2")}},
			Addrs: []AddrEvidence{
				{Addr: server, Connect: conn(neterr.Timeout, 0), Others: silentOthers, Route: defRoute},
				{Addr: netip.MustParseAddrPort("[2001:db8::2]:8282"), Connect: conn(neterr.OK, 0)},
			}}, OutcomeTimeout, CauseFamilyMismatch, Medium},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ev.Target = target.Target{Scheme: "tcp", Host: "h", Port: 8282}
			out, fs := Decide(tt.ev)
			snap.add(tt.name, out, fs)
			if len(fs) == 0 {
				t.Fatalf("no findings")
			}
			if out != tt.outcome || fs[0].Cause != tt.cause || fs[0].Confidence != tt.conf {
				t.Errorf("got %s / %s (%s), want %s / %s (%s)", out, fs[0].Cause, fs[0].Confidence, tt.outcome, tt.cause, tt.conf)
			}
			for _, f := range fs {
				if f.Summary.ID == "" {
					t.Errorf("finding %s has no summary", f.Cause)
				}
				if f.Cause != CauseOK && len(f.Fix) == 0 {
					t.Errorf("finding %s has no fix", f.Cause)
				}
			}
		})
	}
}

// slow is r as it ends after d.
func slow(r neterr.Result, d time.Duration) neterr.Result {
	r.Duration = d
	return r
}

func ev1(a AddrEvidence) Evidence {
	return Evidence{DNS: DNS{Literal: true, Addresses: []netip.Addr{a.Addr.Addr()}}, Addrs: []AddrEvidence{a}}
}

func TestFailingSecondAddressIsReported(t *testing.T) {
	ev := Evidence{Addrs: []AddrEvidence{
		{Addr: server, Connect: conn(neterr.OK, 0)},
		{Addr: netip.MustParseAddrPort("[2001:db8::2]:8282"), Connect: conn(neterr.Refused, syscall.ECONNREFUSED)},
	}}
	_, fs := Decide(ev)
	if len(fs) < 2 || fs[1].Cause != CauseNotListening || fs[1].Confidence != Medium {
		t.Fatalf("the refused second address must follow the verdict: %+v", fs)
	}
}

func TestAddrClass(t *testing.T) {
	for in, want := range map[string]string{
		"10.1.2.3": "private", "172.16.0.1": "private", "192.168.1.1": "private", "100.64.0.1": "cgnat",
		"100.127.255.255": "cgnat", "100.128.0.1": "", "169.254.1.1": "link_local", "127.0.0.2": "loopback",
		"::1": "loopback", "fe80::1": "link_local", "fd00::1": "ula", "203.0.113.1": "", "8.8.8.8": "",
		"::ffff:10.0.0.1": "private",
	} {
		if got := AddrClass(netip.MustParseAddr(in)); got != want {
			t.Errorf("AddrClass(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestDur(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0 ms", 40 * time.Microsecond: "0.04 ms", 2500 * time.Microsecond: "2.5 ms",
		212 * time.Millisecond: "212 ms", 3 * time.Second: "3.0 s",
	} {
		if got := Dur(d); got != want {
			t.Errorf("Dur(%v) = %q, want %q", d, got, want)
		}
	}
}

// A host that answers on other ports, or sends the ICMP error itself, is
// reachable: no finding may call it an unreachable internal address or down.
func TestReachablePrivateHostIsNotPrivateAddress(t *testing.T) {
	alive := []PortProbe{{Port: 22, Kind: neterr.Refused, Duration: time.Millisecond}}
	for name, a := range map[string]AddrEvidence{
		"silent port, others answer": {Addr: private, Route: defRoute, Connect: silentFor(200 * time.Millisecond), Others: alive,
			Wait: 200 * time.Millisecond, RTT: time.Millisecond, SYNs: 6},
		"REJECT from the server itself": {Addr: private, Route: defRoute,
			Connect: withICMP(conn(neterr.Refused, syscall.ECONNREFUSED), 3, 3, private.Addr().String())},
		"REJECT from router, others answer": {Addr: private, Route: defRoute, Others: alive,
			Connect: withICMP(conn(neterr.Refused, syscall.ECONNREFUSED), 3, 13, "198.51.100.1")},
	} {
		ev := ev1(a)
		ev.Target = target.Target{Scheme: "tcp", Host: "h", Port: 8282}
		_, fs := Decide(ev)
		for _, f := range fs {
			if f.Cause == CausePrivateAddress || f.Cause == CauseHostDown {
				t.Errorf("%s: finding %s contradicts the evidence that the host answers", name, f.Cause)
			}
		}
	}
}

func TestRouteLines(t *testing.T) {
	local := &host.Route{Dst: netip.MustParsePrefix("127.0.0.1/32"), Iface: "lo", Type: "local"}
	for name, r := range map[string]*host.Route{"local": local, "lan": lanRoute, "default": defRoute} {
		for _, m := range routeLines(AddrEvidence{Addr: netip.MustParseAddrPort("127.0.0.1:1"), Route: r}) {
			if text := i18n.New("en").Text(m); strings.Contains(text, "invalid IP") {
				t.Errorf("%s: %q", name, text)
			}
		}
	}
}
