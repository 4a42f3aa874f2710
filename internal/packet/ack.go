package packet

import "fmt"

// ackNames names the acknowledgement types in errors.
var ackNames = [...]string{PUBACK: "puback", PUBREC: "pubrec", PUBREL: "pubrel", PUBCOMP: "pubcomp"}

// Decode resets p and decodes the body of a PUBACK, PUBREC, PUBREL or
// PUBCOMP (t) at protocol level version. PUBREL needs flags 0b0010, the
// others 0. In v5 the Reason Code and properties may be omitted (Success, no
// properties). With cp false, p aliases body.
func (p *Ack) Decode(t Type, flags byte, body []byte, version byte, cp bool) error {
	p.Type, p.PacketID, p.ReasonCode = t, 0, Success
	p.Props.Reset()
	var want byte
	switch t {
	case PUBACK, PUBREC, PUBCOMP:
	case PUBREL:
		want = 0b0010 // [MQTT-3.6.1-1]
	default:
		return fmt.Errorf("packet: ack: packet type %d: %w", t, ProtocolError)
	}
	name := ackNames[t]
	if err := checkFlags(name, flags, want); err != nil { // [MQTT-2.1.3-1]
		return err
	}
	r := reader{buf: body, cp: cp}
	var ok bool
	if p.PacketID, ok = r.readUint16(); !ok {
		return decodeError(name, "packet identifier", MalformedPacket)
	}
	if p.PacketID == 0 {
		return decodeError(name, "packet identifier", MalformedPacket) // [MQTT-2.2.1-3]
	}
	if version == V5 && r.len() > 0 {
		rc, _ := r.readByte()
		p.ReasonCode = ReasonCode(rc)
		codes := &pubackCodes
		if t == PUBREL || t == PUBCOMP {
			codes = &pubrelCodes
		}
		if !codes.has(p.ReasonCode) {
			return decodeError(name, "reason code", ProtocolError) // [MQTT-3.4.2-1]
		}
		if r.len() > 0 { // §3.4.2.2.1: no Property Length means no properties
			if err := p.Props.decode(&r, t, name); err != nil {
				return err
			}
		}
	}
	if r.len() != 0 {
		return decodeError(name, "trailing bytes", MalformedPacket)
	}
	return nil
}

// AppendTo implements Packet. Levels 3 and 4 carry the Packet Identifier
// only. In v5 a Success without properties is sent as the 2-byte form and a
// failure without properties omits the Property Length (§3.4.2.2).
func (p *Ack) AppendTo(dst []byte, version byte) []byte {
	flags := byte(0)
	if p.Type == PUBREL {
		flags = 0b0010
	}
	props := 0
	n := 2
	if version == V5 {
		props = p.Props.bodySize(1 << p.Type)
		switch {
		case props > 0:
			n += 1 + VarintSize(props) + props
		case p.ReasonCode != Success:
			n++
		}
	}
	dst = appendUint16(appendHeader(dst, p.Type, flags, n), p.PacketID)
	if n > 2 {
		dst = append(dst, byte(p.ReasonCode))
	}
	if n > 3 {
		dst = p.Props.appendBody(AppendVarint(dst, props), 1<<p.Type)
	}
	return dst
}
