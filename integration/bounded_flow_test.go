package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// Bounded outbound flow: what subscribers that read slowly, or not at all,
// may cost the broker and the publishers.

// Item 3: retained messages for a subscriber that does not read wait in its
// session queue, not copied into its outbound buffer: 8 such subscribers
// to 50 retained messages of 1 MiB each cost the heap well under
// 8 × 12 MiB (MaxOutboundBytes is 4 MiB), where a copy of every message
// per subscriber would be 400 MiB.
//
// Not parallel: it measures the process's heap.
func TestRetainedBacklogNotCopiedPerSubscriber(t *testing.T) {
	n := startBroker(t, broker.Config{MaxPacketSize: 2 << 20})
	payload := make([]byte, 1<<20)
	for i := range 50 {
		if err := n.b.Publish(fmt.Sprint("ret/", i), payload, broker.PublishOptions{QoS: 1, Retain: true}); err != nil {
			t.Fatalf("publish ret/%d: %v", i, err)
		}
	}
	if got := n.b.Stats().Retained; got != 50 {
		t.Fatalf("%d retained messages stored, want 50", got)
	}
	before := liveHeap()

	const subs = 8
	var hoarders []*rawClient
	for i := range subs {
		r := dialSmallReceiveBuffer(t, n, packet.V311)
		r.send(&packet.Connect{ClientID: fmt.Sprint("hoarder-", i), CleanStart: true, KeepAlive: 30})
		expectPacket[*packet.Connack](r)
		hoarders = append(hoarders, r)
	}
	for i, r := range hoarders {
		r.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "ret/#", QoS: 1}}})
		r.send(&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: fmt.Sprint("done/", i), QoS: 1}}})
	}
	// A connection's packets are handled in order: its second filter is
	// in once the retained messages of its first have been dealt with.
	handled := within(waitFor, func() bool { return n.b.Stats().Subscriptions == 2*subs })
	if grew := heapGrowth(before); grew > subs*12<<20 {
		t.Fatalf("heap grew by %d MiB for %d subscribers that do not read 50 retained messages of 1 MiB, want < %d MiB",
			grew>>20, subs, subs*12)
	}
	if !handled {
		t.Fatalf("not within %s: %d subscriptions, want %d", waitFor, n.b.Stats().Subscriptions, 2*subs)
	}
}

// Item 4: acknowledgements held back for a full subscriber queue count
// against the publisher's Receive Maximum: a v5 publisher with more than
// ReceiveMaximum unacknowledged QoS 1 PUBLISH packets gets DISCONNECT 0x93
// Receive Maximum exceeded.
func TestHeldBackAcksCountAgainstReceiveMaximum(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{ReceiveMaximum: 10, MaxQueuedMessages: 5, SlowConsumerWait: 30 * time.Second})
	sub := connectRawV5(t, n, "stuck", withReceiveMaximum(1))
	subscribeRaw(t, sub, 1, 0, packet.Subscription{Filter: "t/#", QoS: 1})
	pub := connectRawV5(t, n, "eager", packet.Properties{})

	var burst []byte
	for i := 1; i <= 50; i++ {
		burst = (&packet.Publish{Topic: "t/x", QoS: 1, PacketID: uint16(i), Payload: []byte(strconv.Itoa(i))}).AppendTo(burst, packet.V5)
	}
	pub.write(burst)
	expectPacket[*packet.Publish](sub) // its one message in flight, never acknowledged

	deadline := time.Now().Add(5 * time.Second)
	for acks := 0; ; acks++ {
		p, err := pub.read(time.Until(deadline))
		if err != nil {
			t.Fatalf("after %d PUBACKs, no DISCONNECT within 5s: %v", acks, err)
		}
		if d, ok := p.(*packet.Disconnect); ok {
			if d.ReasonCode != packet.ReceiveMaximumExceeded {
				t.Fatalf("after %d PUBACKs: DISCONNECT %#02x (%v), want 0x93", acks, byte(d.ReasonCode), d.ReasonCode)
			}
			break
		}
		if a, ok := p.(*packet.Ack); !ok || a.Type != packet.PUBACK {
			t.Fatalf("after %d PUBACKs: got %s, want PUBACK or DISCONNECT", acks, describe(p))
		}
	}
	pub.expectClosed()
}

// Item 5: a subscriber that never acknowledges holds its publishers back
// for SlowConsumerWait at most; then it is a slow consumer, the publisher
// goes on and what does not fit in the slow consumer's queue is dropped
// and counted.
func TestSlowConsumerDoesNotStallPublisher(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{MaxQueuedMessages: 5, SlowConsumerWait: 500 * time.Millisecond})
	slow := connectRawV5(t, n, "slow", withReceiveMaximum(2))
	subscribeRaw(t, slow, 1, 0, packet.Subscription{Filter: "#", QoS: 1})
	discardReads(t, slow) // reads everything, acknowledges nothing

	publishAcked(t, n, dialV5(t, n, "pub"), "a/b", 40, 15*time.Second)
	if dropped := n.b.Stats().MessagesDropped; dropped == 0 {
		t.Fatal("no message dropped for the slow consumer: its queue held 40 messages beyond MaxQueuedMessages 5")
	}
}

// Item 5: beside that slow consumer, a subscriber that acknowledges gets
// every message, in order.
func TestSlowConsumerDoesNotStarveOthers(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{MaxQueuedMessages: 5, SlowConsumerWait: 500 * time.Millisecond})
	slow := connectRawV5(t, n, "slow", withReceiveMaximum(2))
	subscribeRaw(t, slow, 1, 0, packet.Subscription{Filter: "#", QoS: 1})
	discardReads(t, slow)
	good := dialV5(t, n, "good")
	good.subscribe("a/#", 1)

	publishAcked(t, n, dialV5(t, n, "pub"), "a/b", 40, 15*time.Second)
	for i := range 40 {
		if m := expectMessage(t, good.msgs, waitFor); m.Payload != strconv.Itoa(i) {
			t.Fatalf("message %d: got %v, want payload %q", i, m, strconv.Itoa(i))
		}
	}
}

