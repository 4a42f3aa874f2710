package integration

// Fault tests of the cluster data plane with real processes: publishers on
// every node send numbered QoS 1 messages, subscribers on every node take
// them all, and every publish, acknowledgement and delivery is recorded;
// meanwhile one node is killed (SIGKILL) or frozen (SIGSTOP for 10 s). The
// records are then checked: every acknowledged message reached every
// subscriber that should have it, none was duplicated except as a flagged
// QoS 1 redelivery, and none overtook an earlier one of its publisher.

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// loadInterval is each publisher's pace: 50 messages a second.
const loadInterval = 20 * time.Millisecond

// forwardWait is the cluster's ForwardWait: a PUBACK sent sooner after
// the PUBLISH means that every node that should have the message has it;
// a later one may have gone without a peer's acknowledgement.
const forwardWait = 2 * time.Second

// fullyAcked reports whether r's PUBACK came from every peer's
// acknowledgement (see forwardWait).
func fullyAcked(r pubRec) bool { return r.acked() && r.ackedAt.Sub(r.sentAt) < forwardWait }

// maxFaultPuback bounds a publisher's PUBACK wait while a peer is dead or
// frozen: the cluster waits ForwardWait (2 s) for a peer's acknowledgement.
const maxFaultPuback = 8 * time.Second

// A node killed mid-stream: the survivors drop its routes once gossip
// declares it dead; until then their publishers wait at most ForwardWait
// for it. Every message acknowledged (the dead node's own publisher's
// included) reached every surviving subscriber.
func TestClusterFaultKill(t *testing.T) {
	dc := startDataCluster(t, hostIPs, "load")
	run := startLoad(t, dc)
	run.waitFlowing(t, time.Now(), 25)

	victim := dc.byID[dc.ids[2]]
	survivors := []string{dc.ids[0], dc.ids[1]}
	killAt := time.Now()
	_ = victim.stop(syscall.SIGKILL)
	var deadAt, goneAt time.Time
	eventually(t, 20*time.Second, func() error {
		if goneAt.IsZero() {
			st, err := tenantStatus(t, dc.byID[survivors[0]].admin, dc.tenant)
			if err != nil {
				return err
			}
			if n := routesOf(st, survivors, victim.id); n > 0 {
				return fmt.Errorf("the survivors still hold %d routes of %s", n, victim.id)
			}
			goneAt = time.Now()
		}
		for _, id := range survivors {
			ms, err := dataMembers(t, dc.byID[id].admin)
			if err != nil {
				return err
			}
			for _, m := range ms {
				if m.ID == victim.id && m.Gossip != "dead" && m.Gossip != "left" {
					return fmt.Errorf("%s sees %s as %q in gossip", id, victim.id, m.Gossip)
				}
			}
		}
		deadAt = time.Now()
		return nil
	})
	t.Logf("%s SIGKILLed: its routes gone on the survivors after %v; gossip dead on both after %v (polled through the CLI)",
		victim.id, goneAt.Sub(killAt).Round(time.Millisecond), deadAt.Sub(killAt).Round(time.Millisecond))

	run.waitFlowing(t, time.Now(), 25, survivors...)
	run.stop(t)
	up := func(node string) bool { return node != victim.id }
	run.check(t, func(s *loadSub, p *loadPub, _ int, r pubRec) bool {
		// The dead node's queued forwards died with it: its publisher's
		// messages count when acknowledged by every peer.
		return up(s.node) && s.subackAt.Before(r.sentAt) && (p.node != victim.id || fullyAcked(r))
	})
	run.reportLatency(t, "before the fault", time.Time{}, killAt, up)
	run.reportLatency(t, "during the fault (until its routes are gone)", killAt, goneAt, up)
	run.reportLatency(t, "after the fault", goneAt, time.Now(), up)
	run.assertLatency(t, up)
	run.logForwarding(t, dc, survivors)
}

