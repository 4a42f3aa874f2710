package node

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/admin"
	"github.com/jmqx/jmqx/internal/testwait"
	"github.com/jmqx/jmqx/tenant"
)

// metricsToken is the admin token of the metrics tests' node.
const metricsToken = "metrics-test-token-0123456789"

// secretHash is a bcrypt hash (minimum cost) of "secret".
const secretHash = "$2a$04$/aigJzI6HWPzsuHSntLEAu5MhLzQ6InDj/3.4Hm42MvyU.I4Ez9qm"

// scrape sends GET /metrics to n's admin API with token ("" for none) and
// returns the status and the parsed answer (nil unless 200).
func scrape(t *testing.T, n *Node, token string) (int, families) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+n.AdminAddr().String()+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	return resp.StatusCode, parseScrape(t, string(body))
}

// mqttAddr waits until n serves tenant name's MQTT listener and returns
// its address.
func mqttAddr(t *testing.T, n *Node, name string) string {
	t.Helper()
	var addr string
	testwait.Until(t, wait, func() error {
		st, ok := n.Host().Get(name)
		if addr = st.Listeners["mqtt"]; !ok || addr == "" {
			return fmt.Errorf("tenant %s has no MQTT listener on the node yet", name)
		}
		return nil
	})
	return addr
}

// mqttConnect connects an MQTT 5 client to addr as user (with password;
// anonymous when user is empty) and returns it, or the error and the CONNACK's reason code.
func mqttConnect(t *testing.T, addr, id, user, password string, onPublish func()) (*paho.Client, byte, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := paho.ClientConfig{Conn: conn, PacketTimeout: wait}
	if onPublish != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(paho.PublishReceived) (bool, error) {
			onPublish()
			return true, nil
		}}
	}
	c := paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	cp := &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}
	if user != "" {
		cp.UsernameFlag, cp.Username, cp.PasswordFlag, cp.Password = true, user, true, []byte(password)
	}
	ca, err := c.Connect(ctx, cp)
	if err != nil {
		_ = conn.Close()
		if ca != nil {
			return nil, ca.ReasonCode, err
		}
		return nil, 0, err
	}
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{})
		<-c.Done()
	})
	return c, 0, nil
}

// delta is how much a series moved between two scrapes (absent is 0).
func delta(before, after families, name string, labels ...string) float64 {
	b, _ := before.value(name, labels...)
	a, _ := after.value(name, labels...)
	return a - b
}

