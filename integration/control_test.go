package integration

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// Run-time control of a broker: Broker.Disconnect (with a Server
// Reference), Broker.RecheckSubscriptions, and the LocalAddr and AuthTag
// of ClientInfo that they select clients by.

// tagAuth is an Authenticator accepting everyone and tagging each client
// with "tag:<username>".
type tagAuth struct{}

func (tagAuth) Authenticate(req *broker.AuthRequest) packet.ReasonCode {
	req.Tag = "tag:" + req.Username
	return packet.Success
}

// infoRecorder keeps the ClientInfo of each OnConnect, by client id.
type infoRecorder struct {
	recorder
	mu    sync.Mutex
	infos map[string]*broker.ClientInfo
}

func (r *infoRecorder) OnConnect(c *broker.ClientInfo) {
	r.mu.Lock()
	if r.infos == nil {
		r.infos = map[string]*broker.ClientInfo{}
	}
	r.infos[c.ClientID] = c
	r.mu.Unlock()
	r.recorder.OnConnect(c)
}

func (r *infoRecorder) info(id string) *broker.ClientInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.infos[id]
}

// serveAlso makes n's broker serve a second loopback listener and returns
// its address.
func serveAlso(t *testing.T, n *node) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- n.b.Serve(l) }()
	t.Cleanup(func() { // before the broker's Shutdown (cleanups run last first)
		_ = l.Close()
		<-served
	})
	return l.Addr().String()
}

// ClientInfo carries the listener address a client connected to and the
// Authenticator's tag, for hooks and for Disconnect's match.
func TestDisconnectClientInfoLocalAddrAuthTag(t *testing.T) {
	t.Parallel()
	rec := &infoRecorder{}
	n := startBroker(t, broker.Config{}, broker.WithHooks(tagAuth{}, rec))
	second := serveAlso(t, n)
	dialV5(t, n, "first", credentials("alice", "pw"))
	other := &node{b: n.b, addr: second}
	dialV311(t, other, "second", func(o *mqttOptions) { o.SetUsername("bob") })
	for id, want := range map[string][2]string{"first": {n.addr, "tag:alice"}, "second": {second, "tag:bob"}} {
		var info *broker.ClientInfo
		eventually(t, waitFor, func() error {
			if info = rec.info(id); info == nil {
				return fmt.Errorf("no OnConnect for %q", id)
			}
			return nil
		})
		if info.LocalAddr == nil || info.LocalAddr.String() != want[0] {
			t.Errorf("%s: LocalAddr %v, want %s", id, info.LocalAddr, want[0])
		}
		if info.AuthTag != want[1] {
			t.Errorf("%s: AuthTag %v, want %s", id, info.AuthTag, want[1])
		}
	}
	// Disconnect by listener: only the client of the second one goes.
	if got := n.b.Disconnect(func(c *broker.ClientInfo) bool { return c.LocalAddr.String() == second }, packet.AdministrativeAction, ""); got != 1 {
		t.Fatalf("Disconnect by LocalAddr ended %d clients, want 1", got)
	}
	eventually(t, waitFor, func() error { return rec.has("lost second") })
	// Disconnect by tag.
	if got := n.b.Disconnect(func(c *broker.ClientInfo) bool { return c.AuthTag == "tag:alice" }, packet.AdministrativeAction, ""); got != 1 {
		t.Fatalf("Disconnect by AuthTag ended %d clients, want 1", got)
	}
	eventually(t, waitFor, func() error { return rec.has("lost first") })
}

// Broker.Disconnect ends the matching clients: v5 ones with DISCONNECT rc
// (and the Server Reference when given), 3.1.1 ones by closing; the
// ConnectObserver sees ErrDisconnectedByServer. Others stay connected.
func TestDisconnectByServer(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	n := startBroker(t, broker.Config{}, broker.WithHooks(rec))
	r5, ack := connackFor(t, n, packet.V5, "kick-5", 30)
	r3, ack3 := connackFor(t, n, packet.V311, "kick-3", 30)
	if ack.ReasonCode != 0 || ack3.ReasonCode != 0 {
		t.Fatalf("CONNACKs %#02x %#02x", byte(ack.ReasonCode), byte(ack3.ReasonCode))
	}
	keep := dialV5(t, n, "keep")
	keep3 := dialV311(t, n, "keep3")
	for _, id := range []string{"kick-5", "kick-3", "keep", "keep3"} {
		eventually(t, waitFor, func() error { return rec.has("connect " + id) })
	}
	got := n.b.Disconnect(func(c *broker.ClientInfo) bool { return strings.HasPrefix(c.ClientID, "kick-") }, packet.ServerMoved, "other.example:1883")
	if got != 2 {
		t.Fatalf("Disconnect ended %d clients, want 2", got)
	}
	d := expectPacket[*packet.Disconnect](r5)
	if d.ReasonCode != packet.ServerMoved || !d.Props.Has(packet.PropServerReference) || d.Props.ServerReference != "other.example:1883" {
		t.Fatalf("got %s with Server Reference %q, want 0x9D with \"other.example:1883\"", describe(d), d.Props.ServerReference)
	}
	r5.expectClosed()
	r3.expectClosed()
	for _, id := range []string{"kick-5", "kick-3"} {
		eventually(t, waitFor, func() error {
			if err := rec.lostCause(id); !errors.Is(err, broker.ErrDisconnectedByServer) {
				return fmt.Errorf("%s: OnConnectionLost cause %v, want ErrDisconnectedByServer", id, err)
			}
			return nil
		})
	}
	// The others are untouched.
	keep.subscribe("dk/t", 0)
	keep3.publish("dk/t", "alive", 0, false)
	if m := expectMessage(t, keep.msgs, waitFor); m.Payload != "alive" {
		t.Fatalf("got %v", m)
	}
	// Without a reference: no Server Reference property.
	if got := n.b.Disconnect(func(c *broker.ClientInfo) bool { return c.ClientID == "keep" }, packet.AdministrativeAction, ""); got != 1 {
		t.Fatalf("Disconnect ended %d clients, want 1", got)
	}
	d5 := keep.expectServerDisconnect()
	if d5.ReasonCode != byte(packet.AdministrativeAction) {
		t.Fatalf("DISCONNECT %#02x, want 0x98", d5.ReasonCode)
	}
	if d5.Properties != nil && d5.Properties.ServerReference != "" {
		t.Fatalf("Server Reference %q, want none", d5.Properties.ServerReference)
	}
	if got := n.b.Disconnect(func(*broker.ClientInfo) bool { return false }, packet.AdministrativeAction, ""); got != 0 {
		t.Fatalf("Disconnect matching nobody ended %d clients", got)
	}
	eventually(t, waitFor, func() error {
		if err := rec.lostCause("keep"); !errors.Is(err, broker.ErrDisconnectedByServer) {
			return fmt.Errorf("keep: OnConnectionLost cause %v, want ErrDisconnectedByServer", err)
		}
		return nil
	})
	eventually(t, waitFor, func() error {
		if got := n.b.Stats().ClientsConnected; got != 1 {
			return fmt.Errorf("ClientsConnected %d, want 1 (keep3)", got)
		}
		return nil
	})
}

