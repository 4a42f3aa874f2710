package tenant

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/jmqx/jmqx/internal/packet"
)

// Defaults of Limits, documented on its fields.
const (
	// DefaultMaxConnections is the default of Limits.MaxConnections.
	DefaultMaxConnections = 10000
	// DefaultMaxConnectsPerSecond is the default of Limits.MaxConnectsPerSecond.
	DefaultMaxConnectsPerSecond = 1000
	// DefaultMaxSubscriptionsPerClient is the default of
	// Limits.MaxSubscriptionsPerClient.
	DefaultMaxSubscriptionsPerClient = 1000
	// DefaultMaxRetainedMessages is the default of Limits.MaxRetainedMessages.
	DefaultMaxRetainedMessages = 100000
	// DefaultMaxRetainedBytes is the default of Limits.MaxRetainedBytes (256 MiB).
	DefaultMaxRetainedBytes = 256 << 20
	// DefaultMaxPacketSize is the default of Limits.MaxPacketSize (1 MiB).
	DefaultMaxPacketSize = 1 << 20
	// DefaultMaxInflight is the default of Limits.MaxInflight.
	DefaultMaxInflight = 256
	// DefaultMaxQueuedMessages is the default of Limits.MaxQueuedMessages.
	DefaultMaxQueuedMessages = 1000
	// DefaultMaxQueuedBytes is the default of Limits.MaxQueuedBytes (64 MiB).
	DefaultMaxQueuedBytes = 64 << 20
	// DefaultMaxOutboundBytes is the default of Limits.MaxOutboundBytes (4 MiB).
	DefaultMaxOutboundBytes = 4 << 20
	// DefaultMaxSubscriptionBytes is the default of
	// Limits.MaxSubscriptionBytes (256 KiB).
	DefaultMaxSubscriptionBytes = 256 << 10
	// ClusterAckAll and ClusterAckLocal are the values of
	// Limits.ClusterAck; ClusterAckAll is the default.
	ClusterAckAll   = "all"
	ClusterAckLocal = "local"
	// PersistenceDefault, PersistenceSync and PersistenceOff are the
	// values of Limits.Persistence; PersistenceDefault is the default.
	PersistenceDefault = "default"
	PersistenceSync    = "sync"
	PersistenceOff     = "off"
	// DefaultSlowConsumerWaitMS is the default of Limits.SlowConsumerWaitMS,
	// in milliseconds (2 s).
	DefaultSlowConsumerWaitMS = 2000
	// DefaultMaxMemory is the default of Limits.MaxMemory (1 GiB).
	DefaultMaxMemory = 1 << 30
	// DefaultMaxSessionExpiry is the default of Limits.MaxSessionExpiry, in
	// seconds (one day).
	DefaultMaxSessionExpiry = 86400
	// DefaultMaxKeepAlive is the default of Limits.MaxKeepAlive, in seconds
	// (no maximum).
	DefaultMaxKeepAlive = 65535
	// DefaultMaxQoS is the default of Limits.MaxQoS.
	DefaultMaxQoS = 2
	// DefaultWSPath is the default of Listeners.WSPath.
	DefaultWSPath = "/mqtt"
)

// Bounds checked by Validate.
const (
	maxUserNameLen   = 256
	minPacketSize    = 64
	maxPacketSize    = 268435460 // the largest MQTT packet: 256 MiB of body plus the fixed header
	maxUint16        = 65535
	maxSlowWaitMS    = 3600000 // one hour
	minMemory        = 1 << 20 // broker.Config's minimum MaxMemory
	clientAuthNone   = "none"
	clientAuthReq    = "request"
	clientAuthRequir = "require"
)

// DefaultProtocolVersions returns the default of Limits.ProtocolVersions:
// 3 (MQTT 3.1), 4 (3.1.1) and 5. Each call returns a new slice.
func DefaultProtocolVersions() []int { return []int{3, 4, 5} }

// nameRE is the tenant name rule but for the first character, which must
// not be '-' (checked apart, for a message of its own).
var nameRE = regexp.MustCompile(`^[a-z0-9-]{1,63}$`)

