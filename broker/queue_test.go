package broker

import (
	"testing"

	"github.com/jmqx/jmqx/internal/packet"
)

func testMessage(topic string, size int) *message {
	return newMessage(&packet.Publish{Topic: topic, Payload: make([]byte, size), QoS: 1}, nil, timeZero)
}

func TestQueueKeepsOrderAcrossRequeue(t *testing.T) {
	br, err := New(Config{SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	s := newSession(br, "q")
	for _, topic := range []string{"a", "b", "c"} {
		m := testMessage(topic, 10)
		if s.hold(m) != dropNone {
			t.Fatal("hold refused")
		}
		s.push(queuedMsg{m: m, qos: 1})
	}
	first, _ := s.dequeue()
	s.requeueFront(first) // could not be sent: it goes back first
	var got []string
	for {
		q, ok := s.dequeue()
		if !ok {
			break
		}
		got = append(got, q.m.topic)
		s.unhold(q.m)
	}
	if len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Fatalf("dequeued %v, want [a b c]", got)
	}
	if s.heldBytes != 0 || br.mem.Used() != 0 {
		t.Fatalf("held %d, budget %d after the queue emptied", s.heldBytes, br.mem.Used())
	}
}

func TestDiscardReleasesQueuedAndInflight(t *testing.T) {
	br, err := New(Config{SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	s := newSession(br, "d")
	shared := testMessage("shared", 100)
	other := newSession(br, "other") // a second holder of the shared message
	if s.hold(shared) != dropNone || other.hold(shared) != dropNone {
		t.Fatal("hold refused")
	}
	s.push(queuedMsg{m: shared, qos: 1})
	inflight := testMessage("inflight", 100)
	if s.hold(inflight) != dropNone {
		t.Fatal("hold refused")
	}
	s.track(s.allocPID(), inflight, 1, false, nil, nil)
	s.discardMessages()
	if s.heldBytes != 0 || s.queueLen() != 0 || len(s.inflight) != 0 {
		t.Fatalf("after discard: %d bytes, %d queued, %d inflight", s.heldBytes, s.queueLen(), len(s.inflight))
	}
	if br.mem.Used() != shared.size() {
		t.Fatalf("budget %d, want only the shared message (%d) the other session holds", br.mem.Used(), shared.size())
	}
	other.unhold(shared)
	if br.mem.Used() != 0 {
		t.Fatalf("budget %d after the last holder", br.mem.Used())
	}
}

func TestQueueLimitSlowsPublisherThenDropsForSlowConsumer(t *testing.T) {
	br, err := New(Config{SysInterval: -1, MaxQueuedMessages: 2})
	if err != nil {
		t.Fatal(err)
	}
	s := newSession(br, "sub")
	s.client = &client{b: br}
	for i := 0; i < 2; i++ {
		s.push(queuedMsg{m: testMessage("t", 1), qos: 1})
	}
	pub := &client{b: br}
	r := route{b: br, publisher: pub}
	s.mu.Lock()
	limit, cause := r.queueLimit(s)
	s.mu.Unlock()
	if limit != 2*onlineQueueFactor || cause != dropQueueFull || pub.waits != 1 {
		t.Fatalf("full connected queue: limit %d, cause %s, publisher waits %d; want %d, queue full, 1",
			limit, cause, pub.waits, 2*onlineQueueFactor)
	}
	s.markSlow(s.gen)
	if !s.slow || pub.waits != 0 {
		t.Fatalf("after SlowConsumerWait: slow %t, publisher waits %d; want true, 0", s.slow, pub.waits)
	}
	s.mu.Lock()
	limit, cause = r.queueLimit(s)
	s.mu.Unlock()
	if limit != 2 || cause != dropSlow || pub.waits != 0 {
		t.Fatalf("slow consumer: limit %d, cause %s, waits %d; want 2, slow consumer, 0", limit, cause, pub.waits)
	}
	s.dequeue()
	s.queueDrained()
	if s.slow {
		t.Fatal("still slow after reading below the limit")
	}
}

// A QoS 0 message to a connection that is closing is not queued (it has
// no owned copy, and QoS 0 is never stored): the fuzzer found a nil
// message left in the queue that way.
func TestQoS0ToClosingConnectionNotQueued(t *testing.T) {
	br, err := New(Config{SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	s := newSession(br, "closing")
	c := &client{b: br, sess: s, sendWindow: 10, maxOutPacket: 1 << 20, wclosed: true}
	s.client = c
	pub := packet.Publish{Topic: "t", Payload: []byte("x")}
	var r route
	r.reset(br, &pub, nil, nil, timeZero)
	r.addTarget(s, 0, false, &subOpts{}, nil)
	r.deliver(&r.targets[0])
	if s.queueLen() != 0 {
		t.Fatalf("%d queued for a QoS 0 delivery to a closing connection", s.queueLen())
	}
	s.mu.Lock()
	s.discardMessages() // panicked on the nil message
	s.mu.Unlock()
}
