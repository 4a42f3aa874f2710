package tenant

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"
)

// credCache remembers verified (user, hash, password) triples so that a
// client reconnecting with the same credential skips the password hash's
// cost. Entries are HMAC-SHA256 digests under a random key made for each
// compiled access, so the cache holds no password and starts empty on
// every Spec change; only successful verifications are added. At most
// credCacheSize entries are kept; when full, an arbitrary one is dropped.
type credCache struct {
	key []byte
	mu  sync.Mutex
	set map[[sha256.Size]byte]struct{}
	mac sync.Pool // of hash.Hash keyed with key
}

const credCacheSize = 4096

func (c *credCache) init() error {
	c.key = make([]byte, 32)
	if _, err := rand.Read(c.key); err != nil {
		return fmt.Errorf("credential cache key: %w", err)
	}
	c.set = make(map[[sha256.Size]byte]struct{})
	c.mac.New = func() any { return hmac.New(sha256.New, c.key) }
	return nil
}

// digest is the HMAC of the length-prefixed user, hash and password.
func (c *credCache) digest(user, hashText string, password []byte) [sha256.Size]byte {
	m := c.mac.Get().(hash.Hash)
	m.Reset()
	var n [8]byte
	for _, part := range [][]byte{[]byte(user), []byte(hashText), password} {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		m.Write(n[:])
		m.Write(part)
	}
	var d [sha256.Size]byte
	m.Sum(d[:0])
	c.mac.Put(m)
	return d
}

func (c *credCache) has(user, hashText string, password []byte) bool {
	d := c.digest(user, hashText, password)
	c.mu.Lock()
	_, ok := c.set[d]
	c.mu.Unlock()
	return ok
}

func (c *credCache) add(user, hashText string, password []byte) {
	d := c.digest(user, hashText, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.set) >= credCacheSize {
		for k := range c.set {
			delete(c.set, k)
			break
		}
	}
	c.set[d] = struct{}{}
}
