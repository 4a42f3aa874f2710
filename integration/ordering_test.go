package integration

import (
	"context"
	"fmt"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/broker"
)

// orderedRun publishes count QoS 1 messages on one topic from one
// publisher and checks that every subscriber gets all of them, in order
// [MQTT-4.6.0-5 (ordered topic)].
func orderedRun(t *testing.T, subscribers, count int) {
	t.Helper()
	n := startBroker(t, broker.Config{})
	subs := make([]*v5Client, subscribers)
	for i := range subs {
		subs[i] = dialV5(t, n, fmt.Sprint("sub", i), receiveMaximum(3))
		subs[i].subscribe("ord/t", 1)
	}
	pub := dialV5(t, n, "pub")
	ctx, cancel := context.WithTimeout(context.Background(), 6*waitFor)
	defer cancel()
	for i := range count { // pipelined, so that messages queue behind the subscribers' windows
		p := &paho.Publish{Topic: "ord/t", QoS: 1, Payload: []byte(fmt.Sprint(i))}
		if _, err := pub.PublishWithOptions(ctx, p, paho.PublishOptions{Method: paho.PublishMethod_AsyncSend}); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	for s, sub := range subs {
		for i := range count {
			m := expectMessage(t, sub.msgs, waitFor)
			if m.Payload != fmt.Sprint(i) {
				t.Fatalf("subscriber %d: message %d is %q, want %q", s, i, m.Payload, fmt.Sprint(i))
			}
		}
	}
}

// 1000 QoS 1 messages reach a slow subscriber (Receive Maximum 3) in order.
func TestOrderingOneSubscriber(t *testing.T) {
	t.Parallel()
	orderedRun(t, 1, 1000)
}

// The same for three subscribers.
func TestOrderingThreeSubscribers(t *testing.T) {
	t.Parallel()
	orderedRun(t, 3, 1000)
}
