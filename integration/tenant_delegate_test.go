package integration

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	packets "github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
	"github.com/jmqx/jmqx/tenant"
)

// registry is an application's device registry: user name to password. As
// an Authenticator it admits the devices it lists and tags them; it also
// implements Authorizer, refusing everything, so that a test can tell
// whether the Host used more of it than WithAuthenticator asks for.
type registry struct {
	devices map[string]string
	mu      sync.Mutex
	asked   []string // the user names it was asked about
}

func newRegistry(devices map[string]string) *registry { return &registry{devices: devices} }

func (r *registry) Authenticate(req *broker.AuthRequest) packet.ReasonCode {
	r.mu.Lock()
	r.asked = append(r.asked, req.Username)
	r.mu.Unlock()
	if pw, ok := r.devices[req.Username]; ok && pw == string(req.Password) {
		req.Tag = "registry:" + req.Username
		return packet.Success
	}
	return packet.BadUsernameOrPassword
}

func (r *registry) CanPublish(*broker.ClientInfo, string) bool   { return false }
func (r *registry) CanSubscribe(*broker.ClientInfo, string) bool { return false }

// askedAbout returns the user names the registry was asked about.
func (r *registry) askedAbout() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.asked)
}

// banned is a WithHooks Authenticator refusing one client id with 0x8A.
type banned string

func (b banned) Authenticate(req *broker.AuthRequest) packet.ReasonCode {
	if req.ClientID == string(b) {
		return packet.Banned
	}
	return packet.Success
}

// tagSeen is a ConnectObserver recording the AuthTag of each client.
type tagSeen struct {
	mu   sync.Mutex
	tags map[string]any
}

func (s *tagSeen) OnConnect(c *broker.ClientInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tags[c.ClientID] = c.AuthTag
}
func (s *tagSeen) OnDisconnect(*broker.ClientInfo)            {}
func (s *tagSeen) OnConnectionLost(*broker.ClientInfo, error) {}

func (s *tagSeen) tag(clientID string) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tags[clientID]
}

// refusedV5 connects an MQTT 5 client and fails the test unless CONNACK
// refuses it with rc.
func refusedV5(t *testing.T, n *node, clientID string, rc packet.ReasonCode, opts ...v5Option) {
	t.Helper()
	c, err := connectV5(t, n, clientID, opts...)
	if err == nil || c.connack == nil || c.connack.ReasonCode != byte(rc) {
		t.Fatalf("%s: CONNACK %+v (err %v), want reason %v", clientID, c.connack, err, rc)
	}
}

// A tenant whose authentication is delegated admits exactly the clients
// the application's Authenticator admits, whatever its spec's Auth says
// (before WithAuthenticator, the application could only add refusals
// with WithHooks, and a spec without users refused every user name with
// 0x86); a tenant for which the application returns nil keeps
// authenticating by its spec, and the application is not asked. Only the
// Authenticate method of the value is used (its CanPublish refuses all).
func TestTenantDelegatedAuthentication(t *testing.T) {
	reg := newRegistry(map[string]string{"dev-1": "pw-1"})
	seen := &tagSeen{tags: map[string]any{}}
	h := startHost(t, tenant.HostConfig{},
		tenant.WithAuthenticator(func(s tenant.Spec) broker.Authenticator {
			if s.Name == "platform" {
				return reg
			}
			return nil
		}),
		tenant.WithHooks(func(tenant.Spec) []any { return []any{seen} }))
	platform := basicSpec("platform")
	// Ignored: the application decides for this tenant.
	platform.Auth = tenant.Auth{AllowAnonymous: true, Users: []tenant.User{user(t, "alice", "alice-pw")}}
	apply(t, h, platform)
	own := basicSpec("own")
	own.Auth = tenant.Auth{Users: []tenant.User{user(t, "alice", "alice-pw")}}
	apply(t, h, own)
	p, o := tenantNode(t, h, "platform", tenant.ListenerMQTT), tenantNode(t, h, "own", tenant.ListenerMQTT)

	// The registry's device, over MQTT 5 and 3.1.1; publishing works (the
	// spec's ACL, default allow, decides: not the registry's CanPublish).
	c := dialV5(t, p, "d1-v5", credentials("dev-1", "pw-1"))
	if rc := c.publish("devices/dev-1/up", "x", 1, false); rc >= 0x80 {
		t.Fatalf("delegated device PUBACK 0x%02x, want success (the registry's CanPublish must not be used)", rc)
	}
	dialV311(t, p, "d1-v3", func(o *mqttOptions) { o.SetUsername("dev-1").SetPassword("pw-1") })
	eventually(t, waitFor, func() error {
		if tag := seen.tag("d1-v5"); tag != "registry:dev-1" {
			return errors.New("AuthTag of d1-v5 not the registry's")
		}
		return nil
	})
	// The registry's refusals, and the spec's users and anonymous access
	// are not a way in.
	refusedV5(t, p, "d1-wrong", packet.BadUsernameOrPassword, credentials("dev-1", "nope"))
	refusedV5(t, p, "alice", packet.BadUsernameOrPassword, credentials("alice", "alice-pw"))
	refusedV5(t, p, "anon", packet.BadUsernameOrPassword)
	if _, err := connectV311(t, p, "d1-v3-wrong", func(o *mqttOptions) { o.SetUsername("dev-1").SetPassword("nope") }); !errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) {
		t.Fatalf("3.1.1 wrong password: %v, want return code 4", err)
	}
	asked := reg.askedAbout()
	if want := []string{"dev-1", "dev-1", "dev-1", "alice", "", "dev-1"}; !slices.Equal(asked, want) {
		t.Fatalf("registry asked about %q, want %q", asked, want)
	}

	// The other tenant: its spec's users, and the registry is not asked.
	dialV5(t, o, "alice", credentials("alice", "alice-pw"))
	refusedV5(t, o, "dev", packet.BadUsernameOrPassword, credentials("dev-1", "pw-1"))
	if n := len(reg.askedAbout()); n != len(asked) {
		t.Fatalf("registry asked %d more times for a tenant that does not delegate", n-len(asked))
	}
	// OnConnect follows the CONNACK, so the client may be told first.
	eventually(t, waitFor, func() error {
		if tag := seen.tag("alice"); tag != (tenant.Credential{User: "alice", Hash: own.Auth.Users[0].PasswordHashes[0]}) {
			return fmt.Errorf("AuthTag of alice = %#v, want the spec's Credential", tag)
		}
		return nil
	})
}

