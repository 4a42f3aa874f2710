package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/jmqx/jmqx/admin"
)

// drainAPI is what cluster drain and cluster remove --force need of the
// admin API beyond adminAPI.
type drainAPI interface {
	Drain(ctx context.Context, id, state string) (admin.DrainView, error)
	RemoveMemberForce(ctx context.Context, id string) error
}

var _ drainAPI = (*admin.Client)(nil)

// drainPoll is how often cluster drain asks whether the node is drained.
const drainPoll = 250 * time.Millisecond

// defaultDrainTimeout is the default of cluster drain --timeout.
const defaultDrainTimeout = 10 * time.Minute

// drainCmd is the cluster drain command.
func drainCmd() clientCmd {
	return clientCmd{
		name:  "drain",
		usage: "take a node out of service: send its clients and sessions to the other members",
		description: "drain makes the node NODE refuse new connections (MQTT 5: CONNACK 0x9C with a Server\n" +
			"Reference; 3.1.1: CONNACK 3), send its MQTT 5 clients to another member (DISCONNECT 0x9C\n" +
			"with a Server Reference naming the same listener of the tenant on a live member that\n" +
			"is not draining), close its 3.1.1 clients, hand its sessions over to the other members\n" +
			"and wait until they have acknowledged what it forwarded. A leader hands leadership\n" +
			"over first. cluster members shows the node draining, then drained; cluster remove\n" +
			"then takes it out with nothing lost. drain waits until the node is drained, unless\n" +
			"--no-wait; draining a node again is harmless.",
		args: []string{"NODE"},
		flags: []cli.Flag{
			&cli.BoolFlag{Name: "no-wait", Usage: "return once the drain has started"},
			&cli.DurationFlag{Name: "timeout", Value: defaultDrainTimeout, Usage: "how long to wait for the node to be drained"},
		},
		run: runClusterDrain,
	}
}

func runClusterDrain(r *clientRun) error {
	d, ok := r.api.(drainAPI)
	if !ok {
		return errors.New("this admin API client cannot drain members")
	}
	id := r.args[0]
	v, err := d.Drain(r.ctx(), id, admin.DrainDraining)
	if err != nil {
		return err
	}
	if !r.json {
		moved := ""
		if v.LeadershipMovedTo != "" {
			moved = fmt.Sprintf(" (it led: leadership moved to %s)", v.LeadershipMovedTo)
		}
		if _, err := fmt.Fprintf(r.stdout(), "node %s is %s%s\n", id, v.Drain, moved); err != nil {
			return err
		}
	}
	if !r.c.Bool("no-wait") && v.Drain != admin.DrainDrained {
		if v.Drain, err = waitDrained(r, id, r.c.Duration("timeout")); err != nil {
			return err
		}
		if !r.json {
			if _, err := fmt.Fprintf(r.stdout(), "node %s is drained: remove it with jmqx cluster remove %s\n", id, id); err != nil {
				return err
			}
		}
	}
	return r.output(v, func(io.Writer) error { return nil })
}

// waitDrained polls the members until id is drained, timeout passes or
// the run is cancelled. A member list that cannot be read (a node
// restarting, a leader change) is asked again.
func waitDrained(r *clientRun, id string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(r.ctx(), timeout)
	defer cancel()
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	state, last := admin.DrainDraining, error(nil)
	for {
		members, err := r.api.Members(ctx)
		if err == nil {
			found := false
			for _, m := range members {
				if m.ID == id {
					found, state = true, m.Drain
				}
			}
			switch {
			case !found:
				return "", fmt.Errorf("member %s left the cluster before it was drained", id)
			case state == admin.DrainDrained:
				return state, nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			if r.ctx().Err() != nil {
				return "", r.ctx().Err()
			}
			if last != nil {
				return "", fmt.Errorf("node %s is not drained after %s (last error: %w)", id, timeout, last)
			}
			return "", fmt.Errorf("node %s is still %s after %s: see jmqx cluster members", id, dash(state), timeout)
		case <-tick.C:
		}
	}
}
