// Package packet encodes and decodes MQTT 3.1 (protocol level 3, "MQIsdp"),
// 3.1.1 (level 4) and 5.0 (level 5) control packets.
//
// Decoding works on a complete packet body (the bytes after the fixed header)
// and validates every server-side rule of the specifications: reserved flag
// bits, UTF-8 strings, packet identifiers, property sets and duplication, and
// wildcards in topic names. Wildcard placement in topic filters is left to
// ValidateTopicFilter, because the server answers each filter of a SUBSCRIBE
// on its own. Errors wrap a ReasonCode; recover it with errors.As or test it
// with errors.Is. Decode methods take a cp flag: with cp false, strings and
// byte slices alias the input buffer (the caller must copy what it keeps past
// the buffer's reuse); with cp true, they are copied.
//
// Encoding appends to a caller-owned buffer: p.AppendTo(dst, version).
//
// The package imports only the standard library.
package packet

// Type is an MQTT control packet type (the high nibble of the first byte).
type Type byte

// Control packet types.
const (
	CONNECT     Type = 1
	CONNACK     Type = 2
	PUBLISH     Type = 3
	PUBACK      Type = 4
	PUBREC      Type = 5
	PUBREL      Type = 6
	PUBCOMP     Type = 7
	SUBSCRIBE   Type = 8
	SUBACK      Type = 9
	UNSUBSCRIBE Type = 10
	UNSUBACK    Type = 11
	PINGREQ     Type = 12
	PINGRESP    Type = 13
	DISCONNECT  Type = 14
	AUTH        Type = 15
)

// Protocol levels.
const (
	V31  byte = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 byte = 4 // MQTT 3.1.1
	V5   byte = 5 // MQTT 5.0
)

// MaxRemainingLength is the largest value the 4-byte Remaining Length can hold.
const MaxRemainingLength = 268435455

// FixedHeader is the first part of every control packet.
type FixedHeader struct {
	Type      Type
	Flags     byte // low nibble of the first byte
	Remaining int  // Remaining Length: the size of the body
}

// Packet is any decoded control packet.
type Packet interface {
	// PacketType returns the control packet type.
	PacketType() Type
	// AppendTo appends the encoded packet (fixed header included) for the
	// given protocol level to dst and returns the extended buffer.
	AppendTo(dst []byte, version byte) []byte
}

// Connect is a CONNECT packet.
type Connect struct {
	ProtocolName string // "MQTT", or "MQIsdp" for level 3
	Version      byte   // protocol level: V31, V311 or V5
	CleanStart   bool   // Clean Session (3.x) or Clean Start (5)
	KeepAlive    uint16 // seconds
	Props        Properties
	ClientID     string

	WillFlag    bool
	WillQoS     byte
	WillRetain  bool
	WillProps   Properties
	WillTopic   string
	WillPayload []byte

	UsernameFlag bool
	Username     string
	PasswordFlag bool
	Password     []byte
}

// Connack is a CONNACK packet. For levels 3 and 4 ReasonCode holds the
// Connect Return Code (0–5); use ConnackReturnCode to map a v5 code.
type Connack struct {
	SessionPresent bool
	ReasonCode     ReasonCode
	Props          Properties
}

// Publish is a PUBLISH packet.
type Publish struct {
	Dup      bool
	QoS      byte
	Retain   bool
	Topic    string
	PacketID uint16 // present only for QoS 1 and 2
	Props    Properties
	Payload  []byte
}

// Ack is a PUBACK, PUBREC, PUBREL or PUBCOMP packet (Type says which).
type Ack struct {
	Type       Type
	PacketID   uint16
	ReasonCode ReasonCode // v5 only; Success otherwise
	Props      Properties // v5 only
}

// Subscription is one topic filter of a SUBSCRIBE packet with its options.
type Subscription struct {
	Filter            string
	QoS               byte
	NoLocal           bool // v5
	RetainAsPublished bool // v5
	RetainHandling    byte // v5: 0, 1 or 2
}

// Subscribe is a SUBSCRIBE packet.
type Subscribe struct {
	PacketID      uint16
	Props         Properties
	Subscriptions []Subscription
}

// Suback is a SUBACK packet. ReasonCodes holds one code per subscription:
// the granted QoS (0–2) or a failure (0x80 and, in v5, the other codes ≥ 0x80).
type Suback struct {
	PacketID    uint16
	Props       Properties
	ReasonCodes []ReasonCode
}

// Unsubscribe is an UNSUBSCRIBE packet.
type Unsubscribe struct {
	PacketID uint16
	Props    Properties
	Filters  []string
}

// Unsuback is an UNSUBACK packet. ReasonCodes is encoded only for v5.
type Unsuback struct {
	PacketID    uint16
	Props       Properties
	ReasonCodes []ReasonCode
}

// Pingreq is a PINGREQ packet.
type Pingreq struct{}

// Pingresp is a PINGRESP packet.
type Pingresp struct{}

// Disconnect is a DISCONNECT packet. ReasonCode and Props are v5 only.
type Disconnect struct {
	ReasonCode ReasonCode
	Props      Properties
}

// Auth is a v5 AUTH packet.
type Auth struct {
	ReasonCode ReasonCode
	Props      Properties
}

// PacketType implements Packet.
func (*Connect) PacketType() Type { return CONNECT }

// PacketType implements Packet.
func (*Connack) PacketType() Type { return CONNACK }

// PacketType implements Packet.
func (*Publish) PacketType() Type { return PUBLISH }

// PacketType implements Packet.
func (a *Ack) PacketType() Type { return a.Type }

// PacketType implements Packet.
func (*Subscribe) PacketType() Type { return SUBSCRIBE }

// PacketType implements Packet.
func (*Suback) PacketType() Type { return SUBACK }

// PacketType implements Packet.
func (*Unsubscribe) PacketType() Type { return UNSUBSCRIBE }

// PacketType implements Packet.
func (*Unsuback) PacketType() Type { return UNSUBACK }

// PacketType implements Packet.
func (*Pingreq) PacketType() Type { return PINGREQ }

// PacketType implements Packet.
func (*Pingresp) PacketType() Type { return PINGRESP }

// PacketType implements Packet.
func (*Disconnect) PacketType() Type { return DISCONNECT }

// PacketType implements Packet.
func (*Auth) PacketType() Type { return AUTH }
