package store

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmqx/jmqx/broker"
)

// benchSession is a session of about 200 bytes encoded: two subscriptions
// and one queued message.
func benchSession(id string) broker.StoredSession {
	return broker.StoredSession{Saved: saved, State: broker.SessionState{
		ClientID: id, Expiry: 3600, NextPID: 2,
		Subscriptions: []broker.SessionSub{{Filter: "devices/" + id + "/cmd/#", QoS: 1}, {Filter: "fleet/broadcast", QoS: 1}},
		Queue: []broker.QueuedState{{QoS: 1, Message: &broker.WirePublish{Topic: "devices/" + id + "/cmd/reboot",
			Payload: []byte(strings.Repeat("p", 80)), QoS: 1}}},
	}}
}

// BenchmarkWrite writes batches of sessions (about 200 bytes each) into a
// store of 10,000: each batch is one transaction, fsynced.
func BenchmarkWrite(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			s := openT(b, filepath.Join(b.TempDir(), "bench.db"))
			fill := &broker.StoreBatch{Time: saved}
			for i := range 10_000 {
				fill.Sessions = append(fill.Sessions, benchSession(fmt.Sprintf("client-%06d", i)))
			}
			writeT(b, s, fill)
			rec, _ := fill.Sessions[0].MarshalBinary()
			b.SetBytes(int64(n * len(rec)))
			batch := &broker.StoreBatch{Time: saved, Sessions: fill.Sessions[:n]}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				batch.Sessions = fill.Sessions[(i*n)%10_000:][:n]
				writeT(b, s, batch)
			}
		})
	}
}

// BenchmarkLoad100k opens and loads a store of 100,000 sessions and
// 100,000 retained messages.
func BenchmarkLoad100k(b *testing.B) {
	path := fill100k(b, saved)
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		s, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		c, err := s.Load()
		if err != nil {
			b.Fatal(err)
		}
		if len(c.Sessions) != 100_000 || len(c.Retained) != 100_000 {
			b.Fatalf("loaded %d sessions, %d retained", len(c.Sessions), len(c.Retained))
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(info.Size())/1e6, "file-MB")
}

// fill100k writes a store of 100,000 sessions (benchSession) and 100,000
// retained messages, saved at the time given, and returns its path.
func fill100k(b *testing.B, at time.Time) string {
	path := filepath.Join(b.TempDir(), "bench.db")
	s := openT(b, path)
	for i := 0; i < 100_000; i += 10_000 {
		batch := &broker.StoreBatch{Time: at}
		for j := i; j < i+10_000; j++ {
			ss := benchSession(fmt.Sprintf("client-%06d", j))
			ss.Saved = at
			batch.Sessions = append(batch.Sessions, ss)
			batch.Retained = append(batch.Retained, broker.StoredRetained{Saved: at,
				Message: broker.WirePublish{Topic: fmt.Sprintf("devices/client-%06d/state", j), Payload: []byte(`{"online":true,"v":42}`), Retain: true}})
		}
		writeT(b, s, batch)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}
