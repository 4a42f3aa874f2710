package node

import "github.com/prometheus/client_golang/prometheus"

// descs are the descriptions of the node's metrics (README.md, section
// Monitoring, lists them: keep both in step). Each carries the node label.
type descs struct {
	// Per tenant (label tenant).
	tenantUp, tenantApplied                                *prometheus.Desc
	connections, connectionsAccepted, sessions             *prometheus.Desc
	subscriptions, retained, retainedBytes                 *prometheus.Desc
	queued, inflight                                       *prometheus.Desc
	msgsReceived, msgsSent, bytesReceived, bytesSent       *prometheus.Desc
	dropped, refusals                                      *prometheus.Desc // and cause; code and reason
	protocolErrors, throttled, slowConsumers               *prometheus.Desc
	memoryUsed, memoryLimit, memoryRefusals                *prometheus.Desc
	storeWrites, storeErrors                               *prometheus.Desc
	localRoutes                                            *prometheus.Desc
	fwdOut, fwdOutBytes, fwdIn, fwdInBytes                 *prometheus.Desc // and peer
	fwdAwaiting, fwdDropped, fwdAckTimeouts, fwdDuplicates *prometheus.Desc // and peer
	remoteRoutes                                           *prometheus.Desc // and peer
	sharedSentOn, sharedLost                               *prometheus.Desc

	// Per node.
	nodeMemoryUsed, nodeMemoryLimit, reconcileFailures *prometheus.Desc
	raftRole                                           *prometheus.Desc // role
	raftTerm, raftLastIndex, raftCommitIndex           *prometheus.Desc
	raftAppliedIndex, raftLastContact                  *prometheus.Desc
	gossipMembers                                      *prometheus.Desc // state
	linkUp, linkRTT, linkBacklog, linkBacklogBytes     *prometheus.Desc // peer
	linkErrors, resyncs, subackTimeouts                *prometheus.Desc
	retainedRepairs, claims, claimTimeouts             *prometheus.Desc
	sessionsMoved, claimsSlowed, willsPublished        *prometheus.Desc
}

