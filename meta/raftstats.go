package meta

import (
	"strings"
	"time"
)

// RaftStats are this node's Raft figures, for monitoring.
type RaftStats struct {
	// State is "leader", "follower", "candidate" or "shutdown".
	State string
	// Term is the current term.
	Term uint64
	// LastIndex is the last index in the log (or the last snapshot's).
	LastIndex uint64
	// CommitIndex is the highest index known to be committed.
	CommitIndex uint64
	// AppliedIndex is the last index handed to the FSM.
	AppliedIndex uint64
	// LastContact is when this node last heard from a leader; zero when
	// it never has (and on the leader, which does not hear from one).
	LastContact time.Time
}

// RaftStats returns this node's Raft figures. It reads Raft's counters
// without waiting on its main loop, so it answers quickly whatever Raft
// is doing.
func (s *Store) RaftStats() RaftStats {
	return RaftStats{
		State:        strings.ToLower(s.raft.State().String()),
		Term:         s.raft.CurrentTerm(),
		LastIndex:    s.raft.LastIndex(),
		CommitIndex:  s.raft.CommitIndex(),
		AppliedIndex: s.raft.AppliedIndex(),
		LastContact:  s.raft.LastContact(),
	}
}
