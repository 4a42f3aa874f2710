package broker

import (
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/internal/packet"
)

// handleSubscribe checks and installs each subscription, answers SUBACK and
// then sends the matching retained messages as Retain Handling asks.
func (c *client) handleSubscribe(p *packet.Subscribe) error {
	s := c.sess
	hs := c.b.hooks.Load()
	var id uint32
	if c.version == packet.V5 && len(p.Props.SubscriptionIDs) > 0 {
		if c.b.config().DisableSubscriptionIDs {
			return protoErr("subscription identifiers not supported", packet.SubscriptionIDsNotSupported)
		}
		id = p.Props.SubscriptionIDs[0]
	}
	ack := packet.Suback{PacketID: p.PacketID, ReasonCodes: make([]packet.ReasonCode, len(p.Subscriptions))}
	type retainedReq struct {
		filter string
		opts   subOpts
	}
	var sendRetained []retainedReq
	var routed []<-chan struct{} // filters new on this node, on their way to the peers
	stored := false              // the Store keeps the session: StoreSync waits for its write
	for i, sub := range p.Subscriptions {
		rc, err := c.checkSubscription(hs, &sub)
		if err != nil {
			return err
		}
		if rc.IsError() {
			c.b.stats.refuse(rc)
			ack.ReasonCodes[i] = c.subackFailure(rc)
			c.logger().Info("subscription refused", zap.String("client", c.info.ClientID), zap.String("filter", sub.Filter), zap.Stringer("reason", rc))
			c.observeSubscribe(hs, sub, rc)
			continue
		}
		qos := min(sub.QoS, byte(c.b.config().MaxQoS))
		opts := subOpts{qos: qos, noLocal: sub.NoLocal, rap: sub.RetainAsPublished, id: id,
			checkRead: checkReads(hs, &c.info, sub.Filter)}
		if c.version != packet.V5 {
			opts.noLocal, opts.rap = false, false // 3.x: retain flag 0 on normal delivery [MQTT-3.3.1-9]
		}
		s.mu.Lock()
		if s.ended { // taken over with Clean Start: this session is being discarded
			s.mu.Unlock()
			ack.ReasonCodes[i] = packet.UnspecifiedError
			continue
		}
		_, existed := s.subs[sub.Filter]
		if !existed {
			if quota := c.b.admitSubscription(s, sub.Filter); quota != "" {
				s.mu.Unlock()
				c.b.stats.refuse(packet.QuotaExceeded)
				ack.ReasonCodes[i] = c.subackFailure(packet.QuotaExceeded)
				c.logger().Info("subscription refused: quota exceeded", zap.String("client", c.info.ClientID),
					zap.Int("filter_bytes", len(sub.Filter)), zap.String("quota", quota))
				c.observeSubscribe(hs, sub, packet.QuotaExceeded)
				continue
			}
		}
		s.subs[sub.Filter] = opts
		stored = s.changed() || stored
		s.mu.Unlock()
		if wait := c.b.subscribeTrie(sub.Filter, s, opts); wait != nil {
			routed = append(routed, wait)
		}
		s.mu.Lock()
		ended := s.ended
		s.mu.Unlock()
		if ended { // discarded meanwhile: undo, removeSubscriptions may have missed it
			c.b.unsubscribeTrie(sub.Filter, s)
		}
		ack.ReasonCodes[i] = packet.ReasonCode(qos)
		c.observeSubscribe(hs, sub, ack.ReasonCodes[i])
		_, _, shared := packet.ParseShared(sub.Filter)
		if !shared && !c.b.config().DisableRetain && (sub.RetainHandling == 0 || (sub.RetainHandling == 1 && !existed)) {
			sendRetained = append(sendRetained, retainedReq{sub.Filter, opts}) // [MQTT-3.3.1-9..11]
		}
	}
	for _, wait := range routed { // a SUBACK means the route is known cluster-wide
		<-wait
	}
	if stored && c.b.config().StoreSync {
		c.b.pst.sync()
	}
	c.writeControl(&ack)
	for _, r := range sendRetained {
		c.sendRetained(r.filter, r.opts)
	}
	return nil
}

// checkSubscription returns Success or the reason the subscription is
// refused; err for violations that end the connection.
func (c *client) checkSubscription(hs *hookSet, sub *packet.Subscription) (packet.ReasonCode, error) {
	cfg := c.b.config()
	if err := packet.ValidateTopicFilter(sub.Filter); err != nil {
		return packet.TopicFilterInvalid, nil
	}
	if levels(sub.Filter) > cfg.MaxTopicLevels {
		return packet.TopicFilterInvalid, nil
	}
	_, inner, shared := packet.ParseShared(sub.Filter)
	if shared {
		if cfg.DisableSharedSubscriptions {
			return packet.SharedSubscriptionsNotSupported, nil
		}
		if sub.NoLocal {
			return 0, protoErr("No Local on a shared subscription", packet.ProtocolError) // [MQTT-3.8.3-4]
		}
	} else {
		inner = sub.Filter
	}
	if cfg.DisableWildcardSubscriptions && strings.ContainsAny(inner, "+#") {
		return packet.WildcardSubscriptionsNotSupported, nil
	}
	for _, a := range hs.authz {
		if !a.CanSubscribe(&c.info, sub.Filter) {
			return packet.NotAuthorized, nil
		}
	}
	return packet.Success, nil
}

// subackFailure maps a refusal to the SUBACK code of the client's version.
func (c *client) subackFailure(rc packet.ReasonCode) packet.ReasonCode {
	if c.version != packet.V5 {
		return packet.UnspecifiedError // 3.x has only 0x80 [MQTT-3.9.3-2]
	}
	return rc
}

