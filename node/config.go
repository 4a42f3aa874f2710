package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/jmqx/jmqx/tenant"
)

// Config holds the settings of a node. The zero value of every field
// means the default in its comment.
type Config struct {
	// DataDir keeps the node's state: its ID, the Raft log and snapshots,
	// the admin token and (see StoreDir) the tenants' stores. Created if missing; one node at a time (a
	// second is refused while the first holds DataDir/LOCK). Default
	// "./jmqx-data".
	DataDir string
	// NodeID identifies the node in the cluster, for life: the first start
	// saves it in DataDir, and a later start with another one is refused.
	// Default: the ID stored in DataDir, or a new random one saved there.
	NodeID string
	// AdminAddr is the admin API's "host:port". Default "127.0.0.1:18083".
	AdminAddr string
	// AdminAdvertise is the "host:port" the other members reach the admin
	// API at: the address in this node's member record, where followers
	// forward writes while it leads and where `cluster members` probes its
	// health. The host may be a name (the API then also answers to it in
	// the Host header); port 0 means the port bound. A node whose record
	// holds another address (it was restarted with a new one) updates it
	// through the leader. Default: the address bound when AdminAddr names
	// a specific host; when AdminAddr binds every interface (0.0.0.0, ::
	// or no host), Host.AdvertiseHost (else Host.BindHost when specific)
	// with the port bound; with neither, the wildcard address, which only
	// a single-node cluster may keep: a node with Join, or restarted in a
	// cluster of several servers, is refused, and so is a join while the
	// leader advertises one.
	AdminAdvertise string
	// AdminToken is the bearer token of the admin API, required when it
	// listens beyond loopback; every node of a cluster needs the same one.
	// Default: the token in DataDir/admin-token, created at first start
	// when AdminAddr is not a loopback address.
	AdminToken string
	// AdminTLS, when set, serves the admin API over HTTPS and reaches the
	// other members' over HTTPS (see admin.Config.TLS); every node of a
	// cluster needs it, or none. Default nil.
	AdminTLS *tls.Config
	// AdminAllowedHosts are further names (or addresses) the admin API
	// answers to in the Host header, besides localhost and the node's own
	// IP addresses (see admin.Config.AllowedHosts). Default none.
	AdminAllowedHosts []string
	// RaftAddr is the Raft transport's "host:port". Default
	// "127.0.0.1:18084".
	RaftAddr string
	// RaftAdvertise is the Raft address other nodes dial, a specific IP
	// address (see meta.Config.AdvertiseAddr). Default RaftAddr; when
	// RaftAddr binds every interface, Host.AdvertiseHost (else
	// Host.BindHost when specific), if it is an IP address, with
	// RaftAddr's port.
	RaftAdvertise string
	// RaftTLS, when set, protects Raft traffic (see meta.Config.TLS).
	RaftTLS *tls.Config
	// GossipAddr is the "host:port" the data plane's memberlist
	// (membership and failure detection) binds, TCP and UDP; port 0: a
	// free port. Default "127.0.0.1:18085".
	GossipAddr string
	// GossipAdvertise is the gossip address other nodes reach, a specific
	// IP address; port 0 means the port bound. Default GossipAddr; when
	// GossipAddr binds every interface, Host.AdvertiseHost (else
	// Host.BindHost when specific), if it is an IP address, with
	// GossipAddr's port.
	GossipAdvertise string
	// ClusterAddr is the "host:port" the data plane's node-to-node links
	// (routes and forwarded publishes) listen on, TCP; port 0: a free
	// port. Default "127.0.0.1:18086".
	ClusterAddr string
	// ClusterAdvertise is the link address other nodes dial, a specific IP
	// address; port 0 means the port bound. Default ClusterAddr; when
	// ClusterAddr binds every interface, Host.AdvertiseHost (else
	// Host.BindHost when specific), if it is an IP address, with
	// ClusterAddr's port.
	ClusterAdvertise string
	// DisableCluster turns the data plane off: no gossip and no links, so
	// a publish reaches only the subscribers on this node, and this node's
	// member record holds no data-plane addresses; GossipAddr,
	// GossipAdvertise, ClusterAddr and ClusterAdvertise are then ignored.
	// Default false.
	DisableCluster bool
	// Join lists admin addresses of existing members; a node with no Raft
	// state joins the cluster through the first that answers. A node with
	// Raft state may keep Join only if it is a member of a cluster of
	// several servers and the member it asks belongs to that cluster
	// (shares a server with its Raft configuration); otherwise Start
	// refuses rather than merge two Raft histories. Empty: the node
	// bootstraps a new cluster on its first start.
	Join []string
	// JoinTimeout bounds the join at first start. Default 30s.
	JoinTimeout time.Duration
	// Host configures the tenant listeners on this node.
	Host tenant.HostConfig
	// StoreDir keeps the tenants' persistent sessions and retained
	// messages, one file per tenant (see tenant.HostConfig.StoreDir,
	// which it sets); the files of tenants deleted while the node was
	// down are deleted after its first reconcile with the cluster's
	// state. Default: Host.StoreDir if set, else DataDir/store.
	StoreDir string
	// DefaultTenant, when set, is created when the node bootstraps a new
	// cluster (first start without Join), or at the next start when that
	// first start stopped before it was; never after, so a deleted
	// default tenant stays deleted. Default nil.
	DefaultTenant *tenant.Spec
	// Hooks gives each tenant's broker extra hooks (see tenant.WithHooks).
	Hooks func(spec tenant.Spec) []any
	// Snapshot tuning of the Raft group (see meta.Config); zero: meta's
	// defaults.
	SnapshotThreshold uint64
	TrailingLogs      uint64
	SnapshotInterval  time.Duration
}

