package meta

import (
	"context"
	"fmt"
	"time"
)

// WaitApplied blocks until this node has applied every entry it knows to
// be committed (its commit index, which a follower learns from the
// leader), or ctx ends: after WaitLeader, a restarted follower's State
// is then as recent as the leader's was moments ago, rather than what it
// had applied before it stopped.
func (s *Store) WaitApplied(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		commit := s.raft.CommitIndex()
		if commit > 0 && s.raft.AppliedIndex() >= commit {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("meta: wait to apply up to index %d (applied %d): %w", commit, s.raft.AppliedIndex(), ctx.Err())
		case <-tick.C:
		}
	}
}
