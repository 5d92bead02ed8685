// Command flood drives bench/listen-flood.sh: the partial-message flood
// against a running `conndiag listen`. N connections to a WebSocket endpoint
// each complete the handshake, announce one SIZE-byte binary message and send
// FRACTION of it; N connections to a frame endpoint do the same with one
// frame; then all of them stall. It reads the server's resident memory from
// /proc/PID/status (VmRSS, and VmHWM, the peak) before, during and after the
// flood, checks that a well-behaved client is still served during and after
// it, closes the flood, and measures how long the server takes to give the
// memory back. It prints one JSON line; with -report it prints such lines
// (files given as arguments) as a table.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Result is one flood's numbers.
type Result struct {
	Label          string  `json:"label"`
	BudgetMiB      float64 `json:"budget_mib"`
	Connections    int     `json:"connections"`   // flood connections opened
	ClosedByServer int     `json:"closed_by_srv"` // of them, closed by the server before the end
	SentMiB        float64 `json:"sent_mib"`      // bytes the flood got the server's kernel to take
	BaseMiB        float64 `json:"rss_base_mib"`
	FloodMiB       float64 `json:"rss_flood_mib"` // VmRSS with the flood stalled
	PeakMiB        float64 `json:"rss_peak_mib"`  // VmHWM at the end of the flood
	AfterMiB       float64 `json:"rss_after_mib"` // VmRSS once given back (or at the time limit)
	ReleaseSeconds float64 `json:"release_s"`     // from closing the flood to rss_after_mib
	Released       bool    `json:"released"`      // rss_after_mib is within 16 MiB of the base
	ServedDuring   bool    `json:"served_during"`
	ServedAfter    bool    `json:"served_after"`
}

func main() {
	var (
		wsAddr    = flag.String("ws", "", "WebSocket endpoint host:port")
		frameAddr = flag.String("frame", "", "frame endpoint host:port")
		n         = flag.Int("n", 300, "flood connections per endpoint")
		size      = flag.Int("size", 1<<20, "announced message and frame size in bytes")
		fraction  = flag.Float64("fraction", 0.9, "part of each message sent before stalling")
		pid       = flag.Int("pid", 0, "server pid")
		budget    = flag.Float64("budget-mib", 0, "the server's --max-buffered, for the report")
		label     = flag.String("label", "conndiag listen", "name in the result")
		settle    = flag.Duration("settle", 2*time.Second, "wait after the flood is sent before reading memory")
		release   = flag.Duration("release", 60*time.Second, "longest wait for the memory to be given back")
		report    = flag.Bool("report", false, "print the result files given as arguments as a table")
	)
	flag.Parse()
	if *report {
		if err := printReport(flag.Args()); err != nil {
			fmt.Fprintln(os.Stderr, "flood:", err)
			os.Exit(1)
		}
		return
	}
	if *pid <= 0 || *wsAddr == "" || *frameAddr == "" {
		fmt.Fprintln(os.Stderr, "flood: need -pid, -ws and -frame")
		os.Exit(2)
	}
	r := Result{Label: *label, BudgetMiB: *budget}
	r.BaseMiB = mib(status(*pid, "VmRSS"))
	send := int(float64(*size) * *fraction)

	var (
		mu    sync.Mutex
		conns []net.Conn
		sent  atomic.Int64
		wg    sync.WaitGroup
		sem   = make(chan struct{}, 64)
	)
	for i := range 2 * *n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var c net.Conn
			var err error
			if i%2 == 0 {
				c, err = wsOpen(*wsAddr, *size)
			} else {
				c, err = frameOpen(*frameAddr, *size)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "flood: connect:", err)
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			sent.Add(int64(sendPart(c, send)))
		}()
	}
	wg.Wait()
	r.Connections = len(conns)
	r.SentMiB = mib(sent.Load())
	time.Sleep(*settle)
	r.FloodMiB = mib(status(*pid, "VmRSS"))
	r.PeakMiB = mib(status(*pid, "VmHWM"))
	r.ServedDuring = wsEcho(*wsAddr) == nil && frameEcho(*frameAddr) == nil
	for _, c := range conns {
		if closedByServer(c) {
			r.ClosedByServer++
		}
	}

	start := time.Now()
	for _, c := range conns {
		c.Close()
	}
	for {
		rss := status(*pid, "VmRSS")
		r.AfterMiB, r.ReleaseSeconds = mib(rss), time.Since(start).Seconds()
		if r.AfterMiB <= r.BaseMiB+16 {
			r.Released = true
			break
		}
		if time.Since(start) > *release {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.ServedAfter = wsEcho(*wsAddr) == nil && frameEcho(*frameAddr) == nil
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
}

func mib(v int64) float64 { return float64(v) / (1 << 20) }

func printReport(files []string) error {
	fmt.Println("| --max-buffered | flood connections closed by the listener | RSS before | RSS, flood stalled | peak RSS (VmHWM) | peak − budget | RSS after the flood closed (time) | well-behaved client served during / after |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	yes := map[bool]string{true: "yes", false: "NO"}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r Result
		if err := json.Unmarshal(bytes.TrimSpace(b), &r); err != nil {
			return fmt.Errorf("%s: %v", f, err)
		}
		after := fmt.Sprintf("%.0f MiB (%.1f s)", r.AfterMiB, r.ReleaseSeconds)
		if !r.Released {
			after = fmt.Sprintf("%.0f MiB (still, after %.0f s)", r.AfterMiB, r.ReleaseSeconds)
		}
		fmt.Printf("| %.0f MiB | %d of %d | %.0f MiB | %.0f MiB | %.0f MiB | %.0f MiB | %s | %s / %s |\n",
			r.BudgetMiB, r.ClosedByServer, r.Connections, r.BaseMiB, r.FloodMiB, r.PeakMiB, r.PeakMiB-r.BudgetMiB,
			after, yes[r.ServedDuring], yes[r.ServedAfter])
	}
	return nil
}

// status reads a "kB" field of /proc/PID/status, in bytes.
func status(pid int, field string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return -1
}

const wsRequest = "GET / HTTP/1.1\r\nHost: flood\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// wsHandshake opens a WebSocket connection by hand.
func wsHandshake(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, wsRequest); err != nil {
		c.Close()
		return nil, err
	}
	// Read byte by byte so that nothing after the head is lost.
	var head []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if _, err := c.Read(b); err != nil || len(head) > 4096 {
			c.Close()
			return nil, fmt.Errorf("handshake: %q: %v", head, err)
		}
		head = append(head, b[0])
	}
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 101 ")) {
		c.Close()
		return nil, fmt.Errorf("handshake answered %q", head)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// wsHeader is a masked binary frame header announcing n payload bytes.
