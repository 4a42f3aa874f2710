package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/jmqx/jmqx/aclfile"
	"github.com/jmqx/jmqx/admin"
	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/bytesize"
	"github.com/jmqx/jmqx/node"
	"github.com/jmqx/jmqx/tenant"
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
	defaultMemoryBudget    = "2GiB" // tenant.DefaultMemoryBudget
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
	persistence     string // the default tenant's limits.persistence
	aclFile         string
	dataDir         string
	logLevel        string
	logFormat       string
	shutdownTimeout time.Duration
	nodeID          string
	adminAddr       string
	adminAdvertise  string
	token           string
	raftAddr        string
	raftAdvertise   string
	raftTLSCert     string
	raftTLSKey      string
	raftTLSCA       string
	join            []string
	bindHost        string
	advertiseHost   string
	portRange       string
	memoryBudget    string
	passwordChecks  int
	storeInterval   time.Duration
	adminTLSCert    string
	adminTLSKey     string
	adminTLSCA      string
	snapThreshold   uint64
	snapInterval    time.Duration
	trailingLogs    uint64
	adminHosts      []string
	// tenantFlags are the default tenant's flags given explicitly
	// ("--mqtt-addr"), which a joining node ignores.
	tenantFlags []string
	// The data plane's addresses: gossipAddr and clusterAddr both empty
	// turn it off.
	gossipAddr, gossipAdvertise   string
	clusterAddr, clusterAdvertise string
}

// defaultTenantFlags are the serve flags that shape only the default
// tenant's spec, which the node writes when it bootstraps a cluster.
var defaultTenantFlags = []string{"mqtt-addr", "mqtts-addr", "ws-addr", "wss-addr", "ws-path", "max-keepalive", "persistence"}

