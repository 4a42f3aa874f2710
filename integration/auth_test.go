package integration

import (
	"errors"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// passwords is an Authenticator accepting one password.
type passwords struct{ want string }

func (p passwords) Authenticate(req *broker.AuthRequest) packet.ReasonCode {
	if string(req.Password) != p.want {
		return packet.BadUsernameOrPassword
	}
	return packet.Success
}

// A refused password gets v5 CONNACK 0x86 [MQTT-3.2.2-6 .. §3.2.2.2].
func TestAuthenticatorRefusesV5(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{}, broker.WithHooks(passwords{"secret"}))
	c, err := connectV5(t, n, "c", credentials("u", "wrong"))
	if err == nil || c.connack == nil || c.connack.ReasonCode != byte(packet.BadUsernameOrPassword) {
		t.Fatalf("CONNACK %+v (err %v), want reason 0x86", c.connack, err)
	}
	dialV5(t, n, "ok", credentials("u", "secret"))
}

// A refused password gets 3.1.1 return code 4 [MQTT-3.2.2-5, §3.2.2.3].
func TestAuthenticatorRefusesV311(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{}, broker.WithHooks(passwords{"secret"}))
	_, err := connectV311(t, n, "c", func(o *mqttOptions) { o.SetUsername("u").SetPassword("wrong") })
	if !errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) {
		t.Fatalf("connect error %v, want return code 4 (%v)", err, packets.ErrorRefusedBadUsernameOrPassword)
	}
	dialV311(t, n, "ok", func(o *mqttOptions) { o.SetUsername("u").SetPassword("secret") })
}

// challenge is an EnhancedAuthenticator for method "CHALLENGE": CONNECT
// carries "hello", then two rounds of challenge and response.
type challenge struct{}

func (challenge) Supports(method string) bool { return method == "CHALLENGE" }

func (challenge) Exchange(x *broker.AuthExchange) packet.ReasonCode {
	want := []string{"hello", "response-1", "response-2"}
	if x.Step >= len(want) || string(x.In) != want[x.Step] {
		return packet.NotAuthorized
	}
	if x.Step == 2 {
		x.Out = []byte("welcome")
		return packet.Success
	}
	x.Out = []byte("challenge-" + string(rune('1'+x.Step)))
	return packet.ContinueAuthentication
}

// authPacket builds an AUTH packet of method CHALLENGE.
func authPacket(rc packet.ReasonCode, data string) *packet.Auth {
	a := &packet.Auth{ReasonCode: rc}
	a.Props.AuthMethod, a.Props.AuthData = "CHALLENGE", []byte(data)
	a.Props.Set(packet.PropAuthMethod)
	a.Props.Set(packet.PropAuthData)
	return a
}

// challengeConnect is a v5 CONNECT that starts the CHALLENGE exchange.
func challengeConnect() packet.Connect {
	cp := packet.Connect{Version: packet.V5, ClientID: "c", CleanStart: true, KeepAlive: 30}
	cp.Props = authPacket(0, "hello").Props
	return cp
}

// Enhanced authentication with a two-step challenge: AUTH 0x18 back and
// forth, then CONNACK 0x00 with the method [MQTT-4.12.0-*, §4.12].
func TestEnhancedAuthTwoStep(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{}, broker.WithHooks(challenge{}))
	r := dialRaw(t, n, packet.V5)
	cp := challengeConnect()
	r.send(&cp)
	for i, resp := range []string{"response-1", "response-2"} {
		a := expectPacket[*packet.Auth](r)
		if a.ReasonCode != packet.ContinueAuthentication || a.Props.AuthMethod != "CHALLENGE" || string(a.Props.AuthData) != "challenge-"+string(rune('1'+i)) {
			t.Fatalf("step %d: AUTH %#02x %q %q, want 0x18 CHALLENGE challenge-%d", i, byte(a.ReasonCode), a.Props.AuthMethod, a.Props.AuthData, i+1)
		}
		r.send(authPacket(packet.ContinueAuthentication, resp))
	}
	ack := expectPacket[*packet.Connack](r)
	if ack.ReasonCode != 0 || ack.Props.AuthMethod != "CHALLENGE" || string(ack.Props.AuthData) != "welcome" {
		t.Fatalf("%s, want CONNACK 0x00 with method CHALLENGE and data welcome", describe(ack))
	}
}

