package integration

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/testwait"
	"github.com/jmqx/jmqx/store"
)

// BenchmarkStoreModes measures QoS 1 pairs (a publisher and a persistent
// subscriber, online, per topic; 64-byte payloads) on a broker in memory,
// with a bbolt store in the default mode, and in sync mode, where each
// PUBACK waits for the fsync that the waiting publishers share.
//
//	go test -run '^$' -bench StoreModes -benchtime 20000x ./integration/
func BenchmarkStoreModes(b *testing.B) {
	const pairs = 50
	for _, mode := range []string{"memory", "default", "sync"} {
		b.Run(mode, func(b *testing.B) {
			var opts []broker.Option
			cfg := broker.Config{StoreSync: mode == "sync"}
			if mode != "memory" {
				st, err := store.Open(filepath.Join(b.TempDir(), "bench.db"))
				if err != nil {
					b.Fatal(err)
				}
				opts = append(opts, broker.WithStore(st))
			}
			n := startBroker(b, cfg, opts...)
			var got atomic.Int64
			for i := range pairs {
				sub := benchClient(b, n, fmt.Sprintf("sub%d", i), func(paho.PublishReceived) { got.Add(1) })
				ctx, cancel := context.WithTimeout(context.Background(), waitFor)
				if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: fmt.Sprintf("pair/%d", i), QoS: 1}}}); err != nil {
					b.Fatal(err)
				}
				cancel()
			}
			pubs := make([]*paho.Client, pairs)
			for i := range pubs {
				pubs[i] = benchClient(b, n, fmt.Sprintf("pub%d", i), nil)
			}
			payload := make([]byte, 64)
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i, p := range pubs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					topic := fmt.Sprintf("pair/%d", i)
					for k := i; k < b.N; k += pairs {
						ctx, cancel := context.WithTimeout(context.Background(), waitFor)
						_, err := p.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload})
						cancel()
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			testwait.Until(b, waitFor, func() error {
				if g := got.Load(); g < int64(b.N) {
					return fmt.Errorf("%d of %d messages delivered", g, b.N)
				}
				return nil
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
			st := n.b.Stats()
			b.ReportMetric(float64(st.StoreWrites), "writes")
		})
	}
}

// benchClient connects a v5 client with a persistent session (expiry 1 h)
// whose messages go to onMsg.
func benchClient(tb testing.TB, n *node, id string, onMsg func(paho.PublishReceived)) *paho.Client {
	tb.Helper()
	conn, err := net.Dial("tcp", n.addr)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := paho.ClientConfig{Conn: conn, PacketTimeout: waitFor}
	if onMsg != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			onMsg(pr)
			return true, nil
		}}
	}
	c := paho.NewClient(cfg)
	expiry := uint32(3600)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry, ReceiveMaximum: ptr(uint16(100))}}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{})
		<-c.Done()
	})
	return c
}