func wsHeader(n int) []byte {
	h := []byte{0x82}
	switch {
	case n < 126:
		h = append(h, 0x80|byte(n))
	case n <= 0xffff:
		h = binary.BigEndian.AppendUint16(append(h, 0x80|126), uint16(n))
	default:
		h = binary.BigEndian.AppendUint64(append(h, 0x80|127), uint64(n))
	}
	return append(h, 0, 0, 0, 0) // mask key 0: the payload is sent as is
}

func wsOpen(addr string, size int) (net.Conn, error) {
	c, err := wsHandshake(addr)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write(wsHeader(size)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func frameOpen(addr string, size int) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write(binary.BigEndian.AppendUint32(nil, uint32(size))); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// sendPart sends n bytes in 64 KiB writes and returns how many the kernel
// took before the server closed the connection or the writes stalled.
func sendPart(c net.Conn, n int) int {
	chunk := bytes.Repeat([]byte{'x'}, 64<<10)
	done := 0
	for done < n {
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		w, err := c.Write(chunk[:min(len(chunk), n-done)])
		done += w
		if err != nil {
			break
		}
	}
	c.SetWriteDeadline(time.Time{})
	return done
}

// closedByServer reports whether the server has closed c (EOF or reset),
// reading past what it said before closing (a WebSocket close frame).
func closedByServer(c net.Conn) bool {
	b := make([]byte, 512)
	for {
		c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
		if _, err := c.Read(b); err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

// wsEcho is a well-behaved client: handshake, one message, its echo.
func wsEcho(addr string) error {
	c, err := wsHandshake(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := []byte("well-behaved")
	if _, err := c.Write(append(wsHeader(len(msg)), msg...)); err != nil {
		return err
	}
	got := make([]byte, 2+len(msg))
	if _, err := io.ReadFull(bufio.NewReader(c), got); err != nil {
		return err
	}
	if got[0] != 0x82 || int(got[1]) != len(msg) || !bytes.Equal(got[2:], msg) {
		return fmt.Errorf("echo %q", got)
	}
	return nil
}

func frameEcho(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	f := append(binary.BigEndian.AppendUint32(nil, 4+12), "well-behaved"...)
	if _, err := c.Write(f); err != nil {
		return err
	}
	got := make([]byte, len(f))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, f) {
		return fmt.Errorf("echo %q", got)
	}
	return nil
}
