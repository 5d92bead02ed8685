//go:build !linux

package load

import "syscall"

// bindNoPort does nothing here: only Linux has IP_BIND_ADDRESS_NO_PORT, so
// a source address's ports are shared by every destination.
func bindNoPort(network, address string, c syscall.RawConn) error { return nil }

func reserveFDs(n int) []int { return nil }
func closeFDs(fds []int)     {}