// A node frozen for 10 s (SIGSTOP, then SIGCONT): the survivors declare it
// dead and stop waiting for it, and link to it again once it answers. Every
// message acknowledged before the freeze reached every subscriber, the
// frozen node's included; every message the survivors' publishers had
// acknowledged reached the survivors' subscribers; and once a survivor
// holds the frozen node's routes again, its messages reach the frozen
// node's subscriber again.
func TestClusterFaultStop(t *testing.T) {
	dc := startDataCluster(t, hostIPs, "load")
	run := startLoad(t, dc)
	run.waitFlowing(t, time.Now(), 25)

	victim := dc.byID[dc.ids[0]]
	survivors := []string{dc.ids[1], dc.ids[2]}
	pgid := victim.cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGCONT) })
	stopAt := time.Now()
	if err := syscall.Kill(-pgid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// The freeze lasts 10 s whatever happens (a schedule, not a wait):
	// meanwhile, when the survivors drop its routes and see it dead.
	var goneAt, deadAt time.Time
	goneOn := map[string]bool{}
	tick := time.NewTicker(100 * time.Millisecond)
	for time.Since(stopAt) < 10*time.Second {
		for _, id := range survivors {
			if st, err := localTenantStatus(dc.byID[id].admin, dc.tenant); err == nil && st.Peers[victim.id].Routes == 0 {
				goneOn[id] = true
			}
		}
		if goneAt.IsZero() && len(goneOn) == len(survivors) {
			goneAt = time.Now()
		}
		if deadAt.IsZero() && gossipState(t, dc, survivors, victim.id) == "dead" {
			deadAt = time.Now()
		}
		<-tick.C
	}
	tick.Stop()
	if err := syscall.Kill(-pgid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	contAt := time.Now()
	// Not an error if gossip took longer: the survivors then wait
	// ForwardWait for each forward to it, which the latency check bounds.
	since := func(at time.Time) string {
		if at.IsZero() {
			return "not within the 10 s"
		}
		return fmt.Sprint("after ", at.Sub(stopAt).Round(time.Millisecond))
	}
	t.Logf("%s SIGSTOPped: its routes gone on the survivors %s, gossip dead on both %s (polled about once a second)",
		victim.id, since(goneAt), since(deadAt))

	// After SIGCONT: when each survivor holds the victim's routes again,
	// and when the victim's subscriber gets a survivor's new message. A
	// survivor that had not dropped them yet may still do so: what it
	// publishes is not checked at the victim's subscriber.
	routesBack := map[string]time.Time{}
	eventually(t, 20*time.Second, func() error {
		for _, id := range survivors {
			if !routesBack[id].IsZero() {
				continue
			}
			if !goneOn[id] {
				routesBack[id] = time.Now().Add(time.Hour)
				continue
			}
			st, err := localTenantStatus(dc.byID[id].admin, dc.tenant)
			if err != nil {
				return err
			}
			if st.Peers[victim.id].Routes == 0 {
				return fmt.Errorf("%s holds no route of %s", id, victim.id)
			}
			routesBack[id] = time.Now()
		}
		return nil
	})
	vsub := run.subOn(victim.id)
	var receivingAt time.Time
	eventually(t, 20*time.Second, func() error {
		for _, r := range vsub.c.in.all() {
			if p, seq, ok := run.parse(r.payload); ok && p.node != victim.id && p.record(seq).sentAt.After(contAt) {
				receivingAt = r.at
				return nil
			}
		}
		return fmt.Errorf("%s: no message published on a survivor after SIGCONT", vsub.c.id)
	})
	back := func(id string) string {
		if !goneOn[id] {
			return "not dropped during the freeze"
		}
		return fmt.Sprint("after ", routesBack[id].Sub(contAt).Round(time.Millisecond))
	}
	t.Logf("after SIGCONT: its routes back on %s %s and on %s %s; its subscriber receiving a survivor's new messages after %v",
		survivors[0], back(survivors[0]), survivors[1], back(survivors[1]), receivingAt.Sub(contAt).Round(time.Millisecond))

	run.waitFlowing(t, time.Now(), 25)
	run.stop(t)
	run.check(t, func(s *loadSub, p *loadPub, _ int, r pubRec) bool {
		switch {
		case !s.subackAt.Before(r.sentAt):
			return false
		case fullyAcked(r) && r.ackedAt.Before(stopAt): // every node had it before the freeze
			return true
		case p.node == victim.id: // published on the frozen node: excluded
			return false
		case s.node != victim.id:
			return true
		}
		return r.sentAt.After(routesBack[p.node]) // the survivor knows the route again
	})
	notVictim := func(node string) bool { return node != victim.id }
	run.reportLatency(t, "before the fault", time.Time{}, stopAt, notVictim)
	run.reportLatency(t, "during the fault (until its subscriber receives again)", stopAt, receivingAt, notVictim)
	run.reportLatency(t, "after the fault", receivingAt, time.Now(), notVictim)
	run.reportLatency(t, "frozen node's publisher, whole run", time.Time{}, time.Now(), func(n string) bool { return n == victim.id })
	run.assertLatency(t, notVictim)
	run.logForwarding(t, dc, dc.ids)
}

// routesOf sums the routes of peer held by the nodes in st among ids.
func routesOf(st map[string]nodeStatus, ids []string, peer string) int {
	n := 0
	for _, id := range ids {
		n += st[id].Peers[peer].Routes
	}
	return n
}

// gossipState is how every node of ids sees peer in gossip: its state
// when they agree, "" otherwise.
func gossipState(t *testing.T, dc *dataCluster, ids []string, peer string) string {
	t.Helper()
	state := ""
	for i, id := range ids {
		ms, err := dataMembers(t, dc.byID[id].admin)
		if err != nil {
			return ""
		}
		for _, m := range ms {
			if m.ID != peer {
				continue
			}
			if i > 0 && m.Gossip != state {
				return ""
			}
			state = m.Gossip
		}
	}
	return state
}

// ---------------------------------------------------------------- load

// loadRun is a publisher and a subscriber on every node of a dataCluster.
type loadRun struct {
	pubs []*loadPub
	subs []*loadSub
	byID map[string]*loadPub
}

// loadSub is a subscriber to load/#.
type loadSub struct {
	node     string
	c        *meshClient
	subackAt time.Time
}

// loadPub publishes "ID/SEQ" on load/ID at QoS 1 every loadInterval from
// one node, recording when each message was sent and acknowledged.
type loadPub struct {
	id, node string
	c        *meshClient // a 3.1.1 client: its publishes are asynchronous and ordered
	quit     chan struct{}
	done     chan struct{}
	acks     sync.WaitGroup

	mu   sync.Mutex
	recs []pubRec // message seq at recs[seq-1]
}

// pubRec is the record of one message of a loadPub.
type pubRec struct {
	sentAt  time.Time
	ackedAt time.Time // zero: not acknowledged
	failed  bool      // the client gave up on it (connection lost)
}

func (r pubRec) acked() bool { return !r.ackedAt.IsZero() }

// startLoad connects a subscriber (MQTT 5 and 3.1.1 alternately) and a
// publisher on every node, subscribes the subscribers, then starts the
// publishers.
func startLoad(t *testing.T, dc *dataCluster) *loadRun {
	t.Helper()
	run := &loadRun{byID: map[string]*loadPub{}}
	for i, id := range dc.ids {
		s := &loadSub{node: id, c: dc.dial(t, id, "load-sub-"+id, i%2 == 0)}
		s.c.mustSubscribe(t, "load/#", 1)
		s.subackAt = time.Now()
		run.subs = append(run.subs, s)
	}
	for _, id := range dc.ids {
		p := &loadPub{id: "p-" + id, node: id, c: dc.dial(t, id, "load-pub-"+id, false),
			quit: make(chan struct{}), done: make(chan struct{})}
		run.pubs = append(run.pubs, p)
		run.byID[p.id] = p
	}
	for _, p := range run.pubs {
		go p.run()
	}
	t.Cleanup(func() {
		for _, p := range run.pubs {
			p.halt()
		}
	})
	return run
}

// run publishes until halt.
func (p *loadPub) run() {
	defer close(p.done)
	tick := time.NewTicker(loadInterval)
	defer tick.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-p.quit:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		p.recs = append(p.recs, pubRec{sentAt: time.Now()})
		p.mu.Unlock()
		tok := p.c.v3.Publish("load/"+p.id, 1, false, fmt.Sprintf("%s/%d", p.id, seq))
		p.acks.Add(1)
		go func() {
			defer p.acks.Done()
			<-tok.Done()
			now := time.Now()
			p.mu.Lock()
			if tok.Error() == nil {
				p.recs[seq-1].ackedAt = now
			} else {
				p.recs[seq-1].failed = true
			}
			p.mu.Unlock()
		}()
	}
}

