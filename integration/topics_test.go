package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/broker"
)

// topicsOf returns the topics of msgs.
func topicsOf(msgs []msg) []string {
	var ts []string
	for _, m := range msgs {
		ts = append(ts, m.Topic)
	}
	return ts
}

// '+' matches exactly one level, including an empty one [MQTT-4.7.1-2].
func TestSingleLevelWildcard(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	sub := dialV5(t, n, "sub")
	sub.subscribe("tp/+/x", 0)
	pub := dialV5(t, n, "pub")
	for _, topic := range []string{"tp/a/x", "tp/a/b/x", "tp/x", "tp//x", "tp/a/x/y"} {
		pub.publish(topic, topic, 0, false)
	}
	pub.publish("tp/s/x", "end", 0, false)
	if got, want := topicsOf(collectUntil(t, sub.msgs, "end")), []string{"tp/a/x", "tp//x"}; !slices.Equal(got, want) {
		t.Fatalf("tp/+/x received %q, want %q", got, want)
	}
}

// '#' matches the parent level and any number of child levels
// [MQTT-4.7.1-2 (3.1.1 §4.7.1.2)].
func TestMultiLevelWildcard(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	sub := dialV5(t, n, "sub")
	sub.subscribe("th/#", 0)
	pub := dialV5(t, n, "pub")
	for _, topic := range []string{"th", "th/a", "thx/a", "th/a/b/c", "x/th"} {
		pub.publish(topic, topic, 0, false)
	}
	pub.publish("th/end", "end", 0, false)
	if got, want := topicsOf(collectUntil(t, sub.msgs, "end")), []string{"th", "th/a", "th/a/b/c"}; !slices.Equal(got, want) {
		t.Fatalf("th/# received %q, want %q", got, want)
	}
}

