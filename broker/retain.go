package broker

import (
	"time"

	"github.com/jmqx/jmqx/internal/packet"
)

// RetainReplicator is implemented by Peers that keep the retained store the
// same on every node (package cluster does). The broker hands it every
// retained set or clear published on this node (a client's retained
// PUBLISH, a retained in-process Publish, a retained will); retained
// messages of the broker itself ($SYS) stay on the node.
type RetainReplicator interface {
	// Retain is called for a retained message m published on this node (an
	// empty payload clears the topic). It calls store once, which applies
	// m to this broker's store and reports whether it did, and tells the
	// peers when it did; it returns store's answer. Calling store from
	// Retain lets the replicator order the change with those arriving from
	// peers. m is valid for the call only.
	Retain(m *WirePublish, store func() bool) bool
}

// retain stores m in the retained store (or clears its topic), through the
// peers' RetainReplicator when there is one; false when the memory budget
// refuses it.
func (b *Broker) retain(m *message) bool {
	rp, ok := b.peersOf().(RetainReplicator)
	if !ok {
		return b.storeRetained(m)
	}
	pub := m.wire(time.Now().UnixNano())
	return rp.Retain(&pub, func() bool { return b.storeRetained(m) })
}

// wire returns m as a PUBLISH to hand to peers (aliasing m's data), its
// expiry the time left at now.
func (m *message) wire(now int64) packet.Publish {
	pub := packet.Publish{Topic: m.topic, Payload: m.payload, QoS: m.qos, Retain: m.retain}
	pub.Props = m.props
	pub.Props.Present &= forwardedProps
	if m.expireAt != 0 {
		pub.Props.MessageExpiry = max(m.remainingExpiry(now), 1)
		pub.Props.Set(packet.PropMessageExpiry)
	}
	return pub
}

// ApplyRetained applies a retained set or clear (empty payload) that
// another node replicated: it goes to this broker's retained store only,
// delivered to nobody now (the message reached the subscribers as it was
// published) and never handed to Peers again. Quotas are checked where the
// message was published; false when the memory budget refuses it.
func (b *Broker) ApplyRetained(m *WirePublish) bool {
	if b.closed() {
		return false
	}
	if len(m.Payload) == 0 {
		b.dropRetained(m.Topic)
		return true
	}
	msg := newMessage(m, nil, time.Now())
	msg.retain = true
	return b.storeRetained(msg)
}

// RetainedMessage returns the retained message of topic as a PUBLISH (its
// expiry the time left), for a peer that repairs its copy of the store.
func (b *Broker) RetainedMessage(topic string) (WirePublish, bool) {
	m, ok := b.retained.Get(topic)
	if !ok {
		return WirePublish{}, false
	}
	now := time.Now().UnixNano()
	if m.expireAt != 0 && m.expireAt <= now {
		return WirePublish{}, false
	}
	return m.wire(now), true
}
