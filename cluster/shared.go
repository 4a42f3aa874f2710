package cluster

import (
	"go.uber.org/zap"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
	"github.com/jmqx/jmqx/internal/topics"
)

// A shared group "$share/{group}/{filter}" gets each message once across
// the cluster: the node where it is published serves the group when it has
// a member, and otherwise forwards it, naming the group, to one of the
// peers that have members (round-robin over them). A node that gets a
// forward for a group it no longer has a member of (the member left after
// the sender picked it) sends it on to another member's node, and a node
// whose link to a peer ends because the peer died or left sends the
// forwards the peer had not acknowledged to other members (here first):
// the message still reaches one member, at most maxHops nodes away.

// deliverShared delivers a forward naming shared groups (to them alone
// when it was sent on for them: hops > 0) and sends it on for the groups
// this node has no member of any more.
func (in *inbound) deliverShared(t *tenantPeers, f *forward, hops uint64, pub *packet.Publish) {
	var buf [4]string
	_, unserved := t.b.DeliverRemoteShared(pub, f.groups, hops > 0, buf[:0])
	if len(unserved) == 0 {
		return
	}
	body := appendString(make([]byte, 0, len(f.tenant)+len(f.publish)+8), f.tenant) // f aliases the frame
	body = append(body, f.publish...)
	t.sendOn(pub.Topic, body, unserved, hops+1, in.peer, "", nil)
}

