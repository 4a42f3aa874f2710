package packet

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
)

// bs concatenates byte groups: integers are single bytes, strings and byte
// slices are copied as they are.
func bs(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case int:
			b = append(b, byte(v))
		case byte:
			b = append(b, v)
		case string:
			b = append(b, v...)
		case []byte:
			b = append(b, v...)
		default:
			panic(fmt.Sprintf("bs: %T", p))
		}
	}
	return b
}

// bits returns the Present mask of ids.
func bits(ids ...PropID) uint64 {
	var m uint64
	for _, id := range ids {
		m |= 1 << id
	}
	return m
}

// golden is one packet in its canonical encoding for a protocol level.
type golden struct {
	name    string
	version byte
	raw     []byte
	want    Packet
}

// goldens covers every packet type at every protocol level, and every v5
// property at least once. Properties are in ascending identifier order, as
// AppendTo writes them.
var goldens = []golden{
	// ---- MQTT 3.1 (level 3): only CONNECT differs from 3.1.1.
	{"connect/v31", V31, bs(
		0x10, 27, // CONNECT, remaining length 27
		0x00, 6, "MQIsdp", // protocol name
		3,        // protocol level 3
		0xC2,     // flags: user name, password, clean session
		0x00, 60, // keep alive 60 s
		0x00, 3, "c31", // client identifier
		0x00, 4, "user", // user name
		0x00, 2, "pw", // password
	), &Connect{ProtocolName: "MQIsdp", Version: V31, CleanStart: true, KeepAlive: 60, ClientID: "c31",
		UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte("pw")}},
	{"connack/v31", V31, bs(
		0x20, 2, // CONNACK, remaining length 2
		0x00, // acknowledge flags
		0x04, // return code: bad user name or password
	), &Connack{ReasonCode: ConnRefusedBadCredentials}},
	{"publish/v31", V31, bs(
		0x30, 7, // PUBLISH QoS 0
		0x00, 3, "a/b", // topic name
		"hi", // payload
	), &Publish{Topic: "a/b", Payload: []byte("hi")}},

	// ---- MQTT 3.1.1 (level 4).
	{"connect/v311/will", V311, bs(
		0x10, 26, // CONNECT, remaining length 26
		0x00, 4, "MQTT", // protocol name
		4,        // protocol level 4
		0x2E,     // flags: will retain, will QoS 1, will, clean session
		0x00, 10, // keep alive 10 s
		0x00, 2, "id", // client identifier
		0x00, 5, "w/top", // will topic
		0x00, 3, "bye", // will payload
	), &Connect{ProtocolName: "MQTT", Version: V311, CleanStart: true, KeepAlive: 10, ClientID: "id",
		WillFlag: true, WillQoS: 1, WillRetain: true, WillTopic: "w/top", WillPayload: []byte("bye")}},
	{"connect/v311/minimal", V311, bs(
		0x10, 12, // CONNECT, remaining length 12
		0x00, 4, "MQTT", // protocol name
		4,          // protocol level 4
		0x02,       // flags: clean session
		0x00, 0x00, // keep alive off
		0x00, 0, // empty client identifier
	), &Connect{ProtocolName: "MQTT", Version: V311, CleanStart: true}},
	{"connack/v311", V311, bs(
		0x20, 2, // CONNACK
		0x01, // session present
		0x00, // connection accepted
	), &Connack{SessionPresent: true}},
	{"publish/v311/qos0", V311, bs(
		0x30, 7, // PUBLISH QoS 0
		0x00, 3, "a/b", // topic name
		"hi", // payload
	), &Publish{Topic: "a/b", Payload: []byte("hi")}},
	{"publish/v311/qos1-dup-retain", V311, bs(
		0x3B, 8, // PUBLISH: DUP, QoS 1, RETAIN
		0x00, 3, "a/b", // topic name
		0x00, 7, // packet identifier 7
		"x", // payload
	), &Publish{Dup: true, QoS: 1, Retain: true, Topic: "a/b", PacketID: 7, Payload: []byte("x")}},
	{"publish/v311/qos2-empty", V311, bs(
		0x34, 7, // PUBLISH QoS 2
		0x00, 3, "a/b", // topic name
		0x00, 1, // packet identifier 1; empty payload
	), &Publish{QoS: 2, Topic: "a/b", PacketID: 1}},
	{"puback/v311", V311, bs(0x40, 2, 0x00, 1), &Ack{Type: PUBACK, PacketID: 1}},   // PUBACK, packet id 1
	{"pubrec/v311", V311, bs(0x50, 2, 0x00, 2), &Ack{Type: PUBREC, PacketID: 2}},   // PUBREC, packet id 2
	{"pubrel/v311", V311, bs(0x62, 2, 0x01, 0), &Ack{Type: PUBREL, PacketID: 256}}, // PUBREL (flags 0010), packet id 256
	{"pubcomp/v311", V311, bs(0x70, 2, 0xFF, 0xFF), &Ack{Type: PUBCOMP, PacketID: 65535}},
	{"subscribe/v311", V311, bs(
		0x82, 12, // SUBSCRIBE (flags 0010)
		0x00, 10, // packet identifier 10
		0x00, 3, "a/+", 0x01, // filter, QoS 1
		0x00, 1, "#", 0x02, // filter, QoS 2
	), &Subscribe{PacketID: 10, Subscriptions: []Subscription{{Filter: "a/+", QoS: 1}, {Filter: "#", QoS: 2}}}},
	{"suback/v311", V311, bs(
		0x90, 5, // SUBACK
		0x00, 10, // packet identifier 10
		0x01, 0x02, 0x80, // granted QoS 1, granted QoS 2, failure
	), &Suback{PacketID: 10, ReasonCodes: []ReasonCode{GrantedQoS1, GrantedQoS2, UnspecifiedError}}},
	{"unsubscribe/v311", V311, bs(
		0xA2, 10, // UNSUBSCRIBE (flags 0010)
		0x00, 11, // packet identifier 11
		0x00, 3, "a/+", // filter
		0x00, 1, "#", // filter
	), &Unsubscribe{PacketID: 11, Filters: []string{"a/+", "#"}}},
	{"unsuback/v311", V311, bs(0xB0, 2, 0x00, 11), &Unsuback{PacketID: 11}}, // UNSUBACK, packet id 11
	{"pingreq/v311", V311, bs(0xC0, 0), &Pingreq{}},
	{"pingresp/v311", V311, bs(0xD0, 0), &Pingresp{}},
	{"disconnect/v311", V311, bs(0xE0, 0), &Disconnect{}},

	// ---- MQTT 5.0 (level 5).
	{"connect/v5/full", V5, bs(
		0x10, 118, // CONNECT, remaining length 118
		0x00, 4, "MQTT", // protocol name
		5,        // protocol level 5
		0xF6,     // flags: user name, password, will retain, will QoS 2, will, clean start
		0x00, 30, // keep alive 30 s
		40,                           // property length
		0x11, 0x00, 0x00, 0x0E, 0x10, // session expiry interval 3600
		0x15, 0x00, 5, "SCRAM", // authentication method
		0x16, 0x00, 2, 0x01, 0x02, // authentication data
		0x17, 1, // request problem information
		0x19, 1, // request response information
		0x21, 0x00, 20, // receive maximum 20
		0x22, 0x00, 5, // topic alias maximum 5
		0x26, 0x00, 1, "k", 0x00, 1, "v", // user property k=v
		0x27, 0x00, 0x00, 0x10, 0x00, // maximum packet size 4096
		0x00, 3, "cid", // client identifier
		39,      // will property length
		0x01, 1, // payload format indicator: UTF-8
		0x02, 0x00, 0x00, 0x00, 60, // message expiry interval 60
		0x03, 0x00, 4, "text", // content type
		0x08, 0x00, 5, "r/top", // response topic
		0x09, 0x00, 2, 0xAB, 0xCD, // correlation data
		0x18, 0x00, 0x00, 0x00, 5, // will delay interval 5
		0x26, 0x00, 1, "a", 0x00, 1, "b", // user property a=b
		0x00, 4, "will", // will topic
		0x00, 3, "off", // will payload
		0x00, 4, "user", // user name
		0x00, 3, "pwd", // password
	), &Connect{ProtocolName: "MQTT", Version: V5, CleanStart: true, KeepAlive: 30,
		Props: Properties{
			Present: bits(PropSessionExpiry, PropAuthMethod, PropAuthData, PropRequestProblemInfo,
				PropRequestResponseInfo, PropReceiveMaximum, PropTopicAliasMaximum, PropUserProperty,
				PropMaximumPacketSize),
			SessionExpiry: 3600, AuthMethod: "SCRAM", AuthData: []byte{1, 2}, RequestProblemInfo: 1,
			RequestResponseInfo: 1, ReceiveMaximum: 20, TopicAliasMaximum: 5,
			User: []UserProperty{{"k", "v"}}, MaximumPacketSize: 4096,
		},
		ClientID: "cid",
		WillFlag: true, WillQoS: 2, WillRetain: true,
		WillProps: Properties{
			Present: bits(PropPayloadFormat, PropMessageExpiry, PropContentType, PropResponseTopic,
				PropCorrelationData, PropWillDelay, PropUserProperty),
			PayloadFormat: 1, MessageExpiry: 60, ContentType: "text", ResponseTopic: "r/top",
			CorrelationData: []byte{0xAB, 0xCD}, WillDelay: 5, User: []UserProperty{{"a", "b"}},
		},
		WillTopic: "will", WillPayload: []byte("off"),
		UsernameFlag: true, Username: "user", PasswordFlag: true, Password: []byte("pwd"),
	}},
	{"connect/v5/password-only", V5, bs(
		0x10, 18, // CONNECT
		0x00, 4, "MQTT", // protocol name
		5,       // protocol level 5
		0x40,    // flags: password only (allowed in v5)
		0x00, 0, // keep alive off
		0,            // property length
		0x00, 1, "c", // client identifier
		0x00, 2, "pw", // password
	), &Connect{ProtocolName: "MQTT", Version: V5, ClientID: "c", PasswordFlag: true, Password: []byte("pw")}},
	{"connack/v5/full", V5, bs(
		0x20, 76, // CONNACK
		0x00,                        // acknowledge flags
		0x00,                        // reason code: success
		73,                          // property length
		0x11, 0x00, 0x00, 0x00, 120, // session expiry interval 120
		0x12, 0x00, 4, "auto", // assigned client identifier
		0x13, 0x00, 60, // server keep alive 60
		0x15, 0x00, 5, "SCRAM", // authentication method
		0x16, 0x00, 1, 0xFF, // authentication data
		0x1A, 0x00, 4, "resp", // response information
		0x1C, 0x00, 3, "srv", // server reference
		0x1F, 0x00, 2, "ok", // reason string
		0x21, 0x00, 10, // receive maximum 10
		0x22, 0x00, 8, // topic alias maximum 8
		0x24, 1, // maximum QoS 1
		0x25, 0, // retain not available
		0x26, 0x00, 1, "x", 0x00, 1, "y", // user property x=y
		0x27, 0x00, 0x01, 0x00, 0x00, // maximum packet size 65536
		0x28, 0, // wildcard subscriptions not available
		0x29, 1, // subscription identifiers available
		0x2A, 0, // shared subscriptions not available
	), &Connack{Props: Properties{
		Present: bits(PropSessionExpiry, PropAssignedClientID, PropServerKeepAlive, PropAuthMethod,
			PropAuthData, PropResponseInfo, PropServerReference, PropReasonString, PropReceiveMaximum,
			PropTopicAliasMaximum, PropMaximumQoS, PropRetainAvailable, PropUserProperty,
			PropMaximumPacketSize, PropWildcardSubAvailable, PropSubIDAvailable, PropSharedSubAvailable),
		SessionExpiry: 120, AssignedClientID: "auto", ServerKeepAlive: 60, AuthMethod: "SCRAM",
		AuthData: []byte{0xFF}, ResponseInfo: "resp", ServerReference: "srv", ReasonString: "ok",
		ReceiveMaximum: 10, TopicAliasMaximum: 8, MaximumQoS: 1, RetainAvailable: 0,
		User: []UserProperty{{"x", "y"}}, MaximumPacketSize: 65536, WildcardSubAvailable: 0,
		SubIDAvailable: 1, SharedSubAvailable: 0,
	}}},
	{"connack/v5/refused", V5, bs(
		0x20, 3, // CONNACK
		0x00, // acknowledge flags
		0x87, // reason code: not authorized
		0,    // property length
	), &Connack{ReasonCode: NotAuthorized}},
	{"publish/v5/props", V5, bs(
		0x32, 69, // PUBLISH QoS 1
		0x00, 3, "a/b", // topic name
		0x00, 5, // packet identifier 5
		56,      // property length
		0x01, 0, // payload format indicator: bytes
		0x02, 0x00, 0x00, 0x00, 10, // message expiry interval 10
		0x03, 0x00, 10, "text/plain", // content type
		0x08, 0x00, 3, "r/1", // response topic
		0x09, 0x00, 3, "xyz", // correlation data
		0x0B, 5, // subscription identifier 5
		0x0B, 0x80, 0x01, // subscription identifier 128 (2-byte varint)
		0x23, 0x00, 2, // topic alias 2
		0x26, 0x00, 1, "k", 0x00, 2, "v1", // user property k=v1
		0x26, 0x00, 1, "k", 0x00, 2, "v2", // user property k=v2 (repeats are allowed)
		"hello", // payload
	), &Publish{QoS: 1, Topic: "a/b", PacketID: 5, Payload: []byte("hello"), Props: Properties{
		Present: bits(PropPayloadFormat, PropMessageExpiry, PropContentType, PropResponseTopic,
			PropCorrelationData, PropSubscriptionID, PropTopicAlias, PropUserProperty),
		MessageExpiry: 10, ContentType: "text/plain", ResponseTopic: "r/1",
		CorrelationData: []byte("xyz"), SubscriptionIDs: []uint32{5, 128}, TopicAlias: 2,
		User: []UserProperty{{"k", "v1"}, {"k", "v2"}},
	}}},
	{"publish/v5/alias-only", V5, bs(
		0x30, 7, // PUBLISH QoS 0
		0x00, 0, // empty topic name: the alias stands for it
		3,             // property length
		0x23, 0x00, 7, // topic alias 7
		"p", // payload
	), &Publish{Payload: []byte("p"), Props: Properties{Present: bits(PropTopicAlias), TopicAlias: 7}}},
	{"publish/v5/plain", V5, bs(
		0x31, 7, // PUBLISH QoS 0, RETAIN
		0x00, 3, "a/b", // topic name
		0,   // property length
		"z", // payload
	), &Publish{Retain: true, Topic: "a/b", Payload: []byte("z")}},
	{"puback/v5/compact", V5, bs(0x40, 2, 0x00, 1), &Ack{Type: PUBACK, PacketID: 1}}, // success, no properties
	{"puback/v5/code", V5, bs(
		0x40, 3, // PUBACK
		0x00, 1, // packet identifier 1
		0x10, // no matching subscribers; property length omitted
	), &Ack{Type: PUBACK, PacketID: 1, ReasonCode: NoMatchingSubscribers}},
	{"pubrec/v5/props", V5, bs(
		0x50, 18, // PUBREC
		0x00, 2, // packet identifier 2
		0x97,                  // quota exceeded
		14,                    // property length
		0x1F, 0x00, 4, "full", // reason string
		0x26, 0x00, 1, "k", 0x00, 1, "v", // user property
	), &Ack{Type: PUBREC, PacketID: 2, ReasonCode: QuotaExceeded, Props: Properties{
		Present: bits(PropReasonString, PropUserProperty), ReasonString: "full", User: []UserProperty{{"k", "v"}},
	}}},
	{"pubrel/v5/code", V5, bs(
		0x62, 3, // PUBREL (flags 0010)
		0x00, 3, // packet identifier 3
		0x92, // packet identifier not found
	), &Ack{Type: PUBREL, PacketID: 3, ReasonCode: PacketIdentifierNotFound}},
	{"pubcomp/v5/compact", V5, bs(0x70, 2, 0x00, 4), &Ack{Type: PUBCOMP, PacketID: 4}},
	{"subscribe/v5", V5, bs(
		0x82, 31, // SUBSCRIBE (flags 0010)
		0x00, 12, // packet identifier 12
		9,       // property length
		0x0B, 7, // subscription identifier 7
		0x26, 0x00, 1, "k", 0x00, 1, "v", // user property
		0x00, 3, "a/b", 0x2D, // filter; retain handling 2, retain as published, no local, QoS 1
		0x00, 10, "$share/g/c", 0x12, // shared filter; retain handling 1, QoS 2
	), &Subscribe{PacketID: 12,
		Props: Properties{Present: bits(PropSubscriptionID, PropUserProperty), SubscriptionIDs: []uint32{7},
			User: []UserProperty{{"k", "v"}}},
		Subscriptions: []Subscription{
			{Filter: "a/b", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
			{Filter: "$share/g/c", QoS: 2, RetainHandling: 1},
		}}},
	{"suback/v5", V5, bs(
		0x90, 10, // SUBACK
		0x00, 12, // packet identifier 12
		5,                   // property length
		0x1F, 0x00, 2, "ok", // reason string
		0x01, 0x8F, // granted QoS 1, topic filter invalid
	), &Suback{PacketID: 12, Props: Properties{Present: bits(PropReasonString), ReasonString: "ok"},
		ReasonCodes: []ReasonCode{GrantedQoS1, TopicFilterInvalid}}},
	{"unsubscribe/v5", V5, bs(
		0xA2, 15, // UNSUBSCRIBE (flags 0010)
		0x00, 13, // packet identifier 13
		7,                                // property length
		0x26, 0x00, 1, "k", 0x00, 1, "v", // user property
		0x00, 3, "a/b", // filter
	), &Unsubscribe{PacketID: 13, Props: Properties{Present: bits(PropUserProperty), User: []UserProperty{{"k", "v"}}},
		Filters: []string{"a/b"}}},
	{"unsuback/v5", V5, bs(
		0xB0, 10, // UNSUBACK
		0x00, 13, // packet identifier 13
		5,                   // property length
		0x1F, 0x00, 2, "no", // reason string
		0x00, 0x11, // success, no subscription existed
	), &Unsuback{PacketID: 13, Props: Properties{Present: bits(PropReasonString), ReasonString: "no"},
		ReasonCodes: []ReasonCode{Success, NoSubscriptionExisted}}},
	{"pingreq/v5", V5, bs(0xC0, 0), &Pingreq{}},
	{"pingresp/v5", V5, bs(0xD0, 0), &Pingresp{}},
	{"disconnect/v5/compact", V5, bs(0xE0, 0), &Disconnect{}}, // normal disconnection, no properties
	{"disconnect/v5/code", V5, bs(0xE0, 1, 0x8B), &Disconnect{ReasonCode: ServerShuttingDown}},
	{"disconnect/v5/props", V5, bs(
		0xE0, 26, // DISCONNECT
		0x04,                         // disconnect with will message
		24,                           // property length
		0x11, 0x00, 0x00, 0x00, 0x00, // session expiry interval 0
		0x1C, 0x00, 3, "srv", // server reference
		0x1F, 0x00, 3, "bye", // reason string
		0x26, 0x00, 1, "k", 0x00, 1, "v", // user property
	), &Disconnect{ReasonCode: DisconnectWithWill, Props: Properties{
		Present:       bits(PropSessionExpiry, PropServerReference, PropReasonString, PropUserProperty),
		SessionExpiry: 0, ServerReference: "srv", ReasonString: "bye", User: []UserProperty{{"k", "v"}},
	}}},
	{"auth/v5/props", V5, bs(
		0xF0, 30, // AUTH
		0x18,                   // continue authentication
		28,                     // property length
		0x15, 0x00, 5, "SCRAM", // authentication method
		0x16, 0x00, 3, 1, 2, 3, // authentication data
		0x1F, 0x00, 4, "more", // reason string
		0x26, 0x00, 1, "k", 0x00, 1, "v", // user property
	), &Auth{ReasonCode: ContinueAuthentication, Props: Properties{
		Present:    bits(PropAuthMethod, PropAuthData, PropReasonString, PropUserProperty),
		AuthMethod: "SCRAM", AuthData: []byte{1, 2, 3}, ReasonString: "more", User: []UserProperty{{"k", "v"}},
	}}},
	{"auth/v5/compact", V5, bs(0xF0, 0), &Auth{}}, // success, no properties
}

// encodeVersion is the level to encode p at after decoding it at version:
// a CONNECT carries its own.
func encodeVersion(p Packet, version byte) byte {
	if c, ok := p.(*Connect); ok {
		return c.Version
	}
	return version
}

// decodeRaw decodes one framed packet from raw.
func decodeRaw(raw []byte, version byte, cp bool) (Packet, error) {
	h, n, err := ParseFixedHeader(raw)
	if err != nil {
		return nil, err
	}
	if n+h.Remaining != len(raw) {
		return nil, fmt.Errorf("header %d + remaining %d != %d bytes", n, h.Remaining, len(raw))
	}
	return Decode(h, raw[n:], version, cp)
}

func TestGolden(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			for _, cp := range []bool{false, true} {
				got, err := decodeRaw(g.raw, g.version, cp)
				if err != nil {
					t.Fatalf("decode (cp=%v): %v", cp, err)
				}
				if !reflect.DeepEqual(got, g.want) {
					t.Fatalf("decode (cp=%v):\n got %+v\nwant %+v", cp, got, g.want)
				}
			}
			if enc := g.want.AppendTo(nil, g.version); !bytes.Equal(enc, g.raw) {
				t.Fatalf("AppendTo:\n got % x\nwant % x", enc, g.raw)
			}
			got, err := ReadPacket(bytes.NewReader(g.raw), g.version, len(g.raw))
			if err != nil || !reflect.DeepEqual(got, g.want) {
				t.Fatalf("ReadPacket = %+v, %v; want %+v", got, err, g.want)
			}
		})
	}
}

