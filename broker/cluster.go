package broker

import (
	"errors"
	"sync"
	"time"

	"github.com/jmqx/jmqx/internal/packet"
)

// Peers connects a broker to the other nodes of a cluster; package cluster
// implements it, one per tenant. A broker without Peers (the default, and
// every embedded single broker) pays nothing for it on the publish path.
//
// The broker calls RouteChanged for every change of its set of filters,
// whatever causes it (SUBSCRIBE, UNSUBSCRIBE, session expiry, a clean start
// discarding a session, in-process Subscribe), in the order of the
// changes, and Forward for every message published on this node by a
// client, by Publish or as a will. A message that arrived from a peer is
// handed to DeliverRemote and is never given to Forward again.
type Peers interface {
	// RouteChanged reports that filter (a "$share/{group}/{filter}" for a
	// shared subscription) got its first subscription on this broker
	// (added) or lost its last (!added). It is called with the broker's
	// route lock held and must not block. It returns a channel closed
	// once every live peer knows of the change (or a bounded wait has
	// passed), or nil when there is nothing to wait for. The broker
	// sends a SUBACK only after the channels of the filters it added are
	// closed.
	RouteChanged(filter string, added bool) <-chan struct{}
	// Forward hands a message published on this node to the peers with a
	// matching route, and reports whether there was one. m is valid for
	// the call only. With w != nil, wait is true when w.Forwarded will be
	// called, once, when every such peer has the message in its sessions
	// (or has left the cluster, or a bounded wait has passed), and false,
	// w never called, when there is nothing to wait for.
	Forward(m *WirePublish, w ForwardWaiter) (forwarded, wait bool)
}

// WirePublish is a message as it travels between the nodes of a cluster:
// the PUBLISH packet of jmqx's MQTT codec, which package cluster encodes.
// Only Peers and DeliverRemote use it; an application never needs it.
type WirePublish = packet.Publish

// ForwardWaiter waits for the peers that should have a forwarded message
// (a publisher's PUBACK or PUBREC).
type ForwardWaiter interface {
	// Forwarded is called once every peer has the message; it does not
	// block.
	Forwarded()
}

// SysReporter is implemented by Peers that report figures: the broker
// publishes each under $SYS/broker/cluster/{name} with the other $SYS
// topics. Names are topic levels joined by "/", without wildcards.
type SysReporter interface {
	SysValues() map[string]int64
}

// ErrPeersLate is returned by SetPeers on a broker that already has
// subscriptions: its routes would be missing from the cluster.
var ErrPeersLate = errors.New("broker: peers set after subscriptions were made")

// SetPeers connects the broker to a cluster. Call it once, before Serve,
// ServeConn and Subscribe.
func (b *Broker) SetPeers(p Peers) error {
	b.routesMu.Lock()
	defer b.routesMu.Unlock()
	if b.subs.Len() > 0 {
		return ErrPeersLate
	}
	b.peers.Store(&peersRef{p})
	if p != nil && b.routes == nil {
		b.routes = make(map[string]int)
	}
	return nil
}

// peersRef holds a broker's Peers (see Broker.peers).
type peersRef struct{ p Peers }

// peersOf returns the broker's Peers, nil if none.
func (b *Broker) peersOf() Peers {
	if r := b.peers.Load(); r != nil {
		return r.p
	}
	return nil
}

// Routes returns the filters this broker has subscriptions for (shared ones
// as "$share/{group}/{filter}"), when it has Peers; nil otherwise.
func (b *Broker) Routes() []string {
	b.routesMu.Lock()
	defer b.routesMu.Unlock()
	out := make([]string, 0, len(b.routes))
	for f := range b.routes {
		out = append(out, f)
	}
	return out
}

// DeliverRemote delivers a message forwarded by another node to this
// broker's local subscribers, as a publish on this node would be, except
// that it is not retained here, not seen by PublishObservers and never
// forwarded again. groups lists the shared subscriptions
// ("$share/{group}/{filter}") this node was picked to serve for the
// message; the other shared groups are served by the node that sent it.
// It returns once the message is in the subscribers' sessions (queued or
// in flight), with the number of sessions that got it.
func (b *Broker) DeliverRemote(m *WirePublish, groups []string) int {
	if b.closed() {
		return 0
	}
	b.stats.msgsReceived.Add(1)
	sc := b.getScratch() // the route's buffers are reused, as a client's are
	r := &sc.route
	r.reset(b, m, nil, nil, time.Now())
	r.groups, r.remote = groups, true
	n := r.run()
	r.groups = nil
	b.putScratch(sc)
	return n
}