func serveCommand(env appEnv) *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run a broker node",
		Description: "serve runs one broker, the \"default\" tenant, on --mqtt-addr until it gets\n" +
			"SIGINT or SIGTERM; it then disconnects the clients and waits up to\n" +
			"--shutdown-timeout for them (a second signal exits at once). With no\n" +
			"authenticator configured it accepts anonymous clients, and says so in the log.",
		Flags:        append(serveFlags(), helpFlag()),
		HideHelp:     true, // see newApp
		OnUsageError: onUsageError,
		Action: func(c *cli.Context) error {
			var tenantFlags []string
			for _, name := range defaultTenantFlags {
				if c.IsSet(name) {
					tenantFlags = append(tenantFlags, "--"+name)
				}
			}
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
				persistence:     c.String("persistence"),
				aclFile:         c.Path("acl-file"),
				dataDir:         c.Path("data-dir"),
				logLevel:        c.String("log-level"),
				logFormat:       c.String("log-format"),
				shutdownTimeout: c.Duration("shutdown-timeout"),
				nodeID:          c.String("node-id"),
				adminAddr:       c.String("admin-addr"),
				adminAdvertise:  c.String("admin-advertise"),
				token:           c.String("token"),
				raftAddr:        c.String("raft-addr"),
				raftAdvertise:   c.String("raft-advertise"),
				raftTLSCert:     c.Path("raft-tls-cert"),
				raftTLSKey:      c.Path("raft-tls-key"),
				raftTLSCA:       c.Path("raft-tls-ca"),
				join:            c.StringSlice("join"),
				bindHost:        c.String("bind-host"),
				advertiseHost:   c.String("advertise-host"),
				portRange:       c.String("port-range"),
				memoryBudget:    c.String("memory-budget"),
				passwordChecks:  c.Int("max-password-checks"),
				storeInterval:   c.Duration("store-interval"),
				adminTLSCert:    c.Path("admin-tls-cert"),
				adminTLSKey:     c.Path("admin-tls-key"),
				adminTLSCA:      c.Path("admin-tls-ca"),
				snapThreshold:   c.Uint64("raft-snapshot-threshold"),
				snapInterval:    c.Duration("raft-snapshot-interval"),
				trailingLogs:    c.Uint64("raft-trailing-logs"),
				adminHosts:      c.StringSlice("admin-host"),
				tenantFlags:     tenantFlags,

				gossipAddr:       c.String("gossip-addr"),
				gossipAdvertise:  c.String("gossip-advertise"),
				clusterAddr:      c.String("cluster-addr"),
				clusterAdvertise: c.String("cluster-advertise"),
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
		&cli.StringFlag{
			Name:    "persistence",
			Usage:   "the default tenant's limits.persistence at its first start: `MODE` default (written within --store-interval), sync (acknowledged once on disk) or off (memory only)",
			Value:   tenant.PersistenceDefault,
			EnvVars: []string{"JMQX_PERSISTENCE"},
		},
		&cli.PathFlag{
			Name:    "acl-file",
			Usage:   "enforce the topic access rules in `FILE` (Mosquitto's acl_file syntax, see README); a bad file stops start-up; unset: any client may publish and subscribe to anything",
			EnvVars: []string{"JMQX_ACL_FILE"},
		},
		&cli.PathFlag{
			Name:    "data-dir",
			Value:   defaultDataDir,
			Usage:   "keep the node's state in `DIR` (node ID, Raft log and snapshots, admin token, the tenants' stores in store/), created if missing",
			EnvVars: []string{"JMQX_DATA_DIR"},
		},
		&cli.StringFlag{
			Name:    "node-id",
			Usage:   "this node's `ID` in the cluster, kept in --data-dir; default: the saved one, or a new random one",
			EnvVars: []string{"JMQX_NODE_ID"},
		},
		&cli.StringFlag{
			Name:    "admin-addr",
			Value:   node.DefaultAdminAddr,
			Usage:   "serve the admin HTTP API on `HOST:PORT`; beyond loopback it requires --token (or the token generated into --data-dir)",
			EnvVars: []string{"JMQX_ADMIN_ADDR"},
		},
		&cli.StringFlag{
			Name:    "admin-advertise",
			Usage:   "`HOST:PORT` the other nodes reach the admin API at (writes forwarded to the leader, health probes); default: --admin-addr when it names a specific host, else --advertise-host with the port bound",
			EnvVars: []string{"JMQX_ADMIN_ADVERTISE"},
		},
		&cli.StringFlag{
			Name:    "token",
			Usage:   "bearer `TOKEN` the admin API requires (the same on every node of a cluster; at least 16 characters); default: none on loopback, else generated into --data-dir/admin-token",
			EnvVars: []string{"JMQX_TOKEN"},
		},
		&cli.StringSliceFlag{
			Name:    "admin-host",
			Usage:   "also answer admin API requests whose Host header is `NAME` (a DNS name or address the node is reached by; comma-separated, or repeat the flag); always answered: localhost and the node's IP addresses",
			EnvVars: []string{"JMQX_ADMIN_HOSTS"},
		},
		&cli.PathFlag{
			Name:    "admin-tls-cert",
			Usage:   "serve the admin API over HTTPS with the certificate PEM `FILE` (with --admin-tls-key; all nodes of a cluster, or none)",
			EnvVars: []string{"JMQX_ADMIN_TLS_CERT"},
		},
		&cli.PathFlag{
			Name:    "admin-tls-key",
			Usage:   "private key PEM `FILE` of --admin-tls-cert",
			EnvVars: []string{"JMQX_ADMIN_TLS_KEY"},
		},
		&cli.PathFlag{
			Name:    "admin-tls-ca",
			Usage:   "CA PEM `FILE` the other nodes' admin certificates are verified against (default: the system's)",
			EnvVars: []string{"JMQX_ADMIN_TLS_CA"},
		},
		&cli.StringFlag{
			Name:    "raft-addr",
			Value:   node.DefaultRaftAddr,
			Usage:   "bind the Raft transport to `HOST:PORT` (port 0: a free port)",
			EnvVars: []string{"JMQX_RAFT_ADDR"},
		},
		&cli.StringFlag{
			Name:    "raft-advertise",
			Usage:   "`HOST:PORT` other nodes dial for Raft, a specific IP; default: --raft-addr when it names a specific IP, else --advertise-host (an IP) with the port of --raft-addr",
			EnvVars: []string{"JMQX_RAFT_ADVERTISE"},
		},
		&cli.PathFlag{
			Name:    "raft-tls-cert",
			Usage:   "certificate PEM `FILE` of this node for Raft over mutual TLS (with --raft-tls-key and --raft-tls-ca)",
			EnvVars: []string{"JMQX_RAFT_TLS_CERT"},
		},
		&cli.PathFlag{
			Name:    "raft-tls-key",
			Usage:   "private key PEM `FILE` of --raft-tls-cert",
			EnvVars: []string{"JMQX_RAFT_TLS_KEY"},
		},
		&cli.PathFlag{
			Name:    "raft-tls-ca",
			Usage:   "CA PEM `FILE` that the other nodes' Raft certificates are verified against",
			EnvVars: []string{"JMQX_RAFT_TLS_CA"},
		},
		&cli.Uint64Flag{
			Name:    "raft-snapshot-threshold",
			Usage:   "snapshot the control plane after `N` new log entries; 0: raft's default, 8192",
			EnvVars: []string{"JMQX_RAFT_SNAPSHOT_THRESHOLD"},
		},
		&cli.DurationFlag{
			Name:    "raft-snapshot-interval",
			Usage:   "check every `DURATION` whether to snapshot; 0: raft's default, 2m",
			EnvVars: []string{"JMQX_RAFT_SNAPSHOT_INTERVAL"},
		},
		&cli.Uint64Flag{
			Name:    "raft-trailing-logs",
			Usage:   "keep `N` log entries after a snapshot, for lagging nodes to catch up without one; 0: raft's default, 10240",
			EnvVars: []string{"JMQX_RAFT_TRAILING_LOGS"},
		},
		&cli.StringFlag{
			Name:    "gossip-addr",
			Value:   node.DefaultGossipAddr,
			Usage:   "bind the data plane's gossip (membership, failure detection; TCP and UDP) to `HOST:PORT` (port 0: a free port); empty, with --cluster-addr empty too: the data plane is off",
			EnvVars: []string{"JMQX_GOSSIP_ADDR"},
		},
		&cli.StringFlag{
			Name:    "gossip-advertise",
			Usage:   "`HOST:PORT` other nodes reach the gossip at, a specific IP; default: --gossip-addr when it names a specific IP, else --advertise-host (an IP) with the port of --gossip-addr",
			EnvVars: []string{"JMQX_GOSSIP_ADVERTISE"},
		},
		&cli.StringFlag{
			Name:    "cluster-addr",
			Value:   node.DefaultClusterAddr,
			Usage:   "listen for the node-to-node links (routes, forwarded publishes) on `HOST:PORT` (port 0: a free port); empty, with --gossip-addr empty too: the data plane is off",
			EnvVars: []string{"JMQX_CLUSTER_ADDR"},
		},
		&cli.StringFlag{
			Name:    "cluster-advertise",
			Usage:   "`HOST:PORT` other nodes dial for the node-to-node links, a specific IP; default: --cluster-addr when it names a specific IP, else --advertise-host (an IP) with the port of --cluster-addr",
			EnvVars: []string{"JMQX_CLUSTER_ADVERTISE"},
		},
		&cli.StringSliceFlag{
			Name:    "join",
			Usage:   "join an existing cluster through the admin API of any member, `ADDR[,ADDR]` (first start only; later starts use the saved state)",
			EnvVars: []string{"JMQX_JOIN"},
		},
		&cli.StringFlag{
			Name:    "bind-host",
			Usage:   "interface `HOST` the tenants' listeners bind; default: the host of --mqtt-addr (empty: all)",
			EnvVars: []string{"JMQX_BIND_HOST"},
		},
		&cli.StringFlag{
			Name:    "advertise-host",
			Usage:   "`HOST` shown in the tenants' listener addresses (tenant show, Server Reference); default: --bind-host when specific, else the machine's name",
			EnvVars: []string{"JMQX_ADVERTISE_HOST"},
		},
		&cli.StringFlag{
			Name:    "port-range",
			Value:   "20000-29999",
			Usage:   "`MIN-MAX` ports given to tenant listeners set to auto",
			EnvVars: []string{"JMQX_PORT_RANGE"},
		},
		&cli.StringFlag{
			Name:    "memory-budget",
			Value:   defaultMemoryBudget,
			Usage:   "bound the memory all tenants' brokers together may hold (queued messages, buffers, retained messages, subscriptions) to `SIZE` bytes, with an optional suffix KiB, MiB or GiB; each tenant's limits.max_memory still applies; 0: the default",
			EnvVars: []string{"JMQX_MEMORY_BUDGET"},
		},
		&cli.IntFlag{
			Name:    "max-password-checks",
			Usage:   "run at most `N` password hash checks at once, for all tenants (each may hold up to 64 MiB); a CONNECT that waits over 5 s for one gets CONNACK 0x89; 0: half the CPUs, at least 1",
			EnvVars: []string{"JMQX_MAX_PASSWORD_CHECKS"},
		},
		&cli.DurationFlag{
			Name:    "store-interval",
			Value:   broker.DefaultStoreInterval,
			Usage:   "write the changes of persistent sessions and retained messages to each tenant's store (--data-dir/store/TENANT.db) at least every `DURATION`: what a crash can lose for tenants with limits.persistence default (sync ones wait for the disk); at most 1h",
			EnvVars: []string{"JMQX_STORE_INTERVAL"},
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

// runServe runs the node until ctx is done, then shuts it down.
func runServe(ctx context.Context, env appEnv, cfg serveConfig) error {
	switch cfg.persistence {
	case "", tenant.PersistenceDefault, tenant.PersistenceSync, tenant.PersistenceOff:
	default:
		return fmt.Errorf("--persistence %q: want %s, %s or %s", cfg.persistence, tenant.PersistenceDefault, tenant.PersistenceSync, tenant.PersistenceOff)
	}
	if cfg.maxKeepAlive < 0 || cfg.maxKeepAlive > 65535 {
		return fmt.Errorf("--max-keepalive %d: want 0 (broker default) to 65535 seconds", cfg.maxKeepAlive)
	}
	if cfg.storeInterval <= 0 || cfg.storeInterval > time.Hour {
		return fmt.Errorf("--store-interval %s: must be positive, at most 1h", cfg.storeInterval)
	}
	if cfg.shutdownTimeout <= 0 {
		return fmt.Errorf("--shutdown-timeout %s: must be positive", cfg.shutdownTimeout)
	}
	if n := utf8.RuneCountInString(cfg.token); cfg.token != "" && n < admin.MinTokenLength {
		return fmt.Errorf("--token: %d characters; at least %d are required, so that it cannot be guessed (e.g. openssl rand -hex 16)",
			n, admin.MinTokenLength)
	}
	if err := (admin.Config{AllowedHosts: cfg.adminHosts}).Validate(); err != nil {
		return fmt.Errorf("--admin-host: %w", err)
	}
	hup := watchSIGHUP()
	defer signal.Stop(hup)
	log, err := newLogger(env.stderr, cfg.logLevel, cfg.logFormat)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	if len(cfg.join) > 0 && len(cfg.tenantFlags) > 0 {
		log.Warn("joining a cluster: the default tenant is cluster-wide and already defined, so the flags that shape it are ignored here (change it with \"jmqx tenant update default\"; the host of --mqtt-addr still gives --bind-host its default)",
			zap.Strings("ignored_flags", cfg.tenantFlags))
	}

	ncfg, err := nodeConfig(cfg, log)
	if err != nil {
		return err
	}
	setMemoryLimit(ncfg.Host.MemoryBudget, log)
	n, err := node.Start(ctx, ncfg, log)
	if err != nil {
		return err
	}
	// A node serves the tenants it can and reports the others; but with
	// --fixed-ports, a default tenant whose ports are busy is the error
	// the operator asked for.
	if err, failed := n.Host().Failed()[defaultTenant]; failed && cfg.fixedPorts {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
		defer cancel()
		return errors.Join(fmt.Errorf("--fixed-ports: %w", err), n.Shutdown(sctx))
	}
	tlog := log.With(zap.String("tenant", defaultTenant))
	if st, ok := n.Host().Get(defaultTenant); ok {
		for _, name := range []tenant.ListenerKind{tenant.ListenerMQTT, tenant.ListenerMQTTS, tenant.ListenerWS, tenant.ListenerWSS} {
			if addr := st.Listeners[name]; addr != "" {
				tlog.Info("listening", zap.String("listener", string(name)), zap.String("addr", addr))
			}
		}
		if env.ready != nil {
			if a, err := net.ResolveTCPAddr("tcp", st.Listeners["mqtt"]); err == nil {
				env.ready(a)
			}
		}
	}
	stopReload := reloadOnSIGHUP(hup, n.Host(), log)
	defer stopReload()

	select {
	case <-ctx.Done():
	case <-n.Failed():
		log.Error("stopping: this node cannot follow its cluster", zap.Error(n.Err()))
	}
	log.Info("shutting down", zap.Duration("timeout", cfg.shutdownTimeout))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
	defer cancel()
	if err := n.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	if err := n.Err(); err != nil {
		return fmt.Errorf("node stopped: %w", err)
	}
	return nil
}

// nodeConfig turns the serve flags into the node's configuration: the
// listener flags define the default tenant, created at the first start.
func nodeConfig(cfg serveConfig, log *zap.Logger) (node.Config, error) {
	tlsCfg, err := tlsMaterial(cfg)
	if err != nil {
		return node.Config{}, err
	}
	bindHost := cfg.bindHost
	if bindHost == "" {
		if h, _, err := net.SplitHostPort(cfg.mqttAddr); err == nil {
			bindHost = h
		}
	}
	hostCfg := tenant.HostConfig{
		BindHost: bindHost, AdvertiseHost: cfg.advertiseHost, FixedPorts: cfg.fixedPorts, TLS: tlsCfg,
		WSAllowedOrigins: cfg.wsOrigins,
		Broker:           tenant.BrokerSettings{CertCNAsUsername: cfg.tlsCNUsername, StoreInterval: cfg.storeInterval},
	}
	hostCfg.MaxConcurrentPasswordChecks = cfg.passwordChecks
	if hostCfg.MemoryBudget, err = bytesize.Parse(cfg.memoryBudget); err != nil {
		return node.Config{}, fmt.Errorf("--memory-budget %q: %w", cfg.memoryBudget, err)
	}
	if cfg.portRange != "" {
		if _, err := fmt.Sscanf(cfg.portRange, "%d-%d", &hostCfg.PortMin, &hostCfg.PortMax); err != nil {
			return node.Config{}, fmt.Errorf("--port-range %q: want MIN-MAX, e.g. 20000-29999", cfg.portRange)
		}
	}
	// The default tenant is the whole broker of a single-tenant node: it
	// gets the broker's capacity (100000 connections, no connect rate
	// limit) rather than a tenant's share; the other tenant defaults hold.
	spec := tenant.Spec{Name: defaultTenant, Auth: tenant.Auth{AllowAnonymous: true},
		Listeners: tenant.Listeners{WSPath: cfg.wsPath},
		Limits: tenant.Limits{MaxKeepAlive: cfg.maxKeepAlive, MaxConnections: broker.DefaultMaxConnections,
			MaxConnectsPerSecond: -1, Persistence: cfg.persistence}}
	ports := []struct {
		addr   string
		port   *tenant.Port
		secure bool
	}{{cfg.mqttAddr, &spec.Listeners.MQTT, false}, {cfg.mqttsAddr, &spec.Listeners.MQTTS, true},
		{cfg.wsAddr, &spec.Listeners.WS, false}, {cfg.wssAddr, &spec.Listeners.WSS, true}}
	on := 0
	for _, p := range ports {
		*p.port = tenant.PortOff
		if p.addr == "" || (p.secure && tlsCfg == nil) {
			continue
		}
		_, port, err := net.SplitHostPort(p.addr)
		if err != nil {
			return node.Config{}, fmt.Errorf("listener address %q: %w", p.addr, err)
		}
		*p.port = tenant.Port(port)
		if port == "0" {
			*p.port = tenant.PortAuto
		}
		on++
	}
	if on == 0 {
		return node.Config{}, errors.New("every listener is turned off: give at least one of --mqtt-addr, --ws-addr, or --tls-cert with --mqtts-addr or --wss-addr")
	}
	var acl *aclfile.ACL
	if cfg.aclFile != "" {
		if acl, err = aclfile.Load(cfg.aclFile); err != nil {
			return node.Config{}, err
		}
		log.Info("topic ACL loaded for the default tenant", zap.String("file", cfg.aclFile))
	}
	if len(cfg.join) == 0 {
		log.Warn("no authenticator configured for the default tenant: anonymous clients are accepted (it is created at the first start; change it with \"jmqx tenant update default\")",
			zap.String("tenant", defaultTenant))
	}
	raftTLS, err := raftTLSConfig(cfg)
	if err != nil {
		return node.Config{}, err
	}
	adminTLS, err := adminTLSConfig(cfg)
	if err != nil {
		return node.Config{}, err
	}
	if (cfg.gossipAddr == "") != (cfg.clusterAddr == "") {
		return node.Config{}, fmt.Errorf("--gossip-addr %q and --cluster-addr %q: give both (the data plane on), or both empty (off)", cfg.gossipAddr, cfg.clusterAddr)
	}
	return node.Config{
		DataDir: cfg.dataDir, NodeID: cfg.nodeID, AdminAddr: cfg.adminAddr, AdminAdvertise: cfg.adminAdvertise,
		AdminToken: cfg.token, AdminAllowedHosts: cfg.adminHosts,
		AdminTLS: adminTLS, RaftAddr: cfg.raftAddr, RaftAdvertise: cfg.raftAdvertise, RaftTLS: raftTLS, Join: cfg.join,
		GossipAddr: cfg.gossipAddr, GossipAdvertise: cfg.gossipAdvertise,
		ClusterAddr: cfg.clusterAddr, ClusterAdvertise: cfg.clusterAdvertise, DisableCluster: cfg.gossipAddr == "",
		Host: hostCfg, DefaultTenant: &spec,
		SnapshotThreshold: cfg.snapThreshold, SnapshotInterval: cfg.snapInterval, TrailingLogs: cfg.trailingLogs,
		Hooks: func(s tenant.Spec) []any {
			if acl != nil && s.Name == defaultTenant {
				return []any{acl}
			}
			return nil
		},
	}, nil
}

// setMemoryLimit sets the Go runtime's soft memory limit from the node's
// memory budget (unless GOMEMLIMIT is set): the budget, a quarter more for
// what is bounded per connection and the runtime's own overhead, and
// 256 MiB for the rest of the process. The garbage collector then keeps the
// heap near the bound instead of letting it reach twice the live heap.
func setMemoryLimit(budget int64, log *zap.Logger) {
	if budget <= 0 {
		budget = tenant.DefaultMemoryBudget
	}
	if os.Getenv("GOMEMLIMIT") != "" {
		log.Info("memory limit from GOMEMLIMIT", zap.Int64("limit", debug.SetMemoryLimit(-1)))
		return
	}
	limit := budget + budget/4 + 256<<20
	debug.SetMemoryLimit(limit)
	log.Info("memory limit set from the memory budget", zap.Int64("budget", budget), zap.Int64("go_memory_limit", limit))
}