// Validate reports every problem of s, joined with errors.Join; each
// names the tenant, the field's JSON path and the rule it breaks. It
// accepts the zero value of every optional field (meaning its default).
func (s Spec) Validate() error {
	v := validator{prefix: fmt.Sprintf("tenant %q: ", s.Name)}
	switch {
	case !nameRE.MatchString(s.Name):
		v.prefix = "tenant: "
		v.add("name %q: must be 1-63 lower-case letters, digits and '-', not starting with '-'", s.Name)
	case s.Name[0] == '-':
		// It would read as a flag on a command line.
		v.prefix = "tenant: "
		v.add("name %q: must not start with '-' (1-63 lower-case letters, digits and '-', starting with a letter or digit)", s.Name)
	}
	v.listeners(&s.Listeners)
	v.auth(&s.Auth)
	v.acl(&s.ACL)
	v.limits(&s.Limits)
	return errors.Join(v.errs...)
}

// validator collects the problems of one Spec.
type validator struct {
	prefix string
	errs   []error
}

func (v *validator) add(format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf(v.prefix+format, args...))
}

func (v *validator) listeners(l *Listeners) {
	ports := []struct {
		field string
		port  Port
	}{{"mqtt", l.MQTT}, {"mqtts", l.MQTTS}, {"ws", l.WS}, {"wss", l.WSS}}
	used := map[int]string{}
	for _, p := range ports {
		if !p.port.valid() {
			v.add("listeners.%s %q: must be %q, %q, empty or a port number 1..65535", p.field, p.port, PortAuto, PortOff)
			continue
		}
		if n, ok := p.port.Number(); ok {
			if other, dup := used[n]; dup {
				v.add("listeners.%s %d: port already used by listeners.%s", p.field, n, other)
			}
			used[n] = p.field
		}
	}
	if l.WSPath != "" && !strings.HasPrefix(l.WSPath, "/") {
		v.add("listeners.ws_path %q: must start with '/'", l.WSPath)
	}
	if t := l.TLS; t != nil {
		if t.CertFile == "" {
			v.add("listeners.tls.cert_file: required")
		}
		if t.KeyFile == "" {
			v.add("listeners.tls.key_file: required")
		}
		switch t.ClientAuth {
		case "", clientAuthNone:
		case clientAuthReq, clientAuthRequir:
			if t.CAFile == "" {
				v.add("listeners.tls.ca_file: required with client_auth %q", t.ClientAuth)
			}
		default:
			v.add("listeners.tls.client_auth %q: must be %q, %q or %q", t.ClientAuth, clientAuthNone, clientAuthReq, clientAuthRequir)
		}
	}
}

func (v *validator) auth(a *Auth) {
	names := map[string]int{}
	for i, u := range a.Users {
		switch {
		case u.Name == "":
			v.add("auth.users[%d].name: required", i)
		case len(u.Name) > maxUserNameLen:
			v.add("auth.users[%d].name: %d bytes: must be at most %d", i, len(u.Name), maxUserNameLen)
		case !utf8.ValidString(u.Name):
			v.add("auth.users[%d].name %q: must be valid UTF-8", i, u.Name)
		default:
			if j, dup := names[u.Name]; dup {
				v.add("auth.users[%d].name %q: already used by auth.users[%d]", i, u.Name, j)
			} else {
				names[u.Name] = i
			}
		}
		if len(u.PasswordHashes) == 0 {
			v.add("auth.users[%d].password_hashes: at least one required", i)
		}
		for j, h := range u.PasswordHashes {
			if _, err := parseHash(h); err != nil {
				v.add("auth.users[%d].password_hashes[%d]: %v", i, j, err)
			}
		}
	}
	cns := map[string]int{}
	for i, cn := range a.CertificateCNs {
		if cn == "" {
			v.add("auth.certificate_cns[%d]: must not be empty", i)
			continue
		}
		if j, dup := cns[cn]; dup {
			v.add("auth.certificate_cns[%d] %q: already listed at auth.certificate_cns[%d]", i, cn, j)
		}
		cns[cn] = i
	}
}

