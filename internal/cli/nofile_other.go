//go:build !unix

package cli

func noFileTooLow() (uint64, bool) { return 0, false }