// A wrong response ends the exchange with CONNACK 0x87, an unknown method
// with CONNACK 0x8C [MQTT-4.12.0-1].
func TestEnhancedAuthRefused(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{}, broker.WithHooks(challenge{}))
	r := dialRaw(t, n, packet.V5)
	cp := challengeConnect()
	r.send(&cp)
	expectPacket[*packet.Auth](r)
	r.send(authPacket(packet.ContinueAuthentication, "wrong"))
	if ack := expectPacket[*packet.Connack](r); ack.ReasonCode != packet.NotAuthorized {
		t.Fatalf("%s, want CONNACK 0x87", describe(ack))
	}
	r.expectClosed()
	cp.Props.AuthMethod = "OTHER"
	_, ack := connectRaw(t, n, packet.V5, cp)
	if ack.ReasonCode != packet.BadAuthenticationMethod {
		t.Fatalf("%s, want CONNACK 0x8C", describe(ack))
	}
}

// pahoAuther answers the CHALLENGE exchange for paho's client.
type pahoAuther struct{}

func (pahoAuther) Authenticate(a *paho.Auth) *paho.Auth {
	resp := "response-" + string(a.Properties.AuthData[len(a.Properties.AuthData)-1])
	return &paho.Auth{ReasonCode: byte(packet.ContinueAuthentication), Properties: &paho.AuthProperties{AuthMethod: "CHALLENGE", AuthData: []byte(resp)}}
}

func (pahoAuther) Authenticated() {}

// The same exchange through paho's Auther.
func TestEnhancedAuthWithPaho(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{}, broker.WithHooks(challenge{}))
	c := dialV5(t, n, "c", func(cfg *paho.ClientConfig, cp *paho.Connect) {
		cfg.AuthHandler = pahoAuther{}
		connectProps(cp).AuthMethod = "CHALLENGE"
		connectProps(cp).AuthData = []byte("hello")
	})
	if c.connack.Properties == nil || c.connack.Properties.AuthMethod != "CHALLENGE" {
		t.Fatalf("CONNACK %+v, want Authentication Method CHALLENGE", c.connack)
	}
}

// Re-authentication: after CONNACK the client sends AUTH 0x19 and runs the
// same challenge; the broker ends it with AUTH 0x00 [MQTT-4.12.1-1, §4.12.1].
func TestEnhancedReauthentication(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{}, broker.WithHooks(challenge{}))
	r := dialRaw(t, n, packet.V5)
	cp := challengeConnect()
	r.send(&cp)
	expectPacket[*packet.Auth](r)
	r.send(authPacket(packet.ContinueAuthentication, "response-1"))
	expectPacket[*packet.Auth](r)
	r.send(authPacket(packet.ContinueAuthentication, "response-2"))
	expectPacket[*packet.Connack](r)
	r.send(authPacket(packet.ReAuthenticate, "hello"))
	for _, resp := range []string{"response-1", "response-2"} {
		if a := expectPacket[*packet.Auth](r); a.ReasonCode != packet.ContinueAuthentication {
			t.Fatalf("AUTH %#02x, want 0x18", byte(a.ReasonCode))
		}
		r.send(authPacket(packet.ContinueAuthentication, resp))
	}
	if a := expectPacket[*packet.Auth](r); a.ReasonCode != packet.Success || a.Props.AuthMethod != "CHALLENGE" {
		t.Fatalf("AUTH %#02x %q, want 0x00 with method CHALLENGE", byte(a.ReasonCode), a.Props.AuthMethod)
	}
}

// endless is an EnhancedAuthenticator that never finishes.
type endless struct{}

func (endless) Supports(string) bool { return true }

func (endless) Exchange(x *broker.AuthExchange) packet.ReasonCode {
	x.Out = []byte("again")
	return packet.ContinueAuthentication
}

// ConnectTimeout bounds the whole CONNECT and enhanced authentication
// exchange (Config.ConnectTimeout), not each step: a client answering every
// AUTH promptly is still cut off after 300ms.
func TestConnectTimeoutBoundsEnhancedAuth(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{ConnectTimeout: 300 * time.Millisecond}, broker.WithHooks(endless{}))
	r := dialRaw(t, n, packet.V5)
	cp := challengeConnect()
	start := time.Now()
	r.send(&cp)
	pace := time.NewTicker(100 * time.Millisecond)
	defer pace.Stop()
	for time.Since(start) < 2*time.Second {
		p, err := r.read(time.Second)
		if err != nil {
			return // closed
		}
		if _, ok := p.(*packet.Auth); !ok {
			return // CONNACK refusal
		}
		<-pace.C
		r.send(authPacket(packet.ContinueAuthentication, "more"))
	}
	t.Fatalf("enhanced authentication still running after %s with ConnectTimeout 300ms", time.Since(start))
}
