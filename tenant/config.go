package tenant

import (
	"time"

	"github.com/jmqx/jmqx/broker"
)

// unlimitedConnections stands for a negative Limits.MaxConnections ("no
// limit"): broker.Config needs a positive bound.
const unlimitedConnections = 1 << 30

// brokerConfig returns base with s's defaulted Limits applied, for the
// tenant's broker.Broker. Fields Limits does not cover (timeouts, topic
// levels, receive maximum, ...) keep base's values. A negative "no limit"
// quota becomes the broker's 0 ("no limit"), except MaxConnections, which
// the broker requires to be positive. For a Spec that passes Validate the
// result passes broker.Config.Validate (given a valid base).
func (s Spec) brokerConfig(base broker.Config) broker.Config {
	d := s.WithDefaults()
	l := d.Limits
	c := base
	c.ServerName = "jmqx/" + s.Name

	c.MaxConnections = l.MaxConnections
	if c.MaxConnections < 0 {
		c.MaxConnections = unlimitedConnections
	}
	c.MaxConnectRate = max(l.MaxConnectsPerSecond, 0)
	c.MaxClientMessageRate = l.MaxClientMessagesPerSecond
	c.MaxClientByteRate = l.MaxClientBytesPerSecond
	c.MaxMessageRate = l.MaxMessagesPerSecond
	c.MaxByteRate = l.MaxBytesPerSecond
	c.MaxSubscriptionsPerClient = max(l.MaxSubscriptionsPerClient, 0)
	c.MaxRetainedMessages = max(l.MaxRetainedMessages, 0)
	c.MaxRetainedBytes = max(l.MaxRetainedBytes, 0)

	c.MaxPacketSize = l.MaxPacketSize
	c.MaxInflight = l.MaxInflight
	c.MaxQueuedMessages = l.MaxQueuedMessages
	c.MaxQueuedBytes = l.MaxQueuedBytes
	c.MaxOutboundBytes = l.MaxOutboundBytes
	c.MaxSubscriptionBytes = l.MaxSubscriptionBytes
	c.SlowConsumerWait = time.Duration(l.SlowConsumerWaitMS) * time.Millisecond
	c.MaxMemory = l.MaxMemory
	c.MaxSessionExpiry = l.MaxSessionExpiry
	c.MinKeepAlive = l.MinKeepAlive
	c.MaxKeepAlive = l.MaxKeepAlive
	c.MaxQoS = l.MaxQoS
	c.ProtocolVersions = make([]byte, len(l.ProtocolVersions))
	for i, v := range l.ProtocolVersions {
		c.ProtocolVersions[i] = byte(v)
	}
	c.DisableRetain = !*l.Retain
	c.DisableWildcardSubscriptions = !*l.WildcardSubscriptions
	c.DisableSharedSubscriptions = !*l.SharedSubscriptions
	return c
}
