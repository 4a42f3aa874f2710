package integration

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/broker"
)

// Broker.Publish's options reach an MQTT 5 subscriber as the properties
// they name, with no presence bits to set: before PublishOptions, the
// packet.Properties given to Publish arrived without any of them.
func TestMQTT5InProcessPublishProperties(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	sub := dialV5(t, n, "sub")
	sub.subscribe("cmd/#", 1)
	err := n.b.Publish("cmd/1", []byte(`{"on":true}`), broker.PublishOptions{
		QoS: 1, PayloadUTF8: true, MessageExpiry: time.Minute, ContentType: "application/json",
		ResponseTopic: "reply/1", CorrelationData: []byte("req-7"),
		UserProperties: []broker.UserProperty{{Key: "origin", Value: "platform"}, {Key: "origin", Value: "again"}},
	})
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	m := expectMessage(t, sub.msgs, waitFor)
	p := m.Props
	if m.QoS != 1 || p.PayloadFormat == nil || *p.PayloadFormat != 1 {
		t.Errorf("QoS %d, payload format %v: want QoS 1, format 1", m.QoS, p.PayloadFormat)
	}
	if p.MessageExpiry == nil || *p.MessageExpiry == 0 || *p.MessageExpiry > 60 {
		t.Errorf("message expiry %v, want 1..60", p.MessageExpiry)
	}
	if p.ContentType != "application/json" || p.ResponseTopic != "reply/1" || string(p.CorrelationData) != "req-7" {
		t.Errorf("content type %q, response topic %q, correlation data %q", p.ContentType, p.ResponseTopic, p.CorrelationData)
	}
	want := paho.UserProperties{{Key: "origin", Value: "platform"}, {Key: "origin", Value: "again"}}
	if !slices.Equal(p.User, want) {
		t.Errorf("user properties %v, want %v", p.User, want)
	}
}

// A message with no options carries no properties, and bad options are
// refused with an error naming them.
func TestMQTT5InProcessPublishNoProperties(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{})
	sub := dialV5(t, n, "sub")
	sub.subscribe("np/#", 0)
	if err := n.b.Publish("np/1", []byte("x"), broker.PublishOptions{}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	p := expectMessage(t, sub.msgs, waitFor).Props
	if p.PayloadFormat != nil || p.MessageExpiry != nil || p.ContentType != "" || p.ResponseTopic != "" || p.CorrelationData != nil || len(p.User) != 0 {
		t.Errorf("properties %+v, want none", p)
	}
	for _, o := range []broker.PublishOptions{{ResponseTopic: "r/#"}, {MessageExpiry: -time.Second}, {QoS: 3}} {
		if err := n.b.Publish("np/2", nil, o); err == nil {
			t.Errorf("Publish with %+v: no error", o)
		}
	}
}

// in-process tests use an Authorizer allowing only "dev-1" under
// "devices/dev-1/", and observers recording what they see.
type deviceACL struct {
	mu     sync.Mutex
	asked  []string
	events []string
}

func (a *deviceACL) record(list *[]string, s string) {
	a.mu.Lock()
	*list = append(*list, s)
	a.mu.Unlock()
}

func (a *deviceACL) CanPublish(c *broker.ClientInfo, topic string) bool {
	a.record(&a.asked, "pub "+c.ClientID+" "+topic)
	return strings.HasPrefix(topic, "devices/"+c.ClientID+"/")
}

func (a *deviceACL) CanSubscribe(c *broker.ClientInfo, filter string) bool {
	a.record(&a.asked, "sub "+c.ClientID+" "+filter)
	return strings.HasPrefix(filter, "devices/"+c.ClientID+"/")
}

func (a *deviceACL) OnPublish(c *broker.ClientInfo, m *broker.Message) {
	who := c.ClientID
	if c.Internal {
		who = "internal"
	}
	a.record(&a.events, "publish "+who+" "+m.ClientID+" "+m.Topic)
}

func (a *deviceACL) OnSubscribe(c *broker.ClientInfo, s broker.Subscription, rc broker.ReasonCode) {
	a.record(&a.events, "subscribe "+c.ClientID+" "+s.Filter+" "+rc.String())
}

func (a *deviceACL) OnUnsubscribe(c *broker.ClientInfo, filter string) {
	a.record(&a.events, "unsubscribe "+c.ClientID+" "+filter)
}

func (a *deviceACL) take() (asked, events []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	asked, events = a.asked, a.events
	a.asked, a.events = nil, nil
	return asked, events
}

