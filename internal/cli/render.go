package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/conndiag/conndiag/internal/diagnose"
	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/verdict"
)

// jsonFinding and jsonReport are the JSON shapes of SPEC.md.
//
// JSON carries the same escaped text as the human output: every string that
// came from outside (a certificate name, a server's line, a process or
// chain name, a target) is escaped with escape.String, in the rendered
// summary, evidence and fix texts as in the raw fields, so that a person
// who pipes JSON through jq -r to a terminal is as safe as one who reads
// the human output. encoding/json alone would let DEL, C1 controls and bidi
// overrides through, and jq -r turns \u001b back into ESC.
type jsonFinding struct {
	Cause      verdict.Cause      `json:"cause"`
	Confidence verdict.Confidence `json:"confidence"`
	Summary    string             `json:"summary"`
	Evidence   []string           `json:"evidence"`
	Fix        []string           `json:"fix"`
}

type jsonVerdict struct {
	Cause      verdict.Cause      `json:"cause"`
	Confidence verdict.Confidence `json:"confidence"`
}

type jsonProbe struct {
	Name       string `json:"name"`
	Address    string `json:"address"`
	Result     string `json:"result"`
	DurationMS int64  `json:"duration_ms"`
	Sent       string `json:"sent,omitempty"`     // protocol probes: the first bytes sent, escaped
	Received   string `json:"received,omitempty"` // and the first bytes that came back
}

type jsonReport struct {
	Target    string          `json:"target"`
	Scheme    string          `json:"scheme"`
	Host      string          `json:"host"`
	Port      uint16          `json:"port"`
	Addresses []string        `json:"addresses"`
	Skipped   int             `json:"addresses_skipped,omitempty"` // addresses of the name not tried (at most diagnose.MaxAddrs are)
	Outcome   verdict.Outcome `json:"outcome"`
	Verdict   jsonVerdict     `json:"verdict"`
	Findings  []jsonFinding   `json:"findings"`
	Probes    []jsonProbe     `json:"probes"`
	Paths     []jsonPath      `json:"paths,omitempty"` // the traces (path.go)
	Agent     []jsonAgent     `json:"agent,omitempty"` // what check --agent's agent saw (path.go)
	// NotChecked names what this system does not show (macOS, Windows,
	// FreeBSD: the Linux error queue, routes, neighbours, listeners).
	NotChecked []string `json:"not_checked,omitempty"`
	DurationMS int64    `json:"duration_ms"`
}

func findingsJSON(fs []verdict.Finding, p *i18n.Printer) []jsonFinding {
	out := make([]jsonFinding, 0, len(fs))
	for _, f := range fs {
		out = append(out, jsonFinding{
			Cause: f.Cause, Confidence: f.Confidence, Summary: p.Text(f.Summary),
			Evidence: texts(f.Evidence, p), Fix: texts(f.Fix, p),
		})
	}
	return out
}

func texts(ms []i18n.Msg, p *i18n.Printer) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, p.Text(m))
	}
	return out
}

func addrStrings(as []netip.Addr) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

func reportJSON(r diagnose.Report, p *i18n.Printer) jsonReport {
	j := jsonReport{
		Target: escape.String(r.Target.String()), Scheme: r.Target.Scheme, Host: escape.String(r.Target.Host), Port: r.Target.Port,
		Addresses: addrStrings(r.Addresses()), Skipped: r.Skipped(), Outcome: r.Outcome,
		Findings: findingsJSON(r.Findings, p), Probes: []jsonProbe{},
		NotChecked: r.Evidence.NotChecked, DurationMS: r.Duration.Milliseconds(), Paths: pathsJSON(r, p), Agent: agentJSON(r),
	}
	if len(r.Findings) > 0 {
		j.Verdict = jsonVerdict{r.Findings[0].Cause, r.Findings[0].Confidence}
	}
	for _, pr := range r.Probes {
		j.Probes = append(j.Probes, jsonProbe{escape.String(pr.Name), escape.String(pr.Address), escape.String(pr.Result),
			pr.Duration.Milliseconds(), escape.String(pr.Sent), escape.String(pr.Received)})
	}
	return j
}

