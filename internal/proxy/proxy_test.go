package proxy

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/neterr"
	"github.com/conndiag/conndiag/internal/target"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func tgt(t *testing.T, s string) target.Target {
	t.Helper()
	x, err := target.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestChoose(t *testing.T) {
	tests := []struct {
		target string
		env    map[string]string
		vr     string
		bypass string
	}{
		{"ws://app.test:8282/", map[string]string{"HTTP_PROXY": "http://p:3128"}, "HTTP_PROXY", ""},
		{"ws://app.test:8282/", map[string]string{"http_proxy": "p:1", "HTTP_PROXY": "q:2"}, "http_proxy", ""},
		{"wss://app.test/", map[string]string{"HTTP_PROXY": "http://p:3128"}, "", ""},
		{"wss://app.test/", map[string]string{"HTTPS_PROXY": "http://p:3128"}, "HTTPS_PROXY", ""},
		{"https://app.test/", map[string]string{"ALL_PROXY": "socks5://p:1080"}, "ALL_PROXY", ""},
		{"app.test:8282", map[string]string{"HTTP_PROXY": "http://p:3128"}, "", ""}, // plain TCP clients ignore HTTP_PROXY
		{"app.test:8282", map[string]string{"all_proxy": "socks5h://p"}, "all_proxy", ""},
		{"ws://app.test:8282/", map[string]string{"HTTP_PROXY": "p:3128", "NO_PROXY": ".test"}, "HTTP_PROXY", "NO_PROXY"},
		{"ws://203.0.113.2:8282/", map[string]string{"HTTP_PROXY": "p:3128", "no_proxy": "203.0.113.0/24"}, "HTTP_PROXY", "no_proxy"},
		{"ws://app.test:8282/", map[string]string{"HTTP_PROXY": "p:3128", "NO_PROXY": "other.test"}, "HTTP_PROXY", ""},
		{"ws://127.0.0.1:8282/", map[string]string{"HTTP_PROXY": "p:3128"}, "HTTP_PROXY", "loopback"},
		{"ws://localhost:8282/", map[string]string{"HTTP_PROXY": "p:3128"}, "HTTP_PROXY", "loopback"},
	}
	for _, tt := range tests {
		c := Choose(env(tt.env), tgt(t, tt.target))
		if c.Var != tt.vr || c.Bypass != tt.bypass {
			t.Errorf("%s %v: var %q bypass %q; want %q %q", tt.target, tt.env, c.Var, c.Bypass, tt.vr, tt.bypass)
		}
		if c.Applies() != (tt.vr != "" && tt.bypass == "") {
			t.Errorf("%s %v: Applies %v", tt.target, tt.env, c.Applies())
		}
		if len(c.Set) != len(tt.env) {
			t.Errorf("%s: every set variable is listed: %+v", tt.target, c.Set)
		}
	}
}

func TestParseURL(t *testing.T) {
	for in, want := range map[string]string{
		"proxy.example:3128":        "http://proxy.example:3128",
		"http://proxy.example":      "http://proxy.example:80",
		"https://proxy.example":     "https://proxy.example:443",
		"SOCKS5://127.0.0.1":        "socks5://127.0.0.1:1080",
		"socks5h://u:pw@[::1]:9050": "socks5h://u:xxxxx@[::1]:9050",
	} {
		u, bad := ParseURL(in)
		if bad != "" || u.Redacted() != want {
			t.Errorf("ParseURL(%q) = %v, %q; want %q", in, u, bad, want)
		}
	}
	for _, in := range []string{"socks4://p:1080", "http://", "://x"} {
		if _, bad := ParseURL(in); bad == "" {
			t.Errorf("ParseURL(%q) must fail", in)
		}
	}
	c := Choose(env(map[string]string{"ALL_PROXY": "socks5://user:secret@p:1080"}), tgt(t, "a.test:1"))
	if strings.Contains(c.Raw, "secret") || strings.Contains(c.Set[0].Value, "secret") {
		t.Errorf("passwords must never be shown: %+v", c)
	}
}

// httpProxy is a real HTTP CONNECT proxy on loopback that refuses targets on port deny.
func httpProxy(t *testing.T, deny string) string {
	return serveLoopback(t, func(c net.Conn) {
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond)) // a SOCKS greeting has no line end
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil || req.Method != http.MethodConnect {
			io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\n\r\n")
			return
		}
		if strings.HasSuffix(req.Host, ":"+deny) {
			io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
			return
		}
		up, err := net.DialTimeout("tcp", req.Host, time.Second)
		if err != nil {
			io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
			return
		}
		defer up.Close()
		c.SetReadDeadline(time.Time{})
		io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
		go io.Copy(up, br)
		io.Copy(c, up)
	})
}

