package meta

import (
	"fmt"
	"testing"
	"time"
)

// TestRaftStats: the leader and a follower report their roles, the same
// term, the committed and applied indexes of a write, and the follower
// when it last heard from the leader.
func TestRaftStats(t *testing.T) {
	t.Parallel()
	nodes := startMemCluster(t, 2, nil)
	leader := leaderOf(t, nodes)
	follower := nodes[0]
	if follower == leader {
		follower = nodes[1]
	}
	ctx := testContext(t, 10*time.Second)
	if err := leader.Apply(ctx, CmdPutTenant, PutTenant{Spec: testSpec("acme")}); err != nil {
		t.Fatal(err)
	}
	ls := leader.RaftStats()
	if ls.State != "leader" || ls.Term == 0 || ls.CommitIndex == 0 || ls.AppliedIndex < ls.CommitIndex-1 || ls.LastIndex < ls.CommitIndex {
		t.Errorf("leader: %+v", ls)
	}
	eventually(t, 10*time.Second, func() error {
		fs := follower.RaftStats()
		if fs.State != "follower" || fs.Term != ls.Term || fs.AppliedIndex < ls.CommitIndex || fs.CommitIndex < ls.CommitIndex {
			return fmt.Errorf("follower %+v, leader %+v", fs, ls)
		}
		if fs.LastContact.IsZero() || time.Since(fs.LastContact) > 5*time.Second {
			return fmt.Errorf("follower's last contact with the leader: %v", fs.LastContact)
		}
		return nil
	})
}
