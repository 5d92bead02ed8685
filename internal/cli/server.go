package cli

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/conndiag/conndiag/internal/diagnose"
	"github.com/conndiag/conndiag/internal/verdict"
)

// maxWatch bounds --watch; a day is more than anyone waits at a terminal.
const maxWatch = 24 * time.Hour

func newServer(g *globals) *cobra.Command {
	var watch time.Duration
	cmd := &cobra.Command{
		Use:   "server [PORT...]",
		Short: "Audit this host as the server: listeners, firewall, kernel limits, cloud and panel",
		Long: `Run on the server. For each PORT (every listening port when none is given) it
reads who listens on which address, walks the firewall rules (iptables, nftables,
ufw, firewalld) for a new connection from anywhere, and checks the kernel and
process limits; it names the cloud provider and hosting panel whose firewalls
cannot be seen from the host.

--watch DURATION watches the ports that long for inbound SYNs and tells, for each,
whether the host answered (SYN-ACK or RST) or stayed silent: silence means the
host's own firewall drops them; no SYN at all while a client tries means they
are dropped before the host (security group, provider firewall, the path).

Reading iptables/nftables rules needs root (CAP_NET_ADMIN), --watch needs root
(CAP_NET_RAW), and the processes of other users are seen only by root; without
it, the audit says what it could not read and reports the rest.

Exit status: 0 when nothing is wrong, 1 when a problem was found, 2 for bad
input, 3 when --watch could not run.`,
		Example: `  conndiag server
  conndiag server 8282
  conndiag server --watch 60s 8282
  conndiag server 80 443 --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ports, err := parseServerPorts(args)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("watch") && (watch <= 0 || watch > maxWatch) {
				return usage("platform.usage.watch", "Max", maxWatch.String(), "Got", watch.String())
			}
			return runServer(cmd.Context(), g, diagnose.AuditOptions{Ports: ports, Watch: watch}, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().DurationVar(&watch, "watch", 0, "watch the ports this long for inbound SYNs and the host's answers (e.g. 60s; needs root; Linux)")
	g.addFlags(cmd, flagJSON|flagLang|flagColor, "one JSON object on stdout: the host, its ports and the findings")
	return cmd
}

func parseServerPorts(args []string) ([]uint16, error) {
	var out []uint16
	seen := map[uint16]bool{}
	for _, a := range args {
		for _, s := range strings.Split(a, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				// server '' or "8282,,80": an empty port is a mistake, not "every port".
				return nil, usage("platform.usage.server_port", "Value", quote(a))
			}
			n, err := strconv.ParseUint(s, 10, 16)
			if err != nil || n == 0 {
				return nil, usage("platform.usage.server_port", "Value", quote(s))
			}
			if !seen[uint16(n)] {
				seen[uint16(n)] = true
				out = append(out, uint16(n))
			}
		}
	}
	return out, nil
}

// serverReport and serverPort are the audit as diagnose.Audit returns it.
type (
	serverReport = diagnose.AuditReport
	serverPort   = diagnose.AuditPort
)

func runServer(ctx context.Context, g *globals, opt diagnose.AuditOptions, stderr interface{ Write([]byte) (int, error) }) error {
	opt.Notify = func(ports []uint16, d time.Duration) {
		fmt.Fprintln(stderr, g.printer.T("ui.server.watching", "Ports", joinPorts(ports), "Dur", verdict.Dur(d)))
	}
	rep, err := diagnose.Audit(ctx, opt)
	if err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			return toolFail("platform.err.server_unsupported", "OS", osName(runtime.GOOS))
		}
		return toolFail("platform.err.server_sockets", "Err", err.Error())
	}
	if rep.Cancelled {
		// A cut-short watch would read as a verdict ("no SYN arrived").
		return &exitError{code: ExitInterrupted, msg: "interrupted; the audit was not finished"}
	}
	if g.json {
		if err := writeServerJSON(g.stdout, rep, g.printer); err != nil {
			return writeErr(err)
		}
	} else {
		renderServerHuman(g.stdout, rep, g.printer, g.color)
	}
	if rep.WatchErr != nil {
		return watchErr(rep.WatchErr)
	}
	if rep.Problem() {
		return errProblem
	}
	if !rep.Complete() {
		// Nothing wrong was seen, but not everything could be seen: not a clean bill.
		return toolErr("%s", g.printer.T("ui.server.incomplete"))
	}
	return nil
}

// watchErr says why --watch could not run, without the packet library's words.
func watchErr(err error) error {
	switch {
	case errors.Is(err, diagnose.ErrWatchNoPort):
		return toolFail("platform.err.watch_no_port")
	case errors.Is(err, diagnose.ErrWatchNotPermitted):
		return toolFail("platform.err.watch_root")
	case errors.Is(err, errors.ErrUnsupported):
		return toolFail("platform.err.watch_unsupported", "OS", osName(runtime.GOOS))
	}
	return toolFail("platform.err.watch", "Why", fileReason(err))
}

func joinPorts(ps []uint16) string { return verdict.JoinPorts(ps) }