// Authenticators given with WithHooks are asked after the one that
// decides, and must accept too: after the spec's users, and after the
// application's delegated Authenticator.
func TestTenantAuthenticationHooksAddRefusals(t *testing.T) {
	reg := newRegistry(map[string]string{"dev-1": "pw-1"})
	h := startHost(t, tenant.HostConfig{},
		tenant.WithAuthenticator(func(s tenant.Spec) broker.Authenticator {
			if s.Name == "platform" {
				return reg
			}
			return nil
		}),
		tenant.WithHooks(func(tenant.Spec) []any { return []any{banned("evil")} }))
	apply(t, h, basicSpec("platform"))
	own := basicSpec("own")
	own.Auth = tenant.Auth{Users: []tenant.User{user(t, "alice", "alice-pw")}}
	apply(t, h, own)
	p, o := tenantNode(t, h, "platform", tenant.ListenerMQTT), tenantNode(t, h, "own", tenant.ListenerMQTT)

	dialV5(t, p, "good", credentials("dev-1", "pw-1"))
	refusedV5(t, p, "evil", packet.Banned, credentials("dev-1", "pw-1"))
	refusedV5(t, p, "good2", packet.BadUsernameOrPassword, credentials("dev-1", "nope"))

	dialV5(t, o, "good", credentials("alice", "alice-pw"))
	refusedV5(t, o, "evil", packet.Banned, credentials("alice", "alice-pw"))
	refusedV5(t, o, "good2", packet.BadUsernameOrPassword, credentials("alice", "nope"))
}

// deviceTopics is an application's authorization: a device may publish and
// subscribe under devices/{user}/ only. As a ReadAuthorizer it also hides
// the messages of devices/{user}/private/ from subscriptions that cover
// them.
type deviceTopics struct{}

func (deviceTopics) mine(c *broker.ClientInfo, topic string) bool {
	return strings.HasPrefix(topic, "devices/"+c.Username+"/")
}
func (d deviceTopics) CanPublish(c *broker.ClientInfo, topic string) bool { return d.mine(c, topic) }
func (d deviceTopics) CanSubscribe(c *broker.ClientInfo, filter string) bool {
	return d.mine(c, filter)
}
func (deviceTopics) CheckReads(*broker.ClientInfo, string) bool { return true }
func (deviceTopics) CanRead(_ *broker.ClientInfo, topic string) bool {
	return !strings.Contains(topic, "/private/")
}

// denyTopic is a WithHooks Authorizer refusing one topic or filter.
type denyTopic string

func (d denyTopic) CanPublish(_ *broker.ClientInfo, topic string) bool    { return topic != string(d) }
func (d denyTopic) CanSubscribe(_ *broker.ClientInfo, filter string) bool { return filter != string(d) }

