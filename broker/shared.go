package broker

import "time"

// DeliverRemoteShared is DeliverRemote that also reports which of groups
// this broker had no member of, so that the message did not reach them
// here (the member left after the peer picked this node): it appends them
// to unserved and returns it, for the caller to send the message on to
// another member's node. With groupsOnly the message goes to the groups
// alone, not to the other subscribers (for a message sent on for a group,
// which they already had).
func (b *Broker) DeliverRemoteShared(m *WirePublish, groups []string, groupsOnly bool, unserved []string) (int, []string) {
	if b.closed() {
		return 0, append(unserved, groups...)
	}
	b.stats.msgsReceived.Add(1)
	sc := b.getScratch()
	r := &sc.route
	r.reset(b, m, nil, nil, time.Now())
	r.groups, r.remote = groups, true
	r.served = r.served[:0]
	for range groups {
		r.served = append(r.served, false)
	}
	r.track, r.groupsOnly = true, groupsOnly
	n := r.run()
	for i, g := range groups {
		if !r.served[i] {
			unserved = append(unserved, g)
		}
	}
	r.groups, r.track, r.groupsOnly = nil, false, false
	b.putScratch(sc)
	return n, unserved
}

// SharedGroup names a shared subscription group: "$share/{Name}/{Filter}".
type SharedGroup struct{ Name, Filter string }

// SharedForwarder is implemented by Peers that serve shared groups across
// nodes (package cluster does). The broker then calls ForwardShared
// instead of Forward, with the shared groups it delivered the message to a
// member of on this node (served, valid for the call only): the other
// groups matching the message are the peers' to serve. It decides from
// what the delivery did, not from the routes, so a member joining or
// leaving meanwhile makes the group get the message neither twice nor not
// at all.
type SharedForwarder interface {
	ForwardShared(m *WirePublish, w ForwardWaiter, served []SharedGroup) (forwarded, wait bool)
}

// SharedRedeliverer is implemented by Peers that can hand a message to a
// shared group's members on other nodes (package cluster does): the broker
// calls it for the unacknowledged messages of a member that left the group
// (leave.go) when no other member is on this node.
type SharedRedeliverer interface {
	// RedeliverShared sends m to one member of the shared group
	// ("$share/{group}/{filter}") on another node, for the group alone. It
	// reports false when no other node has a member of it. m is valid for
	// the call only.
	RedeliverShared(m *WirePublish, group string) bool
}

// MemberCounter is implemented by Peers that spread a shared group's
// messages over the nodes by their members (package cluster does).
type MemberCounter interface {
	// MembersChanged reports that the shared group filter
	// ("$share/{group}/{filter}") has n members on this broker, n >= 1,
	// after a change that RouteChanged does not report (a member other
	// than the first joining, or other than the last leaving). It is
	// called with the broker's route lock held and must not block.
	MembersChanged(filter string, n int)
}

// membersChanged tells the peers of a shared group's new member count.
func membersChanged(p Peers, filter string, n int) {
	if mc, ok := p.(MemberCounter); ok && len(filter) > len("$share/") && filter[:len("$share/")] == "$share/" {
		mc.MembersChanged(filter, n)
	}
}

// markServed records that this delivery reached a member of the shared
// group g: for a local publish with peers, in localServed
// (SharedForwarder); for DeliverRemoteShared, in served.
func (r *route) markServed(name, filter string) {
	if !r.remote {
		if r.b.peers.Load() != nil {
			r.localServed = append(r.localServed, SharedGroup{name, filter})
		}
		return
	}
	if !r.track {
		return
	}
	for i, k := range r.groups {
		if len(k) == len("$share/")+len(name)+1+len(filter) && k[7:7+len(name)] == name && k[8+len(name):] == filter {
			r.served[i] = true
		}
	}
}