// halt stops publishing (idempotent) and waits for the loop to end.
func (p *loadPub) halt() {
	select {
	case <-p.quit:
	default:
		close(p.quit)
	}
	<-p.done
}

// records returns a copy of the records and how many are unresolved
// (neither acknowledged nor failed).
func (p *loadPub) records() (recs []pubRec, open int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	recs = slices.Clone(p.recs)
	for _, r := range recs {
		if !r.acked() && !r.failed {
			open++
		}
	}
	return recs, open
}

func (p *loadPub) record(seq int) pubRec {
	p.mu.Lock()
	defer p.mu.Unlock()
	if seq < 1 || seq > len(p.recs) {
		return pubRec{}
	}
	return p.recs[seq-1]
}

// parse splits a payload "ID/SEQ" into its publisher and sequence number.
func (run *loadRun) parse(payload string) (*loadPub, int, bool) {
	id, n, ok := strings.Cut(payload, "/")
	seq, err := strconv.Atoi(n)
	p := run.byID[id]
	return p, seq, ok && err == nil && p != nil
}

func (run *loadRun) subOn(node string) *loadSub {
	for _, s := range run.subs {
		if s.node == node {
			return s
		}
	}
	return nil
}

// waitFlowing waits until every subscriber on nodes (default all) has
// received at least n messages sent after since from every publisher on
// those nodes.
func (run *loadRun) waitFlowing(t *testing.T, since time.Time, n int, nodes ...string) {
	t.Helper()
	in := func(node string) bool { return len(nodes) == 0 || slices.Contains(nodes, node) }
	eventually(t, 20*time.Second, func() error {
		for _, s := range run.subs {
			if !in(s.node) {
				continue
			}
			got := map[*loadPub]int{}
			for _, r := range s.c.in.all() {
				if p, seq, ok := run.parse(r.payload); ok && p.record(seq).sentAt.After(since) {
					got[p]++
				}
			}
			for _, p := range run.pubs {
				if in(p.node) && got[p] < n {
					return fmt.Errorf("%s got %d messages of %s sent since %s, want %d", s.c.id, got[p], p.id, since.Format("15:04:05.000"), n)
				}
			}
		}
		return nil
	})
}

