package integration

// Draining a node of a three-node cluster of real `jmqx serve` processes:
// its 1,000 clients (MQTT 5 and 3.1.1) reconnect to the other nodes (MQTT
// 5 ones at the Server Reference of their DISCONNECT 0x9C), cluster
// members shows it draining then drained, leadership moves off it first
// (it is the leader), and cluster remove takes it out.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Size and pace of the drain test.
const (
	drainClients     = 1000 // on the drained node, half MQTT 5, half 3.1.1
	drainParallel    = 32   // connects in flight at once
	drainWait        = 3 * time.Minute
	drainSessionSecs = 3600
)

func TestClusterDrain(t *testing.T) {
	dc := startDataCluster(t, hostIPs, "drain")
	victim := dc.leader(t)
	var others []string
	for _, id := range dc.ids {
		if id != victim {
			others = append(others, id)
		}
	}
	dc.mu.Lock()
	victimAddr := dc.mqtt[victim]
	otherAddrs := []string{dc.mqtt[others[0]], dc.mqtt[others[1]]}
	dc.mu.Unlock()

	fleet := make([]*drainClient, drainClients)
	for i := range fleet {
		fleet[i] = &drainClient{id: fmt.Sprintf("drain-%04d", i), v5: i%2 == 0, gone: make(chan struct{})}
	}
	t.Cleanup(func() {
		for _, c := range fleet {
			c.close()
		}
	})
	start := time.Now()
	forAll(t, fleet, func(c *drainClient) error { return c.connectFirst(victimAddr) })
	t.Logf("%d clients (persistent sessions, one QoS 1 subscription each) connected to %s in %v", drainClients, victim,
		time.Since(start).Round(time.Millisecond))

	// Drain, through another node: the request reaches the leader, which
	// is the drained node: leadership moves first.
	seen := dc.watchDrain(t, others[0], victim)
	out := mustCLI(t, dc.byID[others[0]].admin, "", "cluster", "drain", victim, "--no-wait", "--json")
	var dv struct {
		ID                string `json:"id"`
		Drain             string `json:"drain"`
		LeadershipMovedTo string `json:"leadership_moved_to"`
	}
	if err := json.Unmarshal([]byte(out), &dv); err != nil {
		t.Fatalf("cluster drain --json: %v: %q", err, out)
	}
	if dv.ID != victim || dv.Drain != "draining" || !slices.Contains(others, dv.LeadershipMovedTo) {
		t.Fatalf("cluster drain %s answered %+v; want draining, leadership moved to one of %v", victim, dv, others)
	}
	drainStart := time.Now()

	t.Run("clients are sent to the others", func(t *testing.T) {
		for _, c := range fleet {
			select {
			case <-c.gone:
			case <-time.After(drainWait):
				t.Fatalf("%s still connected to the drained node after %s", c.id, drainWait)
			}
		}
		t.Logf("every client's connection ended %v after the drain began", time.Since(drainStart).Round(time.Millisecond))
		refs := map[string]int{}
		for _, c := range fleet {
			if !c.v5 {
				continue
			}
			if c.rc != 0x9C || !slices.Contains(otherAddrs, c.ref) {
				t.Fatalf("%s: DISCONNECT %#02x with Server Reference %q; want 0x9C naming one of %v", c.id, c.rc, c.ref, otherAddrs)
			}
			refs[c.ref]++
		}
		t.Logf("Server References: %v", refs)
		if len(refs) != 2 {
			t.Errorf("every MQTT 5 client was sent to one node: %v", refs)
		}
	})

	t.Run("cluster members shows draining then drained", func(t *testing.T) {
		states := seen.wait(t, "drained", drainWait)
		t.Logf("%s's drain states as cluster members showed them: %v (seen drained %v after the drain began)", victim, states,
			time.Since(drainStart).Round(time.Millisecond))
		// The drain's answer said draining; members may show it too,
		// for as long as the node takes to empty.
		if !slices.Equal(states, []string{"draining", "drained"}) && !slices.Equal(states, []string{"drained"}) {
			t.Errorf("states %v: want draining (if seen) then drained, and never serving again", states)
		}
		table := mustCLI(t, dc.byID[others[1]].admin, "", "cluster", "members")
		var row, leader string
		for _, line := range strings.Split(table, "\n") {
			f := strings.Fields(line)
			if len(f) > 0 && f[0] == victim {
				row = strings.Join(f, " ")
			}
			if len(f) > 1 && f[1] == "leader" {
				leader = f[0]
			}
		}
		if !strings.HasSuffix(row, " drained") || strings.Fields(table)[8] != "DRAIN" {
			t.Errorf("cluster members:\n%s\nwant %s's DRAIN drained", table, victim)
		}
		if leader == "" || leader == victim {
			t.Errorf("cluster members:\n%s\nwant a leader other than the drained %s", table, victim)
		}
		// Load balancers see it not ready.
		resp, err := http.Get("http://" + dc.byID[victim].admin + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "drained") {
			t.Errorf("/readyz of the drained node = %d %s, want 503 saying drained", resp.StatusCode, body)
		}
	})

	t.Run("new connections are refused", func(t *testing.T) {
		conn, err := net.Dial("tcp", victimAddr)
		if err != nil {
			t.Fatal(err)
		}
		c := paho.NewClient(paho.ClientConfig{Conn: conn})
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		ack, err := c.Connect(ctx, &paho.Connect{ClientID: "drain-late-5", CleanStart: true, KeepAlive: 30})
		_ = conn.Close()
		if err == nil || ack == nil || ack.ReasonCode != 0x9C || ack.Properties == nil || !slices.Contains(otherAddrs, ack.Properties.ServerReference) {
			t.Fatalf("MQTT 5 CONNECT to the drained node: %v, CONNACK %+v; want 0x9C naming one of %v", err, ack, otherAddrs)
		}
		o := mqtt.NewClientOptions().AddBroker("tcp://" + victimAddr).SetClientID("drain-late-3").SetProtocolVersion(4).
			SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(waitFor)
		c3 := mqtt.NewClient(o)
		tok := c3.Connect()
		if !tok.WaitTimeout(waitFor) || tok.Error() == nil {
			c3.Disconnect(0)
			t.Fatalf("a 3.1.1 client connected to the drained node")
		}
	})

	// Published while the clients are away: their moved sessions queue
	// them.
	pub := dc.dial(t, others[0], "drain-pub", true)
	forAll(t, fleet, func(c *drainClient) error {
		_, err := pub.publish("drain/"+c.id, "while away", 1)
		return err
	})

	t.Run("clients reconnect to the others", func(t *testing.T) {
		start := time.Now()
		var i atomic.Int64
		forAll(t, fleet, func(c *drainClient) error {
			addr := c.ref
			if !c.v5 { // as a load balancer would
				addr = otherAddrs[i.Add(1)%2]
			}
			return c.reconnect(addr)
		})
		t.Logf("%d clients reconnected to %v in %v", drainClients, others, time.Since(start).Round(time.Millisecond))
	})

	t.Run("persistent sessions resumed with nothing lost", func(t *testing.T) {
		for _, c := range fleet {
			if !c.present {
				t.Fatalf("%s: session present false after reconnecting to %s", c.id, c.addr)
			}
		}
		eventually(t, drainWait, func() error {
			for _, c := range fleet {
				if got := c.received(); !slices.Contains(got, "while away") {
					return fmt.Errorf("%s got %v, want the message published while it was away", c.id, got)
				}
			}
			return nil
		})
	})

	t.Run("the drained node leaves with cluster remove", func(t *testing.T) {
		out := mustCLI(t, dc.byID[others[1]].admin, "", "cluster", "remove", victim)
		if !strings.Contains(out, "member "+victim+" removed") {
			t.Fatalf("cluster remove printed %q", out)
		}
		waitMembers(t, dc.byID[others[0]].admin, 30*time.Second, func(ms []cliMember) error {
			if len(ms) != 2 || slices.ContainsFunc(ms, func(m cliMember) bool { return m.ID == victim }) {
				return fmt.Errorf("members %+v, want %v only", ms, others)
			}
			return nil
		})
		// The two left still carry messages between them.
		sub := dc.dial(t, others[1], "drain-after-sub", false)
		sub.mustSubscribe(t, "after/#", 1)
		pub := dc.dial(t, others[0], "drain-after-pub", true)
		eventually(t, waitFor, func() error {
			if _, err := pub.publish("after/x", "still linked", 1); err != nil {
				return err
			}
			for _, r := range sub.in.all() {
				if r.payload == "still linked" {
					return nil
				}
			}
			return errors.New("the subscriber on the other node got nothing yet")
		})
	})
}

