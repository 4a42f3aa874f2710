package store

import (
	"context"
	"testing"
	"time"

	"github.com/jmqx/jmqx/broker"
)

// BenchmarkRestart100k measures a restart of a broker whose store holds
// 100,000 offline sessions (two subscriptions and one queued message
// each) and 100,000 retained messages: Open, Load (in broker.New) and
// Restore, until the broker could accept its first client.
//
//	go test -run '^$' -bench Restart100k -benchtime 3x ./store/
func BenchmarkRestart100k(b *testing.B) {
	path := fill100k(b, time.Now())
	b.ResetTimer()
	for b.Loop() {
		st, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		br, err := broker.New(broker.Config{SysInterval: -1}, broker.WithStore(st))
		if err != nil {
			b.Fatal(err)
		}
		if err := br.Restore(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if got := br.Stats(); got.Sessions != 100_000 || got.Retained != 100_000 || got.Queued != 100_000 {
			b.Fatalf("restored %d sessions, %d retained, %d queued", got.Sessions, got.Retained, got.Queued)
		}
		if err := br.Shutdown(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
