package cli

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/diagnose"
	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/firewall"
	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/probe"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

const hostileName = "\x1b]0;pwned\x07\x1b[2J\r\n$ curl x|sh \u202egnp\u2066\x7f\u009b\xff"

// safeOutput fails when any line of out could drive a terminal or any
// line is a fix line that came from the peer.
func safeOutput(t *testing.T, what, out string) {
	t.Helper()
	for i, line := range strings.Split(out, "\n") {
		if !escape.IsSafe(line) {
			t.Errorf("%s: line %d not safe to show: %q", what, i+1, line)
		}
		if strings.HasPrefix(strings.TrimSpace(line), "$ curl") {
			t.Errorf("%s: line %d is a fake fix line: %q", what, i+1, line)
		}
	}
}

// safeJSON fails when any string of the JSON document b, decoded, is not safe to show.
func safeJSON(t *testing.T, what string, b []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			if !escape.IsSafe(x) {
				t.Errorf("%s: JSON string not safe to show: %q", what, x)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
}

func hostileCheckReport(t *testing.T) diagnose.Report {
	tgt, err := target.Parse("wss://app.example.test:8443/chat")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort("203.0.113.2:8443")
	cert := probe.Cert{Subject: "CN=" + hostileName, Issuer: "CN=Evil CA " + hostileName, DNSNames: []string{"evil" + hostileName},
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)}
	hello := []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc}
	tls := &probe.TLS{Exchange: probe.Exchange{Sent: hello, SentN: 517, Received: []byte(hostileName), ReceivedN: len(hostileName)},
		Done: true, ServerName: "app.example.test", Version: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256",
		Chain: []probe.Cert{cert}, Problems: []probe.CertProblem{{Kind: probe.Untrusted}, {Kind: probe.WrongName, Name: "app.example.test"}}}
	ev := verdict.Evidence{Target: tgt, DNS: verdict.DNS{Addresses: []netip.Addr{addr.Addr()}}, Addrs: []verdict.AddrEvidence{{
		Addr: addr, Connect: neterr.Result{Kind: neterr.OK, Duration: time.Millisecond},
		Proto: &verdict.ProtoEvidence{Protocol: tgt.Protocol(), TLS: tls, Timeout: 3 * time.Second, Wait: 200 * time.Millisecond},
	}}}
	out, fs := verdict.Decide(ev)
	return diagnose.Report{Target: tgt, Outcome: out, Findings: fs, Evidence: ev, Duration: 21 * time.Millisecond,
		Probes: []diagnose.Probe{{Name: "tls_handshake", Address: addr.String(), Result: "certificate_problem", Received: hostileName}}}
}

func hostileServerReport() serverReport {
	chain := "IN_$(touch${IFS}/tmp/pw)" + hostileName
	rule := "-A " + chain + ` -p tcp --dport 8282 -m comment --comment "` + hostileName + `" -j DROP`
	fw := verdict.FirewallEvidence{
		Result: firewall.Result{Family: firewall.IPv4, Port: 8282, Action: firewall.Drop,
			Decider: &firewall.Hit{Backend: firewall.BackendIptablesNft, Family: "ip", Table: "filter", Chain: chain, Base: "INPUT", Rule: rule, Counted: true, Packets: 7}},
		Open: firewall.Opening{Manager: firewall.ManagerFirewalld, Commands: []string{
			"firewall-cmd --permanent --zone=$(touch${IFS}/tmp/pw)" + hostileName + " --add-port=8282/tcp && firewall-cmd --reload"}},
	}
	owner := host.Owner{PID: 4242, Process: hostileName, FDs: 20}
	pe := verdict.PortEvidence{Port: 8282, Asked: true, Firewall: []verdict.FirewallEvidence{fw},
		Listeners: []verdict.Listener{{Addr: netip.MustParseAddrPort("127.0.0.1:8282"), V6Only: -1, Backlog: 511, Owners: []host.Owner{owner}}}}
	h := verdict.HostEvidence{Addrs: []netip.Addr{netip.MustParseAddr("203.0.113.2")}, Ports: []uint16{8282},
		Cloud: "tencent", DMIVendor: "Tencent Cloud" + hostileName, DMIProduct: hostileName,
		Limits: verdict.Limits{Somaxconn: 4096, SynBacklog: 4096, TwReuse: 2, PortRange: host.PortRange{Lo: 32768, Hi: 60999}, ConntrackCount: -1, ConntrackMax: -1}}
	return serverReport{Host: "vm" + hostileName, HostEv: h, Duration: 40 * time.Millisecond,
		Ports:    []serverPort{{Evidence: pe, Findings: verdict.DecidePort(h, pe)}},
		Findings: verdict.DecideHost(h), NotChecked: []i18n.Msg{i18n.M("ui.failed", "Err", hostileName)}}
}

// Outside names full of escapes, a fake fix line and bidi controls, in a
// check and a server report: every language's human output and the JSON
// show them escaped; the English human output is held to golden files.
func TestHostileRenderGolden(t *testing.T) {
	cr := hostileCheckReport(t)
	sr := hostileServerReport()
	for _, lang := range i18n.Languages() {
		p := i18n.New(lang)
		var b bytes.Buffer
		renderHuman(&b, cr, p, false)
		safeOutput(t, lang+" check", b.String())
		if lang == "en" {
			golden(t, filepath.Join("testdata", "hostile_check.golden"), b.String())
		}
		b.Reset()
		renderServerHuman(&b, sr, p, false)
		safeOutput(t, lang+" server", b.String())
		if lang == "en" {
			golden(t, filepath.Join("testdata", "hostile_server.golden"), b.String())
		}
		b.Reset()
		if err := writeJSON(&b, cr, p); err != nil {
			t.Fatal(err)
		}
		safeJSON(t, lang+" check JSON", b.Bytes())
		b.Reset()
		if err := writeServerJSON(&b, sr, p); err != nil {
			t.Fatal(err)
		}
		safeJSON(t, lang+" server JSON", b.Bytes())
		var js jsonServer
		json.Unmarshal(b.Bytes(), &js)
		if len(js.Ports) != 1 || len(js.Ports[0].Firewall) != 1 || len(js.Ports[0].Firewall[0].Open) != 0 {
			t.Errorf("%s: JSON offers an opening with shell syntax: %+v", lang, js.Ports)
		}
		if len(js.Ports[0].Listeners) != 1 || js.Ports[0].Listeners[0].Process != escape.String(hostileName) {
			t.Errorf("%s: JSON process %+v", lang, js.Ports[0].Listeners)
		}
	}
}

// The one error line may quote bad input: it is escaped like everything else.
func TestErrorLineEscaped(t *testing.T) {
	if got, want := oneLine("bad \x1b]0;pwned\x07\r\n$ curl x|sh \u202e\x7f"), `bad \x1b]0;pwned\x07 $ curl x|sh \xe2\x80\xae\x7f`; got != want {
		t.Errorf("oneLine = %q, want %q", got, want)
	}
	_, stderr, code := run(t, "check", "bad\x1b]0;pwned\x07target\u202e")
	if code != 2 || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	safeOutput(t, "stderr", strings.TrimSuffix(stderr, "\n"))
}
