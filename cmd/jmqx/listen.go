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
	if cfg.tlsCert == "" && (cfg.tlsCA != "" || cfg.tlsClientAuth != "none") {
		return nil, errors.New("--tls-ca and --tls-client-auth need --tls-cert and --tls-key")
	}
	var tlsCfg *listeners.TLSConfig
	if cfg.tlsCert != "" {
		tlsCfg = &listeners.TLSConfig{CertFile: cfg.tlsCert, KeyFile: cfg.tlsKey, CAFile: cfg.tlsCA, ClientAuth: cfg.tlsClientAuth}
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
// fails.
func openListeners(specs []listenerSpec, log *zap.Logger) ([]*listeners.Listener, error) {
	var ls []*listeners.Listener
	for _, sp := range specs {
		var (
			l   *listeners.Listener
			err error
		)
		switch sp.kind {
		case "tcp":
			l, err = listeners.NewTCP(sp.cfg, log)
		case "tls":
			l, err = listeners.NewTLS(sp.cfg, log)
		case "ws":
			l, err = listeners.NewWebSocket(sp.cfg, log)
		}
		if err != nil {
			for _, o := range ls {
				_ = o.Close()
			}
			return nil, fmt.Errorf("listener %s: %w", sp.cfg.Name, err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// reloadOnSIGHUP reloads the listeners' certificates on SIGHUP until the
// returned function is called.
func reloadOnSIGHUP(ls []*listeners.Listener, log *zap.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hup:
				for _, l := range ls {
					if l.Name() != "mqtts" && l.Name() != "wss" {
						continue
					}
					if err := l.Reload(); err != nil {
						log.Error("certificate reload failed; keeping the current certificate", zap.String("listener", l.Name()), zap.Error(err))
					} else {
						log.Info("certificates reloaded", zap.String("listener", l.Name()))
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
