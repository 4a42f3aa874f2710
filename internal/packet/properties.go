package packet

import "fmt"

// PropID is an MQTT 5 property identifier.
type PropID byte

// Property identifiers [MQTT-2.2.2.2].
const (
	PropPayloadFormat        PropID = 0x01
	PropMessageExpiry        PropID = 0x02
	PropContentType          PropID = 0x03
	PropResponseTopic        PropID = 0x08
	PropCorrelationData      PropID = 0x09
	PropSubscriptionID       PropID = 0x0B
	PropSessionExpiry        PropID = 0x11
	PropAssignedClientID     PropID = 0x12
	PropServerKeepAlive      PropID = 0x13
	PropAuthMethod           PropID = 0x15
	PropAuthData             PropID = 0x16
	PropRequestProblemInfo   PropID = 0x17
	PropWillDelay            PropID = 0x18
	PropRequestResponseInfo  PropID = 0x19
	PropResponseInfo         PropID = 0x1A
	PropServerReference      PropID = 0x1C
	PropReasonString         PropID = 0x1F
	PropReceiveMaximum       PropID = 0x21
	PropTopicAliasMaximum    PropID = 0x22
	PropTopicAlias           PropID = 0x23
	PropMaximumQoS           PropID = 0x24
	PropRetainAvailable      PropID = 0x25
	PropUserProperty         PropID = 0x26
	PropMaximumPacketSize    PropID = 0x27
	PropWildcardSubAvailable PropID = 0x28
	PropSubIDAvailable       PropID = 0x29
	PropSharedSubAvailable   PropID = 0x2A
)

// UserProperty is one MQTT 5 User Property name/value pair.
type UserProperty struct {
	Key   string
	Value string
}

// Properties holds the MQTT 5 properties of a packet. A scalar property is
// present when its bit is set in Present (see Has and Set); strings, byte
// slices and lists are present when non-empty, except that Has also reports
// them from Present after decoding (a zero-length string property is valid).
type Properties struct {
	// Present has bit (1 << id) set for every property present.
	Present uint64

	PayloadFormat        byte
	MessageExpiry        uint32
	ContentType          string
	ResponseTopic        string
	CorrelationData      []byte
	SubscriptionIDs      []uint32 // PUBLISH may carry several; SUBSCRIBE at most one
	SessionExpiry        uint32
	AssignedClientID     string
	ServerKeepAlive      uint16
	AuthMethod           string
	AuthData             []byte
	RequestProblemInfo   byte
	WillDelay            uint32
	RequestResponseInfo  byte
	ResponseInfo         string
	ServerReference      string
	ReasonString         string
	ReceiveMaximum       uint16
	TopicAliasMaximum    uint16
	TopicAlias           uint16
	MaximumQoS           byte
	RetainAvailable      byte
	User                 []UserProperty
	MaximumPacketSize    uint32
	WildcardSubAvailable byte
	SubIDAvailable       byte
	SharedSubAvailable   byte
}

// Has reports whether property id is present.
func (p *Properties) Has(id PropID) bool { return p.Present&(1<<id) != 0 }

// Set marks property id as present (the caller sets the field's value).
func (p *Properties) Set(id PropID) { p.Present |= 1 << id }

// Clear marks property id as absent.
func (p *Properties) Clear(id PropID) { p.Present &^= 1 << id }

// Reset empties p, keeping the capacity of its slices for reuse.
func (p *Properties) Reset() {
	sub, user := p.SubscriptionIDs[:0], p.User[:0]
	*p = Properties{SubscriptionIDs: sub, User: user}
}

// willProps is the property context of the Will Properties of a CONNECT
// packet; packet types start at 1, so 0 is free.
const willProps Type = 0

