package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/netip"
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
)

// CertProblem is one problem and the certificate it concerns.
type CertProblem = evidence.CertProblem

// TLSHandshake runs a TLS client handshake on conn and verifies the
// certificate itself, so that it can report every problem rather than the
// first. On success it returns the TLS connection to speak on; on failure
// the returned conn is nil and conn should be closed.
func TLSHandshake(ctx context.Context, conn net.Conn, deadline time.Time, cfg TLSConfig) (*TLS, net.Conn) {
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	rec := record(conn, maxTLSAnswer)
	res := &TLS{ServerName: cfg.ServerName}
	tc := tls.Client(rec, &tls.Config{
		ServerName:         cfg.ServerName,
		NextProtos:         cfg.ALPN,
		InsecureSkipVerify: true, // verified below, to list every problem
		MinVersion:         tls.VersionTLS10,
	})
	rec.SetDeadline(deadline)
	hctx, cancel := context.WithDeadline(ctx, deadline)
	err := tc.HandshakeContext(hctx)
	cancel()
	res.Exchange = rec.exchange()
	if err != nil {
		res.Err = err
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "remote error" {
			res.Alert = strings.TrimPrefix(oe.Err.Error(), "tls: ")
		}
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
	return res, tc
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
	// CheckSignatureFrom would insist on the CA flag, which a self-signed leaf lacks.
	out.SelfSigned = string(c.RawSubject) == string(c.RawIssuer) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
	return out
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
	_, whole := leaf.Verify(opts)
	if whole == nil {
		return nil
	}
	// Look at each property on its own, so one problem does not hide another.
	var ps []CertProblem
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
