package broker

import (
	"errors"
	"testing"
	"time"

	"github.com/jmqx/jmqx/internal/packet"
)

func TestBudgetChargesParentAndRefusesPastLimit(t *testing.T) {
	node := NewBudget(100)
	tenant := newChildBudget(80, node)
	if !tenant.charge(60) {
		t.Fatal("60 of 80 refused")
	}
	if tenant.charge(30) {
		t.Fatal("90 of 80 accepted")
	}
	other := newChildBudget(80, node)
	if other.charge(50) {
		t.Fatal("the node's 100 exceeded: 60+50 accepted")
	}
	if other.Used() != 0 || node.Used() != 60 {
		t.Fatalf("a refused charge left bytes: other %d, node %d", other.Used(), node.Used())
	}
	tenant.release(60)
	if node.Used() != 0 || tenant.Used() != 0 {
		t.Fatalf("after release: node %d, tenant %d", node.Used(), tenant.Used())
	}
	if tenant.Denied() != 1 || other.Denied() != 1 {
		t.Fatalf("denied: tenant %d, other %d", tenant.Denied(), other.Denied())
	}
	var none *Budget
	if !none.charge(1 << 40) {
		t.Fatal("a nil budget refused")
	}
}

func TestMessageChargedOnceWhateverItsHolders(t *testing.T) {
	b := NewBudget(1 << 20)
	m := newMessage(&packet.Publish{Topic: "a/b", Payload: make([]byte, 1000)}, nil, timeZero)
	for i := 0; i < 3; i++ {
		if !m.acquire(b) {
			t.Fatal("acquire refused")
		}
	}
	if b.Used() != m.size() {
		t.Fatalf("three holders charged %d, want one message %d", b.Used(), m.size())
	}
	for i := 0; i < 3; i++ {
		m.releaseHolder(b)
	}
	if b.Used() != 0 {
		t.Fatalf("after the last holder: %d charged", b.Used())
	}
	small := NewBudget(100)
	if m.acquire(small) || m.holders.Load() != 0 {
		t.Fatal("a message larger than the budget was held")
	}
}

func TestSessionHoldBoundedByMaxQueuedBytes(t *testing.T) {
	br, err := New(Config{SysInterval: -1, MaxQueuedBytes: 5000})
	if err != nil {
		t.Fatal(err)
	}
	s := newSession(br, "c")
	var held []*message
	for {
		m := newMessage(&packet.Publish{Topic: "t", Payload: make([]byte, 1000), QoS: 1}, nil, timeZero)
		if cause := s.hold(m); cause != dropNone {
			if cause != dropQueueBytes {
				t.Fatalf("cause %s, want %s", cause, dropQueueBytes)
			}
			break
		}
		held = append(held, m)
	}
	if n := len(held); n != 4 {
		t.Fatalf("held %d messages of ~1.2 KB within 5000 bytes, want 4", n)
	}
	for _, m := range held {
		s.unhold(m)
	}
	if s.heldBytes != 0 || br.mem.Used() != 0 {
		t.Fatalf("after unhold: session %d, budget %d", s.heldBytes, br.mem.Used())
	}
}

func TestReadBufferGrowsWithArrivedBytes(t *testing.T) {
	br, err := New(Config{SysInterval: -1, MaxMemory: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c := &client{b: br, rbuf: br.readBufs.get()}
	c.rend = len(c.rbuf) // the pooled buffer is full of a packet declaring 1 MiB
	if err := c.growReadBuffer(1 << 20); err != nil {
		t.Fatal(err)
	}
	if got := len(c.rbuf); got != 4*readBufSize {
		t.Fatalf("first growth to %d bytes, want %d", got, 4*readBufSize)
	}
	if err := c.growReadBuffer(1 << 20); err != nil || len(c.rbuf) != 4*readBufSize {
		t.Fatalf("grew again before the buffer was full: %d, %v", len(c.rbuf), err)
	}
	for len(c.rbuf) < 1<<19 {
		c.rend = len(c.rbuf)
		if err := c.growReadBuffer(1 << 20); err != nil {
			t.Fatal(err)
		}
	}
	if br.mem.Used() != int64(len(c.rbuf)) {
		t.Fatalf("charged %d for a %d-byte buffer", br.mem.Used(), len(c.rbuf))
	}
	br.mem.force(100 << 10) // something else holds 100 KiB
	c.rend = len(c.rbuf)
	if err := c.growReadBuffer(1 << 20); !errors.Is(err, packet.QuotaExceeded) {
		t.Fatalf("a 1 MiB buffer in a 1 MiB budget holding 612 KiB: %v, want quota exceeded", err)
	}
	br.mem.release(100 << 10)
	c.dropReadBuffer()
	if br.mem.Used() != 0 {
		t.Fatalf("after drop: %d charged", br.mem.Used())
	}
}

var timeZero = time.Unix(0, 0)
