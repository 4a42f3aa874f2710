package meta

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Config configures a Store. Its exported fields work as JSON and as
// flags; the zero value of a field (other than NodeID and Dir) means its
// default, given in its comment. Open copies it and never modifies the
// caller's value.
type Config struct {
	// NodeID is this node's Raft server ID, unique and stable across
	// restarts. Required.
	NodeID string `json:"node_id"`
	// Dir is the Raft data directory: raft.db (the log and stable store)
	// and the snapshots. Required.
	Dir string `json:"dir"`
	// BindAddr is the "host:port" the Raft transport listens on; port 0
	// takes a free port (see Store.RaftAddr). Default "127.0.0.1:18084".
	BindAddr string `json:"bind_addr,omitempty"`
	// AdvertiseAddr is the "host:port" other nodes dial to reach this
	// one; it must be a specific IP address, never 0.0.0.0 or ::. Port 0
	// means the port actually bound. Default: the address bound.
	AdvertiseAddr string `json:"advertise_addr,omitempty"`
	// Bootstrap makes this node the single voter of a new group when it
	// has no Raft state yet; ignored when it has. Default false.
	Bootstrap bool `json:"bootstrap,omitempty"`
	// SnapshotInterval is how often Raft checks whether to snapshot.
	// Default raft's, 120s.
	SnapshotInterval time.Duration `json:"snapshot_interval,omitempty"`
	// SnapshotThreshold is how many log entries since the last snapshot
	// make Raft take one. Default raft's, 8192.
	SnapshotThreshold uint64 `json:"snapshot_threshold,omitempty"`
	// TrailingLogs is how many entries stay in the log after a snapshot,
	// so a slightly lagging follower catches up without one. Default
	// raft's, 10240.
	TrailingLogs uint64 `json:"trailing_logs,omitempty"`
	// HeartbeatTimeout is how long a follower goes without hearing from
	// the leader before it starts an election. Default 1s (raft's default
	// suits WANs; this one gives failover within a few seconds on a LAN).
	HeartbeatTimeout time.Duration `json:"heartbeat_timeout,omitempty"`
	// ElectionTimeout is how long a candidate waits before a new
	// election. Default 1s.
	ElectionTimeout time.Duration `json:"election_timeout,omitempty"`
	// LeaderLeaseTimeout is how long a leader stays leader without
	// hearing from a quorum; at most HeartbeatTimeout. Default 500ms.
	LeaderLeaseTimeout time.Duration `json:"leader_lease_timeout,omitempty"`
	// NonvoterTimeout is how long the leader keeps a non-voter that has
	// not answered at its Raft address, under its own ID, since this
	// leader's term began or the server joined, before it removes the
	// server and its member record (a phantom join, a wrong
	// --raft-advertise). A non-voter that answers is kept until it has
	// caught up and is promoted. Default 30s.
	NonvoterTimeout time.Duration `json:"nonvoter_timeout,omitempty"`
	// TLS, when set, runs Raft traffic over TLS: the config is used to
	// accept (so it needs Certificates, and ClientAuth plus ClientCAs for
	// mutual authentication) and to dial (RootCAs to verify peers, and a
	// client certificate via Certificates or GetClientCertificate when
	// peers require one). Default nil: plain TCP.
	TLS *tls.Config `json:"-"`
}

// Defaults of Config.
const (
	DefaultBindAddr           = "127.0.0.1:18084"
	DefaultHeartbeatTimeout   = time.Second
	DefaultElectionTimeout    = time.Second
	DefaultLeaderLeaseTimeout = 500 * time.Millisecond
	DefaultNonvoterTimeout    = 30 * time.Second
)

// DefaultConfig returns a Config with every default filled in; NodeID and
// Dir remain to be set.
func DefaultConfig() Config {
	rc := raft.DefaultConfig()
	return Config{
		BindAddr:           DefaultBindAddr,
		SnapshotInterval:   rc.SnapshotInterval,
		SnapshotThreshold:  rc.SnapshotThreshold,
		TrailingLogs:       rc.TrailingLogs,
		HeartbeatTimeout:   DefaultHeartbeatTimeout,
		ElectionTimeout:    DefaultElectionTimeout,
		LeaderLeaseTimeout: DefaultLeaderLeaseTimeout,
		NonvoterTimeout:    DefaultNonvoterTimeout,
	}
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	set := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	if c.BindAddr == "" {
		c.BindAddr = d.BindAddr
	}
	set(&c.SnapshotInterval, d.SnapshotInterval)
	set(&c.HeartbeatTimeout, d.HeartbeatTimeout)
	set(&c.ElectionTimeout, d.ElectionTimeout)
	set(&c.LeaderLeaseTimeout, d.LeaderLeaseTimeout)
	set(&c.NonvoterTimeout, d.NonvoterTimeout)
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = d.SnapshotThreshold
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = d.TrailingLogs
	}
	return c
}

// Validate reports what is wrong with c, after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.NodeID == "" {
		errs = append(errs, errors.New("node_id: required"))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("dir: required"))
	}
	bindHost, _, err := splitAddr(c.BindAddr)
	if err != nil {
		errs = append(errs, fmt.Errorf("bind_addr %q: %w", c.BindAddr, err))
	}
	if c.AdvertiseAddr != "" {
		host, _, err := splitAddr(c.AdvertiseAddr)
		if err != nil {
			errs = append(errs, fmt.Errorf("advertise_addr %q: %w", c.AdvertiseAddr, err))
		} else if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			errs = append(errs, fmt.Errorf("advertise_addr %q: want a specific IP address", c.AdvertiseAddr))
		}
	} else if err == nil {
		if ip := net.ParseIP(bindHost); ip == nil || ip.IsUnspecified() {
			errs = append(errs, fmt.Errorf("bind_addr %q: not advertisable; set advertise_addr", c.BindAddr))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"snapshot_interval", c.SnapshotInterval}, {"heartbeat_timeout", c.HeartbeatTimeout},
		{"election_timeout", c.ElectionTimeout}, {"leader_lease_timeout", c.LeaderLeaseTimeout},
		{"nonvoter_timeout", c.NonvoterTimeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %s: negative", d.name, d.v))
		}
	}
	if len(errs) == 0 {
		if err := raft.ValidateConfig(c.raftConfig()); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("meta: config: %w", errors.Join(errs...))
	}
	return nil
}

// raftConfig returns raft's configuration for c (defaults applied).
func (c Config) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.NodeID)
	rc.SnapshotInterval = c.SnapshotInterval
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.TrailingLogs = c.TrailingLogs
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
	rc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	return rc
}

// splitAddr splits "host:port" and checks the port is a number.
func splitAddr(addr string) (host string, port int, err error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return host, port, nil
}
