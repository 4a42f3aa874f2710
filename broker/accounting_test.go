package broker

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jmqx/jmqx/internal/packet"
	"github.com/jmqx/jmqx/internal/testwait"
)

// connectRaw opens an MQTT 3.1.1 connection with the given Clean Session
// flag and waits for its CONNACK.
func connectRaw(t *testing.T, addr, id string, clean bool) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	cp := packet.Connect{Version: packet.V311, CleanStart: clean, ClientID: id}
	if _, err := conn.Write(cp.AppendTo(nil, packet.V311)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if p, err := packet.ReadPacket(conn, packet.V311, 1<<20); err != nil {
		t.Fatal(err)
	} else if ack, ok := p.(*packet.Connack); !ok || ack.ReasonCode != 0 {
		t.Fatalf("CONNACK: %#v", p)
	}
	return conn
}

// waitMemory waits until the broker's memory budget has want bytes
// charged.
func waitMemory(t *testing.T, b *Broker, want int64) {
	t.Helper()
	testwait.Until(t, 5*time.Second, func() error {
		if used := b.mem.Used(); used != want {
			return fmt.Errorf("memory budget: %d bytes charged, want %d", used, want)
		}
		return nil
	})
}

// TestMemoryBudgetReturnsToZero checks that every byte charged for queued,
// inflight and retained messages, subscriptions and buffers is given back
// once they are gone: sessions that never acknowledge, are taken over,
// discarded by Clean Start, and retained messages cleared.
func TestMemoryBudgetReturnsToZero(t *testing.T) {
	b, addr := startBench(t)
	if err := b.SetConfig(Config{SysInterval: -1, MaxQueuedMessages: 10, MaxInflight: 5}); err != nil {
		t.Fatal(err)
	}
	sub := connectRaw(t, addr, "keeper", false)
	s := packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a/#", QoS: 2}, {Filter: "a/+", QoS: 1}}}
	if _, err := sub.Write(s.AppendTo(nil, packet.V311)); err != nil {
		t.Fatal(err)
	}
	if _, err := packet.ReadPacket(sub, packet.V311, 1<<20); err != nil { // SUBACK
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		qos := byte(1 + i%2)
		if err := b.Publish(fmt.Sprintf("a/%d", i%7), make([]byte, 500), PublishOptions{QoS: qos, Retain: i%5 == 0}); err != nil {
			t.Fatal(err)
		}
	}
	if b.mem.Used() == 0 {
		t.Fatal("nothing charged for 15 held messages")
	}
	sub.Close()                                   // offline: the queue stays
	again := connectRaw(t, addr, "keeper", false) // resumed: inflight resent
	again.Close()
	fresh := connectRaw(t, addr, "keeper", true) // Clean Start: discarded
	fresh.Close()
	for i := 0; i < 7; i++ { // clear the retained messages
		if err := b.Publish(fmt.Sprintf("a/%d", i), nil, PublishOptions{Retain: true}); err != nil {
			t.Fatal(err)
		}
	}
	waitMemory(t, b, 0)
}
