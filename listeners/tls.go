package listeners

import (
	"crypto/tls"
	"fmt"
	"slices"

	"go.uber.org/zap"
)

// NewTLS binds an MQTTS listener: TLS 1.2 or later over TCP, with the
// certificate, key and client authentication of cfg.TLS (required): its
// files, or its *tls.Config. Name defaults to "mqtts" and Addr to ":8883";
// the port search of NewTCP applies. The files are loaded and checked
// before binding, and any problem fails the constructor: it never falls
// back to plaintext or to unverified clients. The files are polled every
// cfg.TLS.ReloadInterval and Reload re-reads them on demand; new handshakes
// get the new certificate while established connections stay up. Close
// stops the polling. log may be nil.
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
	conf, store, err := serverTLS(tc, listenerLog(log, cfg.Name), false)
	if err != nil {
		return nil, fmt.Errorf("listeners: %s: %w", cfg.Name, err)
	}
	ln, err := bind(cfg, log)
	if err != nil {
		return nil, err
	}
	l := newListener(cfg, log, tls.NewListener(ln, conf))
	if store != nil {
		l.certs = store
		l.onClose = append(l.onClose, store.watch())
	}
	return l, nil
}

// serverTLS returns the server configuration of tc: a clone of tc.Config
// (TLS 1.2 at least; for WebSocket, HTTP/1.1 only), or the configuration of
// a certStore loading tc's files, which it also returns (not yet watched).
func serverTLS(tc TLSConfig, log *zap.Logger, webSocket bool) (*tls.Config, *certStore, error) {
	if tc.Config == nil {
		store, err := newCertStore(tc, log)
		if err != nil {
			return nil, nil, err
		}
		return store.tlsConfig(), store, nil
	}
	if err := tc.validate(); err != nil {
		return nil, nil, err
	}
	conf := tc.Config.Clone()
	if conf.MinVersion < tls.VersionTLS12 {
		conf.MinVersion = tls.VersionTLS12
	}
	if webSocket {
		conf.NextProtos = slices.DeleteFunc(slices.Clone(conf.NextProtos), func(p string) bool { return p == "h2" })
	}
	return conf, nil, nil
}
