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
	if cfg.raftTLSCert == "" && cfg.raftTLSKey == "" && cfg.raftTLSCA == "" {
		return nil, nil
	}
	if cfg.raftTLSCert == "" || cfg.raftTLSKey == "" || cfg.raftTLSCA == "" {
		return nil, errors.New("--raft-tls-cert, --raft-tls-key and --raft-tls-ca go together")
	}
	pair, err := tls.LoadX509KeyPair(cfg.raftTLSCert, cfg.raftTLSKey)
	if err != nil {
		return nil, fmt.Errorf("--raft-tls-cert/--raft-tls-key: %w", err)
	}
	pool, err := loadCAPool(cfg.raftTLSCA)
	if err != nil {
		return nil, fmt.Errorf("--raft-tls-ca: %w", err)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair},
		ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, RootCAs: pool,
	}, nil
}

// watchSIGHUP starts catching SIGHUP at once, so that one arriving during
// start-up does not end the process; reloadOnSIGHUP acts on it later.
func watchSIGHUP() chan os.Signal {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup
}

// adminTLSConfig builds the admin API's TLS configuration from the
// --admin-tls-* flags (nil when none is given): its certificate, and the
// CA the other members' admin certificates are verified against.
func adminTLSConfig(cfg serveConfig) (*tls.Config, error) {
	if cfg.adminTLSCert == "" && cfg.adminTLSKey == "" && cfg.adminTLSCA == "" {
		return nil, nil
	}
	if cfg.adminTLSCert == "" || cfg.adminTLSKey == "" {
		return nil, errors.New("--admin-tls-cert and --admin-tls-key go together (--admin-tls-ca needs them)")
	}
	pair, err := tls.LoadX509KeyPair(cfg.adminTLSCert, cfg.adminTLSKey)
	if err != nil {
		return nil, fmt.Errorf("--admin-tls-cert/--admin-tls-key: %w", err)
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if cfg.adminTLSCA != "" {
		if c.RootCAs, err = loadCAPool(cfg.adminTLSCA); err != nil {
			return nil, fmt.Errorf("--admin-tls-ca: %w", err)
		}
	}
	return c, nil
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
