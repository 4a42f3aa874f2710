package store

import (
	"context"
	"fmt"
	"path/filepath"
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
	path := filepath.Join(b.TempDir(), "restart.db")
	s := openT(b, path)
	now := time.Now()
	for i := 0; i < 100_000; i += 10_000 {
		batch := &broker.StoreBatch{Time: now}
		for j := i; j < i+10_000; j++ {
			ss := benchSession(fmt.Sprintf("client-%06d", j))
			ss.Saved = now
			batch.Sessions = append(batch.Sessions, ss)
			batch.Retained = append(batch.Retained, broker.StoredRetained{Saved: now,
				Message: broker.WirePublish{Topic: fmt.Sprintf("devices/client-%06d/state", j), Payload: []byte(`{"online":true,"v":42}`), Retain: true}})
		}
		writeT(b, s, batch)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
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
