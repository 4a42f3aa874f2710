package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/jmqx/jmqx/broker"
)

// With a short SysInterval a "$SYS/#" subscriber gets the broker's
// statistics, among them the connected client count (itself: 1).
func TestSysStatistics(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{SysInterval: 50 * time.Millisecond})
	c := dialV5(t, n, "sys")
	c.subscribe("$SYS/#", 0)
	seen := map[string]string{}
	eventually(t, waitFor, func() error {
		drainLatest(c.msgs, seen)
		if seen["$SYS/broker/clients/connected"] != "1" {
			return fmt.Errorf("$SYS/broker/clients/connected = %q, want \"1\"", seen["$SYS/broker/clients/connected"])
		}
		if seen["$SYS/broker/version"] == "" || seen["$SYS/broker/uptime"] == "" {
			return fmt.Errorf("missing version or uptime in %v", seen)
		}
		return nil
	})
}

// drainLatest records, in seen, the newest payload of each topic received
// so far, without waiting.
func drainLatest(msgs <-chan msg, seen map[string]string) {
	for {
		select {
		case m := <-msgs:
			seen[m.Topic] = m.Payload
		default:
			return
		}
	}
}
