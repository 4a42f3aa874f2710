package integration

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"weak"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// connWatch is a ConnectObserver that keeps a weak pointer to each
// connection's ClientInfo (which lives inside the broker's connection
// state), so a test can tell whether anything still keeps it alive.
type connWatch struct {
	mu    sync.Mutex
	infos map[string]weak.Pointer[broker.ClientInfo]
}

func (w *connWatch) OnConnect(c *broker.ClientInfo) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.infos == nil {
		w.infos = make(map[string]weak.Pointer[broker.ClientInfo])
	}
	w.infos[c.ClientID] = weak.Make(c)
}
func (w *connWatch) OnDisconnect(*broker.ClientInfo)            {}
func (w *connWatch) OnConnectionLost(*broker.ClientInfo, error) {}

// alive reports whether the ClientInfo of id is still reachable.
func (w *connWatch) alive(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.infos[id].Value() != nil
}

// Item 9: a client whose session has ended leaves retained and queued
// messages behind, and nothing of its connection or session stays
// reachable through them (messages used to point at the publishing
// session, and the session at the last connection).
func TestEndedSessionNotPinnedByItsMessages(t *testing.T) {
	t.Parallel()
	watch := &connWatch{}
	n := startBroker(t, broker.Config{}, broker.WithHooks(watch))
	keeper := dialV311(t, n, "keeper", func(o *mqttOptions) { o.SetCleanSession(false) })
	keeper.subscribe("pinned/#", 1)
	keeper.Disconnect(100) // offline: QoS 1 messages queue for it
	waitOffline(t, n)

	pub, ack := connectRaw(t, n, packet.V311, packet.Connect{ClientID: "gone", CleanStart: true})
	if ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %s", ack.ReasonCode)
	}
	pub.send(&packet.Publish{Topic: "pinned/retained", Payload: []byte("r"), QoS: 1, PacketID: 1, Retain: true})
	expectPacket[*packet.Ack](pub)
	pub.send(&packet.Publish{Topic: "pinned/queued", Payload: []byte("q"), QoS: 1, PacketID: 2})
	expectPacket[*packet.Ack](pub)
	pub.send(&packet.Disconnect{})
	_ = pub.conn.Close()

	eventually(t, waitFor, func() error {
		runtime.GC()
		if watch.alive("gone") {
			return fmt.Errorf("the ended connection of %q is still reachable", "gone")
		}
		return nil
	})
	if st := n.b.Stats(); st.Retained != 1 {
		t.Fatalf("%d retained messages, want the one left behind", st.Retained)
	}
}

// Item 10: a subscriber whose queue overflows gets its dropped messages
// logged once per interval with a count, not once per message.
func TestDroppedMessagesLoggedOncePerClient(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zapcore.WarnLevel)
	n := startBroker(t, broker.Config{MaxQueuedMessages: 5}, broker.WithLogger(zap.New(core)))
	keeper := dialV311(t, n, "overflow", func(o *mqttOptions) { o.SetCleanSession(false) })
	keeper.subscribe("drop/#", 1)
	keeper.Disconnect(100)
	waitOffline(t, n)
	for i := 0; i < 500; i++ {
		if err := n.b.Publish("drop/x", []byte("m"), broker.PublishOptions{QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.b.Stats().Drops["queue full (max_queued_messages)"]; got != 495 {
		t.Fatalf("%d drops counted, want 495", got)
	}
	if lines := logs.FilterMessageSnippet("dropped").Len(); lines != 0 {
		t.Fatalf("%d drop lines logged at once, want them summed up after the interval", lines)
	}
	shutdown(t, n)
	lines := logs.FilterMessageSnippet("dropped").All()
	if len(lines) != 1 {
		t.Fatalf("%d drop lines, want 1", len(lines))
	}
	if f := lines[0].ContextMap(); f["client"] != "overflow" || f["count"] != int64(495) ||
		!strings.Contains(fmt.Sprint(f["cause"]), "queue full") {
		t.Fatalf("drop line %v", f)
	}
}

// shutdown stops n's broker now (its t.Cleanup then finds it stopped).
func shutdown(t *testing.T, n *node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := n.b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// waitOffline waits until no client is connected to n.
func waitOffline(t *testing.T, n *node) {
	t.Helper()
	eventually(t, waitFor, func() error {
		if c := n.b.Stats().ClientsConnected; c != 0 {
			return fmt.Errorf("%d clients connected", c)
		}
		return nil
	})
}
