package broker

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jmqx/jmqx/internal/packet"
)

// PublishOptions are the options of Broker.Publish. Every field is
// optional, and a property is sent when its value is set: the zero value of
// each means "absent".
type PublishOptions struct {
	// QoS is 0, 1 or 2: subscribers receive the message at the lower of it
	// and the QoS they subscribed with.
	QoS byte
	// Retain stores the message as the topic's retained message (an empty
	// payload clears it).
	Retain bool

	// PayloadUTF8 sets the Payload Format Indicator: the payload is UTF-8
	// text.
	PayloadUTF8 bool
	// MessageExpiry sets the Message Expiry Interval: the message is
	// dropped for subscribers that have not received it in time. Rounded
	// up to whole seconds; at most about 136 years.
	MessageExpiry time.Duration
	// ContentType describes the payload, for example "application/json".
	ContentType string
	// ResponseTopic is where a responder should publish its reply (a topic
	// name, no wildcards); CorrelationData lets the requester match it.
	ResponseTopic   string
	CorrelationData []byte
	// UserProperties are sent in order.
	UserProperties []UserProperty

	// As, when set, publishes on behalf of a client, as if it had sent the
	// PUBLISH: the Authorizers' CanPublish is asked with As (a refusal
	// returns ErrNotAuthorized and publishes nothing), PublishObservers see
	// As, and subscribers with No Local set whose client id is As.ClientID
	// still receive it (the message comes from the application, not from
	// their connection). The broker does not keep As.
	As *ClientInfo
}

// ErrNotAuthorized is returned by Publish and SubscribeAs when an Authorizer
// refuses the client named in PublishOptions.As or SubscribeAs.
var ErrNotAuthorized = errors.New("broker: not authorized")

// maxExpiry is the largest Message Expiry Interval, in seconds.
const maxExpiry = 1<<32 - 1

// Publish publishes an application message from inside the process: retained
// messages are stored, subscribers with a matching filter receive it at
// min(opts.QoS, granted QoS), with the MQTT 5 properties set in opts. The
// broker copies topic, payload and what opts holds.
//
// What it passes through: PublishObservers see it (with ClientInfo.Internal
// set and an empty ClientID, or with opts.As), the cluster forwards it like
// a client's message, and the topic is checked as a client's would be
// (valid name, MaxTopicLevels). The Authorizers are not asked unless
// opts.As is set: the application is trusted (with As, $SYS is refused as
// for a client).
func (b *Broker) Publish(topic string, payload []byte, opts PublishOptions) error {
	if b.closed() {
		return ErrClosed
	}
	b.restoreFirst()
	if err := packet.ValidateTopicName(topic); err != nil {
		return fmt.Errorf("broker: publish %q: %w", topic, err)
	}
	if levels(topic) > b.config().MaxTopicLevels {
		return fmt.Errorf("broker: publish %q: more than %d levels: %w", topic, b.config().MaxTopicLevels, packet.TopicNameInvalid)
	}
	if opts.QoS > 2 {
		return fmt.Errorf("broker: publish %q: QoS %d: %w", topic, opts.QoS, packet.QoSNotSupported)
	}
	pub := packet.Publish{Topic: topic, Payload: payload, QoS: opts.QoS, Retain: opts.Retain}
	if err := opts.props(&pub.Props); err != nil {
		return fmt.Errorf("broker: publish %q: %w", topic, err)
	}
	hs := b.hooks.Load()
	info := &ClientInfo{Internal: true}
	if opts.As != nil {
		info = opts.As
		if !canPublish(hs, info, topic) {
			return fmt.Errorf("broker: publish %q as %q: %w", topic, info.ClientID, ErrNotAuthorized)
		}
	}
	now := time.Now()
	m := newMessage(&pub, nil, now)
	m.fromClient = info.ClientID
	if len(hs.publish) > 0 {
		var v Message
		m.view(&v)
		for _, o := range hs.publish {
			o.OnPublish(info, &v)
		}
	}
	b.stats.msgsReceived.Add(1)
	b.publishMessage(m, now)
	return nil
}

