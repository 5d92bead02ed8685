//go:build linux

// Command hostile is the other side of bench/hostile.sh: it starts hostile
// servers on free loopback ports (an endless header after 101 and after
// 200, a stall after a valid status line, a server that trickles one byte
// every 300 ms), runs `BIN check --json --timeout T TARGET` against each as
// a child process, and prints the verdict, the wall time and the child's
// peak resident memory (wait4's ru_maxrss). A child whose resident memory
// passes -kill is killed (SIGKILL) so that measuring an unbounded build
// cannot take the machine down; the table then says so. Linux only (/proc).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/conndiag/conndiag/internal/probe/probetest"
)

func main() {
	timeout := flag.String("timeout", "3s", "check's --timeout")
	killMiB := flag.Int("kill", 4096, "kill a child whose resident memory passes this many MiB")
	only := flag.String("only", "", "run only the cases whose name contains this")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: hostile [-timeout 3s] [-kill MiB] [-only NAME] PATH/TO/conndiag")
		os.Exit(2)
	}
	bin := flag.Arg(0)
	cases := []struct {
		name, scheme string
		h            func(net.Conn)
	}{
		{"endless header after 101", "ws", probetest.Endless(probetest.EndlessHead)},
		{"endless header after 200", "ws", probetest.Endless(probetest.EndlessHead200)},
		{"endless header after 200", "http", probetest.Endless(probetest.EndlessHead200)},
		{"stall after a status line", "ws", probetest.Stall("HTTP/1.1 101 Switching Protocols\r\n")},
		{"trickle, a byte per 300 ms", "http", probetest.Trickle("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 300*time.Millisecond)},
	}
	fmt.Printf("%-28s %-6s %-28s %9s %14s\n", "server", "scheme", "verdict", "wall", "peak RSS")
	for _, c := range cases {
		if !strings.Contains(c.name, *only) {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "hostile:", err)
			os.Exit(1)
		}
		go serve(ln, c.h)
		target := fmt.Sprintf("%s://%s/", c.scheme, ln.Addr())
		verdict, wall, rss, killed := run(bin, *timeout, target, int64(*killMiB)<<20)
		ln.Close()
		mem := fmt.Sprintf("%.1f MiB", float64(rss)/1024)
		if killed {
			mem = fmt.Sprintf("killed > %d MiB", *killMiB)
		}
		fmt.Printf("%-28s %-6s %-28s %7dms %14s\n", c.name, c.scheme, verdict, wall.Milliseconds(), mem)
	}
}

func serve(ln net.Listener, h func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			h(c)
		}()
	}
}

// run runs one check and returns its verdict, wall time and ru_maxrss (KiB).
func run(bin, timeout, target string, kill int64) (string, time.Duration, int64, bool) {
	cmd := exec.Command(bin, "check", "--json", "--probe-ports", "", "--timeout", timeout, target)
	var out strings.Builder
	cmd.Stdout = &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(1)
	}
	killed := make(chan bool, 1)
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				killed <- false
				return
			case <-t.C:
				if rssBytes(cmd.Process.Pid) > kill {
					cmd.Process.Kill()
					killed <- true
					return
				}
			}
		}
	}()
	cmd.Wait()
	wall := time.Since(start)
	close(stop)
	k := <-killed
	var maxrss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		maxrss = ru.Maxrss
	}
	var r struct {
		Verdict struct{ Cause, Confidence string }
	}
	verdict := "-"
	if json.Unmarshal([]byte(out.String()), &r) == nil && r.Verdict.Cause != "" {
		verdict = r.Verdict.Cause + " (" + r.Verdict.Confidence + ")"
	}
	return verdict, wall, maxrss, k
}

// rssBytes is VmRSS of pid from /proc, 0 when it cannot be read.
func rssBytes(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
