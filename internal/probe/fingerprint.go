package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Service names what a server's bytes look like (Classify).
const (
	SvcNone      = ""     // nothing came back
	SvcTLS       = "tls"  // a TLS record
	SvcHTTP      = "http" // an HTTP response
	SvcSSH       = "ssh"  // "SSH-2.0-…" greeting
	SvcSMTP      = "smtp" // "220 … ESMTP" greeting
	SvcFTP       = "ftp"  // "220 … FTP" greeting
	SvcSMTPOrFTP = "smtp_or_ftp"
	SvcPOP3      = "pop3"       // "+OK" greeting
	SvcIMAP      = "imap"       // "* OK" greeting
	SvcMySQL     = "mysql"      // protocol-10 handshake or error packet
	SvcPostgres  = "postgresql" // ErrorResponse to a bad startup packet
	SvcRedis     = "redis"      // RESP answer (+PONG, -ERR, -NOAUTH, …)
	SvcVNC       = "vnc"        // "RFB 003.008"
	SvcAMQP      = "amqp"       // "AMQP\x00…" protocol header
	SvcTelnet    = "telnet"     // IAC option negotiation
	SvcMemcached = "memcached"  // "ERROR\r\n" to an unknown command
	SvcEcho      = "echo"       // our own bytes came back
	SvcFrame     = "frame"      // Workerman frame: 4-byte length that counts itself
	SvcText      = "text"       // printable text
	SvcBinary    = "binary"     // anything else
)

// SpeaksOther reports whether name is a service of its own (SSH, a database,
// a mail server, …) rather than a transport-level finding (TLS, HTTP, text).
func SpeaksOther(name string) bool {
	switch name {
	case SvcSSH, SvcSMTP, SvcFTP, SvcSMTPOrFTP, SvcPOP3, SvcIMAP, SvcMySQL, SvcPostgres,
		SvcRedis, SvcVNC, SvcAMQP, SvcTelnet, SvcMemcached:
		return true
	}
	return false
}

// Service is what a server's bytes look like, with the line that shows it.
type Service struct {
	Name   string // one of the Svc constants
	Detail string // the greeting, status line or version, raw (escape before showing)
}

// MaxFrame is the largest Workerman frame taken as plausible (Workerman's
// default max_package_size is 10 MB).
const MaxFrame = 10 << 20

const maxDetail = 200

// Classify says what the first bytes from a server look like. sent is what
// the client had sent on that connection, to recognise an echo.
func Classify(got, sent []byte) Service {
	if len(got) == 0 {
		return Service{}
	}
	line := firstLine(got)
	if isEcho(got, sent) {
		return Service{SvcEcho, line}
	}
	if d, ok := describeTLS(got); ok {
		return Service{SvcTLS, d}
	}
	switch {
	case bytes.HasPrefix(got, []byte("HTTP/")):
		return Service{SvcHTTP, line}
	case bytes.HasPrefix(got, []byte("SSH-")):
		return Service{SvcSSH, line}
	case len(got) >= 4 && bytes.HasPrefix(got, []byte("220")) && (got[3] == ' ' || got[3] == '-'):
		up := strings.ToUpper(line)
		switch {
		case strings.Contains(up, "FTP"):
			return Service{SvcFTP, line}
		case strings.Contains(up, "SMTP") || strings.Contains(up, "MAIL") || strings.Contains(up, "POSTFIX") || strings.Contains(up, "EXIM"):
			return Service{SvcSMTP, line}
		}
		return Service{SvcSMTPOrFTP, line}
	case bytes.HasPrefix(got, []byte("+OK")):
		return Service{SvcPOP3, line}
	case bytes.HasPrefix(got, []byte("* OK")), bytes.HasPrefix(got, []byte("* PREAUTH")), bytes.HasPrefix(got, []byte("* BYE")):
		return Service{SvcIMAP, line}
	case bytes.HasPrefix(got, []byte("RFB ")):
		return Service{SvcVNC, line}
	case bytes.HasPrefix(got, []byte("AMQP")):
		return Service{SvcAMQP, "AMQP"}
	case len(got) >= 2 && got[0] == 0xff && got[1] >= 0xfb && got[1] <= 0xfe:
		return Service{SvcTelnet, ""}
	case isRedis(got):
		return Service{SvcRedis, line}
	case bytes.Equal(got, []byte("ERROR\r\n")):
		return Service{SvcMemcached, line}
	}
	if v, ok := mysqlGreeting(got); ok {
		return Service{SvcMySQL, v}
	}
	if m, ok := postgresError(got); ok {
		return Service{SvcPostgres, m}
	}
	if payload, _, st := ParseFrame(got); st == FrameComplete {
		return Service{SvcFrame, Escape(payload, maxDetail)}
	}
	if isText(got) {
		return Service{SvcText, line}
	}
	return Service{SvcBinary, ""}
}

