package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// TestFanInFlowControlLosesNothing: many publishers flood one subscriber
// that accepts one message at a time, far past MaxQueuedMessages; the
// broker slows the publishers (held-back PUBACKs) instead of dropping
// acknowledged messages. (The held-back messages stay within the online
// queue cap, 10 × MaxQueuedMessages = 200 > 5 publishers × Receive Maximum 32.)
func TestFanInFlowControlLosesNothing(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{MaxQueuedMessages: 20})
	sub, _ := connectRaw(t, n, packet.V5, packet.Connect{ClientID: "slow", CleanStart: true,
		Props: packet.Properties{Present: 1 << packet.PropReceiveMaximum, ReceiveMaximum: 1}})
	sub.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "fan/#", QoS: 1}}})
	expectPacket[*packet.Suback](sub)

	const pubs, each = 5, 60
	var wg sync.WaitGroup
	for i := 0; i < pubs; i++ {
		p := dialV5(t, n, fmt.Sprintf("pub-%d", i))
		for j := 0; j < each; j++ {
			// Publish asynchronously; paho keeps to the server's Receive Maximum.
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), waitFor)
				defer cancel()
				if _, err := p.Publish(ctx, &paho.Publish{Topic: fmt.Sprintf("fan/%d", i), QoS: 1, Payload: []byte{byte(j)}}); err != nil {
					t.Errorf("publish: %v", err)
				}
			}()
		}
	}
	got := 0
	for got < pubs*each {
		p, err := sub.read(waitFor)
		if err != nil {
			t.Fatalf("after %d of %d messages (%d dropped): %v", got, pubs*each, n.b.Stats().MessagesDropped, err)
		}
		pub, ok := p.(*packet.Publish)
		if !ok {
			t.Fatalf("got %s, want PUBLISH", describe(p))
		}
		got++
		sub.send(&packet.Ack{Type: packet.PUBACK, PacketID: pub.PacketID})
	}
	wg.Wait()
	st := n.b.Stats()
	if st.MessagesDropped != 0 {
		t.Fatalf("%d messages dropped, want 0", st.MessagesDropped)
	}
	if st.PublishersThrottled == 0 {
		t.Fatal("no publisher was slowed down: the test did not fill the queue")
	}
}
