package cli

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/conndiag/conndiag/internal/diagnose"
	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/verdict"
)

// The path picture: one line per hop as mtr and tcptraceroute users read
// a path (TTL, address, reverse name, round trip, what answered), and a last
// line that says where and how the connection died.

// pathLastLine is the picture's last line: "[open] …", "[closed] …",
// "!A from hop 2 (…): …", "filtered after hop N".
func pathLastLine(p verdict.Path, pr *i18n.Printer) string {
	e := p.End()
	switch e.Kind {
	case evidence.EndOpen:
		return pr.T("trace.ui.end.open", "Hop", e.Hop, "Addr", e.From.String())
	case evidence.EndClosed:
		return pr.T("trace.ui.end.closed", "Hop", e.Hop, "Addr", e.From.String())
	case evidence.EndRejected:
		what := ""
		if e.ICMP != nil {
			what = e.ICMP.Describe()
		}
		return pr.T("trace.ui.end.rejected", "Mark", e.Mark, "Hop", e.Hop, "Addr", e.From.String(), "ICMP", what)
	}
	if e.Hop == 0 {
		return pr.T("trace.ui.end.filtered_first")
	}
	return pr.T("trace.ui.end.filtered", "Hop", e.Hop)
}

func pathTitle(a verdict.AddrEvidence, pr *i18n.Printer) string {
	p := a.Path
	switch host := p.HostHop(); {
	case p.RefPort != 0 && host > 0:
		return pr.T("trace.ui.title_ref", "Addr", a.Addr.String(), "Ref", p.RefPort, "Host", host)
	case p.RefPort != 0:
		return pr.T("trace.ui.title_ref_none", "Addr", a.Addr.String(), "Ref", p.RefPort)
	}
	return pr.T("trace.ui.title", "Addr", a.Addr.String())
}

// writePaths draws the path of every traced address.
func writePaths(w io.Writer, r diagnose.Report, pr *i18n.Printer, s style) {
	for _, a := range r.Evidence.Addrs {
		p := a.Path
		if p == nil || len(p.Hops) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n  %s\n", s.head(pathTitle(a, pr)))
		e := p.End()
		host := p.HostHop()
		rows := make([][4]string, 0, len(p.Hops))
		for _, h := range p.Hops {
			addr, name, rtt, note := "*", "", "", pr.T("trace.ui.silent")
			if h.Answered() {
				addr, name, rtt, note = h.From.String(), escape.String(h.Name), verdict.Dur(h.RTT), ""
				switch {
				case h.Kind == verdict.HopError:
					note = evidence.ICMPMark(h.ICMP)
				case h.Kind == verdict.HopReached && h.Open:
					note = "[open]"
				case h.Kind == verdict.HopReached:
					note = "[closed]"
				}
			}
			if h.TTL == host && h.Kind != verdict.HopError {
				note = strings.TrimSpace(note + " " + pr.T("trace.ui.host"))
			}
			rows = append(rows, [4]string{addr, name, rtt, note})
		}
		wAddr, wName, wRTT := 1, 0, 0
		for _, row := range rows {
			wAddr = max(wAddr, utf8.RuneCountInString(row[0]))
			wName = max(wName, utf8.RuneCountInString(row[1]))
			wRTT = max(wRTT, utf8.RuneCountInString(row[2]))
		}
		for i, h := range p.Hops {
			row := rows[i]
			line := fmt.Sprintf("%3d  %s", h.TTL, pad(row[0], wAddr))
			if wName > 0 {
				line += "  " + pad(row[1], wName)
			}
			line += "  " + padLeft(row[2], wRTT)
			if row[3] != "" {
				line += "  " + row[3]
			}
			line = strings.TrimRight(line, " ")
			switch {
			case h.TTL == e.Hop && e.Kind == evidence.EndRejected:
				line = s.bad(line) // the box that rejects
			case h.TTL == e.Hop && e.Kind == evidence.EndFiltered:
				line = s.wrap("1;33", line) // the last box that answered
			case h.TTL == e.Hop:
				line = s.good(line)
			case !h.Answered():
				line = s.dim(line)
			}
			fmt.Fprintf(w, "  %s\n", line)
		}
		last := pathLastLine(*p, pr)
		if e.Kind == evidence.EndRejected || e.Kind == evidence.EndFiltered {
			last = s.bad(last)
		}
		fmt.Fprintf(w, "       %s\n", last)
	}
}

func pad(s string, n int) string {
	return s + strings.Repeat(" ", max(0, n-utf8.RuneCountInString(s)))
}

func padLeft(s string, n int) string {
	return strings.Repeat(" ", max(0, n-utf8.RuneCountInString(s))) + s
}

