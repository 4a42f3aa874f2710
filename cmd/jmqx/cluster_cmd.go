package main

import (
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
					"when the answering node's data plane is off, and - when unknown.",
				run: runClusterMembers,
			},
			{
				name:        "remove",
				usage:       "remove a member from the cluster",
				description: "remove takes the node with the ID NODE, as cluster members lists it, out of\n" + "the cluster. Stop the node first: a running node would try to rejoin.",
				args:        []string{"NODE"},
				run:         runClusterRemove,
			},
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
		t := newTable(w, "ID", "ROLE", "RAFT", "ADMIN", "VOTER", "HEALTHY", "GOSSIP", "LINK")
		for _, m := range members {
			t.row(m.ID, m.Role, m.RaftAddr, m.AdminAddr, yesNo(m.Voter), yesNo(m.Healthy), m.Gossip, m.Link)
		}
		return t.flush()
	})
}

func runClusterRemove(r *clientRun) error {
	if err := r.api.RemoveMember(r.ctx(), r.args[0]); err != nil {
		return err
	}
	return r.done("member %s removed from the cluster", r.args[0])
}
