package cluster

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// flushPoll is how often Flush looks at the forwards still unacknowledged.
const flushPoll = 20 * time.Millisecond

// Pending returns, by peer, the forwards of every attached tenant that
// the peer has not acknowledged yet (queued or written); peers with none
// are absent. A dead peer's forwards are dropped with its link, so they
// are not pending.
func (c *Cluster) Pending() map[string]int64 {
	out := map[string]int64{}
	for _, t := range c.tenantList() {
		t.peers.Range(func(k, v any) bool {
			if n := v.(*peerCounters).awaiting.Load(); n > 0 {
				out[k.(string)] += n
			}
			return true
		})
	}
	return out
}

// Flush waits until every forward queued so far, and any queued while it
// waits, has been acknowledged by its peer (Pending is empty), or ctx
// ends: then it returns an error naming what is still pending.
func (c *Cluster) Flush(ctx context.Context) error {
	tick := time.NewTicker(flushPoll)
	defer tick.Stop()
	for {
		pending := c.Pending()
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			var parts []string
			for _, peer := range slices.Sorted(maps.Keys(pending)) {
				parts = append(parts, fmt.Sprintf("%d to %s", pending[peer], peer))
			}
			return fmt.Errorf("cluster: flush: forwards still unacknowledged (%s): %w", strings.Join(parts, ", "), ctx.Err())
		case <-tick.C:
		}
	}
}
