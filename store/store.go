package store

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/jmqx/jmqx/broker"
	bolt "go.etcd.io/bbolt"
)

// formatVersion is the version of the file layout Open writes and reads.
const formatVersion = 1

// lockTimeout is how long Open waits for a file locked by another process.
const lockTimeout = time.Second

// errLocked reports a file another process keeps locked.
var errLocked = errors.New("locked")

// Bucket names and the keys of the meta bucket.
var (
	bucketMeta     = []byte("meta")
	bucketSessions = []byte("sessions")
	bucketRetained = []byte("retained")

	// The meta bucket's keys, besides the record counts (keyed by their
	// buckets' names).
	keyVersion = []byte("version")
	keyAlive   = []byte("alive")
)

// Bolt is a broker.Store in a bbolt file. Load and Write may not be called
// concurrently (the broker calls them from one goroutine).
type Bolt struct {
	db   *bolt.DB
	path string
}

var _ broker.Store = (*Bolt)(nil)

// Open opens the store file at path, creating it (mode 0600) and its
// directory (mode 0700; an existing one is left as it is) if missing. An
// existing file that group or others may access is made 0600. Open fails,
// with an error naming the file, if it is open elsewhere (after waiting a
// second), if it is not a bbolt database or a damaged one, if it is a bbolt
// database of something else, or if its format version is newer than this
// package's.
func Open(path string) (*Bolt, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fileError(path, "create directory", err)
	}
	if err := restrictMode(path); err != nil {
		return nil, err
	}
	var file *os.File // bbolt's, to release it if bbolt panics
	opts := &bolt.Options{
		Timeout: lockTimeout,
		// Lock and check the file before bbolt reads it.
		OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, mode)
			if err != nil {
				return nil, err
			}
			if err := lockFile(f, lockTimeout); err != nil {
				_ = f.Close()
				return nil, err
			}
			if err := guard(func() error { return checkFile(f) }); err != nil {
				_ = f.Close()
				return nil, err
			}
			file = f
			return f, nil
		},
	}
	var db *bolt.DB
	err := guard(func() (err error) {
		db, err = bolt.Open(path, 0o600, opts)
		return err
	})
	if err != nil && file != nil {
		// bbolt panicked holding the file (else it closed it already).
		_ = file.Close()
	}
	switch {
	case errors.Is(err, errLocked) || errors.Is(err, bolt.ErrTimeout):
		return nil, fmt.Errorf("store: %s: locked by another process (waited %v)", path, lockTimeout)
	case errors.Is(err, errNotBolt) || errors.Is(err, errDamaged):
		return nil, fmt.Errorf("store: %s: %w", path, err)
	case errors.Is(err, bolt.ErrInvalid) || errors.Is(err, bolt.ErrChecksum) || errors.Is(err, bolt.ErrVersionMismatch):
		return nil, fmt.Errorf("store: %s: not a bbolt database, or a damaged one: %w", path, err)
	case err != nil:
		return nil, fileError(path, "open", err)
	}
	s := &Bolt{db: db, path: path}
	if err := guard(s.prepare); err != nil {
		_ = guard(db.Close)
		return nil, fileError(path, "open", err)
	}
	return s, nil
}

// restrictMode makes an existing file at path mode 0600 if group or others
// may access it.
func restrictMode(path string) error {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fileError(path, "stat", err)
	case !info.Mode().IsRegular():
		return fmt.Errorf("store: %s: not a regular file", path)
	case info.Mode().Perm()&0o077 != 0:
		if err := os.Chmod(path, 0o600); err != nil {
			return fileError(path, "restrict to mode 0600", err)
		}
	}
	return nil
}

// prepare checks the format version and buckets of an existing store, or
// creates the buckets of a new (empty) database.
func (s *Bolt) prepare() error {
	empty := false
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) != nil {
			return check(tx)
		}
		empty = true
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			return fmt.Errorf("not a jmqx store: it has a bucket %q and no %q", trimKey(name), bucketMeta)
		})
	})
	if err != nil || !empty {
		return err
	}
	return s.db.Update(initialise)
}

// check checks the format version and buckets of a store.
func check(tx *bolt.Tx) error {
	v, err := getUint(tx.Bucket(bucketMeta), keyVersion)
	switch {
	case err != nil:
		return err
	case v > formatVersion:
		return fmt.Errorf("format version %d is newer than this jmqx reads (%d)", v, formatVersion)
	case v != formatVersion:
		return fmt.Errorf("unknown format version %d", v)
	}
	for _, name := range [][]byte{bucketSessions, bucketRetained} {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("bucket %q missing", name)
		}
	}
	return nil
}

// initialise lays out a new store in tx.
func initialise(tx *bolt.Tx) error {
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return err
	}
	for _, name := range [][]byte{bucketSessions, bucketRetained} {
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	return meta.Put(keyVersion, binary.BigEndian.AppendUint64(nil, formatVersion))
}

// Path returns the file's path.
func (s *Bolt) Path() string { return s.path }

// Close closes the file.
func (s *Bolt) Close() error {
	if err := guard(s.db.Close); err != nil {
		return fileError(s.path, "close", err)
	}
	return nil
}

// Remove deletes the store file at path (a deleted tenant's); a missing
// file is not an error. The store must be closed first.
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fileError(path, "remove", err)
	}
	return nil
}

// guard runs fn, turning a panic into an error: bbolt panics on some
// damaged files, and reading a page past the end of a truncated file
// faults (SetPanicOnFault makes that a panic too).
func guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errDamaged, r)
		}
	}()
	return fn()
}

// fileError wraps err as "store: {path}: {op}: {err}", without the path
// that an *fs.PathError repeats.
func fileError(path, op string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("store: %s: %s: %w", path, op, err)
}

// recordKey is the key of the record with the given client id or topic:
// the name itself, or a zero byte and its SHA-256 if it is empty or too
// long for a bbolt key.
func recordKey(name string) []byte {
	if name != "" && len(name) <= bolt.MaxKeySize {
		return []byte(name)
	}
	sum := sha256.Sum256([]byte(name))
	return append([]byte{0}, sum[:]...)
}

// maxShownKey is how much of a key an error shows.
const maxShownKey = 64

// trimKey returns key, cut to maxShownKey bytes with a mark if longer, for
// an error message (to be quoted with %q).
func trimKey(key []byte) string {
	if len(key) > maxShownKey {
		return fmt.Sprintf("%s...(%d bytes)", key[:maxShownKey], len(key))
	}
	return string(key)
}

// getUint reads an 8-byte value of the meta bucket; missing is 0.
func getUint(meta *bolt.Bucket, key []byte) (uint64, error) {
	v := meta.Get(key)
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(v), nil
	}
	return 0, fmt.Errorf("bucket %q, key %q: %d bytes, want 8", bucketMeta, key, len(v))
}

// putUint writes an 8-byte value of the meta bucket.
func putUint(meta *bolt.Bucket, key []byte, v uint64) error {
	return meta.Put(key, binary.BigEndian.AppendUint64(nil, v))
}
