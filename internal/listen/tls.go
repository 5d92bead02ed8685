package listen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"time"

	"github.com/conndiag/conndiag/internal/host"
)

// CertError is a --cert/--key pair that cannot be used.
type CertError struct{ Err error }

func (e *CertError) Error() string { return "TLS certificate: " + e.Err.Error() }
func (e *CertError) Unwrap() error { return e.Err }

// tlsConfig loads cfg.Cert/Key, or makes a self-signed certificate for the
// names and addresses clients are likely to use.
func tlsConfig(cfg Config, eps []*endpoint) (*tls.Config, *CertInfo, error) {
	var cert tls.Certificate
	selfSigned := cfg.Cert == nil && cfg.Key == nil
	if selfSigned {
		var err error
		if cert, err = selfSign(eps); err != nil {
			return nil, nil, err
		}
	} else {
		var err error
		if cert, err = tls.X509KeyPair(cfg.Cert, cfg.Key); err != nil {
			return nil, nil, &CertError{err}
		}
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, nil, &CertError{err}
	}
	cert.Leaf = leaf
	info := &CertInfo{SelfSigned: selfSigned, Fingerprint: Fingerprint(leaf.Raw),
		Subject: leaf.Subject.String(), NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter}
	info.Names = append(info.Names, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		info.Names = append(info.Names, ip.String())
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, info, nil
}

// Fingerprint is the SHA-256 of a DER certificate as openssl prints it
// (openssl x509 -noout -fingerprint -sha256).
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

func selfSign(eps []*endpoint) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "conndiag listen (self-signed)"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
	seen := map[string]bool{"127.0.0.1": true, "::1": true}
	addIP := func(ip net.IP) {
		if !seen[ip.String()] {
			seen[ip.String()] = true
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		}
	}
	if addrs, err := host.LocalAddrs(); err == nil {
		for _, a := range addrs {
			if ip := a.Prefix.Addr(); !ip.IsLinkLocalUnicast() {
				addIP(ip.AsSlice())
			}
		}
	}
	for _, ep := range eps {
		if a := ep.addr.Addr(); a.IsValid() && !a.IsUnspecified() {
			addIP(a.AsSlice())
		}
		if ep.Host != "" && net.ParseIP(ep.Host) == nil && !seen[ep.Host] {
			seen[ep.Host] = true
			tmpl.DNSNames = append(tmpl.DNSNames, ep.Host)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
