package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// The will is published when the network connection is lost
// [MQTT-3.1.2-8].
func TestWillOnConnectionLoss(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	watcher := dialV5(t, n, "watcher")
	watcher.subscribe("w/t", 1)
	c := dialV5(t, n, "dying", will("w/t", "gone", 1, 0))
	c.drop()
	if m := expectMessage(t, watcher.msgs, waitFor); m.Topic != "w/t" || m.Payload != "gone" || m.QoS != 1 {
		t.Fatalf("got %v, want the will w/t \"gone\" at QoS 1", m)
	}
}

// A clean DISCONNECT (0x00) discards the will [MQTT-3.1.2-10].
func TestNoWillOnCleanDisconnect(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	n := startBroker(t, broker.Config{}, broker.WithHooks(rec))
	watcher := dialV5(t, n, "watcher")
	watcher.subscribe("w/t", 1)
	c := dialV5(t, n, "leaving", will("w/t", "gone", 1, 0))
	_ = c.Disconnect(&paho.Disconnect{ReasonCode: 0})
	eventually(t, waitFor, func() error { return rec.has("disconnect leaving") })
	watcher.publish("w/t", "end", 1, false)
	expectNoMessage(t, watcher.msgs, "end")
}

// The same for a 3.1.1 client [MQTT-3.1.2-10 (3.1.1)].
func TestNoWillOnCleanDisconnectV311(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	n := startBroker(t, broker.Config{}, broker.WithHooks(rec))
	watcher := dialV5(t, n, "watcher")
	watcher.subscribe("w/t", 1)
	c := dialV311(t, n, "leaving", func(o *mqttOptions) { o.SetWill("w/t", "gone", 1, false) })
	c.Disconnect(100)
	eventually(t, waitFor, func() error { return rec.has("disconnect leaving") })
	watcher.publish("w/t", "end", 1, false)
	expectNoMessage(t, watcher.msgs, "end")
}

// DISCONNECT with reason 0x04 publishes the will (MQTT 5 §3.14.2.1).
func TestDisconnectWithWillMessage(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	watcher := dialV5(t, n, "watcher")
	watcher.subscribe("w/t", 1)
	c := dialV5(t, n, "leaving", will("w/t", "gone", 1, 0))
	_ = c.Disconnect(&paho.Disconnect{ReasonCode: byte(packet.DisconnectWithWill)})
	if m := expectMessage(t, watcher.msgs, waitFor); m.Payload != "gone" {
		t.Fatalf("got %v, want the will \"gone\"", m)
	}
}

// A Will Delay Interval of 1s (session expiry 10s) holds the will back for
// at least 1s after the connection is lost [MQTT-3.1.3-9].
func TestWillDelay(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	watcher := dialV5(t, n, "watcher")
	watcher.subscribe("w/t", 1)
	c := dialV5(t, n, "dying", will("w/t", "gone", 1, 1), sessionExpiry(10))
	lost := time.Now()
	c.drop()
	m := expectMessage(t, watcher.msgs, waitFor)
	if d := time.Since(lost); d < time.Second {
		t.Errorf("will published %s after the loss, want >= 1s", d)
	}
	if m.Payload != "gone" {
		t.Fatalf("got %v, want the will", m)
	}
}

// Reconnecting before the Will Delay Interval passes cancels the will
// [MQTT-3.1.3-9]. The will is clock-driven, so the check waits past it.
func TestWillDelayCancelledByReconnect(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	watcher := dialV5(t, n, "watcher")
	watcher.subscribe("w/t", 1)
	c := dialV5(t, n, "flaky", will("w/t", "gone", 1, 1), sessionExpiry(10))
	c.drop()
	waitConnected(t, n, 1)
	dialV5(t, n, "flaky", cleanStart(false), sessionExpiry(10))
	expectNoMessageWithin(t, watcher.msgs, 1500*time.Millisecond)
}

// A client that stays silent past 1.5 × its keep alive is disconnected
// (v5: DISCONNECT 0x8D) and its will published [MQTT-3.1.2-22].
func TestKeepAliveTimeout(t *testing.T) {
	t.Parallel()
	for _, v := range []byte{packet.V311, packet.V5} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			t.Parallel()
			n := startBroker(t, broker.Config{})
			watcher := dialV5(t, n, "watcher")
			watcher.subscribe("ka/t", 1)
			silent, ack := connectRaw(t, n, v, packet.Connect{ClientID: "silent", CleanStart: true, KeepAlive: 1,
				WillFlag: true, WillTopic: "ka/t", WillPayload: []byte("gone"), WillQoS: 1})
			if ack.ReasonCode != 0 {
				t.Fatalf("CONNACK %#02x", byte(ack.ReasonCode))
			}
			start := time.Now()
			if v == packet.V5 {
				silent.expectDisconnect(packet.KeepAliveTimeout)
			} else {
				silent.expectClosed()
			}
			if d := time.Since(start); d < time.Second || d > 2500*time.Millisecond {
				t.Errorf("disconnected after %s, want 1s..1.5s (plus slack)", d)
			}
			if m := expectMessage(t, watcher.msgs, waitFor); m.Payload != "gone" {
				t.Fatalf("got %v, want the will", m)
			}
		})
	}
}

