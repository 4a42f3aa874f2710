package node

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/cluster"
	"github.com/jmqx/jmqx/internal/packet"
	"github.com/jmqx/jmqx/meta"
	"github.com/jmqx/jmqx/tenant"
)

// families is a parsed scrape, by metric name.
type families map[string]*dto.MetricFamily

// parseScrape parses a text exposition.
func parseScrape(t testing.TB, body string) families {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse the scrape: %v\n%s", err, body)
	}
	return fams
}

// scrapeHandler serves GET /metrics from h and parses the answer.
func scrapeHandler(t testing.TB, h http.Handler) (families, int) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d %s", rec.Code, rec.Body)
	}
	return parseScrape(t, rec.Body.String()), rec.Body.Len()
}

// value returns the value of the series of name whose labels include
// labels (alternating names and values), and whether there is one.
func (f families) value(name string, labels ...string) (float64, bool) {
	fam := f[name]
	if fam == nil {
		return 0, false
	}
	for _, m := range fam.GetMetric() {
		if hasLabels(m, labels) {
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Untyped != nil:
				return m.Untyped.GetValue(), true
			}
		}
	}
	return 0, false
}

// hasLabels reports whether m has every label of labels (alternating
// names and values).
func hasLabels(m *dto.Metric, labels []string) bool {
	have := map[string]string{}
	for _, lp := range m.GetLabel() {
		have[lp.GetName()] = lp.GetValue()
	}
	for i := 0; i+1 < len(labels); i += 2 {
		if v, ok := have[labels[i]]; !ok || v != labels[i+1] {
			return false
		}
	}
	return true
}

// want fails t unless the series exists with value v.
func (f families) want(t testing.TB, v float64, name string, labels ...string) {
	t.Helper()
	got, ok := f.value(name, labels...)
	if !ok {
		t.Errorf("%s%v: absent, want %v", name, labels, v)
	} else if got != v {
		t.Errorf("%s%v = %v, want %v", name, labels, got, v)
	}
}

// absent fails t if the series exists.
func (f families) absent(t testing.TB, name string, labels ...string) {
	t.Helper()
	if v, ok := f.value(name, labels...); ok {
		t.Errorf("%s%v = %v, want absent", name, labels, v)
	}
}

type fakeTenants struct {
	list   []tenant.Status
	failed map[string]error
	budget *broker.Budget
}

func (f *fakeTenants) List() []tenant.Status        { return f.list }
func (f *fakeTenants) Failed() map[string]error     { return f.failed }
func (f *fakeTenants) MemoryBudget() *broker.Budget { return f.budget }

type fakeRaft struct{ st meta.RaftStats }

func (f *fakeRaft) RaftStats() meta.RaftStats { return f.st }

type fakeDataPlane struct {
	tenants map[string]cluster.TenantStats
	node    cluster.NodeStats
	members []cluster.Member
	links   []cluster.LinkStats
}

func (f *fakeDataPlane) Stats(name string) (cluster.TenantStats, bool) {
	st, ok := f.tenants[name]
	return st, ok
}
func (f *fakeDataPlane) NodeStats() cluster.NodeStats { return f.node }
func (f *fakeDataPlane) Members() []cluster.Member    { return f.members }
func (f *fakeDataPlane) Links() []cluster.LinkStats   { return f.links }

