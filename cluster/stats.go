package cluster

import (
	"sort"
	"strings"
	"time"
)

// PeerStats are one tenant's forwarding figures with one peer.
type PeerStats struct {
	// ForwardedOut and ForwardedOutBytes count the messages (and their
	// encoded bytes) this node queued for the peer.
	ForwardedOut      int64 `json:"forwarded_out"`
	ForwardedOutBytes int64 `json:"forwarded_out_bytes"`
	// ForwardedIn and ForwardedInBytes count the messages the peer
	// forwarded that this node delivered.
	ForwardedIn      int64 `json:"forwarded_in"`
	ForwardedInBytes int64 `json:"forwarded_in_bytes"`
	// AwaitingAck is the forwards the peer has not acknowledged yet.
	AwaitingAck int64 `json:"awaiting_ack"`
	// Dropped counts forwards dropped because the queue to the peer was
	// full (Config.MaxPeerBytes): messages its subscribers missed.
	Dropped int64 `json:"dropped"`
	// AckTimeouts counts forwards whose publisher stopped waiting for the
	// peer (Config.ForwardWait); they stayed queued.
	AckTimeouts int64 `json:"ack_timeouts"`
	// Duplicates counts forwards the peer sent again after a broken link
	// that this node had already delivered (not delivered twice).
	Duplicates int64 `json:"duplicates"`
	// Routes is the routes this node holds of the peer for the tenant.
	Routes int `json:"routes"`
}

// TenantStats are one tenant's cluster figures on this node.
type TenantStats struct {
	// Peers are the figures per peer.
	Peers map[string]PeerStats `json:"peers"`
	// LocalRoutes is the filters this node announces for the tenant.
	LocalRoutes int `json:"local_routes"`
	// RemoteRoutes is the routes of the tenant this node holds of its peers.
	RemoteRoutes int `json:"remote_routes"`
	// SharedSentOn counts shared subscription messages this node sent on
	// to another member because the member picked for them was gone.
	SharedSentOn int64 `json:"shared_sent_on"`
	// SharedLost counts shared subscription messages (per group) lost
	// because no live node had a member of the group.
	SharedLost int64 `json:"shared_lost"`
	// Retained is the number of retained topics this node holds, and
	// RetainedTombstones the clears it remembers (retained messages across
	// nodes).
	Retained           int `json:"retained"`
	RetainedTombstones int `json:"retained_tombstones"`
}

// NodeStats are this node's cluster-wide figures.
type NodeStats struct {
	// SubackTimeouts counts SUBACKs sent before every live peer had
	// acknowledged the route (Config.SubackWait passed).
	SubackTimeouts int64 `json:"suback_timeouts"`
	// Resyncs counts route resyncs: asked of a peer after a digest
	// mismatch, or asked by one.
	Resyncs int64 `json:"resyncs"`
	// LinkErrors counts links that broke.
	LinkErrors int64 `json:"link_errors"`
	// RetainedRepairs counts the retained stores streamed to a peer
	// because gossip showed that its copy differed.
	RetainedRepairs int64 `json:"retained_repairs"`
	// SessionStats are the figures of sessions across nodes (claims,
	// moves, wills of lost nodes).
	SessionStats
}

// LinkStats are the figures of this node's link to one live peer.
type LinkStats struct {
	// Peer is the peer's node name.
	Peer string `json:"peer"`
	// State is the link's state: "connecting" or "up".
	State string `json:"state"`
	// RTT is the last round trip measured on the link: from the write of
	// a forward or a route change to the peer's acknowledgement of it
	// (which the peer sends once it has handled what it read). Zero until
	// the peer first acknowledges a forward or a route change; it keeps
	// its last value while the link is idle.
	RTT time.Duration `json:"rtt"`
	// BacklogMessages and BacklogBytes are the forwards queued for the
	// peer or written and not acknowledged yet, and their size as counted
	// against Config.MaxPeerBytes.
	BacklogMessages int   `json:"backlog_messages"`
	BacklogBytes    int64 `json:"backlog_bytes"`
}

