package packet

import "strings"

// Subscription Options bits.
const (
	subQoSMask           = 0x03
	subNoLocal           = 0x04
	subRetainAsPublished = 0x08
	subRetainShift       = 4
	subReservedV5        = 0xC0
	subReservedV3        = 0xFC
)

// Decode resets p and decodes a SUBSCRIBE body at protocol level version.
// The flags must be 0b0010. It checks that each Topic Filter is well-formed
// UTF-8 but not where its wildcards are: the server answers each filter with
// ValidateTopicFilter. With cp false, p aliases body.
func (p *Subscribe) Decode(flags byte, body []byte, version byte, cp bool) error {
	p.PacketID = 0
	p.Props.Reset()
	p.Subscriptions = p.Subscriptions[:0]
	if err := checkFlags("subscribe", flags, 0b0010); err != nil {
		return err // [MQTT-3.8.1-1]
	}
	r := reader{buf: body, cp: cp}
	var ok bool
	if p.PacketID, ok = r.readUint16(); !ok {
		return decodeError("subscribe", "packet identifier", MalformedPacket)
	}
	if p.PacketID == 0 {
		return decodeError("subscribe", "packet identifier", MalformedPacket) // [MQTT-2.2.1-3]
	}
	if version == V5 {
		if err := p.Props.decode(&r, SUBSCRIBE, "subscribe"); err != nil {
			return err
		}
	}
	if r.len() == 0 {
		return decodeError("subscribe", "no topic filter", ProtocolError) // [MQTT-3.8.3-3]
	}
	for r.len() > 0 {
		var s Subscription
		if s.Filter, ok = r.readString(); !ok {
			return decodeError("subscribe", "topic filter", MalformedPacket) // [MQTT-3.8.3-1]
		}
		opts, ok := r.readByte()
		if !ok {
			return decodeError("subscribe", "subscription options", MalformedPacket)
		}
		s.QoS = opts & subQoSMask
		if version != V5 {
			if opts&subReservedV3 != 0 || s.QoS == 3 {
				return decodeError("subscribe", "requested qos", MalformedPacket) // [MQTT-3.8.3-4] (3.1.1)
			}
			p.Subscriptions = append(p.Subscriptions, s)
			continue
		}
		s.NoLocal = opts&subNoLocal != 0
		s.RetainAsPublished = opts&subRetainAsPublished != 0
		s.RetainHandling = opts >> subRetainShift & 3
		switch {
		case opts&subReservedV5 != 0:
			return decodeError("subscribe", "reserved subscription options", MalformedPacket) // [MQTT-3.8.3-5]
		case s.QoS == 3:
			return decodeError("subscribe", "maximum qos", ProtocolError) // §3.8.3.1
		case s.RetainHandling == 3:
			return decodeError("subscribe", "retain handling", ProtocolError) // §3.8.3.1
		case s.NoLocal && strings.HasPrefix(s.Filter, sharePrefix):
			return decodeError("subscribe", "no local on a shared subscription", ProtocolError) // [MQTT-3.8.3-4]
		}
		p.Subscriptions = append(p.Subscriptions, s)
	}
	return nil
}

// AppendTo implements Packet. Levels 3 and 4 carry only the QoS of each
// Subscription Options byte.
func (p *Subscribe) AppendTo(dst []byte, version byte) []byte {
	n, props := 2, 0
	if version == V5 {
		props = p.Props.bodySize(inSubscribe)
		n += VarintSize(props) + props
	}
	for i := range p.Subscriptions {
		n += 2 + len(p.Subscriptions[i].Filter) + 1
	}
	dst = appendUint16(appendHeader(dst, SUBSCRIBE, 0b0010, n), p.PacketID)
	if version == V5 {
		dst = p.Props.appendBody(AppendVarint(dst, props), inSubscribe)
	}
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		opts := s.QoS & subQoSMask
		if version == V5 {
			if s.NoLocal {
				opts |= subNoLocal
			}
			if s.RetainAsPublished {
				opts |= subRetainAsPublished
			}
			opts |= s.RetainHandling & 3 << subRetainShift
		}
		dst = append(appendString(dst, s.Filter), opts)
	}
	return dst
}

// Decode resets p and decodes a SUBACK body at protocol level version. With
// cp false, p aliases body.
func (p *Suback) Decode(flags byte, body []byte, version byte, cp bool) error {
	p.PacketID = 0
	p.Props.Reset()
	p.ReasonCodes = p.ReasonCodes[:0]
	if err := checkFlags("suback", flags, 0); err != nil { // [MQTT-2.1.3-1]
		return err
	}
	r := reader{buf: body, cp: cp}
	var ok bool
	if p.PacketID, ok = r.readUint16(); !ok {
		return decodeError("suback", "packet identifier", MalformedPacket)
	}
	if p.PacketID == 0 {
		return decodeError("suback", "packet identifier", MalformedPacket) // [MQTT-2.2.1-3]
	}
	codes := &subackCodes3
	if version == V5 {
		codes = &subackCodes
		if err := p.Props.decode(&r, SUBACK, "suback"); err != nil {
			return err
		}
	}
	if r.len() == 0 {
		return decodeError("suback", "no reason code", ProtocolError)
	}
	for _, c := range r.buf[r.pos:] {
		if !codes.has(ReasonCode(c)) {
			return decodeError("suback", "reason code", ProtocolError) // [MQTT-3.9.3-2]
		}
		p.ReasonCodes = append(p.ReasonCodes, ReasonCode(c))
	}
	return nil
}