// stop halts the publishers and waits until each of their messages is
// acknowledged or given up.
func (run *loadRun) stop(t *testing.T) {
	t.Helper()
	for _, p := range run.pubs {
		p.halt()
	}
	eventually(t, 15*time.Second, func() error {
		for _, p := range run.pubs {
			if _, open := p.records(); open > 0 {
				return fmt.Errorf("%s: %d messages neither acknowledged nor failed", p.id, open)
			}
		}
		return nil
	})
	for _, p := range run.pubs {
		p.acks.Wait()
	}
}

// check verifies the history against must, which says whether subscriber
// s had to receive message seq of p (acknowledged, with record r): it
// waits for those to arrive, failing if some never do, then audits it.
func (run *loadRun) check(t *testing.T, must func(s *loadSub, p *loadPub, seq int, r pubRec) bool) {
	t.Helper()
	missing := func() (n int, examples []string) {
		for _, s := range run.subs {
			got := map[string]bool{}
			for _, r := range s.c.in.all() {
				got[r.payload] = true
			}
			for _, p := range run.pubs {
				recs, _ := p.records()
				for i, r := range recs {
					key := fmt.Sprintf("%s/%d", p.id, i+1)
					if r.acked() && must(s, p, i+1, r) && !got[key] {
						n++
						if len(examples) < 10 {
							examples = append(examples, fmt.Sprintf("%s missed %s (sent %s, acked %s)",
								s.c.id, key, r.sentAt.Format("15:04:05.000"), r.ackedAt.Format("15:04:05.000")))
						}
					}
				}
			}
		}
		return n, examples
	}
	defer run.audit(t, must) // also when the wait below fails
	eventually(t, 10*time.Second, func() error {
		if n, ex := missing(); n > 0 {
			return fmt.Errorf("%d acknowledged messages missing at subscribers that should have them; e.g.:\n%s", n, strings.Join(ex, "\n"))
		}
		return nil
	})
}

