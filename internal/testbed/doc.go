// Package testbed builds real network topologies in network namespaces for integration tests.
//
// A test asks for a Bed (or a ready-made Pair or Chain topology), creates
// namespaces and veth links in it, and runs servers, clients and the binary
// under test inside those namespaces. Everything the Bed creates is removed
// by t.Cleanup, even when the test fails, in this order: background
// processes, listeners and connections, leftover processes inside the
// namespaces, the namespaces themselves, then /etc/netns/NAME.
//
// Rules for tests that use it: send traffic only to loopback or to
// addresses inside namespaces the test created. The fixed topologies use
// the documentation ranges 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32
// rather than private ranges, because conndiag treats private addresses
// specially and the topologies stand in for the public internet.
//
// Names carry the test process's pid and a random tag (tb<pid>-<tag>-…), so
// parallel runs of the suite never collide, and Sweep can remove what a
// killed run (for example one hit by go test -timeout, which skips cleanups)
// left behind. Veth ends are created directly inside their namespaces, so
// the root namespace never sees them and they can use short fixed names
// (eth0, eth1, …).
//
// Everything needs root; RequireRoot skips the test otherwise. The package
// only works on Linux.
package testbed
