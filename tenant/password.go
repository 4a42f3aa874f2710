package tenant

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Parameters of the argon2id hashes made by HashPasswordArgon2id: OWASP's
// recommended minimum (19 MiB, two passes, one lane).
const (
	argon2Memory  = 19456 // KiB
	argon2Time    = 2
	argon2Threads = 1
	argon2SaltLen = 16
	argon2KeyLen  = 32
)

// Bounds on the parameters of a password hash in a Spec: Validate refuses
// a User.PasswordHashes entry beyond them, naming the entry and the bound,
// so that a spec cannot make every login a denial of service. Together
// with HostConfig.MaxConcurrentPasswordChecks they bound the memory that
// password checks can take on a node.
const (
	// MaxBcryptCost is the highest bcrypt cost accepted: about 4 s per
	// check (bcrypt.DefaultCost, 10, takes about 60 ms). A bcrypt check
	// takes 4 KiB whatever its cost.
	MaxBcryptCost = 16
	// MaxArgon2Memory is the highest argon2id memory parameter m accepted,
	// in KiB (64 MiB): the memory one argon2id check takes.
	MaxArgon2Memory = 64 << 10
	// MaxArgon2Time is the highest argon2id number of passes t accepted.
	MaxArgon2Time = 16
	// MaxArgon2Threads is the highest argon2id parallelism p accepted.
	MaxArgon2Threads = 16
)

// Further bounds on argon2id hashes, and their PHC string's fixed parts.
const (
	minArgon2KeyLen   = 16
	maxArgon2KeyLen   = 64
	minArgon2SaltLen  = 8
	maxArgon2SaltLen  = 64
	argon2idPrefix    = "$argon2id$"
	argon2VersionPart = "v=19"
)

// HashPassword returns the bcrypt hash of password at bcrypt.DefaultCost,
// for User.PasswordHashes. The password is at most 72 bytes.
func HashPassword(password []byte) (string, error) {
	h, err := bcrypt.GenerateFromPassword(password, bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("tenant: hashing password: %w", err)
	}
	return string(h), nil
}

// HashPasswordArgon2id returns the argon2id hash of password as a PHC
// string, "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>" with a random
// 16-byte salt and a 32-byte key (unpadded standard base64), for
// User.PasswordHashes.
func HashPasswordArgon2id(password []byte) (string, error) {
	salt := make([]byte, argon2SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("tenant: hashing password: salt: %w", err)
	}
	h := argon2Hash{memory: argon2Memory, time: argon2Time, threads: argon2Threads, salt: salt}
	h.key = h.derive(password, argon2KeyLen)
	return h.String(), nil
}

// hasher is one parsed password hash.
type hasher interface {
	// verify reports, in time independent of where they differ, whether
	// password matches the hash.
	verify(password []byte) bool
}

// parseHash recognizes a bcrypt hash ("$2a$", "$2b$", "$2y$", cost up to
// MaxBcryptCost) or an argon2id PHC string with bounded parameters.
func parseHash(s string) (hasher, error) {
	switch {
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		if len(s) != 60 {
			return nil, fmt.Errorf("bcrypt hash: %d bytes, want 60", len(s))
		}
		cost, err := bcrypt.Cost([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("bcrypt hash: %w", err)
		}
		if cost > MaxBcryptCost {
			return nil, fmt.Errorf("bcrypt hash: cost %d: must be at most %d", cost, MaxBcryptCost)
		}
		return bcryptHash(s), nil
	case strings.HasPrefix(s, argon2idPrefix):
		h, err := parseArgon2id(s)
		if err != nil {
			return nil, fmt.Errorf("argon2id hash: %w", err)
		}
		return h, nil
	default:
		return nil, errors.New("not a bcrypt ($2a$, $2b$, $2y$) or argon2id ($argon2id$) hash")
	}
}

// verify reports whether password matches hash, which is parsed first (a
// malformed hash matches nothing). It takes the time the hash asks for.
func verify(hash string, password []byte) bool {
	h, err := parseHash(hash)
	if err != nil {
		return false
	}
	return h.verify(password)
}

// bcryptHash is a validated bcrypt hash.
type bcryptHash string

func (h bcryptHash) verify(password []byte) bool {
	return bcrypt.CompareHashAndPassword([]byte(h), password) == nil
}

// argon2Hash is a parsed argon2id hash (version 19).
type argon2Hash struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

func (h argon2Hash) derive(password []byte, keyLen int) []byte {
	return argon2.IDKey(password, h.salt, h.time, h.memory, h.threads, uint32(keyLen))
}

func (h argon2Hash) verify(password []byte) bool {
	return subtle.ConstantTimeCompare(h.derive(password, len(h.key)), h.key) == 1
}

// String returns the PHC string form of h.
func (h argon2Hash) String() string {
	enc := base64.RawStdEncoding
	return fmt.Sprintf("%s%s$m=%d,t=%d,p=%d$%s$%s", argon2idPrefix, argon2VersionPart,
		h.memory, h.time, h.threads, enc.EncodeToString(h.salt), enc.EncodeToString(h.key))
}

// parseArgon2id parses "$argon2id$v=19$m=M,t=T,p=P$salt$key".
func parseArgon2id(s string) (argon2Hash, error) {
	var h argon2Hash
	parts := strings.Split(strings.TrimPrefix(s, argon2idPrefix), "$")
	if len(parts) != 4 {
		return h, errors.New(`want "$argon2id$v=19$m=…,t=…,p=…$salt$hash"`)
	}
	if parts[0] != argon2VersionPart {
		return h, fmt.Errorf("version %q: must be %q", parts[0], argon2VersionPart)
	}
	params := strings.Split(parts[1], ",")
	if len(params) != 3 {
		return h, fmt.Errorf("parameters %q: want m=…,t=…,p=…", parts[1])
	}
	m, err := argon2Param(params[0], "m", MaxArgon2Memory, " KiB (64 MiB)")
	if err != nil {
		return h, err
	}
	t, err := argon2Param(params[1], "t", MaxArgon2Time, "")
	if err != nil {
		return h, err
	}
	p, err := argon2Param(params[2], "p", MaxArgon2Threads, "")
	if err != nil {
		return h, err
	}
	h.memory, h.time, h.threads = uint32(m), uint32(t), uint8(p)
	enc := base64.RawStdEncoding.Strict()
	if h.salt, err = enc.DecodeString(parts[2]); err != nil {
		return h, fmt.Errorf("salt: %w", err)
	}
	if n := len(h.salt); n < minArgon2SaltLen || n > maxArgon2SaltLen {
		return h, fmt.Errorf("salt: %d bytes: must be %d..%d", n, minArgon2SaltLen, maxArgon2SaltLen)
	}
	if h.key, err = enc.DecodeString(parts[3]); err != nil {
		return h, fmt.Errorf("hash: %w", err)
	}
	if n := len(h.key); n < minArgon2KeyLen || n > maxArgon2KeyLen {
		return h, fmt.Errorf("hash: %d bytes: must be %d..%d", n, minArgon2KeyLen, maxArgon2KeyLen)
	}
	return h, nil
}

// argon2Param parses "name=N" with N in 1..max, in canonical decimal; an
// error gives the bound followed by unit.
func argon2Param(s, name string, max int, unit string) (int, error) {
	v, ok := strings.CutPrefix(s, name+"=")
	if !ok {
		return 0, fmt.Errorf("parameter %q: want %s=…", s, name)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max || strconv.Itoa(n) != v {
		return 0, fmt.Errorf("parameter %s=%s: must be 1..%d%s", name, v, max, unit)
	}
	return n, nil
}
