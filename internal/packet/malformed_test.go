package packet

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// malformed is an input that must fail to decode with a given reason code.
type malformed struct {
	name    string
	version byte
	raw     []byte
	want    ReasonCode
}

// v5publish frames a v5 QoS 0 PUBLISH on topic "t" with property block
// props (length byte included) and payload "p".
func v5publish(props ...any) []byte {
	body := bs(bs(0x00, 1, "t"), bs(props...), "p")
	return bs(0x30, len(body), body)
}

// v5connect frames a v5 CONNECT with client ID "c", connect flags flags and
// property block props (length byte included), followed by rest.
func v5connect(flags byte, props []byte, rest ...any) []byte {
	body := bs(0x00, 4, "MQTT", 5, flags, 0x00, 0, props, 0x00, 1, "c", bs(rest...))
	return bs(0x10, len(body), body)
}

// v5subscribe frames a v5 SUBSCRIBE, packet id 1, no properties, one filter
// with options opts.
func v5subscribe(filter string, opts byte) []byte {
	body := bs(0x00, 1, 0, 0x00, len(filter), filter, opts)
	return bs(0x82, len(body), body)
}

var malformedInputs = []malformed{
	// Fixed header.
	{"remaining length of 5 bytes", V311, bs(0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F), MalformedPacket},
	{"reserved packet type 0", V311, bs(0x00, 0), MalformedPacket},
	{"connect flags", V311, bs(0x11, 12, 0x00, 4, "MQTT", 4, 0x02, 0x00, 0, 0x00, 0), MalformedPacket},
	{"connack flags", V311, bs(0x21, 2, 0, 0), MalformedPacket},
	{"puback flags", V311, bs(0x42, 2, 0x00, 1), MalformedPacket},
	{"pubrel flags 0", V311, bs(0x60, 2, 0x00, 1), MalformedPacket},
	{"pubcomp flags", V311, bs(0x72, 2, 0x00, 1), MalformedPacket},
	{"subscribe flags 0", V311, bs(0x80, 6, 0x00, 1, 0x00, 1, "a", 0), MalformedPacket},
	{"unsubscribe flags 0", V311, bs(0xA0, 5, 0x00, 1, 0x00, 1, "a"), MalformedPacket},
	{"suback flags", V311, bs(0x92, 3, 0x00, 1, 0), MalformedPacket},
	{"pingreq flags", V311, bs(0xC1, 0), MalformedPacket},
	{"pingresp flags", V311, bs(0xD8, 0), MalformedPacket},
	{"disconnect flags", V5, bs(0xE1, 0), MalformedPacket},
	{"auth flags", V5, bs(0xF1, 0), MalformedPacket},

	// PUBLISH.
	{"publish qos 3", V311, bs(0x36, 5, 0x00, 1, "t", 0x00, 1), MalformedPacket},
	{"publish dup with qos 0", V311, bs(0x38, 3, 0x00, 1, "t"), MalformedPacket},
	{"publish invalid utf-8", V311, bs(0x30, 4, 0x00, 2, 0xC3, 0x28), MalformedPacket},
	{"publish surrogate", V311, bs(0x30, 5, 0x00, 3, 0xED, 0xA0, 0x80), MalformedPacket},
	{"publish U+0000", V311, bs(0x30, 5, 0x00, 3, "a", 0, "b"), MalformedPacket},
	{"publish wildcard +", V311, bs(0x30, 5, 0x00, 3, "a/+"), TopicNameInvalid},
	{"publish wildcard #", V5, bs(0x30, 6, 0x00, 3, "a/#", 0), TopicNameInvalid},
	{"publish empty topic 3.1.1", V311, bs(0x30, 2, 0x00, 0), TopicNameInvalid},
	{"publish empty topic v5 without alias", V5, bs(0x30, 3, 0x00, 0, 0), ProtocolError},
	{"publish packet id 0", V311, bs(0x32, 5, 0x00, 1, "t", 0x00, 0), MalformedPacket},
	{"publish topic truncated", V311, bs(0x30, 3, 0x00, 5, "t"), MalformedPacket},
	{"publish packet id truncated", V311, bs(0x32, 4, 0x00, 1, "t", 0x00), MalformedPacket},
	{"publish property length past end", V5, bs(0x30, 5, 0x00, 1, "t", 9, 0x01), MalformedPacket},
	{"publish property length 5-byte varint", V5, bs(0x30, 8, 0x00, 1, "t", 0x80, 0x80, 0x80, 0x80, 0x01), MalformedPacket},
	{"publish duplicate property", V5, v5publish(8, 0x03, 0x00, 1, "a", 0x03, 0x00, 1, "b"), ProtocolError},
	{"publish duplicate payload format", V5, v5publish(4, 0x01, 0, 0x01, 1), ProtocolError},
	{"publish disallowed property", V5, v5publish(5, 0x11, 0, 0, 0, 1), MalformedPacket},
	{"publish will delay", V5, v5publish(5, 0x18, 0, 0, 0, 1), MalformedPacket},
	{"publish unknown property", V5, v5publish(2, 0x7F, 0), MalformedPacket},
	{"publish 2-byte property id", V5, v5publish(3, 0x81, 0x01, 0), MalformedPacket},
	{"publish property truncated", V5, v5publish(3, 0x02, 0, 0), MalformedPacket},
	{"publish payload format 2", V5, v5publish(2, 0x01, 2), ProtocolError},
	{"publish subscription id 0", V5, v5publish(2, 0x0B, 0), ProtocolError},
	{"publish subscription id 5-byte varint", V5, v5publish(6, 0x0B, 0x80, 0x80, 0x80, 0x80, 0x01), MalformedPacket},
	{"publish topic alias 0", V5, v5publish(3, 0x23, 0, 0), TopicAliasInvalid},
	{"publish response topic wildcard", V5, v5publish(6, 0x08, 0x00, 3, "a/#"), ProtocolError},
	{"publish content type invalid utf-8", V5, v5publish(5, 0x03, 0x00, 2, 0xC3, 0x28), MalformedPacket},
	{"publish user property U+0000", V5, v5publish(7, 0x26, 0x00, 1, 0, 0x00, 1, "v"), MalformedPacket},
	{"publish user property truncated", V5, v5publish(5, 0x26, 0x00, 1, "k", 0x00), MalformedPacket},

	// CONNECT.
	{"connect protocol name", V311, bs(0x10, 12, 0x00, 4, "MQTX", 4, 0x02, 0x00, 0, 0x00, 0), ProtocolError},
	{"connect protocol name invalid utf-8", V311, bs(0x10, 12, 0x00, 4, "MQT", 0xFF, 4, 0x02, 0x00, 0, 0x00, 0), MalformedPacket},
	{"connect level 6", V311, bs(0x10, 12, 0x00, 4, "MQTT", 6, 0x02, 0x00, 0, 0x00, 0), UnsupportedProtocolVersion},
	{"connect MQTT level 3", V311, bs(0x10, 12, 0x00, 4, "MQTT", 3, 0x02, 0x00, 0, 0x00, 0), UnsupportedProtocolVersion},
	{"connect MQIsdp level 4", V311, bs(0x10, 14, 0x00, 6, "MQIsdp", 4, 0x02, 0x00, 0, 0x00, 0), UnsupportedProtocolVersion},
	{"connect reserved flag", V311, bs(0x10, 12, 0x00, 4, "MQTT", 4, 0x03, 0x00, 0, 0x00, 0), MalformedPacket},
	{"connect will qos 3", V5, v5connect(0x1C, bs(0), 0, 0x00, 1, "w", 0x00, 0), MalformedPacket},
	{"connect will qos without will", V311, bs(0x10, 12, 0x00, 4, "MQTT", 4, 0x08, 0x00, 0, 0x00, 0), MalformedPacket},
	{"connect will retain without will", V311, bs(0x10, 12, 0x00, 4, "MQTT", 4, 0x20, 0x00, 0, 0x00, 0), MalformedPacket},
	{"connect password without user name 3.1.1", V311, bs(0x10, 16, 0x00, 4, "MQTT", 4, 0x40, 0x00, 0, 0x00, 0, 0x00, 2, "pw"), MalformedPacket},
	{"connect client id invalid utf-8", V311, bs(0x10, 13, 0x00, 4, "MQTT", 4, 0x02, 0x00, 0, 0x00, 1, 0x80), MalformedPacket},
	{"connect client id truncated", V311, bs(0x10, 12, 0x00, 4, "MQTT", 4, 0x02, 0x00, 0, 0x00, 5), MalformedPacket},
	{"connect will topic wildcard", V311, bs(0x10, 17, 0x00, 4, "MQTT", 4, 0x04, 0x00, 0, 0x00, 0, 0x00, 1, "#", 0x00, 0), TopicNameInvalid},
	{"connect user name missing", V311, bs(0x10, 12, 0x00, 4, "MQTT", 4, 0x80, 0x00, 0, 0x00, 0), MalformedPacket},
	{"connect trailing bytes", V311, bs(0x10, 13, 0x00, 4, "MQTT", 4, 0x02, 0x00, 0, 0x00, 0, 0xAA), MalformedPacket},
	{"connect receive maximum 0", V5, v5connect(0, bs(3, 0x21, 0, 0)), ProtocolError},
	{"connect maximum packet size 0", V5, v5connect(0, bs(5, 0x27, 0, 0, 0, 0)), ProtocolError},
	{"connect request problem information 2", V5, v5connect(0, bs(2, 0x17, 2)), ProtocolError},
	{"connect request response information 2", V5, v5connect(0, bs(2, 0x19, 2)), ProtocolError},
	{"connect authentication data without method", V5, v5connect(0, bs(4, 0x16, 0x00, 1, 9)), ProtocolError},
	{"connect will property in connect", V5, v5connect(0, bs(5, 0x18, 0, 0, 0, 1)), MalformedPacket},
	{"connect topic alias in connect", V5, v5connect(0, bs(3, 0x23, 0, 1)), MalformedPacket},
	{"connect session expiry in will", V5, v5connect(0x04, bs(0), 5, 0x11, 0, 0, 0, 1, 0x00, 1, "w", 0x00, 0), MalformedPacket},
	{"connect duplicate will delay", V5, v5connect(0x04, bs(0), 10, 0x18, 0, 0, 0, 1, 0x18, 0, 0, 0, 2, 0x00, 1, "w", 0x00, 0), ProtocolError},

	// CONNACK.
	{"connack reserved flags", V311, bs(0x20, 2, 0x02, 0), MalformedPacket},
	{"connack truncated", V311, bs(0x20, 1, 0x00), MalformedPacket},
	{"connack v5 invalid code", V5, bs(0x20, 3, 0x00, 0x05, 0), ProtocolError},
	{"connack v5 maximum qos 2", V5, bs(0x20, 5, 0x00, 0x00, 2, 0x24, 2), ProtocolError},
	{"connack v5 retain available 2", V5, bs(0x20, 5, 0x00, 0x00, 2, 0x25, 2), ProtocolError},
	{"connack v5 wildcard available 2", V5, bs(0x20, 5, 0x00, 0x00, 2, 0x28, 2), ProtocolError},
	{"connack v5 subscription id available 2", V5, bs(0x20, 5, 0x00, 0x00, 2, 0x29, 2), ProtocolError},
	{"connack v5 shared available 2", V5, bs(0x20, 5, 0x00, 0x00, 2, 0x2A, 2), ProtocolError},
	{"connack v5 missing properties", V5, bs(0x20, 2, 0x00, 0x00), MalformedPacket},

	// Acknowledgements.
	{"puback packet id 0", V311, bs(0x40, 2, 0x00, 0), MalformedPacket},
	{"pubrel packet id 0", V5, bs(0x62, 2, 0x00, 0), MalformedPacket},
	{"puback truncated", V311, bs(0x40, 1, 0x00), MalformedPacket},
	{"puback 3.1.1 trailing bytes", V311, bs(0x40, 3, 0x00, 1, 0), MalformedPacket},
	{"puback v5 invalid code", V5, bs(0x40, 3, 0x00, 1, 0x92), ProtocolError},
	{"pubrel v5 invalid code", V5, bs(0x62, 3, 0x00, 1, 0x10), ProtocolError},
	{"puback v5 disallowed property", V5, bs(0x40, 6, 0x00, 1, 0x00, 2, 0x24, 1), MalformedPacket},

	// SUBSCRIBE and UNSUBSCRIBE.
	{"subscribe no filter", V311, bs(0x82, 2, 0x00, 1), ProtocolError},
	{"subscribe v5 no filter", V5, bs(0x82, 3, 0x00, 1, 0), ProtocolError},
	{"subscribe packet id 0", V311, bs(0x82, 6, 0x00, 0, 0x00, 1, "a", 0), MalformedPacket},
	{"subscribe options missing", V311, bs(0x82, 5, 0x00, 1, 0x00, 1, "a"), MalformedPacket},
	{"subscribe 3.1.1 qos 3", V311, bs(0x82, 6, 0x00, 1, 0x00, 1, "a", 3), MalformedPacket},
	{"subscribe 3.1.1 upper bits", V311, bs(0x82, 6, 0x00, 1, 0x00, 1, "a", 0x04), MalformedPacket},
	{"subscribe filter invalid utf-8", V311, bs(0x82, 6, 0x00, 1, 0x00, 1, 0xFE, 0), MalformedPacket},
	{"subscribe filter U+0000", V311, bs(0x82, 6, 0x00, 1, 0x00, 1, 0, 0), MalformedPacket},
	{"subscribe v5 reserved bits", V5, v5subscribe("a", 0x40), MalformedPacket},
	{"subscribe v5 qos 3", V5, v5subscribe("a", 0x03), ProtocolError},
	{"subscribe v5 retain handling 3", V5, v5subscribe("a", 0x30), ProtocolError},
	{"subscribe v5 no local on shared", V5, v5subscribe("$share/g/a", 0x04), ProtocolError},
	{"subscribe v5 two subscription ids", V5, bs(0x82, 10, 0x00, 1, 4, 0x0B, 1, 0x0B, 2, 0x00, 1, "a", 0), ProtocolError},
	{"subscribe v5 topic alias", V5, bs(0x82, 9, 0x00, 1, 3, 0x23, 0, 1, 0x00, 1, "a", 0), MalformedPacket},
	{"unsubscribe no filter", V311, bs(0xA2, 2, 0x00, 1), ProtocolError},
	{"unsubscribe packet id 0", V311, bs(0xA2, 5, 0x00, 0, 0x00, 1, "a"), MalformedPacket},
	{"unsubscribe filter truncated", V311, bs(0xA2, 5, 0x00, 1, 0x00, 2, "a"), MalformedPacket},

	// SUBACK and UNSUBACK.
	{"suback 3.1.1 invalid code", V311, bs(0x90, 3, 0x00, 1, 0x03), ProtocolError},
	{"suback v5 invalid code", V5, bs(0x90, 4, 0x00, 1, 0, 0x04), ProtocolError},
	{"suback no code", V311, bs(0x90, 2, 0x00, 1), ProtocolError},
	{"unsuback 3.1.1 trailing bytes", V311, bs(0xB0, 3, 0x00, 1, 0), MalformedPacket},
	{"unsuback v5 invalid code", V5, bs(0xB0, 4, 0x00, 1, 0, 0x01), ProtocolError},

	// PINGREQ, PINGRESP, DISCONNECT, AUTH.
	{"pingreq body", V311, bs(0xC0, 1, 0), MalformedPacket},
	{"pingresp body", V5, bs(0xD0, 1, 0), MalformedPacket},
	{"disconnect 3.1.1 body", V311, bs(0xE0, 1, 0), MalformedPacket},
	{"disconnect v5 invalid code", V5, bs(0xE0, 1, 0x01), ProtocolError},
	{"disconnect v5 property truncated", V5, bs(0xE0, 3, 0x00, 5, 0x11), MalformedPacket},
	{"disconnect v5 duplicate session expiry", V5, bs(0xE0, 12, 0x00, 10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2), ProtocolError},
	{"auth in 3.1.1", V311, bs(0xF0, 0), ProtocolError},
	{"auth v5 invalid code", V5, bs(0xF0, 1, 0x01), ProtocolError},
	{"auth v5 disallowed property", V5, bs(0xF0, 4, 0x18, 2, 0x24, 0), MalformedPacket},
}

