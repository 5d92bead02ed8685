package probe_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/conndiag/conndiag/internal/probe"
	"github.com/conndiag/conndiag/internal/probe/probetest"
)

// rsaLeaf is a certificate for app.test with an RSA key of bits, signed by
// the test CA with alg.
func rsaLeaf(t *testing.T, certs *probetest.Certs, signer crypto.Signer, bits int, alg x509.SignatureAlgorithm) tls.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "app.test"},
		DNSNames: []string{"app.test"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		SignatureAlgorithm: alg,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, certs.CA, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// rsaCA is a CA with an RSA key (ECDSA cannot sign with SHA1-RSA).
func rsaCA(t *testing.T) (*probetest.Certs, crypto.Signer) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "conndiag RSA test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	c := &probetest.Certs{CA: ca, Pool: x509.NewCertPool()}
	c.Pool.AddCert(ca)
	return c, key
}

// serveGoTLS runs a Go TLS server with cfg that answers nothing.
func serveGoTLS(t *testing.T, cfg *tls.Config) net.Listener {
	ln := probetest.Listen(t)
	probetest.Serve(t, ln, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		tc.SetDeadline(time.Now().Add(wait))
		if tc.Handshake() == nil {
			var b [1]byte
			tc.Read(b[:]) // a TLS 1.3 server checks the client's certificate here
		}
	})
	return ln
}

// What an obsolete server offers is found by a second handshake, only when
// the first was refused the way such a server refuses it.
func TestTLSObsoleteServer(t *testing.T) {
	ctx := context.Background()
	ca, caKey := rsaCA(t)
	good := rsaLeaf(t, ca, caKey, 2048, x509.SHA256WithRSA)
	tests := []struct {
		name          string
		cfg           *tls.Config
		alert         string
		version, suit string
	}{
		{"TLS 1.1 only", &tls.Config{Certificates: []tls.Certificate{good}, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11},
			"protocol version not supported", "TLS 1.1", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"},
		{"TLS 1.0 only", &tls.Config{Certificates: []tls.Certificate{good}, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10},
			"protocol version not supported", "TLS 1.0", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"},
		{"3DES only", &tls.Config{Certificates: []tls.Certificate{good}, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}},
			"handshake failure", "TLS 1.2", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"},
		{"RSA key exchange only", &tls.Config{Certificates: []tls.Certificate{good}, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}},
			"handshake failure", "TLS 1.2", "TLS_RSA_WITH_AES_128_GCM_SHA256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := serveGoTLS(t, tt.cfg)
			cfg := probe.TLSConfig{ServerName: "app.test", Roots: ca.Pool}
			res, tc := probe.TLSHandshake(ctx, dial(t, ln), deadline(), cfg)
			if tc != nil || res.Done || res.Alert != tt.alert {
				t.Fatalf("the verdict handshake must fail with %q: %+v", tt.alert, res)
			}
			if !probe.WantLegacy(res) {
				t.Fatalf("want the second handshake after %v", res.Err)
			}
			old := probe.LegacyHandshake(ctx, dialer(ln), deadline(), cfg)
			if !old.Done || old.Version != tt.version || old.Cipher != tt.suit {
				t.Fatalf("legacy handshake: %+v, want %s %s", old, tt.version, tt.suit)
			}
			if len(old.Chain) != 1 || old.Chain[0].KeyAlg != "RSA" || old.Chain[0].KeyBits != 2048 || old.Chain[0].SigAlg != "SHA256-RSA" {
				t.Errorf("chain evidence: %+v", old.Chain)
			}
		})
	}

	// A current server: no second handshake.
	ln := serveGoTLS(t, &tls.Config{Certificates: []tls.Certificate{good}})
	res, tc := probe.TLSHandshake(ctx, dial(t, ln), deadline(), probe.TLSConfig{ServerName: "app.test", Roots: ca.Pool})
	if tc == nil || !res.Done || res.Version != "TLS 1.3" || probe.WantLegacy(res) || len(res.Problems) != 0 {
		t.Fatalf("current server: %+v", res)
	}
	tc.Close()
	// A server that refuses with another alert: no second handshake.
	ln = serveGoTLS(t, &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return nil, errNoName
	}})
	res, _ = probe.TLSHandshake(ctx, dial(t, ln), deadline(), probe.TLSConfig{ServerName: "app.test"})
	if res.Alert != "internal error" || probe.WantLegacy(res) {
		t.Fatalf("internal error alert: %+v", res)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

const errNoName = errString("no certificate for that name")

// SHA-1 signatures and short RSA keys are listed as weak, not as untrusted.
func TestTLSWeakCertificate(t *testing.T) {
	ctx := context.Background()
	ca, caKey := rsaCA(t)
	tests := []struct {
		name string
		cert tls.Certificate
		want []probe.Problem
	}{
		{"SHA-1 signature", rsaLeaf(t, ca, caKey, 2048, x509.SHA1WithRSA), []probe.Problem{probe.WeakSignature}},
		{"RSA 1024", rsaLeaf(t, ca, caKey, 1024, x509.SHA256WithRSA), []probe.Problem{probe.WeakKey}},
		{"both", rsaLeaf(t, ca, caKey, 1024, x509.SHA1WithRSA), []probe.Problem{probe.WeakSignature, probe.WeakKey}},
		{"neither", rsaLeaf(t, ca, caKey, 2048, x509.SHA256WithRSA), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := serveGoTLS(t, &tls.Config{Certificates: []tls.Certificate{tt.cert}})
			res, tc := probe.TLSHandshake(ctx, dial(t, ln), deadline(), probe.TLSConfig{ServerName: "app.test", Roots: ca.Pool})
			if tc == nil {
				t.Fatalf("handshake: %v", res.Err)
			}
			tc.Close()
			var got []probe.Problem
			for _, p := range res.Problems {
				got = append(got, p.Kind)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("problems %v (%+v), want %v", got, res.Problems, tt.want)
			}
		})
	}
}