// firstLine is the first line of b without its line end, capped for evidence.
func firstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	b = bytes.TrimRight(b, "\r")
	if len(b) > maxDetail {
		b = b[:maxDetail]
	}
	return string(b)
}

// isEcho: what came back is what was sent, or its start (a line echo).
func isEcho(got, sent []byte) bool {
	n := 0
	for n < len(got) && n < len(sent) && got[n] == sent[n] {
		n++
	}
	if n == 0 {
		return false
	}
	return (n == len(got) || n == len(sent)) && n >= min(3, len(sent))
}

var redisPrefixes = [][]byte{
	[]byte("+PONG"), []byte("-ERR "), []byte("-NOAUTH"), []byte("-DENIED"), []byte("-WRONGPASS"), []byte("-WRONGTYPE"),
}

func isRedis(b []byte) bool {
	for _, p := range redisPrefixes {
		if bytes.HasPrefix(b, p) {
			return true
		}
	}
	return false
}

// mysqlGreeting recognises the packet a MySQL server sends first: a protocol
// 10 handshake (returns the server version) or an error packet (returns the
// message, e.g. "Host '…' is not allowed to connect").
func mysqlGreeting(b []byte) (string, bool) {
	if len(b) < 7 || b[3] != 0 {
		return "", false
	}
	plen := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	if plen < 3 || plen > 1<<16 {
		return "", false
	}
	payload := b[4:min(len(b), 4+plen)]
	switch payload[0] {
	case 0x0a: // protocol version 10, then a NUL-terminated version string
		end := bytes.IndexByte(payload[1:], 0)
		if end < 1 || end > 64 {
			return "", false
		}
		v := payload[1 : 1+end]
		if !isPrintableASCII(v) {
			return "", false
		}
		return string(v), true
	case 0xff: // error packet: 2-byte code, optional "#SQLSTATE", message
		msg := payload[3:]
		if len(msg) > 6 && msg[0] == '#' {
			msg = msg[6:]
		}
		if len(msg) == 0 || !isPrintableASCII(msg) {
			return "", false
		}
		return firstLine(msg), true
	}
	return "", false
}

// postgresError recognises an ErrorResponse ('E', length, fields), which a
// PostgreSQL server sends to a startup packet it cannot read.
func postgresError(b []byte) (string, bool) {
	if len(b) < 8 || b[0] != 'E' {
		return "", false
	}
	n := binary.BigEndian.Uint32(b[1:5])
	if n < 8 || n > 1<<16 || b[5] != 'S' {
		return "", false
	}
	fields := b[5:min(len(b), int(n)+1)]
	msg := ""
	for len(fields) > 1 {
		typ := fields[0]
		end := bytes.IndexByte(fields[1:], 0)
		if end < 0 {
			break
		}
		if typ == 'M' {
			msg = string(fields[1 : 1+end])
		}
		fields = fields[2+end:]
	}
	if msg == "" || !isPrintableASCII([]byte(msg)) {
		return "", false
	}
	return firstLine([]byte(msg)), true
}

func isPrintableASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// isText: valid UTF-8 made of printable characters and line breaks.
func isText(b []byte) bool {
	if !utf8.Valid(b) {
		// A cut in the middle of a character at the end is still text.
		cut := len(b) - utf8.UTFMax
		if cut < 0 || !utf8.Valid(b[:cut]) {
			return false
		}
		b = b[:cut]
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && r != '\r' && r != '\n' && r != '\t' {
			return false
		}
	}
	return true
}

var tlsAlerts = map[byte]string{
	0: "close notify", 10: "unexpected message", 20: "bad record MAC", 22: "record overflow",
	40: "handshake failure", 42: "bad certificate", 43: "unsupported certificate", 44: "certificate revoked",
	45: "certificate expired", 46: "certificate unknown", 47: "illegal parameter", 48: "unknown CA",
	49: "access denied", 50: "decode error", 51: "decrypt error", 70: "protocol version",
	71: "insufficient security", 80: "internal error", 86: "inappropriate fallback", 90: "user canceled",
	109: "missing extension", 110: "unsupported extension", 112: "unrecognized name",
	116: "certificate required", 120: "no application protocol",
}

