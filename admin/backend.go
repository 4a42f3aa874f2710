package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/jmqx/jmqx/tenant"
)

// Errors a Backend returns (possibly wrapped) so that the API can answer
// with the right status: ErrInvalid 400, ErrNotFound 404, ErrExists 409,
// ErrNotLeader 503. The Client's *Error matches them with errors.Is too.
var (
	// ErrNotFound means the tenant, user, rule or member does not exist.
	ErrNotFound = errors.New("admin: not found")
	// ErrExists means a create met a different existing value.
	ErrExists = errors.New("admin: already exists")
	// ErrNotLeader means the write needs the leader and this node is not.
	ErrNotLeader = errors.New("admin: not the leader")
	// ErrInvalid means the request was refused by validation; the wrapping
	// message is shown to the user.
	ErrInvalid = errors.New("admin: invalid")
	// ErrChanged means a conditional write (If-Match) found the tenant
	// changed since its revision was read: 412.
	ErrChanged = errors.New("admin: changed since read")
)

// sentinels are the Backend's errors that have an HTTP status of their own.
func sentinels() [5]error {
	return [5]error{ErrInvalid, ErrNotFound, ErrExists, ErrNotLeader, ErrChanged}
}

// sentinelStatus is the HTTP status of a sentinel (0 for other errors): the
// server answers with it, and the Client's *Error matches it back.
func sentinelStatus(sentinel error) int {
	switch sentinel {
	case ErrInvalid:
		return http.StatusBadRequest
	case ErrNotFound:
		return http.StatusNotFound
	case ErrExists:
		return http.StatusConflict
	case ErrNotLeader:
		return http.StatusServiceUnavailable
	case ErrChanged:
		return http.StatusPreconditionFailed
	}
	return 0
}

// Backend is what the admin API needs from the node. Its methods are
// called concurrently from request goroutines; the write methods may block
// until the change is committed and must honour ctx.
type Backend interface {
	// NodeID is this node's cluster identifier.
	NodeID() string
	// Tenants lists every tenant sorted by name, with Nodes filled from
	// the bound addresses each node recorded.
	Tenants() []TenantView
	// Tenant returns one tenant and whether it exists.
	Tenant(name string) (TenantView, bool)
	// Members lists the cluster members.
	Members() []MemberView
	// IsLeader reports whether this node leads the control plane.
	IsLeader() bool
	// LeaderAdminAddr is the leader's admin API "host:port", "" when
	// unknown.
	LeaderAdminAddr() string
	// PutTenant stores spec. With create, it fails with ErrExists if a
	// different spec of that name exists.
	PutTenant(ctx context.Context, spec tenant.Spec, create bool) error
	// DeleteTenant removes a tenant; ErrNotFound if it does not exist.
	DeleteTenant(ctx context.Context, name string) error
	// PutUser adds or replaces one user of a tenant.
	PutUser(ctx context.Context, tenantName string, u tenant.User) error
	// RemoveUser removes one user of a tenant.
	RemoveUser(ctx context.Context, tenantName, user string) error
	// PutACL replaces a tenant's ACL.
	PutACL(ctx context.Context, tenantName string, acl tenant.ACL) error
	// Join adds m as a non-voter and records it as a member (leader only); the
	// leader promotes it to voter once it has caught up and answers under its
	// own id, and removes it if it never answers (meta.Config.NonvoterTimeout).
	Join(ctx context.Context, m MemberView) error
	// RemoveMember removes a member (leader only).
	RemoveMember(ctx context.Context, id string) error
	// RecordBound records the addresses node bound for a tenant's
	// listeners (leader only; followers' writes are forwarded).
	RecordBound(ctx context.Context, tenantName, node string, listeners map[string]string) error
	// LocalStatus is this node's live figures for a tenant, false when
	// the tenant does not run here.
	LocalStatus(tenantName string) (NodeStatus, bool)
	// Ready is nil when the node has a leader and has reconciled.
	Ready() error
}

// TenantView is a tenant as the API shows it: its spec and the listeners
// actually bound on each node. Nodes is never null in JSON.
type TenantView struct {
	Name  string          `json:"name"`
	Spec  tenant.Spec     `json:"spec"`
	Nodes []NodeListeners `json:"nodes"`
	// Revision identifies this version of the spec; a write sent with it
	// in If-Match fails with 412 if the tenant changed meanwhile.
	Revision string `json:"revision"`
}