// leader returns the ID of the node that leads, as cluster members shows.
func (dc *dataCluster) leader(t *testing.T) string {
	t.Helper()
	var id string
	eventually(t, 20*time.Second, func() error {
		ms, err := dataMembers(t, dc.byID[dc.ids[0]].admin)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.Role == "leader" {
				id = m.ID
				return nil
			}
		}
		return fmt.Errorf("no leader in %+v", ms)
	})
	return id
}

// drainStates records the distinct drain states cluster members --json
// shows for one member, in order.
type drainStates struct {
	mu     sync.Mutex
	states []string
	stop   chan struct{}
	done   chan struct{}
}

// watchDrain polls cluster members --json through node via for member
// id's drain state until the test ends or wait sees what it waits for.
func (dc *dataCluster) watchDrain(t *testing.T, via, id string) *drainStates {
	t.Helper()
	s := &drainStates{stop: make(chan struct{}), done: make(chan struct{})}
	admin := dc.byID[via].admin
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			default:
			}
			out, err := jmqxCLI(t, admin, "", "cluster", "members", "--json")
			if err != nil {
				continue
			}
			var ms []struct {
				ID    string `json:"id"`
				Drain string `json:"drain"`
			}
			if json.Unmarshal([]byte(out), &ms) != nil {
				continue
			}
			for _, m := range ms {
				if m.ID != id {
					continue
				}
				s.mu.Lock()
				if len(s.states) == 0 || s.states[len(s.states)-1] != m.Drain {
					s.states = append(s.states, m.Drain)
				}
				s.mu.Unlock()
			}
		}
	}()
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(s.stop) }); <-s.done })
	return s
}

