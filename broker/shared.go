package broker

import "time"

// DeliverRemoteShared is DeliverRemote that also reports which of groups
// this broker had no member of, so that the message did not reach them
// here (the member left after the peer picked this node): it appends them
// to unserved and returns it, for the caller to send the message on to
// another member's node.
func (b *Broker) DeliverRemoteShared(m *WirePublish, groups []string, unserved []string) (int, []string) {
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
	r.track = true
	n := r.run()
	for i, g := range groups {
		if !r.served[i] {
			unserved = append(unserved, g)
		}
	}
	r.groups, r.track = nil, false
	b.putScratch(sc)
	return n, unserved
}

// markServed records that this delivery reached a member of the shared
// group g (DeliverRemoteShared).
func (r *route) markServed(name, filter string) {
	if !r.track {
		return
	}
	for i, k := range r.groups {
		if len(k) == len("$share/")+len(name)+1+len(filter) && k[7:7+len(name)] == name && k[8+len(name):] == filter {
			r.served[i] = true
		}
	}
}
