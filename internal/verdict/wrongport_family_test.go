package verdict

import (
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/probe"
)

// elsewhereWS is port's WebSocket handshake for /chat, upgraded or not.
func elsewhereWS(port uint16, status int, listener bool) evidence.Elsewhere {
	ws := wsAnswer(status, http.Header{}, "")
	ws.Duration = 400 * time.Microsecond
	if status == 101 {
		ws.StatusLine, ws.Upgraded = "HTTP/1.1 101 Switching Protocols", true
	}
	return evidence.Elsewhere{Port: port, Listener: listener, Connect: conn(neterr.OK, 0),
		Proto: &ProtoEvidence{Protocol: evidence.ProtoWebSocket, WS: ws}}
}

func elsewhereSSH(port uint16) evidence.Elsewhere {
	ws := wsNot(answered(wsRequest, "SSH-2.0-OpenSSH_9.2p1\r\n"))
	return evidence.Elsewhere{Port: port, Connect: conn(neterr.OK, 0), Proto: &ProtoEvidence{Protocol: evidence.ProtoWebSocket, WS: ws}}
}

func refusedAt(ap string) AddrEvidence {
	return AddrEvidence{Addr: netip.MustParseAddrPort(ap), Connect: conn(neterr.Refused, syscall.ECONNREFUSED), Route: defRoute}
}

func okAt(ap string) AddrEvidence {
	return AddrEvidence{Addr: netip.MustParseAddrPort(ap), Connect: conn(neterr.OK, 0), Route: defRoute}
}