// Item 8: a message for sessions subscribed with overlapping filters (q/#
// and q/+, merged into one delivery each) costs about as much as one for
// sessions with a single filter: routing stays linear in the matches.
// 3,000 offline sessions per broker; the fastest of 20 publishes each
// (the least disturbed by other work on the machine).
func TestOverlappingFiltersFanOutLinear(t *testing.T) {
	t.Parallel()
	const sessions = 3000
	overlap := startBroker(t, broker.Config{MaxQueuedMessages: 100})
	plain := startBroker(t, broker.Config{MaxQueuedMessages: 100})
	addOfflineSessions(t, overlap, sessions, "q/#", "q/+")
	addOfflineSessions(t, plain, sessions, "q/#")

	var tOverlap, tPlain []time.Duration
	for range 20 { // interleaved, so both see the same machine load
		tOverlap = append(tOverlap, timedPublish(t, overlap, "q/x"))
		tPlain = append(tPlain, timedPublish(t, plain, "q/x"))
	}
	mo, mp := slices.Min(tOverlap), slices.Min(tPlain)
	if ratio := float64(mo) / float64(max(mp, time.Microsecond)); ratio >= 4 {
		t.Fatalf("fastest publish to %d sessions with overlapping filters %s, with one filter %s: ratio %.1f, want < 4",
			sessions, mo, mp, ratio)
	}
}

// ---------------------------------------------------------------- helpers

// within reports whether cond holds before d has passed, checking every
// 10 ms; for a test that measures the same thing either way.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// withReceiveMaximum returns CONNECT properties with Receive Maximum n.
func withReceiveMaximum(n uint16) packet.Properties {
	return packet.Properties{Present: 1 << packet.PropReceiveMaximum, ReceiveMaximum: n}
}

// discardReads reads and discards everything r receives until the test
// ends.
func discardReads(t *testing.T, r *rawClient) {
	_ = r.conn.SetReadDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(io.Discard, r.conn)
	}()
	t.Cleanup(func() {
		_ = r.conn.Close()
		<-done
	})
}

// publishAcked publishes count QoS 1 messages (payloads "0", "1", ...) to
// topic one after another, each after the previous one's PUBACK, and fails
// unless all are acknowledged with success within d.
func publishAcked(t *testing.T, n *node, c *v5Client, topic string, count int, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	for i := range count {
		r, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(strconv.Itoa(i))})
		if r == nil {
			t.Fatalf("no PUBACK %d of %d (%s after the first PUBLISH, %d messages dropped): %v",
				i+1, count, time.Since(start).Round(time.Millisecond), n.b.Stats().MessagesDropped, err)
		}
		if r.ReasonCode >= 0x80 {
			t.Fatalf("PUBACK %d of %d: reason %#02x", i+1, count, r.ReasonCode)
		}
	}
}

// dialSmallReceiveBuffer dials n with a 4 KiB socket receive buffer, so
// that little of what the broker sends fits in the kernel.
func dialSmallReceiveBuffer(t *testing.T, n *node, version byte) *rawClient {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		if cerr := rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	conn, err := d.Dial("tcp", n.addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawClient{t: t, conn: conn, version: version}
}

// addOfflineSessions creates count persistent 3.1.1 sessions on n, each
// subscribed at QoS 1 to filters and then disconnected. At most a few
// connections are open at a time.
func addOfflineSessions(t *testing.T, n *node, count int, filters ...string) {
	t.Helper()
	const workers = 8
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < count; i += workers {
				if err := offlineSession(n.addr, fmt.Sprint("offline-", i), filters); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	eventually(t, waitFor, func() error {
		st := n.b.Stats()
		if st.ClientsConnected != 0 || st.Sessions != count || st.Subscriptions != count*len(filters) {
			return fmt.Errorf("%d connected, %d sessions, %d subscriptions; want 0, %d, %d",
				st.ClientsConnected, st.Sessions, st.Subscriptions, count, count*len(filters))
		}
		return nil
	})
}

// offlineSession connects clientID with Clean Session 0, subscribes to
// filters at QoS 1 and disconnects.
func offlineSession(addr, clientID string, filters []string) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	sp := packet.Subscribe{PacketID: 1}
	for _, f := range filters {
		sp.Subscriptions = append(sp.Subscriptions, packet.Subscription{Filter: f, QoS: 1})
	}
	b := (&packet.Connect{ClientID: clientID, KeepAlive: 30}).AppendTo(nil, packet.V311)
	if _, err := conn.Write(sp.AppendTo(b, packet.V311)); err != nil {
		return fmt.Errorf("%s: %w", clientID, err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	for _, want := range []packet.Type{packet.CONNACK, packet.SUBACK} {
		p, err := packet.ReadPacket(conn, packet.V311, 0)
		if err != nil {
			return fmt.Errorf("%s: reading packet type %d: %w", clientID, want, err)
		}
		if p.PacketType() != want {
			return fmt.Errorf("%s: got %s, want packet type %d", clientID, describe(p), want)
		}
	}
	_, err = conn.Write((&packet.Disconnect{}).AppendTo(nil, packet.V311))
	return err
}

// timedPublish publishes one QoS 1 message in-process and returns how long
// routing it took.
func timedPublish(t *testing.T, n *node, topic string) time.Duration {
	t.Helper()
	start := time.Now()
	if err := n.b.Publish(topic, []byte("m"), broker.PublishOptions{QoS: 1}); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
	return time.Since(start)
}
