package tenant

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/broker/packet"
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

// refMatch is a plain reference for MQTT topic matching.
func refMatch(filter, topic string) bool {
	fl, tl := strings.Split(filter, "/"), strings.Split(topic, "/")
	if strings.HasPrefix(topic, "$") && (fl[0] == "+" || fl[0] == "#") {
		return false
	}
	for i, l := range fl {
		if l == "#" {
			return true
		}
		if i >= len(tl) || (l != "+" && l != tl[i]) {
			return false
		}
	}
	return len(fl) == len(tl)
}

// topics returns every topic of 1..n levels over alphabet.
func topics(alphabet []string, n int) []string {
	out := []string{}
	cur := alphabet
	for i := 1; i <= n; i++ {
		out = append(out, cur...)
		if i == n {
			break
		}
		var next []string
		for _, p := range cur {
			for _, l := range alphabet {
				next = append(next, p+"/"+l)
			}
		}
		cur = next
	}
	return out
}

func FuzzFilterCover(f *testing.F) {
	for _, p := range [][2]string{
		{"#", "a/b"}, {"#", "$SYS/#"}, {"secret/#", "#"}, {"+/+", "a/#"}, {"a/#", "a"}, {"a/+", "+/b"},
		{"$SYS/+", "$SYS/a"}, {"+/#", "$x"}, {"a//b", "a/+/b"}, {"a/b/#", "a/+/#"}, {"+", "#"},
	} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 32 || len(b) > 32 || packet.ValidateTopicFilter(a) != nil || packet.ValidateTopicFilter(b) != nil ||
			strings.HasPrefix(a, "$share/") || strings.HasPrefix(b, "$share/") || strings.Contains(a, "%") {
			return
		}
		la, lb := strings.Split(a, "/"), strings.Split(b, "/")
		if len(la) > 4 || len(lb) > 4 {
			return
		}
		// Every literal of either filter, plus fresh ones with and without '$',
		// decide cover and overlap exactly. The empty topic (the parent that
		// "/#" matches) counts as a topic: it never occurs, and counting it
		// only makes covers stricter and overlaps wider, both towards deny.
		lits := map[string]bool{}
		for _, l := range append(la, lb...) {
			if l != "+" && l != "#" {
				lits[l] = true
			}
		}
		fresh, freshDollar := "\x01", "$\x01"
		for lits[fresh] || lits[freshDollar] {
			fresh, freshDollar = fresh+"\x01", freshDollar+"\x01"
		}
		alphabet := []string{fresh, freshDollar}
		for l := range lits {
			alphabet = append(alphabet, l)
		}
		if len(alphabet) > 7 {
			return
		}
		r := compileFilter(a)
		gotCover, gotOverlap := covers(r, b, "", ""), overlaps(r, b, "", "")
		wantCover, wantOverlap := true, false
		for _, topic := range topics(alphabet, max(len(la), len(lb))+1) {
			ma, mb := refMatch(a, topic), refMatch(b, topic)
			if got := matchTopic(r, topic, "", ""); got != ma {
				t.Fatalf("matchTopic(%q, %q) = %v, reference %v", a, topic, got, ma)
			}
			if mb && !ma {
				wantCover = false
				if gotCover {
					t.Fatalf("covers(%q, %q) but %q matches only the second", a, b, topic)
				}
			}
			if ma && mb {
				wantOverlap = true
			}
		}
		if gotCover != wantCover {
			t.Fatalf("covers(%q, %q) = %v, brute force %v", a, b, gotCover, wantCover)
		}
		if gotOverlap != wantOverlap {
			t.Fatalf("overlaps(%q, %q) = %v, brute force %v", a, b, gotOverlap, wantOverlap)
		}
	})
}
