package packet

// Protocol names of the CONNECT variable header.
const (
	protocolMQTT   = "MQTT"   // levels 4 and 5
	protocolMQIsdp = "MQIsdp" // level 3
)

// Connect flag bits.
const (
	connectReserved     = 0x01
	connectCleanStart   = 0x02
	connectWill         = 0x04
	connectWillQoSShift = 3
	connectWillRetain   = 0x20
	connectPassword     = 0x40
	connectUsername     = 0x80
)

// Decode resets p and decodes a CONNECT body with fixed header flags flags;
// p.Version is set from the packet. A protocol name other than "MQTT" or
// "MQIsdp" gives an error wrapping ProtocolError, after which the server
// closes the connection [MQTT-3.1.2-1]; a known name with an unknown level
// gives an error wrapping UnsupportedProtocolVersion, with ProtocolName and
// Version set so the server can answer with a CONNACK [MQTT-3.1.2-2]. With
// cp false, p aliases body.
func (p *Connect) Decode(flags byte, body []byte, cp bool) error {
	p.reset()
	if err := checkFlags("connect", flags, 0); err != nil { // [MQTT-2.1.3-1]
		return err
	}
	r := reader{buf: body, cp: cp}
	var ok bool
	if p.ProtocolName, ok = r.readString(); !ok {
		return decodeError("connect", "protocol name", MalformedPacket)
	}
	if p.Version, ok = r.readByte(); !ok {
		return decodeError("connect", "protocol level", MalformedPacket)
	}
	switch {
	case p.ProtocolName == protocolMQTT && (p.Version == V311 || p.Version == V5),
		p.ProtocolName == protocolMQIsdp && p.Version == V31:
	case p.ProtocolName == protocolMQTT || p.ProtocolName == protocolMQIsdp:
		return decodeError("connect", "protocol level", UnsupportedProtocolVersion) // [MQTT-3.1.2-2]
	default:
		return decodeError("connect", "protocol name", ProtocolError) // [MQTT-3.1.2-1]
	}
	cf, ok := r.readByte()
	if !ok {
		return decodeError("connect", "connect flags", MalformedPacket)
	}
	if cf&connectReserved != 0 {
		return decodeError("connect", "reserved connect flag", MalformedPacket) // [MQTT-3.1.2-3]
	}
	p.CleanStart = cf&connectCleanStart != 0
	p.WillFlag = cf&connectWill != 0
	p.WillQoS = cf >> connectWillQoSShift & 3
	p.WillRetain = cf&connectWillRetain != 0
	p.PasswordFlag = cf&connectPassword != 0
	p.UsernameFlag = cf&connectUsername != 0
	if p.WillQoS == 3 {
		return decodeError("connect", "will qos", MalformedPacket) // [MQTT-3.1.2-12]
	}
	if !p.WillFlag && (p.WillQoS != 0 || p.WillRetain) {
		return decodeError("connect", "will qos or retain without will flag", MalformedPacket) // [MQTT-3.1.2-11] [MQTT-3.1.2-13]
	}
	if p.Version != V5 && p.PasswordFlag && !p.UsernameFlag {
		return decodeError("connect", "password flag without user name flag", MalformedPacket) // [MQTT-3.1.2-22] (3.1.1)
	}
	if p.KeepAlive, ok = r.readUint16(); !ok {
		return decodeError("connect", "keep alive", MalformedPacket)
	}
	if p.Version == V5 {
		if err := p.Props.decode(&r, CONNECT, "connect"); err != nil {
			return err
		}
	}
	if p.ClientID, ok = r.readString(); !ok {
		return decodeError("connect", "client identifier", MalformedPacket) // [MQTT-3.1.3-3] [MQTT-3.1.3-4]
	}
	if p.WillFlag { // [MQTT-3.1.2-9]
		if p.Version == V5 {
			if err := p.WillProps.decode(&r, willProps, "connect: will"); err != nil {
				return err
			}
		}
		if p.WillTopic, ok = r.readString(); !ok {
			return decodeError("connect", "will topic", MalformedPacket)
		}
		if err := ValidateTopicName(p.WillTopic); err != nil {
			return decodeError("connect", "will topic", TopicNameInvalid)
		}
		if p.WillPayload, ok = r.readBytes(); !ok {
			return decodeError("connect", "will payload", MalformedPacket)
		}
	}
	if p.UsernameFlag { // [MQTT-3.1.2-17]
		if p.Username, ok = r.readString(); !ok {
			return decodeError("connect", "user name", MalformedPacket)
		}
	}
	if p.PasswordFlag { // [MQTT-3.1.2-19]
		if p.Password, ok = r.readBytes(); !ok {
			return decodeError("connect", "password", MalformedPacket)
		}
	}
	if r.len() != 0 {
		return decodeError("connect", "trailing bytes", MalformedPacket)
	}
	return nil
}

