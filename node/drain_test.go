package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/admin"
	"github.com/jmqx/jmqx/internal/testwait"
)

// The only voter cannot be drained: nobody could lead or take its
// clients.
func TestDrainSoleVoterRefused(t *testing.T) {
	n := start(t, testConfig(t, t.TempDir()))
	_, err := client(t, n).Drain(context.Background(), n.ID(), admin.DrainDraining)
	if !errors.Is(err, admin.ErrInvalid) {
		t.Fatalf("drain of the sole voter = %v, want ErrInvalid", err)
	}
	if n.Host().Draining() || n.Store().State().Members[n.ID()].Drain != "" {
		t.Fatal("the sole voter drained anyway")
	}
}

// A drained follower refuses MQTT 5 clients with 0x9C naming the
// leader's listener of the same tenant, reports itself drained, is not
// ready, and stays drained across a restart.
func TestDrainFollower(t *testing.T) {
	n1, n2, cfg2 := startPair(t)
	c1 := client(t, n1)
	a1, a2 := boundOn(t, c1, "default", n1.ID()), boundOn(t, c1, "default", n2.ID())
	testwait.Until(t, wait, func() error { // n2 sees n1 alive in gossip: a reference needs a live member
		for _, m := range n2.cluster.Members() {
			if m.Name == n1.ID() && m.Gossip == "alive" {
				return nil
			}
		}
		return fmt.Errorf("n2's gossip: %+v", n2.cluster.Members())
	})

	v, err := c1.Drain(context.Background(), n2.ID(), admin.DrainDraining)
	if err != nil || v.Drain != admin.DrainDraining || v.LeadershipMovedTo != "" {
		t.Fatalf("Drain = %+v, %v", v, err)
	}
	testwait.Until(t, wait, func() error {
		ms, err := c1.Members(context.Background())
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.ID == n2.ID() && m.Drain == admin.DrainDrained {
				return nil
			}
		}
		return fmt.Errorf("members %+v", ms)
	})
	checkDrained := func(n *Node) {
		t.Helper()
		if err := client(t, n).Ready(context.Background()); err == nil {
			t.Error("a drained node is ready")
		}
		conn, err := net.Dial("tcp", a2)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		ack, err := paho.NewClient(paho.ClientConfig{Conn: conn}).Connect(ctx, &paho.Connect{ClientID: "late", CleanStart: true})
		if err == nil || ack == nil || ack.ReasonCode != 0x9C || ack.Properties == nil || ack.Properties.ServerReference != a1 {
			t.Fatalf("CONNECT to the drained node: %v, %+v; want 0x9C naming %s", err, ack, a1)
		}
	}
	checkDrained(n2)

	stop(t, n2)
	cfg2.Join = nil
	n2 = start(t, cfg2)
	if !n2.Host().Draining() {
		t.Fatal("the drained node serves again after a restart")
	}
	testwait.Until(t, wait, func() error { // its gossip finds n1 again
		for _, m := range n2.cluster.Members() {
			if m.Name == n1.ID() && m.Gossip == "alive" {
				return nil
			}
		}
		return errors.New("n1 not alive in n2's gossip yet")
	})
	checkDrained(n2)
}
