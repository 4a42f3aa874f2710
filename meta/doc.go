// Package meta is jmqx's control plane: a Raft group (hashicorp/raft, logs
// in raft-boltdb) whose replicated state holds the tenant definitions with
// their users and ACLs, the cluster members, and the listener addresses each
// node actually bound for each tenant.
//
// The pieces, top-down:
//
//   - State is an immutable, copy-on-write value; read it with
//     FSM.State or Store.State and never modify it.
//   - Commands are a CommandType byte followed by a versioned JSON payload
//     (Encode); their types are persisted in Raft and never renumbered.
//   - FSM applies commands deterministically, snapshots and restores State,
//     and signals watchers (Watch) after every change.
//   - Store (Open) runs Raft over TCP or TLS with the FSM and offers
//     Apply, membership changes (AddVoter, RemoveServer) and status.
//
// A write on a follower fails with *NotLeaderError naming the leader; the
// admin layer forwards it there. Voters change only through AddVoter and
// RemoveServer, never automatically.
package meta