func TestMalformed(t *testing.T) {
	for _, m := range malformedInputs {
		t.Run(m.name, func(t *testing.T) {
			p, err := ReadPacket(bytes.NewReader(m.raw), m.version, 0)
			var rc ReasonCode
			if !errors.As(err, &rc) || rc != m.want {
				t.Fatalf("ReadPacket = %v, %v; want an error wrapping %#02x (%v)", p, err, byte(m.want), m.want)
			}
			if !errors.Is(err, m.want) {
				t.Fatalf("errors.Is(%v, %v) = false", err, m.want)
			}
			if !strings.HasPrefix(err.Error(), "packet: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestReadPacketTooLarge(t *testing.T) {
	raw := goldens[0].raw // CONNECT, remaining length 27
	_, err := ReadPacket(bytes.NewReader(raw), V311, 26)
	if !errors.Is(err, PacketTooLarge) {
		t.Fatalf("ReadPacket with maxSize 26 = %v; want PacketTooLarge", err)
	}
	// The body is refused before it is read: a reader holding only the
	// header is enough.
	_, err = ReadPacket(bytes.NewReader(bs(0x30, 0xFF, 0xFF, 0xFF, 0x7F)), V311, 1<<20)
	if !errors.Is(err, PacketTooLarge) {
		t.Fatalf("ReadPacket of a 256 MB header = %v; want PacketTooLarge", err)
	}
}

func TestReadPacketTruncated(t *testing.T) {
	raw := goldens[0].raw
	for i := 1; i < len(raw); i++ {
		if _, err := ReadPacket(bytes.NewReader(raw[:i]), V311, 0); err != io.ErrUnexpectedEOF {
			t.Errorf("ReadPacket of %d of %d bytes = %v; want io.ErrUnexpectedEOF", i, len(raw), err)
		}
	}
	if _, err := ReadPacket(bytes.NewReader(nil), V311, 0); err != io.EOF {
		t.Errorf("ReadPacket of nothing = %v; want io.EOF", err)
	}
}

func TestParseFixedHeader(t *testing.T) {
	tests := []struct {
		in      []byte
		want    FixedHeader
		n       int
		wantErr error
	}{
		{nil, FixedHeader{}, 0, ErrIncomplete},
		{bs(0x30), FixedHeader{}, 0, ErrIncomplete},
		{bs(0x30, 0x80), FixedHeader{}, 0, ErrIncomplete},
		{bs(0x30, 0xFF, 0xFF, 0xFF), FixedHeader{}, 0, ErrIncomplete},
		{bs(0x30, 0xFF, 0xFF, 0xFF, 0xFF), FixedHeader{}, 0, MalformedPacket},
		{bs(0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01), FixedHeader{}, 0, MalformedPacket},
		{bs(0xC0, 0x00), FixedHeader{Type: PINGREQ}, 2, nil},
		{bs(0x3B, 0x7F, 0xAA), FixedHeader{Type: PUBLISH, Flags: 0xB, Remaining: 127}, 2, nil},
		{bs(0x62, 0x80, 0x01), FixedHeader{Type: PUBREL, Flags: 2, Remaining: 128}, 3, nil},
		{bs(0x30, 0x80, 0x80, 0x01), FixedHeader{Type: PUBLISH, Remaining: 16384}, 4, nil},
		{bs(0x30, 0xFF, 0xFF, 0xFF, 0x7F), FixedHeader{Type: PUBLISH, Remaining: MaxRemainingLength}, 5, nil},
		{bs(0x0F, 0x00), FixedHeader{Type: 0, Flags: 0xF}, 2, nil}, // flags and type are Decode's business
	}
	for _, tt := range tests {
		h, n, err := ParseFixedHeader(tt.in)
		if !errors.Is(err, tt.wantErr) || h != tt.want || n != tt.n {
			t.Errorf("ParseFixedHeader(% x) = %+v, %d, %v; want %+v, %d, %v", tt.in, h, n, err, tt.want, tt.n, tt.wantErr)
		}
	}
}

func TestVarint(t *testing.T) {
	for _, v := range []int{0, 1, 127, 128, 16383, 16384, 2097151, 2097152, MaxRemainingLength} {
		b := AppendVarint(nil, v)
		if len(b) != VarintSize(v) {
			t.Errorf("AppendVarint(%d) has %d bytes, VarintSize says %d", v, len(b), VarintSize(v))
		}
		r := reader{buf: b}
		if got, ok := r.readVarint(); !ok || got != v || r.len() != 0 {
			t.Errorf("readVarint(% x) = %d, %v; want %d", b, got, ok, v)
		}
	}
}

func TestConnackReturnCode(t *testing.T) {
	tests := map[ReasonCode]ReasonCode{
		Success:                      ConnAccepted,
		UnsupportedProtocolVersion:   ConnRefusedProtocolVersion,
		ClientIdentifierNotValid:     ConnRefusedIdentifier,
		ServerUnavailable:            ConnRefusedServerUnavailable,
		ServerBusy:                   ConnRefusedServerUnavailable,
		BadUsernameOrPassword:        ConnRefusedBadCredentials,
		NotAuthorized:                ConnRefusedNotAuthorized,
		Banned:                       ConnRefusedNotAuthorized,
		UnspecifiedError:             ConnRefusedNotAuthorized,
		MalformedPacket:              ConnRefusedNotAuthorized,
		QuotaExceeded:                ConnRefusedServerUnavailable,
		ConnectionRateExceeded:       ConnRefusedServerUnavailable,
		ConnRefusedBadCredentials:    ConnRefusedBadCredentials,
		ConnRefusedServerUnavailable: ConnRefusedServerUnavailable,
	}
	for in, want := range tests {
		if got := ConnackReturnCode(in); got != want {
			t.Errorf("ConnackReturnCode(%#02x) = %d; want %d", byte(in), got, want)
		}
	}
}

func TestReasonCodeString(t *testing.T) {
	tests := map[ReasonCode]string{
		Success:                           "Success",
		MalformedPacket:                   "Malformed Packet",
		ProtocolError:                     "Protocol Error",
		TopicNameInvalid:                  "Topic Name invalid",
		WildcardSubscriptionsNotSupported: "Wildcard Subscriptions not supported",
		0x7F:                              "reason code 0x7f",
	}
	for rc, want := range tests {
		if got := rc.Error(); got != want {
			t.Errorf("ReasonCode(%#02x).Error() = %q; want %q", byte(rc), got, want)
		}
	}
}

// TestPropertiesAppendFilters checks that Properties.AppendTo writes only the
// properties allowed in the packet type, and that Size counts them all.
func TestPropertiesAppendFilters(t *testing.T) {
	p := Properties{WillDelay: 5, TopicAlias: 3, ReasonString: "r"}
	p.Set(PropWillDelay)
	p.Set(PropTopicAlias)
	if got, want := p.AppendTo(nil, PUBLISH), bs(3, 0x23, 0x00, 3); !bytes.Equal(got, want) {
		t.Errorf("AppendTo(PUBLISH) = % x; want % x", got, want)
	}
	// ReasonString is written although its bit is not set: it is non-empty.
	if got, want := p.AppendTo(nil, PUBACK), bs(4, 0x1F, 0x00, 1, "r"); !bytes.Equal(got, want) {
		t.Errorf("AppendTo(PUBACK) = % x; want % x", got, want)
	}
	if got, want := p.Size(), 1+5+3+4; got != want {
		t.Errorf("Size() = %d; want %d", got, want)
	}
	var empty Properties
	if got := empty.AppendTo(nil, CONNECT); !bytes.Equal(got, []byte{0}) || empty.Size() != 1 {
		t.Errorf("empty AppendTo = % x, Size %d; want 00, 1", got, empty.Size())
	}
}

// TestUnsupportedVersionKeepsLevel checks that a CONNECT with an unknown
// level still reports the name and level, so the server can pick the CONNACK
// form.
func TestUnsupportedVersionKeepsLevel(t *testing.T) {
	var c Connect
	err := c.Decode(0, bs(0x00, 4, "MQTT", 6, 0x02, 0x00, 0, 0x00, 0), false)
	if !errors.Is(err, UnsupportedProtocolVersion) || c.ProtocolName != "MQTT" || c.Version != 6 {
		t.Fatalf("Decode = %v, name %q, version %d", err, c.ProtocolName, c.Version)
	}
}

// TestDecodeAliasing checks that cp false aliases the body and cp true does
// not.
func TestDecodeAliasing(t *testing.T) {
	raw := bs(0x00, 3, "a/b", "data")
	for _, cp := range []bool{false, true} {
		body := append([]byte(nil), raw...)
		var p Publish
		if err := p.Decode(0, body, V311, cp); err != nil {
			t.Fatal(err)
		}
		copy(body, bs(0x00, 3, "x/y", "DATA"))
		aliased := p.Topic == "x/y" && string(p.Payload) == "DATA"
		if aliased == cp {
			t.Errorf("cp=%v: topic %q payload %q after overwriting the body", cp, p.Topic, p.Payload)
		}
	}
}
