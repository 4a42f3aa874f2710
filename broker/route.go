package broker

import (
	"time"

	"github.com/jmqx/jmqx/internal/packet"
	"github.com/jmqx/jmqx/internal/topics"
)

// route decides who receives one application message: it matches the
// topic, folds overlapping subscriptions of one session into one delivery,
// picks shared-group members, and hands each target to deliver
// (delivery.go). It is reusable scratch owned by one publisher (a client's
// reader goroutine, or one in-process publish): the message is encoded at
// most once per distinct outgoing form and copied into each subscriber's
// buffer.
type route struct {
	b   *Broker
	pub *packet.Publish // as received; aliases the read buffer (nil if msg is the source)
	// publisher is the client whose PUBLISH this is, for flow control; nil
	// for in-process messages and wills.
	publisher *client
	msg       *message // owned copy, made on first need
	from      *session // the publishing session; nil for owned messages
	// fromSession is the publishing session's uid, for No Local; 0: none.
	fromSession uint64
	now         int64

	buf     []byte        // encoded forms
	forms   [2][3][2]form // [v5][qos][retain]
	targets []target
	ids     []uint32
	lastRes *topics.Result[*session, subOpts]
	lastDup bool
	// index maps a session to its target while overlapping subscriptions
	// are merged, so that merging stays linear in the matches.
	index map[*session]int32
	// remote marks a message forwarded by a peer (DeliverRemote): it is
	// not forwarded again, and of the shared groups it serves only those
	// in groups.
	remote bool
	groups []string
	// served marks the groups a member was found for, when track is set
	// (DeliverRemoteShared).
	served []bool
	track  bool
	// groupsOnly skips the subscriptions that are not shared
	// (DeliverRemoteShared).
	groupsOnly bool
	// localServed is the shared groups a local publish reached a member
	// of here, for the peers (SharedForwarder).
	localServed []SharedGroup
	// exclude is a session leaving a shared group, never picked as a
	// member (redeliverShared).
	exclude *session
	// stored: the message changed a session kept in the Store
	// (persist.go), so a StoreSync acknowledgement waits for its write.
	stored bool
}

type form struct{ off, n, pidOff int32 }

// target is one session's delivery of the message.
type target struct {
	s         *session
	qos       byte
	retain    bool
	checkRead bool        // some matching subscription asks for a per-message read check
	ids0, id  int         // subscription ids: r.ids[ids0:ids0+id]
	group     *shareGroup // the shared group it is delivered through; nil: none
}

// reset prepares r for a new message.
func (r *route) reset(b *Broker, pub *packet.Publish, msg *message, from *session, now time.Time) {
	r.b, r.pub, r.msg, r.from, r.now = b, pub, msg, from, now.UnixNano()
	r.fromSession = 0
	if from != nil {
		r.fromSession = from.uid
	} else if msg != nil {
		r.fromSession = msg.fromSession
	}
	r.publisher = nil
	r.stored = false
	r.remote, r.groups = false, nil
	r.localServed = r.localServed[:0]
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

// topic returns the message's topic.
func (r *route) topic() string {
	if r.pub != nil {
		return r.pub.Topic
	}
	return r.msg.topic
}

// source returns the topic, payload and forwarded properties to encode.
func (r *route) source() (string, []byte, *packet.Properties, bool) {
	if r.pub != nil {
		return r.pub.Topic, r.pub.Payload, &r.pub.Props, r.pub.Retain
	}
	return r.msg.topic, r.msg.payload, &r.msg.props, r.msg.retain
}

// run matches the topic and delivers to every matching subscription. It
// returns the number of sessions the message was handed to.
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
	if dup {
		if r.index == nil {
			r.index = make(map[*session]int32, len(res.Subs))
		}
		defer clear(r.index)
	}
	subs := res.Subs
	if r.groupsOnly {
		subs = nil
	}
	for i := range subs {
		e := &subs[i]
		if e.Value.noLocal && r.fromSession != 0 && e.Key.uid == r.fromSession {
			continue // [MQTT-3.8.3-3]
		}
		q := min(qos, e.Value.qos)
		ret := e.Value.rap && pubRetain
		if !dup {
			r.addTarget(e.Key, q, ret, &e.Value, nil)
			continue
		}
		r.mergeTarget(e.Key, q, ret, &e.Value)
	}
	for _, g := range res.Groups {
		if r.remote && !r.servesGroup(g.Name, g.Filter) {
			continue
		}
		if e, ok := pickMember(g, r.exclude); ok {
			r.addTarget(e.Key, min(qos, e.Value.qos), e.Value.rap && pubRetain, &e.Value, g)
			r.markServed(g.Name, g.Filter)
		}
	}
	for i := range r.targets {
		r.deliver(&r.targets[i])
	}
	return len(r.targets)
}

func (r *route) qos() byte {
	if r.pub != nil {
		return r.pub.QoS
	}
	return r.msg.qos
}

func (r *route) addTarget(s *session, qos byte, retain bool, o *subOpts, g *shareGroup) {
	t := target{s: s, qos: qos, retain: retain, checkRead: o.checkRead, ids0: len(r.ids), group: g}
	if o.id != 0 {
		r.ids = append(r.ids, o.id)
		t.id = 1
	}
	r.targets = append(r.targets, t)
}

// mergeTarget folds overlapping subscriptions of one session into one
// delivery at the highest QoS carrying every Subscription Identifier
// [MQTT-3.3.4-2, MQTT-3.3.4-3]. The index finds the session's target in
// constant time.
func (r *route) mergeTarget(s *session, qos byte, retain bool, o *subOpts) {
	i, ok := r.index[s]
	if !ok {
		r.index[s] = int32(len(r.targets))
		r.addTarget(s, qos, retain, o, nil)
		return
	}
	t := &r.targets[i]
	t.qos = max(t.qos, qos)
	t.retain = t.retain || retain
	t.checkRead = t.checkRead || o.checkRead
	if o.id != 0 {
		// ids of one target are contiguous only if appended last; move them.
		if t.ids0+t.id != len(r.ids) {
			start := len(r.ids)
			r.ids = append(r.ids, r.ids[t.ids0:t.ids0+t.id]...)
			t.ids0 = start
		}
		r.ids = append(r.ids, o.id)
		t.id++
	}
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

// shareGroup is a shared subscription group of the trie, or (for a
// session imported with messages of a group) one made with its Name and
// Filter only.
type shareGroup = topics.Group[*session, subOpts]

// pickMember chooses a member of a shared group round-robin, preferring
// connected sessions, never exclude (may be nil).
func pickMember(g *shareGroup, exclude *session) (topics.Entry[*session, subOpts], bool) {
	var first topics.Entry[*session, subOpts] // the first eligible member, offline
	found := false
	ms := g.Members()
	if len(ms) == 0 {
		return first, false
	}
	start := int(g.Next() % uint32(len(ms)))
	for i := range ms {
		e := ms[(start+i)%len(ms)]
		switch {
		case e.Key == exclude:
		case e.Key.online.Load():
			return e, true
		case !found:
			first, found = e, true
		}
	}
	return first, found
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
