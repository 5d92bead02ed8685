package cli

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/conndiag/conndiag/internal/agent"
	"github.com/conndiag/conndiag/internal/diagnose"
	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/listen"
)

// listenAgent is listen --agent: the token, the ports, and whether this
// process can watch.
type listenAgent struct {
	token     string
	generated bool
	ports     []uint16
	watchErr  error // why it cannot watch (no root), nil when it can
}

// agentLogQueue bounds the agent's log lines waiting to be written.
const agentLogQueue = 256

// maxAgentPorts bounds --agent-ports after ranges are expanded.
const maxAgentPorts = 4096

func agentSetup(g *globals, f listenFlags, eps []listen.Endpoint) (*listenAgent, error) {
	if !f.agent {
		if f.agentToken != "" || f.agentPorts != "" {
			return nil, usageErr("--agent-token and --agent-ports go with --agent")
		}
		return nil, nil
	}
	if !slices.ContainsFunc(eps, func(e listen.Endpoint) bool { return e.Proto == listen.HTTP }) {
		return nil, usageErr("--agent answers on an http:// or https:// endpoint, and none was given; for example: conndiag listen http://0.0.0.0:8080 --agent --agent-ports 8282")
	}
	if f.agentPorts == "" {
		return nil, usageErr("--agent needs --agent-ports: the ports clients may ask it to watch, for example --agent-ports 8282")
	}
	ports, err := parsePortList(f.agentPorts)
	if err != nil {
		return nil, err
	}
	a := &listenAgent{token: f.agentToken, ports: ports}
	if a.token == "" {
		a.token = g.getenv("CONNDIAG_AGENT_TOKEN")
	}
	switch {
	case a.token == "":
		if a.token, err = agent.NewToken(); err != nil {
			return nil, toolErr("--agent: cannot make a token: %v", err)
		}
		a.generated = true
	case len(a.token) < agent.MinTokenLen:
		return nil, usageErr("--agent-token must be at least %d characters; leave it out to have one generated", agent.MinTokenLen)
	case strings.ContainsFunc(a.token, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return nil, usageErr("--agent-token must not contain spaces or control characters")
	}
	a.watchErr = diagnose.CanWatch()
	return a, nil
}

// parsePortList reads "8282", "8282,9000-9010".
func parsePortList(s string) ([]uint16, error) {
	bad := func(p string) error {
		return usageErr("--agent-ports: %q is not a port from 1 to 65535 or a range such as 9000-9010", p)
	}
	var out []uint16
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(p, "-")
		a, err := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		if err != nil || a == 0 {
			return nil, bad(p)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(strings.TrimSpace(hi), 10, 16); err != nil || b < a {
				return nil, bad(p)
			}
		}
		for v := a; v <= b; v++ {
			if len(out) >= maxAgentPorts {
				return nil, usageErr("--agent-ports: at most %d ports", maxAgentPorts)
			}
			if !slices.Contains(out, uint16(v)) {
				out = append(out, uint16(v))
			}
		}
	}
	if len(out) == 0 {
		return nil, usageErr("--agent-ports: no port given")
	}
	slices.Sort(out)
	return out, nil
}

func (a *listenAgent) handler(g *globals, quiet bool, readTimeout time.Duration) http.Handler {
	cfg := agent.Config{Token: a.token, Ports: a.ports, Watch: diagnose.AgentWatch(diagnose.HostReaders{})}
	if !quiet {
		// One writer drains a bounded queue: a flood of refused requests
		// costs at most agentLogQueue events, the rest are counted and
		// said once the queue has room again.
		events := make(chan agent.Event, agentLogQueue)
		var dropped atomic.Int64
		cfg.Log = func(e agent.Event) {
			select {
			case events <- e:
			default:
				dropped.Add(1)
			}
		}
		go func() {
			p := g.printer
			for e := range events {
				if n := dropped.Swap(0); n > 0 {
					fmt.Fprintln(g.stderr, p.T("agent.log.dropped", "N", n))
				}
				now := time.Now().Format("15:04:05")
				if g.json {
					b := fmt.Sprintf(`{"time":%q,"agent":true,"client":%q,"port":%d,"refusal":%q,"syns":%d}`,
						time.Now().UTC().Format(time.RFC3339Nano), e.Client.String(), e.Port, e.Code, e.SYNs)
					fmt.Fprintln(g.stderr, b)
					continue
				}
				if e.Code != "" {
					fmt.Fprintln(g.stderr, p.T("agent.log.refused", "Time", now, "Client", e.Client.String(), "Code", e.Code, "Port", e.Port))
					continue
				}
				fmt.Fprintln(g.stderr, p.T("agent.log.watched", "Time", now, "Client", e.Client.String(), "Port", e.Port, "Dur", e.Dur.String(), "N", e.SYNs))
			}
		}()
	}
	return agent.New(cfg)
}

func (a *listenAgent) portList() string {
	ps := make([]string, 0, len(a.ports))
	for _, p := range a.ports {
		ps = append(ps, strconv.Itoa(int(p)))
	}
	if len(ps) > 12 {
		ps = append(ps[:12], "…")
	}
	return strings.Join(ps, ",")
}

// printStartup says where the agent answers, the token, and the command to
// run on the client.
func (a *listenAgent) printStartup(g *globals, srv *listen.Server) {
	p := g.printer
	var urls []string
	var client string
	for _, b := range srv.Bound() {
		if b.Proto != listen.HTTP {
			continue
		}
		scheme := "http"
		if b.TLS {
			scheme = "https"
		}
		host := b.Addr.Addr()
		hostText := "SERVER"
		if !host.IsUnspecified() {
			hostText = host.String()
			if host.Is6() {
				hostText = "[" + hostText + "]"
			}
		}
		base := fmt.Sprintf("%s://%s:%d", scheme, hostText, b.Addr.Port())
		urls = append(urls, base+agent.Path)
		if client == "" {
			target := hostText + ":" + strconv.Itoa(int(a.ports[0]))
			// A token the operator chose is not echoed: it may be in a
			// file or the environment for a reason.
			tok := a.token
			if !a.generated {
				tok = "TOKEN"
			}
			client = p.Text(i18n.Cmd("conndiag check %s --agent %s --agent-token %s", target, base, tok))
		}
	}
	if g.json {
		line := map[string]any{"agent": urls, "ports": a.ports, "generated": a.generated, "can_watch": a.watchErr == nil}
		if a.generated {
			line["token"] = a.token
		}
		_ = encodeLine(g, line)
		return
	}
	for _, u := range urls {
		fmt.Fprintln(g.stdout, p.T("agent.ui.listening", "URL", u, "Ports", a.portList()))
	}
	if a.generated {
		fmt.Fprintln(g.stdout, p.T("agent.ui.token.generated", "Token", a.token))
	} else {
		fmt.Fprintln(g.stdout, p.T("agent.ui.token.given"))
	}
	fmt.Fprintln(g.stdout, p.T("agent.ui.client"))
	fmt.Fprintf(g.stdout, "  $ %s\n", client)
	if a.watchErr != nil {
		fmt.Fprintln(g.stderr, p.T("listen.warning", "Text", p.T("agent.ui.no_root", "Err", a.watchErr.Error())))
	}
}
