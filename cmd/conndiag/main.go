// Command conndiag tells why a client cannot connect to a server, and what to change.
package main

import (
	"context"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/conndiag/conndiag/internal/cli"
)

func main() {
	// The standard library logs some peer misbehaviour by itself (net/http's
	// "Unsolicited response received on idle HTTP channel", an HTTP server's
	// TLS handshake errors): outside bytes printed unescaped, outside the
	// report. What conndiag has to say goes through its own output.
	log.SetOutput(io.Discard)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal asks for a clean stop; a second one kills at once.
	go func() { <-ctx.Done(); stop() }()
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
