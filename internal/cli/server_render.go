package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/verdict"
)

// The JSON of `conndiag server --json` (SPEC.md): host, ports with their
// listeners and findings, and findings about the host; the rest is extra.
type jsonServer struct {
	Host       string               `json:"host"`
	Ports      []jsonServerPort     `json:"ports"`
	Findings   []jsonFinding        `json:"findings"`
	Limits     jsonLimits           `json:"limits"`
	Sysctl     []verdict.SysctlLine `json:"sysctl"`
	NotChecked []string             `json:"not_checked"`
	DurationMS int64                `json:"duration_ms"`
}

type jsonServerPort struct {
	Port      uint16         `json:"port"`
	Listeners []jsonListener `json:"listeners"`
	Firewall  []jsonFirewall `json:"firewall,omitempty"`
	SYNs      *[]jsonSYN     `json:"syns,omitempty"`
	Findings  []jsonFinding  `json:"findings"`
	// Unchecked says what could not be checked for the port (without root:
	// the firewall rules); a port with it is not known to be clean.
	Unchecked []string `json:"unchecked,omitempty"`
}

type jsonListener struct {
	Address string `json:"address"`
	Port    uint16 `json:"port"`
	PID     int    `json:"pid"`
	Process string `json:"process"`
	Backlog uint32 `json:"backlog"`
	Queue   uint32 `json:"queue"`
	V6Only  *bool  `json:"v6only,omitempty"`
	UID     int    `json:"uid"`
}

type jsonFirewall struct {
	Family  evidence.Family `json:"family"`
	Action  evidence.Action `json:"action"`
	Backend string          `json:"backend,omitempty"`
	Table   string          `json:"table,omitempty"`
	Chain   string          `json:"chain,omitempty"`
	Rule    string          `json:"rule,omitempty"`
	Policy  bool            `json:"policy,omitempty"`
	Packets *uint64         `json:"packets,omitempty"`
	Open    []string        `json:"open,omitempty"`
}

type jsonSYN struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Answered string `json:"answered"`
	Count    int    `json:"count"`
}

type jsonLimits struct {
	Somaxconn       int    `json:"somaxconn"`
	SynBacklog      int    `json:"tcp_max_syn_backlog"`
	PortRange       string `json:"ip_local_port_range"`
	TwReuse         int    `json:"tcp_tw_reuse"`
	MaxTwBuckets    int    `json:"tcp_max_tw_buckets"`
	TimeWait        int    `json:"time_wait"`
	Established     int    `json:"established"`
	ListenOverflows uint64 `json:"listen_overflows"`
	OverflowGrowth  uint64 `json:"listen_overflows_growth"`
	ConntrackCount  int    `json:"conntrack_count"`
	ConntrackMax    int    `json:"conntrack_max"`
}

func serverJSON(r serverReport, p *i18n.Printer) jsonServer {
	l := r.HostEv.Limits
	j := jsonServer{
		Host: escape.String(r.Host), Ports: []jsonServerPort{}, Findings: findingsJSON(r.Findings, p),
		Limits: jsonLimits{Somaxconn: l.Somaxconn, SynBacklog: l.SynBacklog, PortRange: l.PortRange.String(), TwReuse: l.TwReuse,
			MaxTwBuckets: l.MaxTwBuckets, TimeWait: l.TimeWait, Established: l.Established, ListenOverflows: r.HostEv.OverflowTotal,
			OverflowGrowth: r.HostEv.OverflowGrowth, ConntrackCount: l.ConntrackCount, ConntrackMax: l.ConntrackMax},
		Sysctl:     serverAdvice(r),
		NotChecked: texts(r.NotChecked, p),
		DurationMS: r.Duration.Milliseconds(),
	}
	if j.Sysctl == nil {
		j.Sysctl = []verdict.SysctlLine{}
	}
	for _, sp := range r.Ports {
		jp := jsonServerPort{Port: sp.Evidence.Port, Listeners: []jsonListener{}, Findings: findingsJSON(sp.Findings, p), Unchecked: texts(sp.Unchecked, p)}
		if len(jp.Unchecked) == 0 {
			jp.Unchecked = nil
		}
		for _, l := range sp.Evidence.Listeners {
			jl := jsonListener{Address: l.Addr.Addr().String(), Port: l.Addr.Port(), Backlog: l.Backlog, Queue: l.Queue, UID: l.UID}
			if len(l.Owners) > 0 {
				jl.PID, jl.Process = l.Owners[0].PID, escape.String(l.Owners[0].Process)
			}
			if l.V6Only >= 0 && l.Addr.Addr().Is6() {
				v := l.V6Only == 1
				jl.V6Only = &v
			}
			jp.Listeners = append(jp.Listeners, jl)
		}
		for _, e := range sp.Evidence.Firewall {
			jf := jsonFirewall{Family: e.Result.Family, Action: e.Result.Action, Open: pasteable(e.Open.Commands)}
			if d := e.Result.Decider; d != nil {
				jf.Backend, jf.Table, jf.Chain, jf.Rule, jf.Policy = escape.String(d.Backend), escape.String(d.Table), escape.String(d.Chain), escape.String(d.Rule), d.Policy
				if d.Counted {
					n := d.Packets
					jf.Packets = &n
				}
			}
			jp.Firewall = append(jp.Firewall, jf)
		}
		if sp.Watched {
			syns := []jsonSYN{}
			if sp.Evidence.Watch != nil {
				for _, s := range sp.Evidence.Watch.SYNs {
					syns = append(syns, jsonSYN{From: s.From.String(), To: s.To.String(), Answered: s.Answer, Count: s.Count})
				}
			}
			jp.SYNs = &syns
		}
		j.Ports = append(j.Ports, jp)
	}
	return j
}

