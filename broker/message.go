package broker

import (
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/jmqx/jmqx/internal/packet"
)

// Message is an application message as hooks and in-process subscribers see
// it. Hooks get it valid for the call only; in-process subscribers own it.
// The MQTT 5 properties that travel with a message are plain fields: the
// zero value of each means the property is absent.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// ClientID is the publisher's client id: "" for Broker.Publish, unless
	// it publishes on behalf of a client (PublishOptions.As).
	ClientID string

	// PayloadUTF8 is the Payload Format Indicator: the payload is UTF-8
	// text.
	PayloadUTF8 bool
	// MessageExpiry is the Message Expiry Interval, in whole seconds: as
	// the publisher set it for hooks, what is left of it on delivery to an
	// in-process subscriber; 0: the message does not expire.
	MessageExpiry time.Duration
	// ContentType describes the payload, for example "application/json".
	ContentType string
	// ResponseTopic and CorrelationData are the request/response pattern's
	// reply address and the request's token.
	ResponseTopic   string
	CorrelationData []byte
	// UserProperties are the User Properties, in order; names may repeat.
	UserProperties []UserProperty
}

// UserProperty is one MQTT 5 User Property, a name/value pair: fields Key
// and Value, both UTF-8 strings.
type UserProperty = packet.UserProperty

// setProps fills v's property fields from the forwarded properties of p,
// aliasing its data.
func (v *Message) setProps(p *packet.Properties) {
	v.PayloadUTF8 = p.Has(packet.PropPayloadFormat) && p.PayloadFormat == 1
	v.MessageExpiry = 0
	if p.Has(packet.PropMessageExpiry) {
		v.MessageExpiry = time.Duration(p.MessageExpiry) * time.Second
	}
	v.ContentType, v.ResponseTopic, v.CorrelationData, v.UserProperties = "", "", nil, nil
	if p.Has(packet.PropContentType) {
		v.ContentType = p.ContentType
	}
	if p.Has(packet.PropResponseTopic) {
		v.ResponseTopic = p.ResponseTopic
	}
	if p.Has(packet.PropCorrelationData) {
		v.CorrelationData = p.CorrelationData
	}
	if len(p.User) > 0 {
		v.UserProperties = p.User
	}
}

// message is an immutable application message shared by every delivery of
// one PUBLISH that needs to outlive the read buffer (QoS 1/2 inflight and
// queued messages, retained messages, in-process deliveries).
type message struct {
	topic    string
	payload  []byte
	qos      byte
	retain   bool
	props    packet.Properties // forwarded properties only
	expireAt int64             // unix nanoseconds; 0: never
	// fromSession is the publishing session's uid (for No Local; 0 for
	// in-process messages) and fromClient its client id. They identify
	// the publisher without pointing at it, so that a stored message never
	// keeps an ended session or connection alive.
	fromSession uint64
	fromClient  string
	// bytes is what m is charged for (hold.go); set with the content.
	bytes int64
	// holders counts the sessions and stores holding m (queued, inflight
	// or retained); the first charges m's size to the broker's memory
	// budget and the last gives it back (hold.go).
	holders atomic.Int32
}

// forwardedProps is the set of PUBLISH properties passed on to subscribers
// [MQTT-3.3.2-16..20]; Topic Alias and Subscription Identifiers are not.
const forwardedProps = 1<<packet.PropPayloadFormat | 1<<packet.PropMessageExpiry |
	1<<packet.PropContentType | 1<<packet.PropResponseTopic |
	1<<packet.PropCorrelationData | 1<<packet.PropUserProperty

// newMessage copies pub into a message that owns its data; from is the
// publishing session (nil for in-process messages and wills).
func newMessage(pub *packet.Publish, from *session, now time.Time) *message {
	// One allocation holds topic and payload; the topic string views it.
	buf := make([]byte, len(pub.Topic)+len(pub.Payload))
	n := copy(buf, pub.Topic)
	copy(buf[n:], pub.Payload)
	m := &message{
		payload: buf[n:len(buf):len(buf)],
		qos:     pub.QoS,
		retain:  pub.Retain,
	}
	if from != nil {
		m.fromSession, m.fromClient = from.uid, from.id
	}
	if n > 0 {
		m.topic = unsafe.String(&buf[0], n)
	}
	copyProps(&m.props, &pub.Props)
	if m.props.Has(packet.PropMessageExpiry) {
		m.expireAt = now.Add(time.Duration(m.props.MessageExpiry) * time.Second).UnixNano()
	}
	m.bytes = m.chargedSize()
	return m
}

// newRetainedValue returns a retained QoS 0 message from the broker
// itself ($SYS), with no properties.
func newRetainedValue(topic, value string) *message {
	m := &message{topic: topic, payload: []byte(value), retain: true}
	m.bytes = m.chargedSize()
	return m
}

// copyProps deep-copies the forwarded properties of src into dst.
func copyProps(dst, src *packet.Properties) {
	dst.Present = src.Present & forwardedProps
	dst.PayloadFormat = src.PayloadFormat
	dst.MessageExpiry = src.MessageExpiry
	if src.Has(packet.PropContentType) {
		dst.ContentType = string([]byte(src.ContentType))
	}
	if src.Has(packet.PropResponseTopic) {
		dst.ResponseTopic = string([]byte(src.ResponseTopic))
	}
	if src.Has(packet.PropCorrelationData) {
		dst.CorrelationData = append([]byte{}, src.CorrelationData...)
	}
	if len(src.User) > 0 {
		dst.User = make([]packet.UserProperty, len(src.User))
		for i, u := range src.User {
			dst.User[i] = packet.UserProperty{Key: string([]byte(u.Key)), Value: string([]byte(u.Value))}
		}
		dst.Set(packet.PropUserProperty)
	}
}

// expired reports whether m's Message Expiry Interval has passed at now.
func (m *message) expired(now int64) bool { return m.expireAt != 0 && now >= m.expireAt }

// remainingExpiry returns the Message Expiry Interval to send at now, in
// whole seconds rounded up [MQTT-3.3.2-6].
func (m *message) remainingExpiry(now int64) uint32 {
	left := m.expireAt - now
	if left <= 0 {
		return 0
	}
	return uint32((left + int64(time.Second) - 1) / int64(time.Second))
}

// view fills v with m's fields (aliasing m's data) for hooks.
func (m *message) view(v *Message) {
	v.Topic, v.Payload, v.QoS, v.Retain = m.topic, m.payload, m.qos, m.retain
	v.setProps(&m.props)
	v.ClientID = m.fromClient
}
