package probe

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/conndiag/conndiag/internal/evidence"
)

// TLSConfig says what the TLS probe asks for and what it verifies.
type TLSConfig struct {
	ServerName string     // sent as SNI and checked against the certificate; empty for an address target
	IP         netip.Addr // checked against the certificate's IP names when the target is an address
	ALPN       []string
	// Roots are the trusted CAs; nil means the system's, which honour
	// SSL_CERT_FILE and SSL_CERT_DIR.
	Roots *x509.CertPool
	Now   func() time.Time
	// Legacy also allows TLS 1.0 and 1.1 and the cipher suites Go disables
	// by default (RSA key exchange, 3DES, RC4, CBC-SHA256): only for finding
	// out what an obsolete server offers, never for the verdict handshake.
	Legacy bool
	// Linger is how long to wait after a completed handshake in which the
	// server asked for a client certificate, for an alert refusing its
	// absence (a TLS 1.3 server sends it after the handshake); 0: no wait.
	// Only for a target where nothing is sent after the handshake: a byte
	// the server sends first would be lost.
	Linger time.Duration
}

// TLS is a handshake and what it learned (defined in internal/evidence).
type TLS = evidence.TLS

// Cert is one certificate of a chain (defined in internal/evidence).
type Cert = evidence.Cert

// Problem is one thing wrong with a certificate chain.
type Problem = evidence.Problem

// The problems.
const (
	Expired      = evidence.Expired
	NotYetValid  = evidence.NotYetValid
	WrongName    = evidence.WrongName
	Untrusted    = evidence.Untrusted
	OtherProblem = evidence.OtherProblem
	// WeakSignature and WeakKey are what current clients refuse (tls_obsolete).
	WeakSignature = evidence.WeakSignature
	WeakKey       = evidence.WeakKey
)

// CertProblem is one problem and the certificate it concerns.
type CertProblem = evidence.CertProblem

// TLSHandshake runs a TLS client handshake on conn and verifies the
// certificate itself, so that it can report every problem rather than the
// first. It offers what current clients offer: TLS 1.2 and 1.3 with Go's
// default cipher suites (cfg.Legacy widens that). It sends no client
// certificate, and records whether the server asked for one. On success it
// returns the TLS connection to speak on; on failure the returned conn is
// nil and conn should be closed.
func TLSHandshake(ctx context.Context, conn net.Conn, deadline time.Time, cfg TLSConfig) (*TLS, net.Conn) {
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	rec := record(conn, maxTLSAnswer)
	res := &TLS{ServerName: cfg.ServerName}
	tcfg := &tls.Config{
		ServerName:         cfg.ServerName,
		NextProtos:         cfg.ALPN,
		InsecureSkipVerify: true, // verified below, to list every problem
		MinVersion:         tls.VersionTLS12,
		// Called only when the server sends a CertificateRequest; the empty
		// certificate sends none, as a client without one does.
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			res.CertRequested = true
			res.CertCAs = caNames(cri.AcceptableCAs)
			return &tls.Certificate{}, nil
		},
	}
	if cfg.Legacy {
		tcfg.MinVersion, tcfg.MaxVersion, tcfg.CipherSuites = tls.VersionTLS10, tls.VersionTLS12, allSuites()
	}
	tc := tls.Client(rec, tcfg)
	rec.SetDeadline(deadline)
	hctx, cancel := context.WithDeadline(ctx, deadline)
	err := tc.HandshakeContext(hctx)
	cancel()
	took := time.Since(rec.start)
	if err == nil && res.CertRequested && cfg.Linger > 0 {
		until := time.Now().Add(cfg.Linger)
		if until.After(deadline) {
			until = deadline
		}
		res.LateAlert = linger(tc, until)
	}
	res.Exchange = rec.exchange()
	res.Duration = took // the handshake's, without the wait for a refusal
	if err != nil {
		res.Err = err
		res.Alert = RemoteAlert(err)
		settle(&res.Exchange, err)
		return res, nil
	}
	st := tc.ConnectionState()
	res.Done = true
	res.Version = tls.VersionName(st.Version)
	res.Cipher = tls.CipherSuiteName(st.CipherSuite)
	res.ALPN = st.NegotiatedProtocol
	for _, c := range st.PeerCertificates {
		res.Chain = append(res.Chain, certOf(c))
	}
	res.Problems = Verify(st.PeerCertificates, cfg, now())
	if res.LateAlert != "" {
		return res, nil // refused after all: nothing more to say on it
	}
	return res, tc
}

