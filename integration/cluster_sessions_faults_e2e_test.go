package integration

// The fault history checker extended to sessions, with three `jmqx serve`
// processes: two persistent subscribers (MQTT 5 with a session expiry,
// 3.1.1 with clean session false) whose sessions live on the first two
// nodes, A and B, and are taken over between them again and again while
// publishers on A, B and C stream numbered QoS 1 messages; meanwhile C,
// which holds no subscriber session, is frozen (SIGSTOP, then SIGCONT)
// and later killed (SIGKILL). Checked after every takeover: the old
// connection was told 0x8E (3.1.1: closed), the broker counts exactly one
// connection and one session per client, and messages published after it
// reach the new connection. At the end: every message acknowledged to a
// publisher reached both subscribers, each publisher's in order of first
// receipt (QoS 1 repeats allowed).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

func TestClusterSessionFaults(t *testing.T) {
	dc := startDataCluster(t, hostIPs, "sfaults")
	a, b, c := dc.ids[0], dc.ids[1], dc.ids[2]
	run := &loadRun{byID: map[string]*loadPub{}}
	subs := []*faultSub{{id: "fs-v5", v5: true}, {id: "fs-v3"}}
	subs[0].connect(t, dc, a)
	subs[1].connect(t, dc, b)
	for _, s := range subs {
		if _, err := s.now().subscribe("load/#", 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range dc.ids {
		p := &loadPub{id: "p-" + id, node: id, c: dc.dial(t, id, "sf-pub-"+id, false),
			quit: make(chan struct{}), done: make(chan struct{})}
		run.pubs = append(run.pubs, p)
		run.byID[p.id] = p
		go p.run()
	}
	t.Cleanup(func() {
		for _, p := range run.pubs {
			p.halt()
		}
	})
	pc := run.byID["p-"+c]
	live := map[string]bool{a: true, b: true, c: true} // nodes that answer
	waitFreshAll(t, run, subs, time.Now(), live)

	// Takeovers while every node is up.
	subs[0].takeOver(t, dc, run, b, live)
	subs[1].takeOver(t, dc, run, a, live)

	// C frozen: the claims wait for its answer at most ClaimWait (2 s).
	skip := &skipped{}
	skip.from = pc.next()
	pgid := dc.byID[c].cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGCONT) })
	stopAt := time.Now()
	if err := syscall.Kill(-pgid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	live[c] = false
	subs[0].takeOver(t, dc, run, a, live)
	subs[1].takeOver(t, dc, run, b, live)
	// The freeze lasts until A and B declare C dead in gossip, so that C
	// comes back to peers that dropped its links and routes.
	eventually(t, 20*time.Second, func() error {
		if s := gossipState(t, dc, []string{a, b}, c); s != "dead" && s != "left" {
			return fmt.Errorf("A and B see the frozen %s as %q in gossip", c, s)
		}
		return nil
	})
	if err := syscall.Kill(-pgid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	contAt := time.Now()
	live[c] = true
	dc.waitLinked(t, c, dc.ids, 20*time.Second)
	// C could not learn of the moves while frozen, and after SIGCONT its
	// peers may still declare it dead (their suspicion of it runs on),
	// dropping its links and routes for a moment: what C publishes from
	// the freeze until it is killed below is not checked (forwards it
	// kept for a session's old node are dropped there, as README says of
	// a node the claim could not reach, and a peer it sees as dead counts
	// as done for its PUBACKs). Publishers on A and B are checked
	// throughout; C's messages before the freeze too.
	waitFreshAll(t, run, subs, contAt, live)
	t.Logf("C frozen for %v; its messages reach the moved sessions again %v after SIGCONT", contAt.Sub(stopAt).Round(time.Millisecond),
		time.Since(contAt).Round(time.Millisecond))

	// Takeovers after C is back.
	subs[0].takeOver(t, dc, run, b, live)
	subs[1].takeOver(t, dc, run, a, live)

	// C killed: one takeover at once (C's link is gone or about to be),
	// one once gossip declares C dead.
	skip.to = pc.next()
	killAt := time.Now()
	_ = dc.byID[c].stop(syscall.SIGKILL)
	live[c] = false
	subs[0].takeOver(t, dc, run, a, live)
	eventually(t, 20*time.Second, func() error {
		if s := gossipState(t, dc, []string{a, b}, c); s != "dead" && s != "left" {
			return fmt.Errorf("A and B see %s as %q in gossip", c, s)
		}
		return nil
	})
	t.Logf("C SIGKILLed: dead in gossip on A and B after %v", time.Since(killAt).Round(time.Millisecond))
	subs[1].takeOver(t, dc, run, b, live)
	waitFreshAll(t, run, subs, time.Now(), live)

	run.stop(t)
	checkSessionHistory(t, run, subs, func(p *loadPub, seq int, r pubRec) bool {
		switch {
		case p != pc:
			return true
		case skip.has(seq):
			return false
		}
		// The dead node's queued forwards died with it: its messages
		// count when every peer acknowledged them.
		return fullyAcked(r)
	})
	// What the skipped window cost (not a check: see above).
	recs, _ := pc.records()
	for _, s := range subs {
		got := map[string]bool{}
		for _, r := range s.history() {
			got[r.payload] = true
		}
		acked, lost := 0, 0
		for seq := skip.from; seq < skip.to && seq <= len(recs); seq++ {
			if recs[seq-1].acked() {
				acked++
				if !got[fmt.Sprintf("%s/%d", pc.id, seq)] {
					lost++
				}
			}
		}
		t.Logf("%s: of %s's %d messages acknowledged from the freeze until its kill (#%d-#%d), %d not received",
			s.id, pc.id, acked, skip.from, skip.to-1, lost)
	}
}

// skipped is a range [from, to) of a publisher's sequence numbers.
type skipped struct{ from, to int }

func (s *skipped) has(seq int) bool { return seq >= s.from && seq < s.to }

// next returns the sequence number p publishes next.
func (p *loadPub) next() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.recs) + 1
}

