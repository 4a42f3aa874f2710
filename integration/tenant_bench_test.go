package integration

// Benchmarks of the multi-tenant Host. Each runs its whole scenario once
// per invocation and reports its figures with b.ReportMetric; run them one
// at a time, once:
//
//	go test -run '^$' -bench NoisyNeighbour -benchtime 1x ./integration/
//	go test -run '^$' -bench TenantScale -benchtime 1x ./integration/
//
// Knobs (environment): JMQX_BENCH_TENANTS (TenantScale's tenant count,
// default 1000; use e.g. 200 with -race), JMQX_BENCH_SAMPLES (latency
// samples per NoisyNeighbour phase, default 2000), JMQX_BENCH_FLOODERS
// (flooding publishers in tenant A, default 4).

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"go.uber.org/zap"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
	"github.com/jmqx/jmqx/tenant"
)

// benchEnvInt returns the environment variable name as a positive
// integer, or def.
func benchEnvInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// benchHost runs a Host on 127.0.0.1 with a silent logger. The caller
// closes it (benchCloseHost) so that it can time the close.
func benchHost(b *testing.B, cfg tenant.HostConfig) *tenant.Host {
	b.Helper()
	cfg.BindHost, cfg.AdvertiseHost = "127.0.0.1", "127.0.0.1"
	h, err := tenant.NewHost(cfg, tenant.WithLogger(zap.NewNop()))
	if err != nil {
		b.Fatalf("NewHost: %v", err)
	}
	return h
}

// benchCloseHost closes h and returns how long it took.
func benchCloseHost(b *testing.B, h *tenant.Host) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := h.Close(ctx); err != nil {
		b.Errorf("Host.Close: %v", err)
	}
	return time.Since(start)
}

func benchApply(b *testing.B, h *tenant.Host, spec tenant.Spec) tenant.Status {
	b.Helper()
	st, err := h.Apply(spec)
	if err != nil {
		b.Fatalf("Apply %s: %v", spec.Name, err)
	}
	return st
}

// benchV5 is a paho.golang MQTT 5 client for the benchmarks (the harness
// clients are bound to *testing.T).
type benchV5 struct {
	*paho.Client
}

// benchDialV5 connects an MQTT 5 client to addr; onMsg, if not nil,
// receives every PUBLISH (on paho's goroutine).
func benchDialV5(tb testing.TB, addr, clientID string, onMsg func(*paho.Publish)) *benchV5 {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	cfg := paho.ClientConfig{Conn: conn, PacketTimeout: waitFor}
	if onMsg != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			onMsg(pr.Packet)
			return true, nil
		}}
	}
	c := &benchV5{Client: paho.NewClient(cfg)}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if ca, err := c.Connect(ctx, &paho.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: true}); err != nil {
		_ = conn.Close()
		<-c.Done()
		tb.Fatalf("connect %q to %s: %v (connack %+v)", clientID, addr, err, ca)
	}
	return c
}

func (c *benchV5) sub(tb testing.TB, filter string, qos byte) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if err != nil {
		tb.Fatalf("subscribe %s: %v", filter, err)
	}
	if sa.Reasons[0] > 2 {
		tb.Fatalf("subscribe %s: reason %#02x", filter, sa.Reasons[0])
	}
}

// close disconnects and waits for the client's goroutines to end.
func (c *benchV5) close() {
	select {
	case <-c.Done():
	default:
		_ = c.Disconnect(&paho.Disconnect{})
	}
	<-c.Done()
}

// flooder is a raw TCP MQTT 5 client that writes QoS 0 PUBLISH packets as
// fast as the connection takes them.
type flooder struct {
	conn net.Conn
	sent atomic.Int64 // packets written
	wg   sync.WaitGroup
}