// TestMetricsOfARealNode: a node's /metrics, scraped over HTTP with its
// token and parsed with the Prometheus text parser, counts the 1,000
// messages published in tenant a under a and none under b, a's
// connections and subscription, a bad password under its reason code, and
// the node's Raft and gossip figures; without the token it answers 401.
func TestMetricsOfARealNode(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.AdminToken = metricsToken
	n := start(t, cfg)
	c, err := admin.NewClient(n.AdminAddr().String(), metricsToken)
	if err != nil {
		t.Fatal(err)
	}
	mqttOnly := tenant.Listeners{MQTT: tenant.PortAuto, WS: tenant.PortOff}
	for _, spec := range []tenant.Spec{
		{Name: "a", Listeners: mqttOnly, Auth: tenant.Auth{Users: []tenant.User{{Name: "alice", PasswordHashes: []string{secretHash}}}}},
		{Name: "b", Listeners: mqttOnly, Auth: tenant.Auth{AllowAnonymous: true}},
	} {
		if _, err := c.CreateTenant(t.Context(), spec); err != nil {
			t.Fatal(err)
		}
	}
	addrA := mqttAddr(t, n, "a")
	mqttAddr(t, n, "b")

	for _, token := range []string{"", "not-the-token-not-the-token"} {
		if status, _ := scrape(t, n, token); status != http.StatusUnauthorized {
			t.Fatalf("GET /metrics with token %q = %d, want 401", token, status)
		}
	}
	_, before := scrape(t, n, metricsToken)

	var mu sync.Mutex
	received := 0
	sub, _, err := mqttConnect(t, addrA, "sub", "alice", "secret", func() { mu.Lock(); received++; mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Subscribe(t.Context(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "a/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	pub, _, err := mqttConnect(t, addrA, "pub", "alice", "secret", nil)
	if err != nil {
		t.Fatal(err)
	}
	scrapes := scrapeWhile(t, n)
	const messages = 1000
	for i := range messages {
		if _, err := pub.Publish(t.Context(), &paho.Publish{Topic: "a/x", QoS: 1, Payload: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	t.Logf("%d scrapes ran while publishing", scrapes())
	testwait.Until(t, wait, func() error {
		mu.Lock()
		defer mu.Unlock()
		if received != messages {
			return fmt.Errorf("the subscriber got %d messages of %d", received, messages)
		}
		return nil
	})
	if _, rc, err := mqttConnect(t, addrA, "intruder", "alice", "wrong", nil); err == nil || rc != 0x86 {
		t.Fatalf("a bad password: %v (reason code 0x%02X), want CONNACK 0x86", err, rc)
	}

	_, after := scrape(t, n, metricsToken)
	a, b := []string{"node", n.ID(), "tenant", "a"}, []string{"tenant", "b"}
	for name, want := range map[string]float64{
		"jmqx_tenant_messages_received_total": messages, "jmqx_tenant_messages_sent_total": messages,
	} {
		if d := delta(before, after, name, a...); d != want {
			t.Errorf("%s of a moved by %v, want %v", name, d, want)
		}
		if d := delta(before, after, name, b...); d != 0 {
			t.Errorf("%s of b moved by %v, want 0", name, d)
		}
	}
	if d := delta(before, after, "jmqx_tenant_received_bytes_total", a...); d < float64(messages*len("a/x")) {
		t.Errorf("a received %v bytes for %d messages", d, messages)
	}
	after.want(t, 2, "jmqx_tenant_connections", a...)
	after.want(t, 1, "jmqx_tenant_subscriptions", a...)
	after.want(t, 0, "jmqx_tenant_connections", b...)
	after.want(t, 1, "jmqx_tenant_refusals_total", append(a, "code", "0x86", "reason", "Bad User Name or Password")...)
	after.absent(t, "jmqx_tenant_refusals_total", append(b, "code", "0x86")...)

	after.want(t, 1, "jmqx_raft_role", "node", n.ID(), "role", "leader")
	after.want(t, 0, "jmqx_raft_last_contact_seconds")
	after.want(t, 1, "jmqx_gossip_members", "state", "alive")
	for _, name := range []string{"jmqx_raft_term", "jmqx_raft_commit_index", "jmqx_raft_applied_index"} {
		if v, ok := after.value(name); !ok || v < 1 {
			t.Errorf("%s = %v (present %v), want at least 1", name, v, ok)
		}
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "jmqx_reconcile_failures_total"} {
		if _, ok := after[name]; !ok {
			t.Errorf("%s is missing", name)
		}
	}
}

// scrapeWhile scrapes n's /metrics in a loop until the test ends or the
// returned function is called, which returns how many scrapes ran: a
// scrape runs beside the publish path, never holding it up.
func scrapeWhile(t *testing.T, n *Node) func() int {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int)
	go func() {
		count := 0
		defer func() { done <- count }()
		for ctx.Err() == nil {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.AdminAddr().String()+"/metrics", nil)
			if err != nil {
				return
			}
			req.Header.Set("Authorization", "Bearer "+metricsToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			count++
		}
	}()
	var once sync.Once
	var count int
	stop := func() int {
		once.Do(func() { cancel(); count = <-done })
		return count
	}
	t.Cleanup(func() { stop() })
	return stop
}

// TestMetricsOfATwoNodeCluster: messages forwarded between two nodes are
// counted per tenant and peer on both sides; each node shows its link to
// the other up with a measured round trip, both members alive, and its
// own Raft role (the follower with its last contact with the leader).
func TestMetricsOfATwoNodeCluster(t *testing.T) {
	n1, n2, _ := startPair(t)
	id1, id2 := n1.ID(), n2.ID()
	testwait.Until(t, wait, func() error {
		for _, x := range []struct {
			n    *Node
			peer string
		}{{n1, id2}, {n2, id1}} {
			_, f := scrape(t, x.n, "")
			if v, _ := f.value("jmqx_cluster_link_up", "peer", x.peer); v != 1 {
				return fmt.Errorf("node %s: link to %s not up", x.n.ID(), x.peer)
			}
			if v, _ := f.value("jmqx_gossip_members", "state", "alive"); v != 2 {
				return fmt.Errorf("node %s: %v members alive, want 2", x.n.ID(), v)
			}
		}
		return nil
	})

	var mu sync.Mutex
	received := 0
	sub, _, err := mqttConnect(t, mqttAddr(t, n2, "default"), "sub", "", "", func() { mu.Lock(); received++; mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Subscribe(t.Context(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "f/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	pub, _, err := mqttConnect(t, mqttAddr(t, n1, "default"), "pub", "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	const messages = 100
	for i := range messages {
		if _, err := pub.Publish(t.Context(), &paho.Publish{Topic: "f/x", QoS: 1, Payload: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	testwait.Until(t, wait, func() error {
		mu.Lock()
		defer mu.Unlock()
		if received != messages {
			return fmt.Errorf("the subscriber on the second node got %d messages of %d", received, messages)
		}
		return nil
	})

	_, f1 := scrape(t, n1, "")
	f1.want(t, messages, "jmqx_tenant_forwarded_out_messages_total", "node", id1, "tenant", "default", "peer", id2)
	f1.want(t, 1, "jmqx_tenant_remote_routes", "tenant", "default", "peer", id2)
	f1.want(t, 0, "jmqx_tenant_forwards_awaiting_ack", "tenant", "default", "peer", id2)
	f1.want(t, 0, "jmqx_cluster_link_backlog_messages", "peer", id2)
	if v, ok := f1.value("jmqx_cluster_link_rtt_seconds", "peer", id2); !ok || v <= 0 || v > wait.Seconds() {
		t.Errorf("the first node's round trip to the second: %v (present %v)", v, ok)
	}
	f1.want(t, 1, "jmqx_raft_role", "role", "leader")

	_, f2 := scrape(t, n2, "")
	f2.want(t, messages, "jmqx_tenant_forwarded_in_messages_total", "node", id2, "tenant", "default", "peer", id1)
	f2.want(t, messages, "jmqx_tenant_messages_sent_total", "tenant", "default")
	f2.want(t, messages, "jmqx_tenant_messages_received_total", "tenant", "default") // forwarded ones count
	f2.want(t, 1, "jmqx_tenant_local_routes", "tenant", "default")
	f2.want(t, 1, "jmqx_raft_role", "role", "follower")
	if v, ok := f2.value("jmqx_raft_last_contact_seconds"); !ok || v < 0 || v > 5 {
		t.Errorf("the follower's last contact with the leader: %v s ago (present %v)", v, ok)
	}
	if t1, _ := f1.value("jmqx_raft_term"); t1 < 1 {
		t.Errorf("leader's term %v", t1)
	} else if t2, _ := f2.value("jmqx_raft_term"); t2 != t1 {
		t.Errorf("the follower's term %v differs from the leader's %v", t2, t1)
	}
}
