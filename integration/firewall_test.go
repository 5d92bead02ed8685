//go:build linux

package integration

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/testbed"
)

// A chain name carrying shell syntax, of the shape firewalld gives its zone
// chains (IN_<zone>), must never reach a command conndiag offers: the
// offered commands are pasted into a root shell in the server's namespace,
// as a person would, and must open the port without running the name.
func TestFirewallHostileChainName(t *testing.T) {
	testbed.RequireRoot(t)
	n := testbed.Pair(t)
	tag := make([]byte, 2)
	if _, err := rand.Read(tag); err != nil {
		t.Fatal(err)
	}
	marker := "/tmp/pw" + hex.EncodeToString(tag)[:3]
	t.Cleanup(func() { os.Remove(marker) })
	chain := "IN_$(touch${IFS}" + marker + ")" // 27 bytes: iptables allows 28
	n.Server.ServeAccept(t, n.Server.Listen(t, "tcp", "0.0.0.0:8282"))
	n.Server.Iptables(t, "-N", chain)
	n.Server.Iptables(t, "-A", "INPUT", "-j", chain)
	n.Server.Iptables(t, "-A", chain, "-p", "tcp", "--dport", "8282", "-j", "DROP")

	r, code := server(t, n.Server, "8282")
	f := expectPort(t, r, code, "firewall_local", "high", 1)
	fw := r.Ports[0].Firewall
	if len(fw) == 0 || fw[0].Chain != chain || len(fw[0].Open) == 0 {
		t.Fatalf("the dropping chain and an opening must be reported: %s", dump(fw))
	}
	for _, line := range append(append([]string{}, f.Fix...), fw[0].Open...) {
		if strings.Contains(line, "$(") || strings.Contains(line, "${IFS}") || strings.Contains(line, marker) {
			t.Errorf("a fix line carries the chain name: %q", line)
		}
	}
	for _, cmd := range fw[0].Open {
		if out, err := n.Server.Try("sh", "-c", cmd); err != nil {
			t.Fatalf("pasting %q: %v\n%s", cmd, err, out)
		}
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pasting the offered commands ran the chain name (%s exists)", marker)
	}
	c, err := n.Client.Dial(t, "tcp", n.ServerIP.String()+":8282", 2*time.Second)
	if err != nil {
		t.Fatalf("after the offered commands the port is still closed: %v (commands %q)", err, fw[0].Open)
	}
	c.Close()
}
