package broker

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/jmqx/jmqx/internal/packet"
)

// rawClient is a test MQTT client that encodes nothing per message, so
// allocation counts measure the broker.
type rawClient struct {
	conn net.Conn
}

func dialRaw(tb testing.TB, addr string, id string, version byte) *rawClient {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	cp := packet.Connect{Version: version, CleanStart: true, ClientID: id, KeepAlive: 0}
	if _, err := conn.Write(cp.AppendTo(nil, version)); err != nil {
		tb.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := packet.ReadPacket(conn, version, 1<<20)
	if err != nil {
		tb.Fatal(err)
	}
	if ack, ok := p.(*packet.Connack); !ok || ack.ReasonCode != 0 {
		tb.Fatalf("CONNACK: %#v", p)
	}
	_ = conn.SetReadDeadline(time.Time{})
	return &rawClient{conn: conn}
}

func (r *rawClient) subscribe(tb testing.TB, filter string, qos byte, version byte) {
	tb.Helper()
	s := packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}}
	if _, err := r.conn.Write(s.AppendTo(nil, version)); err != nil {
		tb.Fatal(err)
	}
	_ = r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := packet.ReadPacket(r.conn, version, 1<<20); err != nil {
		tb.Fatal(err)
	}
	_ = r.conn.SetReadDeadline(time.Time{})
}

// startBench starts a broker on loopback for allocation tests.
func startBench(tb testing.TB) (*Broker, string) {
	tb.Helper()
	b, err := New(Config{SysInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go b.Serve(l)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Shutdown(ctx)
	})
	return b, l.Addr().String()
}

// fanoutRig publishes pre-encoded QoS 0 PUBLISH packets and waits until
// each of n subscribers has read its copy.
type fanoutRig struct {
	b     *Broker
	pub   *rawClient
	frame []byte
	got   chan struct{}
}

func newFanoutRig(tb testing.TB, subs int, version byte) *fanoutRig {
	b, addr := startBench(tb)
	rig := &fanoutRig{b: b, got: make(chan struct{}, 1024)}
	p := packet.Publish{Topic: "bench/topic", Payload: make([]byte, 64)}
	rig.frame = p.AppendTo(nil, version)
	for i := 0; i < subs; i++ {
		s := dialRaw(tb, addr, "sub-"+strconv.Itoa(i), version)
		s.subscribe(tb, "bench/+", 0, version)
		go func() {
			buf := make([]byte, 64<<10)
			pending := 0
			for {
				n, err := s.conn.Read(buf)
				if err != nil {
					return
				}
				pending += n
				for pending >= len(rig.frame) {
					pending -= len(rig.frame)
					rig.got <- struct{}{}
				}
			}
		}()
	}
	rig.pub = dialRaw(tb, addr, "pub", version)
	return rig
}

func (r *fanoutRig) publishOne(tb testing.TB, subs int) {
	if _, err := r.pub.conn.Write(r.frame); err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < subs; i++ {
		<-r.got
	}
}

// TestPublishPathAllocs guards the steady-state PUBLISH path: routing a
// QoS 0 message to subscribers allocates nothing per message.
func TestPublishPathAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("uses sockets; the race detector allocates")
	}
	for _, v := range []byte{packet.V311, packet.V5} {
		rig := newFanoutRig(t, 3, v)
		for i := 0; i < 200; i++ { // warm up pools and caches
			rig.publishOne(t, 3)
		}
		allocs := testing.AllocsPerRun(500, func() { rig.publishOne(t, 3) })
		// The test's own reader goroutines allocate nothing per message;
		// allow a fraction for runtime noise (timers, pool refills after GC).
		if allocs > 0.5 {
			t.Errorf("version %d: %.2f allocations per published message, want 0", v, allocs)
		}
	}
}

// BenchmarkFanout measures one QoS 0 PUBLISH delivered to 10 subscribers
// over loopback TCP.
func BenchmarkFanout(b *testing.B) {
	const subs = 10
	rig := newFanoutRig(b, subs, packet.V311)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rig.publishOne(b, subs)
	}
}
