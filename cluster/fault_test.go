package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session"
	"github.com/eclipse/paho.golang/paho/session/state"

	"github.com/jmqx/jmqx/internal/testwait"
)

// faultMode is what linkFaults does to a node's link connections.
type faultMode int

const (
	healthy faultMode = iota
	// cut: every link fails; open connections are closed, new ones fail.
	cut
	// stuck: writes block until the mode changes or the connection is
	// closed (deadlines are not honoured); reads go on.
	stuck
)

var errCut = errors.New("fault: link cut")

// linkFaults injects faults into every link connection one node dials
// (Config.Dial) or accepts (Config.Listen), on command.
type linkFaults struct {
	mu     sync.Mutex
	mode   faultMode
	change chan struct{} // closed, and replaced, when mode changes
	conns  map[*faultConn]struct{}
}

// injectFaults makes cfg's links go through a new linkFaults.
func injectFaults(cfg *Config) *linkFaults {
	f := &linkFaults{change: make(chan struct{}), conns: map[*faultConn]struct{}{}}
	d := net.Dialer{Timeout: 5 * time.Second}
	cfg.Dial = func(addr string) (net.Conn, error) {
		if m, _ := f.state(); m == cut {
			return nil, errCut
		}
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		return f.wrap(conn), nil
	}
	cfg.Listen = func(ln net.Listener) net.Listener { return &faultListener{Listener: ln, f: f} }
	return f
}

// set changes the mode; cut closes every open connection.
func (f *linkFaults) set(m faultMode) {
	f.mu.Lock()
	f.mode = m
	close(f.change)
	f.change = make(chan struct{})
	var open []*faultConn
	if m == cut {
		for c := range f.conns {
			open = append(open, c)
		}
	}
	f.mu.Unlock()
	for _, c := range open {
		_ = c.Conn.Close() // the owner's next read or write fails
	}
}

func (f *linkFaults) state() (faultMode, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mode, f.change
}

func (f *linkFaults) wrap(conn net.Conn) *faultConn {
	c := &faultConn{Conn: conn, f: f, closed: make(chan struct{})}
	f.mu.Lock()
	f.conns[c] = struct{}{}
	f.mu.Unlock()
	return c
}

// faultListener hands out accepted connections wrapped.
type faultListener struct {
	net.Listener
	f *linkFaults
}

func (l *faultListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.f.wrap(conn), nil
}

// faultConn is one link connection under linkFaults.
type faultConn struct {
	net.Conn
	f      *linkFaults
	closed chan struct{}
	once   sync.Once
}

func (c *faultConn) Read(p []byte) (int, error) {
	if m, _ := c.f.state(); m == cut {
		return 0, errCut
	}
	return c.Conn.Read(p)
}

func (c *faultConn) Write(p []byte) (int, error) {
	for {
		m, change := c.f.state()
		switch m {
		case cut:
			return 0, errCut
		case stuck:
			select {
			case <-change:
				continue
			case <-c.closed:
				return 0, net.ErrClosed
			}
		}
		return c.Conn.Write(p)
	}
}

func (c *faultConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.f.mu.Lock()
		delete(c.f.conns, c)
		c.f.mu.Unlock()
	})
	return c.Conn.Close()
}

// ackSession is paho's in-memory session recording which PUBLISH packets
// the server acknowledged with success, by payload (a sequence number).
type ackSession struct {
	*state.State
	mu     sync.Mutex
	acked  []int
	failed []string
}

// AddToSession implements session.SessionManager: it passes the packet on
// and watches its answer.
func (s *ackSession) AddToSession(ctx context.Context, p session.Packet, resp chan<- packets.ControlPacket) error {
	pub, ok := p.(*packets.Publish)
	if !ok {
		return s.State.AddToSession(ctx, p, resp)
	}
	answer := make(chan packets.ControlPacket, 1)
	if err := s.State.AddToSession(ctx, p, answer); err != nil {
		return err
	}
	go func() {
		a := <-answer
		s.mu.Lock()
		seq, err := strconv.Atoi(string(pub.Payload))
		if a.Type == packets.PUBACK && a.Content.(*packets.Puback).ReasonCode < 0x80 && err == nil {
			s.acked = append(s.acked, seq)
		} else {
			s.failed = append(s.failed, fmt.Sprintf("%s: %v", pub.Payload, a))
		}
		s.mu.Unlock()
		resp <- a // buffered by paho
	}()
	return nil
}

