//go:build windows

package host

import (
	"context"
	"fmt"
	"os/exec"
	"time"
)

// EphemeralRange asks netsh for the dynamic port range of TCP over IPv4
// (Windows has no API for it without cgo; IPv6 has its own, by default the same).
func EphemeralRange() (PortRange, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "netsh", "int", "ipv4", "show", "dynamicport", "tcp").Output()
	if err != nil {
		return PortRange{}, fmt.Errorf("host: netsh int ipv4 show dynamicport tcp: %w", err)
	}
	return ParseDynamicPorts(string(out))
}