// A v5 client asking for a keep alive above MaxKeepAlive (or for none) gets
// the cap as Server Keep Alive in CONNACK [MQTT-3.2.2-21].
func TestServerKeepAlive(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{MaxKeepAlive: 60})
	for _, asked := range []uint16{120, 0} {
		p := dialV5(t, n, fmt.Sprint("ka", asked), keepAlive(asked)).connack.Properties
		if p == nil || p.ServerKeepAlive == nil || *p.ServerKeepAlive != 60 {
			t.Fatalf("asked %d: CONNACK Server Keep Alive %+v, want 60", asked, p)
		}
	}
}

// A client that sends PINGREQ within its keep alive (1s) stays connected
// past 1.5 × keep alive, each PINGREQ answered by PINGRESP [MQTT-3.12.4-1].
func TestKeepAlivePingKeepsConnection(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	r, _ := connectRaw(t, n, packet.V5, packet.Connect{ClientID: "pinger", CleanStart: true, KeepAlive: 1})
	tick := time.NewTicker(600 * time.Millisecond)
	defer tick.Stop()
	for range 5 {
		<-tick.C
		r.send(&packet.Pingreq{})
		expectPacket[*packet.Pingresp](r)
	}
}

// A will without delay is published when its connection is taken over
// [MQTT-3.1.2-8 (v5: the connection is closed without DISCONNECT 0x00)].
func TestWillOnTakeover(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	watcher := dialV5(t, n, "watcher")
	watcher.subscribe("w/t", 1)
	dialV5(t, n, "twin", will("w/t", "gone", 1, 0))
	dialV5(t, n, "twin")
	if m := expectMessage(t, watcher.msgs, waitFor); m.Payload != "gone" {
		t.Fatalf("got %v, want the will", m)
	}
}

// A will whose delay (5s) outlasts the session (1s) is published when the
// session ends (§3.1.3.2.2: whichever happens first).
func TestWillPublishedAtSessionEnd(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	watcher := dialV5(t, n, "watcher")
	watcher.subscribe("w/t", 1)
	c := dialV5(t, n, "dying", will("w/t", "gone", 1, 5), sessionExpiry(1))
	lost := time.Now()
	c.drop()
	m := expectMessage(t, watcher.msgs, 4*time.Second)
	if d := time.Since(lost); d < time.Second || d > 3*time.Second {
		t.Errorf("will published %s after the loss, want about 1s (session expiry)", d)
	}
	if m.Payload != "gone" {
		t.Fatalf("got %v, want the will", m)
	}
}

// The broker enforces the keep alive it sent as Server Keep Alive (1s),
// not the one the client asked for (60s) [MQTT-3.2.2-21, MQTT-3.1.2-22].
func TestServerKeepAliveEnforced(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{MaxKeepAlive: 1})
	r, ack := connectRaw(t, n, packet.V5, packet.Connect{ClientID: "c", CleanStart: true, KeepAlive: 60})
	if ack.Props.ServerKeepAlive != 1 {
		t.Fatalf("CONNACK Server Keep Alive %d, want 1", ack.Props.ServerKeepAlive)
	}
	start := time.Now()
	r.expectDisconnect(packet.KeepAliveTimeout)
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("disconnected after %s, want about 1.5s", d)
	}
}

// A will with the retain flag is stored as the retained message of its
// topic [MQTT-3.1.2-17 (v5) / MQTT-3.1.2-17 (3.1.1)].
func TestWillRetained(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	dialV5(t, n, "dying", func(_ *paho.ClientConfig, cp *paho.Connect) {
		cp.WillMessage = &paho.WillMessage{Topic: "wr/t", Payload: []byte("gone"), QoS: 1, Retain: true}
	}).drop()
	eventually(t, waitFor, func() error {
		if r := n.b.Stats().Retained; r != 1 {
			return fmt.Errorf("%d retained messages", r)
		}
		return nil
	})
	late := dialV5(t, n, "late")
	late.subscribe("wr/t", 1)
	if m := expectMessage(t, late.msgs, waitFor); m.Payload != "gone" || !m.Retain {
		t.Fatalf("got %v, want the retained will", m)
	}
}