// socksProxy is a real SOCKS5 server (no authentication, CONNECT only) on loopback.
func socksProxy(t *testing.T) string { return serveLoopback(t, serveSOCKS) }

// serveLoopback accepts on a loopback port until the test ends, each
// connection handled in its own goroutine, and returns the address.
func serveLoopback(t *testing.T, handle func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return ln.Addr().String()
}

func serveSOCKS(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 262)
	if _, err := io.ReadFull(c, b[:2]); err != nil || b[0] != 5 {
		return
	}
	if _, err := io.ReadFull(c, b[:b[1]]); err != nil {
		return
	}
	c.Write([]byte{5, 0})
	if _, err := io.ReadFull(c, b[:4]); err != nil {
		return
	}
	var host string
	switch b[3] {
	case 1:
		io.ReadFull(c, b[:4])
		host = netip.AddrFrom4([4]byte(b[:4])).String()
	case 4:
		io.ReadFull(c, b[:16])
		host = netip.AddrFrom16([16]byte(b[:16])).String()
	case 3:
		io.ReadFull(c, b[:1])
		n := int(b[0])
		io.ReadFull(c, b[:n])
		host = string(b[:n])
	}
	io.ReadFull(c, b[:2])
	port := binary.BigEndian.Uint16(b[:2])
	up, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(int(port))), time.Second)
	if err != nil {
		c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0}) // connection refused
		return
	}
	defer up.Close()
	c.Write([]byte{5, 0, 0, 1, 127, 0, 0, 1, 0, 0})
	c.SetDeadline(time.Time{})
	go io.Copy(up, c)
	io.Copy(c, up)
}

func listening(t *testing.T) (addr string, port uint16) {
	ap := netip.MustParseAddrPort(serveLoopback(t, func(c net.Conn) { c.Close() }))
	return ap.String(), ap.Port()
}

func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func TestProbe(t *testing.T) {
	_, port := listening(t)
	_, deadPort := netip.MustParseAddrPort(closedPort(t)), netip.MustParseAddrPort(closedPort(t)).Port()
	lo := netip.MustParseAddr("127.0.0.1")
	hp := httpProxy(t, strconv.Itoa(int(deadPort+1)))
	sp := socksProxy(t)
	tests := []struct {
		name    string
		proxy   string
		port    uint16
		stage   Stage
		status  int
		reply   string
		connect neterr.Kind
	}{
		{"http ok", "http://" + hp, port, StageOK, 200, "", neterr.OK},
		{"http target down", "http://" + hp, deadPort, StageRequest, 502, "", neterr.OK},
		{"http denies", "http://" + hp, deadPort + 1, StageRequest, 403, "", neterr.OK},
		{"http proxy dead", "http://" + closedPort(t), port, StageConnect, 0, "", neterr.Refused},
		{"socks5 ok", "socks5://" + sp, port, StageOK, 0, "", neterr.OK},
		{"socks5h ok", "socks5h://" + sp, port, StageOK, 0, "", neterr.OK},
		{"socks5 target down", "socks5://" + sp, deadPort, StageRequest, 0, "connection refused", neterr.OK},
		{"socks5 proxy dead", "socks5://" + closedPort(t), port, StageConnect, 0, "", neterr.Refused},
		{"socks5 url at an http proxy", "socks5://" + hp, port, StageHandshake, 0, "", neterr.OK},
		{"http url at a socks proxy", "http://" + sp, port, StageHandshake, 0, "", neterr.OK},
	}
	for _, tt := range tests {
		u, bad := ParseURL(tt.proxy)
		if bad != "" {
			t.Fatal(bad)
		}
		host := "127.0.0.1"
		if u.Scheme == "socks5h" {
			host = "localhost"
		}
		r := Probe(context.Background(), u, host, lo, tt.port, 2*time.Second)
		if r.Stage != tt.stage || r.Status != tt.status || r.Reply != tt.reply || r.Connect.Kind != tt.connect {
			t.Errorf("%s: got %+v", tt.name, r)
		}
		if r.Duration <= 0 {
			t.Errorf("%s: the duration must be measured: %+v", tt.name, r)
		}
		if r.Tunnel() != (tt.stage == StageOK) {
			t.Errorf("%s: Tunnel %v", tt.name, r.Tunnel())
		}
		if tt.stage == StageHandshake && r.Err == "" {
			t.Errorf("%s: a handshake failure must say why", tt.name)
		}
	}
}

func TestProbeUnresolvableProxy(t *testing.T) {
	u, _ := ParseURL("http://proxy.invalid:3128")
	r := Probe(context.Background(), u, "127.0.0.1", netip.Addr{}, 80, time.Second)
	if r.Stage != StageResolve || r.Err == "" {
		t.Errorf("got %+v", r)
	}
}