// faultSub is a persistent subscriber whose connections follow one
// another, on the nodes it is taken over to.
type faultSub struct {
	id    string
	v5    bool
	conns []*faultConn
}

// faultConn is one connection of a faultSub.
type faultConn struct {
	*meshClient
	connackAt time.Time
	lost      chan struct{} // 3.1.1: closed when the connection is lost
}

func (s *faultSub) now() *faultConn { return s.conns[len(s.conns)-1] }

// connect connects s on node id, resuming its session after the first
// time. For MQTT 5 it returns whether the server said the session was
// present; 3.1.1's flag is not exposed by paho.mqtt.golang's client once
// connected, and its resumed session shows by the messages arriving (the
// client does not subscribe again).
func (s *faultSub) connect(t *testing.T, dc *dataCluster, id string) (present bool) {
	t.Helper()
	first := len(s.conns) == 0
	c := &faultConn{meshClient: &meshClient{id: s.id, node: id, in: &inbox{}}, lost: make(chan struct{})}
	if s.v5 {
		c.v5 = dialV5(t, dc.addr(id), s.id, keepAlive(120), recordV5(c.in), sessionExpiry(3600), cleanStart(first))
		present = c.v5.connack.SessionPresent
	} else {
		var once sync.Once
		c.v3 = dialV311(t, dc.addr(id), s.id, recordV3(c.in), func(o *mqttOptions) {
			o.SetCleanSession(false)
			o.SetConnectionLostHandler(func(mqtt.Client, error) { once.Do(func() { close(c.lost) }) })
		})
	}
	c.connackAt = time.Now()
	s.conns = append(s.conns, c)
	return present
}

// takeOver connects s on node id while its connection elsewhere is live,
// then checks the takeover: session present; the old connection told
// 0x8E (3.1.1: closed) and given no message published after the new
// CONNACK; the broker counting one connection and one session per client
// on the live nodes; and messages of every live node's publisher
// published after the CONNACK reaching the new connection.
func (s *faultSub) takeOver(t *testing.T, dc *dataCluster, run *loadRun, id string, live map[string]bool) {
	t.Helper()
	old := s.now()
	start := time.Now()
	if !s.connect(t, dc, id) && s.v5 {
		t.Fatalf("%s: session present not set on %s", s.id, id)
	}
	nu := s.now()
	if s.v5 {
		if d := old.v5.expectServerDisconnect(); d.ReasonCode != 0x8E {
			t.Fatalf("%s: the old connection on %s was told 0x%02x, want 0x8E", s.id, old.node, d.ReasonCode)
		}
	} else {
		select {
		case <-old.lost:
		case <-time.After(waitFor):
			t.Fatalf("%s: the old 3.1.1 connection on %s was not closed", s.id, old.node)
		}
	}
	t.Logf("%s taken over from %s to %s: CONNECT at %s, CONNACK after %v", s.id, old.node, id, start.Format("15:04:05.000"),
		nu.connackAt.Sub(start).Round(time.Millisecond))
	want := 2 // the subscribers
	for _, p := range run.pubs {
		if live[p.node] {
			want++
		}
	}
	eventually(t, waitFor, func() error {
		var conns int64
		var sessions int
		for _, n := range dc.ids {
			if !live[n] {
				continue
			}
			c, ss, err := tenantCounts(dc.byID[n].admin, dc.tenant)
			if err != nil {
				return err
			}
			conns += c
			sessions += ss
		}
		if conns != int64(want) || sessions != want {
			return fmt.Errorf("after %s's takeover: %d connections and %d sessions on the live nodes, want %d each", s.id, conns, sessions, want)
		}
		return nil
	})
	waitFresh(t, run, s, nu.connackAt, live)
	for _, r := range old.in.all() {
		if p, seq, ok := run.parse(r.payload); ok && p.record(seq).sentAt.After(nu.connackAt) {
			t.Fatalf("%s: the old connection on %s got %s, published after the takeover", s.id, old.node, r.payload)
		}
	}
}

