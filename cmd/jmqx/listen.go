package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/tenant"
)

// tlsMaterial checks the TLS flags and returns the node's default TLS
// material for the tenants' MQTTS and WSS listeners (nil without a
// certificate).
func tlsMaterial(cfg serveConfig) (*tenant.TLS, error) {
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	auth := cfg.tlsClientAuth
	if auth == "" {
		auth = "none" // an empty JMQX_TLS_CLIENT_AUTH means the default
	}
	if cfg.tlsCert == "" && (cfg.tlsCA != "" || auth != "none") {
		return nil, errors.New("--tls-ca and --tls-client-auth need --tls-cert and --tls-key")
	}
	if cfg.tlsCA != "" && auth == "none" {
		return nil, errors.New("--tls-ca needs --tls-client-auth request or require: with none, client certificates are not checked")
	}
	if cfg.tlsCert == "" {
		return nil, nil
	}
	for _, f := range []string{cfg.tlsCert, cfg.tlsKey, cfg.tlsCA} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("TLS file: %w", err)
		}
	}
	return &tenant.TLS{CertFile: cfg.tlsCert, KeyFile: cfg.tlsKey, CAFile: cfg.tlsCA, ClientAuth: auth}, nil
}

// raftTLSConfig builds the mutual TLS configuration of Raft traffic from
// the --raft-tls-* flags (nil when none is given).
func raftTLSConfig(cfg serveConfig) (*tls.Config, error) {
	c, err := tlsFromFlags("raft", cfg.raftTLSCert, cfg.raftTLSKey, cfg.raftTLSCA, true)
	if c != nil { // mutual: peers present certificates from the same CA
		c.ClientCAs, c.ClientAuth = c.RootCAs, tls.RequireAndVerifyClientCert
	}
	return c, err
}

// adminTLSConfig builds the admin API's TLS configuration from the
// --admin-tls-* flags (nil when none is given): its certificate, and the
// CA the other members' admin certificates are verified against (default:
// the system's).
func adminTLSConfig(cfg serveConfig) (*tls.Config, error) {
	return tlsFromFlags("admin", cfg.adminTLSCert, cfg.adminTLSKey, cfg.adminTLSCA, false)
}

// tlsFromFlags loads the --NAME-tls-cert, --NAME-tls-key and --NAME-tls-ca
// files into a TLS 1.2+ configuration with the certificate and, as
// RootCAs, the CA (required when needCA). It returns nil when none is set.
func tlsFromFlags(name, cert, key, ca string, needCA bool) (*tls.Config, error) {
	if cert == "" && key == "" && ca == "" {
		return nil, nil
	}
	if cert == "" || key == "" || (needCA && ca == "") {
		if needCA {
			return nil, fmt.Errorf("--%[1]s-tls-cert, --%[1]s-tls-key and --%[1]s-tls-ca go together", name)
		}
		return nil, fmt.Errorf("--%[1]s-tls-cert and --%[1]s-tls-key go together (--%[1]s-tls-ca needs them)", name)
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("--%[1]s-tls-cert/--%[1]s-tls-key: %[2]w", name, err)
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if ca != "" {
		if c.RootCAs, err = loadCAPool(ca); err != nil {
			return nil, fmt.Errorf("--%s-tls-ca: %w", name, err)
		}
	}
	return c, nil
}

// watchSIGHUP starts catching SIGHUP at once, so that one arriving during
// start-up does not end the process; reloadOnSIGHUP acts on it later.
func watchSIGHUP() chan os.Signal {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup
}

// reloadOnSIGHUP reloads the tenants' certificates on each SIGHUP from hup
// until the returned function is called.
func reloadOnSIGHUP(hup chan os.Signal, h *tenant.Host, log *zap.Logger) (stop func()) {
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				if err := h.ReloadCertificates(); err != nil { // the listeners log success
					log.Error("certificate reload failed; keeping the current certificate", zap.Error(err))
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}