// TestCollectorReadsEveryFigure: each figure of the tenants, Raft and the
// data plane comes out under its name and labels, with the node label.
func TestCollectorReadsEveryFigure(t *testing.T) {
	tenants := &fakeTenants{
		list: []tenant.Status{
			{Spec: tenant.Spec{Name: "a"}, Running: true, Stats: broker.Stats{
				ClientsConnected: 3, ClientsTotal: 7, Sessions: 4, Subscriptions: 5, Retained: 6,
				RetainedBytes: 600, Queued: 8, Inflight: 9,
				MessagesReceived: 1000, MessagesSent: 2000, BytesReceived: 30000, BytesSent: 60000,
				Refusals:       map[packet.ReasonCode]int64{packet.BadUsernameOrPassword: 2, packet.QuotaExceeded: 1},
				Drops:          map[string]int64{"slow consumer": 9},
				ProtocolErrors: 1, PublishersThrottled: 2, SlowConsumers: 3, MemoryUsed: 4096, MemoryLimit: 1 << 20, MemoryRefusals: 5, StoreWrites: 6, StoreErrors: 7,
			}},
			{Spec: tenant.Spec{Name: "b"}, Running: true, Error: "listener mqtt: port taken",
				Stats: broker.Stats{MemoryLimit: math.MaxInt64}},
		},
		failed: map[string]error{"b": fmt.Errorf("port taken"), "c": fmt.Errorf("cannot start")},
		budget: broker.NewBudget(0),
	}
	dp := &fakeDataPlane{
		tenants: map[string]cluster.TenantStats{"a": {LocalRoutes: 2, SharedSentOn: 3, SharedLost: 1, Peers: map[string]cluster.PeerStats{
			"n2": {ForwardedOut: 10, ForwardedOutBytes: 100, ForwardedIn: 20, ForwardedInBytes: 200, AwaitingAck: 1,
				Dropped: 2, AckTimeouts: 3, Duplicates: 4, Routes: 5},
		}}},
		node: cluster.NodeStats{SubackTimeouts: 1, Resyncs: 2, LinkErrors: 3, RetainedRepairs: 4,
			SessionStats: cluster.SessionStats{Claims: 5, ClaimTimeouts: 6, SessionsMoved: 7, ClaimsSlowed: 8, WillsPublished: 9}},
		members: []cluster.Member{{Name: "n1", Gossip: "alive", Link: "self"}, {Name: "n2", Gossip: "alive", Link: "up"},
			{Name: "n3", Gossip: "dead", Link: "down"}},
		links: []cluster.LinkStats{{Peer: "n2", State: "up", RTT: 1500 * time.Microsecond, BacklogMessages: 7, BacklogBytes: 700},
			{Peer: "n4", State: "connecting"}},
	}
	raft := &fakeRaft{meta.RaftStats{State: "follower", Term: 3, LastIndex: 42, CommitIndex: 41, AppliedIndex: 40,
		LastContact: time.Now().Add(-2 * time.Second)}}
	h, err := newMetricsHandler(metricSources{node: "n1", tenants: tenants, raft: raft, dataPlane: dp,
		reconcileFailures: func() int64 { return 6 }}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	f, _ := scrapeHandler(t, h)

	a := []string{"node", "n1", "tenant", "a"}
	for name, v := range map[string]float64{
		"jmqx_tenant_up": 1, "jmqx_tenant_spec_applied": 1, "jmqx_tenant_connections": 3,
		"jmqx_tenant_connections_accepted_total": 7, "jmqx_tenant_sessions": 4, "jmqx_tenant_subscriptions": 5,
		"jmqx_tenant_retained_messages": 6, "jmqx_tenant_messages_received_total": 1000,
		"jmqx_tenant_retained_bytes": 600, "jmqx_tenant_queued_messages": 8, "jmqx_tenant_inflight_messages": 9,
		"jmqx_tenant_messages_sent_total": 2000, "jmqx_tenant_received_bytes_total": 30000,
		"jmqx_tenant_sent_bytes_total": 60000, "jmqx_tenant_protocol_errors_total": 1,
		"jmqx_tenant_publishers_throttled_total": 2, "jmqx_tenant_slow_consumers_total": 3,
		"jmqx_tenant_memory_used_bytes": 4096, "jmqx_tenant_memory_limit_bytes": 1 << 20,
		"jmqx_tenant_memory_refusals_total": 5, "jmqx_tenant_local_routes": 2,
		"jmqx_tenant_store_writes_total": 6, "jmqx_tenant_store_errors_total": 7,
		"jmqx_tenant_shared_sent_on_total": 3, "jmqx_tenant_shared_lost_total": 1,
	} {
		f.want(t, v, name, a...)
	}
	f.want(t, 2, "jmqx_tenant_refusals_total", append(a, "code", "0x86", "reason", "Bad User Name or Password")...)
	f.want(t, 1, "jmqx_tenant_refusals_total", append(a, "code", "0x97", "reason", "Quota exceeded")...)
	f.want(t, 9, "jmqx_tenant_messages_dropped_total", append(a, "cause", "slow consumer")...)
	ap := append(a, "peer", "n2")
	for name, v := range map[string]float64{
		"jmqx_tenant_forwarded_out_messages_total": 10, "jmqx_tenant_forwarded_out_bytes_total": 100,
		"jmqx_tenant_forwarded_in_messages_total": 20, "jmqx_tenant_forwarded_in_bytes_total": 200,
		"jmqx_tenant_forwards_awaiting_ack": 1, "jmqx_tenant_forwards_dropped_total": 2,
		"jmqx_tenant_forward_ack_timeouts_total": 3, "jmqx_tenant_forward_duplicates_total": 4,
		"jmqx_tenant_remote_routes": 5,
	} {
		f.want(t, v, name, ap...)
	}

	// b runs, in part; c could not start; an unlimited budget has no limit.
	f.want(t, 1, "jmqx_tenant_up", "tenant", "b")
	f.want(t, 0, "jmqx_tenant_spec_applied", "tenant", "b")
	f.absent(t, "jmqx_tenant_memory_limit_bytes", "tenant", "b")
	f.want(t, 0, "jmqx_tenant_up", "tenant", "c")
	f.absent(t, "jmqx_tenant_connections", "tenant", "c")
	f.absent(t, "jmqx_node_memory_limit_bytes")
	f.want(t, 0, "jmqx_node_memory_used_bytes")

	f.want(t, 6, "jmqx_reconcile_failures_total", "node", "n1")
	f.want(t, 1, "jmqx_raft_role", "role", "follower")
	f.want(t, 0, "jmqx_raft_role", "role", "leader")
	f.want(t, 3, "jmqx_raft_term")
	f.want(t, 42, "jmqx_raft_last_index")
	f.want(t, 41, "jmqx_raft_commit_index")
	f.want(t, 40, "jmqx_raft_applied_index")
	if v, _ := f.value("jmqx_raft_last_contact_seconds"); v < 2 || v > 60 {
		t.Errorf("jmqx_raft_last_contact_seconds = %v, want about 2", v)
	}
	f.want(t, 2, "jmqx_gossip_members", "state", "alive")
	f.want(t, 1, "jmqx_gossip_members", "state", "dead")
	f.want(t, 0, "jmqx_gossip_members", "state", "suspect")
	f.want(t, 1, "jmqx_cluster_link_up", "peer", "n2")
	f.want(t, 0, "jmqx_cluster_link_up", "peer", "n3")
	f.absent(t, "jmqx_cluster_link_up", "peer", "n1")
	f.want(t, 0.0015, "jmqx_cluster_link_rtt_seconds", "peer", "n2")
	f.absent(t, "jmqx_cluster_link_rtt_seconds", "peer", "n4")
	f.want(t, 7, "jmqx_cluster_link_backlog_messages", "peer", "n2")
	f.want(t, 700, "jmqx_cluster_link_backlog_bytes", "peer", "n2")
	f.want(t, 3, "jmqx_cluster_link_errors_total")
	f.want(t, 2, "jmqx_cluster_route_resyncs_total")
	f.want(t, 1, "jmqx_cluster_suback_timeouts_total")
	for name, v := range map[string]float64{
		"jmqx_cluster_retained_repairs_total": 4, "jmqx_cluster_session_claims_total": 5,
		"jmqx_cluster_session_claim_timeouts_total": 6, "jmqx_cluster_sessions_moved_total": 7,
		"jmqx_cluster_session_claims_slowed_total": 8, "jmqx_cluster_lost_node_wills_published_total": 9,
	} {
		f.want(t, v, name)
	}
	if _, ok := f["go_goroutines"]; !ok {
		t.Error("the Go runtime collector is missing")
	}

	for name, fam := range f {
		if !strings.HasPrefix(name, "jmqx_") {
			continue
		}
		for _, m := range fam.GetMetric() {
			if !hasLabels(m, []string{"node", "n1"}) {
				t.Errorf("%s %v has no node label", name, m.GetLabel())
			}
		}
	}
}

// TestCollectorRaftLeaderAndNoDataPlane: the leader's last contact is 0,
// a node that never heard from a leader has none, and a node without a
// data plane has no gossip or link series.
func TestCollectorRaftLeaderAndNoDataPlane(t *testing.T) {
	tenants := &fakeTenants{}
	raft := &fakeRaft{meta.RaftStats{State: "leader", Term: 1}}
	src := metricSources{node: "n1", tenants: tenants, raft: raft, reconcileFailures: func() int64 { return 0 }}
	h, err := newMetricsHandler(src, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	f, _ := scrapeHandler(t, h)
	f.want(t, 1, "jmqx_raft_role", "role", "leader")
	f.want(t, 0, "jmqx_raft_last_contact_seconds")
	for _, name := range []string{"jmqx_gossip_members", "jmqx_cluster_link_up", "jmqx_cluster_link_errors_total"} {
		if _, ok := f[name]; ok {
			t.Errorf("%s without a data plane", name)
		}
	}

	raft.st = meta.RaftStats{State: "candidate", Term: 2}
	f, _ = scrapeHandler(t, h)
	f.want(t, 1, "jmqx_raft_role", "role", "candidate")
	f.absent(t, "jmqx_raft_last_contact_seconds")
}

// thousandTenants runs a Host with n tenants (no listeners: in-process
// brokers), each with one message published, and returns metric sources
// over it whose data plane gives each tenant two peers, as in a
// three-node cluster.
func thousandTenants(t testing.TB, n int) metricSources {
	h, err := tenant.NewHost(tenant.HostConfig{BindHost: "127.0.0.1"}, tenant.WithLogger(zap.NewNop()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(t.Context()) })
	dp := &fakeDataPlane{tenants: map[string]cluster.TenantStats{}}
	off := tenant.Listeners{MQTT: tenant.PortOff, WS: tenant.PortOff}
	for i := range n {
		name := fmt.Sprintf("tenant-%04d", i)
		if _, err := h.Apply(tenant.Spec{Name: name, Listeners: off}); err != nil {
			t.Fatal(err)
		}
		b, _ := h.Broker(name)
		if err := b.Publish("hello", []byte("world"), broker.PublishOptions{}); err != nil {
			t.Fatal(err)
		}
		dp.tenants[name] = cluster.TenantStats{LocalRoutes: 3, Peers: map[string]cluster.PeerStats{
			"n2": {ForwardedOut: int64(i), Routes: 2}, "n3": {ForwardedIn: int64(i), Routes: 1}}}
	}
	dp.members = []cluster.Member{{Name: "n1", Gossip: "alive"}, {Name: "n2", Gossip: "alive", Link: "up"},
		{Name: "n3", Gossip: "alive", Link: "up"}}
	dp.links = []cluster.LinkStats{{Peer: "n2", State: "up", RTT: time.Millisecond}, {Peer: "n3", State: "up", RTT: time.Millisecond}}
	return metricSources{node: "n1", tenants: h, raft: &fakeRaft{meta.RaftStats{State: "leader"}}, dataPlane: dp,
		reconcileFailures: func() int64 { return 0 }}
}

// TestScrapeThousandTenants: one scrape of a node with 1,000 tenants
// takes well under a second (ten with the race detector); it reports its
// size and time.
func TestScrapeThousandTenants(t *testing.T) {
	const n = 1000
	src := thousandTenants(t, n)
	h, err := newMetricsHandler(src, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	bound := time.Second
	if raceEnabled {
		bound *= 10
	}
	scrapeHandler(t, h) // warm up
	serve := func(gzip bool) (*httptest.ResponseRecorder, time.Duration) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if gzip {
			req.Header.Set("Accept-Encoding", "gzip") // as Prometheus asks
		}
		start := time.Now()
		h.ServeHTTP(rec, req)
		took := time.Since(start)
		if rec.Code != http.StatusOK || took > bound {
			t.Errorf("GET /metrics (gzip %v): %d in %s, want 200 well under %s", gzip, rec.Code, took, bound)
		}
		return rec, took
	}
	plain, plainTook := serve(false)
	zipped, zippedTook := serve(true)
	f := parseScrape(t, plain.Body.String())
	series := 0
	for _, fam := range f {
		series += len(fam.GetMetric())
	}
	t.Logf("one scrape of %d tenants (2 peers each): %d series; %d bytes in %s, gzipped %d bytes in %s (race detector %v)",
		n, series, plain.Body.Len(), plainTook, zipped.Body.Len(), zippedTook, raceEnabled)
	if got := len(f["jmqx_tenant_messages_received_total"].GetMetric()); got != n {
		t.Errorf("%d tenants' received counters, want %d", got, n)
	}
	for _, m := range f["jmqx_tenant_messages_received_total"].GetMetric() {
		if m.GetCounter().GetValue() != 1 {
			t.Errorf("a tenant's received counter is %v, want 1 (one message each)", m.GetCounter().GetValue())
			break
		}
	}
	names := make([]string, 0, n)
	for _, m := range f["jmqx_tenant_up"].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "tenant" {
				names = append(names, lp.GetValue())
			}
		}
	}
	sort.Strings(names)
	if len(names) != n || names[0] != "tenant-0000" || names[n-1] != fmt.Sprintf("tenant-%04d", n-1) {
		t.Errorf("jmqx_tenant_up covers %d tenants (%v…), want %d", len(names), names[:min(3, len(names))], n)
	}
}

// BenchmarkScrapeThousandTenants times one scrape (collect and encode) of
// a node with 1,000 tenants:
//
//	go test -run '^$' -bench ScrapeThousandTenants -benchmem ./node/
func BenchmarkScrapeThousandTenants(b *testing.B) {
	src := thousandTenants(b, 1000)
	h, err := newMetricsHandler(src, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	size := 0
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/scrape")
}
