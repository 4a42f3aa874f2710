// Package certgen makes a throwaway certificate authority and a server and a
// client certificate signed by it, for development and tests: "jmqx cert"
// writes them to files, and tests use them in memory, as in
//
//	b, err := certgen.Generate(certgen.Options{Hosts: []string{"127.0.0.1"}})
//	srv := tls.Server(conn, b.ServerConfig(tls.RequireAndVerifyClientCert))
//
// The keys are ECDSA P-256. Nothing here is meant for production: the CA
// can sign certificates for any name, so never make ca.pem a trusted root
// beyond the clients that talk to a development broker.
//
// certgen imports only the standard library.
package certgen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"time"
)

// Defaults of Options.
const (
	// DefaultClientCN is the client certificate's common name when
	// Options.ClientCN is empty.
	DefaultClientCN = "jmqx-client"
	// DefaultValidity is how long the certificates are valid when
	// Options.Validity is zero.
	DefaultValidity = 365 * 24 * time.Hour
)

// backdate is how far before Options.NotBefore's default, now, the
// certificates become valid, so that peers with slightly slow clocks accept
// them at once.
const backdate = 5 * time.Minute

// caCommonName is the subject of the generated CA.
const caCommonName = "jmqx development CA"

// ErrBadOptions is wrapped by the errors Generate returns for unusable Options.
var ErrBadOptions = errors.New("certgen: bad options")

// DefaultHosts returns the server certificate's names when Options.Hosts is
// empty: localhost, 127.0.0.1 and ::1. Each call returns a new slice.
func DefaultHosts() []string { return []string{"localhost", "127.0.0.1", "::1"} }

// Options says what Generate makes. The zero value is usable.
type Options struct {
	// Hosts are the names the server certificate is valid for: each is a
	// DNS name ("localhost", "*.example.com") or an IP address ("127.0.0.1",
	// "::1" or "[::1]"), never with a port. Duplicates are dropped.
	// Default: DefaultHosts().
	Hosts []string
	// ClientCN is the client certificate's subject common name, which a
	// broker may take as the client's user name. Default: DefaultClientCN.
	ClientCN string
	// Validity is how long the three certificates are valid from NotBefore.
	// Default: DefaultValidity (365 days).
	Validity time.Duration
	// NotBefore is when the certificates become valid; set it in the past,
	// with a short Validity, to test expired certificates. Default: five
	// minutes ago.
	NotBefore time.Time
}

// Pair is one certificate with its private key, parsed and PEM-encoded.
type Pair struct {
	Cert    *x509.Certificate
	Key     *ecdsa.PrivateKey
	CertPEM []byte // "CERTIFICATE" block
	KeyPEM  []byte // PKCS #8 "PRIVATE KEY" block
}

// TLS returns p as a certificate for a tls.Config, with its Leaf set.
func (p *Pair) TLS() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{p.Cert.Raw}, PrivateKey: p.Key, Leaf: p.Cert}
}

// Bundle is a generated CA with a server and a client certificate it signed.
// Its fields must not be modified; a Bundle is safe for concurrent use.
type Bundle struct {
	// CA is self-signed, may sign certificates (and nothing else) and has
	// no intermediates below it.
	CA Pair
	// Server has the server-auth extended key usage and the hosts as
	// subject alternative names; its common name is the first host.
	Server Pair
	// Client has the client-auth extended key usage and the ClientCN.
	Client Pair
	// Hosts are the server certificate's names, cleaned and in the order
	// given.
	Hosts []string
}

// Generate makes a new CA and the server and client certificates it signs,
// with fresh keys. It fails only on bad options (wrapping ErrBadOptions)
// or if the system's random source fails.
func Generate(opts Options) (*Bundle, error) {
	hosts := opts.Hosts
	if len(hosts) == 0 {
		hosts = DefaultHosts()
	}
	dnsNames, ips, cleaned, err := splitHosts(hosts)
	if err != nil {
		return nil, err
	}
	clientCN := opts.ClientCN
	if clientCN == "" {
		clientCN = DefaultClientCN
	}
	validity := opts.Validity
	if validity == 0 {
		validity = DefaultValidity
	}
	if validity < 0 {
		return nil, fmt.Errorf("%w: validity %s: must be positive", ErrBadOptions, validity)
	}
	notBefore := opts.NotBefore
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-backdate)
	}
	notBefore = notBefore.UTC().Truncate(time.Second)
	notAfter := notBefore.Add(validity)

	b := &Bundle{Hosts: cleaned}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: caCommonName, Organization: []string{"jmqx development"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	if b.CA, err = newPair(caTmpl, nil); err != nil {
		return nil, fmt.Errorf("certgen: CA: %w", err)
	}
	serverTmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cleaned[0]},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    dnsNames,
		IPAddresses: ips,
	}
	if b.Server, err = newPair(serverTmpl, &b.CA); err != nil {
		return nil, fmt.Errorf("certgen: server certificate: %w", err)
	}
	clientTmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: clientCN},
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if b.Client, err = newPair(clientTmpl, &b.CA); err != nil {
		return nil, fmt.Errorf("certgen: client certificate %q: %w", clientCN, err)
	}
	return b, nil
}