// Revision is the revision of a spec: a digest of its JSON.
func Revision(spec tenant.Spec) string {
	b, err := json.Marshal(spec)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// NodeListeners are the addresses one node bound for a tenant, keyed
// "mqtt", "mqtts", "ws" and "wss", valued "host:port".
type NodeListeners struct {
	Node      string            `json:"node"`
	Listeners map[string]string `json:"listeners"`
	// Error says why the node cannot serve the tenant (it retries every
	// second); set for the answering node only (tenant status asks
	// every node).
	Error string `json:"error,omitempty"`
}

// NodeStatus is one node's live figures for a tenant. Error is set, and
// the figures are zero, when the node could not be asked.
type NodeStatus struct {
	Node            string            `json:"node"`
	Listeners       map[string]string `json:"listeners"`
	Connections     int64             `json:"connections"`
	Sessions        int               `json:"sessions"`
	Subscriptions   int               `json:"subscriptions"`
	Retained        int               `json:"retained"`
	MessagesIn      int64             `json:"messages_in"`
	MessagesOut     int64             `json:"messages_out"`
	BytesIn         int64             `json:"bytes_in"`
	BytesOut        int64             `json:"bytes_out"`
	MessagesInRate  float64           `json:"messages_in_per_second"`
	MessagesOutRate float64           `json:"messages_out_per_second"`
	Dropped         int64             `json:"dropped"`
	Refusals        map[string]int64  `json:"refusals"`
	Error           string            `json:"error,omitempty"`
	// RemoteRoutes is the routes of the tenant this node holds of its
	// peers (the filters their subscribers use); Peers the tenant's
	// forwarding with each peer. Absent when the data plane is off.
	RemoteRoutes int                       `json:"remote_routes,omitempty"`
	Peers        map[string]PeerForwarding `json:"peers,omitempty"`
}

// PeerForwarding is one tenant's forwarding between the answering node and
// one peer.
type PeerForwarding struct {
	// ForwardedOut and ForwardedOutBytes: messages (and bytes) sent to
	// the peer for its subscribers.
	ForwardedOut      int64 `json:"forwarded_out"`
	ForwardedOutBytes int64 `json:"forwarded_out_bytes"`
	// ForwardedIn and ForwardedInBytes: messages (and bytes) the peer
	// sent that were delivered here.
	ForwardedIn      int64 `json:"forwarded_in"`
	ForwardedInBytes int64 `json:"forwarded_in_bytes"`
	// AwaitingAck: forwards the peer has not acknowledged yet.
	AwaitingAck int64 `json:"awaiting_ack"`
	// Dropped: forwards dropped because the queue to the peer was full.
	Dropped int64 `json:"dropped"`
	// AckTimeouts: forwards publishers stopped waiting for.
	AckTimeouts int64 `json:"ack_timeouts"`
	// Duplicates: forwards sent again after a broken link, not delivered
	// twice.
	Duplicates int64 `json:"duplicates"`
	// Routes: the peer's routes held here.
	Routes int `json:"routes"`
}

// UserView is a tenant's user as the API lists it: never its hashes.
type UserView struct {
	Name        string `json:"name"`
	Credentials int    `json:"credentials"`
}

// MemberView is one cluster member.
type MemberView struct {
	ID        string `json:"id"`
	Role      string `json:"role"`
	RaftAddr  string `json:"raft_addr"`
	AdminAddr string `json:"admin_addr"`
	// GossipAddr and ClusterAddr are the member's advertised data-plane
	// addresses: memberlist's, and the node-to-node link's; "" when its
	// data plane is off. A join passes them on to the member's record.
	GossipAddr  string `json:"gossip_addr,omitempty"`
	ClusterAddr string `json:"cluster_addr,omitempty"`
	Voter       bool   `json:"voter"`
	Healthy     bool   `json:"healthy"`
	// Gossip is the member's gossip state as seen from the answering
	// node: "alive" or "dead" ("suspect" and "left" are reserved: the
	// gossip library reports neither yet); "off" when the
	// answering node's data plane is off; "" when unknown. Ignored in a
	// join.
	Gossip string `json:"gossip"`
	// Link is the state of the answering node's link to the member:
	// "up", "down" or "connecting"; "self" for the answering node itself;
	// "off" when the answering node's data plane is off. Ignored in a
	// join.
	Link string `json:"link"`
	// Self marks the answering node in GET /v1/cluster/members (the node
	// whose console is open); absent on the others. Ignored in a join.
	Self bool `json:"self,omitempty"`
	// Drain is the member's drain state: "draining" (it refuses new
	// connections and sends its clients and sessions to the others) or
	// "drained" (it is empty: cluster remove takes it out with nothing
	// lost); absent while it serves. Ignored in a join.
	Drain string `json:"drain,omitempty"`
}

// normalized returns v with its nil slices and maps made empty, so that
// JSON shows [] and {} rather than null.
func (v TenantView) normalized() TenantView {
	v.Revision = Revision(v.Spec)
	if v.Nodes == nil {
		v.Nodes = []NodeListeners{}
	}
	// Copy before filling: the Backend owns v.Nodes.
	nodes := make([]NodeListeners, len(v.Nodes))
	for i, n := range v.Nodes {
		if n.Listeners == nil {
			n.Listeners = map[string]string{}
		}
		nodes[i] = n
	}
	v.Nodes = nodes
	return v
}

// normalized returns s with its nil maps made empty.
func (s NodeStatus) normalized() NodeStatus {
	if s.Listeners == nil {
		s.Listeners = map[string]string{}
	}
	if s.Refusals == nil {
		s.Refusals = map[string]int64{}
	}
	return s
}