// result returns the sequence numbers acknowledged and the publishes
// that failed.
func (s *ackSession) result() (acked []int, failed []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.acked...), append([]string(nil), s.failed...)
}

// publisher is an MQTT 5 client that publishes without waiting for each
// PUBACK (paho's AsyncSend: up to the server's Receive Maximum in flight,
// sent in order) and records the PUBACKs.
type publisher struct {
	*paho.Client
	s *ackSession
}

func dialPublisher(t *testing.T, x *testNode, id string) *publisher {
	t.Helper()
	conn, err := net.Dial("tcp", x.mqtt)
	if err != nil {
		t.Fatal(err)
	}
	p := &publisher{s: &ackSession{State: state.NewInMemory()}}
	p.Client = paho.NewClient(paho.ClientConfig{Conn: conn, PacketTimeout: waitFor, Session: p.s})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := p.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatalf("connect %s to %s: %v", id, x.name, err)
	}
	t.Cleanup(func() {
		select {
		case <-p.Done():
		default:
			_ = p.Disconnect(&paho.Disconnect{})
		}
		<-p.Done()
		_ = p.s.Close()
	})
	return p
}

// publishSeq sends payloads 0..n-1 to topic at QoS 1, in order, pausing
// before seq pause until gate is closed.
func (p *publisher) publishSeq(topic string, n, pause int, gate <-chan struct{}) error {
	for seq := range n {
		if seq == pause {
			<-gate
		}
		_, err := p.PublishWithOptions(context.Background(),
			&paho.Publish{Topic: topic, QoS: 1, Payload: []byte(strconv.Itoa(seq))},
			paho.PublishOptions{Method: paho.PublishMethod_AsyncSend})
		if err != nil {
			return fmt.Errorf("publish %s #%d: %w", topic, seq, err)
		}
	}
	return nil
}

// history is what one subscriber received: per topic (one publisher
// each), the sequence numbers in arrival order.
type history map[string][]int

// drain moves what c has received into h.
func (h history) drain(t *testing.T, c *client) {
	t.Helper()
	for {
		select {
		case m := <-c.msgs:
			seq, err := strconv.Atoi(string(m.Payload))
			if err != nil {
				t.Fatalf("payload %q", m.Payload)
			}
			h[m.Topic] = append(h[m.Topic], seq)
		default:
			return
		}
	}
}

// missing returns how many of the acknowledged messages (sequence
// numbers per topic) h lacks.
func (h history) missing(acked map[string][]int) int {
	n := 0
	for topic, seqs := range acked {
		seen := map[int]bool{}
		for _, s := range h[topic] {
			seen[s] = true
		}
		for _, s := range seqs {
			if !seen[s] {
				n++
			}
		}
	}
	return n
}

// check requires every acknowledged message, and each publisher's
// messages in order: a sequence number may go back only to repeat one
// already received (a QoS 1 duplicate, counted).
func (h history) check(t *testing.T, who string, acked map[string][]int) (dups int) {
	t.Helper()
	for topic, seqs := range h {
		seen := map[int]bool{}
		last := -1
		for _, s := range seqs {
			switch {
			case seen[s]:
				dups++
			case s < last:
				t.Errorf("%s: from %s #%d after #%d: out of order", who, topic, s, last)
			default:
				last = s
			}
			seen[s] = true
		}
	}
	if n := h.missing(acked); n > 0 {
		t.Errorf("%s: %d acknowledged messages missing", who, n)
	}
	return dups
}

// peerStats returns x's figures for tenant "t" with peer.
func peerStats(x *testNode, peer string) PeerStats {
	st, _ := x.c.Stats("t")
	return st.Peers[peer]
}