// ServerTLS returns the server certificate for tls.Config.Certificates.
func (b *Bundle) ServerTLS() tls.Certificate { return b.Server.TLS() }

// ClientTLS returns the client certificate for tls.Config.Certificates.
func (b *Bundle) ClientTLS() tls.Certificate { return b.Client.TLS() }

// CAPool returns a new pool holding only the CA, for tls.Config.RootCAs
// (clients) or ClientCAs (servers).
func (b *Bundle) CAPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(b.CA.Cert)
	return pool
}

// ServerConfig returns a new TLS 1.2+ server configuration presenting the
// server certificate and verifying client certificates against the CA as
// auth says (tls.RequireAndVerifyClientCert for mutual TLS,
// tls.NoClientCert for plain TLS).
func (b *Bundle) ServerConfig(auth tls.ClientAuthType) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{b.ServerTLS()},
		ClientCAs:    b.CAPool(),
		ClientAuth:   auth,
		MinVersion:   tls.VersionTLS12,
	}
}

// ClientConfig returns a new TLS 1.2+ client configuration that trusts only
// the CA, expects the server to be serverName (one of the Hosts), and
// presents the client certificate if the server asks for one.
func (b *Bundle) ClientConfig(serverName string) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{b.ClientTLS()},
		RootCAs:      b.CAPool(),
		ServerName:   serverName,
		MinVersion:   tls.VersionTLS12,
	}
}

// newPair makes a key and a certificate from tmpl signed by parent, or
// self-signed if parent is nil.
func newPair(tmpl *x509.Certificate, parent *Pair) (Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, fmt.Errorf("generate key: %w", err)
	}
	// RFC 5280 allows up to 20 octets; 128 random bits are plenty.
	tmpl.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return Pair{}, fmt.Errorf("serial number: %w", err)
	}
	signerCert, signerKey := tmpl, key
	if parent != nil {
		signerCert, signerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signerKey)
	if err != nil {
		return Pair{}, fmt.Errorf("sign: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Pair{}, fmt.Errorf("parse: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Pair{}, fmt.Errorf("encode key: %w", err)
	}
	return Pair{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
	}, nil
}

// splitHosts sorts hosts into DNS names and IP addresses, dropping
// duplicates, and returns them cleaned in their order.
func splitHosts(hosts []string) (dnsNames []string, ips []net.IP, cleaned []string, err error) {
	for _, h := range hosts {
		name := strings.TrimSpace(h)
		if unbracketed, ok := strings.CutPrefix(name, "["); ok {
			name, _ = strings.CutSuffix(unbracketed, "]")
		}
		if ip := net.ParseIP(name); ip != nil {
			if slices.ContainsFunc(ips, ip.Equal) {
				continue
			}
			ips = append(ips, ip)
			cleaned = append(cleaned, ip.String())
			continue
		}
		name = strings.ToLower(strings.TrimSuffix(name, "."))
		if err := checkDNSName(name); err != nil {
			return nil, nil, nil, fmt.Errorf("%w: host %q: %v", ErrBadOptions, h, err)
		}
		if slices.Contains(dnsNames, name) {
			continue
		}
		dnsNames = append(dnsNames, name)
		cleaned = append(cleaned, name)
	}
	return dnsNames, ips, cleaned, nil
}

// checkDNSName reports why name cannot be a DNS subject alternative name:
// letters, digits, '-' and '_' in dot-separated labels, the first of which
// may be "*".
func checkDNSName(name string) error {
	if name == "" {
		return errors.New("empty; want a DNS name or an IP address")
	}
	if strings.Contains(name, ":") {
		return errors.New("not an IP address, and a DNS name has no port")
	}
	if len(name) > 253 {
		return errors.New("DNS name longer than 253 characters")
	}
	for i, label := range strings.Split(name, ".") {
		switch {
		case label == "*" && i == 0 && strings.Contains(name, "."):
			continue
		case label == "":
			return errors.New("empty DNS label")
		case len(label) > 63:
			return fmt.Errorf("DNS label %q longer than 63 characters", label)
		}
		for _, r := range label {
			if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("%q cannot be in a DNS name", r)
			}
		}
	}
	return nil
}
