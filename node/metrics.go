package node

import (
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/cluster"
	"github.com/jmqx/jmqx/meta"
	"github.com/jmqx/jmqx/tenant"
)

// The node's Prometheus metrics, served by the admin API at GET /metrics.
// A collector reads the figures the node keeps anyway (each broker's
// atomic counters, the data plane's, Raft's) when it is scraped: nothing
// is counted on the publish path for it. Every series has a node label;
// per-tenant series a tenant label; per-peer series a peer label (a node
// name); never a client id or topic.

// metricsInFlight bounds the scrapes served at once; more get 503.
const metricsInFlight = 4

// tenantSource is what the collector reads of the tenants (tenant.Host).
type tenantSource interface {
	List() []tenant.Status
	Failed() map[string]error
	MemoryBudget() *broker.Budget
}

// raftSource is what the collector reads of the control plane
// (meta.Store).
type raftSource interface {
	RaftStats() meta.RaftStats
}

// dataPlaneSource is what the collector reads of the data plane
// (cluster.Cluster).
type dataPlaneSource interface {
	Stats(tenant string) (cluster.TenantStats, bool)
	NodeStats() cluster.NodeStats
	Members() []cluster.Member
	Links() []cluster.LinkStats
}

// metricSources are the collector's sources. dataPlane is nil when the
// data plane is off.
type metricSources struct {
	node              string
	tenants           tenantSource
	raft              raftSource
	dataPlane         dataPlaneSource
	reconcileFailures func() int64
}

// newMetricsHandler returns the handler of GET /metrics: the node's
// collector, with the Go runtime's and the process's.
func newMetricsHandler(src metricSources, log *zap.Logger) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		newCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("node: metrics: %w", err)
		}
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            zap.NewStdLog(log.Named("metrics")),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: metricsInFlight,
	}), nil
}

// collector is the node's prometheus.Collector (see above).
type collector struct {
	src metricSources
	d   descs
}

func newCollector(src metricSources) *collector {
	return &collector{src: src, d: newDescs(src.node)}
}

// Describe sends every metric's description.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.d.all() {
		ch <- d
	}
}

// Collect reads the node's figures now and sends them.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.collectTenants(ch)
	c.collectNode(ch)
	c.collectRaft(ch)
	if c.src.dataPlane != nil {
		c.collectDataPlane(ch)
	}
}

// emit sends one metric of desc.
func emit(ch chan<- prometheus.Metric, d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, t, v, labels...)
}

// collectTenants sends the figures of every tenant this node serves, or
// was asked to serve and could not.
func (c *collector) collectTenants(ch chan<- prometheus.Metric) {
	d := &c.d
	running := map[string]bool{}
	for _, st := range c.src.tenants.List() {
		name := st.Spec.Name
		running[name] = true
		emit(ch, d.tenantUp, prometheus.GaugeValue, 1, name)
		emit(ch, d.tenantApplied, prometheus.GaugeValue, boolValue(st.Error == ""), name)
		c.collectBroker(ch, name, st.Stats)
		if c.src.dataPlane != nil {
			if cs, ok := c.src.dataPlane.Stats(name); ok {
				c.collectForwarding(ch, name, cs)
			}
		}
	}
	for name := range c.src.tenants.Failed() {
		if !running[name] {
			emit(ch, d.tenantUp, prometheus.GaugeValue, 0, name)
			emit(ch, d.tenantApplied, prometheus.GaugeValue, 0, name)
		}
	}
}

// collectBroker sends one tenant broker's figures.
func (c *collector) collectBroker(ch chan<- prometheus.Metric, name string, s broker.Stats) {
	d := &c.d
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	emit(ch, d.connections, gauge, float64(s.ClientsConnected), name)
	emit(ch, d.connectionsAccepted, counter, float64(s.ClientsTotal), name)
	emit(ch, d.sessions, gauge, float64(s.Sessions), name)
	emit(ch, d.subscriptions, gauge, float64(s.Subscriptions), name)
	emit(ch, d.retained, gauge, float64(s.Retained), name)
	emit(ch, d.retainedBytes, gauge, float64(s.RetainedBytes), name)
	emit(ch, d.queued, gauge, float64(s.Queued), name)
	emit(ch, d.inflight, gauge, float64(s.Inflight), name)
	emit(ch, d.msgsReceived, counter, float64(s.MessagesReceived), name)
	emit(ch, d.msgsSent, counter, float64(s.MessagesSent), name)
	emit(ch, d.bytesReceived, counter, float64(s.BytesReceived), name)
	emit(ch, d.bytesSent, counter, float64(s.BytesSent), name)
	for cause, n := range s.Drops {
		emit(ch, d.dropped, counter, float64(n), name, cause)
	}
	for rc, n := range s.Refusals {
		emit(ch, d.refusals, counter, float64(n), name, fmt.Sprintf("0x%02X", byte(rc)), rc.String())
	}
	emit(ch, d.protocolErrors, counter, float64(s.ProtocolErrors), name)
	emit(ch, d.throttled, counter, float64(s.PublishersThrottled), name)
	emit(ch, d.slowConsumers, counter, float64(s.SlowConsumers), name)
	emit(ch, d.memoryUsed, gauge, float64(s.MemoryUsed), name)
	if s.MemoryLimit < math.MaxInt64 { // else unlimited
		emit(ch, d.memoryLimit, gauge, float64(s.MemoryLimit), name)
	}
	emit(ch, d.memoryRefusals, counter, float64(s.MemoryRefusals), name)
	emit(ch, d.storeWrites, counter, float64(s.StoreWrites), name)
	emit(ch, d.storeErrors, counter, float64(s.StoreErrors), name)
}

