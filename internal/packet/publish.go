package packet

import "unicode/utf8"

// PUBLISH fixed header flag bits.
const (
	publishRetain   = 0x01
	publishQoSShift = 1
	publishDup      = 0x08
)

// Decode resets p and decodes a PUBLISH body with fixed header flags flags
// at protocol level version. The Topic Name must pass ValidateTopicName
// (errors wrap TopicNameInvalid, or MalformedPacket for bad UTF-8), except
// that in v5 it may be empty when a Topic Alias is present. With cp false,
// p aliases body and Decode does not allocate once p's slices have grown.
func (p *Publish) Decode(flags byte, body []byte, version byte, cp bool) error {
	p.Props.Reset()
	p.Dup = flags&publishDup != 0
	p.QoS = flags >> publishQoSShift & 3
	p.Retain = flags&publishRetain != 0
	p.Topic, p.PacketID, p.Payload = "", 0, nil
	if p.QoS == 3 {
		return decodeError("publish", "qos", MalformedPacket) // [MQTT-3.3.1-4]
	}
	if p.Dup && p.QoS == 0 {
		return decodeError("publish", "dup flag with qos 0", MalformedPacket) // [MQTT-3.3.1-2]
	}
	r := reader{buf: body, cp: cp}
	topic, ok := r.readRaw()
	if !ok {
		return decodeError("publish", "topic name", MalformedPacket)
	}
	if rc := checkTopicName(topic); rc != Success {
		return decodeError("publish", "topic name", rc) // [MQTT-3.3.2-1] [MQTT-3.3.2-2]
	}
	p.Topic = r.string(topic)
	if p.QoS > 0 {
		if p.PacketID, ok = r.readUint16(); !ok {
			return decodeError("publish", "packet identifier", MalformedPacket)
		}
		if p.PacketID == 0 {
			return decodeError("publish", "packet identifier", MalformedPacket) // [MQTT-2.2.1-3]
		}
	}
	if version == V5 {
		if err := p.Props.decode(&r, PUBLISH, "publish"); err != nil {
			return err
		}
	}
	if len(topic) == 0 && !p.Props.Has(PropTopicAlias) {
		if version == V5 {
			return decodeError("publish", "empty topic name without topic alias", ProtocolError) // §3.3.2.3.4
		}
		return decodeError("publish", "topic name: empty", TopicNameInvalid) // [MQTT-4.7.3-1]
	}
	p.Payload = r.rest()
	return nil
}

// checkTopicName checks a PUBLISH Topic Name other than for emptiness: it
// returns MalformedPacket for bad UTF-8 or U+0000, TopicNameInvalid for a
// wildcard, and Success otherwise.
func checkTopicName(b []byte) ReasonCode {
	ascii := true
	for _, c := range b {
		switch {
		case c == '+' || c == '#':
			return TopicNameInvalid // [MQTT-3.3.2-2]
		case c == 0:
			return MalformedPacket // [MQTT-1.5.4-2]
		case c >= 0x80:
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(b) {
		return MalformedPacket // [MQTT-1.5.4-1]
	}
	return Success
}

// AppendTo implements Packet. PacketID is written for QoS 1 and 2 only, and
// Props (the properties allowed in PUBLISH) for v5 only. It allocates only
// when dst lacks capacity.
func (p *Publish) AppendTo(dst []byte, version byte) []byte {
	qos := p.QoS & 3
	flags := qos << publishQoSShift
	if p.Dup {
		flags |= publishDup
	}
	if p.Retain {
		flags |= publishRetain
	}
	n := 2 + len(p.Topic) + len(p.Payload)
	if qos > 0 {
		n += 2
	}
	props := 0
	if version == V5 {
		props = p.Props.bodySize(inPublish)
		n += VarintSize(props) + props
	}
	dst = appendHeader(dst, PUBLISH, flags, n)
	dst = appendString(dst, p.Topic)
	if qos > 0 {
		dst = appendUint16(dst, p.PacketID)
	}
	if version == V5 {
		dst = p.Props.appendBody(AppendVarint(dst, props), inPublish)
	}
	return append(dst, p.Payload...)
}
