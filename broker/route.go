package broker

import (
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/broker/packet"
	"github.com/jmqx/jmqx/broker/topics"
)

// route delivers one application message to its subscribers. It is
// reusable scratch owned by one publisher (a client's reader goroutine, or
// one in-process publish): the message is encoded at most once per distinct
// outgoing form and copied into each subscriber's buffer.
type route struct {
	b   *Broker
	pub *packet.Publish // as received; aliases the read buffer (nil if msg is the source)
	// publisher is the client whose PUBLISH this is, for flow control; nil
	// for in-process messages and wills.
	publisher *client
	msg       *message // owned copy, made on first need
	from      *session
	now       int64

	buf     []byte        // encoded forms
	forms   [2][3][2]form // [v5][qos][retain]
	targets []target
	ids     []uint32
	lastRes *topics.Result[*session, subOpts]
	lastDup bool
}

type form struct{ off, n, pidOff int32 }

type target struct {
	s        *session
	qos      byte
	retain   bool
	ids0, id int // subscription ids: r.ids[ids0:ids0+id]
}

// reset prepares r for a new message.
func (r *route) reset(b *Broker, pub *packet.Publish, msg *message, from *session, now time.Time) {
	r.b, r.pub, r.msg, r.from, r.now = b, pub, msg, from, now.UnixNano()
	r.publisher = nil
	r.buf = r.buf[:0]
	r.forms = [2][3][2]form{}
	r.targets = r.targets[:0]
	r.ids = r.ids[:0]
}

// message returns the owned copy of the message, making it on first use.
func (r *route) message() *message {
	if r.msg == nil {
		r.msg = newMessage(r.pub, r.from, time.Unix(0, r.now))
	}
	return r.msg
}

// source returns the topic, payload and forwarded properties to encode.
func (r *route) source() (string, []byte, *packet.Properties, bool) {
	if r.pub != nil {
		return r.pub.Topic, r.pub.Payload, &r.pub.Props, r.pub.Retain
	}
	return r.msg.topic, r.msg.payload, &r.msg.props, r.msg.retain
}

// run matches the topic and delivers to every matching subscription. It
// returns the number of subscriptions that received the message.
func (r *route) run() int {
	topic, _, _, pubRetain := r.source()
	qos := r.qos()
	res := r.b.subs.Match(topic)
	dup := false
	if res == r.lastRes {
		dup = r.lastDup
	} else {
		dup = hasDuplicates(res.Subs)
		r.lastRes, r.lastDup = res, dup
	}
	for i := range res.Subs {
		e := &res.Subs[i]
		if e.Value.noLocal && e.Key == r.from && r.from != nil {
			continue // [MQTT-3.8.3-3]
		}
		q := min(qos, e.Value.qos)
		ret := e.Value.rap && pubRetain
		if !dup {
			r.addTarget(e.Key, q, ret, e.Value.id)
			continue
		}
		r.mergeTarget(e.Key, q, ret, e.Value.id)
	}
	for _, g := range res.Groups {
		if e, ok := pickMember(g); ok {
			r.addTarget(e.Key, min(qos, e.Value.qos), e.Value.rap && pubRetain, e.Value.id)
		}
	}
	for i := range r.targets {
		t := &r.targets[i]
		r.deliver(t.s, t.qos, t.retain, r.ids[t.ids0:t.ids0+t.id])
	}
	return len(r.targets)
}

func (r *route) qos() byte {
	if r.pub != nil {
		return r.pub.QoS
	}
	return r.msg.qos
}

func (r *route) addTarget(s *session, qos byte, retain bool, id uint32) {
	t := target{s: s, qos: qos, retain: retain, ids0: len(r.ids)}
	if id != 0 {
		r.ids = append(r.ids, id)
		t.id = 1
	}
	r.targets = append(r.targets, t)
}

// mergeTarget folds overlapping subscriptions of one session into one
// delivery at the highest QoS carrying every Subscription Identifier
// [MQTT-3.3.4-2, MQTT-3.3.4-3].
func (r *route) mergeTarget(s *session, qos byte, retain bool, id uint32) {
	for i := range r.targets {
		t := &r.targets[i]
		if t.s != s {
			continue
		}
		t.qos = max(t.qos, qos)
		t.retain = t.retain || retain
		if id != 0 {
			// ids of one target are contiguous only if appended last; rebuild.
			if t.ids0+t.id != len(r.ids) {
				start := len(r.ids)
				r.ids = append(r.ids, r.ids[t.ids0:t.ids0+t.id]...)
				t.ids0 = start
			}
			r.ids = append(r.ids, id)
			t.id++
		}
		return
	}
	r.addTarget(s, qos, retain, id)
}

