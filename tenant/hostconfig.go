package tenant

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/broker"
)

// HostConfig holds the settings of a Host. The zero value of every field
// means the default given in its comment.
type HostConfig struct {
	// BindHost is the interface tenant listeners bind. Default "" (all).
	BindHost string `json:"bind_host,omitempty"`
	// AdvertiseHost is the host name reported in the listener addresses of
	// Status. Default: BindHost when it names one interface, else the
	// machine's host name.
	AdvertiseHost string `json:"advertise_host,omitempty"`
	// PortMin and PortMax bound the ports given to "auto" listeners.
	// Defaults 20000 and 29999.
	PortMin int `json:"port_min,omitempty"`
	PortMax int `json:"port_max,omitempty"`
	// FixedPorts makes a busy fixed port an error instead of moving the
	// listener to the next free port (at most 100 tried) that no tenant
	// configures as fixed. Default false.
	FixedPorts bool `json:"fixed_ports,omitempty"`
	// WSAllowedOrigins restricts the Origin of WebSocket upgrades (see
	// listeners.WebSocketConfig). Default: every origin.
	WSAllowedOrigins []string `json:"ws_allowed_origins,omitempty"`
	// TLS is the certificate material of tenants without their own; with
	// neither, their MQTTS and WSS listeners default to off. Default nil.
	TLS *TLS `json:"tls,omitempty"`
	// Broker holds the broker settings every tenant of the Host shares;
	// a tenant's quotas and protocol profile are its Spec.Limits, not
	// here. Default: the zero BrokerSettings (each field its default).
	Broker BrokerSettings `json:"broker,omitempty"`
	// ShutdownTimeout bounds how long Remove waits for a tenant's
	// connections to end. Default 5s.
	ShutdownTimeout time.Duration `json:"shutdown_timeout,omitempty"`
	// MemoryBudget is the node's memory budget in bytes, shared by all its
	// tenants' brokers: what each charges to its own Limits.MaxMemory is
	// charged here too, so that tenants together cannot exhaust the node.
	// Must not be negative. Default 2 GiB.
	MemoryBudget int64 `json:"memory_budget,omitempty"`
	// MaxConcurrentPasswordChecks bounds the password hash verifications
	// (bcrypt or argon2id) running at once on the Host, for all its
	// tenants together. One argon2id check takes up to MaxArgon2Memory
	// (64 MiB) and a bcrypt check 4 KiB, so the memory password checks
	// hold at any time is at most MaxConcurrentPasswordChecks × 64 MiB
	// (the garbage collector may let the heap hold that much again of
	// finished checks' memory before collecting it, as GOGC and
	// GOMEMLIMIT allow). A check waits for a slot at most
	// PasswordCheckWait (5s), or the broker's connect timeout if shorter;
	// then the client is refused with CONNACK 0x89 Server busy (3.1.1:
	// 0x03) and the refusal is logged with the user name. A login matching
	// a cached credential (one that succeeded before under the same spec)
	// takes no slot. Must not be negative. Default 0: half of
	// runtime.GOMAXPROCS(0) when the Host is made, at least 1, so that a
	// flood of wrong passwords can take at most half the CPUs from the
	// traffic.
	MaxConcurrentPasswordChecks int `json:"max_concurrent_password_checks,omitempty"`
	// StoreDir keeps the tenants' persistent sessions and retained
	// messages across restarts: one bbolt file per tenant,
	// StoreDir/<tenant>.db (the directory created 0700, the files 0600),
	// opened when the tenant starts unless its Limits.Persistence is
	// "off" (a stale file of such a tenant is deleted then), loaded
	// before its listeners serve, and deleted when the tenant is removed
	// (Remove, or Reconcile without it; Close keeps the files). A file
	// that cannot be opened or loaded makes that tenant fail to start
	// (Failed, Status.Error, naming the file); the others start. Default
	// "": no stores, every tenant in memory only.
	StoreDir string `json:"store_dir,omitempty"`
}