// Topics starting with '$' are not matched by filters starting with a
// wildcard [MQTT-4.7.2-1], but "$SYS/#" matches them.
func TestDollarTopicsNotMatchedByLeadingWildcards(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	hash, plus, sys := dialV5(t, n, "hash"), dialV5(t, n, "plus"), dialV5(t, n, "sys")
	hash.subscribe("#", 0)
	plus.subscribe("+/broker/x", 0)
	sys.subscribe("$SYS/#", 0)
	if err := n.b.Publish("$SYS/broker/x", []byte("sys"), broker.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := n.b.Publish("s/broker/x", []byte("end"), broker.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	expectNoMessage(t, hash.msgs, "end")
	expectNoMessage(t, plus.msgs, "end")
	if m := expectMessage(t, sys.msgs, waitFor); m.Topic != "$SYS/broker/x" {
		t.Fatalf("$SYS/# received %v, want $SYS/broker/x", m)
	}
}

// A retained message is set, replaced by the next retained PUBLISH and
// cleared by an empty one [MQTT-3.3.1-5, MQTT-3.3.1-6, MQTT-3.3.1-7].
func TestRetainedSetReplaceClear(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	pub := dialV5(t, n, "pub")
	pub.publish("rt/z", "keep", 1, true)
	pub.publish("rt/a", "v1", 1, true)
	pub.publish("rt/a", "v2", 1, true)
	first := dialV5(t, n, "first")
	first.subscribe("rt/+", 1)
	got := map[string]string{}
	for range 2 {
		m := expectMessage(t, first.msgs, waitFor)
		got[m.Topic] = m.Payload
	}
	if got["rt/a"] != "v2" || got["rt/z"] != "keep" {
		t.Fatalf("retained at subscribe: %v, want rt/a=v2 rt/z=keep", got)
	}
	pub.publish("rt/a", "", 1, true)
	second := dialV5(t, n, "second")
	second.subscribe("rt/+", 1)
	if m := expectMessage(t, second.msgs, waitFor); m.Topic != "rt/z" {
		t.Fatalf("after clear got %v, want only rt/z", m)
	}
	pub.publish("rt/end", "end", 1, false)
	expectNoMessage(t, second.msgs, "end")
	if r := n.b.Stats().Retained; r != 1 {
		t.Errorf("Stats().Retained = %d, want 1", r)
	}
}

// Retained messages carry RETAIN=1 when sent for a new subscription, and
// RETAIN=0 on normal delivery, with MQTT 3.1.1 [MQTT-3.3.1-8, MQTT-3.3.1-9].
func TestRetainFlagOnDeliveryV311(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	live := dialV311(t, n, "live")
	live.subscribe("rf/t", 1)
	dialV311(t, n, "pub").publish("rf/t", "r", 1, true)
	if m := expectMessage(t, live.msgs, waitFor); m.Retain {
		t.Errorf("normal delivery of a retained PUBLISH: RETAIN=1, want 0 [MQTT-3.3.1-9]")
	}
	late := dialV311(t, n, "late")
	late.subscribe("rf/t", 1)
	if m := expectMessage(t, late.msgs, waitFor); !m.Retain || m.Payload != "r" {
		t.Errorf("delivery at subscribe time: %v, want RETAIN=1 \"r\" [MQTT-3.3.1-8]", m)
	}
}

// The same with MQTT 5 and Retain As Published 0 [MQTT-3.3.1-12, §3.3.1.3].
func TestRetainFlagOnDeliveryV5(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	live := dialV5(t, n, "live")
	live.subscribe("rf/t", 1)
	dialV5(t, n, "pub").publish("rf/t", "r", 1, true)
	if m := expectMessage(t, live.msgs, waitFor); m.Retain {
		t.Errorf("normal delivery of a retained PUBLISH: RETAIN=1, want 0 [MQTT-3.3.1-12]")
	}
	late := dialV5(t, n, "late")
	late.subscribe("rf/t", 1)
	if m := expectMessage(t, late.msgs, waitFor); !m.Retain || m.Payload != "r" {
		t.Errorf("delivery at subscribe time: %v, want RETAIN=1 \"r\"", m)
	}
}

// With Retain As Published the RETAIN flag is forwarded as published
// [MQTT-3.3.1-13].
func TestRetainAsPublished(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	sub := dialV5(t, n, "sub")
	sub.subscribeWith(nil, paho.SubscribeOptions{Topic: "rap/t", QoS: 1, RetainAsPublished: true})
	pub := dialV5(t, n, "pub")
	pub.publish("rap/t", "retained", 1, true)
	pub.publish("rap/t", "plain", 1, false)
	for _, want := range []bool{true, false} {
		if m := expectMessage(t, sub.msgs, waitFor); m.Retain != want {
			t.Errorf("%v: RETAIN=%t, want %t", m, m.Retain, want)
		}
	}
}

// Retain Handling 1 sends retained messages only for a new subscription,
// 2 never [MQTT-3.3.1-10, MQTT-3.3.1-11].
func TestRetainHandling(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	pub := dialV5(t, n, "pub")
	pub.publish("rh/t", "r", 1, true)
	one := dialV5(t, n, "one")
	one.subscribeWith(nil, paho.SubscribeOptions{Topic: "rh/t", QoS: 1, RetainHandling: 1})
	if m := expectMessage(t, one.msgs, waitFor); m.Payload != "r" || !m.Retain {
		t.Fatalf("retain handling 1, new subscription: got %v, want the retained message", m)
	}
	one.subscribeWith(nil, paho.SubscribeOptions{Topic: "rh/t", QoS: 1, RetainHandling: 1})
	two := dialV5(t, n, "two")
	two.subscribeWith(nil, paho.SubscribeOptions{Topic: "rh/t", QoS: 1, RetainHandling: 2})
	pub.publish("rh/t", "end", 1, false)
	expectNoMessage(t, one.msgs, "end")
	expectNoMessage(t, two.msgs, "end")
}

// SUBSCRIBE to an existing filter replaces the subscription: one copy at
// the new QoS [MQTT-3.8.4-3].
func TestResubscribeReplacesSubscription(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	sub := dialV5(t, n, "sub")
	sub.subscribe("rs/t", 2)
	sub.subscribe("rs/t", 0)
	pub := dialV5(t, n, "pub")
	pub.publish("rs/t", "m", 2, false)
	pub.publish("rs/t", "end", 0, false)
	got := collectUntil(t, sub.msgs, "end")
	if len(got) != 1 || got[0].QoS != 0 {
		t.Fatalf("got %v, want one copy at QoS 0", got)
	}
}

// UNSUBSCRIBE stops delivery on that filter only [MQTT-3.10.4-1].
func TestUnsubscribeStopsDelivery(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	sub := dialV5(t, n, "sub")
	sub.subscribe("us/a", 1)
	sub.subscribe("us/b", 1)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := sub.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{"us/a"}}); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
	pub := dialV5(t, n, "pub")
	pub.publish("us/a", "gone", 1, false)
	pub.publish("us/b", "end", 1, false)
	expectNoMessage(t, sub.msgs, "end")
}