// AppendTo implements Packet.
func (p *Suback) AppendTo(dst []byte, version byte) []byte {
	n, props := 2+len(p.ReasonCodes), 0
	if version == V5 {
		props = p.Props.bodySize(inSuback)
		n += VarintSize(props) + props
	}
	dst = appendUint16(appendHeader(dst, SUBACK, 0, n), p.PacketID)
	if version == V5 {
		dst = p.Props.appendBody(AppendVarint(dst, props), inSuback)
	}
	for _, c := range p.ReasonCodes {
		dst = append(dst, byte(c))
	}
	return dst
}

// Decode resets p and decodes an UNSUBSCRIBE body at protocol level
// version. The flags must be 0b0010. Like Subscribe.Decode it checks the
// filters' UTF-8 only. With cp false, p aliases body.
func (p *Unsubscribe) Decode(flags byte, body []byte, version byte, cp bool) error {
	p.PacketID = 0
	p.Props.Reset()
	p.Filters = p.Filters[:0]
	if err := checkFlags("unsubscribe", flags, 0b0010); err != nil {
		return err // [MQTT-3.10.1-1]
	}
	r := reader{buf: body, cp: cp}
	var ok bool
	if p.PacketID, ok = r.readUint16(); !ok {
		return decodeError("unsubscribe", "packet identifier", MalformedPacket)
	}
	if p.PacketID == 0 {
		return decodeError("unsubscribe", "packet identifier", MalformedPacket) // [MQTT-2.2.1-3]
	}
	if version == V5 {
		if err := p.Props.decode(&r, UNSUBSCRIBE, "unsubscribe"); err != nil {
			return err
		}
	}
	if r.len() == 0 {
		return decodeError("unsubscribe", "no topic filter", ProtocolError) // [MQTT-3.10.3-2]
	}
	for r.len() > 0 {
		f, ok := r.readString()
		if !ok {
			return decodeError("unsubscribe", "topic filter", MalformedPacket) // [MQTT-3.10.3-1]
		}
		p.Filters = append(p.Filters, f)
	}
	return nil
}

// AppendTo implements Packet.
func (p *Unsubscribe) AppendTo(dst []byte, version byte) []byte {
	n, props := 2, 0
	if version == V5 {
		props = p.Props.bodySize(inUnsubscribe)
		n += VarintSize(props) + props
	}
	for _, f := range p.Filters {
		n += 2 + len(f)
	}
	dst = appendUint16(appendHeader(dst, UNSUBSCRIBE, 0b0010, n), p.PacketID)
	if version == V5 {
		dst = p.Props.appendBody(AppendVarint(dst, props), inUnsubscribe)
	}
	for _, f := range p.Filters {
		dst = appendString(dst, f)
	}
	return dst
}

// Decode resets p and decodes an UNSUBACK body at protocol level version;
// levels 3 and 4 carry the Packet Identifier only. With cp false, p aliases
// body.
func (p *Unsuback) Decode(flags byte, body []byte, version byte, cp bool) error {
	p.PacketID = 0
	p.Props.Reset()
	p.ReasonCodes = p.ReasonCodes[:0]
	if err := checkFlags("unsuback", flags, 0); err != nil { // [MQTT-2.1.3-1]
		return err
	}
	r := reader{buf: body, cp: cp}
	var ok bool
	if p.PacketID, ok = r.readUint16(); !ok {
		return decodeError("unsuback", "packet identifier", MalformedPacket)
	}
	if p.PacketID == 0 {
		return decodeError("unsuback", "packet identifier", MalformedPacket) // [MQTT-2.2.1-3]
	}
	if version != V5 {
		if r.len() != 0 {
			return decodeError("unsuback", "trailing bytes", MalformedPacket)
		}
		return nil
	}
	if err := p.Props.decode(&r, UNSUBACK, "unsuback"); err != nil {
		return err
	}
	if r.len() == 0 {
		return decodeError("unsuback", "no reason code", ProtocolError)
	}
	for _, c := range r.buf[r.pos:] {
		if !unsubackCodes.has(ReasonCode(c)) {
			return decodeError("unsuback", "reason code", ProtocolError)
		}
		p.ReasonCodes = append(p.ReasonCodes, ReasonCode(c))
	}
	return nil
}

// AppendTo implements Packet. ReasonCodes and Props are written for v5 only.
func (p *Unsuback) AppendTo(dst []byte, version byte) []byte {
	if version != V5 {
		return appendUint16(appendHeader(dst, UNSUBACK, 0, 2), p.PacketID)
	}
	props := p.Props.bodySize(inUnsuback)
	n := 2 + VarintSize(props) + props + len(p.ReasonCodes)
	dst = appendUint16(appendHeader(dst, UNSUBACK, 0, n), p.PacketID)
	dst = p.Props.appendBody(AppendVarint(dst, props), inUnsuback)
	for _, c := range p.ReasonCodes {
		dst = append(dst, byte(c))
	}
	return dst
}