// BrokerSettings are the broker settings a Host gives every tenant's
// broker that are not a tenant's limits: timeouts and protocol details
// that are the node's to decide. Everything a tenant may be given less or
// more of (connections, rates, sizes, queues, memory, keep alive, session
// expiry, QoS, protocol versions, features) is in Limits, with the
// defaults documented there, and nowhere else. The zero value of every
// field means the default in its comment (broker.Config's).
type BrokerSettings struct {
	// ConnectTimeout bounds a new connection's TLS handshake, CONNECT and
	// enhanced authentication, in total. Default 10s
	// (broker.DefaultConnectTimeout).
	ConnectTimeout time.Duration `json:"connect_timeout,omitempty"`
	// WriteTimeout bounds one write to a client; a client that does not
	// read for this long is disconnected. Default 30s.
	WriteTimeout time.Duration `json:"write_timeout,omitempty"`
	// RateWait is how long Limits.MaxMessagesPerSecond and
	// MaxBytesPerSecond may hold a publisher back before its PUBLISH is
	// refused. Default 1s; negative: refuse at once.
	RateWait time.Duration `json:"rate_wait,omitempty"`
	// ReceiveMaximum is how many QoS 2 PUBLISH packets a v5 client may
	// have unreleased towards the broker. Default 32.
	ReceiveMaximum int `json:"receive_maximum,omitempty"`
	// TopicAliasMaximum is the number of topic aliases a v5 client may use
	// towards the broker. Default 16.
	TopicAliasMaximum int `json:"topic_alias_maximum,omitempty"`
	// MaxTopicLevels bounds the levels of a topic name or filter.
	// Default 128.
	MaxTopicLevels int `json:"max_topic_levels,omitempty"`
	// MaxClientIDLength bounds client identifiers, in bytes. Default 65535.
	MaxClientIDLength int `json:"max_client_id_length,omitempty"`
	// DisableSubscriptionIDs refuses v5 Subscription Identifiers. Default
	// false.
	DisableSubscriptionIDs bool `json:"disable_subscription_ids,omitempty"`
	// SysInterval is how often each tenant's $SYS statistics are
	// published. Default 10s; negative turns $SYS off.
	SysInterval time.Duration `json:"sys_interval,omitempty"`
	// CertCNAsUsername makes the common name of a verified TLS client
	// certificate the client's user name in every tenant (it is on in a
	// tenant whose spec lists Auth.CertificateCNs anyway). Default false.
	CertCNAsUsername bool `json:"cert_cn_as_username,omitempty"`
	// StoreInterval is the longest a change of a persistent session or
	// of the retained messages waits before it is written to the
	// tenant's store (HostConfig.StoreDir) when the tenant's
	// Limits.Persistence is "default": what a crash can lose. At most 1h.
	// Default 1s (broker.DefaultStoreInterval).
	StoreInterval time.Duration `json:"store_interval,omitempty"`
}

// config returns the broker configuration with s's fields set and every
// other field zero (its default, until a tenant's Limits set it).
func (s BrokerSettings) config() broker.Config {
	return broker.Config{
		ConnectTimeout: s.ConnectTimeout, WriteTimeout: s.WriteTimeout, RateWait: s.RateWait,
		ReceiveMaximum: s.ReceiveMaximum, TopicAliasMaximum: s.TopicAliasMaximum,
		MaxTopicLevels: s.MaxTopicLevels, MaxClientIDLength: s.MaxClientIDLength,
		DisableSubscriptionIDs: s.DisableSubscriptionIDs, SysInterval: s.SysInterval,
		CertCNAsUsername: s.CertCNAsUsername, StoreInterval: s.StoreInterval,
	}
}

// Defaults of HostConfig.
const (
	DefaultPortMin         = 20000
	DefaultPortMax         = 29999
	DefaultShutdownTimeout = 5 * time.Second
	DefaultMemoryBudget    = 2 << 30
)

