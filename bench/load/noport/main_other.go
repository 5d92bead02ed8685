//go:build !linux

// Command noport needs Linux: IP_BIND_ADDRESS_NO_PORT is Linux-only.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "noport: needs Linux (IP_BIND_ADDRESS_NO_PORT)")
	os.Exit(3)
}