func writeJSON(w io.Writer, r diagnose.Report, p *i18n.Printer) error {
	b, err := json.Marshal(reportJSON(r, p))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// style wraps text in ANSI colour when colour is on.
type style struct{ on bool }

func (s style) wrap(code, text string) string {
	if !s.on {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}
func (s style) bad(t string) string  { return s.wrap("1;31", t) }
func (s style) good(t string) string { return s.wrap("1;32", t) }
func (s style) head(t string) string { return s.wrap("1", t) }
func (s style) dim(t string) string  { return s.wrap("2", t) }
func (s style) cmd(t string) string  { return s.wrap("36", t) }

// renderHuman prints verdict first, then evidence, then the fix, then the
// weaker alternatives.
func renderHuman(w io.Writer, r diagnose.Report, p *i18n.Printer, color bool) {
	s := style{color}
	if len(r.Findings) == 0 {
		return
	}
	v := r.Findings[0]
	mark, paint := "✗", s.bad
	if v.Cause == verdict.CauseOK {
		mark, paint = "✓", s.good
	}
	fmt.Fprintf(w, "%s %s  %s  %s\n", paint(mark), paint(string(v.Cause)), escape.String(r.Target.String()), confParen(p, v.Confidence))
	fmt.Fprintf(w, "  %s\n", s.head(p.Text(v.Summary)))
	if as := r.Addresses(); len(as) > 0 && !r.Evidence.DNS.Literal {
		fmt.Fprintf(w, "  %s: %s\n", p.T("ui.addresses"), capList(addrStrings(as), p))
	}
	if len(v.Evidence) > 0 {
		fmt.Fprintf(w, "\n  %s\n", s.head(p.T("ui.evidence")))
		for _, e := range v.Evidence {
			fmt.Fprintf(w, "    • %s\n", p.Text(e))
		}
	}
	writePaths(w, r, p, s)
	if v.Cause != verdict.CauseOK {
		writeExchanges(w, r, p, s)
	}
	if len(v.Fix) > 0 && v.Cause != verdict.CauseOK {
		fmt.Fprintf(w, "\n  %s\n", s.head(p.T("ui.fix")))
		writeFix(w, v.Fix, p, s, "    ")
	}
	writeAlso(w, r.Findings[1:], p, s, "  ")
	if v.Cause != verdict.CauseOK && len(r.Evidence.NotChecked) > 0 && !connected(r) {
		// What this system does not show is said, not guessed.
		fmt.Fprintf(w, "\n  %s\n", s.head(p.T("platform.ui.not_checked", "OS", osName(r.Evidence.OS))))
		for _, u := range r.Evidence.NotChecked {
			fmt.Fprintf(w, "    • %s\n", p.T("platform.unchecked."+u))
		}
		fmt.Fprintf(w, "    %s\n", s.dim(p.T("platform.ui.not_checked.where")))
	}
	fmt.Fprintf(w, "\n  %s\n", s.dim(p.T("ui.took", "Dur", verdict.Dur(r.Duration))))
}

// connected: some address took the TCP connection, so what the system did
// not show about TCP (error queue, routes, listeners) does not bear on the verdict.
func connected(r diagnose.Report) bool {
	for _, a := range r.Evidence.Addrs {
		if a.Connect.Kind == evidence.OK {
			return true
		}
	}
	return false
}

// osName is a system as people call it.
func osName(goos string) string {
	switch goos {
	case "", "linux":
		return "Linux"
	case "darwin":
		return "macOS"
	case "windows":
		return "Windows"
	case "freebsd":
		return "FreeBSD"
	}
	return goos
}

// alsoSplit sorts the findings after the verdict: a certain one, or one
// that says a connection works, is found, not possible.
func alsoSplit(fs []verdict.Finding) (found, possible []verdict.Finding) {
	for _, f := range fs {
		if f.Confidence == verdict.High || f.Cause == verdict.CauseOK {
			found = append(found, f)
		} else {
			possible = append(possible, f)
		}
	}
	return found, possible
}

// writeAlso prints the findings after the verdict under "Also found" and
// "Also possible", indented by indent, with their evidence and fixes.
func writeAlso(w io.Writer, fs []verdict.Finding, p *i18n.Printer, s style, indent string) {
	found, possible := alsoSplit(fs)
	for _, group := range []struct {
		head string
		fs   []verdict.Finding
	}{{"portfamily.ui.also_found", found}, {"ui.also", possible}} {
		if len(group.fs) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s%s\n", indent, s.head(p.T(group.head)))
		for _, f := range group.fs {
			fmt.Fprintf(w, "%s  • %s\n", indent, findingLine(p, string(f.Cause), f.Confidence, f.Summary))
			for _, e := range f.Evidence {
				fmt.Fprintf(w, "%s    %s\n", indent, s.dim(p.Text(e)))
			}
			writeFix(w, f.Fix, p, s, indent+"    ")
		}
	}
}

// writeFix prints fix lines: commands after a prompt, texts as they are.
// Both come from p.Text, which escapes what came from outside and withholds
// a command that is not safe to show.
func writeFix(w io.Writer, fix []i18n.Msg, p *i18n.Printer, s style, indent string) {
	for _, m := range fix {
		if m.IsCmd() && escape.IsSafe(m.Cmd) {
			prompt := "$ "
			if m.Code {
				prompt = "  "
			}
			fmt.Fprintf(w, "%s  %s\n", indent, s.cmd(prompt+p.Text(m)))
		} else {
			fmt.Fprintf(w, "%s%s\n", indent, p.Text(m))
		}
	}
}

// writeExchanges shows what the protocol step sent and what came back, one
// escaped line each way, so a person sees the mismatch with their own eyes.
func writeExchanges(w io.Writer, r diagnose.Report, p *i18n.Printer, s style) {
	for _, a := range r.Evidence.Addrs {
		if a.Proto == nil {
			continue
		}
		steps := a.Proto.Steps()
		if len(steps) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n  %s\n", s.head(p.T("ui.exchange", "Addr", a.Addr.String())))
		for _, st := range steps {
			fmt.Fprintf(w, "    %s\n", p.T("ui.step."+st.Name))
			if st.SentN > 0 {
				fmt.Fprintf(w, "      → %s\n", p.Text(verdict.ShowMsg(st.Sent, st.SentN, exchangeWidth)))
			}
			fmt.Fprintf(w, "      ← %s\n", s.dim(received(st, p)))
		}
	}
}

const exchangeWidth = 100

func received(st verdict.Step, p *i18n.Printer) string {
	switch {
	case st.ReceivedN > 0:
		return p.Text(verdict.ShowMsg(st.Received, st.ReceivedN, exchangeWidth))
	case st.Reply == evidence.ReplyClosed:
		return p.T("ui.closed")
	case st.Reply == evidence.ReplyReset:
		return p.T("ui.reset")
	case st.Reply == evidence.ReplySilent:
		return p.T("ui.silent", "Dur", verdict.Dur(st.Duration))
	}
	errText := ""
	if st.Err != nil {
		errText = st.Err.Error()
	}
	return p.T("ui.failed", "Err", errText)
}

// maxListed bounds the addresses one line of human output lists.
const maxListed = 8

func capList(items []string, p *i18n.Printer) string {
	if len(items) <= maxListed {
		return strings.Join(items, ", ")
	}
	return p.T("bulk.list.more", "List", strings.Join(items[:maxListed], ", "), "N", len(items)-maxListed)
}