// linger reads once until until, for an alert that refuses the missing
// client certificate; "" when none came.
func linger(tc *tls.Conn, until time.Time) string {
	tc.SetReadDeadline(until)
	defer tc.SetReadDeadline(time.Time{})
	var b [1]byte
	_, err := tc.Read(b[:])
	return RemoteAlert(err)
}

// RemoteAlert is the alert the server sent when err reports one
// ("certificate required"), "" otherwise.
func RemoteAlert(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "remote error" {
		return strings.TrimPrefix(oe.Err.Error(), "tls: ")
	}
	return ""
}

// allSuites is every TLS 1.0–1.2 cipher suite Go implements, the insecure
// ones included.
func allSuites() []uint16 {
	var ids []uint16
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		ids = append(ids, s.ID)
	}
	return ids
}

// legacyAlerts are the alerts a server that supports only older versions
// or ciphers answers a current ClientHello with.
var legacyAlerts = map[string]bool{
	"protocol version not supported": true, // 70: no version in common
	"handshake failure":              true, // 40: no cipher suite (or curve) in common
	"insufficient security level":    true, // 71: the server wants ciphers we did not offer
}

// WantLegacy reports whether a failed verdict handshake is worth a second
// one that allows what current clients refuse: the server refused with an
// alert an obsolete server sends, or chose a version or cipher suite that
// was not offered. A server that asked for a client certificate refused
// that, not the versions.
func WantLegacy(t *TLS) bool {
	if t == nil || t.Done || t.CertRequested || t.Err == nil {
		return false
	}
	if legacyAlerts[t.Alert] {
		return true
	}
	msg := t.Err.Error()
	return strings.Contains(msg, "server selected unsupported protocol version") ||
		strings.Contains(msg, "server chose an unconfigured cipher suite")
}

// caNames turns a CertificateRequest's acceptable issuers (DER names) into
// text, bounded like the certificate fields.
func caNames(ders [][]byte) []string {
	var out []string
	for _, der := range ders {
		if len(out) == evidence.MaxCertCAs {
			break
		}
		var seq pkix.RDNSequence
		if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(rest) > 0 {
			continue
		}
		var n pkix.Name
		n.FillFromRDNSequence(&seq)
		out = append(out, clipText(n.String()))
	}
	return out
}

// maxNames bounds the names kept of one certificate (evidence shows 8).
const maxNames = 64

// maxCertText bounds a subject or issuer kept as evidence, in runes.
const maxCertText = 256

// certOf turns a certificate the server sent into evidence, bounded: a
// stranger's certificate may carry thousands of names or a huge subject.
// The strings are raw; they are escaped where they are shown.
func certOf(c *x509.Certificate) Cert {
	out := Cert{
		Subject: clipText(c.Subject.String()), Issuer: clipText(c.Issuer.String()),
		NotBefore: c.NotBefore, NotAfter: c.NotAfter,
	}
	for _, n := range c.DNSNames[:min(len(c.DNSNames), maxNames)] {
		out.DNSNames = append(out.DNSNames, clipText(n))
	}
	for _, ip := range c.IPAddresses {
		if a, ok := netip.AddrFromSlice(ip); ok && len(out.IPs) < maxNames {
			out.IPs = append(out.IPs, a.Unmap())
		}
	}
	if out.Subject == "" && len(out.DNSNames) > 0 {
		out.Subject = out.DNSNames[0]
	}
	out.SigAlg = c.SignatureAlgorithm.String()
	out.KeyAlg, out.KeyBits = keyOf(c)
	// CheckSignatureFrom would insist on the CA flag, which a self-signed leaf lacks.
	out.SelfSigned = string(c.RawSubject) == string(c.RawIssuer) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
	return out
}

// keyOf names a certificate's public key algorithm and size.
func keyOf(c *x509.Certificate) (string, int) {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		return "ECDSA", k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return "Ed25519", 256
	}
	return c.PublicKeyAlgorithm.String(), 0
}

// clipText keeps the first maxCertText characters of s (an invalid byte
// counts as one and is kept, for the escaping where it is shown), with "…"
// for a cut.
func clipText(s string) string {
	at := 0
	for n := 0; at < len(s); n++ {
		if n == maxCertText {
			return s[:at] + "…"
		}
		_, size := utf8.DecodeRuneInString(s[at:])
		at += size
	}
	return s
}