// newDescs returns the descriptions, with node as the node label.
func newDescs(node string) descs {
	nl := prometheus.Labels{"node": node}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nl)
	}
	t, tp := []string{"tenant"}, []string{"tenant", "peer"}
	return descs{
		tenantUp:            desc("jmqx_tenant_up", "1 when this node runs the tenant's broker, 0 when it was asked to and could not start it (retried every second).", t...),
		tenantApplied:       desc("jmqx_tenant_spec_applied", "1 when this node serves the tenant as its spec says, 0 when it could apply the spec only in part or not at all.", t...),
		connections:         desc("jmqx_tenant_connections", "Clients connected now (past CONNACK).", t...),
		connectionsAccepted: desc("jmqx_tenant_connections_accepted_total", "Connections accepted (CONNACK success) since the tenant started on this node.", t...),
		sessions:            desc("jmqx_tenant_sessions", "Sessions held, connected or not.", t...),
		subscriptions:       desc("jmqx_tenant_subscriptions", "Subscriptions held.", t...),
		retained:            desc("jmqx_tenant_retained_messages", "Retained messages held.", t...),
		retainedBytes:       desc("jmqx_tenant_retained_bytes", "Payload bytes of the retained messages held.", t...),
		queued:              desc("jmqx_tenant_queued_messages", "Messages the tenant's sessions hold waiting to be sent.", t...),
		inflight:            desc("jmqx_tenant_inflight_messages", "QoS 1 and 2 messages sent to the tenant's clients and not yet acknowledged.", t...),
		msgsReceived:        desc("jmqx_tenant_messages_received_total", "Messages published in the tenant on this node: PUBLISH packets from clients, in-process publishes, and messages peers forwarded (those also count in jmqx_tenant_forwarded_in_messages_total).", t...),
		msgsSent:            desc("jmqx_tenant_messages_sent_total", "PUBLISH packets sent to clients of this node.", t...),
		bytesReceived:       desc("jmqx_tenant_received_bytes_total", "Bytes of the MQTT packets read from clients (every packet type).", t...),
		bytesSent:           desc("jmqx_tenant_sent_bytes_total", "Bytes of the MQTT packets written to clients (every packet type).", t...),
		dropped:             desc("jmqx_tenant_messages_dropped_total", "Deliveries dropped, by cause.", "tenant", "cause"),
		refusals:            desc("jmqx_tenant_refusals_total", "What the broker refused (a CONNECT, a SUBSCRIBE, a PUBLISH, or a client error that ended a connection), by MQTT 5 reason code.", "tenant", "code", "reason"),
		protocolErrors:      desc("jmqx_tenant_protocol_errors_total", "Connections closed for a protocol violation.", t...),
		throttled:           desc("jmqx_tenant_publishers_throttled_total", "Times a publisher was slowed down (a full subscriber queue or the tenant's rate limits).", t...),
		slowConsumers:       desc("jmqx_tenant_slow_consumers_total", "Times a subscriber held its publishers back for slow_consumer_wait_ms and was marked slow.", t...),
		memoryUsed:          desc("jmqx_tenant_memory_used_bytes", "Bytes the tenant's clients make its broker hold (buffers, queued, in-flight and retained messages, subscriptions), charged to its memory budget.", t...),
		memoryLimit:         desc("jmqx_tenant_memory_limit_bytes", "The tenant's memory budget (max_memory); absent when unlimited.", t...),
		memoryRefusals:      desc("jmqx_tenant_memory_refusals_total", "Demands refused because a memory budget (the tenant's or the node's) was spent.", t...),
		storeWrites:         desc("jmqx_tenant_store_writes_total", "Batches of session and retained changes written to the tenant's store (one fsync each).", t...),
		storeErrors:         desc("jmqx_tenant_store_errors_total", "Writes to the tenant's store that failed (and were tried again).", t...),
		localRoutes:         desc("jmqx_tenant_local_routes", "Topic filters this node announces to its peers for the tenant.", t...),
		fwdOut:              desc("jmqx_tenant_forwarded_out_messages_total", "Messages queued to the peer for its subscribers.", tp...),
		fwdOutBytes:         desc("jmqx_tenant_forwarded_out_bytes_total", "Bytes of the messages queued to the peer.", tp...),
		fwdIn:               desc("jmqx_tenant_forwarded_in_messages_total", "Messages the peer forwarded that this node delivered.", tp...),
		fwdInBytes:          desc("jmqx_tenant_forwarded_in_bytes_total", "Bytes of the messages the peer forwarded that this node delivered.", tp...),
		fwdAwaiting:         desc("jmqx_tenant_forwards_awaiting_ack", "Forwards to the peer not acknowledged yet.", tp...),
		fwdDropped:          desc("jmqx_tenant_forwards_dropped_total", "Forwards to the peer dropped because its queue was full (max peer bytes).", tp...),
		fwdAckTimeouts:      desc("jmqx_tenant_forward_ack_timeouts_total", "Forwards to the peer whose publisher stopped waiting for the acknowledgement.", tp...),
		fwdDuplicates:       desc("jmqx_tenant_forward_duplicates_total", "Forwards the peer sent again after a broken link that were already delivered (not delivered twice).", tp...),
		remoteRoutes:        desc("jmqx_tenant_remote_routes", "The peer's topic filters this node holds for the tenant.", tp...),
		sharedSentOn:        desc("jmqx_tenant_shared_sent_on_total", "Shared subscription messages this node sent on to another member because the member picked for them was gone.", t...),
		sharedLost:          desc("jmqx_tenant_shared_lost_total", "Shared subscription messages (per group) lost because no live node had a member of the group.", t...),

		nodeMemoryUsed:    desc("jmqx_node_memory_used_bytes", "Bytes all tenants' brokers hold, charged to the node's memory budget (--memory-budget)."),
		nodeMemoryLimit:   desc("jmqx_node_memory_limit_bytes", "The node's memory budget; absent when unlimited."),
		reconcileFailures: desc("jmqx_reconcile_failures_total", "Passes that could not make the tenants run as the control plane says (each is retried every second)."),
		raftRole:          desc("jmqx_raft_role", "1 for this node's Raft role, 0 for the others.", "role"),
		raftTerm:          desc("jmqx_raft_term", "The current Raft term."),
		raftLastIndex:     desc("jmqx_raft_last_index", "The last index in this node's Raft log."),
		raftCommitIndex:   desc("jmqx_raft_commit_index", "The highest Raft index known to be committed."),
		raftAppliedIndex:  desc("jmqx_raft_applied_index", "The last Raft index applied to the control plane's state."),
		raftLastContact:   desc("jmqx_raft_last_contact_seconds", "Seconds since this node last heard from the leader (0 on the leader; absent before any contact)."),
		gossipMembers:     desc("jmqx_gossip_members", "Members gossip knows, this node included, by state.", "state"),
		linkUp:            desc("jmqx_cluster_link_up", "1 when this node's link to the peer is up, 0 otherwise.", "peer"),
		linkRTT:           desc("jmqx_cluster_link_rtt_seconds", "Last round trip measured on the link to the peer: from the write of a forward or route change to its acknowledgement (absent until one is acknowledged).", "peer"),
		linkBacklog:       desc("jmqx_cluster_link_backlog_messages", "Forwards queued for the peer or not acknowledged yet.", "peer"),
		linkBacklogBytes:  desc("jmqx_cluster_link_backlog_bytes", "Bytes of the forwards queued for the peer or not acknowledged yet.", "peer"),
		linkErrors:        desc("jmqx_cluster_link_errors_total", "Links to peers that broke."),
		resyncs:           desc("jmqx_cluster_route_resyncs_total", "Route table resyncs, asked of a peer or by one."),
		subackTimeouts:    desc("jmqx_cluster_suback_timeouts_total", "SUBACKs sent before every live peer had acknowledged the route."),
		retainedRepairs:   desc("jmqx_cluster_retained_repairs_total", "Retained stores streamed to a peer because gossip showed its copy differed."),
		claims:            desc("jmqx_cluster_session_claims_total", "Claims of a client id this node made to its peers (CONNECTs, adoptions)."),
		claimTimeouts:     desc("jmqx_cluster_session_claim_timeouts_total", "Claim steps (and fences of a session moving away) that went on without a peer's answer (ClaimWait passed)."),
		sessionsMoved:     desc("jmqx_cluster_sessions_moved_total", "Sessions moved to this node from a peer."),
		claimsSlowed:      desc("jmqx_cluster_session_claims_slowed_total", "Claims of a flapping client id made to wait."),
		willsPublished:    desc("jmqx_cluster_lost_node_wills_published_total", "Wills of a lost node's sessions this node published."),
	}
}

