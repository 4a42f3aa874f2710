package cluster

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/testwait"
)

// waitFor is the default deadline for anything a test waits on.
const waitFor = 10 * time.Second

// testNode is one in-process node: a cluster data plane with one tenant,
// "t", whose broker serves a loopback listener.
type testNode struct {
	name string
	ip   string
	c    *Cluster
	b    *broker.Broker
	mqtt string
	ln   net.Listener
	cfg  Config
	down bool
	// opts are the broker's options (a Store, say), given to startWith.
	opts []broker.Option
}

// testNet is the nodes of one test: each one's seeds are the others.
type testNet struct {
	t     *testing.T
	mu    sync.Mutex
	nodes []*testNode
}

// seeds returns the gossip addresses of every node but the caller.
func (n *testNet) seeds() []Seed {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []Seed
	for _, x := range n.nodes {
		if x.c != nil {
			out = append(out, Seed{Name: x.name, GossipAddr: x.c.GossipAddr()})
		}
	}
	return out
}

// fastGossip makes failure detection quick, as on a LAN with few nodes.
func fastGossip(cfg *Config) {
	cfg.RejoinInterval = 200 * time.Millisecond
	cfg.PushPullInterval = 500 * time.Millisecond
}

// start starts a node named name on ip (ports picked), with tenant "t".
func (n *testNet) start(name, ip string, tune ...func(*Config)) *testNode {
	return n.startWith(name, ip, nil, tune...)
}

// startWith is start with the broker options opts.
func (n *testNet) startWith(name, ip string, opts []broker.Option, tune ...func(*Config)) *testNode {
	t := n.t
	t.Helper()
	cfg := Config{Name: name, GossipAddr: ip + ":0", LinkAddr: ip + ":0", Secret: []byte("a test secret of the cluster"),
		Seeds: n.seeds}
	fastGossip(&cfg)
	for _, f := range tune {
		f(&cfg)
	}
	x := &testNode{name: name, ip: ip, cfg: cfg, opts: opts}
	n.boot(x)
	n.mu.Lock()
	n.nodes = append(n.nodes, x)
	n.mu.Unlock()
	t.Cleanup(func() { x.stop(t) })
	return x
}

// boot starts x's data plane and broker.
func (n *testNet) boot(x *testNode) {
	t := n.t
	t.Helper()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)).With(zap.String("node", x.name))
	b, err := broker.New(broker.Config{SysInterval: -1}, append([]broker.Option{broker.WithLogger(log)}, x.opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(x.cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Attach("t", b, false); err != nil {
		t.Fatal(err)
	}
	if err := b.Restore(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", x.ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.Serve(ln) }()
	n.mu.Lock()
	x.b, x.c, x.mqtt, x.ln, x.down = b, c, ln.Addr().String(), ln, false
	n.mu.Unlock()
}

// stop shuts x down (once).
func (x *testNode) stop(t *testing.T) {
	if x.down {
		return
	}
	x.down = true
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := x.b.Shutdown(ctx); err != nil {
		t.Errorf("broker shutdown: %v", err)
	}
	x.c.Detach("t")
	if err := x.c.Shutdown(time.Second); err != nil {
		t.Logf("cluster shutdown %s: %v", x.name, err)
	}
}

// waitMesh waits until every node has an up link to every other.
func (n *testNet) waitMesh(nodes ...*testNode) {
	n.t.Helper()
	testwait.Until(n.t, waitFor, func() error {
		for _, x := range nodes {
			up := 0
			for _, m := range x.c.Members() {
				if m.Link == "up" {
					up++
				}
			}
			if up != len(nodes)-1 {
				return errors.New(x.name + ": links not all up")
			}
		}
		return nil
	})
}

// client is an MQTT 5 test client.
type client struct {
	*paho.Client
	msgs chan *paho.Publish
}

// dial connects an MQTT 5 client to x.
func dial(t *testing.T, x *testNode, id string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", x.mqtt)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{msgs: make(chan *paho.Publish, 1<<16)}
	c.Client = paho.NewClient(paho.ClientConfig{Conn: conn, PacketTimeout: waitFor,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatalf("connect %s to %s: %v", id, x.name, err)
	}
	t.Cleanup(func() {
		select {
		case <-c.Done():
		default:
			_ = c.Disconnect(&paho.Disconnect{})
		}
		<-c.Done()
	})
	return c
}

func (c *client) sub(t *testing.T, filter string, qos byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if err != nil || sa.Reasons[0] > 2 {
		t.Fatalf("subscribe %s: %v %v", filter, err, sa)
	}
}

func (c *client) unsub(t *testing.T, filter string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := c.Unsubscribe(ctx, &paho.Unsubscribe{Topics: []string{filter}}); err != nil {
		t.Fatalf("unsubscribe %s: %v", filter, err)
	}
}

func (c *client) pub(t *testing.T, topic, payload string, qos byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{Topic: topic, Payload: []byte(payload), QoS: qos}); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

// expect returns the next message c receives, failing after waitFor.
func (c *client) expect(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(waitFor):
		t.Fatal("no message")
		return nil
	}
}
