package meta

import (
	"maps"
	"slices"

	"github.com/jmqx/jmqx/tenant"
)

// Listener names used as keys of State.Bound and RecordBound.Listeners.
const (
	ListenerMQTT  = "mqtt"
	ListenerMQTTS = "mqtts"
	ListenerWS    = "ws"
	ListenerWSS   = "wss"
)

// Member is one node of the cluster as recorded in the control plane.
// Persisted in Raft.
type Member struct {
	// ID is the node's Raft server ID. Required.
	ID string `json:"id"`
	// RaftAddr is the node's advertised Raft address, "host:port".
	RaftAddr string `json:"raft_addr"`
	// AdminAddr is the node's admin API address, "host:port".
	AdminAddr string `json:"admin_addr"`
	// GossipAddr is the node's advertised memberlist (gossip) address,
	// "host:port"; "" when its data plane is off, or it runs a jmqx without
	// one. Omitted when empty, so that the records of such nodes keep the
	// form every jmqx decodes.
	GossipAddr string `json:"gossip_addr,omitempty"`
	// ClusterAddr is the node's advertised node-to-node link address
	// (routes and forwarded publishes), "host:port"; "" as GossipAddr.
	ClusterAddr string `json:"cluster_addr,omitempty"`
	// Drain is the node's drain state: "" (serving), DrainDraining or
	// DrainDrained; set by SetDrain only. Omitted when empty, so that the
	// records of nodes never drained keep the form every jmqx decodes.
	Drain string `json:"drain,omitempty"`
}

// State is the replicated control-plane state. It is immutable: the FSM
// replaces it as a whole (copy-on-write), so a State obtained once stays
// consistent, and its maps and the specs in them must never be modified.
// Use the methods to read it safely.
type State struct {
	// Tenants are the tenant specs by name.
	Tenants map[string]tenant.Spec `json:"tenants"`
	// Revisions are the tenants' revisions by name: the Raft index of the
	// command that last wrote each tenant's spec. A command with
	// IfRevision compares against it.
	Revisions map[string]uint64 `json:"revisions"`
	// Members are the cluster members by ID.
	Members map[string]Member `json:"members"`
	// Bound holds the addresses each node actually bound for each
	// tenant: tenant → node ID → listener name → "host:port".
	Bound map[string]map[string]map[string]string `json:"bound"`
	// Index is the Raft index of the last applied change.
	Index uint64 `json:"index"`
}

// emptyState returns a State with empty, non-nil maps.
func emptyState() *State {
	return &State{
		Tenants:   map[string]tenant.Spec{},
		Revisions: map[string]uint64{},
		Members:   map[string]Member{},
		Bound:     map[string]map[string]map[string]string{},
	}
}

// Tenant returns a deep copy of the spec of the tenant name, and whether it
// exists.
func (s State) Tenant(name string) (tenant.Spec, bool) {
	spec, ok := s.Tenants[name]
	if !ok {
		return tenant.Spec{}, false
	}
	return spec.Clone(), true
}

// TenantRevision returns the revision of the tenant name (see
// Revisions), 0 if it does not exist.
func (s State) TenantRevision(name string) uint64 { return s.Revisions[name] }

// TenantNames returns the tenants' names, sorted.
func (s State) TenantNames() []string {
	return slices.Sorted(maps.Keys(s.Tenants))
}

// MemberList returns the members sorted by ID.
func (s State) MemberList() []Member {
	out := make([]Member, 0, len(s.Members))
	for _, id := range slices.Sorted(maps.Keys(s.Members)) {
		out = append(out, s.Members[id])
	}
	return out
}

// BoundAddrs returns a copy of the addresses node bound for tenant, keyed
// by listener name (nil if none are recorded).
func (s State) BoundAddrs(tenantName, node string) map[string]string {
	return maps.Clone(s.Bound[tenantName][node])
}

// validListener reports whether name is one of the four listener names.
func validListener(name string) bool {
	switch name {
	case ListenerMQTT, ListenerMQTTS, ListenerWS, ListenerWSS:
		return true
	}
	return false
}
