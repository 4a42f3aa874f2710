package broker

import (
	"go.uber.org/zap"

	"github.com/jmqx/jmqx/broker/packet"
)

// pubSpec describes one outgoing PUBLISH.
type pubSpec struct {
	topic          string
	payload        []byte
	props          *packet.Properties // forwarded properties of the message
	qos            byte
	retain         bool
	dup            bool
	subIDs         []uint32
	alias          uint16
	aliasOnly      bool // send the alias with an empty topic
	expiry         uint32
	overrideExpiry bool
}

// appendPublish encodes sp for version into dst with a zero packet
// identifier. It returns the buffer and the absolute offset
// of the packet identifier (meaningful for QoS > 0).
func appendPublish(dst []byte, version byte, sp *pubSpec) ([]byte, int) {
	var enc packet.Publish
	enc.Dup, enc.QoS, enc.Retain = sp.dup, sp.qos, sp.retain
	enc.Topic, enc.Payload, enc.PacketID = sp.topic, sp.payload, 0
	if sp.aliasOnly {
		enc.Topic = ""
	}
	if version == packet.V5 {
		enc.Props = *sp.props
		enc.Props.Present &= forwardedProps
		enc.Props.SubscriptionIDs = sp.subIDs
		if len(sp.subIDs) > 0 {
			enc.Props.Set(packet.PropSubscriptionID)
		}
		if sp.alias != 0 {
			enc.Props.TopicAlias = sp.alias
			enc.Props.Set(packet.PropTopicAlias)
		}
		if sp.overrideExpiry {
			enc.Props.MessageExpiry = sp.expiry
			enc.Props.Set(packet.PropMessageExpiry)
		}
	}
	start := len(dst)
	dst = enc.AppendTo(dst, version)
	_, hl, _ := packet.ParseFixedHeader(dst[start:])
	return dst, start + hl + 2 + len(sp.topic)*btoi(!sp.aliasOnly)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// writeStatus is the outcome of queueing a PUBLISH on a client.
type writeStatus int

const (
	written  writeStatus = iota
	tooLarge             // exceeds the client's Maximum Packet Size: dropped [MQTT-3.1.2-24]
	closing              // the connection is closing: not written
	backlog              // QoS 0 and the client's backlog is full: dropped
)

// writePublish encodes sp straight into the outbound buffer with packet
// identifier pid, applying an outbound topic alias when the client accepts
// them. The session's mu must be held (it guards the alias table).
func (c *client) writePublish(sp *pubSpec, pid uint16) writeStatus {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if st := c.reserveLocked(sp.qos == 0); st != written {
		return st
	}
	start := len(c.out)
	var pidOff int
	c.out, pidOff = appendPublish(c.out, c.version, sp)
	if size := len(c.out) - start; size > c.maxOutPacket {
		c.out = c.out[:start]
		c.dropTooLarge(size)
		return tooLarge
	}
	if c.aliasOutMax > 0 && c.version == packet.V5 {
		if changed, assigned := c.applyAliasOut(sp); changed {
			c.out = c.out[:start]
			c.out, pidOff = appendPublish(c.out, c.version, sp)
			if size := len(c.out) - start; size > c.maxOutPacket { // the alias property made it too large
				if assigned { // the client never learns this alias
					delete(c.aliasesOut, sp.topic)
				}
				c.out = c.out[:start]
				c.dropTooLarge(size)
				return tooLarge
			}
		}
	}
	putPID(c.out, pidOff, pid)
	c.startFlushLocked()
	return written
}

// applyAliasOut picks the outbound topic alias for sp's topic, assigning a
// new one while the client's Topic Alias Maximum allows. It reports whether
// sp changed and whether the alias was assigned just now.
func (c *client) applyAliasOut(sp *pubSpec) (changed, assigned bool) {
	if a, ok := c.aliasesOut[sp.topic]; ok {
		sp.alias, sp.aliasOnly = a, true
		return true, false
	}
	if len(c.aliasesOut) >= int(c.aliasOutMax) {
		return false, false
	}
	if c.aliasesOut == nil {
		c.aliasesOut = make(map[string]uint16, c.aliasOutMax)
	}
	a := uint16(len(c.aliasesOut) + 1)
	c.aliasesOut[sp.topic] = a
	sp.alias = a
	return true, true
}

// dropTooLarge counts and logs a message not sent because it exceeds the
// client's Maximum Packet Size [MQTT-3.1.2-24].
func (c *client) dropTooLarge(size int) {
	c.b.stats.msgsDropped.Add(1)
	if ce := c.b.log.Check(zap.InfoLevel, "message dropped: larger than the client's maximum packet size"); ce != nil {
		ce.Write(zap.String("client", c.info.ClientID), zap.Int("size", size), zap.Int("client_maximum", c.maxOutPacket))
	}
}

// sendStored sends a stored message (queued, retransmitted or retained) to
// c; s.mu held. pid 0 allocates a new packet identifier for QoS > 0. It
// reports false if the connection is closing (the message stays inflight,
// for retransmission on the next connection).
func (c *client) sendStored(s *session, q *queuedMsg, pid uint16, dup bool, now int64) bool {
	m := q.m
	sp := pubSpec{topic: m.topic, payload: m.payload, props: &m.props, qos: q.qos, retain: q.retain, dup: dup, subIDs: q.subIDs}
	if m.expireAt != 0 {
		sp.expiry, sp.overrideExpiry = m.remainingExpiry(now), true
	}
	newPID := q.qos > 0 && pid == 0
	if newPID {
		pid = s.allocPID()
	}
	switch c.writePublish(&sp, pid) {
	case tooLarge, backlog:
		if !newPID && pid != 0 {
			delete(s.inflight, pid)
		}
		return true
	case closing:
		if newPID {
			s.enqueueFront(*q)
		}
		return false
	}
	if newPID {
		s.track(pid, m, q.qos, q.retain, q.subIDs)
	}
	c.b.stats.msgsSent.Add(1)
	return true
}