// load is one publisher per node sending numbered QoS 1 messages on
// "load/<node>", and one subscriber per node on "load/#".
type load struct {
	t     *testing.T
	nodes []*testNode
	subs  []*client
	pubs  []*publisher
	gate  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
	errs  chan error
}

// startLoad subscribes, then starts the publishers: each sends n messages,
// pausing before message pause until resume.
func startLoad(t *testing.T, nodes []*testNode, n, pause int) *load {
	t.Helper()
	l := &load{t: t, nodes: nodes, gate: make(chan struct{}), errs: make(chan error, len(nodes))}
	for _, x := range nodes {
		s := dial(t, x, "sub-"+x.name)
		s.sub(t, "load/#", 1)
		l.subs = append(l.subs, s)
	}
	for _, x := range nodes {
		l.pubs = append(l.pubs, dialPublisher(t, x, "pub-"+x.name))
	}
	for i, p := range l.pubs {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.errs <- p.publishSeq("load/"+nodes[i].name, n, pause, l.gate)
		}()
	}
	t.Cleanup(func() { l.resume(); l.wg.Wait() })
	return l
}

// resume lets the publishers go on past the pause.
func (l *load) resume() { l.once.Do(func() { close(l.gate) }) }

// waitAcked waits until every publisher has n PUBACKs.
func (l *load) waitAcked(n int) {
	l.t.Helper()
	testwait.Until(l.t, waitFor, func() error {
		for i, p := range l.pubs {
			if acked, failed := p.s.result(); len(failed) > 0 {
				l.t.Fatalf("publisher on %s: %v", l.nodes[i].name, failed)
			} else if len(acked) < n {
				return fmt.Errorf("publisher on %s: %d acknowledged, want %d", l.nodes[i].name, len(acked), n)
			}
		}
		return nil
	})
}

// finish waits for the publishers to have sent everything and had n
// PUBACKs each; it returns the acknowledged sequence numbers per topic.
func (l *load) finish(n int) map[string][]int {
	l.t.Helper()
	l.waitAcked(n)
	l.wg.Wait()
	acked := map[string][]int{}
	for i, p := range l.pubs {
		if err := <-l.errs; err != nil {
			l.t.Fatal(err)
		}
		acked["load/"+l.nodes[i].name], _ = p.s.result()
	}
	return acked
}

// received waits until every subscriber has every acknowledged message and
// returns what each received.
func (l *load) received(acked map[string][]int) []history {
	l.t.Helper()
	hists := make([]history, len(l.subs))
	for i, s := range l.subs {
		hists[i] = history{}
		testwait.Until(l.t, waitFor, func() error {
			hists[i].drain(l.t, s)
			if n := hists[i].missing(acked); n > 0 {
				return fmt.Errorf("the subscriber on %s misses %d messages", l.nodes[i].name, n)
			}
			return nil
		})
	}
	return hists
}

// forwardedIn returns how many forwards x delivered from every peer.
func forwardedIn(x *testNode) int64 {
	st, _ := x.c.Stats("t")
	var n int64
	for _, ps := range st.Peers {
		n += ps.ForwardedIn
	}
	return n
}