var tlsHandshakes = map[byte]string{1: "ClientHello", 2: "ServerHello", 11: "Certificate", 14: "ServerHelloDone"}

// describeTLS recognises a TLS record header and names the record.
func describeTLS(b []byte) (string, bool) {
	if len(b) < 3 || b[1] != 3 || b[2] > 4 || b[0] < 20 || b[0] > 23 {
		return "", false
	}
	if len(b) >= 5 && int(binary.BigEndian.Uint16(b[3:5])) > 1<<14+2048 {
		return "", false
	}
	switch b[0] {
	case 21:
		if len(b) >= 7 && binary.BigEndian.Uint16(b[3:5]) == 2 {
			if name, ok := tlsAlerts[b[6]]; ok {
				return "TLS alert: " + name, true
			}
		}
		return "TLS alert", true
	case 22:
		if len(b) >= 6 {
			if name, ok := tlsHandshakes[b[5]]; ok {
				return "TLS " + name, true
			}
		}
		return "TLS handshake", true
	case 20:
		return "TLS ChangeCipherSpec", true
	}
	return "TLS application data", true
}

// TryKind names one fingerprinting attempt.
type TryKind string

const (
	TryTLS   TryKind = "tls"   // a TLS ClientHello: does the server speak TLS?
	TryHTTP  TryKind = "http"  // a plain HTTP GET: does it speak plain HTTP?
	TryFrame TryKind = "frame" // one Workerman frame
	TryText  TryKind = "text"  // one line
)

// Try is one fingerprinting attempt on a fresh connection.
type Try struct {
	Kind TryKind
	Exchange
	Service Service
	TLS     *TLS    // TryTLS: the handshake, when the server answered in TLS
	Whoami  *Whoami // a conndiag listen endpoint answered
	DialErr error   // the fresh connection could not be opened
}

// DialFunc opens a fresh connection to the address being diagnosed.
type DialFunc func(ctx context.Context) (net.Conn, error)

// Fingerprint runs the tries at once, each on its own fresh connection, and
// returns them in the order asked. Each ends by deadline at the latest.
// host is the target's host, for the HTTP Host header and TLS SNI.
func Fingerprint(ctx context.Context, dial DialFunc, kinds []TryKind, deadline time.Time, host string) []Try {
	out := make([]Try, len(kinds))
	var wg sync.WaitGroup
	for i, k := range kinds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = try(ctx, dial, k, deadline, host)
		}()
	}
	wg.Wait()
	return out
}

func try(ctx context.Context, dial DialFunc, kind TryKind, deadline time.Time, host string) Try {
	t := Try{Kind: kind}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	conn, err := dial(ctx)
	if err != nil {
		t.DialErr = err
		return t
	}
	defer conn.Close()
	defer closeOnDone(ctx, conn)()
	switch kind {
	case TryTLS:
		tr, tc := TLSHandshake(ctx, conn, deadline, TLSConfig{ServerName: sniName(host)})
		if tc != nil {
			t.TLS = tr
		}
		t.Exchange = tr.Exchange
	case TryHTTP:
		rec := record(conn, MaxKeep)
		rec.SetDeadline(deadline)
		req := "GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: " + UserAgent + "\r\nAccept: */*\r\nConnection: close\r\n\r\n"
		if _, err := rec.Write([]byte(req)); err == nil {
			readUntil(rec, func(b []byte) bool {
				return bytes.Contains(b, []byte("\r\n\r\n")) || bytes.Contains(b, []byte("\n\n")) ||
					!bytes.HasPrefix(b, []byte("HTTP/")[:min(5, len(b))]) && bytes.IndexByte(b, '\n') >= 0
			})
		}
		t.Exchange = rec.exchange()
	case TryFrame:
		m := FrameMessage(ctx, conn, deadline)
		t.Exchange, t.Whoami = m.Exchange, m.Whoami
	case TryText:
		m := TextMessage(ctx, conn, deadline)
		t.Exchange, t.Whoami = m.Exchange, m.Whoami
	}
	t.Service = Classify(t.Received, t.Sent)
	return t
}

// sniName is the name to send as SNI: none for an address, as browsers do.
func sniName(host string) string {
	if net.ParseIP(host) != nil {
		return ""
	}
	return host
}