// Bit masks of the contexts a property may appear in, by packet Type and
// willProps.
const (
	inWill        uint16 = 1 << willProps
	inConnect     uint16 = 1 << CONNECT
	inConnack     uint16 = 1 << CONNACK
	inPublish     uint16 = 1 << PUBLISH
	inPuback      uint16 = 1 << PUBACK
	inPubrec      uint16 = 1 << PUBREC
	inPubrel      uint16 = 1 << PUBREL
	inPubcomp     uint16 = 1 << PUBCOMP
	inSubscribe   uint16 = 1 << SUBSCRIBE
	inSuback      uint16 = 1 << SUBACK
	inUnsubscribe uint16 = 1 << UNSUBSCRIBE
	inUnsuback    uint16 = 1 << UNSUBACK
	inDisconnect  uint16 = 1 << DISCONNECT
	inAuth        uint16 = 1 << AUTH
	inAllTypes    uint16 = 0xFFFF
)

// propAllowed says where each property may appear (MQTT 5 §2.2.2.2).
var propAllowed = [64]uint16{
	PropPayloadFormat:        inPublish | inWill,
	PropMessageExpiry:        inPublish | inWill,
	PropContentType:          inPublish | inWill,
	PropResponseTopic:        inPublish | inWill,
	PropCorrelationData:      inPublish | inWill,
	PropSubscriptionID:       inPublish | inSubscribe,
	PropSessionExpiry:        inConnect | inConnack | inDisconnect,
	PropAssignedClientID:     inConnack,
	PropServerKeepAlive:      inConnack,
	PropAuthMethod:           inConnect | inConnack | inAuth,
	PropAuthData:             inConnect | inConnack | inAuth,
	PropRequestProblemInfo:   inConnect,
	PropWillDelay:            inWill,
	PropRequestResponseInfo:  inConnect,
	PropResponseInfo:         inConnack,
	PropServerReference:      inConnack | inDisconnect,
	PropReasonString:         inConnack | inPuback | inPubrec | inPubrel | inPubcomp | inSuback | inUnsuback | inDisconnect | inAuth,
	PropReceiveMaximum:       inConnect | inConnack,
	PropTopicAliasMaximum:    inConnect | inConnack,
	PropTopicAlias:           inPublish,
	PropMaximumQoS:           inConnack,
	PropRetainAvailable:      inConnack,
	PropUserProperty:         inConnect | inConnack | inPublish | inWill | inPuback | inPubrec | inPubrel | inPubcomp | inSubscribe | inSuback | inUnsubscribe | inUnsuback | inDisconnect | inAuth,
	PropMaximumPacketSize:    inConnect | inConnack,
	PropWildcardSubAvailable: inConnack,
	PropSubIDAvailable:       inConnack,
	PropSharedSubAvailable:   inConnack,
}

// propNames names each property in errors.
var propNames = [64]string{
	PropPayloadFormat:        "payload format indicator",
	PropMessageExpiry:        "message expiry interval",
	PropContentType:          "content type",
	PropResponseTopic:        "response topic",
	PropCorrelationData:      "correlation data",
	PropSubscriptionID:       "subscription identifier",
	PropSessionExpiry:        "session expiry interval",
	PropAssignedClientID:     "assigned client identifier",
	PropServerKeepAlive:      "server keep alive",
	PropAuthMethod:           "authentication method",
	PropAuthData:             "authentication data",
	PropRequestProblemInfo:   "request problem information",
	PropWillDelay:            "will delay interval",
	PropRequestResponseInfo:  "request response information",
	PropResponseInfo:         "response information",
	PropServerReference:      "server reference",
	PropReasonString:         "reason string",
	PropReceiveMaximum:       "receive maximum",
	PropTopicAliasMaximum:    "topic alias maximum",
	PropTopicAlias:           "topic alias",
	PropMaximumQoS:           "maximum qos",
	PropRetainAvailable:      "retain available",
	PropUserProperty:         "user property",
	PropMaximumPacketSize:    "maximum packet size",
	PropWildcardSubAvailable: "wildcard subscription available",
	PropSubIDAvailable:       "subscription identifier available",
	PropSharedSubAvailable:   "shared subscription available",
}