// subscribeTrie adds s's subscription to filter to the trie and, when it is
// the filter's first, tells the peers; the channel (nil without peers or
// when not new) is closed once they know.
func (b *Broker) subscribeTrie(filter string, s *session, o subOpts) <-chan struct{} {
	peers := b.peersOf()
	if peers == nil {
		b.subs.Subscribe(filter, s, o)
		return nil
	}
	b.routesMu.Lock()
	defer b.routesMu.Unlock()
	if !b.subs.Subscribe(filter, s, o) {
		return nil
	}
	b.routes[filter]++
	if b.routes[filter] == 1 {
		return peers.RouteChanged(filter, true)
	}
	membersChanged(peers, filter, b.routes[filter])
	return nil
}

// unsubscribeTrie removes s's subscription to filter from the trie and,
// when it was the filter's last, tells the peers.
func (b *Broker) unsubscribeTrie(filter string, s *session) {
	peers := b.peersOf()
	if peers == nil {
		b.subs.Unsubscribe(filter, s)
		return
	}
	b.routesMu.Lock()
	defer b.routesMu.Unlock()
	if !b.subs.Unsubscribe(filter, s) {
		return
	}
	if n := b.routes[filter] - 1; n > 0 {
		b.routes[filter] = n
		membersChanged(peers, filter, n)
		return
	}
	delete(b.routes, filter)
	peers.RouteChanged(filter, false)
}

// forward hands the message r routes to the peers; w (may be nil) as in
// Peers.Forward.
func (r *route) forward(w ForwardWaiter) (forwarded, wait bool) {
	p := r.b.peersOf()
	if p == nil || r.remote {
		return false, false
	}
	sf, shared := p.(SharedForwarder)
	if r.pub != nil && r.pub.Props.Present&^forwardedProps == 0 {
		if shared {
			return sf.ForwardShared(r.pub, w, r.localServed)
		}
		return p.Forward(r.pub, w) // as received: nothing to take out
	}
	var pub packet.Publish
	topic, payload, props, retain := r.source()
	pub.Topic, pub.Payload, pub.QoS, pub.Retain = topic, payload, r.qos(), retain
	pub.Props = *props
	pub.Props.Present &= forwardedProps
	if r.msg != nil && r.pub == nil && r.msg.expireAt != 0 {
		left := (r.msg.expireAt - r.now + int64(time.Second) - 1) / int64(time.Second)
		pub.Props.MessageExpiry = uint32(max(left, 1))
		pub.Props.Set(packet.PropMessageExpiry)
	}
	if shared {
		return sf.ForwardShared(&pub, w, r.localServed)
	}
	return p.Forward(&pub, w)
}

// servesGroup reports whether this delivery serves the shared group g
// (every group for a local publish; the listed ones for a remote one).
func (r *route) servesGroup(name, filter string) bool {
	if !r.remote {
		return true
	}
	for _, k := range r.groups {
		if len(k) == len("$share/")+len(name)+1+len(filter) && k[7:7+len(name)] == name && k[8+len(name):] == filter {
			return true
		}
	}
	return false
}

// forward hands the PUBLISH c is handling to the peers. For QoS 1 and 2 it
// returns what its acknowledgement waits for, nil for nothing.
func (c *client) forward(qos byte) (*fwdWait, bool) {
	if qos == 0 {
		fwd, _ := c.sc.route.forward(nil)
		return nil, fwd
	}
	w := &fwdWait{c: c}
	fwd, wait := c.sc.route.forward(w)
	if !wait {
		return nil, fwd
	}
	return w, fwd
}

// fwdWait is a publisher's PUBACK or PUBREC waiting for the peers that
// should have its message (see Peers.Forward).
type fwdWait struct {
	c    *client
	once sync.Once
	done bool // guarded by c.ackMu
}

// isDone reports whether w is nil or done; c.ackMu held.
func (w *fwdWait) isDone() bool { return w == nil || w.done }

// Forwarded records that the peers have the message and sends the
// acknowledgements it held back, in order.
func (w *fwdWait) Forwarded() {
	w.once.Do(func() {
		c := w.c
		c.ackMu.Lock()
		w.done = true
		c.flushAcksLocked()
		c.ackMu.Unlock()
	})
}
