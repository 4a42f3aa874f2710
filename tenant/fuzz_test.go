package tenant

import (
	"encoding/json"
	"testing"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

func FuzzSpecJSON(f *testing.F) {
	// A cheap argon2id hash (m=64 KiB) of "pw", so that valid seeds stay fast.
	const a2 = "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5"
	seeds := []string{
		`{"name":"a"}`,
		`{"name":"acme","listeners":{"mqtt":1883,"mqtts":"auto","ws":"off","wss":"8884","ws_path":"/mqtt"}}`,
		`{"name":"acme","auth":{"allow_anonymous":true,"users":[{"name":"u","password_hashes":["` + a2 + `"]}],"certificate_cns":["dev1"]}}`,
		`{"name":"acme","acl":{"default":"deny","rules":[{"action":"allow","topic":"users/%u/#"},{"action":"deny","access":"subscribe","topic":"+/%c/+","user":"bob"},{"action":"allow","access":"publish","topic":"$SYS/x-%u-%c"}]}}`,
		`{"name":"acme","limits":{"max_connections":-1,"max_connects_per_second":-1.5,"max_packet_size":64,"min_keepalive":5,"max_keepalive":10,"protocol_versions":[5,4],"max_qos":1,"retain":false}}`,
		`{"name":"Bad_Name","listeners":{"mqtt":1883,"ws":1883,"tls":{"client_auth":"require"}}}`,
		`{"name":"x","acl":{"default":"maybe","rules":[{"action":"allow","topic":"a/#/b"},{"action":"x","topic":""}]}}`,
		`{"name":"x","auth":{"users":[{"name":"","password_hashes":["$2a$04$short"]},{"name":"u","password_hashes":[]}]}}`,
		`{"name":"x","limits":{"max_qos":3,"protocol_versions":[5,5,2],"max_inflight":-1}}`,
		`{"name":"x","listeners":{"mqtt":0}}`,
		`{"name":"x","listeners":{"mqtt":"0x10"}}`,
		`[]`, `null`, `{"name":1}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s), "alice", "client-1", "users/alice/x", "+/#")
	}
	f.Fuzz(func(t *testing.T, data []byte, user, clientID, topic, filter string) {
		var s Spec
		if err := json.Unmarshal(data, &s); err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		d := s.WithDefaults()
		if err := d.Validate(); err != nil {
			t.Fatalf("defaults made a valid spec invalid: %v", err)
		}
		if err := s.brokerConfig(broker.DefaultConfig()).Validate(); err != nil {
			t.Fatalf("valid spec, invalid broker config: %v", err)
		}
		a, err := compileAccess(s)
		if err != nil {
			t.Fatalf("valid spec does not compile: %v", err)
		}
		g := newGuard(a)
		c := &broker.ClientInfo{Username: user, ClientID: clientID}
		if packet.ValidateTopicName(topic) == nil {
			g.CanPublish(c, topic)
		}
		if packet.ValidateTopicFilter(filter) == nil {
			g.CanSubscribe(c, filter)
		}
		g.CanPublish(c, "a/b")
		g.CanSubscribe(c, "#")
		g.CanSubscribe(c, "$share/g/+/x")
		a.credentialValid(Credential{User: user})
		a.credentialValid(Credential{})
	})
}