// decode resets p and reads a property block (length included) in context t
// (a packet type or willProps). packet names the packet in errors.
func (p *Properties) decode(r *reader, t Type, packet string) error {
	p.Reset()
	n, ok := r.readVarint()
	if !ok || n > r.len() {
		return decodeError(packet, "property length", MalformedPacket)
	}
	end := r.pos + n
	pr := reader{buf: r.buf[:end], pos: r.pos, cp: r.cp}
	r.pos = end
	for pr.pos < end {
		v, ok := pr.readVarint()
		if !ok {
			return decodeError(packet, "property identifier", MalformedPacket)
		}
		if v >= len(propAllowed) || propAllowed[v]&(1<<t) == 0 {
			return fmt.Errorf("packet: %s: property %#02x: not allowed: %w", packet, v, MalformedPacket) // §2.2.2.2
		}
		id := PropID(v)
		if p.Has(id) && id != PropUserProperty && (id != PropSubscriptionID || t != PUBLISH) {
			return fmt.Errorf("packet: %s: %s: repeated: %w", packet, propNames[id], ProtocolError)
		}
		p.Set(id)
		if err := p.decodeValue(&pr, id); err != nil {
			return fmt.Errorf("packet: %s: %s: %w", packet, propNames[id], err)
		}
	}
	if p.Has(PropAuthData) && !p.Has(PropAuthMethod) {
		return fmt.Errorf("packet: %s: authentication data without method: %w", packet, ProtocolError)
	}
	return nil
}

// decodeValue reads the value of property id into p. The error is a bare
// ReasonCode; decode adds the context.
func (p *Properties) decodeValue(r *reader, id PropID) error {
	var ok bool
	switch id {
	case PropPayloadFormat:
		p.PayloadFormat, ok = r.readByte()
		return checkBool(p.PayloadFormat, ok)
	case PropMessageExpiry:
		p.MessageExpiry, ok = r.readUint32()
	case PropContentType:
		p.ContentType, ok = r.readString()
	case PropResponseTopic:
		if p.ResponseTopic, ok = r.readString(); ok && ValidateTopicName(p.ResponseTopic) != nil {
			return ProtocolError // [MQTT-3.3.2-14]
		}
	case PropCorrelationData:
		p.CorrelationData, ok = r.readBytes()
	case PropSubscriptionID:
		var v int
		if v, ok = r.readVarint(); ok && v == 0 {
			return ProtocolError // §3.8.2.1.2
		}
		p.SubscriptionIDs = append(p.SubscriptionIDs, uint32(v))
	case PropSessionExpiry:
		p.SessionExpiry, ok = r.readUint32()
	case PropAssignedClientID:
		p.AssignedClientID, ok = r.readString()
	case PropServerKeepAlive:
		p.ServerKeepAlive, ok = r.readUint16()
	case PropAuthMethod:
		p.AuthMethod, ok = r.readString()
	case PropAuthData:
		p.AuthData, ok = r.readBytes()
	case PropRequestProblemInfo:
		p.RequestProblemInfo, ok = r.readByte()
		return checkBool(p.RequestProblemInfo, ok)
	case PropWillDelay:
		p.WillDelay, ok = r.readUint32()
	case PropRequestResponseInfo:
		p.RequestResponseInfo, ok = r.readByte()
		return checkBool(p.RequestResponseInfo, ok)
	case PropResponseInfo:
		p.ResponseInfo, ok = r.readString()
	case PropServerReference:
		p.ServerReference, ok = r.readString()
	case PropReasonString:
		p.ReasonString, ok = r.readString()
	case PropReceiveMaximum:
		if p.ReceiveMaximum, ok = r.readUint16(); ok && p.ReceiveMaximum == 0 {
			return ProtocolError // §3.1.2.11.3
		}
	case PropTopicAliasMaximum:
		p.TopicAliasMaximum, ok = r.readUint16()
	case PropTopicAlias:
		if p.TopicAlias, ok = r.readUint16(); ok && p.TopicAlias == 0 {
			return TopicAliasInvalid // [MQTT-3.3.2-8]
		}
	case PropMaximumQoS:
		p.MaximumQoS, ok = r.readByte()
		return checkBool(p.MaximumQoS, ok)
	case PropRetainAvailable:
		p.RetainAvailable, ok = r.readByte()
		return checkBool(p.RetainAvailable, ok)
	case PropUserProperty:
		var u UserProperty
		if u.Key, ok = r.readString(); ok {
			u.Value, ok = r.readString()
		}
		p.User = append(p.User, u)
	case PropMaximumPacketSize:
		if p.MaximumPacketSize, ok = r.readUint32(); ok && p.MaximumPacketSize == 0 {
			return ProtocolError // §3.1.2.11.4
		}
	case PropWildcardSubAvailable:
		p.WildcardSubAvailable, ok = r.readByte()
		return checkBool(p.WildcardSubAvailable, ok)
	case PropSubIDAvailable:
		p.SubIDAvailable, ok = r.readByte()
		return checkBool(p.SubIDAvailable, ok)
	case PropSharedSubAvailable:
		p.SharedSubAvailable, ok = r.readByte()
		return checkBool(p.SharedSubAvailable, ok)
	}
	if !ok {
		return MalformedPacket
	}
	return nil
}

