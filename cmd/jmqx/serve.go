package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/jmqx/jmqx/aclfile"
	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/listeners"
)

// Defaults of the serve flags.
const (
	defaultMQTTAddr        = ":1883"
	defaultDataDir         = "./jmqx-data"
	defaultShutdownTimeout = 10 * time.Second
	defaultTenant          = "default"
)

// serveConfig is what the serve flags say.
type serveConfig struct {
	mqttAddr        string
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

	b, err := broker.New(broker.Config{MaxKeepAlive: cfg.maxKeepAlive},
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

	l, err := listeners.NewTCP(listeners.Config{Name: "mqtt", Addr: cfg.mqttAddr}, tlog)
	if err != nil {
		return errors.Join(err, shutdown())
	}
	served := make(chan error, 1)
	go func() {
		served <- l.Serve(func(conn net.Conn) {
			if err := b.ServeConn(conn); err != nil {
				tlog.Debug("connection refused", zap.Stringer("remote", conn.RemoteAddr()), zap.Error(err))
			}
		})
	}()
	tlog.Info("listening", zap.String("listener", l.Name()), zap.Stringer("addr", l.Addr()))
	if env.ready != nil {
		env.ready(l.Addr())
	}

	var serveErr error
	select {
	case <-ctx.Done():
		tlog.Info("shutting down", zap.Duration("timeout", cfg.shutdownTimeout))
		_ = l.Close()
		serveErr = <-served
	case serveErr = <-served:
		tlog.Error("listener failed; shutting down", zap.Error(serveErr))
		_ = l.Close()
	}
	if err := errors.Join(serveErr, shutdown()); err != nil {
		return err
	}
	tlog.Info("stopped")
	return nil
}