// wait waits until the state want is seen and returns the states seen
// since the drain began (the serving state before it left out).
func (s *drainStates) wait(t *testing.T, want string, d time.Duration) []string {
	t.Helper()
	var out []string
	eventually(t, d, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		out = slices.Clone(s.states)
		if i := slices.Index(out, "draining"); i > 0 {
			out = out[i:]
		}
		for len(out) > 0 && out[0] == "" {
			out = out[1:]
		}
		if !slices.Contains(out, want) {
			return fmt.Errorf("drain states seen %v, want %q", s.states, want)
		}
		return nil
	})
	return out
}

// drainClient is one client of the drained node: its first connection
// there, then its reconnection elsewhere.
type drainClient struct {
	id string
	v5 bool

	c5   *paho.Client
	c3   mqtt.Client
	gone chan struct{} // closed when the first connection ends
	once sync.Once
	rc   byte   // the DISCONNECT's reason code (MQTT 5)
	ref  string // its Server Reference (MQTT 5)

	addr    string // where it reconnected
	present bool   // the reconnection's session present
	r5      *paho.Client
	r3      mqtt.Client

	mu  sync.Mutex
	got []string
}

// ended records the end of the first connection.
func (c *drainClient) ended(rc byte, ref string) {
	c.once.Do(func() {
		c.rc, c.ref = rc, ref
		close(c.gone)
	})
}

// record keeps a received payload.
func (c *drainClient) record(payload []byte) {
	c.mu.Lock()
	c.got = append(c.got, string(payload))
	c.mu.Unlock()
}