// TestGoldenCoversEveryProperty checks that the golden table decodes every
// property identifier somewhere.
func TestGoldenCoversEveryProperty(t *testing.T) {
	var seen uint64
	for _, g := range goldens {
		switch p := g.want.(type) {
		case *Connect:
			seen |= p.Props.Present | p.WillProps.Present
		case *Connack:
			seen |= p.Props.Present
		case *Publish:
			seen |= p.Props.Present
		case *Ack:
			seen |= p.Props.Present
		case *Subscribe:
			seen |= p.Props.Present
		case *Suback:
			seen |= p.Props.Present
		case *Unsubscribe:
			seen |= p.Props.Present
		case *Unsuback:
			seen |= p.Props.Present
		case *Disconnect:
			seen |= p.Props.Present
		case *Auth:
			seen |= p.Props.Present
		}
	}
	for id, name := range propNames {
		if name != "" && seen&(1<<id) == 0 {
			t.Errorf("property %#02x (%s) is in no golden packet", id, name)
		}
	}
}

// TestGoldenCoversEveryType checks that every packet type has a golden
// encoding at levels 4 and 5 (AUTH at 5 only).
func TestGoldenCoversEveryType(t *testing.T) {
	seen := map[byte]map[Type]bool{V311: {}, V5: {}}
	for _, g := range goldens {
		if seen[g.version] != nil {
			seen[g.version][g.want.PacketType()] = true
		}
	}
	for v, types := range seen {
		for ty := CONNECT; ty <= AUTH; ty++ {
			if !types[ty] && (ty != AUTH || v == V5) {
				t.Errorf("level %d: no golden packet of type %d", v, ty)
			}
		}
	}
}

