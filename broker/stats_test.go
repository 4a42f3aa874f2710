package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/jmqx/jmqx/internal/testwait"
)

// TestStatsCountHeldMessages: Stats reports the retained bytes and the
// messages sessions hold, queued and in flight, as they change.
func TestStatsCountHeldMessages(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SysInterval = -1 // $SYS's retained messages would count too
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown(t.Context())

	if err := b.Publish("status/a", []byte("12345"), PublishOptions{Retain: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish("status/b", []byte("123"), PublishOptions{Retain: true}); err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.Retained != 2 || st.RetainedBytes != 8 {
		t.Fatalf("retained %d (%d bytes), want 2 (8 bytes)", st.Retained, st.RetainedBytes)
	}
	if err := b.Publish("status/a", nil, PublishOptions{Retain: true}); err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.Retained != 1 || st.RetainedBytes != 3 {
		t.Fatalf("after a clear: retained %d (%d bytes), want 1 (3 bytes)", st.Retained, st.RetainedBytes)
	}

	// An offline persistent session holds what it is sent.
	s := newSession(b, "offline")
	s.expiry = 3600
	b.mu.Lock()
	b.sessions[s.id] = s
	b.mu.Unlock()
	b.subscribeTrie("q/#", s, subOpts{qos: 1})
	s.mu.Lock()
	s.subs["q/#"] = subOpts{qos: 1}
	s.mu.Unlock()
	for range 5 {
		if err := b.Publish("q/x", []byte("m"), PublishOptions{QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	testwait.Until(t, 5*time.Second, func() error {
		if n := b.Stats().Queued; n != 5 {
			return fmt.Errorf("queued %d, want 5", n)
		}
		return nil
	})
	if st := b.Stats(); st.Inflight != 0 {
		t.Fatalf("inflight %d, want 0 for an offline session", st.Inflight)
	}
}
