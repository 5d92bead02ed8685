package verdict

import (
	"slices"
	"strings"

	"github.com/conndiag/conndiag/internal/i18n"
)

// Place is where a finding stands in a report. Findings are shown by place
// first (rank), so a name-level finding that changes what to do comes before
// the connection verdict, and what only informs comes last.
type Place int

// The places, in the order findings are shown (order). The zero Place is
// the verdict's, so a rule says only when its finding stands elsewhere.
const (
	// PlaceVerdict: the connection verdict of the address that decides, and
	// the alternatives its rule lists.
	PlaceVerdict Place = iota
	// PlaceLead: a name-level finding that makes the connection verdict
	// beside the point (a failing proxy, a CDN edge that drops the port, the
	// name leading to the wrong machine).
	PlaceLead
	// PlaceOther: what the other addresses of the name showed.
	PlaceOther
	// PlaceAlso: informative findings (answers that differ while the
	// connection works, a working proxy or CDN edge, address rewriting).
	PlaceAlso
)

// order is the place's position in a report.
func (p Place) order() int {
	return [...]int{PlaceLead: 0, PlaceVerdict: 1, PlaceOther: 2, PlaceAlso: 3}[p]
}

func (p Place) String() string {
	return [...]string{PlaceLead: "lead", PlaceVerdict: "verdict", PlaceOther: "other address", PlaceAlso: "also"}[p]
}

// Draft is what a rule says beyond its cause and confidence: the evidence
// lines and, when they differ from the cause's catalog record, the summary
// and the fix.
type Draft struct {
	// Summary replaces the catalog's "cause.CAUSE.summary"; zero keeps it, with Args.
	Summary i18n.Msg
	Args    []any // key/value arguments of the catalog summary
	Lines   []i18n.Msg
	// Fix replaces the cause's catalog fix (CauseInfo.Fix, built from FixArgs).
	Fix     []i18n.Msg
	FixArgs FixArgs
	// Outcome, when set, is what the client experiences if this finding is
	// the verdict (the rule's own Outcome otherwise).
	Outcome Outcome
}

// Rule is one row of a stage's table: the condition over the evidence, the
// cause and confidence it leads to, and the evidence lines it shows. Tables
// are read in order; see each stage for whether the first matching row
// decides (TCP, protocol) or every matching row adds a finding (name, server).
type Rule[X any] struct {
	ID    string // stage.what, unique; findings carry it (Finding.Rule)
	Cause Cause
	Conf  Confidence
	// ConfOf decides the confidence from the evidence when it varies; Conf is
	// then the one docs/rules.md names and Note says when it differs.
	ConfOf func(X) Confidence
	When   func(X) bool
	Make   func(X) Draft
	// Place is where the finding stands; PlaceOf decides it from the evidence.
	Place   Place
	PlaceOf func(X) Place
	// Outcome is what the client experiences when this row decides (first-match
	// tables); "" leaves it to the stage. OutcomeOf decides it from the evidence.
	Outcome   Outcome
	OutcomeOf func(X) Outcome
	// Part: the row adds its lines and fix to the one finding of its cause in
	// this stage (several independent observations of one cause) rather than
	// making a finding of its own.
	Part bool
	// Also are the alternatives listed after this row's finding when it
	// decides: each is shown when its own condition holds.
	Also []Rule[X]
	Note string // when the condition or confidence needs words in docs/rules.md
}

// finding builds the row's finding from its draft and the cause's catalog record.
func (r Rule[X]) finding(x X) (Finding, Outcome) {
	d := r.Make(x)
	conf := r.Conf
	if r.ConfOf != nil {
		conf = r.ConfOf(x)
	}
	place := r.Place
	if r.PlaceOf != nil {
		place = r.PlaceOf(x)
	}
	f := Finding{Cause: r.Cause, Confidence: conf, Summary: d.Summary, Evidence: d.Lines, Fix: d.Fix, Rule: r.ID, place: place}
	if f.Summary.ID == "" && !f.Summary.IsCmd() {
		f.Summary = i18n.M("cause."+string(r.Cause)+".summary", d.Args...)
	}
	if f.Fix == nil {
		f.Fix = Catalog(r.Cause).fix(d.FixArgs)
	}
	out := d.Outcome
	switch {
	case out != "":
	case r.OutcomeOf != nil:
		out = r.OutcomeOf(x)
	default:
		out = r.Outcome
	}
	return f, out
}

// decideFirst applies a first-match table: the first row whose condition
// holds decides, followed by those of its alternatives that hold.
func decideFirst[X any](rules []Rule[X], x X) ([]Finding, Outcome, bool) {
	for _, r := range rules {
		if !r.When(x) {
			continue
		}
		f, out := r.finding(x)
		fs := []Finding{f}
		for _, alt := range r.Also {
			if alt.When(x) {
				af, _ := alt.finding(x)
				fs = append(fs, af)
			}
		}
		return fs, out, true
	}
	return nil, "", false
}

