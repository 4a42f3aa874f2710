package meta

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/hashicorp/raft"
	"github.com/jmqx/jmqx/tenant"
)

// Snapshot layout, persisted: a header, records, then an end record.
//
//	header: [4-byte big-endian length][JSON snapshotHeader]
//	record: [type byte][4-byte big-endian length][JSON]
//
// Record types, like command types, are never renumbered; a record type
// with FlagIgnorable (0x80) set is skipped by a reader that does not know
// it.
const (
	// snapshotFormat is the header's format; Restore refuses others.
	snapshotFormat = 1
	// maxRecord bounds one record (and the header), so that a corrupt
	// length cannot make Restore allocate without limit.
	maxRecord = 64 << 20
)

// recordType identifies a snapshot record. Persisted; never renumber.
type recordType uint8

const (
	recEnd     recordType = 0 // no payload; the snapshot ends here
	recTenant  recordType = 1 // tenant.Spec, at revision Index; read, no longer written
	recMember  recordType = 2 // Member
	recBound   recordType = 3 // boundRecord
	recTenant2 recordType = 4 // tenantRecord: a spec and its revision
)

// snapshotHeader opens a snapshot.
type snapshotHeader struct {
	Format int    `json:"format"`
	Index  uint64 `json:"index"`
}

// tenantRecord is one tenant with its revision.
type tenantRecord struct {
	Revision uint64      `json:"revision"`
	Spec     tenant.Spec `json:"spec"`
}

// boundRecord is one node's addresses for one tenant.
type boundRecord struct {
	Tenant    string            `json:"tenant"`
	Node      string            `json:"node"`
	Listeners map[string]string `json:"listeners"`
}

// fsmSnapshot is a point-in-time State to persist.
type fsmSnapshot struct {
	state *State
}

// Snapshot returns the current state for Raft to persist. It only takes
// the pointer to the immutable current state; the encoding happens in
// Persist, concurrently with further Apply calls.
// When the FSM has stopped it refuses (with Err), so that Raft keeps the
// log entries it did not apply.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	if err := f.Err(); err != nil {
		return nil, err
	}
	return &fsmSnapshot{state: f.state.Load()}, nil
}

// Persist writes the snapshot to sink and closes it, or cancels it on
// error.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeSnapshot(sink, s.state); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("meta: persist snapshot: %w", err)
	}
	return sink.Close()
}

// Release does nothing: the state is garbage collected.
func (s *fsmSnapshot) Release() {}