// checkBool validates a byte property that must be 0 or 1.
func checkBool(v byte, ok bool) error {
	switch {
	case !ok:
		return MalformedPacket
	case v > 1:
		return ProtocolError
	}
	return nil
}

// AppendTo appends the property block for a packet of type t, its length
// varint included, and returns the extended buffer. It writes the
// properties allowed in t (t 0 selects the Will Properties of CONNECT) that
// are present: scalars whose bit is set in Present, strings and byte slices
// that are non-empty or whose bit is set, and every User Property and
// Subscription Identifier, in ascending identifier order. It does not keep
// dst.
func (p *Properties) AppendTo(dst []byte, t Type) []byte {
	return p.appendTo(dst, 1<<t)
}

// Size returns the encoded length of the property block, its length varint
// included, with every present property whatever the packet type; it equals
// what AppendTo writes when all of them are allowed in its type.
func (p *Properties) Size() int {
	return p.size(inAllTypes)
}

// size returns the encoded length of the block of the properties in
// contexts mask, length varint included.
func (p *Properties) size(mask uint16) int {
	n := p.bodySize(mask)
	return VarintSize(n) + n
}

// appendTo appends the block of the properties in contexts mask, length
// varint included.
func (p *Properties) appendTo(dst []byte, mask uint16) []byte {
	dst = AppendVarint(dst, p.bodySize(mask))
	return p.appendBody(dst, mask)
}

// want reports whether scalar property id is written in contexts mask.
func (p *Properties) want(id PropID, mask uint16) bool {
	return p.Present&(1<<id) != 0 && propAllowed[id]&mask != 0
}

// wantLen reports whether a string or binary property id of length n is
// written in contexts mask.
func (p *Properties) wantLen(id PropID, n int, mask uint16) bool {
	return (n > 0 || p.Present&(1<<id) != 0) && propAllowed[id]&mask != 0
}

// empty reports whether p certainly has nothing to write.
func (p *Properties) empty() bool {
	return p.Present == 0 && len(p.User) == 0 && len(p.SubscriptionIDs) == 0 &&
		p.ContentType == "" && p.ResponseTopic == "" && len(p.CorrelationData) == 0 &&
		p.AssignedClientID == "" && p.AuthMethod == "" && len(p.AuthData) == 0 &&
		p.ResponseInfo == "" && p.ServerReference == "" && p.ReasonString == ""
}

