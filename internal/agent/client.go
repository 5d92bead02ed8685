package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/conndiag/conndiag/internal/escape"
	"github.com/conndiag/conndiag/internal/evidence"
)

// Client asks an agent for a watch.
type Client struct {
	Base  *url.URL // http(s)://host:port of a listen --agent endpoint; a path is ignored
	Token string
	// Source is the local address to connect from (check --source), so the
	// agent sees the address the SYNs come from.
	Source netip.Addr
	// Timeout bounds connecting and the agent's first answer.
	Timeout time.Duration
}

// Refused is the agent's refusal, or a malformed answer.
type Refused struct {
	Status  int
	Code    string // an evidence.Agent* code
	Message string
	Allowed []uint16
}

func (e *Refused) Error() string {
	return fmt.Sprintf("the agent refused (HTTP %d, %s): %s", e.Status, e.Code, e.Message)
}

// Answer is a finished watch.
type Answer struct {
	SeenAs   netip.Addr    // this client's address as the agent saw it
	Duration time.Duration // how long it watched
	Result   Result
}

// ParseURL checks an agent URL: http or https, a host, nothing else needed.
func ParseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("%q is not an http:// or https:// URL of a conndiag listen --agent endpoint (for example http://203.0.113.5:8080)", s)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host}, nil
}

func (c Client) httpClient() *http.Client {
	d := &net.Dialer{Timeout: c.Timeout}
	if c.Source.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(c.Source, 0))
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil, // the agent must see this machine's address, never a proxy's
			DialContext:            d.DialContext,
			TLSHandshakeTimeout:    c.Timeout,
			ResponseHeaderTimeout:  c.Timeout + 2*time.Second, // the audit reads the sockets before the watch starts
			MaxResponseHeaderBytes: 16 << 10,
			DisableKeepAlives:      true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Watch asks the agent to watch port for d. Once it watches, during runs
// with this client's address as the agent sees it (the caller retries the
// connection then); Watch returns when the agent has reported and during
// has returned.
func (c Client) Watch(ctx context.Context, port uint16, d time.Duration, during func(ctx context.Context, seenAs netip.Addr)) (*Answer, error) {
	body, _ := json.Marshal(Request{Port: port, DurationMS: d.Milliseconds()})
	u := *c.Base
	u.Path = Path
	ctx, cancel := context.WithTimeout(ctx, c.Timeout+d+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	rd := bufio.NewReaderSize(io.LimitReader(resp.Body, maxAnswer), 64<<10)
	first, err := readLine(rd)
	if resp.StatusCode != http.StatusOK {
		r := &Refused{Status: resp.StatusCode, Code: evidence.AgentBadRequest, Message: http.StatusText(resp.StatusCode)}
		if err == nil && first.State == "error" {
			r.Code, r.Message, r.Allowed = clip(first.Error), clip(first.Message), first.Allowed
		}
		return nil, r
	}
	if err != nil {
		return nil, fmt.Errorf("the agent's answer: %w", err)
	}
	if first.State != "watching" {
		return nil, &Refused{Status: resp.StatusCode, Code: clip(first.Error), Message: clip(first.Message)}
	}
	seen, _ := netip.ParseAddr(first.Client)
	seen = seen.Unmap()
	watched := time.Duration(first.DurationMS) * time.Millisecond
	retried := make(chan struct{})
	go func() {
		defer close(retried)
		during(ctx, seen)
	}()
	last, err := readLine(rd)
	<-retried
	if err != nil {
		return nil, fmt.Errorf("the agent's answer: %w", err)
	}
	if last.State != "done" || last.Result == nil {
		return nil, &Refused{Status: resp.StatusCode, Code: clip(last.Error), Message: clip(last.Message)}
	}
	a := &Answer{SeenAs: seen, Duration: watched, Result: *last.Result}
	if last.Result.DurationMS > 0 {
		a.Duration = time.Duration(last.Result.DurationMS) * time.Millisecond
	}
	return a, nil
}

func readLine(rd *bufio.Reader) (Line, error) {
	b, err := rd.ReadBytes('\n')
	if err != nil && (len(b) == 0 || !errors.Is(err, io.EOF)) {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Line{}, err
	}
	var l Line
	if err := json.Unmarshal(b, &l); err != nil {
		return Line{}, fmt.Errorf("not a line of the agent's API: %w", err)
	}
	return l, nil
}

// clip keeps an agent's free text short; it is escaped where it is shown.
func clip(s string) string {
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// openTools are the programs an opening command may run: a command that
// names anything else is not shown.
var openTools = []string{"iptables ", "ip6tables ", "nft ", "ufw ", "firewall-cmd "}

// Evidence turns a finished watch into the agent's evidence: only seenAs's
// SYNs (whatever the agent sent), and only opening commands of the firewall
// tools, without shell syntax.
func (a *Answer) Evidence(port uint16) (evidence.PortEvidence, []netip.Addr) {
	r := a.Result
	pe := evidence.PortEvidence{Port: port, Asked: true, Watch: &evidence.Watch{Duration: a.Duration, KernelDrops: r.KernelDrops}}
	for _, s := range r.SYNs {
		from, err1 := netip.ParseAddrPort(s.From)
		to, err2 := netip.ParseAddrPort(s.To)
		if err1 != nil || err2 != nil || from.Addr().Unmap() != a.SeenAs {
			continue
		}
		ans := s.Answer
		if ans != evidence.AnswerSynAck && ans != evidence.AnswerRST {
			ans = evidence.AnswerNone
		}
		pe.Watch.SYNs = append(pe.Watch.SYNs, evidence.WatchedSYN{From: from, To: to, Count: max(1, s.Count), Answer: ans})
	}
	for _, l := range r.Listeners {
		if ap, err := netip.ParseAddrPort(l.Addr); err == nil {
			pe.Listeners = append(pe.Listeners, evidence.Listener{Addr: ap, V6Only: l.V6Only})
		}
	}
	for _, fw := range r.Firewall {
		var keep []string
		for _, c := range fw.Open.Commands {
			if openingOK(c) {
				keep = append(keep, c)
			}
		}
		fw.Open.Commands = keep
		pe.Firewall = append(pe.Firewall, fw)
	}
	var addrs []netip.Addr
	for _, s := range r.HostAddrs {
		if ad, err := netip.ParseAddr(s); err == nil {
			addrs = append(addrs, ad.Unmap())
		}
	}
	return pe, addrs
}

// openingOK: c is a firewall tool's command, or several joined by &&,
// with no other shell syntax.
func openingOK(c string) bool {
	if escape.CheckLine(c) != nil {
		return false
	}
	for _, part := range strings.Split(c, " && ") {
		ok := false
		for _, t := range openTools {
			ok = ok || strings.HasPrefix(part, t)
		}
		if !ok {
			return false
		}
		for _, w := range strings.Fields(part) {
			switch w {
			case ";", "|", "||", "&&", ">", ">>", "<", "2>", "2>&1", "&":
				return false
			}
		}
	}
	return true
}
