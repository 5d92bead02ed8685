package diagnose

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/host"
	"github.com/conndiag/conndiag/internal/probe/probetest"
	"github.com/conndiag/conndiag/internal/target"
	"github.com/conndiag/conndiag/internal/verdict"
)

func TestRedirectTarget(t *testing.T) {
	tests := []struct {
		from, loc string
		want      string
		stop      evidence.RedirectStop
	}{
		{"ws://app.test/chat", "/ws/", "ws://app.test:80/ws/", evidence.StopNone},
		{"ws://app.test/chat", "ws/", "ws://app.test:80/ws/", evidence.StopNone},
		{"ws://app.test:8080/chat", "/chat/", "ws://app.test:8080/chat/", evidence.StopNone},
		{"ws://app.test/chat", "https://app.test/chat", "wss://app.test:443/chat", evidence.StopNone},
		{"ws://app.test/chat", "https://APP.test.:8443/chat?x=1", "wss://app.test:8443/chat?x=1", evidence.StopNone},
		{"wss://app.test:443/chat", "http://app.test/chat", "ws://app.test:80/chat", evidence.StopNone},
		{"ws://app.test/chat", "https://other.test/chat", "", evidence.StopOtherHost},
		{"ws://app.test/chat", "ftp://app.test/chat", "", evidence.StopScheme},
		{"ws://app.test/chat", "http://app.test:0/", "", evidence.StopBad},
		{"ws://app.test/chat", "http://app.test:99999/", "", evidence.StopBad},
		{"ws://app.test/chat", "http://%zz", "", evidence.StopBad},
	}
	for _, tt := range tests {
		from, err := target.Parse(tt.from)
		if err != nil {
			t.Fatal(err)
		}
		got, stop := redirectTarget(from, tt.loc)
		if stop != tt.stop || (stop == evidence.StopNone && got.String() != tt.want) {
			t.Errorf("redirectTarget(%s, %q) = %q, %q; want %q, %q", tt.from, tt.loc, got.String(), stop, tt.want, tt.stop)
		}
	}
}

func TestRetryOrigin(t *testing.T) {
	own := "http://app.test:8282"
	for _, tt := range []struct{ first, want string }{
		{own, ""},                     // the target's own was refused: try none
		{"HTTP://APP.test:8282", ""},  // the same origin, spelled otherwise
		{"https://page.example", own}, // --origin was refused: try the target's own
		{"", own},                     // none was refused: try the target's own
	} {
		if got := retryOrigin(tt.first, own); got != tt.want {
			t.Errorf("retryOrigin(%q) = %q, want %q", tt.first, got, tt.want)
		}
	}
}

// A forwarder slow to give up on its backend (it closes only after the
// silence wait, when the fingerprint tries have started early): the try
// that sends nothing still runs, after them, and the verdict is the
// forwarder's.
func TestSlowForwarderGetsTheIdleTry(t *testing.T) {
	ln := probetest.Listen(t)
	probetest.Serve(t, ln, func(c net.Conn) {
		time.Sleep(300 * time.Millisecond)
		c.Close()
	})
	// Who listens is not looked up here: this test process is not a forwarder.
	saved := listenersOn
	listenersOn = func(uint16) ([]host.Socket, error) { return nil, errors.New("not looked up in this test") }
	defer func() { listenersOn = saved }()
	tg, err := target.Parse("ws://" + ln.Addr().String() + "/chat")
	if err != nil {
		t.Fatal(err)
	}
	r := Check(context.Background(), tg, Options{ProbePorts: []uint16{}, Timeout: 2 * time.Second, MinWait: 100 * time.Millisecond})
	if r.Findings[0].Cause != verdict.CauseProxyUpstreamFailed {
		t.Errorf("got %s, want proxy_upstream_failed: %+v", r.Findings[0].Cause, r.Probes)
	}
	idle := 0
	for _, p := range r.Probes {
		if p.Name == "fingerprint_idle" {
			idle++
		}
	}
	if idle != 1 {
		t.Errorf("%d tries that send nothing, want 1: %+v", idle, r.Probes)
	}
}