// A tenant whose authorization is delegated lets its clients publish and
// subscribe as the application's Authorizer (and ReadAuthorizer) says,
// whatever its spec's ACL says; its authentication stays the spec's. A
// tenant for which the application returns nil keeps its spec's ACL.
// Authorizers given with WithHooks must allow too, in both.
func TestTenantDelegatedAuthorization(t *testing.T) {
	h := startHost(t, tenant.HostConfig{},
		tenant.WithAuthorizer(func(s tenant.Spec) broker.Authorizer {
			if s.Name == "platform" {
				return deviceTopics{}
			}
			return nil
		}),
		tenant.WithHooks(func(tenant.Spec) []any { return []any{denyTopic("devices/alice/blocked")} }))
	users := tenant.Auth{Users: []tenant.User{user(t, "alice", "alice-pw")}}
	// The ACL would allow only "open/#": ignored for platform.
	acl := tenant.ACL{Default: tenant.Deny, Rules: []tenant.Rule{{Action: tenant.Allow, Topic: "open/#"}}}
	platform, own := basicSpec("platform"), basicSpec("own")
	platform.Auth, platform.ACL = users, acl
	own.Auth, own.ACL = users, acl
	apply(t, h, platform)
	apply(t, h, own)
	p, o := tenantNode(t, h, "platform", tenant.ListenerMQTT), tenantNode(t, h, "own", tenant.ListenerMQTT)

	// Authentication is still the spec's.
	refusedV5(t, p, "nobody", packet.BadUsernameOrPassword, credentials("bob", "x"))

	c := dialV5(t, p, "alice", credentials("alice", "alice-pw"))
	checks := []struct {
		topic string
		want  packet.ReasonCode // Success: any success code (0x10 without subscribers)
	}{
		{"devices/alice/up", packet.Success},
		{"open/x", packet.NotAuthorized},
		{"devices/bob/up", packet.NotAuthorized},
		{"devices/alice/blocked", packet.NotAuthorized}, // the WithHooks Authorizer
	}
	for _, ck := range checks {
		rc := c.publish(ck.topic, "x", 1, false)
		if ck.want == packet.Success && rc >= 0x80 || ck.want != packet.Success && rc != byte(ck.want) {
			t.Errorf("platform: publish %s: PUBACK 0x%02x, want 0x%02x", ck.topic, rc, byte(ck.want))
		}
	}
	if rc := c.subscribe("devices/alice/#", 1); rc != 1 {
		t.Fatalf("platform: subscribe devices/alice/#: SUBACK 0x%02x, want 1", rc)
	}
	if rc := c.subscribe("open/#", 1); rc != byte(packet.NotAuthorized) {
		t.Fatalf("platform: subscribe open/#: SUBACK 0x%02x, want 0x87", rc)
	}
	if rc := c.subscribe("devices/alice/blocked", 1); rc != byte(packet.NotAuthorized) {
		t.Fatalf("platform: subscribe devices/alice/blocked: SUBACK 0x%02x, want 0x87 (WithHooks Authorizer)", rc)
	}
	// The ReadAuthorizer hides private messages from the wildcard.
	c.publish("devices/alice/private/key", "secret", 1, false)
	c.publish("devices/alice/end", "end", 1, false)
	for _, m := range collectUntil(t, c.msgs, "end") {
		t.Errorf("platform: delivered %s, want it hidden by CanRead", m.Topic)
	}

	// The other tenant: its spec's ACL.
	d := dialV5(t, o, "alice", credentials("alice", "alice-pw"))
	if rc := d.publish("open/x", "x", 1, false); rc >= 0x80 {
		t.Errorf("own: publish open/x: PUBACK 0x%02x, want success", rc)
	}
	if rc := d.publish("devices/alice/up", "x", 1, false); rc != byte(packet.NotAuthorized) {
		t.Errorf("own: publish devices/alice/up: PUBACK 0x%02x, want 0x87 (the spec's ACL)", rc)
	}
}

// Delegated authentication and the spec's ACL work together: the user
// names the application admits are the spec's ACL's %u.
func TestTenantDelegatedAuthenticationWithSpecACL(t *testing.T) {
	reg := newRegistry(map[string]string{"dev-1": "pw-1"})
	h := startHost(t, tenant.HostConfig{},
		tenant.WithAuthenticator(func(tenant.Spec) broker.Authenticator { return reg }))
	spec := basicSpec("platform")
	spec.Auth = tenant.Auth{}
	spec.ACL = tenant.ACL{Default: tenant.Deny, Rules: []tenant.Rule{{Action: tenant.Allow, Access: tenant.AccessPublish, Topic: "devices/%u/#"}}}
	apply(t, h, spec)
	c := dialV5(t, tenantNode(t, h, "platform", tenant.ListenerMQTT), "d1", credentials("dev-1", "pw-1"))
	if rc := c.publish("devices/dev-1/up", "x", 1, false); rc >= 0x80 {
		t.Errorf("publish own topic: PUBACK 0x%02x, want success", rc)
	}
	if rc := c.publish("devices/dev-2/up", "x", 1, false); rc != byte(packet.NotAuthorized) {
		t.Errorf("publish another device's topic: PUBACK 0x%02x, want 0x87", rc)
	}
	// A spec change that would disconnect spec credentials leaves the
	// application's clients alone.
	spec.Auth = tenant.Auth{Users: []tenant.User{user(t, "x", "y")}}
	apply(t, h, spec)
	if rc := c.publish("devices/dev-1/up", "still", 1, false); rc >= 0x80 {
		t.Errorf("after an auth change: PUBACK 0x%02x, want success (still connected)", rc)
	}
}
