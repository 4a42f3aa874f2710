package store

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmqx/jmqx/broker"
	bolt "go.etcd.io/bbolt"
)

// filledStore writes a store of n sessions and n retained messages (several
// pages each) at a new path and returns the path, closed.
func filledStore(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "acme.db")
	s := openT(t, path)
	b := &broker.StoreBatch{Time: saved}
	for i := range n {
		b.Sessions = append(b.Sessions, sampleSession(fmt.Sprintf("dev-%04d", i)))
		b.Retained = append(b.Retained, sampleRetained(fmt.Sprintf("t/%04d", i)))
	}
	writeT(t, s, b)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// openLoad opens and loads path, returning the first error.
func openLoad(path string) error {
	s, err := Open(path)
	if err != nil {
		return err
	}
	defer s.Close()
	_, err = s.Load()
	return err
}

// pagesOfType returns the ids of the in-use pages of path of a bbolt page
// type ("leaf", "branch").
func pagesOfType(t *testing.T, path, typ string) (ids []int, pageSize int) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for id := 2; ; id++ {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				return err
			}
			if info.Type == typ {
				ids = append(ids, id)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids, db.Info().PageSize
}

// overwrite writes data at offset off of path.
func overwrite(t *testing.T, path string, off int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// A damaged file fails Open or Load with an error naming it, never a panic
// nor an empty store.
func TestDamagedFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"random bytes", func(t *testing.T, path string) {
			if err := os.WriteFile(path, randomBytes(1, 64<<10), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"shorter than a page", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("not a database"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"both meta pages zeroed", func(t *testing.T, path string) {
			_, ps := pagesOfType(t, path, "leaf")
			overwrite(t, path, 0, make([]byte, 2*ps))
		}},
		{"truncated to half", func(t *testing.T, path string) {
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, info.Size()/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated to a quarter", func(t *testing.T, path string) {
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, info.Size()/4); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, typ := range []string{"leaf", "branch"} {
		for _, fill := range []string{"random", "zero", "0xff"} {
			for _, part := range []string{"page", "page body"} {
				for _, which := range []string{"first", "middle", "last"} {
					tests = append(tests, struct {
						name   string
						damage func(t *testing.T, path string)
					}{fmt.Sprintf("%s %s %s overwritten with %s bytes", which, typ, part, fill), func(t *testing.T, path string) {
						ids, ps := pagesOfType(t, path, typ)
						if len(ids) == 0 {
							t.Fatalf("no %s page", typ)
						}
						id := map[string]int{"first": ids[0], "middle": ids[len(ids)/2], "last": ids[len(ids)-1]}[which]
						data := map[string][]byte{"random": randomBytes(uint64(id), ps), "zero": make([]byte, ps),
							"0xff": []byte(strings.Repeat("\xff", ps))}[fill]
						off := int64(id * ps)
						if part == "page body" { // past the page header (id, type, count)
							off, data = off+16, data[16:]
						}
						overwrite(t, path, off, data)
					}})
				}
			}
		}
	}
	// A branch page whose first child is itself: bbolt would descend it
	// without end.
	tests = append(tests, struct {
		name   string
		damage func(t *testing.T, path string)
	}{"branch page pointing to itself", func(t *testing.T, path string) {
		ids, ps := pagesOfType(t, path, "branch")
		if len(ids) == 0 {
			t.Fatal("no branch page")
		}
		overwrite(t, path, int64(ids[0]*ps+16+8), binary.NativeEndian.AppendUint64(nil, uint64(ids[0])))
	}})
	// A free list naming a page in use: the next write would overwrite it.
	tests = append(tests, struct {
		name   string
		damage func(t *testing.T, path string)
	}{"free list naming a page in use", func(t *testing.T, path string) {
		free, ps := pagesOfType(t, path, "freelist")
		leaves, _ := pagesOfType(t, path, "leaf")
		if len(free) != 1 || len(leaves) == 0 {
			t.Fatalf("free list pages %v, leaves %v", free, leaves)
		}
		overwrite(t, path, int64(free[0]*ps+10), binary.NativeEndian.AppendUint16(nil, 1))
		overwrite(t, path, int64(free[0]*ps+16), binary.NativeEndian.AppendUint64(nil, uint64(leaves[0])))
	}})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filledStore(t, 300)
			tt.damage(t, path)
			err := openLoad(path)
			if err == nil || !strings.HasPrefix(err.Error(), "store: "+path+": ") {
				t.Fatalf("got %v, want an error naming %s", err, path)
			}
			t.Log(err)
			// The failed open let the file go.
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := lockFile(f, 0); err != nil {
				t.Fatalf("file still locked: %v", err)
			}
		})
	}
}

// An existing empty file is initialised as a new store.
func TestEmptyFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "t.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := openT(t, path).Load(); err != nil || len(c.Sessions)+len(c.Retained) != 0 {
		t.Fatalf("%+v, %v", c, err)
	}
}

// rawUpdate changes the bbolt file at path behind the store's back.
func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// Open refuses a bbolt file of something else and a newer format.
func TestOpenRefusesForeignOrNewer(t *testing.T) {
	t.Parallel()
	foreign := filepath.Join(t.TempDir(), "raft.db")
	rawUpdate(t, foreign, func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("logs"))
		return err
	})
	if _, err := Open(foreign); err == nil || !strings.Contains(err.Error(), foreign+": open: not a jmqx store") {
		t.Fatalf("foreign bbolt file: %v", err)
	}

	path := filledStore(t, 1)
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyVersion, binary.BigEndian.AppendUint64(nil, formatVersion+1))
	})
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), path+": open: format version 2 is newer") {
		t.Fatalf("newer format: %v", err)
	}
}

// A record that does not decode, or not to its key, or a bucket holding
// another number of records than counted, fails Load naming the file, the
// bucket and the key.
func TestLoadRefusesBadRecords(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", 100)
	rec := sampleSession("dev-0000")
	goodSession, _ := rec.MarshalBinary()
	tests := []struct {
		name   string
		change func(tx *bolt.Tx) error
		want   string
	}{
		{"garbage session", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketSessions).Put([]byte("dev-0001"), []byte{1, 2, 3})
		}, `load: bucket "sessions", key "dev-0001": broker: malformed stored record`},
		{"garbage retained", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketRetained).Put([]byte("t/0002"), []byte("junk"))
		}, `load: bucket "retained", key "t/0002": broker: malformed stored record`},
		{"long key", func(tx *bolt.Tx) error {
			if err := tx.Bucket(bucketSessions).Put([]byte(long), []byte{}); err != nil {
				return err
			}
			return putUint(tx.Bucket(bucketMeta), bucketSessions, 4)
		}, fmt.Sprintf(`load: bucket "sessions", key "%s...(100 bytes)": broker: malformed stored record`, long[:64])},
		{"session under another key", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketSessions).Put([]byte("dev-0001"), goodSession)
		}, `load: bucket "sessions", key "dev-0001": the record is for "dev-0000"`},
		{"session missing", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketSessions).Delete([]byte("dev-0001"))
		}, `load: bucket "sessions" holds 2 records, the meta bucket counts 3`},
		{"bad alive", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyAlive, []byte{1})
		}, `load: bucket "meta", key "alive": 1 bytes, want 8`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filledStore(t, 3)
			rawUpdate(t, path, tt.change)
			err := openLoad(path)
			if want := "store: " + path + ": " + tt.want; err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("got %v\nwant %s", err, want)
			}
		})
	}
}