// decideAll applies an every-match table: each row whose condition holds
// adds a finding; Part rows of one cause make one finding together, with the
// highest confidence, the earliest place, the lines and fixes of all, and
// the cause's general fix last.
// The outcome is the first a matching row names.
func decideAll[X any](rules []Rule[X], x X) ([]Finding, Outcome) {
	var out []Finding
	var outcome Outcome
	part := map[Cause]int{}
	for _, r := range rules {
		if !r.When(x) {
			continue
		}
		f, o := r.finding(x)
		if outcome == "" {
			outcome = o
		}
		if !r.Part {
			out = append(out, f)
			continue
		}
		i, ok := part[r.Cause]
		if !ok {
			part[r.Cause] = len(out)
			out = append(out, f)
			continue
		}
		g := &out[i]
		g.parts = append(g.parts, f.Rule)
		if f.Confidence.rank() < g.Confidence.rank() {
			g.Confidence = f.Confidence
		}
		if f.place.order() < g.place.order() {
			g.place = f.place
		}
		g.Evidence = uniqueMsgs(append(g.Evidence, f.Evidence...))
		g.Fix = append(g.Fix, f.Fix...)
	}
	// A finding made of parts ends with its cause's general fix.
	for c, i := range part {
		out[i].Fix = append(out[i].Fix, Catalog(c).fix(FixArgs{})...)
	}
	return out, outcome
}

// rank orders the findings of one report, the one ranking conndiag uses:
//
//   - a finding whose cause a present finding supersedes (CauseInfo.Supersedes) is dropped;
//   - findings are ordered by place, then, when byConfidence, the most certain
//     first, then in the order the rules gave them;
//   - a cause shown twice keeps its first finding; a later name-level one
//     (lead or also) gives it its evidence lines.
func rank(fs []Finding, byConfidence bool) []Finding {
	present := map[Cause]bool{}
	for _, f := range fs {
		present[f.Cause] = true
	}
	kept := make([]Finding, 0, len(fs))
	for _, f := range fs {
		if !supersededIn(f.Cause, present) {
			kept = append(kept, f)
		}
	}
	slices.SortStableFunc(kept, func(a, b Finding) int {
		if a.place != b.place {
			return a.place.order() - b.place.order()
		}
		if byConfidence {
			return a.Confidence.rank() - b.Confidence.rank()
		}
		return 0
	})
	out := kept[:0:0]
	at := map[Cause]int{}
	for _, f := range kept {
		i, dup := at[f.Cause]
		switch {
		case !dup:
			at[f.Cause] = len(out)
			out = append(out, f)
		case f.place == PlaceLead || f.place == PlaceAlso:
			out[i].Evidence = uniqueMsgs(append(out[i].Evidence, f.Evidence...))
		}
	}
	return out
}

func supersededIn(c Cause, present map[Cause]bool) bool {
	for p := range present {
		if slices.Contains(Catalog(p).Supersedes, c) {
			return true
		}
	}
	return false
}

// RuleDoc describes one rule for docs/rules.md.
type RuleDoc struct {
	Stage, ID string
	Cause     Cause
	Conf      Confidence
	Varies    bool // the confidence depends on the evidence (ConfOf)
	Place     string
	Alt       bool // an alternative listed after another rule's finding
	Note      string
}

func docsOf[X any](stage string, rules []Rule[X]) []RuleDoc {
	var out []RuleDoc
	for _, r := range rules {
		place := r.Place.String()
		if r.PlaceOf != nil {
			place = "depends"
		}
		out = append(out, RuleDoc{Stage: stage, ID: r.ID, Cause: r.Cause, Conf: r.Conf, Varies: r.ConfOf != nil, Place: place, Note: r.Note})
		for _, a := range r.Also {
			out = append(out, RuleDoc{Stage: stage, ID: a.ID, Cause: a.Cause, Conf: a.Conf, Varies: a.ConfOf != nil, Place: "after " + r.ID, Alt: true, Note: a.Note})
		}
	}
	return out
}

// Rules lists every rule of every stage, in table order; a row shared by
// several tables or listed after several rows is listed once.
func Rules() []RuleDoc {
	var all []RuleDoc
	all = append(all, docsOf("tcp", tcpRules)...)
	all = append(all, docsOf("tcp-loss", lossRules)...)
	all = append(all, docsOf("tls", append(append([]Rule[proto]{}, tlsRules...), certRules...))...)
	all = append(all, docsOf("tls-done", append(append([]Rule[proto]{}, clientCertRules...), stallRules...))...)
	all = append(all, docsOf("websocket", wsRules)...)
	all = append(all, docsOf("http", httpRules)...)
	all = append(all, docsOf("not-http", notHTTPRules)...)
	all = append(all, docsOf("message", append(append([]Rule[proto]{}, messageRules...), tlsOnlyRules...))...)
	all = append(all, docsOf("name", nameRules)...)
	all = append(all, docsOf("server-port", portRules)...)
	all = append(all, docsOf("server-host", hostRules)...)
	var out []RuleDoc
	at := map[string]int{}
	for _, r := range all {
		if i, ok := at[r.ID]; ok {
			if r.Alt {
				out[i].Place += ", " + strings.TrimPrefix(r.Place, "after ")
			}
			continue
		}
		at[r.ID] = len(out)
		out = append(out, r)
	}
	return out
}