// Links returns the figures of this node's links to its live peers,
// sorted by peer. It holds each link's lock only to copy two figures.
func (c *Cluster) Links() []LinkStats {
	links := *c.linkList.Load()
	out := make([]LinkStats, 0, len(links))
	for _, l := range links {
		l.mu.Lock()
		ls := LinkStats{Peer: l.peer, State: l.state, BacklogMessages: len(l.pending), BacklogBytes: l.bytes}
		l.mu.Unlock()
		if ls.State == "closed" {
			continue
		}
		ls.RTT = time.Duration(l.rtt.Load())
		out = append(out, ls)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Peer < out[j].Peer })
	return out
}

// Stats returns a tenant's figures; ok is false when the tenant is not
// attached.
func (c *Cluster) Stats(tenant string) (TenantStats, bool) {
	t := c.tenant(tenant)
	if t == nil {
		return TenantStats{}, false
	}
	st := TenantStats{Peers: map[string]PeerStats{}}
	t.mu.Lock()
	st.LocalRoutes = len(t.local.entries)
	t.mu.Unlock()
	st.SharedSentOn, st.SharedLost = t.sharedSentOn.Load(), t.sharedLost.Load()
	t.retained.mu.Lock()
	for _, m := range t.retained.meta {
		if m.cleared {
			st.RetainedTombstones++
		} else {
			st.Retained++
		}
	}
	t.retained.mu.Unlock()
	t.peers.Range(func(k, v any) bool {
		pc := v.(*peerCounters)
		st.Peers[k.(string)] = PeerStats{
			ForwardedOut: pc.outMsgs.Load(), ForwardedOutBytes: pc.outBytes.Load(),
			ForwardedIn: pc.inMsgs.Load(), ForwardedInBytes: pc.inBytes.Load(),
			AwaitingAck: pc.awaiting.Load(), Dropped: pc.dropped.Load(), AckTimeouts: pc.ackTimeouts.Load(),
			Duplicates: pc.duplicates.Load(),
		}
		return true
	})
	r := t.remote
	r.mu.Lock()
	for peer, v := range r.peers {
		ps := st.Peers[peer]
		ps.Routes = len(v.filters)
		st.Peers[peer] = ps
		st.RemoteRoutes += len(v.filters)
	}
	r.mu.Unlock()
	return st, true
}

// NodeStats returns this node's cluster-wide figures.
func (c *Cluster) NodeStats() NodeStats {
	return NodeStats{SubackTimeouts: c.subackTimeouts.Load(), Resyncs: c.resyncs.Load(), LinkErrors: c.linkErrors.Load(),
		RetainedRepairs: c.retainRepairs.Load(), SessionStats: c.SessionStats()}
}

// SysValues implements broker.SysReporter: the tenant's figures under
// $SYS/broker/cluster/: routes/local, routes/remote, shared/sent-on,
// shared/lost, and per peer
// peers/{peer}/forwarded/out (and /bytes), forwarded/in (and /bytes),
// awaiting-ack, dropped, ack-timeouts, duplicates and routes.
func (t *tenantPeers) SysValues() map[string]int64 {
	st, ok := t.c.Stats(t.name)
	if !ok {
		return nil
	}
	out := map[string]int64{"routes/local": int64(st.LocalRoutes), "routes/remote": int64(st.RemoteRoutes),
		"shared/sent-on": st.SharedSentOn, "shared/lost": st.SharedLost}
	for peer, p := range st.Peers {
		k := "peers/" + topicLevel(peer) + "/"
		out[k+"forwarded/out"] = p.ForwardedOut
		out[k+"forwarded/out/bytes"] = p.ForwardedOutBytes
		out[k+"forwarded/in"] = p.ForwardedIn
		out[k+"forwarded/in/bytes"] = p.ForwardedInBytes
		out[k+"awaiting-ack"] = p.AwaitingAck
		out[k+"dropped"] = p.Dropped
		out[k+"ack-timeouts"] = p.AckTimeouts
		out[k+"duplicates"] = p.Duplicates
		out[k+"routes"] = int64(p.Routes)
	}
	return out
}

// topicLevel makes a node name one topic level.
func topicLevel(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '/', '+', '#', 0:
			return '_'
		}
		return r
	}, s)
}
