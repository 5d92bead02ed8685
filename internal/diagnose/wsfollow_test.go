package diagnose

import (
	"testing"

	"github.com/conndiag/conndiag/internal/evidence"
	"github.com/conndiag/conndiag/internal/target"
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
