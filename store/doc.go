// Package store keeps a tenant's persistent MQTT sessions and retained
// messages on disk: Bolt implements broker.Store on a bbolt database, one
// file per tenant (the node keeps them under its data folder).
//
// # File layout
//
// The file is a bbolt database, readable and writable by its owner only
// (mode 0600, in a directory Open creates with mode 0700), with three
// buckets:
//
//   - "meta": "version", the format version (currently 1); "sessions" and
//     "retained", how many records the other two buckets hold; "alive",
//     the Time of the last batch written (Unix nanoseconds). Each value is
//     8 bytes, big-endian.
//   - "sessions": one broker.StoredSession (its MarshalBinary form) per
//     client id.
//   - "retained": one broker.StoredRetained per topic.
//
// A record's key is its client id or topic itself; an empty one, or one
// longer than bbolt allows (32 KiB), is stored under a zero byte followed
// by its SHA-256 (MQTT strings never contain a zero byte, so the two kinds
// of keys cannot meet).
//
// # Durability
//
// Each Write is one bbolt transaction: it returns once the batch is on
// disk (bbolt writes, then fsyncs, the data pages and then the meta page),
// so after a crash the file holds the batches whose Write returned, and
// possibly the one in progress, never part of one. One writer at a time:
// the file is locked while open (Open fails after a second if another
// process holds it).
//
// # Damage
//
// A file that is not a bbolt database, or not this package's, or whose
// records do not decode (or whose buckets hold a different number of them
// than "meta" counts) fails Open or Load with an error naming the file and
// what is wrong, the bucket and key of a bad record: it is never read as
// an empty store, and bbolt's panics on a damaged file come back as errors.
package store