// props sets the properties of o in p, each present when its value is.
func (o *PublishOptions) props(p *packet.Properties) error {
	if o.PayloadUTF8 {
		p.PayloadFormat = 1
		p.Set(packet.PropPayloadFormat)
	}
	if o.MessageExpiry < 0 {
		return fmt.Errorf("message expiry %s: negative", o.MessageExpiry)
	}
	if o.MessageExpiry > 0 {
		secs := (o.MessageExpiry + time.Second - 1) / time.Second
		if secs > maxExpiry {
			return fmt.Errorf("message expiry %s: more than %d seconds", o.MessageExpiry, maxExpiry)
		}
		p.MessageExpiry = uint32(secs)
		p.Set(packet.PropMessageExpiry)
	}
	if o.ContentType != "" {
		if !utf8.ValidString(o.ContentType) {
			return errors.New("content type: not UTF-8")
		}
		p.ContentType = o.ContentType
		p.Set(packet.PropContentType)
	}
	if o.ResponseTopic != "" {
		if err := packet.ValidateTopicName(o.ResponseTopic); err != nil {
			return fmt.Errorf("response topic %q: %w", o.ResponseTopic, err) // [MQTT-3.3.2-14]
		}
		p.ResponseTopic = o.ResponseTopic
		p.Set(packet.PropResponseTopic)
	}
	if len(o.CorrelationData) > 0 {
		p.CorrelationData = o.CorrelationData
		p.Set(packet.PropCorrelationData)
	}
	for _, u := range o.UserProperties {
		if !utf8.ValidString(u.Key) || !utf8.ValidString(u.Value) {
			return fmt.Errorf("user property %q: not UTF-8", u.Key)
		}
	}
	if len(o.UserProperties) > 0 {
		p.User = o.UserProperties
		p.Set(packet.PropUserProperty)
	}
	return nil
}

// Handler receives messages of an in-process subscription. It is called from
// one goroutine per subscription, in order; it owns m.
type Handler func(m *Message)

// Subscriber is an in-process subscription made with Subscribe or
// SubscribeAs.
type Subscriber struct {
	b      *Broker
	s      *session
	filter string
	as     *ClientInfo // SubscribeAs's client; nil for Subscribe
	once   sync.Once
}

// Subscribe subscribes handler to filter (which may be a $share filter) at
// qos (0 or 1; 2 is treated as 1: delivery to a handler cannot be lost).
// Matching retained messages are delivered first. Messages wait in a queue
// bounded by MaxQueuedMessages while the handler runs; beyond it they are
// dropped and counted. Call Unsubscribe to stop.
//
// What it passes through: the filter is checked as a client's would be, the
// cluster learns the route, and messages arrive as they would to a client.
// Neither the Authorizers nor the SubscriptionObservers are involved: the
// application is trusted. Use SubscribeAs to subscribe on behalf of a
// client, with both.
func (b *Broker) Subscribe(filter string, qos byte, handler Handler) (*Subscriber, error) {
	return b.subscribe(nil, filter, qos, handler)
}

// SubscribeAs subscribes handler to filter as Subscribe does, but on behalf
// of the client as, as if it had sent the SUBSCRIBE: the Authorizers'
// CanSubscribe is asked with as (a refusal returns ErrNotAuthorized and
// subscribes nothing), a ReadAuthorizer's per-message checks apply to what
// the handler receives, and SubscriptionObservers see the subscription
// and, on Unsubscribe, its end. The check is made once: RecheckSubscriptions
// does not revisit in-process subscriptions. The broker keeps a copy of
// *as.
func (b *Broker) SubscribeAs(as *ClientInfo, filter string, qos byte, handler Handler) (*Subscriber, error) {
	if as == nil {
		return nil, errors.New("broker: subscribe as: nil client")
	}
	info := *as
	return b.subscribe(&info, filter, qos, handler)
}