func (v *validator) acl(a *ACL) {
	switch a.Default {
	case "", Allow, Deny:
	default:
		v.add("acl.default %q: must be %q or %q", a.Default, Allow, Deny)
	}
	for i, r := range a.Rules {
		switch r.Action {
		case Allow, Deny:
		default:
			v.add("acl.rules[%d].action %q: must be %q or %q", i, r.Action, Allow, Deny)
		}
		switch r.Access {
		case "", AccessPublish, AccessSubscribe, AccessAll:
		default:
			v.add("acl.rules[%d].access %q: must be %q, %q or %q", i, r.Access, AccessPublish, AccessSubscribe, AccessAll)
		}
		if err := validRuleTopic(r.Topic); err != nil {
			v.add("acl.rules[%d].topic %q: %v", i, r.Topic, err)
		}
		if len(r.User) > maxUserNameLen {
			v.add("acl.rules[%d].user: %d bytes: must be at most %d", i, len(r.User), maxUserNameLen)
		}
	}
}

// validRuleTopic checks a rule's topic filter with %u and %c stood in for.
func validRuleTopic(topic string) error {
	t := strings.NewReplacer("%u", "x", "%c", "x").Replace(topic)
	if strings.HasPrefix(t, "$share/") {
		return errors.New("must not be a shared subscription filter: rules apply to the filter after $share/{group}/")
	}
	if err := packet.ValidateTopicFilter(t); err != nil {
		return fmt.Errorf("must be a valid topic filter: %w", err)
	}
	return nil
}

func (v *validator) limits(l *Limits) {
	rate := func(field string, x float64, noLimit bool) {
		switch {
		case math.IsNaN(x) || math.IsInf(x, 0):
			v.add("limits.%s %g: must be a finite number", field, x)
		case x < 0 && !noLimit:
			v.add("limits.%s %g: must not be negative", field, x)
		}
	}
	// Quotas where a negative value means no limit need no check.
	rate("max_connects_per_second", l.MaxConnectsPerSecond, true)
	rate("max_client_messages_per_second", l.MaxClientMessagesPerSecond, false)
	rate("max_client_bytes_per_second", l.MaxClientBytesPerSecond, false)
	rate("max_messages_per_second", l.MaxMessagesPerSecond, false)
	rate("max_bytes_per_second", l.MaxBytesPerSecond, false)
	if n := l.MaxPacketSize; n != 0 && (n < minPacketSize || n > maxPacketSize) {
		v.add("limits.max_packet_size %d: must be 0 (default) or %d..%d", n, minPacketSize, maxPacketSize)
	}
	if n := l.MaxInflight; n < 0 || n > maxUint16 {
		v.add("limits.max_inflight %d: must be 0..%d", n, maxUint16)
	}
	if n := l.MaxQueuedMessages; n < 0 {
		v.add("limits.max_queued_messages %d: must not be negative", n)
	}
	for _, q := range []struct {
		field string
		n     int64
	}{
		{"max_queued_bytes", l.MaxQueuedBytes},
		{"max_outbound_bytes", int64(l.MaxOutboundBytes)},
		{"max_subscription_bytes", int64(l.MaxSubscriptionBytes)},
	} {
		if q.n < 0 {
			v.add("limits.%s %d: must not be negative", q.field, q.n)
		}
	}
	if a := l.ClusterAck; a != "" && a != ClusterAckAll && a != ClusterAckLocal {
		v.add("limits.cluster_ack %q: must be %q or %q", a, ClusterAckAll, ClusterAckLocal)
	}
	switch l.Persistence {
	case "", PersistenceDefault, PersistenceSync, PersistenceOff:
	default:
		v.add("limits.persistence %q: must be %q, %q or %q", l.Persistence, PersistenceDefault, PersistenceSync, PersistenceOff)
	}
	if n := l.SlowConsumerWaitMS; n < 0 || n > maxSlowWaitMS {
		v.add("limits.slow_consumer_wait_ms %d: must be 0..%d (one hour)", n, maxSlowWaitMS)
	}
	if n := l.MaxMemory; n != 0 && n < minMemory {
		v.add("limits.max_memory %d: must be 0 (default) or at least %d (1 MiB)", n, minMemory)
	}
	if n := l.MinKeepAlive; n < 0 || n > maxUint16 {
		v.add("limits.min_keepalive %d: must be 0..%d", n, maxUint16)
	}
	if n := l.MaxKeepAlive; n < 0 || n > maxUint16 {
		v.add("limits.max_keepalive %d: must be 0..%d", n, maxUint16)
	}
	if l.MinKeepAlive > 0 && l.MaxKeepAlive > 0 && l.MinKeepAlive > l.MaxKeepAlive {
		v.add("limits.min_keepalive %d: must not exceed limits.max_keepalive %d", l.MinKeepAlive, l.MaxKeepAlive)
	}
	for i, pv := range l.ProtocolVersions {
		if pv < 3 || pv > 5 {
			v.add("limits.protocol_versions[%d] %d: must be 3, 4 or 5", i, pv)
		} else if slices.Index(l.ProtocolVersions, pv) != i {
			v.add("limits.protocol_versions[%d] %d: listed twice", i, pv)
		}
	}
	if n := l.MaxQoS; n < 0 || n > 2 {
		v.add("limits.max_qos %d: must be 1 or 2 (0: default 2)", n)
	}
}

