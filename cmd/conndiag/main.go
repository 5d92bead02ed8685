// Command conndiag tells why a client cannot connect to a server, and what to change.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/conndiag/conndiag/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal asks for a clean stop; a second one kills at once.
	go func() { <-ctx.Done(); stop() }()
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