// TestCutLinksKeepAcknowledgedMessages: while one publisher per node sends
// numbered QoS 1 messages to subscribers on every node, one node's links
// hang (its writes block) and are then cut for a second. Once healed,
// every message a publisher had a PUBACK for reached every subscriber,
// each publisher's messages in order; the forwards the hung node had
// delivered but not acknowledged were sent again and dropped as
// duplicates, and every forward was delivered exactly once.
func TestCutLinksKeepAcknowledgedMessages(t *testing.T) {
	const perPublisher, pause = 300, 100
	faults := map[string]*linkFaults{}
	_, nodes := three(t, func(cfg *Config) {
		faults[cfg.Name] = injectFaults(cfg)
		cfg.ForwardWait = 500 * time.Millisecond
	})
	victim := nodes[1]
	l := startLoad(t, nodes, perPublisher, pause)
	l.waitAcked(pause)

	// The victim's writes hang while forwards still reach it; then every
	// link of it is cut for a second; then it heals.
	before := forwardedIn(victim)
	faults[victim.name].set(stuck)
	l.resume()
	testwait.Until(t, waitFor, func() error {
		if forwardedIn(victim) == before {
			return errors.New("no forward delivered to the hung node")
		}
		return nil
	})
	faults[victim.name].set(cut)
	testwait.Until(t, waitFor, func() error { // the cut holds until every peer has lost its link to the victim
		for _, x := range nodes {
			for _, m := range x.c.Members() {
				if x != victim && m.Name == victim.name && m.Link == "up" {
					return fmt.Errorf("%s's link to %s is still up", x.name, victim.name)
				}
			}
		}
		return nil
	})
	faults[victim.name].set(healthy)

	acked := l.finish(perPublisher)
	dups := 0
	for i, h := range l.received(acked) {
		dups += h.check(t, "subscriber on "+nodes[i].name, acked)
	}
	t.Logf("%d QoS 1 duplicates received by the subscribers", dups)
	checkExactlyOnce(t, nodes)
	resent := peerStats(victim, "n1").Duplicates + peerStats(victim, "n3").Duplicates
	if resent == 0 {
		t.Error("the hung node dropped no forward sent again: the unacknowledged ones were not resent")
	}
	t.Logf("%s dropped %d forwards sent again; %d link errors on it", victim.name, resent, victim.c.NodeStats().LinkErrors)
}

// checkExactlyOnce waits until no node awaits an acknowledgement, then
// requires each node to have delivered exactly the forwards each peer
// queued for it.
func checkExactlyOnce(t *testing.T, nodes []*testNode) {
	t.Helper()
	testwait.Until(t, waitFor, func() error {
		for _, x := range nodes {
			st, _ := x.c.Stats("t")
			for peer, ps := range st.Peers {
				if ps.AwaitingAck != 0 {
					return fmt.Errorf("%s awaits %d acknowledgements from %s", x.name, ps.AwaitingAck, peer)
				}
			}
		}
		return nil
	})
	for _, from := range nodes {
		for _, to := range nodes {
			if from == to {
				continue
			}
			out, in := peerStats(from, to.name), peerStats(to, from.name)
			if out.Dropped != 0 || out.ForwardedOut != in.ForwardedIn {
				t.Errorf("%s queued %d forwards for %s (%d dropped), which delivered %d",
					from.name, out.ForwardedOut, to.name, out.Dropped, in.ForwardedIn)
			}
		}
	}
}

// TestStuckPeerDoesNotHoldPublishers: a node whose link writes hang never
// acknowledges forwards; a publisher elsewhere gets its PUBACK once
// ForwardWait has passed (counted as an ack timeout), the other nodes'
// subscribers get the messages meanwhile, and the hung node's subscriber
// gets them all, in order, once it recovers.
func TestStuckPeerDoesNotHoldPublishers(t *testing.T) {
	const forwardWait = 300 * time.Millisecond
	faults := map[string]*linkFaults{}
	_, nodes := three(t, func(cfg *Config) {
		faults[cfg.Name] = injectFaults(cfg)
		cfg.ForwardWait = forwardWait
	})
	slow := dial(t, nodes[2], "slow")
	slow.sub(t, "stuck/#", 1)
	fast := dial(t, nodes[1], "fast")
	fast.sub(t, "stuck/#", 1)
	pub := dial(t, nodes[0], "pub")

	faults["n3"].set(stuck)
	t.Cleanup(func() { faults["n3"].set(healthy) })
	var longest time.Duration
	for i := range 5 {
		start := time.Now()
		pub.pub(t, "stuck/x", strconv.Itoa(i), 1)
		d := time.Since(start)
		if d < forwardWait || d > forwardWait+3*time.Second {
			t.Errorf("publish %d: PUBACK after %s, want between ForwardWait (%s) and %s", i, d, forwardWait, forwardWait+3*time.Second)
		}
		longest = max(longest, d)
		if m := fast.expect(t); string(m.Payload) != strconv.Itoa(i) {
			t.Fatalf("the subscriber on n2 got %q, want %d", m.Payload, i)
		}
	}
	t.Logf("with n3 stuck, the longest publish→PUBACK took %s (ForwardWait %s)", longest, forwardWait)
	if n := peerStats(nodes[0], "n3").AckTimeouts; n == 0 {
		t.Error("no ack timeout counted for n3")
	}

	faults["n3"].set(healthy)
	var got []string
	for range 5 {
		got = append(got, string(slow.expect(t).Payload))
	}
	if s := strings.Join(got, ","); s != "0,1,2,3,4" {
		t.Errorf("the subscriber on n3 got %s after recovering, want 0,1,2,3,4", s)
	}
	checkExactlyOnce(t, nodes)
}