// WithDefaults returns a deep copy of s with every unset Limits field, the
// ACL default and the WebSocket path filled in. Listener ports are left as
// they are: the Host decides those. Negative "no limit" values are kept.
func (s Spec) WithDefaults() Spec {
	s = s.Clone()
	l := &s.Limits
	setInt := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	setInt(&l.MaxConnections, DefaultMaxConnections)
	if l.MaxConnectsPerSecond == 0 {
		l.MaxConnectsPerSecond = DefaultMaxConnectsPerSecond
	}
	setInt(&l.MaxSubscriptionsPerClient, DefaultMaxSubscriptionsPerClient)
	setInt(&l.MaxRetainedMessages, DefaultMaxRetainedMessages)
	if l.MaxRetainedBytes == 0 {
		l.MaxRetainedBytes = DefaultMaxRetainedBytes
	}
	setInt(&l.MaxPacketSize, DefaultMaxPacketSize)
	setInt(&l.MaxInflight, DefaultMaxInflight)
	setInt(&l.MaxQueuedMessages, DefaultMaxQueuedMessages)
	if l.MaxQueuedBytes == 0 {
		l.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	setInt(&l.MaxOutboundBytes, DefaultMaxOutboundBytes)
	setInt(&l.MaxSubscriptionBytes, DefaultMaxSubscriptionBytes)
	setInt(&l.SlowConsumerWaitMS, DefaultSlowConsumerWaitMS)
	if l.ClusterAck == "" {
		l.ClusterAck = ClusterAckAll
	}
	if l.Persistence == "" {
		l.Persistence = PersistenceDefault
	}
	if l.MaxMemory == 0 {
		l.MaxMemory = DefaultMaxMemory
	}
	if l.MaxSessionExpiry == 0 {
		l.MaxSessionExpiry = DefaultMaxSessionExpiry
	}
	setInt(&l.MaxKeepAlive, DefaultMaxKeepAlive)
	setInt(&l.MaxQoS, DefaultMaxQoS)
	if len(l.ProtocolVersions) == 0 {
		l.ProtocolVersions = DefaultProtocolVersions()
	}
	for _, b := range []**bool{&l.Retain, &l.WildcardSubscriptions, &l.SharedSubscriptions} {
		if *b == nil {
			t := true
			*b = &t
		}
	}
	if s.ACL.Default == "" {
		s.ACL.Default = Allow
	}
	if s.Listeners.WSPath == "" {
		s.Listeners.WSPath = DefaultWSPath
	}
	return s
}

// Clone returns a deep copy of s, sharing no slice or pointer with it.
func (s Spec) Clone() Spec {
	if s.Listeners.TLS != nil {
		t := *s.Listeners.TLS
		s.Listeners.TLS = &t
	}
	if s.Auth.Users != nil {
		users := make([]User, len(s.Auth.Users))
		for i, u := range s.Auth.Users {
			users[i] = User{Name: u.Name, PasswordHashes: slices.Clone(u.PasswordHashes)}
		}
		s.Auth.Users = users
	}
	s.Auth.CertificateCNs = slices.Clone(s.Auth.CertificateCNs)
	s.ACL.Rules = slices.Clone(s.ACL.Rules)
	s.Limits.ProtocolVersions = slices.Clone(s.Limits.ProtocolVersions)
	for _, b := range []**bool{&s.Limits.Retain, &s.Limits.WildcardSubscriptions, &s.Limits.SharedSubscriptions} {
		if *b != nil {
			v := **b
			*b = &v
		}
	}
	return s
}
