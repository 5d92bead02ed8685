package verdict

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/target"
)

// foreign is a connect as neterr reports it on another system: the number
// and name of that system.
func foreign(kind neterr.Kind, op string, errno uintptr, name string) neterr.Result {
	return neterr.Result{Kind: kind, Op: op, Errno: syscall.Errno(errno), ErrnoName: name, Duration: time.Millisecond}
}

// What Windows and macOS give a client, judged here: their error numbers,
// and nothing of Linux's error queue, routes, neighbours or listeners.
func TestDecideOtherSystems(t *testing.T) {
	snap := newSnapshot(t)
	unchecked := []string{evidence.UncheckedErrQueue, evidence.UncheckedRoute, evidence.UncheckedNeighbour, evidence.UncheckedListeners}
	silent := []PortProbe{{Port: 22, Kind: neterr.Timeout}, {Port: 80, Kind: neterr.Timeout}}
	tests := []struct {
		name    string
		os      string
		a       AddrEvidence
		outcome Outcome
		cause   Cause
		conf    Confidence
		also    Cause // a weaker finding that must follow, "" for none
	}{
		{"windows: WSAECONNREFUSED", "windows", AddrEvidence{Addr: server, Connect: foreign(neterr.Refused, "connect", 10061, "WSAECONNREFUSED")},
			OutcomeRefused, CauseNotListening, Medium, CauseBoundToLoopback},
		{"windows: WSAENOBUFS, the dynamic ports used up", "windows", AddrEvidence{Addr: server, Connect: foreign(neterr.Other, "bind", 10055, "WSAENOBUFS"),
			Usage: &host.PortUsage{OS: "windows", NoSockets: true, Range: host.PortRange{Lo: 49152, Hi: 65535}}},
			OutcomeAddrUnavailable, CauseEphemeralPortsExhausted, Medium, ""},
		{"windows: WSAEADDRINUSE at bind", "windows", AddrEvidence{Addr: server, Connect: foreign(neterr.AddrInUse, "bind", 10048, "WSAEADDRINUSE"),
			Usage: &host.PortUsage{OS: "windows", NoSockets: true, Range: host.PortRange{Lo: 49152, Hi: 65535}}},
			OutcomeAddrUnavailable, CauseEphemeralPortsExhausted, High, ""},
		{"windows: WSAEHOSTUNREACH to a private address", "windows", AddrEvidence{Addr: private, Connect: foreign(neterr.HostUnreachable, "connect", 10065, "WSAEHOSTUNREACH")},
			OutcomeUnreachable, CauseHostUnreachable, Medium, CausePrivateAddress},
		{"windows: WSAEMFILE", "windows", AddrEvidence{Addr: server, Connect: foreign(neterr.TooManyFiles, "socket", 10024, "WSAEMFILE")},
			OutcomeLocalError, CauseFDExhausted, High, ""},
		{"macos: EADDRNOTAVAIL, ports used up", "darwin", AddrEvidence{Addr: server, Connect: foreign(neterr.AddrNotAvailable, "connect", 49, "EADDRNOTAVAIL"),
			Usage: &host.PortUsage{OS: "darwin", NoSockets: true, Range: host.PortRange{Lo: 49152, Hi: 65535}}},
			OutcomeAddrUnavailable, CauseEphemeralPortsExhausted, High, ""},
		{"macos: silent private address, route not read", "darwin", AddrEvidence{Addr: private, Connect: conn(neterr.Timeout, 0), Others: silent},
			OutcomeTimeout, CauseHostDown, Medium, CausePrivateAddress},
		{"macos: EHOSTDOWN", "darwin", AddrEvidence{Addr: server, Connect: foreign(neterr.HostUnreachable, "connect", 64, "EHOSTDOWN")},
			OutcomeUnreachable, CauseHostUnreachable, Medium, ""},
		{"freebsd: ECONNREFUSED", "freebsd", AddrEvidence{Addr: server, Connect: foreign(neterr.Refused, "connect", 61, "ECONNREFUSED")},
			OutcomeRefused, CauseNotListening, Medium, CauseBoundToLoopback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := ev1(tt.a)
			ev.OS, ev.NotChecked = tt.os, unchecked
			ev.Target = target.Target{Scheme: "tcp", Host: "h", Port: 8282}
			out, fs := Decide(ev)
			snap.add(tt.name, out, fs)
			if out != tt.outcome || len(fs) == 0 || fs[0].Cause != tt.cause || fs[0].Confidence != tt.conf {
				t.Fatalf("got %s %v; want %s %s (%s)", out, fs, tt.outcome, tt.cause, tt.conf)
			}
			if tt.also != "" && !hasCause(fs[1:], tt.also) {
				t.Errorf("no %s among the alternatives: %v", tt.also, fs)
			}
			// Nothing proves a cause from evidence this system never gave.
			for _, f := range fs {
				if f.Confidence == High && (f.Cause == CausePrivateAddress || f.Cause == CauseNoRoute || f.Cause == CauseBoundToLoopback) {
					t.Errorf("%s with high confidence from evidence that was not read", f.Cause)
				}
			}
		})
	}
}

func hasCause(fs []Finding, c Cause) bool {
	for _, f := range fs {
		if f.Cause == c {
			return true
		}
	}
	return false
}

// The fix for exhausted ports is the client system's own command.
func TestPortsFixPerSystem(t *testing.T) {
	p := i18n.New("en")
	for goos, want := range map[string]string{
		"": "net.ipv4.ip_local_port_range", "linux": "net.ipv4.ip_local_port_range",
		"darwin": "net.inet.ip.portrange.first=10000", "freebsd": "net.inet.ip.portrange.first=10000",
		"windows": "netsh int ipv4 set dynamicport tcp start=10000 num=55536",
	} {
		var all []string
		for _, m := range portsFix(goos) {
			all = append(all, p.Text(m))
		}
		if s := strings.Join(all, "\n"); !strings.Contains(s, want) {
			t.Errorf("portsFix(%q) lacks %q:\n%s", goos, want, s)
		}
	}
	_ = netip.Addr{}
}
