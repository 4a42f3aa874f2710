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

// appendPublish encodes sp for version into dst using enc as scratch, with
// a zero packet identifier. It returns the buffer and the absolute offset
// of the packet identifier (meaningful for QoS > 0).
func appendPublish(dst []byte, version byte, enc *packet.Publish, sp *pubSpec) ([]byte, int) {
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
	enc.Props = packet.Properties{}
	enc.Topic, enc.Payload = "", nil
	_, hl, _ := packet.ParseFixedHeader(dst[start:])
	return dst, start + hl + 2 + len(sp.topic)*btoi(!sp.aliasOnly)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// encodeFor encodes sp for this client: it applies an outbound topic alias
// when the client accepts them, and returns nil if the packet would exceed
// the client's Maximum Packet Size. The frame is valid until the next call;
// the session's mu must be held.
func (c *client) encodeFor(sp *pubSpec) ([]byte, int) {
	c.encBuf = c.encBuf[:0]
	var pidOff int
	c.encBuf, pidOff = appendPublish(c.encBuf, c.version, &c.encPub, sp)
	if len(c.encBuf) > c.maxOutPacket {
		c.dropTooLarge(c.encBuf)
		return nil, 0
	}
	if c.aliasOutMax == 0 || c.version != packet.V5 {
		return c.encBuf, pidOff
	}
	if a, ok := c.aliasesOut[sp.topic]; ok {
		sp.alias, sp.aliasOnly = a, true
	} else if len(c.aliasesOut) < int(c.aliasOutMax) {
		if c.aliasesOut == nil {
			c.aliasesOut = make(map[string]uint16, c.aliasOutMax)
		}
		a := uint16(len(c.aliasesOut) + 1)
		c.aliasesOut[sp.topic] = a
		sp.alias = a
	} else {
		return c.encBuf, pidOff
	}
	c.encBuf = c.encBuf[:0]
	c.encBuf, pidOff = appendPublish(c.encBuf, c.version, &c.encPub, sp)
	if len(c.encBuf) > c.maxOutPacket { // the alias property made it too large
		c.dropTooLarge(c.encBuf)
		return nil, 0
	}
	return c.encBuf, pidOff
}

// dropTooLarge counts and logs a message not sent because it exceeds the
// client's Maximum Packet Size [MQTT-3.1.2-24].
func (c *client) dropTooLarge(frame []byte) {
	c.b.stats.msgsDropped.Add(1)
	if ce := c.log.Check(zap.InfoLevel, "message dropped: larger than the client's maximum packet size"); ce != nil {
		ce.Write(zap.Int("size", len(frame)), zap.Int("client_maximum", c.maxOutPacket))
	}
}

// sendStored sends a stored message (queued, retransmitted or retained) to
// c; s.mu held. pid 0 allocates a new packet identifier for QoS > 0. It
// reports whether the message was written.
func (c *client) sendStored(s *session, q *queuedMsg, pid uint16, dup bool, now int64) bool {
	m := q.m
	sp := pubSpec{topic: m.topic, payload: m.payload, props: &m.props, qos: q.qos, retain: q.retain, dup: dup, subIDs: q.subIDs}
	if m.expireAt != 0 {
		sp.expiry, sp.overrideExpiry = m.remainingExpiry(now), true
	}
	frame, pidOff := c.encodeFor(&sp)
	if frame == nil {
		if pid != 0 {
			delete(s.inflight, pid)
		}
		return false
	}
	if q.qos > 0 && pid == 0 {
		pid = s.allocPID()
		s.seq++
		s.inflight[pid] = inflightMsg{m: m, qos: q.qos, retain: q.retain, subIDs: q.subIDs, seq: s.seq}
	}
	if !c.writeFrame(frame, pidOff, pid, q.qos) {
		return false
	}
	c.b.stats.msgsSent.Add(1)
	return true
}
