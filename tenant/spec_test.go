package tenant

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jmqx/jmqx/broker"
	"golang.org/x/crypto/bcrypt"
)

// testHash is a fast bcrypt hash of password, for tests.
func testHash(t testing.TB, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func boolPtr(b bool) *bool { return &b }

func TestPortJSON(t *testing.T) {
	tests := []struct {
		in   string
		want Port
		out  string
	}{
		{`1883`, "1883", `1883`},
		{`"1883"`, "1883", `1883`},
		{`"auto"`, PortAuto, `"auto"`},
		{`"off"`, PortOff, `"off"`},
		{`""`, "", `""`},
		{`65535`, "65535", `65535`},
	}
	for _, tt := range tests {
		var p Port
		if err := json.Unmarshal([]byte(tt.in), &p); err != nil {
			t.Errorf("Unmarshal(%s): %v", tt.in, err)
			continue
		}
		if p != tt.want {
			t.Errorf("Unmarshal(%s) = %q, want %q", tt.in, p, tt.want)
		}
		out, err := json.Marshal(p)
		if err != nil || string(out) != tt.out {
			t.Errorf("Marshal(%q) = %s, %v; want %s", p, out, err, tt.out)
		}
	}
	for _, bad := range []string{`0`, `65536`, `-1`, `1.5`, `1e3`, `"x"`, `"0"`, `"01883"`, `"AUTO"`, `true`, `[]`, `{}`} {
		var p Port
		if err := json.Unmarshal([]byte(bad), &p); err == nil {
			t.Errorf("Unmarshal(%s) = %q, want an error", bad, p)
		}
	}
	if n, ok := Port("8883").Number(); !ok || n != 8883 {
		t.Errorf("Number() = %d, %v", n, ok)
	}
	for _, p := range []Port{"", PortAuto, PortOff, "0", "70000", "+1", "018"} {
		if n, ok := p.Number(); ok {
			t.Errorf("Port(%q).Number() = %d, true", p, n)
		}
	}
}

// fullSpec is a valid Spec that sets every field.
func fullSpec(t testing.TB) Spec {
	return Spec{
		Name: "acme-1",
		Listeners: Listeners{
			MQTT: "1883", MQTTS: PortAuto, WS: PortOff, WSS: "8884", WSPath: "/ws",
			TLS: &TLS{CertFile: "c.pem", KeyFile: "k.pem", CAFile: "ca.pem", ClientAuth: "require"},
		},
		Auth: Auth{
			AllowAnonymous: true,
			Users:          []User{{Name: "alice", PasswordHashes: []string{testHash(t, "pw")}}},
			CertificateCNs: []string{"dev1"},
		},
		ACL: ACL{Default: Deny, Rules: []Rule{
			{Action: Allow, Access: AccessAll, Topic: "users/%u/#"},
			{Action: Deny, Access: AccessSubscribe, Topic: "secret/#", User: "bob"},
		}},
		Limits: Limits{
			MaxConnections: -1, MaxConnectsPerSecond: 10, MaxClientMessagesPerSecond: 5,
			MaxClientBytesPerSecond: 1000, MaxMessagesPerSecond: 100, MaxBytesPerSecond: 1e6,
			MaxSubscriptionsPerClient: 10, MaxRetainedMessages: -1, MaxRetainedBytes: 1 << 10,
			MaxPacketSize: 4096, MaxInflight: 10, MaxQueuedMessages: 50, MaxSessionExpiry: 60,
			MinKeepAlive: 10, MaxKeepAlive: 120, ProtocolVersions: []int{4, 5}, MaxQoS: 1,
			Retain: boolPtr(false), WildcardSubscriptions: boolPtr(true), SharedSubscriptions: boolPtr(false),
			MaxQueuedBytes: 1 << 20, MaxOutboundBytes: 1 << 16, MaxSubscriptionBytes: 4096,
			SlowConsumerWaitMS: 500, MaxMemory: 64 << 20, ClusterAck: ClusterAckLocal,
			Persistence: PersistenceSync,
		},
	}
}

func TestSpecJSONRoundTrip(t *testing.T) {
	s := fullSpec(t)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"mqtt":1883`) || !strings.Contains(string(b), `"mqtts":"auto"`) {
		t.Errorf("ports not encoded as number and string: %s", b)
	}
	var got Spec
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
	}
	var minimal Spec
	if err := json.Unmarshal([]byte(`{"name":"x","listeners":{"mqtt":"1883","ws":1884}}`), &minimal); err != nil {
		t.Fatal(err)
	}
	if minimal.Listeners.MQTT != "1883" || minimal.Listeners.WS != "1884" {
		t.Errorf("listeners = %+v", minimal.Listeners)
	}
	if err := json.Unmarshal([]byte(`{"name":"x","listeners":{"mqtt":0}}`), &minimal); err == nil {
		t.Error("port 0 accepted")
	}
}

func TestValidate(t *testing.T) {
	if err := fullSpec(t).Validate(); err != nil {
		t.Fatalf("full spec: %v", err)
	}
	if err := (Spec{Name: "a"}).Validate(); err != nil {
		t.Fatalf("minimal spec: %v", err)
	}
	tests := []struct {
		name   string
		modify func(s *Spec)
		want   string // the field path in the message
	}{
		{"name", func(s *Spec) { s.Name = "Bad_Name" }, `name "Bad_Name": must be 1-63`},
		{"name empty", func(s *Spec) { s.Name = "" }, `name "": must be`},
		{"port", func(s *Spec) { s.Listeners.WS = "0" }, "listeners.ws"},
		{"port twice", func(s *Spec) { s.Listeners.WSS = "1883" }, "listeners.wss 1883: port already used by listeners.mqtt"},
		{"cert_file", func(s *Spec) { s.Listeners.TLS.CertFile = "" }, "listeners.tls.cert_file"},
		{"key_file", func(s *Spec) { s.Listeners.TLS.KeyFile = "" }, "listeners.tls.key_file"},
		{"client_auth", func(s *Spec) { s.Listeners.TLS.ClientAuth = "maybe" }, "listeners.tls.client_auth"},
		{"ca_file", func(s *Spec) { s.Listeners.TLS.CAFile = "" }, "listeners.tls.ca_file"},
		{"ws_path", func(s *Spec) { s.Listeners.WSPath = "mqtt" }, "listeners.ws_path"},
		{"user name empty", func(s *Spec) { s.Auth.Users[0].Name = "" }, "auth.users[0].name"},
		{"user name long", func(s *Spec) { s.Auth.Users[0].Name = strings.Repeat("u", 257) }, "auth.users[0].name"},
		{"user name utf8", func(s *Spec) { s.Auth.Users[0].Name = "a\xff" }, "auth.users[0].name"},
		{"user twice", func(s *Spec) { s.Auth.Users = append(s.Auth.Users, s.Auth.Users[0]) }, "auth.users[1].name"},
		{"no hash", func(s *Spec) { s.Auth.Users[0].PasswordHashes = nil }, "auth.users[0].password_hashes"},
		{"bad hash", func(s *Spec) { s.Auth.Users[0].PasswordHashes = []string{"secret"} }, "auth.users[0].password_hashes[0]"},
		{"cn empty", func(s *Spec) { s.Auth.CertificateCNs = []string{""} }, "auth.certificate_cns[0]"},
		{"cn twice", func(s *Spec) { s.Auth.CertificateCNs = []string{"a", "a"} }, "auth.certificate_cns[1]"},
		{"acl default", func(s *Spec) { s.ACL.Default = "maybe" }, "acl.default"},
		{"rule action", func(s *Spec) { s.ACL.Rules[0].Action = "" }, "acl.rules[0].action"},
		{"rule access", func(s *Spec) { s.ACL.Rules[1].Access = "read" }, "acl.rules[1].access"},
		{"rule topic", func(s *Spec) { s.ACL.Rules[0].Topic = "a/#/b" }, "acl.rules[0].topic"},
		{"rule topic template", func(s *Spec) { s.ACL.Rules[0].Topic = "a/%u+" }, "acl.rules[0].topic"},
		{"rule topic share", func(s *Spec) { s.ACL.Rules[0].Topic = "$share/g/a" }, "acl.rules[0].topic"},
		{"rule user", func(s *Spec) { s.ACL.Rules[0].User = strings.Repeat("u", 257) }, "acl.rules[0].user"},
		{"connects rate", func(s *Spec) { s.Limits.MaxClientMessagesPerSecond = -1 }, "limits.max_client_messages_per_second"},
		{"client bytes rate", func(s *Spec) { s.Limits.MaxClientBytesPerSecond = -1 }, "limits.max_client_bytes_per_second"},
		{"messages rate", func(s *Spec) { s.Limits.MaxMessagesPerSecond = -1 }, "limits.max_messages_per_second"},
		{"bytes rate", func(s *Spec) { s.Limits.MaxBytesPerSecond = -1 }, "limits.max_bytes_per_second"},
		{"packet size", func(s *Spec) { s.Limits.MaxPacketSize = 10 }, "limits.max_packet_size"},
		{"packet size big", func(s *Spec) { s.Limits.MaxPacketSize = 268435461 }, "limits.max_packet_size"},
		{"inflight", func(s *Spec) { s.Limits.MaxInflight = 65536 }, "limits.max_inflight"},
		{"queued", func(s *Spec) { s.Limits.MaxQueuedMessages = -1 }, "limits.max_queued_messages"},
		{"min keepalive", func(s *Spec) { s.Limits.MinKeepAlive = -1 }, "limits.min_keepalive"},
		{"max keepalive", func(s *Spec) { s.Limits.MaxKeepAlive = 65536 }, "limits.max_keepalive"},
		{"min above max", func(s *Spec) { s.Limits.MinKeepAlive = 200 }, "limits.min_keepalive 200: must not exceed limits.max_keepalive"},
		{"protocol version", func(s *Spec) { s.Limits.ProtocolVersions = []int{2} }, "limits.protocol_versions[0]"},
		{"protocol twice", func(s *Spec) { s.Limits.ProtocolVersions = []int{5, 5} }, "limits.protocol_versions[1]"},
		{"max_qos", func(s *Spec) { s.Limits.MaxQoS = 3 }, "limits.max_qos 3"},
		{"queued bytes", func(s *Spec) { s.Limits.MaxQueuedBytes = -1 }, "limits.max_queued_bytes -1"},
		{"outbound bytes", func(s *Spec) { s.Limits.MaxOutboundBytes = -1 }, "limits.max_outbound_bytes -1"},
		{"subscription bytes", func(s *Spec) { s.Limits.MaxSubscriptionBytes = -1 }, "limits.max_subscription_bytes -1"},
		{"slow consumer wait", func(s *Spec) { s.Limits.SlowConsumerWaitMS = -1 }, "limits.slow_consumer_wait_ms -1"},
		{"slow consumer wait long", func(s *Spec) { s.Limits.SlowConsumerWaitMS = 3600001 }, "limits.slow_consumer_wait_ms 3600001"},
		{"memory negative", func(s *Spec) { s.Limits.MaxMemory = -1 }, "limits.max_memory -1"},
		{"cluster ack", func(s *Spec) { s.Limits.ClusterAck = "some" }, `limits.cluster_ack "some"`},
		{"persistence", func(s *Spec) { s.Limits.Persistence = "always" }, `limits.persistence "always": must be "default", "sync" or "off"`},
		{"memory small", func(s *Spec) { s.Limits.MaxMemory = 1<<20 - 1 }, "limits.max_memory 1048575"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fullSpec(t)
			tt.modify(&s)
			err := s.Validate()
			if err == nil {
				t.Fatal("Validate() = nil")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v\nwant it to mention %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "tenant") {
				t.Errorf("Validate() = %v, want it to name the tenant", err)
			}
		})
	}
	// Every problem is reported.
	s := fullSpec(t)
	s.Limits.MaxQoS, s.ACL.Default = 7, "x"
	if err := s.Validate(); err == nil || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("two problems: Validate() = %v", err)
	}
	// Negative "no limit" values are valid where documented.
	s = fullSpec(t)
	s.Limits.MaxConnections, s.Limits.MaxConnectsPerSecond = -1, -1
	s.Limits.MaxSubscriptionsPerClient, s.Limits.MaxRetainedMessages, s.Limits.MaxRetainedBytes = -1, -1, -1
	if err := s.Validate(); err != nil {
		t.Errorf("no-limit values: %v", err)
	}
}

func TestWithDefaults(t *testing.T) {
	d := Spec{Name: "a"}.WithDefaults()
	l := d.Limits
	want := Limits{
		MaxConnections: DefaultMaxConnections, MaxConnectsPerSecond: DefaultMaxConnectsPerSecond,
		MaxSubscriptionsPerClient: DefaultMaxSubscriptionsPerClient, MaxRetainedMessages: DefaultMaxRetainedMessages,
		MaxRetainedBytes: DefaultMaxRetainedBytes, MaxPacketSize: DefaultMaxPacketSize, MaxInflight: DefaultMaxInflight,
		MaxQueuedMessages: DefaultMaxQueuedMessages, MaxSessionExpiry: DefaultMaxSessionExpiry,
		MaxQueuedBytes: DefaultMaxQueuedBytes, MaxOutboundBytes: DefaultMaxOutboundBytes,
		MaxSubscriptionBytes: DefaultMaxSubscriptionBytes, SlowConsumerWaitMS: DefaultSlowConsumerWaitMS,
		ClusterAck: ClusterAckAll, Persistence: PersistenceDefault, MaxMemory: DefaultMaxMemory, MaxKeepAlive: DefaultMaxKeepAlive, MaxQoS: DefaultMaxQoS, ProtocolVersions: []int{3, 4, 5},
		Retain: boolPtr(true), WildcardSubscriptions: boolPtr(true), SharedSubscriptions: boolPtr(true),
	}
	if !reflect.DeepEqual(l, want) {
		t.Errorf("Limits = %+v\nwant %+v", l, want)
	}
	if d.ACL.Default != Allow || d.Listeners.WSPath != DefaultWSPath || d.Listeners.MQTT != "" {
		t.Errorf("ACL.Default %q, WSPath %q, MQTT %q", d.ACL.Default, d.Listeners.WSPath, d.Listeners.MQTT)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("defaulted spec invalid: %v", err)
	}

	// Set values and "no limit" are kept, and nothing is shared with the input.
	s := fullSpec(t)
	orig := s.Clone()
	d = s.WithDefaults()
	if !reflect.DeepEqual(d, orig) {
		t.Errorf("WithDefaults changed a fully set spec:\n got %+v\nwant %+v", d, orig)
	}
	d.Listeners.TLS.CertFile = "x"
	d.Auth.Users[0].PasswordHashes[0] = "x"
	d.Auth.Users[0].Name = "x"
	d.Auth.CertificateCNs[0] = "x"
	d.ACL.Rules[0].Topic = "x"
	d.Limits.ProtocolVersions[0] = 9
	*d.Limits.Retain = true
	if !reflect.DeepEqual(s, orig) {
		t.Errorf("WithDefaults result aliases its input")
	}
	c := s.Clone()
	c.Auth.Users[0].PasswordHashes[0] = "y"
	*c.Limits.SharedSubscriptions = true
	if !reflect.DeepEqual(s, orig) {
		t.Errorf("Clone aliases its input")
	}
}

func TestBrokerConfig(t *testing.T) {
	specs := []Spec{{Name: "a"}, fullSpec(t)}
	s := fullSpec(t)
	s.Limits.MaxConnectsPerSecond, s.Limits.MaxSubscriptionsPerClient = -1, -1
	s.Limits.MaxRetainedBytes, s.Limits.MinKeepAlive, s.Limits.MaxKeepAlive = -5, 65535, 0
	specs = append(specs, s)
	for i, s := range specs {
		if err := s.Validate(); err != nil {
			t.Fatalf("spec %d: %v", i, err)
		}
		c := s.brokerConfig(broker.DefaultConfig())
		if err := c.Validate(); err != nil {
			t.Errorf("spec %d: broker config invalid: %v", i, err)
		}
		if c.ServerName != "jmqx/"+s.Name {
			t.Errorf("ServerName = %q", c.ServerName)
		}
	}
	c := fullSpec(t).brokerConfig(broker.Config{})
	want := broker.Config{
		MaxPacketSize: 4096, MaxInflight: 10, MaxQueuedMessages: 50, MaxConnections: unlimitedConnections,
		MaxKeepAlive: 120, MaxSessionExpiry: 60, MaxQoS: 1, DisableRetain: true, DisableSharedSubscriptions: true,
		MaxConnectRate: 10, MaxClientMessageRate: 5, MaxClientByteRate: 1000, MaxMessageRate: 100, MaxByteRate: 1e6,
		MaxSubscriptionsPerClient: 10, MaxRetainedMessages: 0, MaxRetainedBytes: 1 << 10, MinKeepAlive: 10,
		ProtocolVersions: []byte{4, 5}, ServerName: "jmqx/acme-1",
		MaxQueuedBytes: 1 << 20, MaxOutboundBytes: 1 << 16, MaxSubscriptionBytes: 4096,
		SlowConsumerWait: 500 * time.Millisecond, MaxMemory: 64 << 20,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("brokerConfig:\n got %+v\nwant %+v", c, want)
	}
	d := Spec{Name: "b"}.brokerConfig(broker.Config{})
	if d.MaxConnections != DefaultMaxConnections || d.MaxConnectRate != DefaultMaxConnectsPerSecond ||
		d.MaxSubscriptionsPerClient != DefaultMaxSubscriptionsPerClient || d.MaxRetainedBytes != DefaultMaxRetainedBytes ||
		d.MaxSessionExpiry != DefaultMaxSessionExpiry || d.DisableRetain || len(d.ProtocolVersions) != 3 {
		t.Errorf("defaults not applied: %+v", d)
	}
	// The tenant defaults of the byte and time bounds are the broker's.
	if d.MaxQueuedBytes != broker.DefaultMaxQueuedBytes || d.MaxOutboundBytes != broker.DefaultMaxOutboundBytes ||
		d.MaxSubscriptionBytes != broker.DefaultMaxSubscriptionBytes || d.SlowConsumerWait != broker.DefaultSlowConsumerWait ||
		d.MaxMemory != broker.DefaultMaxMemory {
		t.Errorf("byte and time bounds: %+v", d)
	}
}

func TestHostMemoryBudget(t *testing.T) {
	tests := []struct {
		budget int64
		want   int64 // the budget's limit; 0: NewHost fails
	}{
		{0, DefaultMemoryBudget},
		{512 << 20, 512 << 20},
		{-1, 0},
	}
	for _, tt := range tests {
		h, err := NewHost(HostConfig{MemoryBudget: tt.budget})
		if tt.want == 0 {
			if err == nil || !strings.Contains(err.Error(), "memory_budget -1") {
				t.Errorf("MemoryBudget %d: NewHost = %v, want an error naming memory_budget", tt.budget, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("MemoryBudget %d: %v", tt.budget, err)
		}
		if got := h.MemoryBudget().Limit(); got != tt.want {
			t.Errorf("MemoryBudget %d: limit %d, want %d", tt.budget, got, tt.want)
		}
		if err := h.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}