// audit fails on any duplicate not flagged DUP and any message that
// arrived after a later one of its publisher, and logs the history's
// figures.
func (run *loadRun) audit(t *testing.T, must func(s *loadSub, p *loadPub, seq int, r pubRec) bool) {
	t.Helper()
	var required, acked, sent int
	for _, p := range run.pubs {
		recs, _ := p.records()
		sent += len(recs)
		for i, r := range recs {
			if r.acked() {
				acked++
				for _, s := range run.subs {
					if must(s, p, i+1, r) {
						required++
					}
				}
			}
		}
	}
	var received, dups, flagged, disorder int
	for _, s := range run.subs {
		seen := map[*loadPub]map[int]bool{}
		last := map[*loadPub]int{}
		for _, r := range s.c.in.all() {
			p, seq, ok := run.parse(r.payload)
			if !ok {
				t.Errorf("%s: unexpected message %s %q", s.c.id, r.topic, r.payload)
				continue
			}
			received++
			if seen[p] == nil {
				seen[p] = map[int]bool{}
			}
			switch {
			case seen[p][seq]:
				dups++
				if r.dup {
					flagged++
					t.Logf("%s: %s/%d redelivered (DUP)", s.c.id, p.id, seq)
				} else {
					t.Errorf("%s: %s/%d delivered twice, the second time not flagged DUP", s.c.id, p.id, seq)
				}
			case seq < last[p]:
				disorder++
				t.Errorf("%s: %s/%d arrived after %s/%d", s.c.id, p.id, seq, p.id, last[p])
			}
			seen[p][seq] = true
			last[p] = max(last[p], seq)
		}
	}
	t.Logf("history: %d messages sent, %d acknowledged; %d deliveries required, %d received; %d duplicates (%d flagged DUP), %d out of order",
		sent, acked, required, received, dups, flagged, disorder)
}

// reportLatency logs the PUBACK latency of the messages sent in [from, to)
// by the publishers on the nodes pick accepts.
func (run *loadRun) reportLatency(t *testing.T, what string, from, to time.Time, pick func(node string) bool) {
	t.Helper()
	var lat []time.Duration
	for _, p := range run.pubs {
		if !pick(p.node) {
			continue
		}
		recs, _ := p.records()
		for _, r := range recs {
			if r.acked() && !r.sentAt.Before(from) && r.sentAt.Before(to) {
				lat = append(lat, r.ackedAt.Sub(r.sentAt))
			}
		}
	}
	if len(lat) == 0 {
		t.Logf("PUBACK latency %s: no acknowledged message", what)
		return
	}
	slices.Sort(lat)
	q := func(f float64) time.Duration {
		return lat[min(len(lat)-1, int(math.Ceil(f*float64(len(lat))))-1)].Round(time.Millisecond)
	}
	t.Logf("PUBACK latency %s (%d messages): p50 %v, p99 %v, max %v", what, len(lat), q(0.5), q(0.99), q(1))
}

// assertLatency fails if a publisher on a node pick accepts waited
// maxFaultPuback or more for a PUBACK.
func (run *loadRun) assertLatency(t *testing.T, pick func(node string) bool) {
	t.Helper()
	for _, p := range run.pubs {
		if !pick(p.node) {
			continue
		}
		recs, _ := p.records()
		for i, r := range recs {
			if d := r.ackedAt.Sub(r.sentAt); r.acked() && d >= maxFaultPuback {
				t.Errorf("%s/%d: PUBACK after %v, want under %v", p.id, i+1, d.Round(time.Millisecond), maxFaultPuback)
			}
		}
	}
}

// logForwarding logs the forwarding figures of each node of ids, as it
// reports them itself.
func (run *loadRun) logForwarding(t *testing.T, dc *dataCluster, ids []string) {
	t.Helper()
	for _, id := range ids {
		st, err := localTenantStatus(dc.byID[id].admin, dc.tenant)
		if err != nil {
			t.Logf("%s: %v", id, err)
			continue
		}
		var parts []string
		for _, peer := range sortedKeys(st.Peers) {
			f := st.Peers[peer]
			parts = append(parts, fmt.Sprintf("%s: out %d in %d awaiting %d dropped %d ack_timeouts %d duplicates %d routes %d",
				peer, f.ForwardedOut, f.ForwardedIn, f.AwaitingAck, f.Dropped, f.AckTimeouts, f.Duplicates, f.Routes))
		}
		t.Logf("%s forwarding: %s", id, strings.Join(parts, "; "))
	}
}
