package integration

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"go.uber.org/zap/zaptest"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/listeners"
)

// pahoOver connects an MQTT 5 paho client over conn and subscribes it to
// filter; its messages go to the returned channel.
func pahoOver(t *testing.T, conn net.Conn, id, filter string) (*paho.Client, <-chan msg) {
	t.Helper()
	msgs := make(chan msg, 16)
	c := paho.NewClient(paho.ClientConfig{Conn: conn, PacketTimeout: waitFor,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			msgs <- msg{Topic: pr.Packet.Topic, Payload: string(pr.Packet.Payload), QoS: pr.Packet.QoS}
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if ack, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatalf("%s: connect: %v (%+v)", id, err, ack)
	}
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}}); err != nil {
		t.Fatalf("%s: subscribe: %v", id, err)
	}
	return c, msgs
}

// A broker given listeners serves them all (MQTTS and secure WebSocket
// from files and from a *tls.Config whose GetCertificate serves the
// certificate) and closes them on Shutdown: afterwards their ports refuse
// connections.
func TestTransportBrokerOwnsListeners(t *testing.T) {
	t.Parallel()
	bundle, dir := tlsFiles(t)
	log := zaptest.NewLogger(t)
	must := func(l *listeners.Listener, err error) *listeners.Listener {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	cert := bundle.ServerTLS()
	fromStore := &listeners.TLSConfig{Config: &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil }}}
	local := "127.0.0.1:0"
	tr := &transports{bundle: bundle, dir: dir,
		tcp:   must(listeners.NewTCP(listeners.Config{Addr: local}, log)),
		mqtts: must(listeners.NewTLS(listeners.Config{Addr: local, TLS: serverTLS(dir, "none")}, log)),
		ws:    must(listeners.NewWebSocket(listeners.Config{Addr: local}, log)),
		wss:   must(listeners.NewWebSocket(listeners.Config{Addr: local, TLS: fromStore}, log)),
	}
	mqttsStore := must(listeners.NewTLS(listeners.Config{Name: "mqtts-store", Addr: local, TLS: fromStore}, log))
	b, err := broker.New(broker.Config{SysInterval: -1}, broker.WithLogger(log),
		broker.WithListeners(tr.tcp, tr.mqtts, tr.ws, tr.wss))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AddListener(mqttsStore); err != nil {
		t.Fatalf("AddListener: %v", err)
	}

	var inboxes []<-chan msg
	for _, kind := range []string{"mqtt", "mqtts", "ws", "wss", "mqtts-store"} {
		var conn net.Conn
		if kind == "mqtts-store" {
			conn, err = tls.Dial("tcp", mqttsStore.Addr().String(), tr.clientTLS(nil))
		} else {
			conn, err = tr.dial(t, kind, nil)
		}
		if err != nil {
			t.Fatalf("dial %s: %v", kind, err)
		}
		_, inbox := pahoOver(t, conn, "dev-"+kind, "cmd/#")
		inboxes = append(inboxes, inbox)
	}
	if err := b.Publish("cmd/all", []byte("reboot"), broker.PublishOptions{QoS: 1}); err != nil {
		t.Fatal(err)
	}
	for i, inbox := range inboxes {
		if m := expectMessage(t, inbox, waitFor); m.Topic != "cmd/all" || m.Payload != "reboot" || m.QoS != 1 {
			t.Fatalf("client %d got %v", i, m)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, l := range []*listeners.Listener{tr.tcp, tr.mqtts, tr.ws, tr.wss, mqttsStore} {
		if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
			c.Close()
			t.Errorf("%s: %s still accepts after Shutdown", l.Name(), l.Addr())
		}
	}
	late := must(listeners.NewTCP(listeners.Config{Addr: local}, log))
	if err := b.AddListener(late); !errors.Is(err, broker.ErrClosed) {
		t.Errorf("AddListener after Shutdown: %v, want ErrClosed", err)
	}
	if c, err := net.Dial("tcp", late.Addr().String()); err == nil {
		c.Close()
		t.Error("a listener refused by AddListener was left open")
	}
}

// A New that fails closes the listeners it was given.
func TestTransportNewFailureClosesListeners(t *testing.T) {
	t.Parallel()
	l, err := listeners.NewTCP(listeners.Config{Addr: "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = broker.New(broker.Config{SysInterval: -1}, broker.WithListeners(l), broker.WithHooks(struct{}{}))
	if err == nil || !strings.Contains(err.Error(), "implements no hook interface") {
		t.Fatalf("New: %v", err)
	}
	if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
		c.Close()
		t.Errorf("%s still accepts after New failed", l.Addr())
	}
}
