package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/listeners"
)

// listenerSpec is one listener serve opens.
type listenerSpec struct {
	kind string // "tcp", "tls" or "ws"
	cfg  listeners.Config
}

// listenerSpecs turns the listener flags into the listeners to open: an
// empty address turns a listener off, and the secure ones need --tls-cert.
func listenerSpecs(cfg serveConfig) ([]listenerSpec, error) {
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
	var tlsCfg *listeners.TLSConfig
	if cfg.tlsCert != "" {
		tlsCfg = &listeners.TLSConfig{CertFile: cfg.tlsCert, KeyFile: cfg.tlsKey, CAFile: cfg.tlsCA, ClientAuth: auth}
	}
	base := func(name, addr string) listeners.Config {
		return listeners.Config{Name: name, Addr: addr, FixedPort: cfg.fixedPorts,
			WebSocket: listeners.WebSocketConfig{Path: cfg.wsPath, AllowedOrigins: cfg.wsOrigins}}
	}
	var specs []listenerSpec
	if cfg.mqttAddr != "" {
		specs = append(specs, listenerSpec{"tcp", base("mqtt", cfg.mqttAddr)})
	}
	if cfg.wsAddr != "" {
		specs = append(specs, listenerSpec{"ws", base("ws", cfg.wsAddr)})
	}
	if tlsCfg != nil {
		if cfg.mqttsAddr != "" {
			c := base("mqtts", cfg.mqttsAddr)
			c.TLS = tlsCfg
			specs = append(specs, listenerSpec{"tls", c})
		}
		if cfg.wssAddr != "" {
			c := base("wss", cfg.wssAddr)
			c.TLS = tlsCfg
			specs = append(specs, listenerSpec{"ws", c})
		}
	}
	if len(specs) == 0 {
		return nil, errors.New("every listener is turned off: give at least one of --mqtt-addr, --ws-addr, or --tls-cert with --mqtts-addr or --wss-addr")
	}
	return specs, nil
}

// openListeners binds every listener, closing those already bound if one
// fails. Listeners whose port is free are bound first, so that a busy
// port's search for the next free one cannot take a sibling's port.
func openListeners(specs []listenerSpec, log *zap.Logger) ([]*listeners.Listener, error) {
	ls := make([]*listeners.Listener, len(specs))
	closeAll := func() {
		for _, l := range ls {
			if l != nil {
				_ = l.Close()
			}
		}
	}
	for pass := 0; pass < 2; pass++ {
		for i, sp := range specs {
			if ls[i] != nil {
				continue
			}
			cfg := sp.cfg
			if pass == 0 {
				cfg.FixedPort = true
			}
			l, err := openListener(sp.kind, cfg, log)
			if err != nil {
				if pass == 0 && !sp.cfg.FixedPort && errors.Is(err, syscall.EADDRINUSE) {
					continue // searched for in the second pass
				}
				closeAll()
				return nil, fmt.Errorf("listener %s: %w", sp.cfg.Name, err)
			}
			ls[i] = l
		}
	}
	return ls, nil
}

func openListener(kind string, cfg listeners.Config, log *zap.Logger) (*listeners.Listener, error) {
	switch kind {
	case "tls":
		return listeners.NewTLS(cfg, log)
	case "ws":
		return listeners.NewWebSocket(cfg, log)
	default:
		return listeners.NewTCP(cfg, log)
	}
}

// watchSIGHUP starts catching SIGHUP at once, so that one arriving during
// start-up does not end the process; reloadOnSIGHUP acts on it later.
func watchSIGHUP() chan os.Signal {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup
}

// reloadOnSIGHUP reloads the listeners' certificates on each SIGHUP from hup
// until the returned function is called.
func reloadOnSIGHUP(hup chan os.Signal, ls []*listeners.Listener, log *zap.Logger) (stop func()) {
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				for _, l := range ls {
					if l.Name() != "mqtts" && l.Name() != "wss" {
						continue
					}
					if err := l.Reload(); err != nil { // the listener logs success
						log.Error("certificate reload failed; keeping the current certificate", zap.String("listener", l.Name()), zap.Error(err))
					}
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