func hasDuplicates(subs []topics.Entry[*session, subOpts]) bool {
	if len(subs) < 2 {
		return false
	}
	if len(subs) <= 32 {
		for i := 1; i < len(subs); i++ {
			for j := 0; j < i; j++ {
				if subs[i].Key == subs[j].Key {
					return true
				}
			}
		}
		return false
	}
	seen := make(map[*session]struct{}, len(subs))
	for i := range subs {
		if _, ok := seen[subs[i].Key]; ok {
			return true
		}
		seen[subs[i].Key] = struct{}{}
	}
	return false
}

// pickMember chooses a member of a shared group round-robin, preferring
// connected sessions.
func pickMember(g *topics.Group[*session, subOpts]) (topics.Entry[*session, subOpts], bool) {
	ms := g.Members()
	if len(ms) == 0 {
		return topics.Entry[*session, subOpts]{}, false
	}
	start := int(g.Next() % uint32(len(ms)))
	for i := 0; i < len(ms); i++ {
		e := ms[(start+i)%len(ms)]
		if e.Key.online.Load() {
			return e, true
		}
	}
	return ms[start], true
}

// deliver hands the message to one session: straight into its client's
// buffer when possible, else into its queue (QoS 1/2).
func (r *route) deliver(s *session, qos byte, retain bool, ids []uint32) {
	s.mu.Lock()
	if s.ended { // a session being discarded; its subscriptions are going away
		s.mu.Unlock()
		r.b.stats.msgsDropped.Add(1)
		return
	}
	if s.sink != nil {
		s.sink.push(r.message(), qos, retain, ids)
		s.mu.Unlock()
		return
	}
	c := s.client
	if c == nil {
		if qos > 0 {
			r.queueFor(s, false, qos, retain, ids)
		}
		s.mu.Unlock()
		return
	}
	if qos > 0 && (s.resuming || s.active() >= c.sendWindow || s.queueLen() > 0) {
		r.queueFor(s, true, qos, retain, ids)
		s.mu.Unlock()
		return
	}
	r.sendTo(c, s, qos, retain, ids)
	s.mu.Unlock()
}

// sendTo queues the PUBLISH on c, copying the shared encoded form when the
// delivery has no per-client properties; s.mu held.
func (r *route) sendTo(c *client, s *session, qos byte, retain bool, ids []uint32) {
	var pid uint16
	if qos > 0 {
		pid = s.allocPID()
	}
	var st writeStatus
	if len(ids) == 0 && c.aliasOutMax == 0 {
		frame, pidOff := r.form(c.version, qos, retain)
		if len(frame) > c.maxOutPacket {
			c.dropTooLarge(len(frame))
			return
		}
		st = c.writeFrame(frame, pidOff, pid, qos)
	} else {
		topic, payload, props, _ := r.source()
		sp := pubSpec{topic: topic, payload: payload, props: props, qos: qos, retain: retain, subIDs: ids}
		if r.pub == nil && r.msg.expireAt != 0 {
			sp.expiry, sp.overrideExpiry = r.msg.remainingExpiry(r.now), true
		}
		st = c.writePublish(&sp, pid)
	}
	switch st {
	case tooLarge:
		return
	case backlog:
		r.b.stats.msgsDropped.Add(1)
		return
	case closing:
		if qos > 0 {
			r.queueFor(s, false, qos, retain, ids)
		}
		return
	}
	r.b.stats.msgsSent.Add(1)
	if qos > 0 {
		s.track(pid, r.message(), qos, retain, cloneIDs(ids))
	}
}

// form returns the shared encoding of the message for a protocol level,
// QoS and retain flag, encoding it on first use.
func (r *route) form(version byte, qos byte, retain bool) ([]byte, int) {
	v := 0
	if version == packet.V5 {
		v = 1
	}
	ri := 0
	if retain {
		ri = 1
	}
	f := &r.forms[v][qos][ri]
	if f.n == 0 {
		topic, payload, props, _ := r.source()
		sp := pubSpec{topic: topic, payload: payload, props: props, qos: qos, retain: retain}
		if r.pub == nil && r.msg.expireAt != 0 {
			sp.expiry, sp.overrideExpiry = r.msg.remainingExpiry(r.now), true
		}
		start := len(r.buf)
		var pidOff int
		r.buf, pidOff = appendPublish(r.buf, version, &sp)
		*f = form{off: int32(start), n: int32(len(r.buf) - start), pidOff: int32(pidOff - start)}
	}
	return r.buf[f.off : f.off+f.n], int(f.pidOff)
}

func cloneIDs(ids []uint32) []uint32 {
	if len(ids) == 0 {
		return nil
	}
	return append([]uint32(nil), ids...)
}

// routeMessage delivers an owned message (a will, an in-process publish, a
// $SYS update) from outside any client's reader.
func (b *Broker) routeMessage(m *message, now time.Time) int {
	var r route
	if m.retain {
		b.storeRetained(m)
	}
	r.reset(b, nil, m, m.from, now)
	n := r.run()
	if ce := b.log.Check(zap.DebugLevel, "routed message"); ce != nil {
		ce.Write(zap.String("topic", m.topic), zap.Int("subscribers", n))
	}
	return n
}
