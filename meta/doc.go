// Package meta is jmqx's control plane: a Raft group (hashicorp/raft, logs
// in raft-boltdb) whose replicated state holds the tenant definitions with
// their users and ACLs, the cluster members, and the listener addresses each
// node actually bound for each tenant.
//
// The pieces, top-down:
//
//   - State is an immutable, copy-on-write value; read it with
//     FSM.State or Store.State and never modify it. Each tenant has a
//     revision, the Raft index of its last write.
//   - Commands are a CommandType byte followed by a versioned JSON payload
//     (Encode); their types are persisted in Raft and never renumbered.
//     A command with IfRevision is a compare-and-set, decided inside
//     Apply, so that no concurrent write is lost, across failovers too.
//   - FSM applies commands deterministically, snapshots and restores State,
//     and signals watchers (Watch) after every change. It applies what was
//     committed without re-validating it; Store.Apply validates with this
//     release's rules before proposing. An entry or snapshot it cannot
//     fully understand (written by a newer jmqx) stops it rather than let
//     this node diverge: see StoppedError, Store.Err and Store.Stopped.
//   - Store (Open) runs Raft over TCP or TLS with the FSM and offers
//     Apply, membership changes (Join, AddVoter, RemoveServer) and status.
//
// A write on a follower fails with *NotLeaderError naming the leader; the
// admin layer forwards it there. A node joins as a non-voter; the leader
// promotes it to voter once it has caught up, and removes a non-voter that
// never answers (see membership.go). Voters are removed only through
// RemoveServer.
package meta