func (c *client) observeSubscribe(hs *hookSet, sub packet.Subscription, rc packet.ReasonCode) {
	if len(hs.subscribe) == 0 {
		return
	}
	v := Subscription{Filter: sub.Filter, QoS: sub.QoS, NoLocal: sub.NoLocal,
		RetainAsPublished: sub.RetainAsPublished, RetainHandling: sub.RetainHandling}
	for _, o := range hs.subscribe {
		o.OnSubscribe(&c.info, v, rc)
	}
}

// handleUnsubscribe removes subscriptions and answers UNSUBACK.
func (c *client) handleUnsubscribe(p *packet.Unsubscribe) error {
	s := c.sess
	hs := c.b.hooks.Load()
	ack := packet.Unsuback{PacketID: p.PacketID, ReasonCodes: make([]packet.ReasonCode, len(p.Filters))}
	stored := false
	for i, f := range p.Filters {
		s.mu.Lock()
		_, ok := s.subs[f]
		if ok {
			delete(s.subs, f)
			c.b.releaseSubscription(s, f)
			stored = s.changed() || stored
		}
		s.mu.Unlock()
		if !ok {
			ack.ReasonCodes[i] = packet.NoSubscriptionExisted
			continue
		}
		c.b.unsubscribeTrie(f, s)
		if name, filter, shared := packet.ParseShared(f); shared { // [MQTT 5 §4.8.2] (leave.go)
			s.mu.Lock()
			left := s.leaveGroup(name, filter, time.Now().UnixNano())
			s.mu.Unlock()
			c.b.redeliverShared(s, left)
		}
		for _, o := range hs.subscribe {
			o.OnUnsubscribe(&c.info, f)
		}
	}
	if stored && c.b.config().StoreSync {
		c.b.pst.sync()
	}
	c.writeControl(&ack)
	return nil
}

// sendRetained delivers the retained messages matching filter with the
// retain flag set [MQTT-3.3.1-8].
func (c *client) sendRetained(filter string, opts subOpts) {
	now := time.Now()
	var msgs []*message
	var expired []string
	var expiredMsgs []*message
	c.b.retained.Match(filter, func(topic string, m *message) bool {
		if m.expired(now.UnixNano()) {
			expired = append(expired, topic)
			expiredMsgs = append(expiredMsgs, m)
			return true
		}
		msgs = append(msgs, m)
		return true
	})
	for i, t := range expired {
		if cur, ok := c.b.retained.Get(t); ok && cur == expiredMsgs[i] { // not replaced meanwhile
			c.b.dropRetained(t)
		}
	}
	var r route // one scratch for all of them
	for _, m := range msgs {
		r.reset(c.b, nil, m, nil, now)
		r.addTarget(c.sess, min(m.qos, opts.qos), true, &opts, nil)
		r.deliver(&r.targets[0])
	}
}

// checkReads reports whether messages delivered through a subscription
// to filter must be checked one by one by the ReadAuthorizers.
func checkReads(hs *hookSet, info *ClientInfo, filter string) bool {
	for _, a := range hs.readAuthz {
		if a.CheckReads(info, filter) {
			return true
		}
	}
	return false
}

// subscriptionCost is what a subscription to filter is charged: its bytes
// in the session and in the trie, plus their bookkeeping.
func subscriptionCost(filter string) int64 { return int64(2*len(filter) + 256) }

// admitSubscription accounts for a new subscription of s to filter, within
// MaxSubscriptionsPerClient, MaxSubscriptionBytes and the memory budget;
// it returns the quota that refuses it, or "". s.mu held.
func (b *Broker) admitSubscription(s *session, filter string) string {
	cfg := b.config()
	if cfg.MaxSubscriptionsPerClient > 0 && len(s.subs) >= cfg.MaxSubscriptionsPerClient {
		return "max_subscriptions_per_client"
	}
	if s.subBytes+len(filter) > cfg.MaxSubscriptionBytes {
		return "max_subscription_bytes"
	}
	if !b.mem.charge(subscriptionCost(filter)) {
		b.stats.memoryRefusals.Add(1)
		return "memory budget"
	}
	s.subBytes += len(filter)
	return ""
}

// releaseSubscription gives back what a removed subscription of s was
// charged; s.mu held.
func (b *Broker) releaseSubscription(s *session, filter string) {
	s.subBytes -= len(filter)
	b.mem.release(subscriptionCost(filter))
}

// storeRetained sets, replaces or (empty payload) clears the retained
// message of m's topic [MQTT-3.3.1-5..7]. It reports false, storing
// nothing, when the memory budget cannot hold m.
func (b *Broker) storeRetained(m *message) bool { return b.putRetained(m, true) }

// putRetained is storeRetained; mark says whether the Store is to write
// the change (Restore installs what it holds already).
func (b *Broker) putRetained(m *message, mark bool) bool {
	if len(m.payload) == 0 {
		b.dropRetained(m.topic)
		return true
	}
	if !m.acquire(b.mem) {
		b.stats.memoryRefusals.Add(1)
		return false
	}
	old, replaced := b.retained.Swap(m.topic, m)
	grow := int64(len(m.payload))
	if replaced {
		grow -= int64(len(old.payload))
		old.releaseHolder(b.mem)
	}
	b.retainedBytes.Add(grow)
	if mark {
		b.pst.retainedChanged(m.topic)
	}
	return true
}

// dropRetained clears the retained message of topic.
func (b *Broker) dropRetained(topic string) {
	if old, ok := b.retained.Take(topic); ok {
		b.retainedBytes.Add(-int64(len(old.payload)))
		old.releaseHolder(b.mem)
		b.pst.retainedChanged(topic)
	}
}
