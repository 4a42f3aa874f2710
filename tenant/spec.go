package tenant

// Spec is the definition of one tenant. It is plain data, serialized as
// JSON by the control plane; Validate reports what is wrong with it and
// WithDefaults fills in every unset field. The zero value of a field means
// its documented default.
type Spec struct {
	// Name is the tenant's namespace: 1 to 63 lower-case letters, digits
	// and '-'. Required; it never changes.
	Name string `json:"name"`
	// Listeners are the tenant's own ports.
	Listeners Listeners `json:"listeners"`
	// Auth says who may connect.
	Auth Auth `json:"auth"`
	// ACL says what they may publish and subscribe to.
	ACL ACL `json:"acl"`
	// Limits are the quotas and the protocol profile.
	Limits Limits `json:"limits"`
}

// Port values of a listener besides a number.
const (
	// PortAuto takes a free port from the Host's port range.
	PortAuto = "auto"
	// PortOff turns the listener off.
	PortOff = "off"
)

// Port says where one listener binds: a decimal port number ("1883"),
// PortAuto or PortOff. In JSON it is a number or one of those strings.
// The empty value is the listener's default (see Listeners).
type Port string

// Listeners are a tenant's four listeners. MQTT and WS default to "auto";
// MQTTS and WSS default to "auto" when TLS material is available (the
// tenant's own TLS or the Host's default) and "off" otherwise. A listener
// whose fixed port is busy on a node is moved to a free one there, and the
// Host reports the address actually bound.
type Listeners struct {
	MQTT  Port `json:"mqtt,omitempty"`
	MQTTS Port `json:"mqtts,omitempty"`
	WS    Port `json:"ws,omitempty"`
	WSS   Port `json:"wss,omitempty"`
	// WSPath is the HTTP path of the WebSocket listeners. Default "/mqtt".
	WSPath string `json:"ws_path,omitempty"`
	// TLS is the tenant's own certificate for MQTTS and WSS. Default: the
	// Host's TLS material.
	TLS *TLS `json:"tls,omitempty"`
}

// ListenerKind names one of a tenant's four listeners: the key of
// Status.Listeners and the listener argument of WithPortHints. In JSON it
// is the plain string, the listener's field name in Listeners.
type ListenerKind string

// The four listener kinds of a tenant.
const (
	ListenerMQTT  ListenerKind = "mqtt"  // MQTT over TCP
	ListenerMQTTS ListenerKind = "mqtts" // MQTT over TLS
	ListenerWS    ListenerKind = "ws"    // MQTT over WebSocket
	ListenerWSS   ListenerKind = "wss"   // MQTT over secure WebSocket
)

// TLS is a tenant's certificate material: PEM files on each node.
type TLS struct {
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
	// CAFile verifies client certificates; required with ClientAuth
	// "request" or "require".
	CAFile string `json:"ca_file,omitempty"`
	// ClientAuth is "none" (default), "request" or "require".
	ClientAuth string `json:"client_auth,omitempty"`
}

// Auth says who may connect to a tenant.
type Auth struct {
	// AllowAnonymous admits clients that send no user name. Default false.
	AllowAnonymous bool `json:"allow_anonymous,omitempty"`
	// Users are the tenant's credentials, unique by name.
	Users []User `json:"users,omitempty"`
	// CertificateCNs admits clients presenting a verified TLS client
	// certificate whose subject common name is listed; the common name
	// becomes their user name (for the ACL's "user" and %u). Default none.
	CertificateCNs []string `json:"certificate_cns,omitempty"`
}

// User is one credential of a tenant.
type User struct {
	// Name is the MQTT user name, 1 to 256 bytes.
	Name string `json:"name"`
	// PasswordHashes are bcrypt ("$2a$", "$2b$", "$2y$") or argon2id
	// ("$argon2id$v=19$m=…,t=…,p=…$salt$hash") hashes, never plain text. A
	// password matching any of them is accepted, so a credential is rotated
	// by adding the new hash, then removing the old one. At least one.
	PasswordHashes []string `json:"password_hashes"`
}

// Action is what an ACL rule does, or an ACL's Default: Allow or Deny.
// In JSON it is the plain string.
type Action string

// The actions of ACL rules.
const (
	Allow Action = "allow"
	Deny  Action = "deny"
)

// Access is what an ACL rule covers: AccessPublish, AccessSubscribe or
// AccessAll. In JSON it is the plain string.
type Access string