// Verify lists every problem of a chain (leaf first) for the name or
// address in cfg at time now; nil when a client would accept it.
func Verify(chain []*x509.Certificate, cfg TLSConfig, now time.Time) []CertProblem {
	if len(chain) == 0 {
		return []CertProblem{{Kind: OtherProblem, Detail: "the server sent no certificate"}}
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	name := cfg.ServerName
	if name == "" && cfg.IP.IsValid() {
		name = cfg.IP.String()
	}
	opts := x509.VerifyOptions{
		Roots: cfg.Roots, Intermediates: inter, CurrentTime: now, DNSName: name,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	weak := weakProblems(chain)
	_, whole := leaf.Verify(opts)
	if whole == nil {
		return weak
	}
	// Look at each property on its own, so one problem does not hide another.
	ps := weak
	for i, c := range chain {
		switch {
		case now.Before(c.NotBefore):
			ps = append(ps, CertProblem{Kind: NotYetValid, Cert: i})
		case now.After(c.NotAfter):
			ps = append(ps, CertProblem{Kind: Expired, Cert: i})
		}
	}
	if name != "" {
		if err := leaf.VerifyHostname(name); err != nil {
			ps = append(ps, CertProblem{Kind: WrongName, Name: name, Detail: err.Error()})
		}
	}
	// Trust, judged at a moment the leaf is valid and without the name.
	at := now
	if at.After(leaf.NotAfter) {
		at = leaf.NotAfter.Add(-time.Second)
	}
	if at.Before(leaf.NotBefore) {
		at = leaf.NotBefore.Add(time.Second)
	}
	opts.CurrentTime, opts.DNSName = at, ""
	if _, err := leaf.Verify(opts); err != nil {
		var ua x509.UnknownAuthorityError
		var ci x509.CertificateInvalidError
		switch {
		case len(weak) > 0 && strings.Contains(err.Error(), "insecure algorithm"):
			// The weak signature itself, already listed: Go will not check it.
		case errors.As(err, &ua):
			ps = append(ps, CertProblem{Kind: Untrusted, Detail: err.Error()})
		case errors.As(err, &ci) && (ci.Reason == x509.Expired) && len(ps) > 0:
			// An intermediate outside its validity: already listed.
		default:
			ps = append(ps, CertProblem{Kind: OtherProblem, Detail: err.Error()})
		}
	}
	if len(ps) == 0 {
		ps = append(ps, CertProblem{Kind: OtherProblem, Detail: whole.Error()})
	}
	return ps
}

// MinRSABits is the shortest RSA key current clients accept: browsers
// (CA/Browser Forum) and OpenSSL at security level 2, Debian's and
// Ubuntu's default.
const MinRSABits = 2048

// weakProblems lists what current clients refuse in a chain whatever its
// validity and trust: signatures made with SHA-1 or MD5 (a self-signed
// root's own signature is never checked, so it does not count) and RSA keys
// shorter than MinRSABits.
func weakProblems(chain []*x509.Certificate) []CertProblem {
	var ps []CertProblem
	for i, c := range chain {
		root := i > 0 && string(c.RawSubject) == string(c.RawIssuer)
		if weakSig(c.SignatureAlgorithm) && !root {
			ps = append(ps, CertProblem{Kind: WeakSignature, Cert: i, Detail: c.SignatureAlgorithm.String()})
		}
		if k, ok := c.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < MinRSABits {
			ps = append(ps, CertProblem{Kind: WeakKey, Cert: i, Detail: "RSA " + strconv.Itoa(k.N.BitLen())})
		}
	}
	return ps
}

func weakSig(a x509.SignatureAlgorithm) bool {
	switch a {
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1, x509.MD5WithRSA, x509.MD2WithRSA:
		return true
	}
	return false
}

// LegacyHandshake opens a fresh connection with dial and runs the handshake
// of cfg again allowing TLS 1.0 and 1.1 and every cipher suite (cfg.Legacy),
// to learn what a server that refused the verdict handshake offers. It is
// evidence only: nothing is spoken on it.
func LegacyHandshake(ctx context.Context, dial DialFunc, deadline time.Time, cfg TLSConfig) *TLS {
	conn, err := dial(ctx)
	if err != nil {
		return &TLS{ServerName: cfg.ServerName, Err: err, Exchange: Exchange{Reply: ReplyOf(err), Err: err}}
	}
	defer conn.Close()
	cfg.Legacy, cfg.Linger = true, 0
	t, tc := TLSHandshake(ctx, conn, deadline, cfg)
	if tc != nil {
		tc.Close()
	}
	return t
}
