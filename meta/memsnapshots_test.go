package meta

import (
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"
)

// memSnapshots is an in-memory raft.SnapshotStore that keeps the latest
// snapshot. Unlike raft's InmemSnapshotStore, which lists a snapshot as
// soon as it is created and lets Open read it while it is being written
// (a data race), it publishes a snapshot only when its sink is closed.
type memSnapshots struct {
	mu     sync.Mutex
	meta   *raft.SnapshotMeta
	data   []byte
	nextID int
}

var _ raft.SnapshotStore = (*memSnapshots)(nil)

// Create returns a sink for a new snapshot.
func (m *memSnapshots) Create(version raft.SnapshotVersion, index, term uint64, conf raft.Configuration, confIndex uint64, _ raft.Transport) (raft.SnapshotSink, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextID++
	meta := &raft.SnapshotMeta{
		Version: version, ID: fmt.Sprintf("%d-%d-%d", term, index, m.nextID), Index: index, Term: term,
		Peers: encodePeers(conf), Configuration: conf, ConfigurationIndex: confIndex,
	}
	return &memSnapshotSink{store: m, meta: meta}, nil
}

// List returns the latest snapshot, if any.
func (m *memSnapshots) List() ([]*raft.SnapshotMeta, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.meta == nil {
		return nil, nil
	}
	meta := *m.meta
	return []*raft.SnapshotMeta{&meta}, nil
}

// Open reads the latest snapshot, which must be id.
func (m *memSnapshots) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.meta == nil || m.meta.ID != id {
		return nil, nil, fmt.Errorf("snapshot %s not found", id)
	}
	meta := *m.meta
	return &meta, io.NopCloser(bytes.NewReader(m.data)), nil
}

// memSnapshotSink collects a snapshot and publishes it on Close.
type memSnapshotSink struct {
	store *memSnapshots
	meta  *raft.SnapshotMeta
	buf   bytes.Buffer
}

func (s *memSnapshotSink) Write(p []byte) (int, error) { return s.buf.Write(p) }
func (s *memSnapshotSink) ID() string                  { return s.meta.ID }
func (s *memSnapshotSink) Cancel() error               { return nil }

// Close publishes the snapshot.
func (s *memSnapshotSink) Close() error {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	s.meta.Size = int64(s.buf.Len())
	s.store.meta, s.store.data = s.meta, bytes.Clone(s.buf.Bytes())
	return nil
}

// encodePeers is the legacy peer list of a snapshot's metadata.
func encodePeers(conf raft.Configuration) []byte {
	var out []byte
	for _, srv := range conf.Servers {
		out = append(out, srv.Address...)
		out = append(out, '\n')
	}
	return out
}
