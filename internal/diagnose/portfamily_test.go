package diagnose

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/capture"
	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/neterr"
)

// Which other ports are tried for the target's protocol after a refusal.
func TestElsewherePorts(t *testing.T) {
	l := func(s string) evidence.Socket {
		return evidence.Socket{Local: netip.MustParseAddrPort(s), State: host.StateListen}
	}
	dst := netip.MustParseAddr("198.51.100.7")
	probes := []evidence.PortProbe{{Port: 22, Kind: neterr.OK}, {Port: 80, Kind: neterr.Refused}, {Port: 443, Kind: neterr.OK}, {Port: 8080, Kind: neterr.Canceled}}
	tests := []struct {
		name      string
		listeners []evidence.Socket
		local     bool
		want      []uint16
	}{
		{"remote: the probe ports that accepted or were cut short", nil, false, []uint16{22, 443, 8080}},
		{"local: listeners nearest first, then probe ports", []evidence.Socket{l("0.0.0.0:9000"), l("[::]:8283"), l("198.51.100.7:8200"),
			l("127.0.0.1:8281"), l("10.0.0.1:8284"), l("0.0.0.0:22")}, true, []uint16{8283, 8200, 9000, 22, 443, 8080}},
		{"local: a listener on the target port explains the refusal", []evidence.Socket{l("127.0.0.1:8282"), l("0.0.0.0:8283")}, true, nil},
		{"local: at most eight", []evidence.Socket{l("0.0.0.0:1"), l("0.0.0.0:2"), l("0.0.0.0:3"), l("0.0.0.0:4"), l("0.0.0.0:5"),
			l("0.0.0.0:6"), l("0.0.0.0:7"), l("0.0.0.0:8"), l("0.0.0.0:9")}, true, []uint16{9, 8, 7, 6, 5, 4, 3, 2}},
	}
	for _, tt := range tests {
		var got []uint16
		for _, c := range elsewherePorts(8282, dst, probes, tt.listeners, tt.local) {
			got = append(got, c.port)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// The search runs only after a plain RST, and only for a protocol to recognise.
func TestElsewhereWanted(t *testing.T) {
	ws, tcp := mustTarget(t, "ws://h:8282/"), mustTarget(t, "h:8282")
	rst := evidence.AddrEvidence{Connect: neterr.Result{Kind: neterr.Refused}}
	icmp := evidence.AddrEvidence{Connect: neterr.Result{Kind: neterr.Refused, ICMP: &neterr.ICMP{Origin: 2, Type: 3, Code: 3}}}
	silent := evidence.AddrEvidence{Connect: neterr.Result{Kind: neterr.Timeout}}
	if !elsewhereWanted(rst, ws) || elsewhereWanted(rst, tcp) || elsewhereWanted(icmp, ws) || elsewhereWanted(silent, ws) {
		t.Error("elsewhere wanted only for a ws/http/... target refused by an RST")
	}
}

func TestWatchWaits(t *testing.T) {
	opt := Options{}.withDefaults()
	ms := time.Millisecond
	for _, tt := range []struct{ rtt, accept, elsewhere, connect time.Duration }{
		{200 * time.Microsecond, 100 * ms, 400 * ms, 100 * ms},
		{80 * ms, 320 * ms, 800 * ms, 800 * ms},
		{time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second},
	} {
		if a, e := acceptWatch(tt.rtt, opt), elsewhereWait(tt.rtt, opt); a != tt.accept || e != tt.elsewhere {
			t.Errorf("rtt %v: accept watch %v, elsewhere wait %v; want %v, %v", tt.rtt, a, e, tt.accept, tt.elsewhere)
		}
		if c := elsewhereConnectWait(tt.rtt, opt); c != tt.connect {
			t.Errorf("rtt %v: connect to another port given %v, want %v", tt.rtt, c, tt.connect)
		}
	}
}

// A watch of every listening port judges only the ports that got SYNs, and says so.
func TestAuditWatchWithoutPorts(t *testing.T) {
	socks := []host.DiagSocket{listenSock("0.0.0.0:22", 1, 0, 128), listenSock("0.0.0.0:8282", 2, 0, 511), listenSock("0.0.0.0:9000", 3, 0, 511)}
	en := i18n.New("en")
	for _, tt := range []struct {
		name  string
		watch *capture.Result
		ports []uint16
		note  string
	}{
		{"SYNs to one port", syns(capture.SynAck), nil, "only the listening ports that received SYNs are judged (8282); 2 others"},
		{"no SYN at all", &capture.Result{Duration: 3 * time.Second}, nil, "none of the 3 listening ports received a SYN"},
		{"ports named: no note", &capture.Result{Duration: 3 * time.Second}, []uint16{22}, ""},
	} {
		f := fakeHost{socks: socks, addrs: []string{"203.0.113.2/24"}, rules: acceptAll, watch: tt.watch}
		rep, err := Audit(context.Background(), AuditOptions{Ports: tt.ports, Watch: 3 * time.Second, Readers: f.readers(t, nil)})
		if err != nil {
			t.Fatal(err)
		}
		notes := ""
		for _, m := range rep.NotChecked {
			notes += en.Text(m) + "\n"
		}
		if tt.note == "" && strings.Contains(notes, "--watch was given no port") || !strings.Contains(notes, tt.note) {
			t.Errorf("%s: not-checked lines:\n%s\nwant %q", tt.name, notes, tt.note)
		}
		for _, p := range rep.Ports {
			for _, fd := range p.Findings {
				if fd.Rule == "server.watch.no_syn" && tt.ports == nil {
					t.Errorf("%s: port %d judged by a watch it was not named for", tt.name, p.Evidence.Port)
				}
			}
		}
		if tt.ports != nil && !slices.Contains(rules(rep.Ports[0].Findings), "server.watch.no_syn") {
			t.Errorf("%s: a named port without SYNs must be judged: %v", tt.name, rules(rep.Ports[0].Findings))
		}
	}
}
