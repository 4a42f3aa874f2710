package broker

import (
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/internal/packet"
)

func protoErr(msg string, rc packet.ReasonCode) error {
	return fmt.Errorf("broker: %s: %w", msg, rc)
}

// handle processes one packet from a connected client. done reports a clean
// DISCONNECT; err a violation that ends the connection.
func (c *client) handle(h packet.FixedHeader, body []byte) (done bool, err error) {
	switch h.Type {
	case packet.PUBLISH:
		return false, c.handlePublish(h, body)
	case packet.PUBACK, packet.PUBREC, packet.PUBREL, packet.PUBCOMP:
		if err := c.sc.ack.Decode(h.Type, h.Flags, body, c.version, false); err != nil {
			return false, err
		}
		return false, c.handleAck(&c.sc.ack)
	case packet.SUBSCRIBE:
		if err := c.sc.sub.Decode(h.Flags, body, c.version, true); err != nil {
			return false, err
		}
		return false, c.handleSubscribe(&c.sc.sub)
	case packet.UNSUBSCRIBE:
		if err := c.sc.unsub.Decode(h.Flags, body, c.version, true); err != nil {
			return false, err
		}
		return false, c.handleUnsubscribe(&c.sc.unsub)
	case packet.PINGREQ:
		var p packet.Pingreq
		if err := p.Decode(h.Flags, body); err != nil {
			return false, err
		}
		c.writeControl(&packet.Pingresp{})
		return false, nil
	case packet.DISCONNECT:
		var d packet.Disconnect
		if err := d.Decode(h.Flags, body, c.version, false); err != nil {
			return false, err
		}
		return c.handleDisconnect(&d)
	case packet.AUTH:
		if c.version != packet.V5 {
			return false, protoErr("AUTH before MQTT 5", packet.ProtocolError)
		}
		var a packet.Auth
		if err := a.Decode(h.Flags, body, c.version, false); err != nil {
			return false, err
		}
		return false, c.reauth(&a)
	case packet.CONNECT:
		return false, protoErr("second CONNECT", packet.ProtocolError) // [MQTT-3.1.0-2]
	default:
		return false, protoErr(fmt.Sprintf("packet type %d not sent by clients", h.Type), packet.ProtocolError)
	}
}

// handleDisconnect applies a client DISCONNECT: an updated Session Expiry
// Interval, and whether the will is to be kept (0x04).
func (c *client) handleDisconnect(d *packet.Disconnect) (bool, error) {
	s := c.sess
	s.mu.Lock()
	owner := s.client == c // false once taken over: the session is not ours to change
	if owner && c.version == packet.V5 && d.Props.Has(packet.PropSessionExpiry) {
		if s.expiry == 0 && d.Props.SessionExpiry != 0 {
			s.mu.Unlock()
			return false, protoErr("session expiry set on DISCONNECT after 0 on CONNECT", packet.ProtocolError) // [MQTT-3.14.2-2]
		}
		s.expiry = min(d.Props.SessionExpiry, c.b.config().MaxSessionExpiry)
	}
	var discarded *will
	if owner && d.ReasonCode != packet.DisconnectWithWill {
		discarded, s.will = s.will, nil // a clean DISCONNECT discards the will at once [MQTT-3.1.2-10]
	}
	s.mu.Unlock()
	c.b.releaseWill(discarded)
	if d.ReasonCode == packet.DisconnectWithWill {
		// End as a lost connection so that the will is published.
		c.graceful = true
		return false, errDisconnectWithWill
	}
	return true, nil
}

// handlePublish validates and routes an inbound PUBLISH and acknowledges it.
func (c *client) handlePublish(h packet.FixedHeader, body []byte) error {
	p := &c.sc.pub
	if err := p.Decode(h.Flags, body, c.version, false); err != nil {
		return err
	}
	cfg := c.b.config()
	c.b.stats.msgsReceived.Add(1)
	if int(p.QoS) > cfg.MaxQoS {
		return protoErr("QoS above maximum", packet.QoSNotSupported) // [MQTT-3.2.2-11]
	}
	if p.Retain && cfg.DisableRetain {
		return protoErr("retain not supported", packet.RetainNotSupported) // [MQTT-3.2.2-14]
	}
	if c.version == packet.V5 && p.Props.Has(packet.PropTopicAlias) {
		if err := c.applyTopicAlias(p); err != nil {
			return err
		}
	}
	if len(p.Topic) >= cfg.MaxTopicLevels && levels(p.Topic) > cfg.MaxTopicLevels { // a topic has at most len+1 levels
		return protoErr(fmt.Sprintf("topic has more than %d levels", cfg.MaxTopicLevels), packet.TopicNameInvalid)
	}
	now := time.Now()
	if err := c.allowPublish(cfg, now, len(p.Payload)); err != nil {
		return err
	}
	s := c.sess
	stored := false // the Store keeps what this PUBLISH changed
	if p.QoS == 2 {
		s.mu.Lock()
		_, seen := s.inQoS2[p.PacketID]
		if !seen && len(s.inQoS2) >= c.inboundMax() {
			s.mu.Unlock()
			return protoErr("receive maximum exceeded", packet.ReceiveMaximumExceeded) // [MQTT-3.3.4-9]
		}
		if !seen {
			s.inQoS2[p.PacketID] = struct{}{}
			stored = s.changed()
		}
		s.mu.Unlock()
		if seen { // a duplicate before PUBREL: not delivered again [MQTT-4.3.3-10]
			return c.ackPublish(packet.PUBREC, p.PacketID, packet.Success, nil, nil)
		}
	}
	rc := packet.Success
	var fw *fwdWait
	hs := c.b.hooks.Load()
	if !c.canPublish(hs, p.Topic) {
		rc = packet.NotAuthorized
		if ce := c.b.log.Check(zap.InfoLevel, "publish not authorized"); ce != nil {
			ce.Write(zap.String("client", c.info.ClientID), zap.String("topic", p.Topic))
		}
	} else if rc = c.admitPublish(cfg, p); rc == packet.Success {
		c.sc.route.reset(c.b, p, nil, s, now)
		c.sc.route.publisher = c
		if len(hs.publish) > 0 {
			c.observePublish(hs, p)
		}
		if p.Retain && !c.b.retain(c.sc.route.message()) {
			rc = c.b.overQuota(c, "memory budget", p.Topic)
		} else {
			stored = stored || p.Retain && c.b.pst != nil
			n := c.sc.route.run()
			if c.b.peers.Load() != nil {
				var fwd bool
				fw, fwd = c.forward(p.QoS)
				n += btoi(fwd)
			}
			if n == 0 && c.version == packet.V5 {
				rc = packet.NoMatchingSubscribers
			}
		}
		stored = stored || c.sc.route.stored
		c.sc.route.pub, c.sc.route.msg, c.sc.route.publisher = nil, nil, nil
	}
	if rc.IsError() {
		c.b.stats.refuse(rc)
	}
	var dw *fwdWait
	if stored && p.QoS > 0 && cfg.StoreSync {
		dw = &fwdWait{c: c}
		c.b.pst.await(dw)
	}
	switch p.QoS {
	case 1:
		return c.ackPublish(packet.PUBACK, p.PacketID, v5Only(c, rc), fw, dw)
	case 2:
		if rc.IsError() {
			s.mu.Lock()
			delete(s.inQoS2, p.PacketID)
			s.mu.Unlock()
		}
		return c.ackPublish(packet.PUBREC, p.PacketID, v5Only(c, rc), fw, dw)
	}
	return nil
}

