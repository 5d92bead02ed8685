package cli

import "github.com/conndiag/conndiag/internal/host"

func hostUsage() *host.PortUsage {
	return &host.PortUsage{Range: host.PortRange{Lo: 32768, Hi: 60999}, TwReuse: 2, ToDest: 28232, TimeWaitToDest: 27001, TimeWait: 27105}
}
