//go:build !unix

package cli

// minNoFile is only enforced where descriptors have a per-process limit.
const minNoFile = 0

func noFileTooLow() (uint64, bool) { return 0, false }
