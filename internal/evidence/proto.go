package evidence

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"time"
)

// Cut says why an answer that had begun was not read to its end.
type Cut string

const (
	CutNone Cut = ""
	// CutDeadline: bytes came, then the deadline passed while the probe
	// still waited for the rest (a server that stalls or trickles).
	CutDeadline Cut = "deadline"
	// CutCap: the answer passed the probe's byte cap and reading stopped
	// there; ReceivedN bytes were read.
	CutCap Cut = "cap"
)

// Reply is how the server reacted to what was sent.
type Reply string

const (
	ReplyAnswered Reply = "answered" // bytes came back
	ReplySilent   Reply = "silent"   // nothing came back before the deadline
	ReplyClosed   Reply = "closed"   // the server closed the connection (FIN) without a byte
	ReplyReset    Reply = "reset"    // the connection was reset (RST) before a byte came back
	ReplyFailed   Reply = "failed"   // another error; see Exchange.Err
)

// Exchange is one conversation on one connection: the first bytes each way,
// and how it ended.
type Exchange struct {
	Sent      []byte // the first MaxKeep bytes written
	SentN     int    // every byte written
	Received  []byte // the first MaxKeep bytes read
	ReceivedN int
	Reply     Reply
	Err       error         // the first network error of the exchange, if any
	FirstByte time.Duration // from the first write to the first byte read; 0 when none came
	Duration  time.Duration // from the start of the exchange to its end
	// Service is what the received bytes look like (probe.Classify), so the
	// rules read a classification rather than bytes.
	Service Service
	// Cut is set when an answer began (Reply Answered) but was not read to
	// its end: what arrived is a start, not proof of a protocol.
	Cut Cut
	// Start is the answer's first line when it is a whole, valid HTTP status
	// line (raw: escape it to show it), "" otherwise.
	Start string
}

// TLS is what the TLS handshake showed.
type TLS struct {
	Exchange          // the handshake bytes
	Done       bool   // the handshake completed
	ServerName string // the SNI sent ("" for an address)
	Version    string // "TLS 1.3"
	Cipher     string
	ALPN       string
	Chain      []Cert // as the server sent it, leaf first
	Problems   []CertProblem
	Alert      string // the alert the server sent, e.g. "handshake failure"
	Err        error

	// CertRequested: the server sent a CertificateRequest (it asks for a
	// client certificate; none was given). CertCAs are the issuers it named
	// as acceptable, raw (escape them to show them), at most MaxCertCAs.
	CertRequested bool
	CertCAs       []string
	// LateAlert is an alert that came after the handshake had completed, on
	// the first read: a TLS 1.3 server refuses a missing client certificate
	// only then.
	LateAlert string
	// Legacy is a second handshake on a fresh connection that also allows
	// TLS 1.0 and 1.1 and the old cipher suites, made only when this one was
	// refused in a way an obsolete server refuses (probe.WantLegacy): what
	// the server offers, which current clients do not.
	Legacy *TLS
}

// MaxCertCAs bounds the acceptable issuers kept of a CertificateRequest.
const MaxCertCAs = 8

// Cert is one certificate of the chain, as evidence.
type Cert struct {
	Subject    string
	Issuer     string
	DNSNames   []string
	IPs        []netip.Addr
	NotBefore  time.Time
	NotAfter   time.Time
	SelfSigned bool
	SigAlg     string // how its issuer signed it, "SHA256-RSA"
	KeyAlg     string // "RSA", "ECDSA", "Ed25519"
	KeyBits    int    // the public key's size (RSA modulus, EC curve), 0 when unknown
}

// Names lists the names the certificate is valid for.
func (c Cert) Names() []string {
	out := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPs {
		out = append(out, ip.String())
	}
	return out
}

// Problem is one thing wrong with a certificate chain.
type Problem string

const (
	Expired      Problem = "expired"
	NotYetValid  Problem = "not_yet_valid"
	WrongName    Problem = "wrong_name"
	Untrusted    Problem = "untrusted"
	OtherProblem Problem = "other"
	// WeakSignature: signed with SHA-1 or MD5, which current clients refuse
	// (the self-signed root's own signature does not count).
	WeakSignature Problem = "weak_signature"
	// WeakKey: an RSA key shorter than 2048 bits.
	WeakKey Problem = "weak_key"
)

