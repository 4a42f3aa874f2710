// Package cluster is a jmqx node's data plane: it makes a message published
// on any node reach every matching subscriber on every node.
//
// Membership and failure detection are hashicorp/memberlist's (the node
// name is the Raft node ID; the metadata carries the link address, a boot
// epoch and the link protocol). Gossip also carries, at each push/pull, a
// small digest per tenant of each node's routes (a version and a hash).
// The routes themselves, and the forwarded messages, travel over links:
// each node dials each live peer once and sends on that connection, in
// order, a snapshot of its routes of every tenant, then each change, and
// the messages it forwards to the peer. The peer answers on the same
// connection with cumulative acknowledgements, and with a resync request
// when a digest shows that its copy of a tenant's routes differs.
//
// Attach connects a tenant's broker (see broker.Peers). A route change is
// sent when a filter gets its first local subscription or loses its last;
// the broker's SUBACK waits until every live peer has applied it (at most
// Config.SubackWait). A publish goes once to each peer with a matching
// route, which delivers it to its local subscribers only: one hop, never
// forwarded again. For QoS 1 and 2 the publisher's PUBACK or PUBREC waits
// until every such peer has the message in its sessions (at most
// Config.ForwardWait), unless the tenant acknowledges after the local
// delivery only. A forward not acknowledged when a link breaks is sent
// again after it reconnects, and the receiver drops what it already
// delivered. A peer that memberlist declares dead, or that leaves, loses
// its links and routes, and nobody waits for it any more.
//
// The retained store of a tenant is replicated to every node, last writer
// wins (retain.go), and a shared group gets each message once across the
// nodes, sent on to another member when the one picked is gone
// (shared.go).
package cluster
