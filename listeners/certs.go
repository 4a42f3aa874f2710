package listeners

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// DefaultReloadInterval is TLSConfig.ReloadInterval's default.
const DefaultReloadInterval = 10 * time.Second

// certStore holds a listener's current TLS material (server certificate,
// client CA pool) loaded from the files of a TLSConfig, and swaps it on
// reload. Handshakes read the current material without locking; existing
// connections keep the material they were established with.
type certStore struct {
	cfg        TLSConfig
	clientAuth tls.ClientAuthType
	log        *zap.Logger

	cur atomic.Pointer[certMaterial] // never nil after newCertStore

	mu   sync.Mutex  // serializes reload; guards seen
	seen []fileStamp // the files as of the last load attempt
}

// certMaterial is one loaded generation of TLS material.
type certMaterial struct {
	config *tls.Config // served to each handshake by GetConfigForClient
	leaf   *x509.Certificate
}

// fileStamp is what the watcher compares to notice a changed file.
type fileStamp struct {
	path  string
	size  int64
	mtime time.Time
	err   string // the Stat error, so a vanished file also counts as a change
}

// newCertStore loads and validates the files of cfg: the certificate chain,
// its key (which must match) and, when ClientAuth is "request" or "require",
// the CA file (required then; ignored with "none"). Any problem is an error
// naming the file, so start-up fails rather than serving plaintext or
// accepting unverified clients. Errors carry no "listeners: <name>:" prefix;
// constructors add it. log is used as given (pass listenerLog(log, name));
// nil means no logging.
func newCertStore(cfg TLSConfig, log *zap.Logger) (*certStore, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = DefaultReloadInterval
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	auth, _ := parseClientAuth(cfg.ClientAuth) // checked by validate
	s := &certStore{cfg: cfg, clientAuth: auth, log: log}
	if auth == tls.NoClientCert && cfg.CAFile != "" {
		log.Warn("ca_file ignored: client_auth is none", zap.String("ca_file", cfg.CAFile))
	}
	s.seen = s.stamps()
	m, err := s.load()
	if err != nil {
		return nil, err
	}
	s.cur.Store(m)
	log.Info("certificate loaded", certFields(m.leaf)...)
	return s, nil
}

// tlsConfig returns the server configuration to wrap a listener with:
// TLS 1.2 at least, and a GetConfigForClient that serves the material
// current at each handshake, so a reload applies to new connections while
// established ones stay up. Session resumption re-checks client chains
// against the current CA pool (crypto/tls does), so a CA rotation is not
// bypassed by resuming. Each call returns a new *tls.Config.
func (s *certStore) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ClientAuth: s.clientAuth,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.cur.Load().config, nil
		},
	}
}

// reload re-reads the files. On success new handshakes use the new
// material; on error the previous material stays in use and the error is
// logged and returned. It may block on file I/O and is safe for concurrent
// use.
func (s *certStore) reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = s.stamps()
	m, err := s.load()
	if err != nil {
		s.log.Error("certificate reload failed; keeping the previous certificate", zap.Error(err))
		return err
	}
	s.cur.Store(m)
	s.log.Info("certificate reloaded", certFields(m.leaf)...)
	return nil
}

// watch polls the files' sizes and modification times every
// cfg.ReloadInterval and reloads when one changed (a failed reload is
// retried only after a further change). A negative interval disables
// polling. stop ends the goroutine and waits for it; it is idempotent.
func (s *certStore) watch() (stop func()) {
	if s.cfg.ReloadInterval < 0 {
		return func() {}
	}
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(s.cfg.ReloadInterval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				if s.changed() {
					_ = s.reload() // logged by reload
				}
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-done
	}
}

// changed reports whether the files differ from the last load attempt.
func (s *certStore) changed() bool {
	now := s.stamps()
	s.mu.Lock()
	defer s.mu.Unlock()
	return !slices.Equal(now, s.seen)
}

// files lists the files the material is read from.
func (s *certStore) files() []string {
	f := []string{s.cfg.CertFile, s.cfg.KeyFile}
	if s.clientAuth != tls.NoClientCert {
		f = append(f, s.cfg.CAFile)
	}
	return f
}

func (s *certStore) stamps() []fileStamp {
	var out []fileStamp
	for _, path := range s.files() {
		st := fileStamp{path: path}
		if fi, err := os.Stat(path); err != nil {
			st.err = err.Error()
		} else {
			st.size, st.mtime = fi.Size(), fi.ModTime()
		}
		out = append(out, st)
	}
	return out
}

// load reads and checks every file and builds the per-handshake config.
func (s *certStore) load() (*certMaterial, error) {
	certPEM, err := os.ReadFile(s.cfg.CertFile)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", s.cfg.CertFile, err)
	}
	chain, err := parseCerts(certPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", s.cfg.CertFile, err)
	}
	keyPEM, err := os.ReadFile(s.cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", s.cfg.KeyFile, err)
	}
	if !hasPEMKey(keyPEM) {
		return nil, fmt.Errorf("key %s: no PEM private key found", s.cfg.KeyFile)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("key %s for certificate %s: %w", s.cfg.KeyFile, s.cfg.CertFile, err)
	}
	leaf := chain[0]
	if now := time.Now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		s.log.Warn("certificate not valid now", append(certFields(leaf),
			zap.String("cert_file", s.cfg.CertFile), zap.Time("not_before", leaf.NotBefore))...)
	}
	conf := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		ClientAuth:   s.clientAuth,
	}
	if s.clientAuth != tls.NoClientCert {
		caPEM, err := os.ReadFile(s.cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA %s: %w", s.cfg.CAFile, err)
		}
		cas, err := parseCerts(caPEM)
		if err != nil {
			return nil, fmt.Errorf("CA %s: %w", s.cfg.CAFile, err)
		}
		pool := x509.NewCertPool()
		for _, c := range cas {
			pool.AddCert(c)
		}
		conf.ClientCAs = pool
	}
	return &certMaterial{config: conf, leaf: leaf}, nil
}

// parseCerts decodes every CERTIFICATE block of a PEM file; it fails when
// there is none or one does not parse.
func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}

// hasPEMKey reports whether data holds a PEM "... PRIVATE KEY" block.
func hasPEMKey(data []byte) bool {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return false
		}
		if strings.HasSuffix(block.Type, "PRIVATE KEY") {
			return true
		}
	}
}

// parseClientAuth maps TLSConfig.ClientAuth to crypto/tls's setting.
func parseClientAuth(s string) (tls.ClientAuthType, error) {
	switch s {
	case "", "none":
		return tls.NoClientCert, nil
	case "request":
		return tls.VerifyClientCertIfGiven, nil
	case "require":
		return tls.RequireAndVerifyClientCert, nil
	}
	return 0, fmt.Errorf(`tls: client_auth %q: want "none", "request" or "require"`, s)
}

func certFields(leaf *x509.Certificate) []zap.Field {
	return []zap.Field{
		zap.String("subject", leaf.Subject.String()),
		zap.String("serial", leaf.SerialNumber.String()),
		zap.Time("not_after", leaf.NotAfter),
	}
}
