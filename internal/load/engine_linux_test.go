//go:build linux

package load

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

func serve(t *testing.T, h http.Handler) netip.AddrPort {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return netip.MustParseAddrPort(ln.Addr().String())
}

func runCfg(t *testing.T, cfg Config) *Report {
	t.Helper()
	rn, err := Prepare(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rn.Run()
}

// The server pings, then closes with 4000 after 300 ms: the engine answers
// the ping with a pong and records each death with its close code and age.
func TestEngineWebSocketPingAndClose(t *testing.T) {
	for _, goroutines := range []bool{false, true} {
		t.Run(map[bool]string{false: "epoll", true: "goroutines"}[goroutines], func(t *testing.T) { testPingAndClose(t, goroutines) })
	}
}

func testPingAndClose(t *testing.T, goroutines bool) {
	var pongs atomic.Int64
	up := websocket.Upgrader{}
	ap := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetPongHandler(func(string) error { pongs.Add(1); return nil })
		go func() {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		_ = c.WriteControl(websocket.PingMessage, []byte("srv"), time.Now().Add(time.Second))
		time.Sleep(300 * time.Millisecond)
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "bye"), time.Now().Add(time.Second))
		time.Sleep(200 * time.Millisecond)
	}))
	tg, _ := target.Parse("ws://" + ap.String() + "/")
	rep := runCfg(t, Config{Target: tg, Dst: ap, Mode: Hold, Hold: 10, Duration: 3 * time.Second, Ping: 50 * time.Millisecond, netEngine: goroutines})
	if rep.Established != 10 || len(rep.Deaths) != 10 {
		t.Fatalf("established %d, deaths %d; want 10 and 10", rep.Established, len(rep.Deaths))
	}
	for _, d := range rep.Deaths {
		if d.Code != 4000 || d.Age < 250*time.Millisecond || d.Age > 2*time.Second {
			t.Errorf("death %+v: want code 4000 at about 300 ms", d)
		}
	}
	if pongs.Load() < 10 {
		t.Errorf("the server got %d pongs, want one per connection at least", pongs.Load())
	}
	if rep.PingsSent == 0 || rep.PongsSeen == 0 {
		t.Errorf("pings sent %d, pongs seen %d: want both", rep.PingsSent, rep.PongsSeen)
	}
	if rep.Findings[0].Cause != verdict.CauseIdleTimeout || rep.Findings[0].Confidence != verdict.Low {
		t.Errorf("deaths at one age despite pings: %s %s, want idle_timeout, low", rep.Findings[0].Cause, rep.Findings[0].Confidence)
	}
}

// With --rate, connect latency counts from each planned start: a server
// that takes 50 ms per request, one connection at a time at 100 planned per
// second, falls further behind the plan with each connection, and the
// latency shows it.
func TestEngineRateMeasuresFromThePlan(t *testing.T) {
	for _, goroutines := range []bool{false, true} {
		t.Run(map[bool]string{false: "epoll", true: "goroutines"}[goroutines], func(t *testing.T) { testRate(t, goroutines) })
	}
}

func testRate(t *testing.T, goroutines bool) {
	ap := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond)
		w.Write([]byte("ok"))
	}))
	tg, _ := target.Parse("http://" + ap.String() + "/")
	rep := runCfg(t, Config{Target: tg, Dst: ap, Mode: Short, Rate: 100, Concurrency: 1, Duration: time.Second, netEngine: goroutines})
	if rep.Established < 5 || len(rep.Errors) > 0 {
		t.Fatalf("established %d, errors %v", rep.Established, rep.Errors)
	}
	// Connection k is planned at k×10 ms and can start only after k×50 ms.
	if rep.Connect.P90 < 150 || rep.Connect.Max < 200 {
		t.Errorf("connect latency p90 %.1f ms, max %.1f ms: the wait behind the plan is hidden", rep.Connect.P90, rep.Connect.Max)
	}
	if rep.Handshake.P50 < 45 {
		t.Errorf("handshake p50 %.1f ms, want the server's 50 ms", rep.Handshake.P50)
	}
}

// Nothing listens: every attempt is not_listening, and the diagnosis of
// check is asked for the first failure.
func TestEngineRefused(t *testing.T) {
	for _, goroutines := range []bool{false, true} {
		t.Run(map[bool]string{false: "epoll", true: "goroutines"}[goroutines], func(t *testing.T) { testRefused(t, goroutines) })
	}
}

func testRefused(t *testing.T, goroutines bool) {
	ln, _ := net.Listen("tcp4", "127.0.0.1:0")
	ap := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	tg, _ := target.Parse(ap.String())
	asked := 0
	rep := runCfg(t, Config{Target: tg, Dst: ap, Mode: Hold, Hold: 20, Duration: 2 * time.Second, netEngine: goroutines,
		Check: func(netip.Addr) []verdict.Finding {
			asked++
			return []verdict.Finding{{Cause: verdict.CauseNotListening, Confidence: verdict.High}}
		}})
	if rep.Errors[verdict.CauseNotListening] != 20 || rep.Established != 0 || asked != 1 {
		t.Errorf("errors %v, established %d, check asked %d times; want 20 not_listening, 0, once", rep.Errors, rep.Established, asked)
	}
	if rep.First == nil || rep.First.Errno != "ECONNREFUSED" || rep.Findings[0].Cause != verdict.CauseNotListening {
		t.Fatalf("first failure %+v, verdict %s", rep.First, rep.Findings[0].Cause)
	}
	// Nothing was ever established: none open when it failed, itself still
	// counted as connecting.
	if f := rep.First; f.Open != 0 || f.Connecting < 1 || f.Attempt < 1 {
		t.Errorf("first failure open %d, connecting %d, attempt %d; want 0, at least 1, at least 1", f.Open, f.Connecting, f.Attempt)
	}
}
