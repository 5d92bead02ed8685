package neterr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
)

func dialErr(syscallName string, errno syscall.Errno) error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError(syscallName, errno)}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		kind  Kind
		errno syscall.Errno
		op    string
	}{
		{"nil", nil, OK, 0, ""},
		{"refused", dialErr("connect", syscall.ECONNREFUSED), Refused, syscall.ECONNREFUSED, "connect"},
		{"kernel timeout", dialErr("connect", syscall.ETIMEDOUT), Timeout, syscall.ETIMEDOUT, "connect"},
		{"host unreachable", dialErr("connect", syscall.EHOSTUNREACH), HostUnreachable, syscall.EHOSTUNREACH, "connect"},
		{"net unreachable", dialErr("connect", syscall.ENETUNREACH), NetUnreachable, syscall.ENETUNREACH, "connect"},
		{"bind not local", dialErr("bind", syscall.EADDRNOTAVAIL), AddrNotAvailable, syscall.EADDRNOTAVAIL, "bind"},
		{"ports exhausted", dialErr("connect", syscall.EADDRNOTAVAIL), AddrNotAvailable, syscall.EADDRNOTAVAIL, "connect"},
		{"bind in use", dialErr("bind", syscall.EADDRINUSE), AddrInUse, syscall.EADDRINUSE, "bind"},
		{"emfile", dialErr("socket", syscall.EMFILE), TooManyFiles, syscall.EMFILE, "socket"},
		{"enfile", dialErr("socket", syscall.ENFILE), TooManyFiles, syscall.ENFILE, "socket"},
		{"eacces", dialErr("connect", syscall.EACCES), PermissionDenied, syscall.EACCES, "connect"},
		{"eperm", dialErr("connect", syscall.EPERM), PermissionDenied, syscall.EPERM, "connect"},
		{"reset", dialErr("connect", syscall.ECONNRESET), Reset, syscall.ECONNRESET, "connect"},
		{"einval", dialErr("connect", syscall.EINVAL), InvalidArgument, syscall.EINVAL, "connect"},
		{"unmapped errno", dialErr("connect", syscall.ENOBUFS), Other, syscall.ENOBUFS, "connect"},
		{"setsockopt", dialErr("setsockopt", syscall.EINVAL), InvalidArgument, syscall.EINVAL, "setsockopt"},
		{"bare errno", syscall.ECONNREFUSED, Refused, syscall.ECONNREFUSED, ""},
		{"wrapped twice", fmt.Errorf("probe: %w", dialErr("connect", syscall.ECONNREFUSED)), Refused, syscall.ECONNREFUSED, "connect"},
		{"context deadline", context.DeadlineExceeded, Timeout, 0, ""},
		{"dial context deadline", &net.OpError{Op: "dial", Net: "tcp", Err: context.DeadlineExceeded}, Timeout, 0, ""},
		{"os deadline", &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}, Timeout, 0, ""},
		{"canceled", &net.OpError{Op: "dial", Net: "tcp", Err: context.Canceled}, Canceled, 0, ""},
		{"timeout as text", errors.New("dial tcp 10.0.0.1:80: i/o timeout"), Timeout, 0, ""},
		{"net.Error timeout", timeoutErr{}, Timeout, 0, ""},
		{"unknown", errors.New("something else"), Other, 0, ""},
		{"dns", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}}, Other, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, errno, op := Classify(tt.err)
			if kind != tt.kind || errno != tt.errno || op != tt.op {
				t.Errorf("Classify(%v) = %q, %v, %q; want %q, %v, %q", tt.err, kind, errno, op, tt.kind, tt.errno, tt.op)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "deadline passed" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// A real Go dial timeout must classify without an errno.
func TestClassifyRealDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	var d net.Dialer
	_, err := d.DialContext(ctx, "tcp", "127.0.0.1:1")
	if err == nil {
		t.Fatal("dial with expired context succeeded")
	}
	if kind, errno, _ := Classify(err); kind != Timeout || errno != 0 {
		t.Errorf("Classify(%v) = %q, %v; want timeout, 0", err, kind, errno)
	}
}

func TestKindOf(t *testing.T) {
	if KindOf(0) != OK || KindOf(syscall.EHOSTUNREACH) != HostUnreachable || KindOf(syscall.EIO) != Other {
		t.Error("KindOf mapping wrong")
	}
}

