//go:build !unix

package cli

// onHangup: this system has no SIGHUP; POST /-/reload reloads.
func onHangup(func()) (stop func()) { return func() {} }
