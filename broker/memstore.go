package broker

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// MemoryStore is a Store in memory: it outlives the brokers given it, so
// that a test or an application can stop a broker and start another on
// the same sessions and retained messages. It keeps each record in its
// binary form, as a database would.
type MemoryStore struct {
	mu       sync.Mutex
	sessions map[string][]byte
	retained map[string][]byte
	alive    time.Time
	writes   int
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{sessions: make(map[string][]byte), retained: make(map[string][]byte)}
}

// Load returns the records written so far, sessions and retained messages
// each in key order.
func (m *MemoryStore) Load() (*StoreContents, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := &StoreContents{Alive: m.alive}
	for _, k := range slices.Sorted(maps.Keys(m.sessions)) {
		var r StoredSession
		if err := r.UnmarshalBinary(m.sessions[k]); err != nil {
			return nil, err
		}
		out.Sessions = append(out.Sessions, r)
	}
	for _, k := range slices.Sorted(maps.Keys(m.retained)) {
		var r StoredRetained
		if err := r.UnmarshalBinary(m.retained[k]); err != nil {
			return nil, err
		}
		out.Retained = append(out.Retained, r)
	}
	return out, nil
}

// Write applies batch.
func (m *MemoryStore) Write(batch *StoreBatch) error {
	enc := func(v interface{ MarshalBinary() ([]byte, error) }) []byte {
		b, _ := v.MarshalBinary() // the broker's records always encode
		return b
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range batch.DeleteSessions {
		delete(m.sessions, id)
	}
	for _, t := range batch.DeleteRetained {
		delete(m.retained, t)
	}
	for i := range batch.Sessions {
		m.sessions[batch.Sessions[i].State.ClientID] = enc(&batch.Sessions[i])
	}
	for i := range batch.Retained {
		m.retained[batch.Retained[i].Message.Topic] = enc(&batch.Retained[i])
	}
	m.alive = batch.Time
	m.writes++
	return nil
}

// Close does nothing: the records stay for the next broker.
func (m *MemoryStore) Close() error { return nil }

// Len returns how many sessions and retained messages are stored.
func (m *MemoryStore) Len() (sessions, retained int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions), len(m.retained)
}

// Writes returns how many batches were written.
func (m *MemoryStore) Writes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writes
}