// bodySize returns the encoded length of the properties in contexts mask,
// without the length varint; it mirrors appendBody.
func (p *Properties) bodySize(mask uint16) int {
	if p.empty() {
		return 0
	}
	n := 0
	if p.want(PropPayloadFormat, mask) {
		n += 2
	}
	if p.want(PropMessageExpiry, mask) {
		n += 5
	}
	if p.wantLen(PropContentType, len(p.ContentType), mask) {
		n += 3 + len(p.ContentType)
	}
	if p.wantLen(PropResponseTopic, len(p.ResponseTopic), mask) {
		n += 3 + len(p.ResponseTopic)
	}
	if p.wantLen(PropCorrelationData, len(p.CorrelationData), mask) {
		n += 3 + len(p.CorrelationData)
	}
	if propAllowed[PropSubscriptionID]&mask != 0 {
		for _, id := range p.SubscriptionIDs {
			n += 1 + VarintSize(int(id))
		}
	}
	if p.want(PropSessionExpiry, mask) {
		n += 5
	}
	if p.wantLen(PropAssignedClientID, len(p.AssignedClientID), mask) {
		n += 3 + len(p.AssignedClientID)
	}
	if p.want(PropServerKeepAlive, mask) {
		n += 3
	}
	if p.wantLen(PropAuthMethod, len(p.AuthMethod), mask) {
		n += 3 + len(p.AuthMethod)
	}
	if p.wantLen(PropAuthData, len(p.AuthData), mask) {
		n += 3 + len(p.AuthData)
	}
	if p.want(PropRequestProblemInfo, mask) {
		n += 2
	}
	if p.want(PropWillDelay, mask) {
		n += 5
	}
	if p.want(PropRequestResponseInfo, mask) {
		n += 2
	}
	if p.wantLen(PropResponseInfo, len(p.ResponseInfo), mask) {
		n += 3 + len(p.ResponseInfo)
	}
	if p.wantLen(PropServerReference, len(p.ServerReference), mask) {
		n += 3 + len(p.ServerReference)
	}
	if p.wantLen(PropReasonString, len(p.ReasonString), mask) {
		n += 3 + len(p.ReasonString)
	}
	if p.want(PropReceiveMaximum, mask) {
		n += 3
	}
	if p.want(PropTopicAliasMaximum, mask) {
		n += 3
	}
	if p.want(PropTopicAlias, mask) {
		n += 3
	}
	if p.want(PropMaximumQoS, mask) {
		n += 2
	}
	if p.want(PropRetainAvailable, mask) {
		n += 2
	}
	if propAllowed[PropUserProperty]&mask != 0 {
		for _, u := range p.User {
			n += 5 + len(u.Key) + len(u.Value)
		}
	}
	if p.want(PropMaximumPacketSize, mask) {
		n += 5
	}
	if p.want(PropWildcardSubAvailable, mask) {
		n += 2
	}
	if p.want(PropSubIDAvailable, mask) {
		n += 2
	}
	if p.want(PropSharedSubAvailable, mask) {
		n += 2
	}
	return n
}