// In-process Publish and Subscribe skip the Authorizer and the
// SubscriptionObserver; PublishObservers see them as Internal. With
// PublishOptions.As and SubscribeAs they are checked and observed as the
// named client.
func TestHookInProcessAuthorization(t *testing.T) {
	t.Parallel()
	acl := &deviceACL{}
	n := startBroker(t, broker.Config{}, broker.WithHooks(acl))
	got := make(chan *broker.Message, 4)
	trusted, err := n.b.Subscribe("devices/#", 0, func(m *broker.Message) { got <- m })
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer trusted.Unsubscribe()
	if err := n.b.Publish("devices/dev-2/x", []byte("app"), broker.PublishOptions{}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	recv(t, got)
	asked, events := acl.take()
	if len(asked) != 0 || !slices.Equal(events, []string{"publish internal  devices/dev-2/x"}) {
		t.Fatalf("trusted: asked %q, events %q", asked, events)
	}

	dev := &broker.ClientInfo{ClientID: "dev-1", Username: "dev-1"}
	err = n.b.Publish("devices/dev-2/x", nil, broker.PublishOptions{As: dev})
	if !errors.Is(err, broker.ErrNotAuthorized) {
		t.Fatalf("Publish as dev-1 to dev-2: %v, want ErrNotAuthorized", err)
	}
	if err := n.b.Publish("devices/dev-1/x", []byte("dev"), broker.PublishOptions{As: dev}); err != nil {
		t.Fatalf("Publish as dev-1: %v", err)
	}
	if m := recv(t, got); m.ClientID != "dev-1" || m.Topic != "devices/dev-1/x" {
		t.Fatalf("delivered %+v, want devices/dev-1/x from dev-1", m)
	}
	if _, err := n.b.SubscribeAs(dev, "devices/#", 0, func(*broker.Message) {}); !errors.Is(err, broker.ErrNotAuthorized) {
		t.Fatalf("SubscribeAs dev-1 devices/#: %v, want ErrNotAuthorized", err)
	}
	own, err := n.b.SubscribeAs(dev, "devices/dev-1/#", 1, func(*broker.Message) {})
	if err != nil {
		t.Fatalf("SubscribeAs dev-1 own: %v", err)
	}
	own.Unsubscribe()
	asked, events = acl.take()
	wantAsked := []string{"pub dev-1 devices/dev-2/x", "pub dev-1 devices/dev-1/x", "sub dev-1 devices/#", "sub dev-1 devices/dev-1/#"}
	wantEvents := []string{"publish dev-1 dev-1 devices/dev-1/x", "subscribe dev-1 devices/# Not authorized",
		"subscribe dev-1 devices/dev-1/# Granted QoS 1", "unsubscribe dev-1 devices/dev-1/#"}
	if !slices.Equal(asked, wantAsked) || !slices.Equal(events, wantEvents) {
		t.Fatalf("as dev-1:\n asked  %q\n want   %q\n events %q\n want   %q", asked, wantAsked, events, wantEvents)
	}
}

// readACL lets every client subscribe to anything but read nothing under
// "private/", checking reads per message.
type readACL struct{}

func (readACL) CanPublish(*broker.ClientInfo, string) bool   { return true }
func (readACL) CanSubscribe(*broker.ClientInfo, string) bool { return true }
func (readACL) CheckReads(*broker.ClientInfo, string) bool   { return true }
func (readACL) CanRead(_ *broker.ClientInfo, topic string) bool {
	return !strings.HasPrefix(topic, "private/")
}

// A subscription made with SubscribeAs is read-checked as its client's
// would be, retained messages included; Subscribe's is not.
func TestHookInProcessSubscribeAsReadChecks(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{}, broker.WithHooks(readACL{}))
	if err := n.b.Publish("private/r", []byte("retained"), broker.PublishOptions{Retain: true}); err != nil {
		t.Fatal(err)
	}
	asDev := make(chan string, 4)
	trusted := make(chan string, 4)
	s1, err := n.b.SubscribeAs(&broker.ClientInfo{ClientID: "dev"}, "#", 0, func(m *broker.Message) { asDev <- m.Topic })
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Unsubscribe()
	s2, err := n.b.Subscribe("#", 0, func(m *broker.Message) { trusted <- m.Topic })
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Unsubscribe()
	for _, topic := range []string{"private/x", "public/end"} {
		if err := n.b.Publish(topic, nil, broker.PublishOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"private/r", "private/x", "public/end"} {
		if got := recv(t, trusted); got != want {
			t.Fatalf("trusted subscriber got %s, want %s", got, want)
		}
	}
	if got := recv(t, asDev); got != "public/end" {
		t.Fatalf("subscriber as dev got %s before public/end", got)
	}
}

// recv returns the next value of ch, failing the test after waitFor.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("nothing received within %s", waitFor)
		var zero T
		return zero
	}
}