func (c *HostConfig) setDefaults() {
	if c.PortMin == 0 {
		c.PortMin = DefaultPortMin
	}
	if c.PortMax == 0 {
		c.PortMax = DefaultPortMax
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.MemoryBudget == 0 {
		c.MemoryBudget = DefaultMemoryBudget
	}
	if c.MaxConcurrentPasswordChecks == 0 {
		c.MaxConcurrentPasswordChecks = max(1, runtime.GOMAXPROCS(0)/2)
	}
}

// passwordCheckWait is how long a password check waits for a slot:
// PasswordCheckWait, or the broker's connect timeout if shorter.
func (c *HostConfig) passwordCheckWait() time.Duration {
	ct := c.Broker.ConnectTimeout
	if ct <= 0 {
		ct = broker.DefaultConnectTimeout
	}
	return min(PasswordCheckWait, ct)
}

// Validate reports the invalid fields of c (after defaults).
func (c HostConfig) Validate() error {
	c.setDefaults()
	var errs []error
	if c.PortMin < 1 || c.PortMax > 65535 || c.PortMin > c.PortMax {
		errs = append(errs, fmt.Errorf("tenant: host: port range %d-%d: must be within 1-65535 and ordered", c.PortMin, c.PortMax))
	}
	if c.BindHost != "" && net.ParseIP(c.BindHost) == nil && c.BindHost != "localhost" {
		errs = append(errs, fmt.Errorf("tenant: host: bind_host %q: must be an IP address", c.BindHost))
	}
	if c.TLS != nil {
		if err := (Spec{Name: "x", Listeners: Listeners{TLS: c.TLS}}).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("tenant: host: tls: %w", err))
		}
	}
	if err := c.Broker.config().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("tenant: host: %w", err))
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, fmt.Errorf("tenant: host: shutdown_timeout %s: must not be negative", c.ShutdownTimeout))
	}
	if c.MemoryBudget < 0 {
		errs = append(errs, fmt.Errorf("tenant: host: memory_budget %d: must not be negative (0: default)", c.MemoryBudget))
	}
	if c.MaxConcurrentPasswordChecks < 0 {
		errs = append(errs, fmt.Errorf("tenant: host: max_concurrent_password_checks %d: must not be negative (0: default)", c.MaxConcurrentPasswordChecks))
	}
	return errors.Join(errs...)
}

// Option configures a Host.
type Option func(*Host)

// WithLogger sets the Host's logger (and its brokers'). Default: none.
func WithLogger(l *zap.Logger) Option {
	return func(h *Host) {
		if l != nil {
			h.log = l
		}
	}
}

// WithHooks gives each tenant's broker extra hooks (see broker.WithHooks):
// fn is called once per tenant, when it starts, with its spec. Their
// refusals add to the decision of the spec (its Auth and ACL) or of the
// application where it decides instead (WithAuthenticator,
// WithAuthorizer): an Authenticator among them is asked only once that
// decision accepted the client, and must accept too; an Authorizer must
// allow too. To admit clients the spec does not list, use
// WithAuthenticator.
func WithHooks(fn func(spec Spec) []any) Option {
	return func(h *Host) { h.hooks = fn }
}

// WithPortHints tells the Host which port an "auto" listener had before
// (for example on this node before a restart, as the control plane
// recorded it); fn returns 0 for none. The Host tries that port first, so
// that tenants keep their ports across restarts, unless a tenant now
// configures it as fixed. When several tenants configure the same fixed
// port (state written before CheckPorts refused that), the one whose hint
// is that port keeps it. fn is called with the Host's lock held: it must
// not call the Host.
func WithPortHints(fn func(tenant string, listener ListenerKind) int) Option {
	return func(h *Host) { h.hints = fn }
}

// Peering connects the tenants' brokers to the other nodes of a cluster
// (package cluster's Cluster implements it).
type Peering interface {
	// Attach connects a tenant's broker, before it serves; ackLocal is
	// its Limits.ClusterAck == "local".
	Attach(tenant string, b *broker.Broker, ackLocal bool) error
	// SetAckLocal changes a running tenant's Limits.ClusterAck.
	SetAckLocal(tenant string, ackLocal bool)
	// Detach disconnects a tenant that stops on this node.
	Detach(tenant string)
}

// WithPeering connects every tenant's broker to a cluster. Default none:
// each tenant serves the clients of this Host only.
func WithPeering(p Peering) Option {
	return func(h *Host) { h.peering = p }
}
