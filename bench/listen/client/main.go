// Command client drives bench/listen.sh: it opens many WebSocket connections
// to one server from several source addresses, measures the server's resident
// memory once they are idle, then the echo throughput over a subset of them,
// and prints one JSON line. With -report it compares such lines.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Result is one server's numbers.
type Result struct {
	Server         string  `json:"server"`
	Connections    int     `json:"connections"`
	Failed         int     `json:"failed"`
	FirstError     string  `json:"first_error,omitempty"`
	ConnectSeconds float64 `json:"connect_s"`
	RSSBaseKiB     int64   `json:"rss_base_kib"`
	RSSIdleKiB     int64   `json:"rss_idle_kib"`
	PerConnKiB     float64 `json:"per_idle_conn_kib"`
	Active         int     `json:"echo_connections"`
	MsgSize        int     `json:"echo_msg_bytes"`
	EchoPerSecond  float64 `json:"echo_msgs_per_s"`
	EchoMiBPerSec  float64 `json:"echo_mib_per_s"`
	RSSAfterKiB    int64   `json:"rss_after_echo_kib"`
}

func main() {
	var (
		addr     = flag.String("addr", "127.0.0.1:8282", "server host:port")
		label    = flag.String("label", "server", "name of the server in the result")
		n        = flag.Int("n", 100000, "connections to hold")
		sources  = flag.String("sources", "127.0.0.2-127.0.0.9", "source addresses: a range a.b.c.d-a.b.c.e or a comma list")
		pid      = flag.Int("pid", 0, "server pid, for its resident memory")
		conc     = flag.Int("concurrency", 256, "handshakes in flight")
		settle   = flag.Duration("settle", 3*time.Second, "wait after connecting before measuring memory")
		active   = flag.Int("active", 1000, "connections used for the echo test")
		size     = flag.Int("size", 64, "echo message size")
		dur      = flag.Duration("duration", 5*time.Second, "echo test duration")
		deadline = flag.Duration("deadline", 5*time.Minute, "give up after this long in all")
		report   = flag.Bool("report", false, "compare the result files given as arguments")
		barrier  = flag.String("barrier", "", "after measuring idle memory, create BARRIER.ready.PID and wait for BARRIER to exist before the echo test")
	)
	flag.Parse()
	if *report {
		if err := printReport(flag.Args()); err != nil {
			fmt.Fprintln(os.Stderr, "client:", err)
			os.Exit(1)
		}
		return
	}
	srcs, err := parseSources(*sources)
	if err != nil || *pid <= 0 {
		fmt.Fprintln(os.Stderr, "client: need -pid and valid -sources:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *deadline)
	defer cancel()
	r := Result{Server: *label, Active: *active, MsgSize: *size}

	waitReady(ctx, *addr)
	r.RSSBaseKiB = rss(*pid)
	start := time.Now()
	conns := connectAll(ctx, *addr, srcs, *n, *conc, &r)
	r.ConnectSeconds = time.Since(start).Seconds()
	r.Connections = len(conns)
	time.Sleep(*settle)
	r.RSSIdleKiB = rss(*pid)
	if len(conns) > 0 {
		r.PerConnKiB = float64(r.RSSIdleKiB-r.RSSBaseKiB) / float64(len(conns))
	}
	fmt.Fprintf(os.Stderr, "%s: %d connections in %.1fs (%d failed), RSS %d → %d KiB\n",
		*label, len(conns), r.ConnectSeconds, r.Failed, r.RSSBaseKiB, r.RSSIdleKiB)

	if *barrier != "" {
		// Several clients (one per server process) start the echo test together.
		os.WriteFile(fmt.Sprintf("%s.ready.%d", *barrier, os.Getpid()), nil, 0o644)
		for ctx.Err() == nil {
			if _, err := os.Stat(*barrier); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if *active > len(conns) {
		*active = len(conns)
	}
	r.Active = *active
	msgs := echo(ctx, conns, *active, *size, *dur)
	r.EchoPerSecond = float64(msgs) / dur.Seconds()
	r.EchoMiBPerSec = r.EchoPerSecond * float64(*size) * 2 / (1 << 20)
	r.RSSAfterKiB = rss(*pid)
	for _, c := range conns {
		c.Close()
	}
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}

func parseSources(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := netip.ParseAddr(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = netip.ParseAddr(hi); err != nil {
				return nil, err
			}
		}
		for ; a.Compare(b) <= 0; a = a.Next() {
			out = append(out, a)
		}
	}
	return out, nil
}

// rss is the resident set of pid in KiB.
func rss(pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return -1
}

func waitReady(ctx context.Context, addr string) {
	for ctx.Err() == nil {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func connectAll(ctx context.Context, addr string, srcs []netip.Addr, n, conc int, r *Result) []net.Conn {
	var (
		mu     sync.Mutex
		conns  = make([]net.Conn, 0, n)
		next   atomic.Int64
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	u := "ws://" + addr + "/"
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				d := ws.Dialer{
					Timeout: 10 * time.Second,
					NetDial: func(ctx context.Context, network, a string) (net.Conn, error) {
						nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: srcs[int(i)%len(srcs)].AsSlice()}}
						return nd.DialContext(ctx, network, a)
					},
				}
				c, br, _, err := d.Dial(ctx, u)
				if err == nil && br != nil {
					err = errors.New("server sent data before the first message")
				}
				if err != nil {
					if failed.Add(1) == 1 {
						mu.Lock()
						r.FirstError = err.Error()
						mu.Unlock()
					}
					if c != nil {
						c.Close()
					}
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.Failed = int(failed.Load())
	return conns
}

// echo runs request/response loops on `active` connections spread over
// all of them, and returns the number of echoed messages.
func echo(ctx context.Context, conns []net.Conn, active, size int, d time.Duration) int64 {
	var total atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	msg := make([]byte, size)
	for i := range active {
		c := conns[i*len(conns)/active]
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetDeadline(end.Add(5 * time.Second))
			var n int64
			for time.Now().Before(end) && ctx.Err() == nil {
				if err := wsutil.WriteClientBinary(c, msg); err != nil {
					break
				}
				if _, err := wsutil.ReadServerBinary(c); err != nil {
					break
				}
				n++
			}
			total.Add(n)
		}()
	}
	wg.Wait()
	return total.Load()
}

// printReport sums the JSON lines of each file (one per client process,
// each driving one server process) into one column per server.
func printReport(files []string) error {
	var rs []Result
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var sum Result
		procs := 0
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var r Result
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				return fmt.Errorf("%s: %v", f, err)
			}
			procs++
			sum.Server = r.Server
			sum.MsgSize = r.MsgSize
			sum.Connections += r.Connections
			sum.Failed += r.Failed
			if sum.FirstError == "" {
				sum.FirstError = r.FirstError
			}
			sum.ConnectSeconds = max(sum.ConnectSeconds, r.ConnectSeconds)
			sum.RSSBaseKiB += r.RSSBaseKiB
			sum.RSSIdleKiB += r.RSSIdleKiB
			sum.Active += r.Active
			sum.EchoPerSecond += r.EchoPerSecond
			sum.EchoMiBPerSec += r.EchoMiBPerSec
			sum.RSSAfterKiB += r.RSSAfterKiB
		}
		if sum.Connections > 0 {
			sum.PerConnKiB = float64(sum.RSSIdleKiB-sum.RSSBaseKiB) / float64(sum.Connections)
		}
		if procs > 1 {
			sum.Server += fmt.Sprintf(" (%d procs)", procs)
		}
		rs = append(rs, sum)
	}
	fmt.Printf("%-32s", "")
	for _, r := range rs {
		fmt.Printf("%24s", r.Server)
	}
	fmt.Println()
	row := func(name string, f func(Result) string) {
		fmt.Printf("%-32s", name)
		for _, r := range rs {
			fmt.Printf("%24s", f(r))
		}
		fmt.Println()
	}
	row("idle connections held", func(r Result) string { return strconv.Itoa(r.Connections) })
	row("failed connects", func(r Result) string { return strconv.Itoa(r.Failed) })
	row("connect time (s)", func(r Result) string { return fmt.Sprintf("%.1f", r.ConnectSeconds) })
	row("server RSS before (MiB)", func(r Result) string { return fmt.Sprintf("%.1f", float64(r.RSSBaseKiB)/1024) })
	row("server RSS, all idle (MiB)", func(r Result) string { return fmt.Sprintf("%.1f", float64(r.RSSIdleKiB)/1024) })
	row("RSS per idle connection (KiB)", func(r Result) string { return fmt.Sprintf("%.2f", r.PerConnKiB) })
	row("echo connections", func(r Result) string { return strconv.Itoa(r.Active) })
	row("echo msgs/s", func(r Result) string { return fmt.Sprintf("%.0f", r.EchoPerSecond) })
	row("echo MiB/s (both ways)", func(r Result) string { return fmt.Sprintf("%.1f", r.EchoMiBPerSec) })
	row("server RSS after echo (MiB)", func(r Result) string { return fmt.Sprintf("%.1f", float64(r.RSSAfterKiB)/1024) })
	if len(rs) == 2 && rs[0].PerConnKiB > 0 && rs[0].EchoPerSecond > 0 {
		fmt.Printf("\nmemory per idle connection: %s uses %.1fx less than %s\n", rs[0].Server, rs[1].PerConnKiB/rs[0].PerConnKiB, rs[1].Server)
		fmt.Printf("echo throughput: %s / %s = %.2f\n", rs[0].Server, rs[1].Server, rs[0].EchoPerSecond/rs[1].EchoPerSecond)
	}
	for _, r := range rs {
		if r.FirstError != "" {
			fmt.Printf("%s: first connect error: %s\n", r.Server, r.FirstError)
		}
	}
	return nil
}
