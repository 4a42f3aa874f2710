package main

import (
	"io"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/jmqx/jmqx/tenant"
)

func aclCommand(env appEnv) *cli.Command {
	return groupCommand(env, "acl", "manage a tenant's topic access rules",
		"A tenant's ACL is an ordered list of rules: the first rule that applies to a\n"+
			"publish or subscribe decides, and the default policy decides when none does.\n"+
			"Rules are numbered from 0, as acl list shows them. In a topic filter, %u\n"+
			"stands for the client's user name and %c for its client identifier.",
		[]clientCmd{
			{
				name:  "add",
				usage: "add a rule to a tenant's ACL",
				description: "add inserts a rule at --position, or appends it, and prints the new ACL.\n" +
					"Example: jmqx acl add plant1 --action allow --access publish --topic 'sensors/%u/#'",
				args: []string{"TENANT"},
				flags: []cli.Flag{
					&cli.StringFlag{Name: "action", Usage: "`ACTION` of the rule: allow or deny; required"},
					&cli.StringFlag{Name: "access", Value: string(tenant.AccessAll), Usage: "what the rule covers: `ACCESS` publish, subscribe or all"},
					&cli.StringFlag{Name: "topic", Usage: "MQTT topic `FILTER` of the rule, with + and # wildcards, %u and %c; required"},
					&cli.StringFlag{Name: "user", Usage: "apply the rule to the user `NAME` only; default: every client"},
					&cli.IntFlag{Name: "position", Usage: "insert the rule before rule `N` (0 is first); default: append"},
				},
				run: runACLAdd,
			},
			{
				name:  "list",
				usage: "list a tenant's ACL rules and default policy",
				args:  []string{"TENANT"},
				run:   runACLList,
			},
			{
				name:  "remove",
				usage: "remove rule INDEX, as acl list numbers it, from a tenant's ACL",
				args:  []string{"TENANT", "INDEX"},
				run:   runACLRemove,
			},
			{
				name:  "default",
				usage: "set the policy of a tenant's ACL when no rule applies: allow or deny",
				args:  []string{"TENANT", "POLICY"},
				run:   runACLDefault,
			},
		})
}

// aclJSON is the --json form of an ACL: the default policy filled in and
// rules never null.
type aclJSON struct {
	Default tenant.Action `json:"default"`
	Rules   []tenant.Rule `json:"rules"`
}

func runACLAdd(r *clientRun) error {
	c := r.c
	rule := tenant.Rule{Action: tenant.Action(c.String("action")), Access: tenant.Access(c.String("access")), Topic: c.String("topic"), User: c.String("user")}
	switch {
	case rule.Action != tenant.Allow && rule.Action != tenant.Deny:
		return r.usage("--action %q: want allow or deny", rule.Action)
	case rule.Access != tenant.AccessPublish && rule.Access != tenant.AccessSubscribe && rule.Access != tenant.AccessAll:
		return r.usage("--access %q: want publish, subscribe or all", rule.Access)
	case rule.Topic == "":
		return r.usage("--topic is required")
	}
	pos := -1
	if c.IsSet("position") {
		if pos = c.Int("position"); pos < 0 {
			return r.usage("--position %d: want 0 or more", pos)
		}
	}
	acl, err := r.api.AddRule(r.ctx(), r.args[0], rule, pos)
	if err != nil {
		return err
	}
	return writeACL(r, acl)
}

func runACLList(r *clientRun) error {
	acl, err := r.api.ACL(r.ctx(), r.args[0])
	if err != nil {
		return err
	}
	return writeACL(r, acl)
}

func runACLRemove(r *clientRun) error {
	i, err := strconv.Atoi(r.args[1])
	if err != nil || i < 0 {
		return r.usage("INDEX %q: want a rule number as acl list shows it", r.args[1])
	}
	acl, err := r.api.RemoveRule(r.ctx(), r.args[0], i)
	if err != nil {
		return err
	}
	return writeACL(r, acl)
}

func runACLDefault(r *clientRun) error {
	policy := tenant.Action(r.args[1])
	if policy != tenant.Allow && policy != tenant.Deny {
		return r.usage("POLICY %q: want allow or deny", policy)
	}
	var acl tenant.ACL
	err := retryChanged(func() error {
		cur, err := r.api.Tenant(r.ctx(), r.args[0])
		if err != nil {
			return err
		}
		acl = cur.Spec.ACL
		acl.Default = policy
		return r.api.UpdateACL(r.ctx(), r.args[0], acl, cur.Revision)
	})
	if err != nil {
		return err
	}
	return writeACL(r, acl)
}

// writeACL prints acl as a numbered table and its default policy.
func writeACL(r *clientRun, acl tenant.ACL) error {
	v := aclJSON{Default: acl.Default, Rules: acl.Rules}
	if v.Default == "" {
		v.Default = tenant.Allow
	}
	if v.Rules == nil {
		v.Rules = []tenant.Rule{}
	}
	return r.output(v, func(w io.Writer) error {
		t := newTable(w, "#", "ACTION", "ACCESS", "TOPIC", "USER")
		for i, rule := range v.Rules {
			access := rule.Access
			if access == "" {
				access = tenant.AccessAll
			}
			t.row(strconv.Itoa(i), string(rule.Action), string(access), rule.Topic, rule.User)
		}
		t.row("*", string(v.Default), string(tenant.AccessAll), "(default: no rule applies)", "")
		return t.flush()
	})
}