func TestDecidePortsAndFamilies(t *testing.T) {
	snap := newSnapshot(t)
	openPorts := []PortProbe{{Port: 22, Kind: neterr.OK, Duration: time.Millisecond}, {Port: 80, Kind: neterr.OK, Duration: time.Millisecond}}
	dual := func(tgt string, addrs ...AddrEvidence) Evidence {
		ev := nEv(tgt, DNS{}, addrs...)
		ev.DNS.Hosts = &evidence.HostsEntry{File: "/etc/hosts", Line: 3, Text: "::1 app.test", Addrs: ev.DNS.Addresses}
		return ev
	}
	lossy := func(a AddrEvidence) AddrEvidence {
		a.Others, a.RTT, a.Wait, a.SYNs, a.AnsweredSYN, a.Lost = openPorts, time.Millisecond, 200*time.Millisecond, 4, 4, 3
		a.Connect.Duration = 101 * time.Millisecond
		return a
	}
	tests := []struct {
		name    string
		ev      Evidence
		outcome Outcome
		causes  []Cause // the findings, in order
		conf    Confidence
		line    string // an evidence or summary text that must be shown (English)
	}{
		// wrong_port
		{"ws refused, a probe port upgrades: wrong port", func() Evidence {
			a := refusedAt("203.0.113.2:8282")
			a.Others = openPorts
			a.Elsewhere = []evidence.Elsewhere{elsewhereSSH(22), elsewhereWS(80, 101, false)}
			return nEv("ws://203.0.113.2:8282/chat", DNS{Literal: true}, a)
		}(), OutcomeRefused, []Cause{CauseWrongPort, CauseNotListening}, Medium, "was accepted (HTTP 101 Switching Protocols)"},
		{"ws refused on this machine, a listener upgrades: wrong port", func() Evidence {
			a := refusedAt("198.51.100.7:8282")
			a.Local = true
			a.Elsewhere = []evidence.Elsewhere{elsewhereWS(8283, 101, true), elsewhereWS(8284, 101, true), elsewhereWS(8000, 404, true)}
			return nEv("ws://198.51.100.7:8282/chat", DNS{Literal: true}, a)
		}(), OutcomeRefused, []Cause{CauseWrongPort, CauseNotListening}, Medium, "also succeeds on other ports of the host (8284)"},
		{"http refused, a probe port answers 200: wrong port", func() Evidence {
			a := refusedAt("203.0.113.2:8080")
			a.Others = openPorts
			h := &probe.HTTP{Exchange: answered("GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"), Path: "/", Status: 200, StatusLine: "HTTP/1.1 200 OK"}
			a.Elsewhere = []evidence.Elsewhere{{Port: 80, Connect: conn(neterr.OK, 0), Proto: &ProtoEvidence{Protocol: evidence.ProtoHTTP, HTTP: h}}}
			return nEv("http://203.0.113.2:8080/", DNS{Literal: true}, a)
		}(), OutcomeRefused, []Cause{CauseWrongPort, CauseNotListening}, Medium, "answered with HTTP/1.1 200 OK"},
		{"tls refused, a probe port completes TLS: wrong port", func() Evidence {
			a := refusedAt("203.0.113.2:8443")
			a.Others = []PortProbe{{Port: 443, Kind: neterr.OK, Duration: time.Millisecond}}
			a.Elsewhere = []evidence.Elsewhere{{Port: 443, Connect: conn(neterr.OK, 0), Proto: &ProtoEvidence{Protocol: evidence.ProtoTLS, TLS: tlsDone()}}}
			return nEv("tls://203.0.113.2:8443", DNS{Literal: true}, a)
		}(), OutcomeRefused, []Cause{CauseWrongPort, CauseNotListening}, Medium, "the TLS handshake completed (TLS 1.3)"},
		{"text refused, a listener answers whoami: wrong port", func() Evidence {
			a := refusedAt("127.0.0.1:5678")
			a.Local = true
			m := &probe.Message{Exchange: answered("whoami\n", `{"proto":"text"}`+"\n")}
			m.Service, m.Whoami = probe.Service{Name: probe.SvcText}, &probe.Whoami{Proto: "text"}
			a.Elsewhere = []evidence.Elsewhere{{Port: 5679, Listener: true, Connect: conn(neterr.OK, 0), Proto: &ProtoEvidence{Protocol: evidence.ProtoText, Message: m}}}
			return nEv("text://127.0.0.1:5678", DNS{Literal: true}, a)
		}(), OutcomeRefused, []Cause{CauseWrongPort, CauseNotListening}, Medium, "the Workerman text message was answered"},
		{"ws refused, no other port speaks WebSocket: not listening, said so", func() Evidence {
			a := refusedAt("203.0.113.2:8282")
			a.Others = openPorts
			a.Elsewhere = []evidence.Elsewhere{elsewhereSSH(22), elsewhereWS(80, 404, false)}
			return nEv("ws://203.0.113.2:8282/chat", DNS{Literal: true}, a)
		}(), OutcomeRefused, []Cause{CauseNotListening, CauseBoundToLoopback}, Medium, "was tried on other open ports of the host (22, 80), without success"},
		{"ws refused on this machine, a loopback listener on the port: bound to loopback, not wrong port", func() Evidence {
			a := refusedAt("198.51.100.7:8282")
			a.Local, a.Listeners = true, []host.Socket{listener("127.0.0.1:8282")}
			a.Elsewhere = []evidence.Elsewhere{elsewhereWS(8283, 101, true)}
			return nEv("ws://198.51.100.7:8282/chat", DNS{Literal: true}, a)
		}(), OutcomeRefused, []Cause{CauseBoundToLoopback}, High, "127.0.0.1:8282"},

		// a plain TCP target that resets or closes at once
		{"tcp accepts and resets at once", func() Evidence {
			a := okAt("203.0.113.2:9000")
			a.AfterAccept = &evidence.Exchange{Reply: evidence.ReplyReset, Duration: 2 * time.Millisecond, Err: syscall.ECONNRESET}
			return nEv("tcp://203.0.113.2:9000", DNS{Literal: true}, a)
		}(), OutcomeReset, []Cause{CauseResetByPeer, CauseProxyUpstreamFailed}, High, "the connection was reset (RST) after 2.0 ms"},
		{"tcp accepts and closes at once", func() Evidence {
			a := okAt("203.0.113.2:9000")
			a.AfterAccept = &evidence.Exchange{Reply: evidence.ReplyClosed, Duration: 3 * time.Millisecond}
			return nEv("203.0.113.2:9000", DNS{Literal: true}, a)
		}(), OutcomeReset, []Cause{CauseProxyUpstreamFailed, CauseResetByPeer}, Medium, "closed the connection (FIN) after 3.0 ms"},
		{"tcp accepts and keeps the connection: ok, and how long it was watched", func() Evidence {
			a := okAt("203.0.113.2:9000")
			a.AfterAccept = &evidence.Exchange{Reply: evidence.ReplySilent, Duration: 100 * time.Millisecond}
			return nEv("tcp://203.0.113.2:9000", DNS{Literal: true}, a)
		}(), OutcomeOK, []Cause{CauseOK}, High, "watched for 100 ms"},
		{"tcp server speaks first: ok, with its greeting", func() Evidence {
			a := okAt("203.0.113.2:22")
			e := answered("", "SSH-2.0-OpenSSH_9.2p1\r\n")
			e.Duration = 4 * time.Millisecond
			a.AfterAccept = &e
			return nEv("203.0.113.2:22", DNS{Literal: true}, a)
		}(), OutcomeOK, []Cause{CauseOK}, High, "SSH-2.0-OpenSSH_9.2p1"},

		// SYNs lost now and then
		{"some SYNs answered, some lost: intermittent, not filtered", ev1(lossy(okAt("203.0.113.2:8282"))),
			OutcomeTimeout, []Cause{CauseUnknown, CauseAcceptQueueOverflow}, Medium, "3 of the 3 sent before it got no answer"},
		{"lossy and closed: not listening, with the loss beside it", ev1(func() AddrEvidence {
			a := lossy(refusedAt("203.0.113.2:8282"))
			a.Connect.Kind, a.Connect.Errno = neterr.Refused, syscall.ECONNREFUSED
			return a
		}()), OutcomeRefused, []Cause{CauseNotListening, CauseBoundToLoopback, CauseUnknown, CauseAcceptQueueOverflow}, Medium, "answers some SYNs and not others"},
		{"lossy, the WebSocket handshake works: intermittent", func() Evidence {
			a := lossy(okAt("203.0.113.2:8282"))
			ws := elsewhereWS(8282, 101, false).Proto
			a.Proto = ws
			return nEv("ws://203.0.113.2:8282/chat", DNS{Literal: true}, a)
		}(), OutcomeTimeout, []Cause{CauseUnknown, CauseAcceptQueueOverflow}, Medium, "SYN 4 to port 8282 was answered"},

		// family_mismatch
		{"localhost: IPv4 works, ::1 refused", func() Evidence {
			v6 := AddrEvidence{Addr: netip.MustParseAddrPort("[::1]:3000"), Connect: conn(neterr.Refused, syscall.ECONNREFUSED), Local: true,
				Listeners: []host.Socket{listener("127.0.0.1:3000")}}
			v4 := AddrEvidence{Addr: netip.MustParseAddrPort("127.0.0.1:3000"), Connect: conn(neterr.OK, 0), Local: true}
			return dual("localhost:3000", v6, v4)
		}(), OutcomeRefused, []Cause{CauseFamilyMismatch, CauseBoundToOtherAddress}, Medium, "only IPv4 works"},
		{"IPv6 works, IPv4 silent", func() Evidence {
			v4 := nAddr("203.0.113.2:8282", neterr.Timeout)
			v6 := nAddr("[2001:db8::2]:8282", neterr.OK)
			return nEv("app.test:8282", DNS{}, v4, v6)
		}(), OutcomeTimeout, []Cause{CauseFamilyMismatch, CauseFiltered, CauseFilteredUpstream}, Medium, "a client that takes the first address meets the failure"},
		{"ws: IPv6 handshake fails, IPv4 upgrades", func() Evidence {
			v4 := nAddr("203.0.113.2:8282", neterr.OK)
			v4.Proto = elsewhereWS(8282, 101, false).Proto
			v6 := nAddr("[2001:db8::2]:8282", neterr.OK)
			v6.Proto = &ProtoEvidence{Protocol: evidence.ProtoWebSocket, WS: wsAnswer(404, http.Header{}, "not found")}
			return nEv("ws://app.test:8282/chat", DNS{}, v4, v6)
		}(), OutcomeProtocolMismatch, []Cause{CauseFamilyMismatch, CauseWSUpgradeRejected}, Medium, "those that prefer IPv6"},
		{"IPv4 works, this machine has no IPv6 route: the fix is on this side", func() Evidence {
			v6 := AddrEvidence{Addr: netip.MustParseAddrPort("[2001:db8::2]:8282"), Route: &host.Route{Type: "none", Errno: syscall.ENETUNREACH},
				Connect: conn(neterr.NetUnreachable, syscall.ENETUNREACH)}
			v4 := nAddr("203.0.113.2:8282", neterr.OK)
			return nEv("app.test:8282", DNS{}, v6, v4)
		}(), OutcomeUnreachable, []Cause{CauseFamilyMismatch, CauseNoRoute}, Medium, "only IPv4 works"},
		{"two IPv4 addresses, one works: ok, not a family", nEv("app.test:8282", DNS{},
			nAddr("203.0.113.2:8282", neterr.Refused), nAddr("203.0.113.3:8282", neterr.OK)),
			OutcomeOK, []Cause{CauseOK, CauseNotListening, CauseBoundToLoopback}, High, "accepts connections"},
		{"both families work: ok", nEv("app.test:8282", DNS{},
			nAddr("203.0.113.2:8282", neterr.OK), nAddr("[2001:db8::2]:8282", neterr.OK)),
			OutcomeOK, []Cause{CauseOK}, High, "accepts connections"},
		{"both families fail: no family finding", nEv("app.test:8282", DNS{},
			nAddr("203.0.113.2:8282", neterr.Refused), nAddr("[2001:db8::2]:8282", neterr.Refused)),
			OutcomeRefused, []Cause{CauseNotListening, CauseBoundToLoopback}, Medium, "Nothing accepts"},

		// what the evidence says came back, and how long was waited
		{"refused by an ICMP port unreachable: no RST said", ev1(AddrEvidence{Addr: server, Route: defRoute,
			Connect: withICMP(conn(neterr.Refused, syscall.ECONNREFUSED), 3, 3, "203.0.113.2")}),
			OutcomeRefused, []Cause{CauseFirewallReject}, High, "refused by an ICMP port unreachable from 203.0.113.2 after 1.0 ms, not by a TCP RST"},
		{"a probe port refused by ICMP: not a closed port's RST", ev1(AddrEvidence{Addr: server, Route: defRoute,
			Connect: silentFor(200 * time.Millisecond), Wait: 200 * time.Millisecond, RTT: time.Millisecond, SYNs: 6,
			Others: []PortProbe{{Port: 22, Kind: neterr.Refused, Duration: time.Millisecond,
				ICMP: &neterr.ICMP{Origin: 2, Type: 3, Code: 3, From: netip.MustParseAddr("203.0.113.2")}}}}),
			OutcomeTimeout, []Cause{CauseFiltered, CauseFilteredUpstream}, Medium, "Port 22: refused by an ICMP port unreachable"},
		{"a wait cut short by the neighbour check says how long it was", ev1(AddrEvidence{Addr: server, Route: lanRoute, Neigh: "FAILED",
			Connect: silentFor(1100 * time.Millisecond), Timeout: 3 * time.Second}),
			OutcomeTimeout, []Cause{CauseHostUnreachable}, High, "no answer within 1.1 s"},
	}
	en := i18n.New("en")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, fs := Decide(tt.ev)
			snap.add(tt.name, out, fs)
			var got []Cause
			text := ""
			for _, f := range fs {
				got = append(got, f.Cause)
				text += en.Text(f.Summary) + "\n"
				for _, m := range f.Evidence {
					text += en.Text(m) + "\n"
				}
			}
			if out != tt.outcome || len(fs) == 0 || fs[0].Confidence != tt.conf || !sameCauses(got, tt.causes) {
				t.Fatalf("got %s %v (%s), want %s %v (%s)", out, got, fs[0].Confidence, tt.outcome, tt.causes, tt.conf)
			}
			if !strings.Contains(text, tt.line) {
				t.Errorf("no line with %q in:\n%s", tt.line, text)
			}
			for _, f := range fs[1:] {
				if f.Cause == CauseOK && fs[0].Cause != CauseOK {
					t.Errorf("ok listed after the verdict %s", fs[0].Cause)
				}
			}
		})
	}
}

func sameCauses(a, b []Cause) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A server audit without ports judges the watch only where SYNs came.
func TestWatchWithoutPortsJudgesOnlyPortsWithSYNs(t *testing.T) {
	w := &Watch{Duration: 60 * time.Second}
	for _, asked := range []bool{true, false} {
		fs := DecidePort(HostEvidence{}, PortEvidence{Port: 8282, Asked: asked, Watch: w,
			Listeners: []Listener{{Addr: netip.MustParseAddrPort("0.0.0.0:8282")}}})
		has := false
		for _, f := range fs {
			has = has || f.Rule == "server.watch.no_syn"
		}
		if has != asked {
			t.Errorf("asked %v: no_syn finding %v, want %v", asked, has, asked)
		}
	}
}
