package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/conndiag/conndiag/internal/evidence"

	xproxy "golang.org/x/net/proxy"

	"github.com/conndiag/conndiag/internal/neterr"
)

// Stage is how far the test of a proxy got (defined in internal/evidence).
type Stage = evidence.ProxyStage

// The stages.
const (
	StageResolve   = evidence.StageResolve
	StageConnect   = evidence.StageConnect
	StageTLS       = evidence.StageTLS
	StageHandshake = evidence.StageHandshake
	StageRequest   = evidence.StageRequest
	StageOK        = evidence.StageOK
)

// Result is what testing one proxy found.
type Result = evidence.ProxyResult

// maxHead bounds a proxy's answer to CONNECT (or to the SOCKS5 handshake).
const maxHead = 64 << 10

// errTooLong is a read past maxHead.
var errTooLong = fmt.Errorf("the answer is longer than %d KiB; conndiag stopped reading there", maxHead>>10)

// counted counts what the proxy sends and refuses to read past maxHead, so
// an endless status line or header costs 64 KiB, and an answer cut short by
// the deadline can say how much of it came.
type counted struct {
	net.Conn
	n   int
	err error // the first read error
}

func (c *counted) Read(b []byte) (int, error) {
	room := maxHead - c.n
	if room <= 0 {
		c.note(errTooLong)
		return 0, errTooLong
	}
	n, err := c.Conn.Read(b[:min(len(b), room)])
	c.n += n
	c.note(err)
	return n, err
}

func (c *counted) note(err error) {
	if c.err == nil {
		c.err = err
	}
}

// why says what went wrong when the client library failed with err. A read
// that timed out or hit the cap explains more than the parse error a
// reader reports for the partial line it was left with (bufio hands out
// the bytes before a read error and keeps the error to itself).
func (c *counted) why(err error) string {
	var ne net.Error
	if errors.Is(c.err, errTooLong) || errors.As(c.err, &ne) && ne.Timeout() {
		err = c.err
	}
	return shortErr(err, c.n)
}

// Probe tests the proxy u for a connection to host:port. ip is the address
// the client would resolve host to: a socks5:// client sends the address,
// socks5h:// and HTTP proxies get the name. timeout bounds each step.
func Probe(ctx context.Context, u *url.URL, host string, ip netip.Addr, port uint16, timeout time.Duration) (r Result) {
	start := time.Now()
	r = Result{URL: u.Redacted(), Scheme: u.Scheme}
	r.Asked = net.JoinHostPort(host, fmt.Sprint(port))
	if u.Scheme == "socks5" && ip.IsValid() {
		r.Asked = netip.AddrPortFrom(ip, port).String()
	}
	defer func() { r.Duration = time.Since(start) }()

	ctx, cancel := context.WithTimeout(ctx, 2*timeout)
	defer cancel()
	addr, err := resolve(ctx, u, timeout)
	if err != nil {
		r.Stage, r.Err = StageResolve, err.Error()
		return r
	}
	r.Addr = addr
	cctx, ccancel := context.WithTimeout(ctx, timeout)
	res, conn := neterr.Dialer{}.Connect(cctx, addr)
	ccancel()
	r.Connect = res
	if conn == nil {
		r.Stage = StageConnect
		return r
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)

	switch u.Scheme {
	case "socks5", "socks5h":
		socks5(ctx, &r, &counted{Conn: conn}, u)
	default:
		if u.Scheme == "https" {
			tc := tls.Client(conn, &tls.Config{ServerName: u.Hostname()})
			if err := tc.HandshakeContext(ctx); err != nil {
				r.Stage, r.Err = StageTLS, err.Error()
				return r
			}
			conn = tc
		}
		connectHTTP(&r, &counted{Conn: conn}, u)
	}
	return r
}

func resolve(ctx context.Context, u *url.URL, timeout time.Duration) (netip.AddrPort, error) {
	port, err := netip.ParseAddrPort("0.0.0.0:" + u.Port())
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port %q", u.Port())
	}
	if a, err := netip.ParseAddr(u.Hostname()); err == nil {
		return netip.AddrPortFrom(a.Unmap(), port.Port()), nil
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	as, err := net.DefaultResolver.LookupNetIP(rctx, "ip", u.Hostname())
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) {
			return netip.AddrPort{}, fmt.Errorf("%s: %s", u.Hostname(), de.Err)
		}
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(as[0].Unmap(), port.Port()), nil
}

// connectHTTP asks an HTTP proxy for a tunnel (RFC 9110 CONNECT).
func connectHTTP(r *Result, conn *counted, u *url.URL) {
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: r.Asked}, Host: r.Asked,
		Header: http.Header{"User-Agent": {"conndiag"}}}
	if u.User != nil {
		pw, _ := u.User.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pw)))
	}
	if err := req.Write(conn); err != nil {
		r.Stage, r.Err = StageHandshake, shortErr(err, 0)
		return
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		r.Stage, r.Err = StageHandshake, conn.why(err)
		return
	}
	resp.Body.Close()
	r.Status, r.StatusText = resp.StatusCode, clip(resp.Status, 100)
	if resp.StatusCode/100 != 2 {
		r.Stage = StageRequest
		return
	}
	r.Stage = StageOK
}

// socks5 runs the SOCKS5 greeting and CONNECT over conn with x/net/proxy.
func socks5(ctx context.Context, r *Result, conn *counted, u *url.URL) {
	var auth *xproxy.Auth
	if u.User != nil {
		pw, _ := u.User.Password()
		auth = &xproxy.Auth{User: u.User.Username(), Password: pw}
	}
	d, err := xproxy.SOCKS5("tcp", r.Addr.String(), auth, nil)
	if err != nil {
		r.Stage, r.Err = StageHandshake, err.Error()
		return
	}
	wc, ok := d.(interface {
		DialWithConn(context.Context, net.Conn, string, string) (net.Addr, error)
	})
	if !ok {
		r.Stage, r.Err = StageHandshake, "SOCKS5 client without DialWithConn"
		return
	}
	if _, err := wc.DialWithConn(ctx, conn, "tcp", r.Asked); err != nil {
		msg := conn.why(err)
		// x/net reports a failed CONNECT reply as "unknown error <reply>".
		if reply, ok := strings.CutPrefix(msg, "unknown error "); ok {
			r.Stage, r.Reply = StageRequest, reply
			return
		}
		r.Stage, r.Err = StageHandshake, msg
		return
	}
	r.Stage = StageOK
}

// shortErr says what went wrong; got is how many bytes the proxy had sent.
func shortErr(err error, got int) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		err = oe.Err
	}
	if errors.Is(err, errTooLong) {
		return errTooLong.Error()
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the proxy closed the connection"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if got > 0 {
			return fmt.Sprintf("incomplete answer: %d bytes came, then nothing more until the deadline", got)
		}
		return "no answer (timeout)"
	}
	return clip(err.Error(), 200)
}

func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
