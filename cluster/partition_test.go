package cluster

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jmqx/jmqx/internal/testwait"
)

// partition cuts the node on isolatedIP off from the others, and heals.
// Gossip is cut through Config.Allowed, links through Config.Dial (new
// dials refused) and through the link conns it tracks (closed at the cut).
//
// On loopback a TCP connection to any 127.x address comes from 127.0.0.1,
// whichever node dials: memberlist's streams and the links do not bind a
// source address. Only UDP gossip comes from its node's own address. So
// the isolated node is the one on 127.0.0.1: it hears nobody, and the
// others refuse 127.0.0.1, which is its UDP and every TCP stream or link.
// That also refuses the other nodes' TCP gossip to each other (their links,
// up before the cut, stay up; their UDP probes keep them alive to each
// other), a price of the trick, not of the cut.
type partition struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn // the isolated node's links, dialed or accepted
}

// isolatedIP is the address of the node a partition cuts off.
const isolatedIP = "127.0.0.1"

var errPartitioned = errors.New("partitioned")

// tune makes a node's Allowed, Dial and Listen go through p.
func (p *partition) tune(cfg *Config) {
	self, _, _ := net.SplitHostPort(cfg.GossipAddr)
	cfg.Allowed = func(ip net.IP) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return !p.cut || self != isolatedIP && ip.String() != isolatedIP
	}
	d := net.Dialer{Timeout: time.Second}
	cfg.Dial = func(addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		isolated := self == isolatedIP || host == isolatedIP
		if p.isCut() && isolated {
			return nil, errPartitioned
		}
		conn, err := d.Dial("tcp", addr)
		if err != nil || !isolated {
			return conn, err
		}
		return p.track(conn)
	}
	if self == isolatedIP {
		cfg.Listen = func(ln net.Listener) net.Listener { return &trackedListener{Listener: ln, p: p} }
	}
}

func (p *partition) isCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

// track records a link conn of the isolated node, or closes it if the cut
// came first.
func (p *partition) track(conn net.Conn) (net.Conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		_ = conn.Close()
		return nil, errPartitioned
	}
	p.conns = append(p.conns, conn)
	return conn, nil
}

// start cuts the isolated node off and closes its links.
func (p *partition) start() {
	p.mu.Lock()
	p.cut = true
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// heal lets everything through again.
func (p *partition) heal() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// trackedListener is the isolated node's link listener: it tracks what it
// accepts.
type trackedListener struct {
	net.Listener
	p *partition
}

func (l *trackedListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if conn, err := l.p.track(conn); err == nil {
			return conn, nil
		}
	}
}

