package main

import (
	"errors"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/jmqx/jmqx/admin"
)

func clusterCommand(env appEnv) *cli.Command {
	return groupCommand(env, "cluster", "inspect and change the cluster's membership",
		"The cluster's members keep the tenant specs in Raft; voters take part in\n"+
			"elections. Removing a member takes it out of the Raft configuration.",
		[]clientCmd{
			{
				name:  "members",
				usage: "list the cluster's members",
				description: "members lists each member with, as the answering node sees them, its gossip\n" +
					"state (GOSSIP: alive or dead; memberlist v0.6.0 reports neither suspect nor\n" +
					"left) and the state of the link to it\n" +
					"(LINK: up, down, connecting, or self for the answering node); both are off\n" +
					"when the answering node's data plane is off, and - when unknown. DRAIN is\n" +
					"draining or drained for a node taken out of service (cluster drain), - otherwise.",
				run: runClusterMembers,
			},
			{
				name:  "remove",
				usage: "remove a member from the cluster",
				description: "remove takes the node with the ID NODE, as cluster members lists it, out of\n" + "the cluster. Stop the node first: a running node would try to rejoin.\n" +
					"Drain it first (cluster drain) to lose nothing: remove refuses a node that is\n" +
					"still draining unless --force.",
				args:  []string{"NODE"},
				flags: []cli.Flag{&cli.BoolFlag{Name: "force", Usage: "remove the node even while it is still draining"}},
				run:   runClusterRemove,
			},
			drainCmd(),
		})
}

func runClusterMembers(r *clientRun) error {
	members, err := r.api.Members(r.ctx())
	if err != nil {
		return err
	}
	if members == nil {
		members = []admin.MemberView{}
	}
	return r.output(members, func(w io.Writer) error {
		t := newTable(w, "ID", "ROLE", "RAFT", "ADMIN", "VOTER", "HEALTHY", "GOSSIP", "LINK", "DRAIN")
		for _, m := range members {
			t.row(m.ID, m.Role, m.RaftAddr, m.AdminAddr, yesNo(m.Voter), yesNo(m.Healthy), m.Gossip, m.Link, m.Drain)
		}
		return t.flush()
	})
}

func runClusterRemove(r *clientRun) error {
	remove := r.api.RemoveMember
	if r.c.Bool("force") {
		d, ok := r.api.(drainAPI)
		if !ok {
			return errors.New("this admin API client cannot force a removal")
		}
		remove = d.RemoveMemberForce
	}
	if err := remove(r.ctx(), r.args[0]); err != nil {
		return err
	}
	return r.done("member %s removed from the cluster", r.args[0])
}
