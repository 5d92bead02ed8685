package explain

import (
	"testing"

	"github.com/conndiag/conndiag/internal/i18n"
	v "github.com/conndiag/conndiag/internal/verdict"
)

// Every text explain builds by name exists in the catalog (the catalog test
// only sees IDs written literally).
func TestCatalogHasBuiltIDs(t *testing.T) {
	en, err := i18n.Texts("en")
	if err != nil {
		t.Fatal(err)
	}
	need := map[string]bool{"explain.ev.line": true, "explain.ev.code": true, "explain.where": true,
		"explain.adj.localhost_v6": true, "explain.adj.no_v6_route": true, "explain.adj.loopback_unreach": true}
	for _, m := range meaning {
		need["explain.sig."+m] = true
	}
	for k := range contexts {
		if k != "read" && k != "ws_phase" && k != "tls_phase" {
			need["explain.ctx."+k] = true
		}
	}
	for _, c := range v.Causes {
		need["explain.cause."+string(c)+".how"] = true
	}
	for id := range need {
		if _, ok := en[id]; !ok {
			t.Errorf("catalog lacks %s", id)
		}
	}
}
