package diagnose

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/probe/probetest"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

// Hostile servers on loopback through Check: an answer cut at the cap or
// unfinished at the deadline is unknown, never not_http, and the probe's
// JSON result says which.
func TestCheckHostile(t *testing.T) {
	serve := func(h func(net.Conn)) string {
		ln := probetest.Listen(t)
		probetest.Serve(t, ln, h)
		return ln.Addr().String()
	}
	endless := serve(probetest.Endless(probetest.EndlessHead))
	stall := serve(probetest.Stall("HTTP/1.1 101 Switching Protocols\r\n"))
	trickle := serve(probetest.Trickle("HTTP/1.1 200 OK\r\n\r\n", 200*time.Millisecond))
	tests := []struct {
		target  string
		outcome verdict.Outcome
		conf    verdict.Confidence
		result  string
	}{
		{"ws://" + endless + "/", verdict.OutcomeProtocolMismatch, verdict.Medium, "too_long"},
		{"http://" + endless + "/", verdict.OutcomeProtocolMismatch, verdict.Medium, "too_long"},
		{"ws://" + stall + "/", verdict.OutcomeTimeout, verdict.Medium, "incomplete"},
		{"http://" + trickle + "/", verdict.OutcomeTimeout, verdict.Low, "incomplete"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			t.Parallel()
			tg, err := target.Parse(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			r := Check(context.Background(), tg, Options{ProbePorts: []uint16{}, Timeout: time.Second})
			f := r.Findings[0]
			if r.Outcome != tt.outcome || f.Cause != verdict.CauseUnknown || f.Confidence != tt.conf {
				t.Fatalf("got %s / %s / %s, want %s / unknown / %s", r.Outcome, f.Cause, f.Confidence, tt.outcome, tt.conf)
			}
			if len(r.Probes) < 2 || r.Probes[1].Result != tt.result {
				t.Fatalf("probes %+v, want the second with result %s", r.Probes, tt.result)
			}
			// What arrived is shown: a start of "HTTP/1.1 ..." (a trickle sends a byte at a time).
			if got := r.Probes[1].Received; got == "" || !strings.HasPrefix("HTTP/1.1 ", got[:min(len(got), 9)]) {
				t.Errorf("received %q", got)
			}
		})
	}
}