// history returns what s's connections received, connection after
// connection (each closed before the next one's CONNACK).
func (s *faultSub) history() []receipt {
	var out []receipt
	for _, c := range s.conns {
		out = append(out, c.in.all()...)
	}
	return out
}

// waitFresh waits until s has received a message of every publisher on a
// live node published after since, and returns the first such sequence
// number received of each.
func waitFresh(t *testing.T, run *loadRun, s *faultSub, since time.Time, live map[string]bool) map[*loadPub]int {
	t.Helper()
	first := map[*loadPub]int{}
	eventually(t, 20*time.Second, func() error {
		for _, r := range s.history() {
			if p, seq, ok := run.parse(r.payload); ok && p.record(seq).sentAt.After(since) {
				if _, seen := first[p]; !seen {
					first[p] = seq
				}
			}
		}
		for _, p := range run.pubs {
			if _, ok := first[p]; live[p.node] && !ok {
				return fmt.Errorf("%s: nothing of %s published since %s", s.id, p.id, since.Format("15:04:05.000"))
			}
		}
		return nil
	})
	return first
}

// waitFreshAll is waitFresh for every subscriber; it returns, per
// publisher, the highest of their first sequence numbers.
func waitFreshAll(t *testing.T, run *loadRun, subs []*faultSub, since time.Time, live map[string]bool) map[*loadPub]int {
	t.Helper()
	out := map[*loadPub]int{}
	for _, s := range subs {
		for p, seq := range waitFresh(t, run, s, since, live) {
			out[p] = max(out[p], seq)
		}
	}
	return out
}

// checkSessionHistory waits until every subscriber has every acknowledged
// message must selects, then requires each publisher's messages in order
// of first receipt.
func checkSessionHistory(t *testing.T, run *loadRun, subs []*faultSub, must func(p *loadPub, seq int, r pubRec) bool) {
	t.Helper()
	var required, acked, sent int
	for _, p := range run.pubs {
		recs, _ := p.records()
		sent += len(recs)
		for i, r := range recs {
			if r.acked() {
				acked++
				if must(p, i+1, r) {
					required++
				}
			}
		}
	}
	for _, s := range subs {
		eventually(t, 10*time.Second, func() error {
			got := map[string]bool{}
			for _, r := range s.history() {
				got[r.payload] = true
			}
			var miss []string
			for _, p := range run.pubs {
				recs, _ := p.records()
				for i, r := range recs {
					key := fmt.Sprintf("%s/%d", p.id, i+1)
					if r.acked() && must(p, i+1, r) && !got[key] {
						miss = append(miss, fmt.Sprintf("%s (sent %s, acknowledged %s)", key, r.sentAt.Format("15:04:05.000"), r.ackedAt.Format("15:04:05.000")))
					}
				}
			}
			if len(miss) > 0 {
				return fmt.Errorf("%s: %d acknowledged messages missing, e.g. %s", s.id, len(miss), strings.Join(head(miss, 10), ", "))
			}
			return nil
		})
		last := map[*loadPub]int{}
		seen := map[string]bool{}
		dups := 0
		for _, r := range s.history() {
			p, seq, ok := run.parse(r.payload)
			switch {
			case !ok:
				t.Errorf("%s: unexpected message %s %q", s.id, r.topic, r.payload)
			case seen[r.payload]:
				dups++ // QoS 1 allows it
			case seq < last[p]:
				t.Errorf("%s: %s first received after %s/%d", s.id, r.payload, p.id, last[p])
			default:
				last[p] = seq
			}
			seen[r.payload] = true
		}
		t.Logf("%s: %d connections, %d messages received, %d repeats", s.id, len(s.conns), len(s.history()), dups)
	}
	t.Logf("history: %d messages sent, %d acknowledged, %d required at each subscriber", sent, acked, required)
}

// tenantCounts returns the connections and sessions a node counts for a
// tenant (its own figures, GET /v1/local/tenants/NAME/status).
func tenantCounts(admin, name string) (int64, int, error) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + admin + "/v1/local/tenants/" + url.PathEscape(name) + "/status")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("local status of %s at %s: %s", name, admin, resp.Status)
	}
	var st struct {
		Connections int64 `json:"connections"`
		Sessions    int   `json:"sessions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, 0, fmt.Errorf("local status of %s at %s: %w", name, admin, err)
	}
	return st.Connections, st.Sessions, nil
}
