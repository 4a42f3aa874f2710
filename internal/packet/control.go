package packet

// Decode checks a PINGREQ: flags 0 and an empty body.
func (p *Pingreq) Decode(flags byte, body []byte) error {
	if err := checkFlags("pingreq", flags, 0); err != nil { // [MQTT-2.1.3-1]
		return err
	}
	if len(body) != 0 {
		return decodeError("pingreq", "trailing bytes", MalformedPacket)
	}
	return nil
}

// AppendTo implements Packet.
func (p *Pingreq) AppendTo(dst []byte, _ byte) []byte {
	return append(dst, byte(PINGREQ)<<4, 0)
}

// Decode checks a PINGRESP: flags 0 and an empty body.
func (p *Pingresp) Decode(flags byte, body []byte) error {
	if err := checkFlags("pingresp", flags, 0); err != nil { // [MQTT-2.1.3-1]
		return err
	}
	if len(body) != 0 {
		return decodeError("pingresp", "trailing bytes", MalformedPacket)
	}
	return nil
}

// AppendTo implements Packet.
func (p *Pingresp) AppendTo(dst []byte, _ byte) []byte {
	return append(dst, byte(PINGRESP)<<4, 0)
}

// Decode resets p and decodes a DISCONNECT body at protocol level version.
// Levels 3 and 4 have an empty body; in v5 the Reason Code and properties
// may be omitted (Normal disconnection, no properties). With cp false, p
// aliases body.
func (p *Disconnect) Decode(flags byte, body []byte, version byte, cp bool) error {
	p.ReasonCode = Success
	p.Props.Reset()
	if err := checkFlags("disconnect", flags, 0); err != nil { // [MQTT-3.14.1-1]
		return err
	}
	r := reader{buf: body, cp: cp}
	if version == V5 && r.len() > 0 {
		rc, _ := r.readByte()
		p.ReasonCode = ReasonCode(rc)
		if !disconnectCodes.has(p.ReasonCode) {
			return decodeError("disconnect", "reason code", ProtocolError)
		}
		if r.len() > 0 { // §3.14.2.2.1: no Property Length means no properties
			if err := p.Props.decode(&r, DISCONNECT, "disconnect"); err != nil {
				return err
			}
		}
	}
	if r.len() != 0 {
		return decodeError("disconnect", "trailing bytes", MalformedPacket)
	}
	return nil
}

// AppendTo implements Packet. Levels 3 and 4 have an empty body; in v5 a
// Normal disconnection without properties is the empty body too, and a
// Reason Code without properties omits the Property Length.
func (p *Disconnect) AppendTo(dst []byte, version byte) []byte {
	return appendReasonBody(dst, DISCONNECT, version == V5, p.ReasonCode, &p.Props)
}

// Decode resets p and decodes an AUTH body, which exists in v5 only: at
// other levels the packet gives an error wrapping ProtocolError. The Reason
// Code and properties may be omitted (Success, no properties). With cp
// false, p aliases body.
func (p *Auth) Decode(flags byte, body []byte, version byte, cp bool) error {
	p.ReasonCode = Success
	p.Props.Reset()
	if version != V5 {
		return decodeError("auth", "before MQTT 5", ProtocolError)
	}
	if err := checkFlags("auth", flags, 0); err != nil { // [MQTT-3.15.1-1]
		return err
	}
	r := reader{buf: body, cp: cp}
	if r.len() > 0 {
		rc, _ := r.readByte()
		p.ReasonCode = ReasonCode(rc)
		if !authCodes.has(p.ReasonCode) {
			return decodeError("auth", "reason code", ProtocolError) // [MQTT-3.15.2-1]
		}
		if r.len() > 0 {
			if err := p.Props.decode(&r, AUTH, "auth"); err != nil {
				return err
			}
		}
	}
	if r.len() != 0 {
		return decodeError("auth", "trailing bytes", MalformedPacket)
	}
	return nil
}

// AppendTo implements Packet. Success without properties is sent as the
// empty body, and a Reason Code without properties omits the Property
// Length. AUTH exists in v5 only; it is encoded the same at any level.
func (p *Auth) AppendTo(dst []byte, _ byte) []byte {
	return appendReasonBody(dst, AUTH, true, p.ReasonCode, &p.Props)
}

// appendReasonBody appends a packet of type t whose body is an optional
// Reason Code and optional properties (DISCONNECT and AUTH); withBody false
// gives the empty body of 3.x.
func appendReasonBody(dst []byte, t Type, withBody bool, rc ReasonCode, props *Properties) []byte {
	if !withBody {
		return appendHeader(dst, t, 0, 0)
	}
	n, size := 0, props.bodySize(1<<t)
	switch {
	case size > 0:
		n = 1 + VarintSize(size) + size
	case rc != Success:
		n = 1
	}
	dst = appendHeader(dst, t, 0, n)
	if n > 0 {
		dst = append(dst, byte(rc))
	}
	if n > 1 {
		dst = props.appendBody(AppendVarint(dst, size), 1<<t)
	}
	return dst
}
