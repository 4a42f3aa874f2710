package cluster

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/jmqx/jmqx/internal/testwait"
)

// linkTo returns x's link figures for peer, and whether x has a link to it.
func linkTo(x *testNode, peer string) (LinkStats, bool) {
	for _, ls := range x.c.Links() {
		if ls.Peer == peer {
			return ls, true
		}
	}
	return LinkStats{}, false
}

// TestLinkStatsRoundTripAndBacklog: a link's round trip is measured from
// the acknowledgements of route changes and forwards; forwards a hung
// peer does not acknowledge make the link's backlog, which drains once it
// recovers.
func TestLinkStatsRoundTripAndBacklog(t *testing.T) {
	faults := map[string]*linkFaults{}
	_, nodes := three(t, func(cfg *Config) { faults[cfg.Name] = injectFaults(cfg) })
	n1, n2 := nodes[0], nodes[1]
	if ls, ok := linkTo(n2, "n1"); !ok || ls.State != "up" || ls.BacklogMessages != 0 {
		t.Fatalf("n2's link to n1 before any traffic: %+v (found %v), want up with no backlog", ls, ok)
	}

	// n2's subscription is a route change that n1 acknowledges.
	dial(t, n2, "sub2").sub(t, "rtt/#", 0)
	dial(t, nodes[2], "sub3").sub(t, "rtt/#", 0)
	if ls, _ := linkTo(n2, "n1"); ls.RTT <= 0 || ls.RTT > waitFor {
		t.Errorf("n2's link to n1 after an acknowledged route change: RTT %s, want measured", ls.RTT)
	}

	faults["n3"].set(stuck) // n3 reads, but its acknowledgements hang
	t.Cleanup(func() { faults["n3"].set(healthy) })
	pub := dial(t, n1, "pub")
	const sent = 5
	for i := range sent {
		pub.pub(t, "rtt/x", strconv.Itoa(i), 0)
	}
	testwait.Until(t, waitFor, func() error {
		ls, _ := linkTo(n1, "n3")
		if ls.BacklogMessages != sent || ls.BacklogBytes <= 0 {
			return fmt.Errorf("n1's link to the hung n3: %+v, want a backlog of %d messages", ls, sent)
		}
		if ls, _ := linkTo(n1, "n2"); ls.BacklogMessages != 0 || ls.RTT <= 0 {
			return fmt.Errorf("n1's link to n2: %+v, want no backlog and a measured round trip", ls)
		}
		return nil
	})
	if ls, _ := linkTo(n1, "n3"); ls.RTT != 0 {
		t.Errorf("n1's link to n3 has RTT %s though n3 never acknowledged anything of it", ls.RTT)
	}

	faults["n3"].set(healthy)
	testwait.Until(t, waitFor, func() error {
		ls, _ := linkTo(n1, "n3")
		if ls.BacklogMessages != 0 || ls.BacklogBytes != 0 || ls.RTT <= 0 || ls.RTT > waitFor+time.Second {
			return fmt.Errorf("n1's link to n3 after it recovered: %+v, want the backlog drained and the round trip measured", ls)
		}
		return nil
	})
}