// The accesses of ACL rules.
const (
	AccessPublish   Access = "publish"
	AccessSubscribe Access = "subscribe"
	AccessAll       Access = "all"
)

// ACL is an ordered list of rules; the first rule that applies decides,
// and Default decides when none does.
type ACL struct {
	// Default is Allow or Deny. Default Allow.
	Default Action `json:"default,omitempty"`
	Rules   []Rule `json:"rules,omitempty"`
}

// Rule allows or denies publishing and/or subscribing on a topic filter.
// In Topic, %u stands for the client's user name and %c for its client
// identifier. Where the value stood for is empty (%u of a client without
// a user name) or holds '/', '+' or '#', the rule fails closed, so a name
// can neither widen an allow nor slip past a deny: an allow rule with it
// never applies, and a deny rule with it applies to every topic and
// filter (for the accesses and user it names). A publish rule
// applies when Topic matches the published topic. An allow rule applies to
// a subscription when Topic covers every topic the requested filter can
// match; a deny rule when the two overlap at all, so a deny can never be
// bypassed with a wider wildcard. For "$share/{group}/{filter}" the rules
// apply to filter; a Topic may not itself be a shared filter.
type Rule struct {
	// Action is Allow or Deny. Required.
	Action Action `json:"action"`
	// Access is AccessPublish, AccessSubscribe or AccessAll. Default
	// AccessAll.
	Access Access `json:"access,omitempty"`
	// Topic is an MQTT topic filter, possibly with %u and %c. Required.
	Topic string `json:"topic"`
	// User restricts the rule to one user name. Default: every client.
	User string `json:"user,omitempty"`
}

