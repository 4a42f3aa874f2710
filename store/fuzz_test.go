package store

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/jmqx/jmqx/broker"
)

// FuzzStoreDecode feeds arbitrary bytes to the decoders of the records
// read back from a store file: decoding never panics, and what decodes
// re-encodes to bytes that decode to the same value and encode the same.
func FuzzStoreDecode(f *testing.F) {
	for _, s := range []broker.StoredSession{sampleSession("dev-1"), {Saved: saved, State: broker.SessionState{ClientID: "bare"}}} {
		b, err := s.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	r := sampleRetained("a/b")
	b, err := r.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{1, 0x80})
	f.Add([]byte("\x01\x02\x00\x02\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s broker.StoredSession
		if s.UnmarshalBinary(data) == nil {
			stable(t, &s, new(broker.StoredSession))
		}
		var r broker.StoredRetained
		if r.UnmarshalBinary(data) == nil {
			stable(t, &r, new(broker.StoredRetained))
		}
	})
}

// storedRecord is *broker.StoredSession or *broker.StoredRetained.
type storedRecord interface {
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
}

// stable requires decoded, re-encoded, to decode (into fresh) and encode
// again to the same bytes.
func stable(t *testing.T, decoded, fresh storedRecord) {
	t.Helper()
	enc, err := decoded.MarshalBinary()
	if err != nil {
		t.Fatalf("re-encoding %+v: %v", decoded, err)
	}
	if err := fresh.UnmarshalBinary(enc); err != nil {
		t.Fatalf("decoding the re-encoding of %+v: %v", decoded, err)
	}
	again, err := fresh.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, again) {
		t.Fatalf("re-encodings differ:\n%x\n%x", enc, again)
	}
}

// FuzzStoreFile opens and loads arbitrary bytes as a store file: an error
// or a store, never a panic, a hang or an endless allocation.
func FuzzStoreFile(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.db")
	s, err := Open(path)
	if err != nil {
		f.Fatal(err)
	}
	err = s.Write(&broker.StoreBatch{Time: saved,
		Sessions: []broker.StoredSession{sampleSession("a"), sampleSession("b")},
		Retained: []broker.StoredRetained{sampleRetained("x")}})
	if err != nil {
		f.Fatal(err)
	}
	if err := s.Close(); err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte{})
	f.Add(seed[:len(seed)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "t.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path)
		if err != nil {
			return
		}
		defer s.Close()
		c, err := s.Load()
		if err != nil {
			return
		}
		// What loads can be written back.
		err = s.Write(&broker.StoreBatch{Time: saved, Sessions: c.Sessions, Retained: c.Retained})
		if err != nil {
			t.Fatalf("rewriting what loaded: %v", err)
		}
	})
}