// appendBody appends the properties in contexts mask without the length
// varint; it mirrors bodySize.
func (p *Properties) appendBody(dst []byte, mask uint16) []byte {
	if p.empty() {
		return dst
	}
	if p.want(PropPayloadFormat, mask) {
		dst = append(dst, byte(PropPayloadFormat), p.PayloadFormat)
	}
	if p.want(PropMessageExpiry, mask) {
		dst = appendUint32(append(dst, byte(PropMessageExpiry)), p.MessageExpiry)
	}
	if p.wantLen(PropContentType, len(p.ContentType), mask) {
		dst = appendString(append(dst, byte(PropContentType)), p.ContentType)
	}
	if p.wantLen(PropResponseTopic, len(p.ResponseTopic), mask) {
		dst = appendString(append(dst, byte(PropResponseTopic)), p.ResponseTopic)
	}
	if p.wantLen(PropCorrelationData, len(p.CorrelationData), mask) {
		dst = appendBytes(append(dst, byte(PropCorrelationData)), p.CorrelationData)
	}
	if propAllowed[PropSubscriptionID]&mask != 0 {
		for _, id := range p.SubscriptionIDs {
			dst = AppendVarint(append(dst, byte(PropSubscriptionID)), int(id))
		}
	}
	if p.want(PropSessionExpiry, mask) {
		dst = appendUint32(append(dst, byte(PropSessionExpiry)), p.SessionExpiry)
	}
	if p.wantLen(PropAssignedClientID, len(p.AssignedClientID), mask) {
		dst = appendString(append(dst, byte(PropAssignedClientID)), p.AssignedClientID)
	}
	if p.want(PropServerKeepAlive, mask) {
		dst = appendUint16(append(dst, byte(PropServerKeepAlive)), p.ServerKeepAlive)
	}
	if p.wantLen(PropAuthMethod, len(p.AuthMethod), mask) {
		dst = appendString(append(dst, byte(PropAuthMethod)), p.AuthMethod)
	}
	if p.wantLen(PropAuthData, len(p.AuthData), mask) {
		dst = appendBytes(append(dst, byte(PropAuthData)), p.AuthData)
	}
	if p.want(PropRequestProblemInfo, mask) {
		dst = append(dst, byte(PropRequestProblemInfo), p.RequestProblemInfo)
	}
	if p.want(PropWillDelay, mask) {
		dst = appendUint32(append(dst, byte(PropWillDelay)), p.WillDelay)
	}
	if p.want(PropRequestResponseInfo, mask) {
		dst = append(dst, byte(PropRequestResponseInfo), p.RequestResponseInfo)
	}
	if p.wantLen(PropResponseInfo, len(p.ResponseInfo), mask) {
		dst = appendString(append(dst, byte(PropResponseInfo)), p.ResponseInfo)
	}
	if p.wantLen(PropServerReference, len(p.ServerReference), mask) {
		dst = appendString(append(dst, byte(PropServerReference)), p.ServerReference)
	}
	if p.wantLen(PropReasonString, len(p.ReasonString), mask) {
		dst = appendString(append(dst, byte(PropReasonString)), p.ReasonString)
	}
	if p.want(PropReceiveMaximum, mask) {
		dst = appendUint16(append(dst, byte(PropReceiveMaximum)), p.ReceiveMaximum)
	}
	if p.want(PropTopicAliasMaximum, mask) {
		dst = appendUint16(append(dst, byte(PropTopicAliasMaximum)), p.TopicAliasMaximum)
	}
	if p.want(PropTopicAlias, mask) {
		dst = appendUint16(append(dst, byte(PropTopicAlias)), p.TopicAlias)
	}
	if p.want(PropMaximumQoS, mask) {
		dst = append(dst, byte(PropMaximumQoS), p.MaximumQoS)
	}
	if p.want(PropRetainAvailable, mask) {
		dst = append(dst, byte(PropRetainAvailable), p.RetainAvailable)
	}
	if propAllowed[PropUserProperty]&mask != 0 {
		for _, u := range p.User {
			dst = appendString(appendString(append(dst, byte(PropUserProperty)), u.Key), u.Value)
		}
	}
	if p.want(PropMaximumPacketSize, mask) {
		dst = appendUint32(append(dst, byte(PropMaximumPacketSize)), p.MaximumPacketSize)
	}
	if p.want(PropWildcardSubAvailable, mask) {
		dst = append(dst, byte(PropWildcardSubAvailable), p.WildcardSubAvailable)
	}
	if p.want(PropSubIDAvailable, mask) {
		dst = append(dst, byte(PropSubIDAvailable), p.SubIDAvailable)
	}
	if p.want(PropSharedSubAvailable, mask) {
		dst = append(dst, byte(PropSharedSubAvailable), p.SharedSubAvailable)
	}
	return dst
}