func startFlooder(tb testing.TB, addr, clientID, topic string, payload []byte) *flooder {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	cp := packet.Connect{Version: packet.V5, ClientID: clientID, CleanStart: true}
	if _, err := conn.Write(cp.AppendTo(nil, packet.V5)); err != nil {
		tb.Fatalf("flooder %s: write CONNECT: %v", clientID, err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	p, err := packet.ReadPacket(conn, packet.V5, 0)
	if err != nil {
		_ = conn.Close()
		tb.Fatalf("flooder %s: read CONNACK: %v", clientID, err)
	}
	if ca, ok := p.(*packet.Connack); !ok || ca.ReasonCode != packet.Success {
		_ = conn.Close()
		tb.Fatalf("flooder %s: got %s, want CONNACK success", clientID, describe(p))
	}
	_ = conn.SetReadDeadline(time.Time{})
	const batch = 64
	var buf []byte
	for range batch {
		buf = (&packet.Publish{Topic: topic, Payload: payload}).AppendTo(buf, packet.V5)
	}
	f := &flooder{conn: conn}
	f.wg.Add(2)
	go func() { // nothing is expected back for QoS 0; drain whatever comes
		defer f.wg.Done()
		_, _ = io.Copy(io.Discard, conn)
	}()
	go func() {
		defer f.wg.Done()
		for {
			if _, err := conn.Write(buf); err != nil {
				return // closed by stop, or by the broker
			}
			f.sent.Add(batch)
		}
	}()
	return f
}

// stop closes the connection and waits for the flooder's goroutines.
func (f *flooder) stop() {
	_ = f.conn.Close()
	f.wg.Wait()
}

// rawSubscriber is a raw TCP MQTT 5 subscriber that reads in 64 KiB
// chunks and counts the PUBLISH packets.
type rawSubscriber struct {
	conn net.Conn
	got  atomic.Int64
	done chan struct{}
}

func startRawSubscriber(tb testing.TB, addr, clientID, filter string) *rawSubscriber {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	cp := packet.Connect{Version: packet.V5, ClientID: clientID, CleanStart: true}
	sp := packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter}}}
	if _, err := conn.Write(sp.AppendTo(cp.AppendTo(nil, packet.V5), packet.V5)); err != nil {
		tb.Fatalf("subscriber %s: %v", clientID, err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	for _, want := range []packet.Type{packet.CONNACK, packet.SUBACK} {
		p, err := packet.ReadPacket(conn, packet.V5, 0)
		if err != nil || p.PacketType() != want {
			_ = conn.Close()
			tb.Fatalf("subscriber %s: got %v, %v; want packet type %d", clientID, p, err, want)
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	s := &rawSubscriber{conn: conn, done: make(chan struct{})}
	go s.read()
	return s
}

// read counts PUBLISH packets, parsing fixed headers across chunks.
func (s *rawSubscriber) read() {
	defer close(s.done)
	buf := make([]byte, 64<<10)
	var pending []byte
	for {
		n, err := s.conn.Read(buf)
		if err != nil {
			return
		}
		pending = append(pending, buf[:n]...)
		i := 0
		for {
			h, hl, err := packet.ParseFixedHeader(pending[i:])
			if err != nil || len(pending)-i < hl+h.Remaining {
				break
			}
			if h.Type == packet.PUBLISH {
				s.got.Add(1)
			}
			i += hl + h.Remaining
		}
		pending = append(pending[:0], pending[i:]...)
	}
}

func (s *rawSubscriber) close() {
	_ = s.conn.Close()
	<-s.done
}

// latencyProbe measures publish-to-deliver latency in one tenant: one
// publisher, one subscriber, the send time in the payload.
type latencyProbe struct {
	pub, sub *benchV5
	base     time.Time // payload times are monotonic offsets from base
	mu       sync.Mutex
	lat      []time.Duration
	phase    atomic.Uint32 // payloads of another phase are ignored
}

func newLatencyProbe(tb testing.TB, addr string) *latencyProbe {
	tb.Helper()
	p := &latencyProbe{base: time.Now()}
	p.sub = benchDialV5(tb, addr, "lat-sub", func(m *paho.Publish) {
		now := time.Since(p.base)
		if len(m.Payload) < 12 || binary.BigEndian.Uint32(m.Payload[8:]) != p.phase.Load() {
			return
		}
		sent := time.Duration(binary.BigEndian.Uint64(m.Payload))
		p.mu.Lock()
		p.lat = append(p.lat, now-sent)
		p.mu.Unlock()
	})
	p.sub.sub(tb, "lat/b", 1)
	p.pub = benchDialV5(tb, addr, "lat-pub", nil)
	return p
}

// run publishes n QoS 0 messages, one every interval (open loop: a late
// send is not made up for by waiting less for the next), waits for them to
// arrive and returns the sorted latencies and how many were lost.
func (p *latencyProbe) run(tb testing.TB, phase uint32, n int, interval time.Duration) (lat []time.Duration, lost int) {
	tb.Helper()
	p.mu.Lock()
	p.lat = p.lat[:0]
	p.mu.Unlock()
	p.phase.Store(phase)
	payload := make([]byte, 64)
	binary.BigEndian.PutUint32(payload[8:], phase)
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		binary.BigEndian.PutUint64(payload, uint64(time.Since(p.base)))
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		_, err := p.pub.Publish(ctx, &paho.Publish{Topic: "lat/b", QoS: 0, Payload: payload})
		cancel()
		if err != nil {
			tb.Fatalf("latency publish %d: %v", i, err)
		}
	}
	deadline := time.Now().Add(waitFor)
	for {
		p.mu.Lock()
		got := len(p.lat)
		p.mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.mu.Lock()
	lat = slices.Clone(p.lat)
	p.mu.Unlock()
	slices.Sort(lat)
	return lat, n - len(lat)
}

func (p *latencyProbe) close() {
	p.pub.close()
	p.sub.close()
}

// percentile returns the q-th percentile (0-100) of sorted.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * q / 100)
	return sorted[i]
}

// readMem collects garbage, fills m and returns the goroutine count.
func readMem(m *runtime.MemStats) int {
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(m)
	return runtime.NumGoroutine()
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// BenchmarkNoisyNeighbour measures how much a tenant flooded beyond its
// message rate limit slows another tenant of the same Host down: tenant
// B's publish-to-deliver latency alone, then while tenant A's publishers
// send QoS 0 as fast as they can against A's max_messages_per_second.
//
//	go test -run '^$' -bench NoisyNeighbour -benchtime 1x ./integration/
func BenchmarkNoisyNeighbour(b *testing.B) {
	const (
		rateA    = 20000 // tenant A's max_messages_per_second
		interval = 500 * time.Microsecond
		warmup   = 500 * time.Millisecond // lets A's one-second burst drain
		rounds   = 4
	)
	samples := benchEnvInt("JMQX_BENCH_SAMPLES", 2000)
	flooders := benchEnvInt("JMQX_BENCH_FLOODERS", 4)

	for range b.N {
		h := benchHost(b, tenant.HostConfig{Broker: tenant.BrokerSettings{SysInterval: -1}})
		specA := basicSpec("a")
		specA.Limits.MaxMessagesPerSecond = rateA
		benchApply(b, h, specA)
		benchApply(b, h, basicSpec("b"))
		addrA := mustBenchStatus(b, h, "a").Listeners["mqtt"]
		addrB := mustBenchStatus(b, h, "b").Listeners["mqtt"]

		probe := newLatencyProbe(b, addrB)
		probe.run(b, 1, samples/10, interval) // warm-up, not measured

		// A's subscriber reads in large chunks, as an efficient client
		// does, so that it is the broker being measured, not paho's
		// one-syscall-per-packet reads in the same process.
		subA := startRawSubscriber(b, addrA, "flood-sub", "flood/#")
		gotA := &subA.got
		payload := make([]byte, 64)

		// Rounds alternate B alone and B while A is flooded, so that the
		// machine's drift weighs on both phases alike; samples are pooled.
		var alone, flooded []time.Duration
		var lostAlone, lostFlooded int
		var before, after broker.Stats
		var gotBefore, gotAfter, sent int64
		var elapsed time.Duration
		phase := uint32(2)
		for round := range rounds {
			lat, lost := probe.run(b, phase, samples/rounds, interval)
			phase++
			alone, lostAlone = append(alone, lat...), lostAlone+lost

			fl := make([]*flooder, flooders)
			for i := range fl {
				fl[i] = startFlooder(b, addrA, "flood-"+strconv.Itoa(round)+"-"+strconv.Itoa(i), "flood/"+strconv.Itoa(i), payload)
			}
			time.Sleep(warmup)
			st0, got0 := mustBenchStatus(b, h, "a").Stats, gotA.Load()
			t0 := time.Now()
			lat, lost = probe.run(b, phase, samples/rounds, interval)
			phase++
			elapsed += time.Since(t0)
			st1, got1 := mustBenchStatus(b, h, "a").Stats, gotA.Load()
			flooded, lostFlooded = append(flooded, lat...), lostFlooded+lost
			for _, f := range fl {
				f.stop()
				sent += f.sent.Load()
			}
			gotBefore, gotAfter = gotBefore+got0, gotAfter+got1
			after.MessagesReceived += st1.MessagesReceived - st0.MessagesReceived
			if after.Refusals == nil {
				after.Refusals = map[packet.ReasonCode]int64{}
			}
			after.Refusals[packet.QuotaExceeded] += st1.Refusals[packet.QuotaExceeded] - st0.Refusals[packet.QuotaExceeded]
			after.MessagesDropped += st1.MessagesDropped - st0.MessagesDropped
		}
		slices.Sort(alone)
		slices.Sort(flooded)
		subA.close()
		probe.close()
		closeTime := benchCloseHost(b, h)

		received := after.MessagesReceived - before.MessagesReceived
		refused := after.Refusals[packet.QuotaExceeded] - before.Refusals[packet.QuotaExceeded]
		secs := elapsed.Seconds()
		p50a, p99a := percentile(alone, 50), percentile(alone, 99)
		p50f, p99f := percentile(flooded, 50), percentile(flooded, 99)
		b.ReportMetric(micros(p50a), "p50-alone-µs")
		b.ReportMetric(micros(p99a), "p99-alone-µs")
		b.ReportMetric(micros(p50f), "p50-flooded-µs")
		b.ReportMetric(micros(p99f), "p99-flooded-µs")
		if p99a > 0 {
			b.ReportMetric(float64(p99f)/float64(p99a), "p99-ratio")
		}
		b.ReportMetric(float64(received)/secs, "A-offered-msg/s")
		b.ReportMetric(float64(received-refused)/secs, "A-accepted-msg/s")
		b.ReportMetric(float64(gotAfter-gotBefore)/secs, "A-delivered-msg/s")
		b.ReportMetric(float64(lostAlone+lostFlooded), "B-lost")
		b.Logf("B latency alone: p50 %s p99 %s max %s (%d samples, %d lost)", p50a, p99a, percentile(alone, 100), len(alone), lostAlone)
		b.Logf("B latency flooded: p50 %s p99 %s max %s (%d samples, %d lost)", p50f, p99f, percentile(flooded, 100), len(flooded), lostFlooded)
		b.Logf("A over %s: %d PUBLISH received (%.0f/s), %d refused 0x97, %.0f/s accepted (limit %d/s), %.0f/s delivered to A's subscriber; flooders wrote %d packets in all; A's drops %d; Host closed in %s",
			elapsed.Round(time.Millisecond), received, float64(received)/secs, refused, float64(received-refused)/secs, rateA,
			float64(gotAfter-gotBefore)/secs, sent, after.MessagesDropped, closeTime)
	}
}

func mustBenchStatus(b *testing.B, h *tenant.Host, name string) tenant.Status {
	b.Helper()
	st, ok := h.Get(name)
	if !ok {
		b.Fatalf("tenant %s not running", name)
	}
	return st
}

// BenchmarkTenantScale creates many idle tenants (MQTT on an auto port,
// WebSocket off, anonymous, broker defaults) in one Host and reports the
// time to create them, the memory and goroutines each costs, and the time
// to close the Host. JMQX_BENCH_TENANTS sets the count (default 1000).
//
//	go test -run '^$' -bench TenantScale -benchtime 1x ./integration/
func BenchmarkTenantScale(b *testing.B) {
	n := benchEnvInt("JMQX_BENCH_TENANTS", 1000)
	const probes = 10
	for range b.N {
		h := benchHost(b, tenant.HostConfig{PortMin: 30000, PortMax: 39999})
		var m0, m1 runtime.MemStats
		g0 := readMem(&m0)

		start := time.Now()
		names := make([]string, n)
		for i := range n {
			names[i] = fmt.Sprintf("t%05d", i)
			benchApply(b, h, basicSpec(names[i]))
		}
		created := time.Since(start)

		g1 := readMem(&m1)
		perTenant := func(after, before uint64) float64 {
			return (float64(after) - float64(before)) / float64(n) / 1024
		}
		b.ReportMetric(created.Seconds(), "create-s")
		b.ReportMetric(float64(created)/float64(time.Millisecond)/float64(n), "ms/tenant")
		b.ReportMetric(perTenant(m1.HeapInuse, m0.HeapInuse), "KiB/tenant-heap")
		b.ReportMetric(perTenant(m1.Sys, m0.Sys), "KiB/tenant-sys")
		b.ReportMetric(float64(g1-g0)/float64(n), "goroutines/tenant")

		// A few random tenants serve: subscribe, publish, receive.
		rng := rand.New(rand.NewPCG(1, 2))
		for range min(probes, n) {
			name := names[rng.IntN(n)]
			addr := mustBenchStatus(b, h, name).Listeners["mqtt"]
			got := make(chan string, 1)
			c := benchDialV5(b, addr, "probe", func(m *paho.Publish) {
				select {
				case got <- string(m.Payload):
				default:
				}
			})
			c.sub(b, "ping", 1)
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			_, err := c.Publish(ctx, &paho.Publish{Topic: "ping", QoS: 1, Payload: []byte(name)})
			cancel()
			if err != nil {
				c.close()
				b.Fatalf("tenant %s: publish: %v", name, err)
			}
			select {
			case p := <-got:
				if p != name {
					b.Errorf("tenant %s: got %q", name, p)
				}
			case <-time.After(waitFor):
				b.Errorf("tenant %s: no message back", name)
			}
			c.close()
		}

		closed := benchCloseHost(b, h)
		b.ReportMetric(closed.Seconds()*1000, "close-ms")
		b.Logf("%d tenants: created in %s (%.3f ms each); heap in use +%.1f KiB, sys +%.1f KiB, goroutines +%.2f per tenant; closed in %s",
			n, created.Round(time.Millisecond), float64(created)/float64(time.Millisecond)/float64(n),
			perTenant(m1.HeapInuse, m0.HeapInuse), perTenant(m1.Sys, m0.Sys), float64(g1-g0)/float64(n), closed.Round(time.Millisecond))
	}
}