// A server that asks for a client certificate is seen asking, and its
// refusal is seen whether it comes in the handshake (TLS 1.2) or after it
// (TLS 1.3).
func TestTLSClientCertificate(t *testing.T) {
	ctx := context.Background()
	certs := probetest.NewCerts(t)
	cfg := func(auth tls.ClientAuthType, max uint16) *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{certs.Good}, ClientAuth: auth, ClientCAs: certs.Pool, MaxVersion: max}
	}
	tests := []struct {
		name       string
		server     *tls.Config
		linger     time.Duration
		done       bool
		alert      string
		late       string
		requested  bool
		acceptedCA string
	}{
		{"TLS 1.3 requires, linger", cfg(tls.RequireAndVerifyClientCert, 0), wait, true, "", "certificate required", true, "CN=conndiag test CA"},
		{"TLS 1.3 requires, no linger", cfg(tls.RequireAndVerifyClientCert, 0), 0, true, "", "", true, "CN=conndiag test CA"},
		{"TLS 1.2 requires", cfg(tls.RequireAndVerifyClientCert, tls.VersionTLS12), wait, false, "handshake failure", "", true, "CN=conndiag test CA"},
		{"TLS 1.3 optional", cfg(tls.VerifyClientCertIfGiven, 0), 300 * time.Millisecond, true, "", "", true, "CN=conndiag test CA"},
		{"does not ask", cfg(tls.NoClientCert, 0), wait, true, "", "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := serveGoTLS(t, tt.server)
			res, tc := probe.TLSHandshake(ctx, dial(t, ln), deadline(), probe.TLSConfig{ServerName: "app.test", Roots: certs.Pool, Linger: tt.linger})
			if tc != nil {
				tc.Close()
			}
			if res.Done != tt.done || res.Alert != tt.alert || res.LateAlert != tt.late || res.CertRequested != tt.requested {
				t.Fatalf("done %v alert %q late %q requested %v; want %v %q %q %v (%v)",
					res.Done, res.Alert, res.LateAlert, res.CertRequested, tt.done, tt.alert, tt.late, tt.requested, res.Err)
			}
			if tt.late != "" && tc != nil {
				t.Errorf("a handshake refused after it completed must not be handed on")
			}
			if tt.acceptedCA != "" && !slices.Contains(res.CertCAs, tt.acceptedCA) {
				t.Errorf("accepted issuers %q, want %q", res.CertCAs, tt.acceptedCA)
			}
			if probe.WantLegacy(res) {
				t.Errorf("a client-certificate refusal is no reason for a legacy handshake")
			}
		})
	}
}