// pasteable keeps the commands a person or a script may run as they are:
// the human output withholds the others (i18n.CmdLine), and so does JSON.
func pasteable(cmds []string) []string {
	var out []string
	for _, c := range cmds {
		if escape.CheckLine(c) == nil {
			out = append(out, c)
		}
	}
	return out
}

// serverAdvice is the recommended sysctl lines, for the problems found.
func serverAdvice(r serverReport) []verdict.SysctlLine {
	queue, ports := false, false
	check := func(fs []verdict.Finding) {
		for _, f := range fs {
			queue = queue || f.Cause == verdict.CauseAcceptQueueOverflow
			ports = ports || f.Cause == verdict.CauseEphemeralPortsExhausted
		}
	}
	check(r.Findings)
	for _, p := range r.Ports {
		check(p.Findings)
	}
	return verdict.SysctlAdvice(r.HostEv.Limits, queue, ports)
}

func writeServerJSON(w io.Writer, r serverReport, p *i18n.Printer) error {
	b, err := json.Marshal(serverJSON(r, p))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// renderServerHuman prints, per port, the verdict first, then its evidence
// and fix; then the host's own findings, the kernel settings, and what
// could not be checked.
func renderServerHuman(w io.Writer, r serverReport, p *i18n.Printer, color bool) {
	s := style{color}
	bad := 0
	if len(r.Ports) == 0 {
		fmt.Fprintln(w, p.T("ui.server.none"))
	}
	for i, sp := range r.Ports {
		if i > 0 {
			fmt.Fprintln(w)
		}
		port := p.T("ui.server.port", "Port", sp.Evidence.Port)
		switch {
		case !verdict.Problem(sp.Findings) && len(sp.Unchecked) > 0:
			// Nothing wrong seen, but not everything seen: no tick.
			fmt.Fprintf(w, "%s %s  %s\n", s.dim("?"), port, p.T("ui.server.unchecked"))
			for _, m := range sp.Unchecked {
				fmt.Fprintf(w, "  %s\n", p.Text(m))
			}
		case !verdict.Problem(sp.Findings):
			fmt.Fprintf(w, "%s %s  %s\n", s.good("✓"), s.good(port), p.T("ui.server.clean"))
		default:
			bad++
			v := sp.Findings[0]
			fmt.Fprintf(w, "%s %s  %s  %s\n", s.bad("✗"), s.bad(string(v.Cause)), port, confParen(p, v.Confidence))
			fmt.Fprintf(w, "  %s\n", s.head(p.Text(v.Summary)))
		}
		writeListeners(w, sp, p, s)
		// What --watch saw is shown on every port; a verdict that drew on
		// the SYNs lists them in its evidence already.
		if !verdict.Problem(sp.Findings) || !citesSYNs(sp.Findings[0]) {
			writeSYNs(w, sp, p, s)
		}
		if !verdict.Problem(sp.Findings) {
			writeFirewallSummary(w, sp, p, s)
			for _, f := range sp.Findings {
				fmt.Fprintf(w, "  • %s\n", findingLine(p, string(f.Cause), f.Confidence, f.Summary))
				for _, e := range f.Evidence {
					fmt.Fprintf(w, "    %s\n", s.dim(p.Text(e)))
				}
				writeFix(w, f.Fix, p, s, "    ")
			}
			continue
		}
		v := sp.Findings[0]
		if len(v.Evidence) > 0 {
			fmt.Fprintf(w, "\n  %s\n", s.head(p.T("ui.evidence")))
			for _, e := range v.Evidence {
				fmt.Fprintf(w, "    • %s\n", p.Text(e))
			}
		}
		if len(v.Fix) > 0 {
			fmt.Fprintf(w, "\n  %s\n", s.head(p.T("ui.fix")))
			writeFix(w, v.Fix, p, s, "    ")
		}
		if len(sp.Findings) > 1 {
			writeAlso(w, sp.Findings[1:], p, s, "  ")
		}
	}
	if len(r.Findings) > 0 {
		fmt.Fprintf(w, "\n%s\n", s.head(p.T("ui.server.host")))
		for _, f := range r.Findings {
			mark := s.dim("•")
			if f.Confidence != verdict.Low {
				mark = s.bad("✗")
			}
			fmt.Fprintf(w, "  %s %s\n", mark, findingLine(p, string(f.Cause), f.Confidence, f.Summary))
			for _, e := range f.Evidence {
				fmt.Fprintf(w, "    %s\n", s.dim(p.Text(e)))
			}
			writeFix(w, f.Fix, p, s, "    ")
		}
	}
	l := r.HostEv.Limits
	conntrack := "-"
	if l.ConntrackMax > 0 {
		conntrack = fmt.Sprintf("%d/%d", l.ConntrackCount, l.ConntrackMax)
	}
	fmt.Fprintf(w, "\n%s\n  %s\n", s.head(p.T("ui.server.kernel")), s.dim(p.T("ui.server.kernel.line",
		"Somaxconn", l.Somaxconn, "SynBacklog", l.SynBacklog, "Range", l.PortRange.String(), "TwReuse", l.TwReuse,
		"TimeWait", l.TimeWait, "MaxTw", l.MaxTwBuckets, "Estab", l.Established, "Conntrack", conntrack,
		"Overflows", r.HostEv.OverflowTotal)))
	if adv := serverAdvice(r); len(adv) > 0 {
		fmt.Fprintf(w, "  %s\n", p.T("ui.server.snippet"))
		for _, line := range strings.Split(strings.TrimRight(verdict.SysctlFile(adv), "\n"), "\n") {
			fmt.Fprintf(w, "    %s\n", s.cmd(line))
		}
	}
	if len(r.NotChecked) > 0 {
		fmt.Fprintf(w, "\n%s\n", s.head(p.T("ui.server.not_checked")))
		for _, m := range r.NotChecked {
			fmt.Fprintf(w, "  • %s\n", p.Text(m))
		}
	}
	fmt.Fprintln(w)
	if len(r.Ports) > 1 {
		fmt.Fprintln(w, p.T("ui.server.summary", "Bad", bad, "N", len(r.Ports)))
	}
	fmt.Fprintln(w, s.dim(p.T("ui.server.took", "Dur", verdict.Dur(r.Duration))))
}

func writeListeners(w io.Writer, sp serverPort, p *i18n.Printer, s style) {
	if len(sp.Evidence.Listeners) == 0 {
		fmt.Fprintf(w, "  %s: %s\n", p.T("ui.server.listening"), p.T("ui.server.nothing"))
		return
	}
	var parts []string
	for _, l := range sp.Evidence.Listeners {
		part := l.Addr.String()
		if len(l.Owners) > 0 {
			// Any local user can name a process anything (prctl, argv[0]).
			part += fmt.Sprintf(" %s[%d]", escape.String(l.Owners[0].Process), l.Owners[0].PID)
		}
		parts = append(parts, part)
	}
	fmt.Fprintf(w, "  %s: %s\n", p.T("ui.server.listening"), strings.Join(parts, ", "))
}

func writeFirewallSummary(w io.Writer, sp serverPort, p *i18n.Printer, s style) {
	var parts []string
	for _, e := range sp.Evidence.Firewall {
		fam := "IPv4"
		if e.Result.Family == evidence.IPv6 {
			fam = "IPv6"
		}
		part := p.T("ui.server.fw_accept", "Family", fam)
		if d := e.Result.Decider; d != nil && e.Result.Action == evidence.Accept {
			part += " " + p.T("ui.server.fw_by", "Rule", d.Rule)
		}
		parts = append(parts, part)
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "  %s: %s\n", p.T("ui.server.firewall"), s.dim(strings.Join(parts, "; ")))
	}
}

func citesSYNs(f verdict.Finding) bool {
	for _, e := range f.Evidence {
		if e.ID == "server.ev.watch.syn" {
			return true
		}
	}
	return false
}

func writeSYNs(w io.Writer, sp serverPort, p *i18n.Printer, s style) {
	if sp.Evidence.Watch == nil || len(sp.Evidence.Watch.SYNs) == 0 {
		return
	}
	fmt.Fprintf(w, "  %s:\n", p.T("ui.server.syns"))
	for i, y := range sp.Evidence.Watch.SYNs {
		if i >= 10 {
			break
		}
		var ans i18n.Msg
		switch y.Answer {
		case verdict.AnswerSynAck:
			ans = i18n.M("server.answer.syn_ack")
		case verdict.AnswerRST:
			ans = i18n.M("server.answer.rst")
		default:
			ans = i18n.M("server.answer.none")
		}
		fmt.Fprintf(w, "    %s\n", s.dim(p.T("server.ev.watch.syn", "From", y.From.String(), "To", y.To.String(), "Count", y.Count, "Answer", ans)))
	}
}
