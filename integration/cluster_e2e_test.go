package integration

// End-to-end tests of the cluster data plane: three `jmqx serve` processes
// as on three machines (127.0.0.1, .2, .3), one tenant served on each, MQTT
// 5 and 3.1.1 clients on every node. A message published on any node
// reaches the matching subscribers of every node; a SUBACK means the route
// is known everywhere; an unsubscribed filter stops being forwarded; a
// deleted tenant's routes are gone on every node.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

func TestClusterDataPlane(t *testing.T) {
	dc := startDataCluster(t, hostIPs, "mesh")
	t.Run("every node gets every message", func(t *testing.T) { testClusterEveryMessage(t, dc) })
	t.Run("suback then publish", func(t *testing.T) { testClusterSubackThenPublish(t, dc) })
	t.Run("unsubscribe stops forwards", func(t *testing.T) { testClusterUnsubscribe(t, dc) })
	t.Run("tenant delete drops routes", func(t *testing.T) { testClusterTenantDelete(t, dc) })
}

// A subscriber of each protocol version on each node gets every message of
// a publisher on each node, at QoS 0, 1 and 2: once (QoS 1 may repeat,
// flagged DUP), and in the order each publisher sent them per topic.
func testClusterEveryMessage(t *testing.T, dc *dataCluster) {
	const perQoS = 30
	var subs, pubs []*meshClient
	for i, id := range dc.ids {
		subs = append(subs, dc.dial(t, id, "all-sub5-"+id, true), dc.dial(t, id, "all-sub3-"+id, false))
		pubs = append(pubs, dc.dial(t, id, "all-pub-"+id, i%2 == 1))
	}
	for _, s := range subs {
		s.mustSubscribe(t, "all/#", 2)
	}
	errs := make(chan error, len(pubs))
	for _, p := range pubs {
		go func() {
			for seq := 1; seq <= perQoS; seq++ {
				for qos := byte(0); qos <= 2; qos++ {
					if _, err := p.publish(fmt.Sprintf("all/%s/%d", p.id, qos), strconv.Itoa(seq), qos); err != nil {
						errs <- err
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range pubs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	want := len(pubs) * 3 * perQoS
	eventually(t, 10*time.Second, func() error {
		for _, s := range subs {
			if n := len(distinctReceipts(s.in.all())); n < want {
				return fmt.Errorf("%s (on %s): %d of %d messages", s.id, s.node, n, want)
			}
		}
		return nil
	})
	for _, s := range subs {
		perTopic := map[string][]receipt{}
		for _, r := range s.in.all() {
			perTopic[r.topic] = append(perTopic[r.topic], r)
		}
		for _, p := range pubs {
			for qos := byte(0); qos <= 2; qos++ {
				topic := fmt.Sprintf("all/%s/%d", p.id, qos)
				checkOnceInOrder(t, s, topic, qos, perTopic[topic], perQoS)
			}
		}
	}
}

// checkOnceInOrder checks that got holds the payloads 1..n of topic, in
// order, at qos, each once (a QoS 1 repeat flagged DUP is logged, not an
// error).
func checkOnceInOrder(t *testing.T, s *meshClient, topic string, qos byte, got []receipt, n int) {
	t.Helper()
	next := 1
	for _, r := range got {
		seq, _ := strconv.Atoi(r.payload)
		switch {
		case r.qos != qos:
			t.Errorf("%s: %s %q delivered at QoS %d, want %d", s.id, topic, r.payload, r.qos, qos)
		case seq == next:
			next++
		case seq < next && qos == 1 && r.dup:
			t.Logf("%s: %s %q redelivered (DUP)", s.id, topic, r.payload)
		case seq < next:
			t.Errorf("%s: %s %q again at QoS %d (dup flag %t)", s.id, topic, r.payload, qos, r.dup)
		default:
			t.Errorf("%s: %s %q arrived before %d (out of order)", s.id, topic, r.payload, next)
			next = seq + 1
		}
	}
	if next != n+1 {
		t.Errorf("%s: %s: got up to %d in order, want %d", s.id, topic, next-1, n)
	}
}

// 1,000 rounds of "subscribe a new filter on node B; on its SUBACK, publish
// QoS 1 on node A": every message arrives, over every ordered pair of nodes.
func testClusterSubackThenPublish(t *testing.T, dc *dataCluster) {
	const rounds = 1000
	var subs, pubs []*meshClient
	for i, id := range dc.ids {
		subs = append(subs, dc.dial(t, id, "fresh-sub-"+id, i != 1))
		pubs = append(pubs, dc.dial(t, id, "fresh-pub-"+id, true))
	}
	noMatch := 0
	start := time.Now()
	for i := range rounds {
		b := i % 3
		a := (b + 1 + (i/3)%2) % 3 // every ordered pair (A, B), A != B
		subs[b].mustSubscribe(t, fmt.Sprintf("fresh/%d/+", i), 1)
		rc, err := pubs[a].publish(fmt.Sprintf("fresh/%d/x", i), strconv.Itoa(i), 1)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if rc == 0x10 { // No matching subscribers: the route was not known on A
			noMatch++
		}
	}
	took := time.Since(start)
	t.Logf("%d rounds (subscribe on B, SUBACK, publish QoS 1 on A, PUBACK) in %v: %.0f rounds/s",
		rounds, took.Round(time.Millisecond), rounds/took.Seconds())
	if noMatch > 0 {
		t.Errorf("%d of %d publishes answered \"no matching subscribers\" after the SUBACK on another node", noMatch, rounds)
	}
	missing := func() []int {
		var out []int
		got := map[int]bool{}
		for _, s := range subs {
			for _, r := range s.in.all() {
				i, _ := strconv.Atoi(r.payload)
				if r.topic == fmt.Sprintf("fresh/%d/x", i) && subs[i%3] == s {
					got[i] = true
				}
			}
		}
		for i := range rounds {
			if !got[i] {
				out = append(out, i)
			}
		}
		return out
	}
	eventually(t, 5*time.Second, func() error {
		if m := missing(); len(m) > 0 {
			return fmt.Errorf("%d of %d rounds missed (rounds %v)", len(m), rounds, head(m, 20))
		}
		return nil
	})
}

// A filter unsubscribed on one node is no longer forwarded there (its other
// subscribers still get it): the sentinel arrives alone, and the
// publisher's node counts exactly the forwards the routes call for.
func testClusterUnsubscribe(t *testing.T, dc *dataCluster) {
	a, b, c := dc.ids[0], dc.ids[1], dc.ids[2]
	pub := dc.dial(t, a, "unsub-pub", false)
	sb := dc.dial(t, b, "unsub-sub-b", true)
	sc := dc.dial(t, c, "unsub-sub-c", false)
	sb.mustSubscribe(t, "unsub/x", 1)
	sb.mustSubscribe(t, "unsub/end", 1)
	sc.mustSubscribe(t, "unsub/x", 1)
	pub.mustPublish(t, "unsub/x", "before", 1)
	for _, s := range []*meshClient{sb, sc} {
		s.waitPayload(t, "unsub/x", "before")
	}
	routesOfB := func(want int) func() error {
		return func() error {
			if got := dc.status(t, a)[a].Peers[b].Routes; got != want {
				return fmt.Errorf("%s holds %d routes of %s, want %d", a, got, b, want)
			}
			return nil
		}
	}
	eventually(t, 5*time.Second, routesOfB(2)) // the earlier subtests' clients are gone

	sb.mustUnsubscribe(t, "unsub/x")
	eventually(t, 5*time.Second, routesOfB(1))
	before := dc.status(t, a)[a]
	for i := range 10 {
		pub.mustPublish(t, "unsub/x", fmt.Sprint("after-", i), 1)
	}
	pub.mustPublish(t, "unsub/end", "end", 1)
	sb.waitPayload(t, "unsub/end", "end")
	for _, r := range sb.in.all() {
		if strings.HasPrefix(r.payload, "after-") {
			t.Errorf("%s got %s %q after unsubscribing", sb.id, r.topic, r.payload)
		}
	}
	sc.waitPayload(t, "unsub/x", "after-9")
	after := dc.status(t, a)[a]
	if d := after.Peers[b].ForwardedOut - before.Peers[b].ForwardedOut; d != 1 {
		t.Errorf("%s forwarded %d messages to %s after its unsubscribe, want 1 (the sentinel)", a, d, b)
	}
	if d := after.Peers[c].ForwardedOut - before.Peers[c].ForwardedOut; d != 10 {
		t.Errorf("%s forwarded %d messages to %s, want 10", a, d, c)
	}
}

// tenant delete drops the tenant's routes on every node: the same name
// created again starts with no remote routes anywhere, and forwards again.
func testClusterTenantDelete(t *testing.T, dc *dataCluster) {
	const filters = 20
	for i, id := range dc.ids {
		c := dc.dial(t, id, "gone-"+id, i%2 == 0)
		for k := range filters {
			c.mustSubscribe(t, fmt.Sprintf("gone/%s/%d", id, k), 1)
		}
	}
	var st map[string]nodeStatus
	eventually(t, 5*time.Second, func() error { // the earlier subtests' clients are gone
		st = dc.status(t, dc.ids[0])
		for _, id := range dc.ids {
			if want := 2 * filters; st[id].RemoteRoutes != want {
				return fmt.Errorf("before the delete: %s holds %d remote routes, want %d", id, st[id].RemoteRoutes, want)
			}
		}
		return nil
	})
	t.Logf("before the delete, remote routes: %s", dc.describeRoutes(st))

	mustCLI(t, dc.byID[dc.ids[1]].admin, "", "tenant", "delete", dc.tenant)
	for _, id := range dc.ids {
		eventually(t, 10*time.Second, func() error {
			if _, err := localTenantStatus(dc.byID[id].admin, dc.tenant); !errors.Is(err, errTenantNotRunning) {
				return fmt.Errorf("%s still runs %s (%v)", id, dc.tenant, err)
			}
			return nil
		})
	}
	dc.createTenant(t)
	eventually(t, 5*time.Second, func() error {
		st, err := tenantStatus(t, dc.byID[dc.ids[2]].admin, dc.tenant)
		if err != nil {
			return err
		}
		for _, id := range dc.ids {
			s, ok := st[id]
			switch {
			case !ok || s.Error != "":
				return fmt.Errorf("%s: not running yet (%+v)", id, s)
			case s.RemoteRoutes != 0:
				return fmt.Errorf("re-created %s: %s", dc.tenant, dc.describeRoutes(st))
			}
		}
		return nil
	})

	var subs []*meshClient
	for i, id := range dc.ids {
		s := dc.dial(t, id, "again-"+id, i%2 == 0)
		s.mustSubscribe(t, "again/#", 1)
		subs = append(subs, s)
	}
	for _, id := range dc.ids {
		dc.dial(t, id, "again-pub-"+id, true).mustPublish(t, "again/"+id, id, 1)
	}
	for _, s := range subs {
		for _, id := range dc.ids {
			s.waitPayload(t, "again/"+id, id)
		}
	}
	st = dc.status(t, dc.ids[0])
	for _, id := range dc.ids {
		if st[id].RemoteRoutes != 2 {
			t.Errorf("re-created %s: %s holds %d remote routes, want 2 (again/# of each peer)", dc.tenant, id, st[id].RemoteRoutes)
		}
	}
}

// ---------------------------------------------------------------- cluster

// dataCluster is three `jmqx serve` nodes, one per "machine", linked by
// the data plane, serving one tenant (allow anonymous, an MQTT port on
// every node).
type dataCluster struct {
	tenant string
	ids    []string
	byID   map[string]*hostNode
	mu     sync.Mutex
	mqtt   map[string]string // node ID → the tenant's MQTT address there
}

// startDataCluster starts a node on each of ips (the first bootstraps, the
// others join it), waits until every node sees every other alive in gossip
// with its link up, and creates the tenant.
func startDataCluster(t *testing.T, ips []string, tenantName string) *dataCluster {
	t.Helper()
	ports := freePortsOnAll(t, ips, 3) // admin, Raft, MQTT (the default tenant's)
	join := ""
	dc := &dataCluster{tenant: tenantName, byID: map[string]*hostNode{}}
	for i, ip := range ips {
		id := fmt.Sprint("d", i+1)
		n := newHostNode(t, id, ip, ports, join)
		if join == "" {
			join = n.admin
		}
		dc.ids = append(dc.ids, id)
		dc.byID[id] = n
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, id := range dc.ids {
				t.Logf("%s log (tail):\n%s", id, strings.TrimSpace(dc.byID[id].log()))
			}
		}
	})
	start := time.Now()
	for _, id := range dc.ids {
		dc.byID[id].start(true)
	}
	ready := time.Since(start)
	// A joiner enters gossip at its next rejoin (every 5 s), after it is
	// ready.
	for _, id := range dc.ids {
		dc.waitLinked(t, id, dc.ids, 20*time.Second)
	}
	linked := time.Since(start)
	dc.createTenant(t)
	t.Logf("3 nodes ready in %v, linked in %v, tenant %s served on each in %v", ready.Round(time.Millisecond),
		linked.Round(time.Millisecond), tenantName, time.Since(start).Round(time.Millisecond))
	return dc
}

// createTenant creates the tenant and waits for its MQTT listener on
// every node.
func (dc *dataCluster) createTenant(t *testing.T) {
	t.Helper()
	createWithin(t, dc.byID[dc.ids[0]].admin, dc.tenant, 10*time.Second)
	addrs := waitTenantMQTT(t, dc.byID[dc.ids[0]].admin, dc.tenant, len(dc.ids), 15*time.Second)
	dc.mu.Lock()
	dc.mqtt = addrs
	dc.mu.Unlock()
}

// waitLinked waits until node id sees every one of want alive in gossip,
// with its link up.
func (dc *dataCluster) waitLinked(t *testing.T, id string, want []string, d time.Duration) {
	t.Helper()
	eventually(t, d, func() error {
		ms, err := dataMembers(t, dc.byID[id].admin)
		if err != nil {
			return err
		}
		byID := map[string]dataMember{}
		for _, m := range ms {
			byID[m.ID] = m
		}
		for _, w := range want {
			m := byID[w]
			switch {
			case w == id && m.Link != "self":
				return fmt.Errorf("%s: itself listed as %+v", id, m)
			case w != id && (m.Gossip != "alive" || m.Link != "up"):
				return fmt.Errorf("%s sees %s as %+v", id, w, m)
			}
		}
		return nil
	})
}

// dial connects a client (MQTT 5 when v5, else 3.1.1) to the tenant on
// node id; what it receives goes to its inbox.
func (dc *dataCluster) dial(t *testing.T, id, clientID string, v5 bool) *meshClient {
	t.Helper()
	dc.mu.Lock()
	addr := dc.mqtt[id]
	dc.mu.Unlock()
	c := &meshClient{id: clientID, node: id, in: &inbox{}}
	if v5 {
		c.v5 = dialV5(t, &node{addr: addr}, clientID, keepAlive(120), recordV5(c.in))
	} else {
		c.v3 = dialV311(t, &node{addr: addr}, clientID, recordV3(c.in))
	}
	return c
}

// status is `jmqx tenant status --json` through node via, by node ID.
func (dc *dataCluster) status(t *testing.T, via string) map[string]nodeStatus {
	t.Helper()
	st, err := tenantStatus(t, dc.byID[via].admin, dc.tenant)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// describeRoutes renders each node's remote routes, per peer.
func (dc *dataCluster) describeRoutes(st map[string]nodeStatus) string {
	var parts []string
	for _, id := range dc.ids {
		s := st[id]
		var per []string
		for _, p := range sortedKeys(s.Peers) {
			per = append(per, fmt.Sprintf("%s:%d", p, s.Peers[p].Routes))
		}
		parts = append(parts, fmt.Sprintf("%s=%d (%s)", id, s.RemoteRoutes, strings.Join(per, " ")))
	}
	return strings.Join(parts, ", ")
}

// dataMember is one entry of `jmqx cluster members --json`.
type dataMember struct {
	ID      string `json:"id"`
	Role    string `json:"role"`
	Healthy bool   `json:"healthy"`
	Gossip  string `json:"gossip"`
	Link    string `json:"link"`
}

// dataMembers runs `jmqx cluster members --json` against server.
func dataMembers(t *testing.T, server string) ([]dataMember, error) {
	t.Helper()
	out, err := jmqxCLI(t, server, "", "cluster", "members", "--json")
	if err != nil {
		return nil, err
	}
	var ms []dataMember
	if err := json.Unmarshal([]byte(out), &ms); err != nil {
		return nil, fmt.Errorf("decoding %q: %v", out, err)
	}
	return ms, nil
}

// nodeStatus is one node's entry of `jmqx tenant status --json`.
type nodeStatus struct {
	Node         string                    `json:"node"`
	Error        string                    `json:"error"`
	RemoteRoutes int                       `json:"remote_routes"`
	Peers        map[string]peerForwarding `json:"peers"`
}

// peerForwarding is a tenant's forwarding between a node and one peer.
type peerForwarding struct {
	ForwardedOut int64 `json:"forwarded_out"`
	ForwardedIn  int64 `json:"forwarded_in"`
	AwaitingAck  int64 `json:"awaiting_ack"`
	Dropped      int64 `json:"dropped"`
	AckTimeouts  int64 `json:"ack_timeouts"`
	Duplicates   int64 `json:"duplicates"`
	Routes       int   `json:"routes"`
}

// tenantStatus runs `jmqx tenant status NAME --json` against server and
// returns the entries by node.
func tenantStatus(t *testing.T, server, name string) (map[string]nodeStatus, error) {
	t.Helper()
	out, err := jmqxCLI(t, server, "", "tenant", "status", name, "--json")
	if err != nil {
		return nil, err
	}
	var list []nodeStatus
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, fmt.Errorf("decoding %q: %v", out, err)
	}
	byNode := make(map[string]nodeStatus, len(list))
	for _, s := range list {
		byNode[s.Node] = s
	}
	return byNode, nil
}

// errTenantNotRunning is localTenantStatus's answer for a tenant the node
// does not run.
var errTenantNotRunning = errors.New("tenant not running on the node")

// localTenantStatus asks one node's admin API for its own figures of a
// tenant (GET /v1/local/tenants/NAME/status, what `tenant status` gathers
// from every node): quick, and not held up by another node that does not
// answer.
func localTenantStatus(admin, name string) (nodeStatus, error) {
	var st nodeStatus
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + admin + "/v1/local/tenants/" + url.PathEscape(name) + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return st, errTenantNotRunning
	case resp.StatusCode != http.StatusOK:
		return st, fmt.Errorf("local status of %s at %s: %s", name, admin, resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// ---------------------------------------------------------------- clients

// receipt is one message as a test client received it.
type receipt struct {
	topic, payload string
	qos            byte
	dup            bool
	at             time.Time
}

// inbox keeps what a client receives, in arrival order.
type inbox struct {
	mu  sync.Mutex
	got []receipt
}

func (b *inbox) add(r receipt) {
	b.mu.Lock()
	b.got = append(b.got, r)
	b.mu.Unlock()
}

// all returns a copy of what arrived so far.
func (b *inbox) all() []receipt {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]receipt(nil), b.got...)
}

// distinctReceipts counts the distinct (topic, payload) pairs of rs.
func distinctReceipts(rs []receipt) map[[2]string]int {
	n := map[[2]string]int{}
	for _, r := range rs {
		n[[2]string{r.topic, r.payload}]++
	}
	return n
}

// recordV5 makes an MQTT 5 client record what it receives into in.
func recordV5(in *inbox) v5Option {
	return func(cfg *paho.ClientConfig, _ *paho.Connect) {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			p := pr.Packet
			in.add(receipt{topic: p.Topic, payload: string(p.Payload), qos: p.QoS, dup: p.Duplicate(), at: time.Now()})
			return true, nil
		}}
	}
}

// recordV3 makes a 3.1.1 client record what it receives into in (and keep
// its connection alive for 2 minutes without traffic).
func recordV3(in *inbox) func(*mqttOptions) {
	return func(o *mqttOptions) {
		o.SetKeepAlive(120 * time.Second)
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			in.add(receipt{topic: m.Topic(), payload: string(m.Payload()), qos: m.Qos(), dup: m.Duplicate(), at: time.Now()})
		})
	}
}

