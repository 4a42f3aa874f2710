package broker

import (
	"strings"

	"github.com/jmqx/jmqx/internal/packet"
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
	backlog              // QoS 0 and the outbound buffer is full: dropped
	full                 // QoS 1/2 and the outbound buffer is full: not written, wait
)

// dropCause returns the drop cause of a status that drops the message.
func (st writeStatus) dropCause() dropCause {
	if st == tooLarge {
		return dropTooLarge
	}
	return dropBacklog
}

// writePublish encodes sp straight into the outbound buffer with packet
// identifier pid, applying an outbound topic alias when the client accepts
// them. The session's mu must be held (it guards the alias table).
func (c *client) writePublish(sp *pubSpec, pid uint16) writeStatus {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if st := c.reserveLocked(sp.qos, len(sp.topic)+len(sp.payload)+publishSlack); st != written {
		return st
	}
	start := len(c.out)
	var pidOff int
	c.out, pidOff = appendPublish(c.out, c.version, sp)
	if size := len(c.out) - start; size > c.maxOutPacket {
		c.out = c.out[:start]
		return tooLarge
	}
	if c.aliasOutMax > 0 && c.version == packet.V5 {
		if changed, assigned := c.applyAliasOut(sp); changed {
			c.out = c.out[:start]
			c.out, pidOff = appendPublish(c.out, c.version, sp)
			if size := len(c.out) - start; size > c.maxOutPacket { // the alias property made it too large
				if assigned { // the client never learns this alias
					delete(c.aliasesOut, sp.topic)
					c.aliasOutBytes -= len(sp.topic)
				}
				c.out = c.out[:start]
				return tooLarge
			}
		}
	}
	putPID(c.out, pidOff, pid)
	c.chargeOutLocked()
	c.startFlushLocked()
	return written
}

// maxAliasOutBytes bounds the topic bytes of one client's outbound alias
// table; topics beyond it are sent in full.
const maxAliasOutBytes = 64 << 10

// applyAliasOut picks the outbound topic alias for sp's topic, assigning a
// new one while the client's Topic Alias Maximum allows. It reports whether
// sp changed and whether the alias was assigned just now.
func (c *client) applyAliasOut(sp *pubSpec) (changed, assigned bool) {
	if a, ok := c.aliasesOut[sp.topic]; ok {
		sp.alias, sp.aliasOnly = a, true
		return true, false
	}
	if len(c.aliasesOut) >= int(c.aliasOutMax) || c.aliasOutBytes+len(sp.topic) > maxAliasOutBytes {
		return false, false
	}
	if c.aliasesOut == nil {
		c.aliasesOut = make(map[string]uint16, min(int(c.aliasOutMax), 64))
	}
	a := uint16(len(c.aliasesOut) + 1)
	c.aliasesOut[strings.Clone(sp.topic)] = a // a copy: the topic may view a large message
	c.aliasOutBytes += len(sp.topic)
	sp.alias = a
	return true, true
}
