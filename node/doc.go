// Package node assembles a jmqx service node: the Raft control plane
// (package meta), the tenants it defines served by a tenant.Host, and the
// admin HTTP API (package admin) over both. Every node reconciles its Host
// to the replicated tenant specs and records, through the leader, the
// addresses it actually bound for each tenant. A single node is a
// one-voter group; further nodes join through any member's admin API.
//
// The data directory is checked before the control plane opens it, and
// Start refuses, with one line saying what to do, rather than lose or fork
// the node's state:
//   - another process running on it (DataDir/LOCK is held);
//   - Raft data that is damaged (raft/raft.db or the snapshot Raft would
//     restore; the storage libraries' panics become errors), or a Raft
//     log that is missing, empty or without state next to signs that the
//     node had state (node-id, ports.json, applied-index, Raft
//     snapshots): starting would bootstrap a new, empty cluster;
//   - a NodeID other than the saved one, or a node-id file that is empty,
//     malformed or missing while the node has Raft state (unless NodeID
//     is given and that state's Raft configuration lists it);
//   - Join on a directory holding Raft history, unless the node is already
//     a member of that cluster: its own latest Raft configuration lists it
//     and another server, and the member it asks to join through lists one
//     of those other servers (same ID and Raft address). A node that
//     bootstrapped a cluster alone, or was removed from one, must start
//     from an empty directory to join another.
//
// A first start that stops before it completes (DataDir/first-start
// remains) bootstraps or joins again, and creates the default tenant if it
// is missing; after that the default tenant is never created again.
//
// The tenants' persistent sessions and retained messages are kept in
// Config.StoreDir (DataDir/store by default), one file per tenant (see
// tenant.HostConfig.StoreDir). A tenant deleted while the node runs has
// its file deleted by the Host; one deleted while the node was down, once
// the node has reconciled with a live state at least as new as the one it
// served before it stopped (storeSweep).
//
// A single voter starts its election at once, so it is ready in
// milliseconds. A node restarted without a quorum serves the tenants of
// its local state (see localState) until the cluster has a leader again.
package node
