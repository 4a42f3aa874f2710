package listeners

import (
	"crypto/tls"
	"fmt"

	"go.uber.org/zap"
)

// NewTLS binds an MQTTS listener: TLS 1.2 or later over TCP, with the
// certificate, key and client authentication of cfg.TLS (required). Name
// defaults to "mqtts" and Addr to ":8883"; the port search of NewTCP
// applies. The files are loaded and checked before binding, and any problem
// fails the constructor: it never falls back to plaintext or to unverified
// clients. The files are polled every cfg.TLS.ReloadInterval and Reload
// re-reads them on demand; new handshakes get the new certificate while
// established connections stay up. Close stops the polling. log may be
// nil.
func NewTLS(cfg Config, log *zap.Logger) (*Listener, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultTLSName
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultTLSAddr
	}
	cfg.setDefaults()
	if cfg.TLS == nil {
		return nil, fmt.Errorf("listeners: %s: NewTLS needs TLS settings", cfg.Name)
	}
	tc := *cfg.TLS // the caller keeps its copy
	cfg.TLS = &tc
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	store, err := newCertStore(tc, listenerLog(log, cfg.Name))
	if err != nil {
		return nil, fmt.Errorf("listeners: %s: %w", cfg.Name, err)
	}
	ln, err := bind(cfg, log)
	if err != nil {
		return nil, err
	}
	l := newListener(cfg, log, tls.NewListener(ln, store.tlsConfig()))
	l.certs = store
	l.onClose = append(l.onClose, store.watch())
	return l, nil
}