// subscribe is Subscribe (as nil) and SubscribeAs.
func (b *Broker) subscribe(as *ClientInfo, filter string, qos byte, handler Handler) (*Subscriber, error) {
	if b.closed() {
		return nil, ErrClosed
	}
	b.restoreFirst()
	if handler == nil {
		return nil, errors.New("broker: subscribe: nil handler")
	}
	if err := packet.ValidateTopicFilter(filter); err != nil {
		return nil, fmt.Errorf("broker: subscribe %q: %w", filter, err)
	}
	if qos > 1 {
		qos = 1
	}
	hs := b.hooks.Load()
	opts := subOpts{qos: qos}
	if as != nil {
		if !canSubscribe(hs, as, filter) {
			b.observeSubscribe(hs, as, filter, qos, NotAuthorized)
			return nil, fmt.Errorf("broker: subscribe %q as %q: %w", filter, as.ClientID, ErrNotAuthorized)
		}
		opts.checkRead = checkReads(hs, as, filter)
	}
	s := newSession(b, "$internal-"+strconv.FormatUint(b.idSeq.Add(1), 10))
	s.sink = newSink(b, handler)
	s.info = as
	s.subs[filter] = opts
	b.subscribeTrie(filter, s, opts)
	if as != nil {
		b.observeSubscribe(hs, as, filter, qos, ReasonCode(qos))
	}
	if _, _, shared := packet.ParseShared(filter); !shared {
		now := time.Now()
		b.retained.Match(filter, func(topic string, m *message) bool {
			if !m.expired(now.UnixNano()) && (!opts.checkRead || b.canRead(as, topic)) {
				s.mu.Lock()
				s.sink.push(m, min(m.qos, qos), true)
				s.mu.Unlock()
			}
			return true
		})
	}
	return &Subscriber{b: b, s: s, filter: filter, as: as}, nil
}

// observeSubscribe tells the SubscriptionObservers about an in-process
// subscription made on behalf of as.
func (b *Broker) observeSubscribe(hs *hookSet, as *ClientInfo, filter string, qos byte, rc ReasonCode) {
	for _, o := range hs.subscribe {
		o.OnSubscribe(as, Subscription{Filter: filter, QoS: qos}, rc)
	}
}

// Unsubscribe ends the subscription; messages already queued are still
// handed to the handler. Safe to call more than once.
func (sub *Subscriber) Unsubscribe() {
	sub.once.Do(func() {
		sub.b.unsubscribeTrie(sub.filter, sub.s)
		if sub.as != nil {
			for _, o := range sub.b.hooks.Load().subscribe {
				o.OnUnsubscribe(sub.as, sub.filter)
			}
		}
	})
}

// inProcessClient names in-process subscribers in drop logs.
const inProcessClient = "$internal"

// sink queues deliveries for an in-process handler and runs it on one
// goroutine at a time, started on demand.
type sink struct {
	b       *Broker
	handler Handler
	mu      sync.Mutex
	queue   []*Message
	running bool
}

func newSink(b *Broker, h Handler) *sink { return &sink{b: b, handler: h} }

// push queues one delivery; the session's mu is held.
func (k *sink) push(m *message, qos byte, retain bool) {
	v := &Message{}
	m.view(v)
	v.QoS, v.Retain = qos, retain
	if m.expireAt != 0 {
		v.MessageExpiry = time.Duration(m.remainingExpiry(time.Now().UnixNano())) * time.Second
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.queue) >= k.b.config().MaxQueuedMessages {
		k.b.countDrop(inProcessClient, dropQueueFull)
		return
	}
	k.queue = append(k.queue, v)
	if !k.running {
		if !k.b.bgAdd() { // shutting down: the handler is not started again
			k.queue = nil
			k.b.stats.msgsDropped.Add(1)
			return
		}
		k.running = true
		go k.run()
	}
}

func (k *sink) run() {
	defer k.b.bgWG.Done()
	for {
		k.mu.Lock()
		if len(k.queue) == 0 {
			k.running = false
			k.queue = nil
			k.mu.Unlock()
			return
		}
		m := k.queue[0]
		k.queue[0] = nil
		k.queue = k.queue[1:]
		k.mu.Unlock()
		k.handler(m)
		k.b.stats.msgsSent.Add(1)
	}
}
