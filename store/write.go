package store

import (
	"encoding"
	"fmt"

	"github.com/jmqx/jmqx/broker"
	bolt "go.etcd.io/bbolt"
)

// Write applies batch in one transaction, durable when Write returns: its
// deletions, then its records (each replacing the one under its key), then
// its Time as the alive time (unless zero). An empty batch with a Time
// records just that.
func (s *Bolt) Write(batch *broker.StoreBatch) error {
	sessions, err := encodeAll(batch.Sessions, func(r *broker.StoredSession) string { return r.State.ClientID })
	if err != nil {
		return fmt.Errorf("store: %s: write: %w", s.path, err)
	}
	retained, err := encodeAll(batch.Retained, func(r *broker.StoredRetained) string { return r.Message.Topic })
	if err != nil {
		return fmt.Errorf("store: %s: write: %w", s.path, err)
	}
	err = guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if err := apply(tx, meta, bucketSessions, batch.DeleteSessions, sessions); err != nil {
				return err
			}
			if err := apply(tx, meta, bucketRetained, batch.DeleteRetained, retained); err != nil {
				return err
			}
			if batch.Time.IsZero() {
				return nil
			}
			return putUint(meta, keyAlive, uint64(batch.Time.UnixNano()))
		})
	})
	if err != nil {
		return fmt.Errorf("store: %s: write: %w", s.path, err)
	}
	return nil
}

// entry is an encoded record and its key.
type entry struct{ key, value []byte }

// encodeAll encodes records, each keyed by its name (nameOf).
func encodeAll[T any, P interface {
	*T
	encoding.BinaryMarshaler
}](records []T, nameOf func(P) string) ([]entry, error) {
	out := make([]entry, len(records))
	for i := range records {
		r := P(&records[i])
		v, err := r.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("encode %q: %w", trimKey([]byte(nameOf(r))), err)
		}
		out[i] = entry{recordKey(nameOf(r)), v}
	}
	return out, nil
}

// apply deletes the records of the named bucket with the given names, then
// puts puts, keeping the bucket's count in meta.
func apply(tx *bolt.Tx, meta *bolt.Bucket, name []byte, deletes []string, puts []entry) error {
	if len(deletes)+len(puts) == 0 {
		return nil
	}
	b := tx.Bucket(name)
	n, err := getUint(meta, name)
	if err != nil {
		return err
	}
	for _, id := range deletes {
		k := recordKey(id)
		if b.Get(k) == nil {
			continue
		}
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("bucket %q, key %q: delete: %w", name, trimKey(k), err)
		}
		n--
	}
	for _, e := range puts {
		if b.Get(e.key) == nil {
			n++
		}
		if err := b.Put(e.key, e.value); err != nil {
			return fmt.Errorf("bucket %q, key %q: put: %w", name, trimKey(e.key), err)
		}
	}
	return putUint(meta, name, n)
}