// flipAuthz is an Authorizer that refuses filters under "rk/" once deny is
// set.
type flipAuthz struct{ deny atomic.Bool }

func (*flipAuthz) CanPublish(*broker.ClientInfo, string) bool { return true }

func (a *flipAuthz) CanSubscribe(_ *broker.ClientInfo, filter string) bool {
	return !a.deny.Load() || !strings.HasPrefix(filter, "rk/")
}

// subEvents is a SubscriptionObserver recording unsubscriptions.
type subEvents struct {
	mu     sync.Mutex
	unsubs []string
}

func (*subEvents) OnSubscribe(*broker.ClientInfo, broker.Subscription, broker.ReasonCode) {}

func (s *subEvents) OnUnsubscribe(c *broker.ClientInfo, filter string) {
	s.mu.Lock()
	s.unsubs = append(s.unsubs, c.ClientID+" "+filter)
	s.mu.Unlock()
}

// RecheckSubscriptions removes the subscriptions the Authorizer now
// refuses, for v5 and 3.1.1 sessions, connected or not; their subscribers
// stop receiving.
func TestRecheckSubscriptions(t *testing.T) {
	t.Parallel()
	authz, obs := &flipAuthz{}, &subEvents{}
	n := startBroker(t, broker.Config{}, broker.WithHooks(authz, obs))
	s5, s3 := dialV5(t, n, "s5"), dialV311(t, n, "s3")
	off := dialV5(t, n, "off", cleanStart(true), sessionExpiry(60))
	for _, f := range []string{"rk/#", "ok/#"} {
		if rc := s5.subscribe(f, 1); rc != 1 {
			t.Fatalf("v5 SUBACK %#02x", rc)
		}
		if rc := s3.subscribe(f, 1); rc != 1 {
			t.Fatalf("3.1.1 SUBACK %#02x", rc)
		}
	}
	off.subscribe("rk/off", 1)
	off.drop() // session kept offline
	pub := dialV5(t, n, "pub")
	pub.publish("rk/1", "before", 1, false)
	for _, c := range []chan msg{s5.msgs, s3.msgs} {
		if m := expectMessage(t, c, waitFor); m.Payload != "before" {
			t.Fatalf("got %v", m)
		}
	}
	if got := n.b.RecheckSubscriptions(); got != 0 {
		t.Fatalf("RecheckSubscriptions removed %d with nothing refused", got)
	}
	before := n.b.Stats().Subscriptions

	authz.deny.Store(true)
	if got := n.b.RecheckSubscriptions(); got != 3 {
		t.Fatalf("RecheckSubscriptions removed %d, want 3", got)
	}
	if got := n.b.Stats().Subscriptions; got != before-3 {
		t.Errorf("Subscriptions %d, want %d", got, before-3)
	}
	pub.publish("rk/2", "after", 1, false)
	pub.publish("ok/end", "end", 1, false)
	expectNoMessage(t, s5.msgs, "end")
	expectNoMessage(t, s3.msgs, "end")
	obs.mu.Lock()
	unsubs := slices.Sorted(slices.Values(obs.unsubs))
	obs.mu.Unlock()
	if want := []string{"off rk/off", "s3 rk/#", "s5 rk/#"}; !slices.Equal(unsubs, want) {
		t.Errorf("OnUnsubscribe %q, want %q", unsubs, want)
	}
	// A fresh SUBSCRIBE is refused too, and the offline session resumes
	// without the removed subscription.
	if rc := s5.subscribe("rk/#", 1); rc != byte(packet.NotAuthorized) {
		t.Errorf("SUBACK %#02x, want 0x87", rc)
	}
	back := dialV5(t, n, "off", cleanStart(false), sessionExpiry(60))
	if !back.connack.SessionPresent {
		t.Fatal("offline session not resumed")
	}
	back.subscribe("ok/off", 1)
	pub.publish("rk/off", "gone", 1, false)
	pub.publish("ok/off", "end", 1, false)
	expectNoMessage(t, back.msgs, "end")
	if got := n.b.RecheckSubscriptions(); got != 0 {
		t.Errorf("second RecheckSubscriptions removed %d, want 0", got)
	}
}