// TestDecodeReuse decodes every golden packet into a struct that held
// another packet of the same type, and expects the same result as a fresh
// decode: Decode must reset everything.
func TestDecodeReuse(t *testing.T) {
	last := map[Type]Packet{}
	for _, g := range goldens {
		h, n, err := ParseFixedHeader(g.raw)
		if err != nil {
			t.Fatal(err)
		}
		body := g.raw[n:]
		p, ok := last[h.Type]
		if !ok {
			last[h.Type], _ = Decode(h, body, g.version, true)
			continue
		}
		switch p := p.(type) {
		case *Connect:
			err = p.Decode(h.Flags, body, true)
		case *Connack:
			err = p.Decode(h.Flags, body, g.version, true)
		case *Publish:
			err = p.Decode(h.Flags, body, g.version, true)
		case *Ack:
			err = p.Decode(h.Type, h.Flags, body, g.version, true)
		case *Subscribe:
			err = p.Decode(h.Flags, body, g.version, true)
		case *Suback:
			err = p.Decode(h.Flags, body, g.version, true)
		case *Unsubscribe:
			err = p.Decode(h.Flags, body, g.version, true)
		case *Unsuback:
			err = p.Decode(h.Flags, body, g.version, true)
		case *Pingreq:
			err = p.Decode(h.Flags, body)
		case *Pingresp:
			err = p.Decode(h.Flags, body)
		case *Disconnect:
			err = p.Decode(h.Flags, body, g.version, true)
		case *Auth:
			err = p.Decode(h.Flags, body, g.version, true)
		}
		if err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		if enc := p.AppendTo(nil, g.version); !bytes.Equal(enc, g.raw) {
			t.Errorf("%s: reused decode re-encodes as % x, want % x", g.name, enc, g.raw)
		}
	}
}