// retainedTopics subscribes a fresh client to filter and returns the topics
// of the retained messages it gets, in order of arrival, up to a sentinel.
func retainedTopics(t *testing.T, n *node, id, filter string) []string {
	t.Helper()
	c := dialV5(t, n, id)
	c.subscribe(filter, 0)
	c.subscribe("zz/end", 0)
	if err := n.b.Publish("zz/end", []byte("end"), broker.PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	got := topicsOf(collectUntil(t, c.msgs, "end"))
	slices.Sort(got)
	return got
}

// Retained messages are matched against the new subscription's wildcards
// like live ones, '$' topics excluded from leading wildcards [MQTT-4.7.1-2,
// MQTT-4.7.2-1].
func TestRetainedWildcardMatching(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	for _, topic := range []string{"rw", "rw/a", "rw/a/b", "rw/b/c", "rw//c", "/rw", "$SYS/rw"} {
		if err := n.b.Publish(topic, []byte(topic), broker.PublishOptions{Retain: true}); err != nil {
			t.Fatal(err)
		}
	}
	for i, tc := range []struct {
		filter string
		want   []string
	}{
		{"rw/+", []string{"rw/a"}},
		{"rw/#", []string{"rw", "rw/a", "rw/a/b", "rw/b/c", "rw//c"}},
		{"rw/+/c", []string{"rw//c", "rw/b/c"}},
		{"+/rw", []string{"/rw"}},
		{"#", []string{"/rw", "rw", "rw//c", "rw/a", "rw/a/b", "rw/b/c"}},
		{"$SYS/#", []string{"$SYS/rw"}},
	} {
		slices.Sort(tc.want)
		if got := retainedTopics(t, n, fmt.Sprint("c", i), tc.filter); !slices.Equal(got, tc.want) {
			t.Errorf("%s: retained %q, want %q", tc.filter, got, tc.want)
		}
	}
}

// A subscription made after a topic was published to (and its match
// cached) gets the next message, and an unsubscribed one does not.
func TestSubscriptionChangesSeenByLaterPublishes(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	pub := dialV5(t, n, "pub")
	pub.publish("mc/t", "warm", 1, false)
	pub.publish("mc/t", "warm", 1, false)
	sub := dialV5(t, n, "sub")
	sub.subscribe("mc/+", 1)
	sub.subscribe("$share/g/mc/#", 1)
	pub.publish("mc/t", "seen", 1, false)
	got := []string{expectMessage(t, sub.msgs, waitFor).Payload, expectMessage(t, sub.msgs, waitFor).Payload}
	if !slices.Equal(got, []string{"seen", "seen"}) {
		t.Fatalf("after subscribing got %q, want the message once per subscription", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := sub.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{"mc/+", "$share/g/mc/#"}}); err != nil {
		t.Fatal(err)
	}
	sub.subscribe("mc/end", 1)
	pub.publish("mc/t", "unseen", 1, false)
	pub.publish("mc/end", "end", 1, false)
	expectNoMessage(t, sub.msgs, "end")
}