// meshClient is one MQTT 5 or 3.1.1 client of a dataCluster's tenant.
type meshClient struct {
	id, node string
	v5       *v5Client
	v3       *v3Client
	in       *inbox
}

// subscribe subscribes to filter and returns the granted QoS or an error
// (a refusal, or no SUBACK).
func (c *meshClient) subscribe(filter string, qos byte) (byte, error) {
	var rc byte
	if c.v5 != nil {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		sa, err := c.v5.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
		if sa == nil || len(sa.Reasons) != 1 {
			return 0, fmt.Errorf("%s: subscribe %s: %v", c.id, filter, err)
		}
		rc = sa.Reasons[0]
	} else {
		tok := c.v3.Subscribe(filter, qos, nil)
		if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
			return 0, fmt.Errorf("%s: subscribe %s: no SUBACK (%v)", c.id, filter, tok.Error())
		}
		rc = tok.(*mqtt.SubscribeToken).Result()[filter]
	}
	if rc >= 0x80 {
		return rc, fmt.Errorf("%s: subscribe %s: refused 0x%02x", c.id, filter, rc)
	}
	return rc, nil
}

func (c *meshClient) mustSubscribe(t *testing.T, filter string, qos byte) {
	t.Helper()
	if _, err := c.subscribe(filter, qos); err != nil {
		t.Fatal(err)
	}
}