// reset empties p, keeping the capacity of its property slices.
func (p *Connect) reset() {
	props, will := p.Props, p.WillProps
	props.Reset()
	will.Reset()
	*p = Connect{Props: props, WillProps: will}
}

// AppendTo implements Packet. The protocol name and level come from version
// ("MQIsdp" for V31, "MQTT" otherwise), or from p.Version when version is 0.
// A user name or password is written when its flag is set or it is
// non-empty; the Will when WillFlag is set.
func (p *Connect) AppendTo(dst []byte, version byte) []byte {
	if version == 0 {
		version = p.Version
	}
	name := protocolMQTT
	if version == V31 {
		name = protocolMQIsdp
	}
	user := p.UsernameFlag || p.Username != ""
	pass := p.PasswordFlag || len(p.Password) > 0
	var cf byte
	if p.CleanStart {
		cf |= connectCleanStart
	}
	n := 2 + len(name) + 1 + 1 + 2 + 2 + len(p.ClientID)
	propsLen, willPropsLen := 0, 0
	if version == V5 {
		propsLen = p.Props.size(inConnect)
		n += propsLen
	}
	if p.WillFlag {
		cf |= connectWill | p.WillQoS&3<<connectWillQoSShift
		if p.WillRetain {
			cf |= connectWillRetain
		}
		if version == V5 {
			willPropsLen = p.WillProps.size(inWill)
			n += willPropsLen
		}
		n += 2 + len(p.WillTopic) + 2 + len(p.WillPayload)
	}
	if user {
		cf |= connectUsername
		n += 2 + len(p.Username)
	}
	if pass {
		cf |= connectPassword
		n += 2 + len(p.Password)
	}
	dst = appendHeader(dst, CONNECT, 0, n)
	dst = appendString(dst, name)
	dst = append(dst, version, cf)
	dst = appendUint16(dst, p.KeepAlive)
	if version == V5 {
		dst = p.Props.appendTo(dst, inConnect)
	}
	dst = appendString(dst, p.ClientID)
	if p.WillFlag {
		if version == V5 {
			dst = p.WillProps.appendTo(dst, inWill)
		}
		dst = appendString(dst, p.WillTopic)
		dst = appendBytes(dst, p.WillPayload)
	}
	if user {
		dst = appendString(dst, p.Username)
	}
	if pass {
		dst = appendBytes(dst, p.Password)
	}
	return dst
}

// Decode resets p and decodes a CONNACK body at protocol level version. For
// levels 3 and 4 ReasonCode receives the Connect Return Code. With cp false,
// p aliases body.
func (p *Connack) Decode(flags byte, body []byte, version byte, cp bool) error {
	p.SessionPresent, p.ReasonCode = false, Success
	p.Props.Reset()
	if err := checkFlags("connack", flags, 0); err != nil { // [MQTT-2.1.3-1]
		return err
	}
	r := reader{buf: body, cp: cp}
	af, ok := r.readByte()
	if !ok {
		return decodeError("connack", "acknowledge flags", MalformedPacket)
	}
	if af&^1 != 0 {
		return decodeError("connack", "reserved acknowledge flags", MalformedPacket) // [MQTT-3.2.2-1]
	}
	p.SessionPresent = af == 1
	rc, ok := r.readByte()
	if !ok {
		return decodeError("connack", "reason code", MalformedPacket)
	}
	p.ReasonCode = ReasonCode(rc)
	if version == V5 {
		if !connackCodes.has(p.ReasonCode) {
			return decodeError("connack", "reason code", ProtocolError)
		}
		if err := p.Props.decode(&r, CONNACK, "connack"); err != nil {
			return err
		}
	}
	if r.len() != 0 {
		return decodeError("connack", "trailing bytes", MalformedPacket)
	}
	return nil
}

// AppendTo implements Packet. For levels 3 and 4 ReasonCode is written as
// the Connect Return Code as is (see ConnackReturnCode) and Props is omitted.
func (p *Connack) AppendTo(dst []byte, version byte) []byte {
	n, propsLen := 2, 0
	if version == V5 {
		propsLen = p.Props.size(inConnack)
		n += propsLen
	}
	var af byte
	if p.SessionPresent {
		af = 1
	}
	dst = append(appendHeader(dst, CONNACK, 0, n), af, byte(p.ReasonCode))
	if version == V5 {
		dst = p.Props.appendTo(dst, inConnack)
	}
	return dst
}
