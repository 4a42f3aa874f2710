package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Store keeps a broker's persistent sessions and retained messages across
// restarts (WithStore). Without one (the default) they live in memory only.
// Package store implements it on bbolt; an embedder can back it with its
// own database: the broker hands it whole records, keyed by client id and
// by topic, in batches.
//
// The broker calls Load once, from New, then Write from one goroutine at a
// time, then Close at the end of Shutdown.
type Store interface {
	// Load returns everything stored. An error makes New fail with it (it
	// should name what is damaged, e.g. the file).
	Load() (*StoreContents, error)
	// Write applies one batch atomically: its deletions, then its puts
	// (a put replaces the record of the same key). It returns once the
	// batch is durable; a broker in sync mode (Config.StoreSync) sends
	// the acknowledgements that waited for it only then.
	Write(batch *StoreBatch) error
	// Close releases the store.
	Close() error
}

// StoreContents is what a Store holds.
type StoreContents struct {
	Sessions []StoredSession
	Retained []StoredRetained
	// Alive is the Time of the last batch written: a session that was
	// online when it was saved lost its connection at the latest then.
	Alive time.Time
}

// StoredSession is one session as stored, keyed by State.ClientID.
type StoredSession struct {
	// Saved is when State was taken: its Expiry, and its will's Delay and
	// Expiry, count from then (from the connection's end when Online).
	Saved time.Time
	// Online says the client was connected when the state was taken.
	Online bool
	State  SessionState
}

// StoredRetained is one retained message as stored, keyed by its topic.
type StoredRetained struct {
	// Saved is when Message was taken: its Message Expiry Interval counts
	// from then.
	Saved   time.Time
	Message WirePublish
}

// StoreBatch is one Write: what changed since the previous one.
type StoreBatch struct {
	// Time is when the batch was taken (StoreContents.Alive once written).
	Time           time.Time
	DeleteSessions []string // client ids
	DeleteRetained []string // topics
	Sessions       []StoredSession
	Retained       []StoredRetained
}

// Empty reports whether the batch changes no record.
func (b *StoreBatch) Empty() bool {
	return len(b.DeleteSessions)+len(b.DeleteRetained)+len(b.Sessions)+len(b.Retained) == 0
}

// Versions of the stored records' binary forms (their first byte).
const (
	storedSessionVersion  = 1
	storedRetainedVersion = 1
)

// ErrStoredRecord reports a stored record that cannot be decoded.
var ErrStoredRecord = errors.New("broker: malformed stored record")

// MarshalBinary encodes r: a version byte, the saved time, the online flag
// and State's binary form.
func (r *StoredSession) MarshalBinary() ([]byte, error) {
	st, err := r.State.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(st)+12)
	b = binary.AppendVarint(append(b, storedSessionVersion), r.Saved.UnixNano())
	return append(append(b, flags(r.Online)), st...), nil
}

// UnmarshalBinary decodes what MarshalBinary encoded; bad input gets an
// error wrapping ErrStoredRecord.
func (r *StoredSession) UnmarshalBinary(data []byte) error {
	rest, saved, err := decodeStoredHeader(data, storedSessionVersion)
	if err != nil {
		return err
	}
	if len(rest) == 0 || rest[0] > 1 {
		return fmt.Errorf("%w: session flags", ErrStoredRecord)
	}
	*r = StoredSession{Saved: saved, Online: rest[0] == 1}
	if err := r.State.UnmarshalBinary(rest[1:]); err != nil {
		return fmt.Errorf("%w: %w", ErrStoredRecord, err)
	}
	return nil
}

// MarshalBinary encodes r: a version byte, the saved time and the message
// as an MQTT 5 PUBLISH packet.
func (r *StoredRetained) MarshalBinary() ([]byte, error) {
	b := binary.AppendVarint([]byte{storedRetainedVersion}, r.Saved.UnixNano())
	return appendWirePublish(b, &r.Message), nil
}

// UnmarshalBinary decodes what MarshalBinary encoded; bad input gets an
// error wrapping ErrStoredRecord.
func (r *StoredRetained) UnmarshalBinary(data []byte) error {
	rest, saved, err := decodeStoredHeader(data, storedRetainedVersion)
	if err != nil {
		return err
	}
	d := stateDecoder{b: rest}
	p := d.publish()
	if err := d.end(); err != nil {
		return fmt.Errorf("%w: %w", ErrStoredRecord, err)
	}
	if len(p.Payload) == 0 || !p.Retain {
		return fmt.Errorf("%w: not a retained message", ErrStoredRecord)
	}
	*r = StoredRetained{Saved: saved, Message: *p}
	return nil
}

// decodeStoredHeader reads a record's version byte and saved time.
func decodeStoredHeader(data []byte, version byte) ([]byte, time.Time, error) {
	if len(data) == 0 || data[0] != version {
		return nil, time.Time{}, fmt.Errorf("%w: not version %d", ErrStoredRecord, version)
	}
	ns, n := binary.Varint(data[1:])
	if n <= 0 {
		return nil, time.Time{}, fmt.Errorf("%w: saved time", ErrStoredRecord)
	}
	return data[1+n:], time.Unix(0, ns), nil
}