// writeSnapshot encodes st to w: header, tenants by name, members by ID,
// bound addresses by tenant then node, end record.
func writeSnapshot(w io.Writer, st *State) error {
	bw := bufio.NewWriter(w)
	head, err := json.Marshal(snapshotHeader{Format: snapshotFormat, Index: st.Index})
	if err != nil {
		return err
	}
	bw.Write(binary.BigEndian.AppendUint32(nil, uint32(len(head))))
	bw.Write(head)
	for _, name := range slices.Sorted(maps.Keys(st.Tenants)) {
		rec := tenantRecord{Revision: st.Revisions[name], Spec: st.Tenants[name]}
		if err := writeRecord(bw, recTenant2, rec); err != nil {
			return fmt.Errorf("tenant %q: %w", name, err)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(st.Members)) {
		if err := writeRecord(bw, recMember, st.Members[id]); err != nil {
			return fmt.Errorf("member %q: %w", id, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(st.Bound)) {
		nodes := st.Bound[name]
		for _, node := range slices.Sorted(maps.Keys(nodes)) {
			rec := boundRecord{Tenant: name, Node: node, Listeners: nodes[node]}
			if err := writeRecord(bw, recBound, rec); err != nil {
				return fmt.Errorf("bound %q/%q: %w", name, node, err)
			}
		}
	}
	bw.WriteByte(byte(recEnd))
	bw.Write([]byte{0, 0, 0, 0})
	return bw.Flush() // bufio keeps the first write error
}

// writeRecord writes one record of type t holding v as JSON.
func writeRecord(w *bufio.Writer, t recordType, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.WriteByte(byte(t))
	w.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
	_, err = w.Write(b)
	return err
}

// Restore replaces the state with the snapshot read from rc, which it
// closes. It builds the new state completely before swapping it in, so a
// snapshot that fails to decode leaves the state unchanged; then it signals
// the watchers once. A snapshot a newer jmqx wrote (a newer format, an
// unknown record type without FlagIgnorable, an unknown field) stops the
// FSM, as an entry would (see StoppedError); a stopped FSM refuses to
// restore. It never panics on bad input.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.Err(); err != nil {
		return err
	}
	st, err := readSnapshot(bufio.NewReader(rc))
	if errors.Is(err, ErrNewerVersion) {
		var index uint64
		if st != nil {
			index = st.Index
		}
		return f.stop(&StoppedError{Index: index, Err: fmt.Errorf("restore snapshot: %w", err)})
	}
	if err != nil {
		return fmt.Errorf("meta: restore snapshot: %w", err)
	}
	f.mu.Lock()
	f.state.Store(st)
	f.mu.Unlock()
	f.notify()
	return nil
}

// readSnapshot decodes a snapshot written by writeSnapshot. On an error
// after the header it also returns the state read so far (for its Index).
func readSnapshot(r *bufio.Reader) (*State, error) {
	headBytes, err := readBlock(r)
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	var head snapshotHeader
	if err := strictUnmarshal(headBytes, &head); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	switch {
	case head.Format > snapshotFormat:
		return nil, fmt.Errorf("header: format %d, this node knows up to %d: %w", head.Format, snapshotFormat, ErrNewerVersion)
	case head.Format != snapshotFormat:
		return nil, fmt.Errorf("header: format %d, want %d", head.Format, snapshotFormat)
	}
	st := emptyState()
	st.Index = head.Index
	for n := 0; ; n++ {
		tb, err := r.ReadByte()
		if err != nil {
			return st, fmt.Errorf("record %d: %w", n, noEOF(err))
		}
		t := recordType(tb)
		data, err := readBlock(r)
		if err != nil {
			return st, fmt.Errorf("record %d: %w", n, err)
		}
		if t == recEnd {
			return st, nil
		}
		if err := st.restoreRecord(t, data); err != nil {
			return st, fmt.Errorf("record %d (type %d): %w", n, t, err)
		}
	}
}

// restoreRecord adds one decoded record to st, which is still private to
// readSnapshot.
func (st *State) restoreRecord(t recordType, data []byte) error {
	switch t {
	case recTenant, recTenant2:
		rec := tenantRecord{Revision: st.Index} // a version-1 record's revision
		var err error
		if t == recTenant {
			err = strictUnmarshal(data, &rec.Spec)
		} else {
			err = strictUnmarshal(data, &rec)
		}
		if err != nil {
			return err
		}
		spec := rec.Spec
		if spec.Name == "" {
			return errors.New("tenant without a name")
		}
		if _, dup := st.Tenants[spec.Name]; dup {
			return fmt.Errorf("tenant %q twice", spec.Name)
		}
		st.Tenants[spec.Name] = spec
		st.Revisions[spec.Name] = rec.Revision
	case recMember:
		var m Member
		if err := strictUnmarshal(data, &m); err != nil {
			return err
		}
		if m.ID == "" {
			return errors.New("member without an ID")
		}
		if _, dup := st.Members[m.ID]; dup {
			return fmt.Errorf("member %q twice", m.ID)
		}
		st.Members[m.ID] = m
	case recBound:
		var b boundRecord
		if err := strictUnmarshal(data, &b); err != nil {
			return err
		}
		if b.Tenant == "" || b.Node == "" {
			return errors.New("bound addresses without a tenant or node")
		}
		if len(b.Listeners) == 0 {
			return nil
		}
		nodes := st.Bound[b.Tenant]
		if nodes == nil {
			nodes = map[string]map[string]string{}
			st.Bound[b.Tenant] = nodes
		}
		if _, dup := nodes[b.Node]; dup {
			return fmt.Errorf("bound %q/%q twice", b.Tenant, b.Node)
		}
		nodes[b.Node] = b.Listeners
	default:
		if recordType(FlagIgnorable)&t == 0 {
			return fmt.Errorf("unknown record type: %w", ErrNewerVersion)
		}
	}
	return nil
}

// readBlock reads a 4-byte big-endian length and that many bytes.
func readBlock(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, noEOF(err)
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxRecord {
		return nil, fmt.Errorf("length %d exceeds %d", size, maxRecord)
	}
	var buf bytes.Buffer
	if _, err := io.CopyN(&buf, r, int64(size)); err != nil {
		return nil, noEOF(err)
	}
	return buf.Bytes(), nil
}

// noEOF turns io.EOF into io.ErrUnexpectedEOF: a snapshot ends only with
// its end record.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
