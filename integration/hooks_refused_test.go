package integration

import (
	"net"
	"strings"
	"testing"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// refusals is an Authenticator accepting password "ok", a will-topic
// Authorizer, and a ConnectRefusedObserver that calls back into the
// broker (which deadlocks if a broker lock is held) and records each
// refusal.
type refusals struct {
	b    func() *broker.Broker
	seen chan broker.RefusedConnect
}

func (r *refusals) Authenticate(req *broker.AuthRequest) broker.ReasonCode {
	if string(req.Password) != "ok" {
		return broker.BadUsernameOrPassword
	}
	return broker.Success
}

func (r *refusals) CanPublish(_ *broker.ClientInfo, topic string) bool {
	return !strings.HasPrefix(topic, "forbidden/")
}

func (r *refusals) CanSubscribe(*broker.ClientInfo, string) bool { return true }

func (r *refusals) OnConnectRefused(rc *broker.RefusedConnect) {
	r.b().CountClients(func(*broker.ClientInfo) bool { return true }) // takes Broker.mu
	r.seen <- *rc
}

// expect reads the next refusal and checks its identity and reason.
func (r *refusals) expect(t *testing.T, n *node, clientID, user string, version byte, rc broker.ReasonCode, local net.Addr) broker.RefusedConnect {
	t.Helper()
	got := recv(t, r.seen)
	if got.ClientID != clientID || got.Username != user || got.Version != version || got.ReasonCode != rc {
		t.Errorf("refused %q user %q v%d %v; want %q user %q v%d %v", got.ClientID, got.Username, got.Version, got.ReasonCode,
			clientID, user, version, rc)
	}
	if got.LocalAddr == nil || got.LocalAddr.String() != n.addr {
		t.Errorf("%s: local address %v, want the listener's %s", clientID, got.LocalAddr, n.addr)
	}
	if local != nil && (got.RemoteAddr == nil || got.RemoteAddr.String() != local.String()) {
		t.Errorf("%s: remote address %v, want the client's %v", clientID, got.RemoteAddr, local)
	}
	return got
}

// Every refused CONNECT reaches the ConnectRefusedObserver, with no broker
// lock held: bad credentials (v5 and 3.1.1), a refused will topic, an
// invalid client id, MaxConnections, an unsupported protocol version and
// a malformed CONNECT.
func TestHookConnectRefused(t *testing.T) {
	t.Parallel()
	var b *broker.Broker
	obs := &refusals{b: func() *broker.Broker { return b }, seen: make(chan broker.RefusedConnect, 16)}
	n := startBroker(t, broker.Config{MaxClientIDLength: 16, MaxConnections: 2}, broker.WithHooks(obs))
	b = n.b

	if _, err := connectV5(t, n, "dev-1", credentials("dev-1", "wrong")); err == nil {
		t.Fatal("v5 client with a bad password connected")
	}
	obs.expect(t, n, "dev-1", "dev-1", 5, broker.BadUsernameOrPassword, nil)

	if _, err := connectV311(t, n, "dev-2", func(o *mqttOptions) { o.SetUsername("dev-2").SetPassword("wrong") }); err == nil {
		t.Fatal("3.1.1 client with a bad password connected")
	}
	obs.expect(t, n, "dev-2", "dev-2", 4, broker.BadUsernameOrPassword, nil)

	if _, err := connectV5(t, n, "dev-3", credentials("dev-3", "ok"), will("forbidden/w", "x", 0, 0)); err == nil {
		t.Fatal("client with a forbidden will topic connected")
	}
	obs.expect(t, n, "dev-3", "dev-3", 5, broker.NotAuthorized, nil)

	r, ack := connectRaw(t, n, packet.V5, packet.Connect{ClientID: strings.Repeat("x", 17), CleanStart: true, UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("ok")})
	if ack.ReasonCode != packet.ClientIdentifierNotValid {
		t.Fatalf("long client id: CONNACK %v", ack.ReasonCode)
	}
	obs.expect(t, n, strings.Repeat("x", 17), "u", 5, broker.ClientIdentifierNotValid, r.conn.LocalAddr())

	dialV5(t, n, "ok-1", credentials("ok-1", "ok"))
	dialV5(t, n, "ok-2", credentials("ok-2", "ok"))
	if _, err := connectV5(t, n, "dev-4", credentials("dev-4", "ok")); err == nil {
		t.Fatal("a third client connected with MaxConnections 2")
	}
	obs.expect(t, n, "dev-4", "dev-4", 5, broker.QuotaExceeded, nil)

	r, ack = connectRaw(t, n, 6, packet.Connect{ClientID: "dev-5", CleanStart: true})
	if ack.ReasonCode != packet.ConnRefusedProtocolVersion {
		t.Fatalf("protocol level 6: CONNACK %v", ack.ReasonCode)
	}
	obs.expect(t, n, "", "", 6, broker.UnsupportedProtocolVersion, r.conn.LocalAddr()) // the rest is not read

	r = dialRaw(t, n, packet.V311)
	cp := (&packet.Connect{Version: packet.V311, ClientID: "dev-6", CleanStart: true}).AppendTo(nil, packet.V311)
	cp[9] |= 0x01 // the reserved flag of the Connect Flags [MQTT-3.1.2-3]
	r.write(cp)
	r.expectClosed()
	if got := obs.expect(t, n, "", "", 4, broker.MalformedPacket, r.conn.LocalAddr()); got.Err == nil {
		t.Error("malformed CONNECT: no decoding error")
	}
	select {
	case extra := <-obs.seen:
		t.Fatalf("unexpected refusal %+v", extra)
	default:
	}
}
