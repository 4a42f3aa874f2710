// Package tenant runs many isolated MQTT broker instances in one process,
// keyed by namespace. A Spec defines one tenant (its listeners, users, ACL
// and limits); a Host runs one broker.Broker per tenant with its own
// listeners and applies changes to the specs live: Apply, Remove and
// Reconcile. Nothing is shared between tenants: each has its own topic trie,
// retained messages, sessions, credentials and counters.
//
// The control plane (package meta) stores specs and drives a Host; the
// package itself knows nothing about Raft or gossip.
package tenant