// collectForwarding sends one tenant's data-plane figures.
func (c *collector) collectForwarding(ch chan<- prometheus.Metric, name string, cs cluster.TenantStats) {
	d := &c.d
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	emit(ch, d.localRoutes, gauge, float64(cs.LocalRoutes), name)
	emit(ch, d.sharedSentOn, counter, float64(cs.SharedSentOn), name)
	emit(ch, d.sharedLost, counter, float64(cs.SharedLost), name)
	for peer, p := range cs.Peers {
		emit(ch, d.fwdOut, counter, float64(p.ForwardedOut), name, peer)
		emit(ch, d.fwdOutBytes, counter, float64(p.ForwardedOutBytes), name, peer)
		emit(ch, d.fwdIn, counter, float64(p.ForwardedIn), name, peer)
		emit(ch, d.fwdInBytes, counter, float64(p.ForwardedInBytes), name, peer)
		emit(ch, d.fwdAwaiting, gauge, float64(p.AwaitingAck), name, peer)
		emit(ch, d.fwdDropped, counter, float64(p.Dropped), name, peer)
		emit(ch, d.fwdAckTimeouts, counter, float64(p.AckTimeouts), name, peer)
		emit(ch, d.fwdDuplicates, counter, float64(p.Duplicates), name, peer)
		emit(ch, d.remoteRoutes, gauge, float64(p.Routes), name, peer)
	}
}

// collectNode sends the node's own figures.
func (c *collector) collectNode(ch chan<- prometheus.Metric) {
	d := &c.d
	if b := c.src.tenants.MemoryBudget(); b != nil {
		emit(ch, d.nodeMemoryUsed, prometheus.GaugeValue, float64(b.Used()))
		if l := b.Limit(); l < math.MaxInt64 { // else unlimited
			emit(ch, d.nodeMemoryLimit, prometheus.GaugeValue, float64(l))
		}
	}
	emit(ch, d.reconcileFailures, prometheus.CounterValue, float64(c.src.reconcileFailures()))
}

// raftRoles are the values of jmqx_raft_role's role label.
func raftRoles() [4]string { return [4]string{"leader", "follower", "candidate", "shutdown"} }

// collectRaft sends the control plane's figures.
func (c *collector) collectRaft(ch chan<- prometheus.Metric) {
	d := &c.d
	rs := c.src.raft.RaftStats()
	for _, role := range raftRoles() {
		emit(ch, d.raftRole, prometheus.GaugeValue, boolValue(rs.State == role), role)
	}
	emit(ch, d.raftTerm, prometheus.GaugeValue, float64(rs.Term))
	emit(ch, d.raftLastIndex, prometheus.GaugeValue, float64(rs.LastIndex))
	emit(ch, d.raftCommitIndex, prometheus.GaugeValue, float64(rs.CommitIndex))
	emit(ch, d.raftAppliedIndex, prometheus.GaugeValue, float64(rs.AppliedIndex))
	switch {
	case rs.State == "leader":
		emit(ch, d.raftLastContact, prometheus.GaugeValue, 0)
	case !rs.LastContact.IsZero():
		emit(ch, d.raftLastContact, prometheus.GaugeValue, time.Since(rs.LastContact).Seconds())
	}
}

// gossipStates are the values of jmqx_gossip_members' state label.
func gossipStates() [4]string { return [4]string{"alive", "suspect", "dead", "left"} }

// collectDataPlane sends the data plane's node-wide and per-link figures.
func (c *collector) collectDataPlane(ch chan<- prometheus.Metric) {
	d := &c.d
	dp := c.src.dataPlane
	states := map[string]int{}
	for _, m := range dp.Members() {
		states[m.Gossip]++
		if m.Name != c.src.node {
			emit(ch, d.linkUp, prometheus.GaugeValue, boolValue(m.Link == "up"), m.Name)
		}
	}
	for _, s := range gossipStates() {
		emit(ch, d.gossipMembers, prometheus.GaugeValue, float64(states[s]), s)
	}
	for _, l := range dp.Links() {
		if l.RTT > 0 {
			emit(ch, d.linkRTT, prometheus.GaugeValue, l.RTT.Seconds(), l.Peer)
		}
		emit(ch, d.linkBacklog, prometheus.GaugeValue, float64(l.BacklogMessages), l.Peer)
		emit(ch, d.linkBacklogBytes, prometheus.GaugeValue, float64(l.BacklogBytes), l.Peer)
	}
	ns := dp.NodeStats()
	emit(ch, d.linkErrors, prometheus.CounterValue, float64(ns.LinkErrors))
	emit(ch, d.resyncs, prometheus.CounterValue, float64(ns.Resyncs))
	emit(ch, d.subackTimeouts, prometheus.CounterValue, float64(ns.SubackTimeouts))
	emit(ch, d.retainedRepairs, prometheus.CounterValue, float64(ns.RetainedRepairs))
	emit(ch, d.claims, prometheus.CounterValue, float64(ns.Claims))
	emit(ch, d.claimTimeouts, prometheus.CounterValue, float64(ns.ClaimTimeouts))
	emit(ch, d.sessionsMoved, prometheus.CounterValue, float64(ns.SessionsMoved))
	emit(ch, d.claimsSlowed, prometheus.CounterValue, float64(ns.ClaimsSlowed))
	emit(ch, d.willsPublished, prometheus.CounterValue, float64(ns.WillsPublished))
}

// boolValue is 1 for true, 0 for false.
func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// metricSources are the collector's sources on this node.
func (n *Node) metricSources() metricSources {
	src := metricSources{node: n.id, tenants: n.host, raft: n.store, reconcileFailures: n.reconcileFailures.Load}
	if n.cluster != nil {
		src.dataPlane = n.cluster
	}
	return src
}
