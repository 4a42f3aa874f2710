package broker

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jmqx/jmqx/internal/packet"
)

// Publish publishes an application message from inside the process, as if
// a client had sent it: retained messages are stored, subscribers with a
// matching filter receive it at min(qos, granted QoS), and PublishObservers
// see it. The broker copies topic, payload and props. props may be nil.
func (b *Broker) Publish(topic string, payload []byte, qos byte, retain bool, props *packet.Properties) error {
	if b.closed() {
		return ErrClosed
	}
	if err := packet.ValidateTopicName(topic); err != nil {
		return fmt.Errorf("broker: publish %q: %w", topic, err)
	}
	if levels(topic) > b.config().MaxTopicLevels {
		return fmt.Errorf("broker: publish %q: more than %d levels: %w", topic, b.config().MaxTopicLevels, packet.TopicNameInvalid)
	}
	if qos > 2 {
		return fmt.Errorf("broker: publish %q: QoS %d: %w", topic, qos, packet.QoSNotSupported)
	}
	pub := packet.Publish{Topic: topic, Payload: payload, QoS: qos, Retain: retain}
	if props != nil {
		pub.Props = *props
	}
	now := time.Now()
	m := newMessage(&pub, nil, now)
	if hs := b.hooks.Load(); len(hs.publish) > 0 {
		info := ClientInfo{Internal: true}
		var v Message
		m.view(&v)
		for _, o := range hs.publish {
			o.OnPublish(&info, &v)
		}
	}
	b.stats.msgsReceived.Add(1)
	b.publishMessage(m, now)
	return nil
}

// Handler receives messages of an in-process subscription. It is called from
// one goroutine per subscription, in order; it owns m.
type Handler func(m *Message)

// Subscription is an in-process subscription made with Subscribe.
type Subscription struct {
	b      *Broker
	s      *session
	filter string
	once   sync.Once
}

// Subscribe subscribes handler to filter (which may be a $share filter) at
// qos (0 or 1; 2 is treated as 1: delivery to a handler cannot be lost).
// Matching retained messages are delivered first. Messages wait in a queue
// bounded by MaxQueuedMessages while the handler runs; beyond it they are
// dropped and counted. Call Unsubscribe to stop.
func (b *Broker) Subscribe(filter string, qos byte, handler Handler) (*Subscription, error) {
	if b.closed() {
		return nil, ErrClosed
	}
	if handler == nil {
		return nil, errors.New("broker: subscribe: nil handler")
	}
	if err := packet.ValidateTopicFilter(filter); err != nil {
		return nil, fmt.Errorf("broker: subscribe %q: %w", filter, err)
	}
	if qos > 1 {
		qos = 1
	}
	s := newSession(b, "$internal-"+strconv.FormatUint(b.idSeq.Add(1), 10))
	s.sink = newSink(b, handler)
	opts := subOpts{qos: qos}
	s.subs[filter] = opts
	b.subscribeTrie(filter, s, opts)
	if _, _, shared := packet.ParseShared(filter); !shared {
		now := time.Now()
		b.retained.Match(filter, func(topic string, m *message) bool {
			if !m.expired(now.UnixNano()) {
				s.mu.Lock()
				s.sink.push(m, min(m.qos, qos), true, nil)
				s.mu.Unlock()
			}
			return true
		})
	}
	return &Subscription{b: b, s: s, filter: filter}, nil
}

// Unsubscribe ends the subscription; messages already queued are still
// handed to the handler. Safe to call more than once.
func (sub *Subscription) Unsubscribe() {
	sub.once.Do(func() {
		sub.b.unsubscribeTrie(sub.filter, sub.s)
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
func (k *sink) push(m *message, qos byte, retain bool, ids []uint32) {
	v := &Message{}
	m.view(v)
	v.QoS, v.Retain = qos, retain
	if len(ids) > 0 {
		v.Props.SubscriptionIDs = append([]uint32(nil), ids...)
		v.Props.Set(packet.PropSubscriptionID)
	}
	if m.expireAt != 0 {
		v.Props.MessageExpiry = m.remainingExpiry(time.Now().UnixNano())
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
