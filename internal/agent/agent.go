// Package agent is the small API that conndiag listen --agent adds to its
// http:// and https:// endpoints, and the client that conndiag check --agent
// uses: "watch port P for SYNs from my address for D, and tell me what you
// saw". One person runs one command: the client retries the connection
// while the agent on the server watches, and learns whether its SYNs arrive
// (and are dropped there, by which rule) or never arrive.
//
// The agent answers only a request that presents its token (compared in
// constant time), watches only the ports it was allowed to (--agent-ports),
// reports only the SYNs from the address the request came from, and bounds
// how long a watch lasts and how many run at once. The watch itself is
// injected (WatchFunc): diagnose runs it with the server audit's packet
// capture and firewall reading, so this package does no capture of its own.
//
// The exchange is one POST to Path with a JSON Request; the answer is JSON
// Lines: {"state":"watching",...} as soon as the packet socket is open (the
// client starts retrying then), and {"state":"done","result":{...}} when the
// watch is over. A refusal is an HTTP error status with one line
// {"state":"error","error":CODE,"message":...}; the codes are the
// evidence.Agent* constants.
package agent

import (
	"errors"
	"net/netip"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
)

// Path is where the watch API answers, on every http(s) endpoint of listen --agent.
const Path = "/conndiag/agent/v1/watch"

// Prefix is the part of the URL space the agent owns.
const Prefix = "/conndiag/agent/"

// Bounds of a watch.
const (
	DefaultWatch  = 2 * time.Second
	MinWatch      = 200 * time.Millisecond
	DefaultMax    = 10 * time.Second // the longest watch, unless Config.MaxWatch says otherwise
	DefaultAtOnce = 4                // watches at once, all clients together
	maxBody       = 4 << 10
	maxAnswer     = 2 << 20 // the client reads at most this much of an answer
)

// ErrNoRoot: the agent runs without the privilege to open a packet socket.
var ErrNoRoot = errors.New("watching SYNs needs root (CAP_NET_RAW) on the server")

// Request is the body of a watch request.
type Request struct {
	Port       uint16 `json:"port"`
	DurationMS int64  `json:"duration_ms"`
}

// Line is one line of the agent's answer.
type Line struct {
	State      string   `json:"state"`            // "watching", "done", "error"
	Client     string   `json:"client,omitempty"` // the requesting client's address as the agent sees it
	Port       uint16   `json:"port,omitempty"`
	DurationMS int64    `json:"duration_ms,omitempty"` // the watch's length, after the agent's bounds
	Result     *Result  `json:"result,omitempty"`
	Error      string   `json:"error,omitempty"` // an evidence.Agent* code
	Message    string   `json:"message,omitempty"`
	Allowed    []uint16 `json:"allowed,omitempty"` // with error "port": the ports it may watch
}

// Result is what the agent saw and read on its host.
type Result struct {
	DurationMS  int64  `json:"duration_ms"`
	SYNs        []SYN  `json:"syns"` // from the requesting client's address only
	KernelDrops uint32 `json:"kernel_drops"`
	// Listeners are the sockets listening on the port.
	Listeners []Listener `json:"listeners"`
	// Firewall is the host's rule set answer for the port, per family, as
	// the server audit evaluates it; absent when it could not be read.
	Firewall    []evidence.FirewallEvidence `json:"firewall,omitempty"`
	FirewallErr string                      `json:"firewall_error,omitempty"`
	HostAddrs   []string                    `json:"host_addrs"`
	Cloud       string                      `json:"cloud,omitempty"`
	// ListenOverflows is how much the host's ListenOverflows counter grew during the watch.
	ListenOverflows uint64 `json:"listen_overflows"`
}

// SYN is one attempt from the client: its SYNs (retransmissions counted) and the host's answer.
type SYN struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Count  int    `json:"count"`
	Answer string `json:"answer"` // "syn-ack", "rst", "none"
}

// Listener is a listening socket of the port.
type Listener struct {
	Addr   string `json:"addr"`
	V6Only int8   `json:"v6only"`
}

// Report is what a WatchFunc returns: the audit of the port with every SYN
// the watch saw (the handler keeps the requesting client's), and the host.
type Report struct {
	Port        evidence.PortEvidence
	FirewallErr string
	Host        evidence.HostEvidence
}

// result is the part of a report the requesting client gets.
func (r Report) result(client netip.Addr, d time.Duration) *Result {
	res := &Result{DurationMS: d.Milliseconds(), SYNs: []SYN{}, Listeners: []Listener{}, HostAddrs: []string{},
		Firewall: r.Port.Firewall, FirewallErr: r.FirewallErr, Cloud: r.Host.Cloud, ListenOverflows: r.Host.OverflowGrowth}
	if w := r.Port.Watch; w != nil {
		res.DurationMS = w.Duration.Milliseconds()
		res.KernelDrops = w.KernelDrops
		for _, s := range w.SYNs {
			if s.From.Addr().Unmap() != client {
				continue // another client's: never reported
			}
			res.SYNs = append(res.SYNs, SYN{From: s.From.String(), To: s.To.String(), Count: s.Count, Answer: s.Answer})
		}
	}
	for _, l := range r.Port.Listeners {
		res.Listeners = append(res.Listeners, Listener{Addr: l.Addr.String(), V6Only: l.V6Only})
	}
	for _, a := range r.Host.Addrs {
		res.HostAddrs = append(res.HostAddrs, a.String())
	}
	return res
}
