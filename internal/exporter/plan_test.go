package exporter

import (
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/target"
)

func mustTarget(t *testing.T, s string) target.Target {
	t.Helper()
	tg, err := target.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestAllowPermits(t *testing.T) {
	def := DefaultAllow()
	c, err := ParseConfig([]byte(`[allow]
networks = ["10.0.0.0/8", "2001:db8::/32"]
names = ["db.example.com", "*.example.net"]
`), "")
	if err != nil {
		t.Fatal(err)
	}
	custom := c.Allow
	all := Allow{Names: []string{"*"}}
	tests := []struct {
		a      Allow
		target string
		want   bool
	}{
		{def, "127.0.0.1:80", true},
		{def, "127.255.0.9:80", true},
		{def, "[::1]:80", true},
		{def, "[::ffff:127.0.0.1]:80", true}, // the kernel takes it as 127.0.0.1
		{def, "localhost:80", true},
		{def, "LOCALHOST.:80", true},
		{def, "ws://localhost:8080/chat", true},
		{def, "0.0.0.0:80", false}, // reaches this machine, but is not loopback: refused as the rest
		{def, "[::]:80", false},
		{def, "10.0.0.1:80", false},
		{def, "[::ffff:10.0.0.1]:80", false},
		{def, "[fe80::1%eth0]:80", false},
		{def, "foo.localhost:80", false},
		{def, "localhost.example.com:80", false},
		{def, "example.com:80", false},
		{custom, "10.200.0.1:22", true},
		{custom, "[::ffff:10.2.3.4]:22", true},
		{custom, "[2001:db8:5::1]:22", true},
		{custom, "127.0.0.1:22", false}, // a configured list replaces the default
		{custom, "11.0.0.1:22", false},
		{custom, "db.example.com:5432", true},
		{custom, "DB.EXAMPLE.COM:5432", true},
		{custom, "www.db.example.com:5432", false},
		{custom, "a.example.net:1", true},
		{custom, "a.b.example.net:1", true},
		{custom, "example.net:1", false}, // *.example.net is what lies below it
		{custom, "badexample.net:1", false},
		{custom, "example.net.evil.com:1", false},
		{all, "anything.test:1", true},
		{all, "10.0.0.1:1", false}, // names never let an address through
	}
	for _, tt := range tests {
		if got := tt.a.Permits(mustTarget(t, tt.target)); got != tt.want {
			t.Errorf("%+v.Permits(%s) = %v, want %v", tt.a, tt.target, got, tt.want)
		}
	}
}

func TestMakePlan(t *testing.T) {
	const half = 500 * time.Millisecond
	tests := []struct {
		header   string
		offset   time.Duration
		attempt  time.Duration
		target   string
		deadline time.Duration
		per      time.Duration
		scrape   time.Duration
	}{
		// No header: blackbox_exporter's 120 s less the offset; the module's timeout as it is.
		{"", half, 3 * time.Second, "10.0.0.1:80", 119500 * time.Millisecond, 3 * time.Second, 0},
		// Prometheus' default 10 s: room for every attempt of a TCP check.
		{"10", half, 3 * time.Second, "10.0.0.1:80", 9500 * time.Millisecond, 3 * time.Second, 10 * time.Second},
		{"10", half, 3 * time.Second, "example.com:80", 9500 * time.Millisecond, 3 * time.Second, 10 * time.Second},
		// wss to a name: lookup, connect, TLS, handshake, tries: five attempts in 90% of 9.5 s.
		{"10", half, 3 * time.Second, "wss://example.com/", 9500 * time.Millisecond, 1710 * time.Millisecond, 10 * time.Second},
		// A short scrape timeout shortens the attempts, so the verdict comes before it.
		{"2", half, 3 * time.Second, "10.0.0.1:80", 1500 * time.Millisecond, 1350 * time.Millisecond, 2 * time.Second},
		{"2", half, 3 * time.Second, "ws://10.0.0.1:80/", 1500 * time.Millisecond, 450 * time.Millisecond, 2 * time.Second},
		{"1.5", 0, time.Second, "10.0.0.1:80", 1500 * time.Millisecond, time.Second, 1500 * time.Millisecond},
		// An offset eating more than half the scrape timeout leaves half.
		{"0.6", half, 3 * time.Second, "10.0.0.1:80", 300 * time.Millisecond, 270 * time.Millisecond, 600 * time.Millisecond},
		{"0.001", half, 3 * time.Second, "10.0.0.1:80", 500 * time.Microsecond, time.Millisecond, time.Millisecond},
		// A scrape timeout above 120 s is taken as 120 s.
		{"3600", half, 3 * time.Second, "10.0.0.1:80", 119500 * time.Millisecond, 3 * time.Second, 120 * time.Second},
	}
	for _, tt := range tests {
		p, err := makePlan(tt.header, tt.offset, tt.attempt, mustTarget(t, tt.target))
		if err != nil {
			t.Errorf("%q %s: %v", tt.header, tt.target, err)
			continue
		}
		if p.Deadline != tt.deadline || p.Attempt != tt.per || p.Scrape != tt.scrape {
			t.Errorf("makePlan(%q, %s, %s, %s) = deadline %s attempt %s scrape %s; want %s %s %s",
				tt.header, tt.offset, tt.attempt, tt.target, p.Deadline, p.Attempt, p.Scrape, tt.deadline, tt.per, tt.scrape)
		}
	}
	for _, bad := range []string{"x", "-1", "0", "NaN", "Inf", "1e400", " 1"} {
		if _, err := makePlan(bad, half, time.Second, mustTarget(t, "10.0.0.1:80")); err == nil {
			t.Errorf("header %q accepted", bad)
		}
	}
}