// Weak reports whether p is a weakness of the algorithms (tls_obsolete)
// rather than of validity, name or trust (tls_certificate).
func (p Problem) Weak() bool { return p == WeakSignature || p == WeakKey }

// CertProblem is one problem and the certificate it concerns.
type CertProblem struct {
	Kind   Problem
	Cert   int    // index into TLS.Chain
	Name   string // WrongName: the name asked for
	Detail string // the verifier's own words
}

// HTTP is an HTTP request and what came back.
type HTTP struct {
	Exchange
	Host       string // the Host header sent
	Path       string // the request target sent
	Status     int    // 0 when no HTTP response came back
	StatusLine string // "HTTP/1.1 200 OK"
	Header     Header
	Body       []byte // the first MaxBody bytes of the body
	Err        error  // why no response could be read, if none was
	// FirstByte is the time from the request written to the first byte of
	// the answer, from the standard library's trace hooks.
	FirstByte time.Duration
	Whoami    *Whoami // the endpoint is conndiag listen and said who it sees
}

// Server is the Server header of the response.
func (h *HTTP) Server() string {
	if h == nil || h.Header == nil {
		return ""
	}
	return h.Header.Get("Server")
}

// WebSocket is the opening handshake of RFC 6455 and what came back.
type WebSocket struct {
	HTTP             // the handshake request and the server's answer
	Upgraded    bool // 101 with the right Upgrade, Connection and Sec-WebSocket-Accept
	AcceptWant  string
	Subprotocol string
	Origin      string // the Origin header sent; "" when none was
}

// AcceptOK reports whether the server's Sec-WebSocket-Accept matches the key sent.
func (w *WebSocket) AcceptOK() bool {
	return w.AcceptWant != "" && w.Header.Get("Sec-WebSocket-Accept") == w.AcceptWant
}

// Message is one message sent on a Workerman text or frame connection (or a
// raw TCP one) and what came back.
type Message struct {
	Exchange
	Service Service // what the answer looks like
	Whoami  *Whoami // a conndiag listen endpoint answered
}

// Whoami is a conndiag listen endpoint's answer about the connection it saw.
type Whoami struct {
	Proto   string         // the endpoint's protocol: websocket, http, text, frame, tcp
	Version string         // the endpoint's conndiag version
	Client  netip.AddrPort // this client as the server saw it
	Server  netip.AddrPort // the server address the connection arrived at
}

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

// TryKind names one fingerprinting attempt.
type TryKind string

const (
	TryTLS   TryKind = "tls"   // a TLS ClientHello: does the server speak TLS?
	TryHTTP  TryKind = "http"  // a plain HTTP GET: does it speak plain HTTP?
	TryFrame TryKind = "frame" // one Workerman frame
	TryText  TryKind = "text"  // one line
	// TryIdle sends nothing and waits: a server that closes before it has
	// read a byte is not judging what the client said.
	TryIdle TryKind = "idle"
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

// FrameState says how far a Workerman frame has arrived.
type FrameState int

const (
	FrameIncomplete FrameState = iota // fewer bytes than the header announces
	FrameComplete
	FrameInvalid // the header cannot be a frame: shorter than itself, or beyond MaxFrame
)

// ParseFrame reads the first frame of b. total is the frame's whole length
// once the header is in (0 before).
func ParseFrame(b []byte) (payload []byte, total int, st FrameState) {
	if len(b) < 4 {
		return nil, 0, FrameIncomplete
	}
	n := binary.BigEndian.Uint32(b)
	if n < 4 || n > MaxFrame {
		return nil, 0, FrameInvalid
	}
	if uint32(len(b)) < n {
		return nil, int(n), FrameIncomplete
	}
	return b[4:n], int(n), FrameComplete
}

// Header is an HTTP header as the server sent it (the shape of net/http's
// Header, without linking net/http).
type Header map[string][]string

// Get returns the first value of the header key, matched without regard to case.
func (h Header) Get(key string) string {
	if v := h[canonicalKey(key)]; len(v) > 0 {
		return v[0]
	}
	for k, v := range h {
		if len(v) > 0 && strings.EqualFold(k, key) {
			return v[0]
		}
	}
	return ""
}

// canonicalKey is net/textproto's canonical form for ASCII keys: "sec-websocket-accept" → "Sec-Websocket-Accept".
func canonicalKey(k string) string {
	b := []byte(k)
	upper := true
	for i, c := range b {
		switch {
		case upper && 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case !upper && 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
		upper = c == '-'
	}
	return string(b)
}