// TestPartitionLongerThanGossipToTheDead: a node cut off for longer than
// memberlist's GossipToTheDeadTime, after which gossip alone never
// contacts it again, loses its routes on the others, and publishers there
// are not held back by it. Once the network heals, the periodic re-join of
// the known members brings it back: its links reconnect and their
// snapshots carry its routes, including a subscription made during the
// partition. The cut-off node is n1, on 127.0.0.1 (see partition).
func TestPartitionLongerThanGossipToTheDead(t *testing.T) {
	const toTheDead = 2 * time.Second
	p := &partition{}
	_, nodes := three(t, p.tune, func(cfg *Config) {
		cfg.GossipToTheDeadTime = toTheDead
		cfg.RejoinInterval = 200 * time.Millisecond
		cfg.ForwardWait = 5 * time.Second
	})
	iso, pubNode, others := nodes[0], nodes[1], nodes[1:]
	sub := dial(t, iso, "sub")
	sub.sub(t, "before/#", 1)
	pub := dial(t, pubNode, "pub")
	pub.pub(t, "before/x", "1", 1)
	if m := sub.expect(t); string(m.Payload) != "1" {
		t.Fatalf("got %q", m.Payload)
	}

	cut := time.Now()
	p.start()
	routesOf := func(x *testNode, want int) func() error {
		return func() error {
			if st, _ := x.c.Stats("t"); st.Peers[iso.name].Routes != want {
				return fmt.Errorf("%s holds %d routes of %s, want %d", x.name, st.Peers[iso.name].Routes, iso.name, want)
			}
			return nil
		}
	}
	testwait.Until(t, 15*time.Second, func() error { return errors.Join(routesOf(others[0], 0)(), routesOf(others[1], 0)()) })
	t.Logf("routes of the cut-off node dropped %s after the cut", time.Since(cut).Round(time.Millisecond))
	testwait.Until(t, 15*time.Second, func() error { return allDead(iso, others) })
	dead := time.Now()
	t.Logf("every side sees the other dead %s after the cut", dead.Sub(cut).Round(time.Millisecond))

	before, _ := pubNode.c.Stats("t")
	start := time.Now()
	pub.pub(t, "before/x", "lost", 1)
	if d := time.Since(start); d >= pubNode.cfg.ForwardWait/2 {
		t.Errorf("PUBACK during the partition took %s: held back by the cut-off node", d)
	}
	after, _ := pubNode.c.Stats("t")
	if n := after.Peers[iso.name].ForwardedOut - before.Peers[iso.name].ForwardedOut; n != 0 {
		t.Errorf("%d forwards queued for the cut-off node", n)
	}
	sub.sub(t, "during/#", 1)

	// The cut holds until it has outlasted GossipToTheDeadTime after the
	// deaths, past which gossip contacts none of them again: only the
	// re-join of the Seeds can heal it. It must not leak meanwhile.
	testwait.Until(t, toTheDead+15*time.Second, func() error {
		if err := errors.Join(routesOf(others[0], 0)(), allDead(iso, others)); err != nil {
			t.Fatalf("the partition leaked: %v", err)
		}
		if time.Since(dead) < toTheDead+2*time.Second {
			return errors.New("the cut has not outlasted GossipToTheDeadTime yet")
		}
		return nil
	})

	healed := time.Now()
	p.heal()
	testwait.Until(t, 15*time.Second, func() error { return errors.Join(routesOf(others[0], 2)(), routesOf(others[1], 2)()) })
	t.Logf("routes converged %s after the heal (partition held %s)", time.Since(healed).Round(time.Millisecond),
		healed.Sub(cut).Round(time.Millisecond))
	pub.pub(t, "during/x", "2", 1)
	pub.pub(t, "before/x", "3", 1)
	for _, want := range []string{"2", "3"} {
		if m := sub.expect(t); string(m.Payload) != want {
			t.Fatalf("after the heal: got %q on %s, want %q", m.Payload, m.Topic, want)
		}
	}
	t.Logf("a message published after the heal reached the once cut-off node %s after the heal",
		time.Since(healed).Round(time.Millisecond))
	// Nothing was unacknowledged at the cut: the new link resent nothing,
	// so a duplicate would be a new forward taken for an old one.
	if st, _ := iso.c.Stats("t"); st.Peers[pubNode.name].Duplicates != 0 {
		t.Errorf("%s dropped %d forwards of %s as duplicates", iso.name, st.Peers[pubNode.name].Duplicates, pubNode.name)
	}
}

// allDead reports whether iso sees every other node dead and they see iso
// dead.
func allDead(iso *testNode, others []*testNode) error {
	var errs []error
	gossip := func(x *testNode, of string) string {
		for _, m := range x.c.Members() {
			if m.Name == of {
				return m.Gossip
			}
		}
		return "unknown"
	}
	for _, x := range others {
		if g := gossip(x, iso.name); g != "dead" {
			errs = append(errs, fmt.Errorf("%s sees %s %s", x.name, iso.name, g))
		}
		if g := gossip(iso, x.name); g != "dead" {
			errs = append(errs, fmt.Errorf("%s sees %s %s", iso.name, x.name, g))
		}
	}
	return errors.Join(errs...)
}