// Defaults of Config.
const (
	DefaultDataDir     = "./jmqx-data"
	DefaultAdminAddr   = "127.0.0.1:18083"
	DefaultRaftAddr    = "127.0.0.1:18084"
	DefaultGossipAddr  = "127.0.0.1:18085"
	DefaultClusterAddr = "127.0.0.1:18086"
	DefaultJoinTimeout = 30 * time.Second
	// StoreDirName is the default StoreDir's name in DataDir.
	StoreDirName = "store"
)

func (c *Config) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.AdminAddr == "" {
		c.AdminAddr = DefaultAdminAddr
	}
	if c.RaftAddr == "" {
		c.RaftAddr = DefaultRaftAddr
	}
	if c.StoreDir == "" {
		c.StoreDir = c.Host.StoreDir
	}
	if c.StoreDir == "" {
		c.StoreDir = filepath.Join(c.DataDir, StoreDirName)
	}
	c.Host.StoreDir = c.StoreDir
	if c.JoinTimeout == 0 {
		c.JoinTimeout = DefaultJoinTimeout
	}
	if c.RaftAdvertise == "" {
		c.RaftAdvertise = c.advertiseDefault(c.RaftAddr)
	}
	if c.DisableCluster {
		return
	}
	if c.GossipAddr == "" {
		c.GossipAddr = DefaultGossipAddr
	}
	if c.ClusterAddr == "" {
		c.ClusterAddr = DefaultClusterAddr
	}
	if c.GossipAdvertise == "" {
		c.GossipAdvertise = c.advertiseDefault(c.GossipAddr)
	}
	if c.ClusterAdvertise == "" {
		c.ClusterAdvertise = c.advertiseDefault(c.ClusterAddr)
	}
}

// Validate reports the invalid fields of c (after defaults).
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if c.DefaultTenant != nil {
		if err := c.DefaultTenant.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("node: default tenant: %w", err))
		}
	}
	if p := idProblem(c.NodeID); c.NodeID != "" && (p != "" || c.NodeID != strings.TrimSpace(c.NodeID)) {
		errs = append(errs, fmt.Errorf("node: node ID %q: must be at most %d bytes of UTF-8 without control characters or surrounding spaces", c.NodeID, maxIDLen))
	}
	if c.JoinTimeout < 0 {
		errs = append(errs, fmt.Errorf("node: join timeout %s: must not be negative", c.JoinTimeout))
	}
	errs = append(errs, c.validateAdvertise()...)
	if err := c.Host.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("node: %w", err))
	}
	return errors.Join(errs...)
}
