// Package node assembles a jmqx service node: the Raft control plane
// (package meta), the tenants it defines served by a tenant.Host, and the
// admin HTTP API (package admin) over both. Every node reconciles its Host
// to the replicated tenant specs and records, through the leader, the
// addresses it actually bound for each tenant. A single node is a
// one-voter group; further nodes join through any member's admin API.
package node