// Limits are a tenant's quotas and protocol profile. The zero value of
// every field means its default, given in its comment (the Default*
// constants). A negative MaxConnections, MaxConnectsPerSecond,
// MaxSubscriptionsPerClient, MaxRetainedMessages or MaxRetainedBytes means
// "no limit"; no other field may be negative. Rates are per second, with a
// burst of one second's worth.
type Limits struct {
	// MaxConnections bounds the tenant's concurrent connections; beyond
	// it, CONNACK 0x97 (3.1.1: 0x03). Default 10000.
	MaxConnections int `json:"max_connections,omitempty"`
	// MaxConnectsPerSecond bounds the tenant's connection attempts; beyond
	// it, CONNACK 0x9F (3.1.1: 0x03). Default 1000.
	MaxConnectsPerSecond float64 `json:"max_connects_per_second,omitempty"`
	// MaxClientMessagesPerSecond and MaxClientBytesPerSecond bound what one
	// client publishes; beyond them, DISCONNECT 0x96 (3.1.1: close).
	// Default 0: no limit.
	MaxClientMessagesPerSecond float64 `json:"max_client_messages_per_second,omitempty"`
	MaxClientBytesPerSecond    float64 `json:"max_client_bytes_per_second,omitempty"`
	// MaxMessagesPerSecond and MaxBytesPerSecond bound what the whole
	// tenant publishes. Publishers beyond them are slowed down (their
	// packets are read no faster than the rate, so TCP pushes back); a
	// PUBLISH that would wait more than a second is refused: PUBACK/PUBREC
	// 0x97 (QoS 1/2, v5), dropped and counted otherwise. Default 0: no
	// limit.
	MaxMessagesPerSecond float64 `json:"max_messages_per_second,omitempty"`
	MaxBytesPerSecond    float64 `json:"max_bytes_per_second,omitempty"`
	// MaxSubscriptionsPerClient bounds one session's subscriptions; beyond
	// it, SUBACK 0x97 (3.1.1: 0x80). Default 1000.
	MaxSubscriptionsPerClient int `json:"max_subscriptions_per_client,omitempty"`
	// MaxSubscriptionBytes bounds the total length, in bytes, of one
	// session's topic filters; beyond it, SUBACK 0x97 (3.1.1: 0x80).
	// Default 262144 (256 KiB).
	MaxSubscriptionBytes int `json:"max_subscription_bytes,omitempty"`
	// MaxRetainedMessages and MaxRetainedBytes bound the tenant's retained
	// store; a retained PUBLISH beyond them is refused like a rate excess
	// (0x97). Defaults 100000 and 268435456 (256 MiB).
	MaxRetainedMessages int   `json:"max_retained_messages,omitempty"`
	MaxRetainedBytes    int64 `json:"max_retained_bytes,omitempty"`
	// MaxPacketSize is the largest packet accepted, in bytes; beyond it,
	// DISCONNECT 0x95 (3.1.1: close). Default 1048576.
	MaxPacketSize int `json:"max_packet_size,omitempty"`
	// MaxInflight is the outbound QoS 1/2 window per client. Default 256.
	MaxInflight int `json:"max_inflight,omitempty"`
	// MaxQueuedMessages bounds the messages queued per session. Default 1000.
	MaxQueuedMessages int `json:"max_queued_messages,omitempty"`
	// MaxQueuedBytes bounds the bytes (topic plus payload) of the QoS 1
	// and 2 messages one session holds, queued or awaiting
	// acknowledgement; a message beyond it is dropped for that session and
	// counted. Default 67108864 (64 MiB).
	MaxQueuedBytes int64 `json:"max_queued_bytes,omitempty"`
	// MaxOutboundBytes bounds the bytes waiting to be written to one client
	// that reads slowly: beyond it QoS 0 messages to it are dropped and
	// QoS 1/2 ones wait in its session queue. Default 4194304 (4 MiB).
	MaxOutboundBytes int `json:"max_outbound_bytes,omitempty"`
	// SlowConsumerWaitMS is the longest, in milliseconds, a connected
	// subscriber whose queue is full may hold its publishers back (their
	// PUBACK/PUBREC wait); after it, its publishers go on and messages
	// beyond its queue limits are dropped and counted. At most 3600000
	// (one hour). Default 2000.
	SlowConsumerWaitMS int `json:"slow_consumer_wait_ms,omitempty"`
	// ClusterAck says when a publisher's PUBACK / PUBREC is sent in a
	// cluster: "all" (default) once the message is in the sessions of
	// this node and of every node with a matching subscription (a node
	// that dies meanwhile counts as done; a node that does not answer
	// within the cluster's forward wait, 2 s by default, is waited for
	// no longer), "local" once it is in this node's sessions and on its
	// way to the others, for lower latency.
	ClusterAck string `json:"cluster_ack,omitempty"`
	// Persistence says what is kept on disk, on a Host with a store
	// directory (HostConfig.StoreDir), and when a PUBACK / PUBREC (and a
	// SUBACK / UNSUBACK) is sent: "default" once the message is in memory
	// on every node that should have it (see ClusterAck), the change
	// being written to disk within the store interval
	// (BrokerSettings.StoreInterval, 1 s by default: what a crash can
	// lose); "sync" only once the change is written and fsynced on this
	// node, many publishers sharing one fsync; "off" memory only, nothing
	// written (sessions and retained messages do not survive a restart).
	// A change between "default" and "sync" applies at once; a change to
	// or from "off" at the tenant's next start on each node.
	Persistence string `json:"persistence,omitempty"`
	// MaxMemory is the tenant's memory budget in bytes: packets being
	// read, outbound buffers, queued and inflight messages, retained
	// messages and subscription filters are charged to it (and to the
	// node's, HostConfig.MemoryBudget); when it is spent the newest demand
	// is refused or shed. At least 1048576 (1 MiB). Default 1073741824
	// (1 GiB).
	MaxMemory int64 `json:"max_memory,omitempty"`
	// MaxSessionExpiry caps the Session Expiry Interval, seconds. Default
	// 86400 (one day).
	MaxSessionExpiry uint32 `json:"max_session_expiry,omitempty"`
	// MinKeepAlive and MaxKeepAlive bound the keep alive, seconds: a v5
	// client asking for less or more is given the bound as Server Keep
	// Alive (asking for 0 gives MaxKeepAlive when it is set below 65535).
	// Defaults 0 (no minimum) and 65535 (no maximum).
	MinKeepAlive int `json:"min_keepalive,omitempty"`
	MaxKeepAlive int `json:"max_keepalive,omitempty"`
	// ProtocolVersions are the protocol levels accepted: 3 (3.1), 4
	// (3.1.1), 5. Others get CONNACK 0x84 (3.1.1: 0x01). Default all three.
	ProtocolVersions []int `json:"protocol_versions,omitempty"`
	// MaxQoS is the highest QoS, 1 or 2. Default 2.
	MaxQoS int `json:"max_qos,omitempty"`
	// Retain, WildcardSubscriptions and SharedSubscriptions turn those
	// features on or off. Default on.
	Retain                *bool `json:"retain,omitempty"`
	WildcardSubscriptions *bool `json:"wildcard_subscriptions,omitempty"`
	SharedSubscriptions   *bool `json:"shared_subscriptions,omitempty"`
}
