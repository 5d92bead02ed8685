package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/rivo/uniseg"
	"github.com/schollz/progressbar/v3"

	"github.com/conndiag/conndiag/internal/diagnose"
	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/verdict"
)

// maxSummaryTargets bounds the targets the summary table names for one cause.
const maxSummaryTargets = 5

// causeTally counts the reports of a bulk run by cause and keeps the first
// targets of each: memory follows the number of causes, not of targets.
type causeTally struct {
	rows  map[verdict.Cause]*causeRow
	order []verdict.Cause // first seen first
}

type causeRow struct {
	count   int
	targets []string // the first maxSummaryTargets, escaped
}

// reportCause is the cause a report is counted under: its first finding's.
func reportCause(r diagnose.Report) verdict.Cause {
	if len(r.Findings) > 0 {
		return r.Findings[0].Cause
	}
	if r.Outcome == verdict.OutcomeOK {
		return verdict.CauseOK
	}
	return verdict.Cause(r.Outcome)
}

func (t *causeTally) add(r diagnose.Report) {
	if t.rows == nil {
		t.rows = map[verdict.Cause]*causeRow{}
	}
	c := reportCause(r)
	row := t.rows[c]
	if row == nil {
		row = &causeRow{}
		t.rows[c] = row
		t.order = append(t.order, c)
	}
	row.count++
	if len(row.targets) < maxSummaryTargets {
		row.targets = append(row.targets, escape.String(r.Target.String()))
	}
}

// write prints the table: problems first, largest first, then ok.
func (t *causeTally) write(w io.Writer, p *i18n.Printer, s style) {
	if len(t.order) == 0 {
		return
	}
	causes := slices.Clone(t.order)
	slices.SortStableFunc(causes, func(a, b verdict.Cause) int {
		if (a == verdict.CauseOK) != (b == verdict.CauseOK) {
			if a == verdict.CauseOK {
				return 1
			}
			return -1
		}
		return t.rows[b].count - t.rows[a].count
	})
	head := []string{p.T("bulkspeed.col.cause"), p.T("bulkspeed.col.count"), p.T("bulkspeed.col.targets")}
	cw, nw := uniseg.StringWidth(head[0]), uniseg.StringWidth(head[1])
	for _, c := range causes {
		cw = max(cw, uniseg.StringWidth(string(c)))
		nw = max(nw, len(fmt.Sprint(t.rows[c].count)))
	}
	pad := func(x string, n int) string { return x + strings.Repeat(" ", max(0, n-uniseg.StringWidth(x))) }
	lpad := func(x string, n int) string { return strings.Repeat(" ", max(0, n-uniseg.StringWidth(x))) + x }
	fmt.Fprintf(w, "%s\n", s.head(p.T("bulkspeed.summary")))
	fmt.Fprintf(w, "  %s  %s  %s\n", s.dim(pad(head[0], cw)), s.dim(lpad(head[1], nw)), s.dim(head[2]))
	for _, c := range causes {
		row := t.rows[c]
		names := strings.Join(row.targets, ", ")
		if more := row.count - len(row.targets); more > 0 {
			names = p.T("bulk.list.more", "List", names, "N", more)
		}
		cause := pad(string(c), cw)
		if c == verdict.CauseOK {
			cause = s.good(cause)
		} else {
			cause = s.bad(cause)
		}
		fmt.Fprintf(w, "  %s  %s  %s\n", cause, lpad(fmt.Sprint(row.count), nw), names)
	}
}

// progress is the bar check -f draws on stderr while it runs, only when
// stderr is a terminal; nil draws nothing.
type progress struct {
	bar *progressbar.ProgressBar
}

func newProgress(g *globals, total int) *progress {
	if !isTerminal(g.stderr) {
		return nil
	}
	max := int64(total) // -1 (a stream): a spinner with the count
	return &progress{bar: progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(g.stderr),
		progressbar.OptionSetDescription(g.printer.T("bulkspeed.progress")),
		progressbar.OptionShowCount(),
		progressbar.OptionSetItsString(g.printer.T("bulkspeed.progress.unit")),
		progressbar.OptionShowIts(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionUseANSICodes(true),
		progressbar.OptionSetRenderBlankState(true),
	)}
}

// clear takes the bar off the line before a report goes to the same terminal.
func (pr *progress) clear() {
	if pr != nil {
		_ = pr.bar.Clear()
	}
}

func (pr *progress) add() {
	if pr != nil {
		_ = pr.bar.Add(1)
	}
}

// done removes the bar for good.
func (pr *progress) done() {
	if pr != nil {
		_ = pr.bar.Exit()
		_ = pr.bar.Clear()
	}
}