// jsonHop and jsonPath are the "paths" field of check --json: one per
// traced address.
type jsonHop struct {
	TTL     int     `json:"ttl"`
	Address string  `json:"address,omitempty"`
	Name    string  `json:"name,omitempty"`
	RTTMS   float64 `json:"rtt_ms,omitempty"`
	// Answer: "time_exceeded" (a router), "syn_ack" or "rst" (the target),
	// "icmp" (an ICMP error, see icmp and mark), "none".
	Answer string `json:"answer"`
	ICMP   string `json:"icmp,omitempty"`
	Mark   string `json:"mark,omitempty"`
}

type jsonPath struct {
	Address string    `json:"address"`
	Hops    []jsonHop `json:"hops"`
	// End: "open", "closed", "rejected" or "filtered"; EndHop the hop that
	// answered so, or for filtered the last that answered (0: none).
	End     string `json:"end"`
	EndHop  int    `json:"end_hop"`
	EndFrom string `json:"end_from,omitempty"`
	Mark    string `json:"mark,omitempty"`
	// HostHop is where the host itself answered, on either trace (0: unknown).
	HostHop int `json:"host_hop,omitempty"`
	// DiesAt is the first hop that answers ReferencePort but not the target port.
	DiesAt        int       `json:"dies_at,omitempty"`
	ReferencePort uint16    `json:"reference_port,omitempty"`
	Reference     []jsonHop `json:"reference,omitempty"`
	MaxTTL        int       `json:"max_ttl"`
	WaitMS        int64     `json:"wait_ms"`
	Asked         bool      `json:"asked"`     // --trace asked for it (else the failure did)
	LastLine      string    `json:"last_line"` // the picture's last line, as the human output shows it
}

func hopsJSON(hs []verdict.Hop) []jsonHop {
	out := make([]jsonHop, 0, len(hs))
	for _, h := range hs {
		j := jsonHop{TTL: h.TTL, Answer: "none"}
		if h.Answered() {
			j.Address, j.Name = h.From.String(), escape.String(h.Name)
			j.RTTMS = float64(h.RTT.Microseconds()) / 1000
		}
		switch h.Kind {
		case verdict.HopRouter:
			j.Answer = "time_exceeded"
		case verdict.HopReached:
			j.Answer, j.Mark = "rst", "[closed]"
			if h.Open {
				j.Answer, j.Mark = "syn_ack", "[open]"
			}
		case verdict.HopError:
			j.Answer, j.Mark = "icmp", evidence.ICMPMark(h.ICMP)
			if h.ICMP != nil {
				j.ICMP = h.ICMP.Describe()
			}
		}
		out = append(out, j)
	}
	return out
}

func pathsJSON(r diagnose.Report, pr *i18n.Printer) []jsonPath {
	var out []jsonPath
	for _, a := range r.Evidence.Addrs {
		p := a.Path
		if p == nil {
			continue
		}
		e := p.End()
		j := jsonPath{Address: a.Addr.String(), Hops: hopsJSON(p.Hops), End: string(e.Kind), EndHop: e.Hop, Mark: e.Mark,
			HostHop: p.HostHop(), ReferencePort: p.RefPort, MaxTTL: p.Max, WaitMS: p.Wait.Milliseconds(), Asked: p.Asked,
			LastLine: pathLastLine(*p, pr)}
		if e.From.IsValid() {
			j.EndFrom = e.From.String()
		}
		if at, ok := p.DiesAt(); ok {
			j.DiesAt = at
		}
		if p.RefPort != 0 {
			j.Reference = hopsJSON(p.Ref)
		}
		out = append(out, j)
	}
	return out
}

// jsonAgent is the "agent" field of check --json: what the agent on the
// server said, one per address it was asked about.
type jsonAgent struct {
	Address    string    `json:"address"`
	URL        string    `json:"url"`
	AtTarget   bool      `json:"at_target"`
	Watched    bool      `json:"watched"`
	Refusal    string    `json:"refusal,omitempty"`
	Error      string    `json:"error,omitempty"`
	Client     string    `json:"client,omitempty"` // this client's address as the agent saw it
	DurationMS int64     `json:"duration_ms"`
	Tries      int       `json:"tries"`
	Connected  int       `json:"connected"`
	SYNs       []jsonSYN `json:"syns"` // the shape of server --watch's
}

func agentJSON(r diagnose.Report) []jsonAgent {
	var out []jsonAgent
	for _, a := range r.Evidence.Addrs {
		ag := a.Agent
		if ag == nil {
			continue
		}
		j := jsonAgent{Address: a.Addr.String(), URL: escape.String(ag.URL), AtTarget: ag.AtTarget, Watched: ag.Watched,
			Refusal: escape.String(ag.Refusal), Error: escape.String(ag.Err), DurationMS: ag.Duration.Milliseconds(),
			Tries: ag.Tries, Connected: ag.Connected, SYNs: []jsonSYN{}}
		if ag.SeenAs.IsValid() {
			j.Client = ag.SeenAs.String()
		}
		for _, s := range ag.SYNs() {
			j.SYNs = append(j.SYNs, jsonSYN{From: s.From.String(), To: s.To.String(), Answered: s.Answer, Count: s.Count})
		}
		out = append(out, j)
	}
	return out
}