// received returns the payloads received so far.
func (c *drainClient) received() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// connectFirst connects to addr with a persistent session and subscribes
// to drain/ID at QoS 1.
func (c *drainClient) connectFirst(addr string) error {
	if c.v5 {
		cl, _, err := c.dial5(addr, func(d *paho.Disconnect) {
			ref := ""
			if d.Properties != nil {
				ref = d.Properties.ServerReference
			}
			c.ended(d.ReasonCode, ref)
		})
		if err != nil {
			return err
		}
		c.c5 = cl
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		sa, err := cl.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "drain/" + c.id, QoS: 1}}})
		if err != nil || sa == nil || sa.Reasons[0] != 1 {
			return fmt.Errorf("%s: subscribe: %v (%+v)", c.id, err, sa)
		}
		return nil
	}
	cl, _, err := c.dial3(addr, func() { c.ended(0, "") })
	if err != nil {
		return err
	}
	c.c3 = cl
	tok := cl.Subscribe("drain/"+c.id, 1, nil)
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		return fmt.Errorf("%s: subscribe: no SUBACK (%v)", c.id, tok.Error())
	}
	return nil
}

// reconnect connects again, to addr, resuming the session if it is there.
func (c *drainClient) reconnect(addr string) error {
	c.addr = addr
	if c.v5 {
		cl, ack, err := c.dial5(addr, func(*paho.Disconnect) {})
		if err != nil {
			return err
		}
		c.r5, c.present = cl, ack.SessionPresent
		return nil
	}
	cl, present, err := c.dial3(addr, func() {})
	if err != nil {
		return err
	}
	c.r3, c.present = cl, present
	return nil
}

// dial5 connects an MQTT 5 client with a persistent session to addr.
func (c *drainClient) dial5(addr string, onDisconnect func(*paho.Disconnect)) (*paho.Client, *paho.Connack, error) {
	conn, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: dial %s: %w", c.id, addr, err)
	}
	cl := paho.NewClient(paho.ClientConfig{
		Conn:               conn,
		PacketTimeout:      waitFor,
		OnServerDisconnect: onDisconnect,
		OnClientError:      func(error) { onDisconnect(&paho.Disconnect{ReasonCode: 0xFF}) },
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.record(pr.Packet.Payload)
			return true, nil
		}},
	})
	expiry := uint32(drainSessionSecs)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	ack, err := cl.Connect(ctx, &paho.Connect{ClientID: c.id, KeepAlive: 120,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	if err != nil {
		_ = conn.Close()
		return nil, ack, fmt.Errorf("%s: connect to %s: %w (%+v)", c.id, addr, err, ack)
	}
	return cl, ack, nil
}

// dial3 connects a 3.1.1 client with a persistent session to addr.
func (c *drainClient) dial3(addr string, onLost func()) (mqtt.Client, bool, error) {
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(c.id).SetProtocolVersion(4).
		SetCleanSession(false).SetAutoReconnect(false).SetConnectRetry(false).SetKeepAlive(120 * time.Second).
		SetConnectTimeout(waitFor).SetOrderMatters(false).
		SetConnectionLostHandler(func(mqtt.Client, error) { onLost() }).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { c.record(m.Payload()) })
	cl := mqtt.NewClient(o)
	tok := cl.Connect()
	if !tok.WaitTimeout(waitFor) {
		cl.Disconnect(0)
		return nil, false, fmt.Errorf("%s: connect to %s: no CONNACK within %s", c.id, addr, waitFor)
	}
	if err := tok.Error(); err != nil {
		return nil, false, fmt.Errorf("%s: connect to %s: %w", c.id, addr, err)
	}
	return cl, tok.(*mqtt.ConnectToken).SessionPresent(), nil
}

// close ends every connection of the client.
func (c *drainClient) close() {
	for _, cl := range []*paho.Client{c.c5, c.r5} {
		if cl != nil {
			_ = cl.Disconnect(&paho.Disconnect{})
			<-cl.Done()
		}
	}
	for _, cl := range []mqtt.Client{c.c3, c.r3} {
		if cl != nil {
			cl.Disconnect(0)
		}
	}
}

// forAll runs f for every client, drainParallel at a time, and fails the
// test with the first error.
func forAll(t *testing.T, fleet []*drainClient, f func(c *drainClient) error) {
	t.Helper()
	sem := make(chan struct{}, drainParallel)
	errs := make(chan error, len(fleet))
	var wg sync.WaitGroup
	for _, c := range fleet {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(c); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatalf("%v (and %d more errors)", err, len(errs))
	}
}
