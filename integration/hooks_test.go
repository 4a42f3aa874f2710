package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// denyPrefix is an Authorizer refusing topics and filters under "secret/".
type denyPrefix struct{}

func (denyPrefix) CanPublish(_ *broker.ClientInfo, topic string) bool {
	return !strings.HasPrefix(topic, "secret/")
}

func (denyPrefix) CanSubscribe(_ *broker.ClientInfo, filter string) bool {
	return !strings.HasPrefix(filter, "secret/")
}

// A refused subscription gets SUBACK 0x87 in v5 and 0x80 in 3.1.1
// [§3.9.3, MQTT-3.9.3-2 (3.1.1)].
func TestAuthorizerRefusesSubscribe(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{}, broker.WithHooks(denyPrefix{}))
	if rc := dialV5(t, n, "v5").subscribe("secret/t", 1); rc != byte(packet.NotAuthorized) {
		t.Errorf("v5 SUBACK %#02x, want 0x87", rc)
	}
	if rc := dialV311(t, n, "v3").subscribe("secret/t", 1); rc != 0x80 {
		t.Errorf("3.1.1 SUBACK %#02x, want 0x80", rc)
	}
}

// A refused QoS 1 PUBLISH gets PUBACK 0x87 and is not delivered.
func TestAuthorizerRefusesPublish(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{}, broker.WithHooks(denyPrefix{}))
	sub := dialV5(t, n, "sub")
	if rc := sub.subscribe("#", 1); rc != 1 {
		t.Fatalf("SUBACK %#02x", rc)
	}
	pub := dialV5(t, n, "pub")
	if rc := pub.publish("secret/t", "x", 1, false); rc != byte(packet.NotAuthorized) {
		t.Errorf("PUBACK %#02x, want 0x87", rc)
	}
	pub.publish("open/t", "end", 1, false)
	expectNoMessage(t, sub.msgs, "end")
}

// The ConnectObserver sees OnConnect, then OnDisconnect for a clean
// DISCONNECT, or OnConnectionLost with ErrSessionTakenOver on takeover.
func TestConnectObserver(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	n := startBroker(t, broker.Config{}, broker.WithHooks(rec))
	c := dialV5(t, n, "clean")
	eventually(t, waitFor, func() error { return rec.has("connect clean") })
	_ = c.Disconnect(&paho.Disconnect{})
	eventually(t, waitFor, func() error { return rec.has("disconnect clean") })
	dialV5(t, n, "twice")
	dialV5(t, n, "twice")
	eventually(t, waitFor, func() error { return rec.has("lost twice") })
	if err := rec.lostCause("twice"); !errors.Is(err, broker.ErrSessionTakenOver) {
		t.Fatalf("OnConnectionLost cause %v, want ErrSessionTakenOver", err)
	}
}

// A keep alive timeout reaches OnConnectionLost as ErrKeepAliveTimeout.
func TestConnectObserverKeepAliveTimeout(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	n := startBroker(t, broker.Config{}, broker.WithHooks(rec))
	r, _ := connectRaw(t, n, packet.V311, packet.Connect{ClientID: "silent", CleanStart: true, KeepAlive: 1})
	r.expectClosed()
	eventually(t, waitFor, func() error { return rec.has("lost silent") })
	if err := rec.lostCause("silent"); !errors.Is(err, broker.ErrKeepAliveTimeout) {
		t.Fatalf("OnConnectionLost cause %v, want ErrKeepAliveTimeout", err)
	}
}

// The PublishObserver sees the publisher's client id, topic, QoS and payload.
func TestPublishObserver(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	n := startBroker(t, broker.Config{}, broker.WithHooks(rec))
	dialV5(t, n, "pub").publish("po/t", "payload", 1, false)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.published) != 1 {
		t.Fatalf("observed %d publishes, want 1", len(rec.published))
	}
	m := rec.published[0]
	if m.ClientID != "pub" || m.Topic != "po/t" || m.QoS != 1 || string(m.Payload) != "payload" {
		t.Fatalf("observed %+v, want pub po/t QoS 1 \"payload\"", m)
	}
}

// Broker.Publish reaches a network subscriber at QoS 0 and 1.
func TestInProcessPublish(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	sub := dialV5(t, n, "sub")
	sub.subscribe("ip/#", 2)
	for q := byte(0); q <= 1; q++ {
		topic := fmt.Sprintf("ip/%d", q)
		if err := n.b.Publish(topic, []byte("x"), broker.PublishOptions{QoS: q}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if m := expectMessage(t, sub.msgs, waitFor); m.Topic != topic || m.QoS != q {
			t.Fatalf("got %v, want %s at QoS %d", m, topic, q)
		}
	}
}

// Network PUBLISHes at QoS 0 and 1 reach an in-process Subscribe handler.
func TestInProcessSubscribe(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	got := make(chan *broker.Message, 2)
	sub, err := n.b.Subscribe("is/#", 1, func(m *broker.Message) { got <- m })
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer sub.Unsubscribe()
	pub := dialV5(t, n, "pub")
	for q := byte(0); q <= 1; q++ {
		pub.publish(fmt.Sprintf("is/%d", q), "x", q, false)
		select {
		case m := <-got:
			if m.Topic != fmt.Sprintf("is/%d", q) || m.QoS != q || m.ClientID != "pub" || string(m.Payload) != "x" {
				t.Fatalf("handler got %+v, want is/%d at QoS %d from pub", m, q, q)
			}
		case <-time.After(waitFor):
			t.Fatalf("handler got nothing for QoS %d", q)
		}
	}
}

// A refused 3.1.1 QoS 1 PUBLISH is acknowledged (3.1.1 has no reason
// codes) but not delivered.
func TestAuthorizerRefusesPublishV311(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{}, broker.WithHooks(denyPrefix{}))
	sub := dialV5(t, n, "sub")
	sub.subscribe("#", 1)
	pub := dialV311(t, n, "pub")
	pub.publish("secret/t", "x", 1, false)
	pub.publish("open/t", "end", 1, false)
	expectNoMessage(t, sub.msgs, "end")
}

// denyPublish is an Authorizer refusing publishes under "secret/" only.
type denyPublish struct{}

func (denyPublish) CanPublish(_ *broker.ClientInfo, topic string) bool {
	return !strings.HasPrefix(topic, "secret/")
}

func (denyPublish) CanSubscribe(*broker.ClientInfo, string) bool { return true }

// A client may not publish through its Will what the Authorizer refuses it
// to PUBLISH: either the CONNECT is refused (v5 0x87 / 0x90, §3.2.2.2) or
// the will is dropped when the connection is lost.
func TestAuthorizerAppliesToWill(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{}, broker.WithHooks(denyPublish{}))
	watcher := dialV5(t, n, "watcher")
	watcher.subscribe("#", 1)
	c, err := connectV5(t, n, "sneaky", will("secret/t", "leak", 1, 0))
	if err != nil {
		return // refused at CONNECT: fine
	}
	c.drop()
	waitConnected(t, n, 1)
	watcher.publish("open/t", "end", 1, false)
	expectNoMessage(t, watcher.msgs, "end")
}

// Shutdown reaches OnConnectionLost as ErrServerShutdown.
func TestConnectObserverShutdown(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	n := startBroker(t, broker.Config{}, broker.WithHooks(rec))
	dialV5(t, n, "c")
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := n.b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rec.lostCause("c"); !errors.Is(err, broker.ErrServerShutdown) {
		t.Fatalf("OnConnectionLost cause %v, want ErrServerShutdown", err)
	}
}