// all lists every description.
func (d *descs) all() []*prometheus.Desc {
	return []*prometheus.Desc{
		d.tenantUp, d.tenantApplied, d.connections, d.connectionsAccepted, d.sessions, d.subscriptions, d.retained,
		d.retainedBytes, d.queued, d.inflight,
		d.msgsReceived, d.msgsSent, d.bytesReceived, d.bytesSent, d.dropped, d.refusals, d.protocolErrors,
		d.throttled, d.slowConsumers, d.memoryUsed, d.memoryLimit, d.memoryRefusals, d.storeWrites, d.storeErrors, d.localRoutes,
		d.fwdOut, d.fwdOutBytes, d.fwdIn, d.fwdInBytes, d.fwdAwaiting, d.fwdDropped, d.fwdAckTimeouts,
		d.fwdDuplicates, d.remoteRoutes,
		d.nodeMemoryUsed, d.nodeMemoryLimit, d.reconcileFailures, d.raftRole, d.raftTerm, d.raftLastIndex,
		d.raftCommitIndex, d.raftAppliedIndex, d.raftLastContact, d.gossipMembers, d.linkUp, d.linkRTT,
		d.linkBacklog, d.linkBacklogBytes, d.linkErrors, d.resyncs, d.subackTimeouts,
		d.retainedRepairs, d.claims, d.claimTimeouts, d.sessionsMoved, d.claimsSlowed, d.willsPublished,
		d.sharedSentOn, d.sharedLost,
	}
}
