package exporter

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/conndiag/conndiag/internal/diagnose"
	"github.com/conndiag/conndiag/internal/evidence"
)

// The phases of conndiag_probe_phase_duration_seconds.
const (
	PhaseDNS       = "dns"
	PhaseConnect   = "connect"
	PhaseTLS       = "tls"
	PhaseHandshake = "handshake"
)

// probeRegistry is the fresh registry one /probe answers from, holding the
// metrics of SPEC.md "Exporter metrics" for r. took is the whole probe as
// the handler timed it.
//
// probe_success is 1 only for the verdict ok. The phases are those the
// target's protocol has (dns and connect always, tls for TLS schemes,
// handshake for every protocol beyond TCP), each 0 when the diagnosis did
// not get that far, so a series does not vanish when its phase fails. A
// diagnosis cut short at the deadline has evidence but no verdict: it gets
// probe_success 0 and no outcome or cause series rather than a guess.
func probeRegistry(r diagnose.Report, took time.Duration) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	success := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "probe_success", Help: "Whether the probe succeeded: 1 when conndiag's verdict is ok.",
	})
	duration := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "probe_duration_seconds", Help: "How long the probe took to complete in seconds.",
	})
	dns := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "probe_dns_lookup_time_seconds", Help: "How long the name lookup took in seconds (0 for an address).",
	})
	phase := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "conndiag_probe_phase_duration_seconds", Help: "Duration of each phase of the diagnosis in seconds.",
	}, []string{"phase"})
	outcome := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "conndiag_probe_outcome", Help: "What the client experiences (conndiag's outcome code), always 1.",
	}, []string{"outcome"})
	cause := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "conndiag_probe_cause", Help: "conndiag's verdict: the cause code and its confidence, always 1.",
	}, []string{"cause", "confidence"})
	reg.MustRegister(success, duration, dns, phase, outcome, cause)

	duration.Set(took.Seconds())
	ev := r.Evidence
	dns.Set(ev.DNS.Duration.Seconds())
	ph := phases(r)
	for _, name := range []string{PhaseDNS, PhaseConnect, PhaseTLS, PhaseHandshake} {
		if d, ok := ph[name]; ok {
			phase.WithLabelValues(name).Set(d.Seconds())
		}
	}
	if r.Cancelled || len(r.Findings) == 0 {
		return reg
	}
	v := r.Findings[0]
	if isSuccess(r) {
		success.Set(1)
	}
	outcome.WithLabelValues(string(r.Outcome)).Set(1)
	cause.WithLabelValues(string(v.Cause), string(v.Confidence)).Set(1)
	return reg
}

// phases are the durations of the phases the target's protocol has, on
// the address the verdict rests on: the first that connected, else the first.
func phases(r diagnose.Report) map[string]time.Duration {
	t := r.Target
	out := map[string]time.Duration{PhaseDNS: r.Evidence.DNS.Duration, PhaseConnect: 0}
	if t.TLS() {
		out[PhaseTLS] = 0
	}
	if t.Protocol() != evidence.ProtoTCP {
		out[PhaseHandshake] = 0
	}
	var a *evidence.AddrEvidence
	for i := range r.Evidence.Addrs {
		if r.Evidence.Addrs[i].Connect.Kind == evidence.OK {
			a = &r.Evidence.Addrs[i]
			break
		}
	}
	if a == nil && len(r.Evidence.Addrs) > 0 {
		a = &r.Evidence.Addrs[0]
	}
	if a == nil {
		return out
	}
	out[PhaseConnect] = a.Connect.Duration
	p := a.Proto
	if p == nil {
		return out
	}
	if p.TLS != nil && t.TLS() {
		out[PhaseTLS] = p.TLS.Duration
	}
	if _, ok := out[PhaseHandshake]; ok {
		switch {
		case p.WS != nil:
			out[PhaseHandshake] = p.WS.Duration
		case p.HTTP != nil:
			out[PhaseHandshake] = p.HTTP.Duration
		case p.Message != nil:
			out[PhaseHandshake] = p.Message.Duration
		}
	}
	return out
}