// TestResentForwardsAreAcknowledged: a forward a node delivered but could
// not acknowledge before its links were cut is sent again, dropped as a
// duplicate and acknowledged, though nothing follows it.
func TestResentForwardsAreAcknowledged(t *testing.T) {
	faults := map[string]*linkFaults{}
	_, nodes := three(t, func(cfg *Config) {
		faults[cfg.Name] = injectFaults(cfg)
		cfg.ForwardWait = 300 * time.Millisecond
	})
	sub := dial(t, nodes[1], "sub")
	sub.sub(t, "again/#", 1)
	pub := dial(t, nodes[0], "pub")

	faults["n2"].set(stuck)
	pub.pub(t, "again/x", "once", 1) // acknowledged after ForwardWait
	if m := sub.expect(t); string(m.Payload) != "once" {
		t.Fatalf("got %q", m.Payload)
	}
	faults["n2"].set(cut)
	faults["n2"].set(healthy)
	checkExactlyOnce(t, nodes)
	if d := peerStats(nodes[1], "n1").Duplicates; d != 1 {
		t.Errorf("n2 dropped %d duplicates, want 1", d)
	}
}

// TestReconnectWhileTheOldLinkDrains: a peer that reconnects while this
// node still applies frames the old connection had buffered, then sends
// the unacknowledged forwards again, has each delivered once.
func TestReconnectWhileTheOldLinkDrains(t *testing.T) {
	const forwards = 2000 // about 36 KB: one read of the old link's buffer
	n := newFuzzNode(t)
	defer n.close(t)
	var wg sync.WaitGroup
	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
		wg.Wait()
	}()
	connect := func() (net.Conn, *bufio.Reader) {
		t.Helper()
		client, server := net.Pipe()
		clients = append(clients, client)
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.c.serveInbound(server)
		}()
		br := bufio.NewReader(client)
		typ, body, _, err := readFrame(br, nil, 1<<10)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := decodeChallenge(typ, body)
		if err != nil {
			t.Fatal(err)
		}
		h := hello{name: "p", epoch: 1, proto: protocolVersion, tenants: []string{"t"}, proof: proof(n.c.linkKey, ch.nonce, "p", 1)}
		if _, err := client.Write(h.frame()); err != nil {
			t.Fatal(err)
		}
		if typ, _, _, err := readFrame(br, nil, 1<<10); err != nil || typ != frameWelcome {
			t.Fatalf("frame %d, %v; want a welcome", typ, err)
		}
		return client, br
	}
	var batch []byte
	for id := range uint64(forwards) {
		batch = append(batch, forwardFrame(id+1, nil, "t", seedPublish("a/b", strconv.FormatUint(id, 10)))...)
	}
	old, _ := connect()
	if _, err := old.Write(batch); err != nil { // returns once read: being applied now
		t.Fatal(err)
	}
	again, br := connect()
	go func() { _, _ = again.Write(batch) }() // nothing acknowledged: all of it again
	_ = again.SetReadDeadline(time.Now().Add(waitFor))
	for {
		typ, body, _, err := readFrame(br, nil, 1<<10)
		if err != nil {
			t.Fatalf("waiting for the acknowledgement of forward %d: %v", forwards, err)
		}
		r := reader{b: body}
		if id := r.uint(); typ == frameForwardAck && id == forwards {
			break
		}
	}
	pc := n.c.tenant("t").counters("p")
	if in, dup := pc.inMsgs.Load(), pc.duplicates.Load(); in != forwards {
		t.Errorf("%d forwards delivered (%d dropped as duplicates), want %d", in, dup, forwards)
	}
}