func (c *meshClient) mustUnsubscribe(t *testing.T, filter string) {
	t.Helper()
	if c.v5 != nil {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if ua, err := c.v5.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{filter}}); err != nil {
			t.Fatalf("%s: unsubscribe %s: %v (%+v)", c.id, filter, err, ua)
		}
		return
	}
	if tok := c.v3.Unsubscribe(filter); !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		t.Fatalf("%s: unsubscribe %s: %v", c.id, filter, tok.Error())
	}
}

// publish publishes and, at QoS 1 and 2, waits for the acknowledgement;
// it returns the v5 reason code (0 for 3.1.1). Safe on any goroutine.
func (c *meshClient) publish(topic, payload string, qos byte) (byte, error) {
	if c.v5 != nil {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		r, err := c.v5.Publish(ctx, &paho.Publish{Topic: topic, Payload: []byte(payload), QoS: qos})
		if err != nil {
			return 0, fmt.Errorf("%s: publish %s %q: %v", c.id, topic, payload, err)
		}
		if r == nil {
			return 0, nil
		}
		return r.ReasonCode, nil
	}
	tok := c.v3.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		return 0, fmt.Errorf("%s: publish %s %q: not acknowledged (%v)", c.id, topic, payload, tok.Error())
	}
	return 0, nil
}

func (c *meshClient) mustPublish(t *testing.T, topic, payload string, qos byte) {
	t.Helper()
	if _, err := c.publish(topic, payload, qos); err != nil {
		t.Fatal(err)
	}
}

// waitPayload waits until the client has received payload on topic.
func (c *meshClient) waitPayload(t *testing.T, topic, payload string) {
	t.Helper()
	eventually(t, waitFor, func() error {
		for _, r := range c.in.all() {
			if r.topic == topic && r.payload == payload {
				return nil
			}
		}
		return fmt.Errorf("%s (on %s): no %s %q", c.id, c.node, topic, payload)
	})
}

// ---------------------------------------------------------------- helpers

func head[T any](s []T, n int) []T {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
