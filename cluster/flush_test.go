package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// Flush returns once the peers have acknowledged every forward: not while
// a peer's link hangs, at once after it recovers.
func TestFlushWaitsForAcks(t *testing.T) {
	faults := map[string]*linkFaults{}
	_, nodes := three(t, func(cfg *Config) {
		faults[cfg.Name] = injectFaults(cfg)
		cfg.ForwardWait = 100 * time.Millisecond // publishers do not wait for the hung peer
	})
	sub := dial(t, nodes[2], "flush-sub")
	sub.sub(t, "flush/#", 1)
	pub := dial(t, nodes[0], "flush-pub")
	if err := nodes[0].c.Flush(context.Background()); err != nil {
		t.Fatalf("Flush with nothing forwarded: %v", err)
	}

	faults["n3"].set(stuck)
	t.Cleanup(func() { faults["n3"].set(healthy) })
	for range 3 {
		pub.pub(t, "flush/x", "m", 1)
	}
	if got := nodes[0].c.Pending()["n3"]; got == 0 {
		t.Fatalf("Pending = %v, want forwards awaiting n3's ack", nodes[0].c.Pending())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err := nodes[0].c.Flush(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "to n3") {
		t.Fatalf("Flush while n3 hangs = %v, want a deadline error naming n3", err)
	}

	faults["n3"].set(healthy)
	ctx, cancel = context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := nodes[0].c.Flush(ctx); err != nil {
		t.Fatalf("Flush after n3 recovered: %v", err)
	}
	if p := nodes[0].c.Pending(); len(p) != 0 {
		t.Fatalf("Pending after Flush = %v", p)
	}
	for range 3 {
		sub.expect(t)
	}
}
