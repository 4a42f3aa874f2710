package store

import (
	"bytes"
	"encoding"
	"fmt"
	"time"

	"github.com/jmqx/jmqx/broker"
	bolt "go.etcd.io/bbolt"
)

// Load returns every session and retained message stored, each kind in
// key order, and the time of the last batch written. A record that does
// not decode, or not to the key it is stored under, fails Load with an
// error naming the file, the bucket and the key.
func (s *Bolt) Load() (*broker.StoreContents, error) {
	out := new(broker.StoreContents)
	err := guard(func() error { return s.db.View(func(tx *bolt.Tx) error { return load(tx, out) }) })
	if err != nil {
		return nil, fmt.Errorf("store: %s: load: %w", s.path, err)
	}
	return out, nil
}

// load reads tx's records into out.
func load(tx *bolt.Tx, out *broker.StoreContents) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return fmt.Errorf("bucket %q missing", bucketMeta)
	}
	alive, err := getUint(meta, keyAlive)
	if err != nil {
		return err
	}
	if alive != 0 {
		out.Alive = time.Unix(0, int64(alive))
	}
	out.Sessions, err = loadBucket(tx, bucketSessions, func(r *broker.StoredSession) string { return r.State.ClientID })
	if err != nil {
		return err
	}
	out.Retained, err = loadBucket(tx, bucketRetained, func(r *broker.StoredRetained) string { return r.Message.Topic })
	return err
}

// record is a stored record type: *broker.StoredSession or
// *broker.StoredRetained.
type record[T any] interface {
	*T
	encoding.BinaryUnmarshaler
}

// loadBucket decodes every record of the named bucket, checking that each
// is stored under the key of its name (a client id or a topic), and that
// the bucket holds as many as the meta bucket counts.
func loadBucket[T any, P record[T]](tx *bolt.Tx, name []byte, nameOf func(P) string) ([]T, error) {
	b := tx.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("bucket %q missing", name)
	}
	want, err := getUint(tx.Bucket(bucketMeta), name)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, min(want, 1<<16)) // want may be damaged
	err = b.ForEach(func(k, v []byte) error {
		var r T
		if err := P(&r).UnmarshalBinary(v); err != nil {
			return fmt.Errorf("bucket %q, key %q: %w", name, trimKey(k), err)
		}
		if id := nameOf(&r); !bytes.Equal(k, recordKey(id)) {
			return fmt.Errorf("bucket %q, key %q: the record is for %q", name, trimKey(k), trimKey([]byte(id)))
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if uint64(len(out)) != want {
		return nil, fmt.Errorf("bucket %q holds %d records, the meta bucket counts %d", name, len(out), want)
	}
	return out, nil
}
