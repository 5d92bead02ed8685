package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"
)

// MaxBody is how much of a response body is kept as evidence.
const MaxBody = 512

// maxDrain is how much more of a body is read so the connection can be reused.
const maxDrain = 64 << 10

// HTTP is a request and its answer (defined in internal/evidence).
type HTTP = evidence.HTTP

// HTTPRequest sends "GET path" with the Host header host over conn (plain,
// or TLS already done) and reads the response head and the start of the
// body, all before deadline. When the response says it comes from conndiag
// listen, it asks the same connection GET /whoami (one more round trip).
func HTTPRequest(ctx context.Context, conn net.Conn, deadline time.Time, host, path string) *HTTP {
	res := &HTTP{Host: host, Path: path}
	rec := record(conn, MaxAnswer)
	rec.SetDeadline(deadline)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	tr := oneConnTransport(rec)
	defer tr.CloseIdleConnections()

	var mu sync.Mutex
	var wrote, first time.Time
	trace := &httptrace.ClientTrace{
		WroteRequest:         func(httptrace.WroteRequestInfo) { mu.Lock(); wrote = time.Now(); mu.Unlock() },
		GotFirstResponseByte: func() { mu.Lock(); first = time.Now(); mu.Unlock() },
	}
	resp, body, bodyErr, err := get(httptrace.WithClientTrace(ctx, trace), tr, host, path, false)
	mu.Lock()
	if !wrote.IsZero() && first.After(wrote) {
		res.FirstByte = first.Sub(wrote)
	}
	mu.Unlock()
	if err == nil && resp.StatusCode < 100 {
		err = badStatus(resp.StatusCode)
	}
	if err != nil {
		res.Err = err
	} else {
		res.Status, res.StatusLine, res.Header, res.Body = resp.StatusCode, resp.Proto+" "+resp.Status, evidence.Header(resp.Header), body
	}
	res.Exchange = rec.exchange()
	switch {
	case res.Status == 0:
		settle(&res.Exchange, err)
	case res.Cut == CutNone && ReplyOf(bodyErr) == Silent && bodyErr != nil:
		res.Cut = CutDeadline // the head came whole, the body stopped short
	}
	if _, ok := ListenVersion(res.Server()); ok && err == nil {
		if resp, body, _, err := get(ctx, tr, host, "/whoami", true); err == nil && resp.StatusCode == http.StatusOK {
			if w, ok := ParseWhoami(body); ok {
				res.Whoami = &w
			}
		}
	}
	return res
}

// oneConnTransport is an HTTP/1.1 transport whose only connection is c: no
// proxy, no compression (the body is evidence as sent), no second dial.
func oneConnTransport(c net.Conn) *http.Transport {
	return &http.Transport{
		DialContext:        dialOnce(c, "probe: the server closed the connection"),
		Proxy:              nil,
		DisableCompression: true,
		// The recorder's cap (MaxAnswer) ends an endless head first, with ErrTooLong.
		MaxResponseHeaderBytes: 2 * MaxAnswer,
		MaxIdleConnsPerHost:    1,
	}
}

// dialOnce hands out c to the first dial and fails every later one with
// errText: a probe speaks on the connection TCP already opened, never a new one.
func dialOnce(c net.Conn, errText string) func(context.Context, string, string) (net.Conn, error) {
	var once sync.Once
	return func(context.Context, string, string) (net.Conn, error) {
		var got net.Conn
		once.Do(func() { got = c })
		if got == nil {
			return nil, errors.New(errText)
		}
		return got, nil
	}
}

// get sends one request and reads the start of the answer's body; bodyErr
// is why the body ended before MaxBody bytes, when not at its end.
func get(ctx context.Context, tr *http.Transport, host, path string, json bool) (resp *http.Response, body []byte, bodyErr, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+path, nil)
	if err != nil {
		return nil, nil, nil, err
	}
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("Accept", "*/*")
	if json {
		req.Header.Set("Accept", "application/json")
	}
	resp, err = tr.RoundTrip(req)
	if err != nil {
		return nil, nil, nil, err
	}
	defer resp.Body.Close()
	body, bodyErr = io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	if _, ok := ListenVersion(resp.Header.Get("Server")); ok {
		// Read the rest, so the connection stays usable for GET /whoami.
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	}
	return resp, body, bodyErr, nil
}

// badStatus is a status code below 100, which Go's reader takes but no HTTP
// server sends (RFC 9110: 100 to 599): the answer is not HTTP.
func badStatus(code int) error { return fmt.Errorf("probe: invalid HTTP status code %03d", code) }

// StatusLine is a parsed HTTP/1.x status line.
type StatusLine struct {
	Proto  string // "HTTP/1.1"
	Code   int
	Reason string
}

// ParseStatusLine parses "HTTP/1.1 200 OK" (line without its line end).
func ParseStatusLine(line string) (StatusLine, bool) {
	proto, rest, ok := strings.Cut(line, " ")
	if !ok || !validProto(proto) {
		return StatusLine{}, false
	}
	code, reason, _ := strings.Cut(rest, " ")
	if len(code) != 3 {
		return StatusLine{}, false
	}
	n, err := strconv.Atoi(code)
	if err != nil || n < 100 || code[0] == '+' {
		return StatusLine{}, false
	}
	return StatusLine{Proto: proto, Code: n, Reason: reason}, true
}

func validProto(p string) bool {
	v, ok := strings.CutPrefix(p, "HTTP/")
	if !ok {
		return false
	}
	switch v {
	case "0.9", "1.0", "1.1", "2", "2.0", "3":
		return true
	}
	return false
}
