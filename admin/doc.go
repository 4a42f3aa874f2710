// Package admin is the HTTP JSON API over the jmqx control plane (tenants,
// users, ACLs, cluster members, per-node status) and the Go client the CLI
// uses to call it.
//
// The package does not know about Raft: a Server talks to a Backend, an
// interface defined here and implemented by the node assembly. Reads are
// answered from the local node; writes on a follower are forwarded to the
// leader's admin API, so a caller never needs to know who leads.
//
// Security: a Server bound to a non-loopback address refuses to start
// without a token (of at least MinTokenLength characters), and when a
// token is configured every /v1 route requires "Authorization: Bearer
// <token>"; /healthz and /readyz are open. Whatever the token setting,
// cross-site requests are refused first (guard, in crosssite.go): the
// Host header must name the node, and a write must come from no foreign
// Origin and declare Content-Type: application/json.
package admin
