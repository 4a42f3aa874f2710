package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/jmqx/jmqx/aclfile"
	"github.com/jmqx/jmqx/broker"
)

// Defaults of the serve flags.
const (
	defaultMQTTAddr        = ":1883"
	defaultMQTTSAddr       = ":8883"
	defaultWSAddr          = ":1884"
	defaultWSSAddr         = ":8884"
	defaultDataDir         = "./jmqx-data"
	defaultShutdownTimeout = 10 * time.Second
	defaultTenant          = "default"
)

// serveConfig is what the serve flags say.
type serveConfig struct {
	mqttAddr        string
	mqttsAddr       string
	wsAddr          string
	wssAddr         string
	wsPath          string
	wsOrigins       []string
	tlsCert         string
	tlsKey          string
	tlsCA           string
	tlsClientAuth   string
	tlsCNUsername   bool
	fixedPorts      bool
	maxKeepAlive    int
	aclFile         string
	dataDir         string
	logLevel        string
	logFormat       string
	shutdownTimeout time.Duration
}

func serveCommand(env appEnv) *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run a broker node",
		Description: "serve runs one broker, the \"default\" tenant, on --mqtt-addr until it gets\n" +
			"SIGINT or SIGTERM; it then disconnects the clients and waits up to\n" +
			"--shutdown-timeout for them (a second signal exits at once). With no\n" +
			"authenticator configured it accepts anonymous clients, and says so in the log.",
		Flags:    append(serveFlags(), helpFlag()),
		HideHelp: true, // see newApp
		Action: func(c *cli.Context) error {
			return runServe(c.Context, env, serveConfig{
				mqttAddr:        c.String("mqtt-addr"),
				mqttsAddr:       c.String("mqtts-addr"),
				wsAddr:          c.String("ws-addr"),
				wssAddr:         c.String("wss-addr"),
				wsPath:          c.String("ws-path"),
				wsOrigins:       c.StringSlice("ws-allowed-origins"),
				tlsCert:         c.Path("tls-cert"),
				tlsKey:          c.Path("tls-key"),
				tlsCA:           c.Path("tls-ca"),
				tlsClientAuth:   c.String("tls-client-auth"),
				tlsCNUsername:   c.Bool("tls-cn-as-username"),
				fixedPorts:      c.Bool("fixed-ports"),
				maxKeepAlive:    c.Int("max-keepalive"),
				aclFile:         c.Path("acl-file"),
				dataDir:         c.Path("data-dir"),
				logLevel:        c.String("log-level"),
				logFormat:       c.String("log-format"),
				shutdownTimeout: c.Duration("shutdown-timeout"),
			})
		},
	}
}

func serveFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:    "mqtt-addr",
			Value:   defaultMQTTAddr,
			Usage:   "bind the MQTT (TCP) listener to `HOST:PORT`; port 0 picks a free port (the bound address is logged)",
			EnvVars: []string{"JMQX_MQTT_ADDR"},
		},
		&cli.StringFlag{
			Name:    "mqtts-addr",
			Value:   defaultMQTTSAddr,
			Usage:   "bind the MQTT over TLS listener to `HOST:PORT` (started only with --tls-cert); empty: off",
			EnvVars: []string{"JMQX_MQTTS_ADDR"},
		},
		&cli.StringFlag{
			Name:    "ws-addr",
			Value:   defaultWSAddr,
			Usage:   "bind the MQTT over WebSocket listener to `HOST:PORT`; empty: off",
			EnvVars: []string{"JMQX_WS_ADDR"},
		},
		&cli.StringFlag{
			Name:    "wss-addr",
			Value:   defaultWSSAddr,
			Usage:   "bind the MQTT over secure WebSocket listener to `HOST:PORT` (started only with --tls-cert); empty: off",
			EnvVars: []string{"JMQX_WSS_ADDR"},
		},
		&cli.StringFlag{
			Name:    "ws-path",
			Value:   "/mqtt",
			Usage:   "HTTP `PATH` of the WebSocket listeners",
			EnvVars: []string{"JMQX_WS_PATH"},
		},
		&cli.StringSliceFlag{
			Name:    "ws-allowed-origins",
			Usage:   "accept WebSocket upgrades only from these `ORIGINS` (comma-separated, or repeat the flag; \"*\" matches any); unset: every origin; requests without an Origin header (non-browser clients) are always accepted",
			EnvVars: []string{"JMQX_WS_ALLOWED_ORIGINS"},
		},
		&cli.PathFlag{
			Name:    "tls-cert",
			Usage:   "server certificate (chain) PEM `FILE` for MQTTS and WSS; reloaded when it changes or on SIGHUP",
			EnvVars: []string{"JMQX_TLS_CERT"},
		},
		&cli.PathFlag{
			Name:    "tls-key",
			Usage:   "private key PEM `FILE` of --tls-cert",
			EnvVars: []string{"JMQX_TLS_KEY"},
		},
		&cli.PathFlag{
			Name:    "tls-ca",
			Usage:   "CA certificates PEM `FILE` that client certificates are verified against",
			EnvVars: []string{"JMQX_TLS_CA"},
		},
		&cli.StringFlag{
			Name:    "tls-client-auth",
			Value:   "none",
			Usage:   "client certificates: `MODE` none, request (verified if given) or require",
			EnvVars: []string{"JMQX_TLS_CLIENT_AUTH"},
		},
		&cli.BoolFlag{
			Name:    "tls-cn-as-username",
			Usage:   "use a verified client certificate's common name as the user name",
			EnvVars: []string{"JMQX_TLS_CN_AS_USERNAME"},
		},
		&cli.BoolFlag{
			Name:    "fixed-ports",
			Usage:   "fail when a listener's port is busy instead of binding the next free one",
			EnvVars: []string{"JMQX_FIXED_PORTS"},
		},
		&cli.IntFlag{
			Name:    "max-keepalive",
			Usage:   "cap the keep alive clients may ask for at `SECONDS` (1-65535; MQTT 5 clients asking for more, or for 0, get it as Server Keep Alive); 0 keeps the broker default, 65535",
			EnvVars: []string{"JMQX_MAX_KEEPALIVE"},
		},
		&cli.PathFlag{
			Name:    "acl-file",
			Usage:   "enforce the topic access rules in `FILE` (Mosquitto's acl_file syntax, see README); a bad file stops start-up; unset: any client may publish and subscribe to anything",
			EnvVars: []string{"JMQX_ACL_FILE"},
		},
		&cli.PathFlag{
			Name:    "data-dir",
			Value:   defaultDataDir,
			Usage:   "keep the node's state in `DIR`, created if missing; reserved for the control plane (nothing is stored there yet)",
			EnvVars: []string{"JMQX_DATA_DIR"},
		},
		&cli.StringFlag{
			Name:    "log-level",
			Value:   "info",
			Usage:   "lowest `LEVEL` logged: debug, info, warn or error",
			EnvVars: []string{"JMQX_LOG_LEVEL"},
		},
		&cli.StringFlag{
			Name:    "log-format",
			Value:   "console",
			Usage:   "log `FORMAT`: console (human-readable) or json",
			EnvVars: []string{"JMQX_LOG_FORMAT"},
		},
		&cli.DurationFlag{
			Name:    "shutdown-timeout",
			Value:   defaultShutdownTimeout,
			Usage:   "on SIGINT or SIGTERM, wait up to `DURATION` for clients to be disconnected before closing their connections",
			EnvVars: []string{"JMQX_SHUTDOWN_TIMEOUT"},
		},
	}
}

