package broker

import (
	"errors"
	"fmt"
	"time"
)

// Config holds the settings of one broker instance. The zero value of every
// field means "use the default" given in its comment, so Config{} is valid.
// New copies the Config; later changes to the caller's copy have no effect.
type Config struct {
	// MaxPacketSize is the largest packet, in bytes, the broker accepts from a
	// client; a larger one gets DISCONNECT 0x95 (v5) or a close (3.x). It is
	// advertised to v5 clients as Maximum Packet Size. Default 1 MiB.
	MaxPacketSize int `json:"max_packet_size,omitempty"`
	// ConnectTimeout is how long a new connection may take, in total, from
	// its accept to the end of the CONNECT exchange (TLS handshake, the
	// whole CONNECT packet and enhanced authentication): the deadline is
	// set once and never re-armed by arriving bytes. Default 10s.
	ConnectTimeout time.Duration `json:"connect_timeout,omitempty"`
	// ReceiveMaximum is how many QoS 2 PUBLISH packets a v5 client may have
	// unreleased towards the broker (advertised as Receive Maximum;
	// exceeding it gets DISCONNECT 0x93). Default 32.
	ReceiveMaximum int `json:"receive_maximum,omitempty"`
	// MaxInflight caps the broker's outbound window: how many QoS 1 and 2
	// messages may await acknowledgement from one client (a v5 client's own,
	// smaller Receive Maximum wins). Further messages wait in the session
	// queue. Default 256.
	MaxInflight int `json:"max_inflight,omitempty"`
	// MaxQueuedMessages bounds the QoS 1 and 2 messages held for one session
	// beyond the inflight window, online or offline (QoS 0 messages are not
	// queued for offline sessions). When full, a new message for that session
	// is dropped, counted and logged. Default 1000.
	MaxQueuedMessages int `json:"max_queued_messages,omitempty"`
	// MaxTopicLevels bounds the levels of a topic name or filter; a PUBLISH
	// beyond it gets DISCONNECT 0x90 (v5) or a close, a SUBSCRIBE gets 0x8F
	// (v5) or 0x80 for that filter. Default 128.
	MaxTopicLevels int `json:"max_topic_levels,omitempty"`
	// TopicAliasMaximum is the number of topic aliases a v5 client may use
	// towards the broker (advertised as Topic Alias Maximum). Default 16.
	TopicAliasMaximum int `json:"topic_alias_maximum,omitempty"`
	// MaxConnections bounds concurrent client connections; a CONNECT beyond
	// it gets CONNACK 0x97 Quota exceeded (v5) or 0x03 Server unavailable
	// (3.x). Default 100000.
	MaxConnections int `json:"max_connections,omitempty"`
	// MaxKeepAlive caps the keep alive a client may ask for, in seconds: a v5
	// client asking for more (or for 0) gets this value as Server Keep Alive.
	// Default 65535 (no cap).
	MaxKeepAlive int `json:"max_keepalive,omitempty"`
	// MaxSessionExpiry caps a v5 client's Session Expiry Interval, in
	// seconds. Default 4294967295 (no cap; 0xFFFFFFFF means never expires).
	MaxSessionExpiry uint32 `json:"max_session_expiry,omitempty"`
	// MaxClientIDLength bounds client identifiers, in bytes. Default 65535.
	MaxClientIDLength int `json:"max_client_id_length,omitempty"`
	// MaxQoS is the highest QoS the broker supports, 1 or 2 (advertised to v5
	// clients; a v5 PUBLISH above it gets DISCONNECT 0x9B). Default 2.
	MaxQoS int `json:"max_qos,omitempty"`
	// DisableRetain turns retained messages off (default: on).
	DisableRetain bool `json:"disable_retain,omitempty"`
	// DisableWildcardSubscriptions refuses filters with + or # (default: allowed).
	DisableWildcardSubscriptions bool `json:"disable_wildcard_subscriptions,omitempty"`
	// DisableSubscriptionIDs refuses v5 Subscription Identifiers (default: allowed).
	DisableSubscriptionIDs bool `json:"disable_subscription_ids,omitempty"`
	// DisableSharedSubscriptions refuses $share filters (default: allowed).
	DisableSharedSubscriptions bool `json:"disable_shared_subscriptions,omitempty"`
	// SysInterval is how often $SYS statistics are published. Default 10s;
	// a negative value turns $SYS off.
	SysInterval time.Duration `json:"sys_interval,omitempty"`
	// WriteTimeout bounds one write to a client; a client that does not read
	// for this long is disconnected. Default 30s.
	WriteTimeout time.Duration `json:"write_timeout,omitempty"`
	// CertCNAsUsername makes the common name of a verified TLS client
	// certificate the client's user name (replacing the one in CONNECT)
	// for authentication, authorization and hooks. Default false.
	CertCNAsUsername bool `json:"cert_cn_as_username,omitempty"`
	// MaxConnectRate bounds new connections per second (with a burst of
	// one second's worth); a CONNECT beyond it gets CONNACK 0x9F
	// Connection rate exceeded (v5) or 0x03 (3.x). Default 0: no limit.
	MaxConnectRate float64 `json:"max_connect_rate,omitempty"`
	// MaxClientMessageRate and MaxClientByteRate bound the PUBLISH packets
	// and payload bytes one client sends per second (burst: one second's
	// worth); a client beyond them gets DISCONNECT 0x96 Message rate too
	// high (v5) or a close (3.x). Default 0: no limit.
	MaxClientMessageRate float64 `json:"max_client_message_rate,omitempty"`
	MaxClientByteRate    float64 `json:"max_client_byte_rate,omitempty"`
	// MaxMessageRate and MaxByteRate bound the PUBLISH packets and payload
	// bytes the whole broker accepts per second (burst: one second's
	// worth). Publishers beyond them are slowed down: their next packet is
	// read only when the rate allows, so TCP pushes back on them and the
	// excess costs the broker nothing (counted in PublishersThrottled). A
	// PUBLISH that would wait more than RateWait is refused instead: a v5
	// QoS 1/2 one is answered 0x97 Quota exceeded, others are dropped;
	// each refusal is counted and logged. Default 0: no limit.
	MaxMessageRate float64 `json:"max_message_rate,omitempty"`
	MaxByteRate    float64 `json:"max_byte_rate,omitempty"`
	// RateWait is how long a publisher may be held back by MaxMessageRate
	// and MaxByteRate before its PUBLISH is refused. Default 1s; negative:
	// refuse at once, never wait.
	RateWait time.Duration `json:"rate_wait,omitempty"`
	// MaxSubscriptionsPerClient bounds the subscriptions of one session; a
	// filter beyond it gets SUBACK 0x97 Quota exceeded (v5) or 0x80 (3.x).
	// Default 0: no limit.
	MaxSubscriptionsPerClient int `json:"max_subscriptions_per_client,omitempty"`
	// MaxRetainedMessages and MaxRetainedBytes (payload bytes) bound the
	// retained store; a retained PUBLISH that would grow it beyond them is
	// not delivered: 0x97 Quota exceeded for a v5 QoS 1/2 one, dropped
	// otherwise. Clearing or shrinking is always allowed. Default 0: no
	// limit.
	MaxRetainedMessages int   `json:"max_retained_messages,omitempty"`
	MaxRetainedBytes    int64 `json:"max_retained_bytes,omitempty"`
	// MinKeepAlive is the smallest keep alive, in seconds, a v5 client may
	// use: asking for less (but not 0) gets this value as Server Keep
	// Alive. 3.x clients keep theirs. Default 0: no minimum.
	MinKeepAlive int `json:"min_keepalive,omitempty"`
	// ProtocolVersions lists the protocol levels accepted: 3 (MQTT 3.1), 4
	// (3.1.1) and 5. A CONNECT with another gets CONNACK 0x84 Unsupported
	// protocol version (v5) or 0x01 (3.x). Default: all three.
	ProtocolVersions []byte `json:"protocol_versions,omitempty"`
	// MaxQueuedBytes bounds the bytes (topic plus payload) of the QoS 1 and
	// 2 messages one session holds, queued or awaiting acknowledgement; a
	// delivery beyond it is dropped and counted like one beyond
	// MaxQueuedMessages. A message shared by several sessions counts in
	// each. Default 64 MiB.
	MaxQueuedBytes int64 `json:"max_queued_bytes,omitempty"`
	// MaxOutboundBytes bounds the bytes waiting in one connection's
	// outbound buffer for a client that reads slowly: beyond it QoS 0
	// messages to that client are dropped and QoS 1/2 ones wait in the
	// session queue (one packet is always let through when the buffer is
	// empty). Default 4 MiB.
	MaxOutboundBytes int `json:"max_outbound_bytes,omitempty"`
	// MaxSubscriptionBytes bounds the total length of one session's topic
	// filters; a filter beyond it gets SUBACK 0x97 Quota exceeded (v5) or
	// 0x80 (3.x). Default 256 KiB.
	MaxSubscriptionBytes int `json:"max_subscription_bytes,omitempty"`
	// SlowConsumerWait is the longest a connected subscriber whose queue is
	// full may hold its publishers back (their PUBACK/PUBREC wait). After
	// it the subscriber is a slow consumer: its publishers go on, and
	// messages beyond its queue limits are dropped and counted until its
	// queue drains below MaxQueuedMessages. Default 2s.
	SlowConsumerWait time.Duration `json:"slow_consumer_wait,omitempty"`
	// MaxMemory is this broker's memory budget in bytes: packets being
	// read beyond the pooled 4 KiB buffer, outbound buffers, queued and
	// inflight messages, retained messages and subscription filters are
	// charged to it. When it is spent the broker refuses or sheds the
	// newest demand (see the README's limits section). A Budget given with
	// WithMemoryBudget (a node's, shared by its brokers) is charged too.
	// Default 1 GiB.
	MaxMemory int64 `json:"max_memory,omitempty"`
	// ServerName is reported in $SYS/broker/version. Default "jmqx".
	ServerName string `json:"server_name,omitempty"`
	// StoreSync, with a Store (WithStore), sends a PUBACK or PUBREC only
	// once what its message changed in persistent sessions and the
	// retained store is written (Store.Write returned: on disk, for the
	// bbolt Store), and a SUBACK or UNSUBACK only once the subscription
	// change is; publishers waiting at the same time share one write.
	// Default false: acknowledgements do not wait, and every change is
	// written within StoreInterval.
	StoreSync bool `json:"store_sync,omitempty"`
	// StoreInterval is the longest a change of a persistent session or of
	// the retained store waits before it is written to the Store: what a
	// crash can lose in the default mode. Default 1s.
	StoreInterval time.Duration `json:"store_interval,omitempty"`
}