func TestICMP(t *testing.T) {
	tests := []struct {
		i                  ICMP
		str                string
		port, prohib, unre bool
		ttl                bool
	}{
		{ICMP{Origin: OriginICMP, Type: 3, Code: 13, From: mustAddr("10.0.0.1")},
			"ICMP type 3 code 13 (communication administratively prohibited) from 10.0.0.1", false, true, false, false},
		{ICMP{Origin: OriginICMP, Type: 3, Code: 3, From: mustAddr("127.0.0.1")},
			"ICMP type 3 code 3 (port unreachable) from 127.0.0.1", true, false, false, false},
		{ICMP{Origin: OriginICMP, Type: 3, Code: 10}, "ICMP type 3 code 10 (host administratively prohibited)", false, true, false, false},
		{ICMP{Origin: OriginICMP, Type: 3, Code: 9}, "ICMP type 3 code 9 (network administratively prohibited)", false, true, false, false},
		{ICMP{Origin: OriginICMP, Type: 3, Code: 1}, "ICMP type 3 code 1 (host unreachable)", false, false, true, false},
		{ICMP{Origin: OriginICMP, Type: 3, Code: 0}, "ICMP type 3 code 0 (net unreachable)", false, false, true, false},
		{ICMP{Origin: OriginICMP, Type: 3, Code: 6}, "ICMP type 3 code 6 (destination network unknown)", false, false, true, false},
		{ICMP{Origin: OriginICMP, Type: 3, Code: 7}, "ICMP type 3 code 7 (destination host unknown)", false, false, true, false},
		{ICMP{Origin: OriginICMP, Type: 3, Code: 99}, "ICMP type 3 code 99 (destination unreachable)", false, false, false, false},
		{ICMP{Origin: OriginICMP, Type: 11, Code: 0, From: mustAddr("10.1.1.1")},
			"ICMP type 11 code 0 (time exceeded in transit) from 10.1.1.1", false, false, false, true},
		{ICMP{Origin: OriginICMP, Type: 42, Code: 1}, "ICMP type 42 code 1", false, false, false, false},
		{ICMP{Origin: OriginICMP6, Type: 1, Code: 4, From: mustAddr("::1")},
			"ICMPv6 type 1 code 4 (port unreachable) from ::1", true, false, false, false},
		{ICMP{Origin: OriginICMP6, Type: 1, Code: 1}, "ICMPv6 type 1 code 1 (administratively prohibited)", false, true, false, false},
		{ICMP{Origin: OriginICMP6, Type: 1, Code: 5}, "ICMPv6 type 1 code 5 (source address failed ingress/egress policy)", false, true, false, false},
		{ICMP{Origin: OriginICMP6, Type: 1, Code: 6}, "ICMPv6 type 1 code 6 (reject route to destination)", false, true, false, false},
		{ICMP{Origin: OriginICMP6, Type: 1, Code: 0}, "ICMPv6 type 1 code 0 (no route to destination)", false, false, true, false},
		{ICMP{Origin: OriginICMP6, Type: 1, Code: 3}, "ICMPv6 type 1 code 3 (address unreachable)", false, false, true, false},
		{ICMP{Origin: OriginICMP6, Type: 3, Code: 0}, "ICMPv6 type 3 code 0 (hop limit exceeded in transit)", false, false, false, true},
		// v4 numbers under the v6 origin mean something else.
		{ICMP{Origin: OriginICMP6, Type: 3, Code: 3}, "ICMPv6 type 3 code 3 (hop limit exceeded in transit)", false, false, false, false},
		{ICMP{Origin: OriginLocal, Errno: syscall.EMSGSIZE}, "local error (message too long)", false, false, false, false},
		{ICMP{Origin: 4, Type: 0, Code: 0}, "error queue origin 4 type 0 code 0", false, false, false, false},
	}
	for _, tt := range tests {
		if got := tt.i.String(); got != tt.str {
			t.Errorf("String() = %q; want %q", got, tt.str)
		}
		if tt.i.PortUnreachable() != tt.port || tt.i.Prohibited() != tt.prohib ||
			tt.i.HostOrNetUnreachable() != tt.unre || tt.i.TimeExceeded() != tt.ttl {
			t.Errorf("%v: port/prohibited/unreachable/ttl = %v/%v/%v/%v; want %v/%v/%v/%v", tt.i,
				tt.i.PortUnreachable(), tt.i.Prohibited(), tt.i.HostOrNetUnreachable(), tt.i.TimeExceeded(),
				tt.port, tt.prohib, tt.unre, tt.ttl)
		}
	}
}