// runServe runs the broker until ctx is done, then shuts it down.
func runServe(ctx context.Context, env appEnv, cfg serveConfig) error {
	if cfg.maxKeepAlive < 0 || cfg.maxKeepAlive > 65535 {
		return fmt.Errorf("--max-keepalive %d: want 0 (broker default) to 65535 seconds", cfg.maxKeepAlive)
	}
	if cfg.shutdownTimeout <= 0 {
		return fmt.Errorf("--shutdown-timeout %s: must be positive", cfg.shutdownTimeout)
	}
	hup := watchSIGHUP()
	defer signal.Stop(hup)
	log, err := newLogger(env.stderr, cfg.logLevel, cfg.logFormat)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	if err := os.MkdirAll(cfg.dataDir, 0o750); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	log.Info("data directory ready (reserved for the control plane)", zap.String("dir", cfg.dataDir))

	tlog := log.With(zap.String("tenant", defaultTenant))
	var hooks []any
	if cfg.aclFile != "" {
		acl, err := aclfile.Load(cfg.aclFile)
		if err != nil {
			return err
		}
		hooks = append(hooks, acl)
		tlog.Info("topic ACL loaded", zap.String("file", cfg.aclFile))
	}
	// There is no authenticator flag yet, so every client is let in.
	tlog.Warn("no authenticator configured: anonymous clients are accepted")

	specs, err := listenerSpecs(cfg)
	if err != nil {
		return err
	}
	b, err := broker.New(broker.Config{MaxKeepAlive: cfg.maxKeepAlive, CertCNAsUsername: cfg.tlsCNUsername},
		broker.WithLogger(tlog), broker.WithHooks(hooks...))
	if err != nil {
		return fmt.Errorf("tenant %q: %w", defaultTenant, err)
	}
	shutdown := func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
		defer cancel()
		if err := b.Shutdown(sctx); err != nil {
			return fmt.Errorf("tenant %q: shutdown: %w", defaultTenant, err)
		}
		return nil
	}

	ls, err := openListeners(specs, tlog)
	if err != nil {
		return errors.Join(err, shutdown())
	}
	served := make(chan error, len(ls))
	for _, l := range ls {
		go func() {
			served <- l.Serve(func(conn net.Conn) {
				if err := b.ServeConn(conn); err != nil {
					tlog.Debug("connection refused", zap.Stringer("remote", conn.RemoteAddr()), zap.Error(err))
				}
			})
		}()
		tlog.Info("listening", zap.String("listener", l.Name()), zap.Stringer("addr", l.Addr()))
	}
	for _, l := range ls {
		if env.ready != nil && l.Name() == "mqtt" {
			env.ready(l.Addr())
		}
	}
	stopReload := reloadOnSIGHUP(hup, ls, tlog)
	defer stopReload()

	var serveErr error
	select {
	case <-ctx.Done():
		tlog.Info("shutting down", zap.Duration("timeout", cfg.shutdownTimeout))
	case serveErr = <-served:
		tlog.Error("listener failed; shutting down", zap.Error(serveErr))
	}
	for _, l := range ls {
		_ = l.Close()
	}
	if err := errors.Join(serveErr, shutdown()); err != nil {
		return err
	}
	tlog.Info("stopped")
	return nil
}