// isSysTopic reports whether topic is under $SYS, which only the broker
// publishes to: a client's PUBLISH there is refused as not authorized.
func isSysTopic(topic string) bool {
	return len(topic) >= 4 && topic[:4] == "$SYS" && (len(topic) == 4 || topic[4] == '/')
}

// inboundMax is how many QoS 2 messages the client may have unreleased:
// the advertised Receive Maximum for v5 clients, the packet identifier
// space for 3.x clients, which are told no limit.
func (c *client) inboundMax() int {
	if c.version == packet.V5 {
		return c.b.config().ReceiveMaximum
	}
	return 65535
}

// v5Only returns rc for v5 clients and Success for 3.x (which have no
// reason codes on acknowledgements).
func v5Only(c *client, rc packet.ReasonCode) packet.ReasonCode {
	if c.version != packet.V5 {
		return packet.Success
	}
	return rc
}

// applyTopicAlias resolves or records an inbound topic alias [MQTT-3.3.2-7..12].
func (c *client) applyTopicAlias(p *packet.Publish) error {
	a := p.Props.TopicAlias
	if a == 0 || int(a) > c.b.config().TopicAliasMaximum {
		return protoErr(fmt.Sprintf("topic alias %d outside 1..%d", a, c.b.config().TopicAliasMaximum), packet.TopicAliasInvalid)
	}
	if c.aliasesIn == nil {
		c.aliasesIn = make([]string, c.b.config().TopicAliasMaximum+1)
	}
	if p.Topic == "" {
		if c.aliasesIn[a] == "" {
			return protoErr(fmt.Sprintf("unknown topic alias %d", a), packet.ProtocolError)
		}
		p.Topic = c.aliasesIn[a]
		return nil
	}
	if old := c.aliasesIn[a]; old != p.Topic {
		if !c.b.mem.charge(int64(len(p.Topic))) {
			c.b.stats.memoryRefusals.Add(1)
			return protoErr("topic alias does not fit the memory budget", packet.QuotaExceeded)
		}
		c.b.mem.release(int64(len(old)))
		c.aliasInBytes += int64(len(p.Topic) - len(old))
		c.aliasesIn[a] = string([]byte(p.Topic))
	}
	return nil
}

// canPublish reports whether the client may publish to topic (a PUBLISH
// or its will).
func (c *client) canPublish(hs *hookSet, topic string) bool { return canPublish(hs, &c.info, topic) }

// canPublish reports whether info may publish to topic: never under $SYS,
// else as every Authorizer allows.
func canPublish(hs *hookSet, info *ClientInfo, topic string) bool {
	if isSysTopic(topic) {
		return false
	}
	for _, a := range hs.authz {
		if !a.CanPublish(info, topic) {
			return false
		}
	}
	return true
}

func (c *client) observePublish(hs *hookSet, p *packet.Publish) {
	v := &c.sc.view
	v.Topic, v.Payload, v.QoS, v.Retain = p.Topic, p.Payload, p.QoS, p.Retain
	v.setProps(&p.Props)
	v.ClientID = c.info.ClientID
	for _, o := range hs.publish {
		o.OnPublish(&c.info, v)
	}
	*v = Message{}
}

// handleAck processes PUBACK, PUBREC, PUBREL and PUBCOMP.
func (c *client) handleAck(a *packet.Ack) error {
	if a.Type != packet.PUBREL {
		c.handleOutboundAck(a)
		return nil
	}
	s := c.sess
	s.mu.Lock()
	_, ok := s.inQoS2[a.PacketID]
	delete(s.inQoS2, a.PacketID)
	if ok {
		s.changed()
	}
	s.mu.Unlock()
	rc := packet.Success
	if !ok {
		rc = v5Only(c, packet.PacketIdentifierNotFound)
	}
	c.writeAck(packet.PUBCOMP, a.PacketID, rc)
	return nil
}