// rehome sends the forwards for shared groups that a peer which died or
// left had not acknowledged to other members: this node's, or another
// peer's. The publishers waiting for them wait for the new forwards.
func (c *Cluster) rehome(peer string, orphans []*pendingFwd) {
	if len(orphans) == 0 {
		return
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	var pub packet.Publish
	for _, p := range orphans {
		if closed || !decodeBody(p.body, &pub) {
			if p.w != nil {
				p.w.Forwarded()
			}
			continue
		}
		t := p.t
		// This node's subscribers had it when it was published here, or
		// it was sent on here for the groups only.
		_, unserved := t.b.DeliverRemoteShared(&pub, p.groups, true, nil)
		if len(unserved) == 0 {
			t.sharedSentOn.Add(1)
			if p.w != nil {
				p.w.Forwarded()
			}
			continue
		}
		t.sendOn(pub.Topic, p.body, unserved, p.hops+1, "", peer, p.w)
	}
}

// decodeBody decodes the PUBLISH of a forward's body (tenant, PUBLISH).
func decodeBody(body []byte, pub *packet.Publish) bool {
	r := reader{b: body}
	r.string()
	if r.err != nil {
		return false
	}
	pkt := r.rest()
	h, hl, err := packet.ParseFixedHeader(pkt)
	if err != nil || h.Type != packet.PUBLISH || hl+h.Remaining != len(pkt) {
		return false
	}
	return pub.Decode(h.Flags, pkt[hl:], packet.V5, false) == nil
}

// sendOn forwards a message (body: tenant and PUBLISH) for groups to
// peers that have members, one per group, avoiding the peer avoid when
// another has members and never the peer gone; w (may be nil) is told once
// they all have it. A group with no member anywhere, or a message past
// maxHops, is dropped, counted and logged.
func (t *tenantPeers) sendOn(topic string, body []byte, groups []string, hops uint64, avoid, gone string, w broker.ForwardWaiter) {
	var targets []target
	var lost []string
	if hops > maxHops {
		lost = groups
	} else {
		res := t.remote.trie.Match(topic)
		for _, key := range groups {
			peer := ""
			for _, g := range res.Groups {
				if len(key) == len("$share/")+len(g.Name)+1+len(g.Filter) && key[7:7+len(g.Name)] == g.Name && key[8+len(g.Name):] == g.Filter {
					peer = pickMember(g.Members(), g.Next(), avoid, gone)
					break
				}
			}
			if peer == "" || t.c.link(peer) == nil {
				lost = append(lost, key)
				continue
			}
			targets = addTarget(targets, peer, key)
		}
	}
	if len(lost) > 0 {
		t.sharedLost.Add(int64(len(lost)))
		t.c.log.Warn("shared subscription message lost: no member of its group on a live node",
			zap.String("tenant", t.name), zap.String("topic", topic), zap.Strings("groups", lost), zap.Uint64("hops", hops))
	}
	if len(targets) == 0 {
		if w != nil {
			w.Forwarded()
		}
		return
	}
	t.sharedSentOn.Add(1)
	var g *fwdGroup
	if w != nil {
		g = &fwdGroup{w: w}
		g.n.Store(int32(len(targets)) + 1)
	}
	for _, tg := range targets {
		var fw broker.ForwardWaiter
		if g != nil {
			fw = g
		}
		l := t.c.link(tg.peer)
		if (l == nil || !l.forwardHops(t, tg.peer, body, tg.groups, fw, hops)) && g != nil {
			g.Forwarded()
		}
	}
	if g != nil {
		g.Forwarded()
	}
}

// pickMember picks one of a group's member nodes round-robin from next,
// never gone and avoid only when it is the only one; "" when none.
func pickMember(ms []topics.Entry[string, uint64], next uint32, avoid, gone string) string {
	fallback := ""
	for i := range ms {
		p := ms[(int(next)+i)%len(ms)].Key
		switch p {
		case gone:
		case avoid:
			fallback = p
		default:
			return p
		}
	}
	return fallback
}

// servedHere reports whether served names the group.
func servedHere(served []broker.SharedGroup, name, filter string) bool {
	for _, g := range served {
		if g.Name == name && g.Filter == filter {
			return true
		}
	}
	return false
}

// MembersChanged implements broker.MemberCounter: the peers learn how many
// members the shared group filter has here, and spread its messages over
// the nodes in proportion.
func (t *tenantPeers) MembersChanged(filter string, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.detached || n <= 0 || !t.local.setMembers(filter, uint64(n), t.c.nextVersion) {
		return
	}
	fr := routeFrame(t.name, t.local.version, true, filter, uint64(n))
	for _, l := range *t.c.linkList.Load() {
		l.queueRoute(t.name, t.local.version, fr)
	}
}

// pickWeighted picks one of a group's member nodes, each in proportion to
// its members (at least one), from the group's counter next.
func pickWeighted(ms []topics.Entry[string, uint64], next uint32) string {
	var total uint64
	for _, e := range ms {
		total += max(e.Value, 1)
	}
	at := uint64(next) % total
	for _, e := range ms {
		w := max(e.Value, 1)
		if at < w {
			return e.Key
		}
		at -= w
	}
	return ms[len(ms)-1].Key
}

// RedeliverShared implements broker.SharedRedeliverer: a message a member
// here left unacknowledged when it left its group goes, for the group
// alone (a frameReforward), to a peer with members, which sends it on if
// its members are gone meanwhile. False when no peer has a member.
func (t *tenantPeers) RedeliverShared(m *packet.Publish, group string) bool {
	name, filter, ok := packet.ParseShared(group)
	if !ok || t.remote.trie.Len() == 0 {
		return false
	}
	found := false
	for _, g := range t.remote.trie.Match(m.Topic).Groups {
		if g.Name == name && g.Filter == filter && len(g.Members()) > 0 {
			found = true
			break
		}
	}
	if !found {
		return false
	}
	pid := m.PacketID
	if m.QoS > 0 {
		m.PacketID = 1 // any: the receiver ignores it, but QoS > 0 needs one
	}
	body := appendString(make([]byte, 0, len(t.name)+len(m.Topic)+len(m.Payload)+32), t.name)
	body = m.AppendTo(body, packet.V5)
	m.PacketID = pid
	t.sendOn(m.Topic, body, []string{group}, 1, "", "", nil)
	return true
}