// Defaults of Config, documented on its fields.
const (
	DefaultMaxPacketSize        = 1 << 20
	DefaultConnectTimeout       = 10 * time.Second
	DefaultReceiveMaximum       = 32
	DefaultMaxInflight          = 256
	DefaultMaxQueuedMessages    = 1000
	DefaultStoreInterval        = time.Second
	DefaultMaxTopicLevels       = 128
	DefaultTopicAliasMaximum    = 16
	DefaultMaxConnections       = 100000
	DefaultMaxKeepAlive         = 65535
	DefaultMaxSessionExpiry     = 0xFFFFFFFF
	DefaultMaxClientIDLength    = 65535
	DefaultSysInterval          = 10 * time.Second
	DefaultWriteTimeout         = 30 * time.Second
	DefaultRateWait             = time.Second
	DefaultMaxQueuedBytes       = 64 << 20
	DefaultMaxOutboundBytes     = 4 << 20
	DefaultMaxSubscriptionBytes = 256 << 10
	DefaultSlowConsumerWait     = 2 * time.Second
	DefaultMaxMemory            = 1 << 30
)

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	var c Config
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.MaxPacketSize == 0 {
		c.MaxPacketSize = DefaultMaxPacketSize
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ReceiveMaximum == 0 {
		c.ReceiveMaximum = DefaultReceiveMaximum
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.MaxQueuedMessages == 0 {
		c.MaxQueuedMessages = DefaultMaxQueuedMessages
	}
	if c.MaxTopicLevels == 0 {
		c.MaxTopicLevels = DefaultMaxTopicLevels
	}
	if c.TopicAliasMaximum == 0 {
		c.TopicAliasMaximum = DefaultTopicAliasMaximum
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.MaxKeepAlive == 0 {
		c.MaxKeepAlive = DefaultMaxKeepAlive
	}
	if c.MaxSessionExpiry == 0 {
		c.MaxSessionExpiry = DefaultMaxSessionExpiry
	}
	if c.MaxClientIDLength == 0 {
		c.MaxClientIDLength = DefaultMaxClientIDLength
	}
	if c.MaxQoS == 0 {
		c.MaxQoS = 2
	}
	if c.SysInterval == 0 {
		c.SysInterval = DefaultSysInterval
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.RateWait == 0 {
		c.RateWait = DefaultRateWait
	}
	if c.MaxQueuedBytes == 0 {
		c.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if c.MaxOutboundBytes == 0 {
		c.MaxOutboundBytes = DefaultMaxOutboundBytes
	}
	if c.MaxSubscriptionBytes == 0 {
		c.MaxSubscriptionBytes = DefaultMaxSubscriptionBytes
	}
	if c.SlowConsumerWait == 0 {
		c.SlowConsumerWait = DefaultSlowConsumerWait
	}
	if c.MaxMemory == 0 {
		c.MaxMemory = DefaultMaxMemory
	}
	if c.ServerName == "" {
		c.ServerName = "jmqx"
	}
	if c.StoreInterval == 0 {
		c.StoreInterval = DefaultStoreInterval
	}
}

// Validate reports the first invalid field of c (after defaults are applied).
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("broker: config: "+format, args...))
		}
	}
	check(c.MaxPacketSize >= 64 && c.MaxPacketSize <= 268435460, "max_packet_size %d: must be 64..268435460", c.MaxPacketSize)
	check(c.StoreInterval > 0 && c.StoreInterval <= time.Hour, "store_interval %s: must be positive, at most 1h", c.StoreInterval)
	check(c.ConnectTimeout > 0, "connect_timeout %s: must be positive", c.ConnectTimeout)
	check(c.ReceiveMaximum > 0 && c.ReceiveMaximum <= 65535, "receive_maximum %d: must be 1..65535", c.ReceiveMaximum)
	check(c.MaxInflight > 0 && c.MaxInflight <= 65535, "max_inflight %d: must be 1..65535", c.MaxInflight)
	check(c.MaxQueuedMessages > 0, "max_queued_messages %d: must be positive", c.MaxQueuedMessages)
	check(c.MaxTopicLevels > 0, "max_topic_levels %d: must be positive", c.MaxTopicLevels)
	check(c.TopicAliasMaximum >= 0 && c.TopicAliasMaximum <= 65535, "topic_alias_maximum %d: must be 0..65535", c.TopicAliasMaximum)
	check(c.MaxConnections > 0, "max_connections %d: must be positive", c.MaxConnections)
	check(c.MaxKeepAlive > 0 && c.MaxKeepAlive <= 65535, "max_keepalive %d: must be 1..65535", c.MaxKeepAlive)
	check(c.MaxClientIDLength > 0 && c.MaxClientIDLength <= 65535, "max_client_id_length %d: must be 1..65535", c.MaxClientIDLength)
	check(c.MaxQoS >= 1 && c.MaxQoS <= 2, "max_qos %d: must be 1 or 2", c.MaxQoS)
	check(c.WriteTimeout > 0, "write_timeout %s: must be positive", c.WriteTimeout)
	check(c.MaxConnectRate >= 0, "max_connect_rate %g: must not be negative", c.MaxConnectRate)
	check(c.MaxClientMessageRate >= 0, "max_client_message_rate %g: must not be negative", c.MaxClientMessageRate)
	check(c.MaxClientByteRate >= 0, "max_client_byte_rate %g: must not be negative", c.MaxClientByteRate)
	check(c.MaxMessageRate >= 0, "max_message_rate %g: must not be negative", c.MaxMessageRate)
	check(c.MaxByteRate >= 0, "max_byte_rate %g: must not be negative", c.MaxByteRate)
	check(c.MaxSubscriptionsPerClient >= 0, "max_subscriptions_per_client %d: must not be negative", c.MaxSubscriptionsPerClient)
	check(c.MaxRetainedMessages >= 0, "max_retained_messages %d: must not be negative", c.MaxRetainedMessages)
	check(c.MaxRetainedBytes >= 0, "max_retained_bytes %d: must not be negative", c.MaxRetainedBytes)
	check(c.MinKeepAlive >= 0 && c.MinKeepAlive <= c.MaxKeepAlive, "min_keepalive %d: must be 0..max_keepalive (%d)", c.MinKeepAlive, c.MaxKeepAlive)
	check(c.MaxQueuedBytes > 0, "max_queued_bytes %d: must be positive", c.MaxQueuedBytes)
	check(c.MaxOutboundBytes > 0, "max_outbound_bytes %d: must be positive", c.MaxOutboundBytes)
	check(c.MaxSubscriptionBytes > 0, "max_subscription_bytes %d: must be positive", c.MaxSubscriptionBytes)
	check(c.SlowConsumerWait > 0, "slow_consumer_wait %s: must be positive", c.SlowConsumerWait)
	check(c.MaxMemory >= 1<<20, "max_memory %d: must be at least 1 MiB", c.MaxMemory)
	for _, v := range c.ProtocolVersions {
		check(v >= 3 && v <= 5, "protocol_versions: %d: must be 3, 4 or 5", v)
	}
	return errors.Join(errs...)
}
