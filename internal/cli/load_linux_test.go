//go:build linux

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// holdServer accepts connections on loopback and keeps them.
func holdServer(t *testing.T) string {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// The live line goes to stderr only when stderr is a terminal; stdout keeps
// the JSON alone either way.
func TestLoadLiveLineOnlyOnTerminal(t *testing.T) {
	addr := holdServer(t)
	tty, written := ptyPair(t)
	args := []string{"load", "--json", addr, "--hold", "5", "--duration", "800ms"}
	var out bytes.Buffer
	if code := Main(context.Background(), args, &out, tty); code != ExitOK {
		t.Fatalf("exit %d: %s", code, written())
	}
	var j map[string]any
	if err := json.Unmarshal(out.Bytes(), &j); err != nil || j["established"] != float64(5) {
		t.Errorf("stdout is not the report alone: %v\n%s", err, out.String())
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(written(), "established 5") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if s := written(); !strings.Contains(s, "\r\x1b[K") || !strings.Contains(s, "open 5") || !strings.Contains(s, "established 5") {
		t.Errorf("want the live line on the terminal, got %q", s)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out.Reset()
	code := Main(context.Background(), args, &out, w)
	w.Close()
	var stderr bytes.Buffer
	stderr.ReadFrom(r)
	if code != ExitOK || stderr.Len() != 0 {
		t.Errorf("stderr a pipe: exit %d, stderr %q; want 0 and nothing", code, stderr.String())
	}
}

// The human report: the preflight first, then the verdict, the counts and the latencies.
func TestLoadHumanReport(t *testing.T) {
	addr := holdServer(t)
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"load", "--no-color", addr, "--hold", "3", "--duration", "300ms"}, &out, &errb)
	s := out.String()
	if code != ExitOK || errb.Len() != 0 {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	for _, want := range []string{"Preflight toward " + addr, "--hold 3 fits under it.", "✓ ok  " + addr, "Held at most 3 of 3 connections", "Connect: p50 "} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
	if strings.Index(s, "Preflight") > strings.Index(s, "✓ ok") {
		t.Errorf("the preflight must come before the verdict:\n%s", s)
	}
}
