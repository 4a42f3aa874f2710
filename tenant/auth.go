package tenant

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/broker/packet"
	"github.com/jmqx/jmqx/internal/topicpattern"
)

// Credential is the ClientInfo.AuthTag of a client authenticated by a
// tenant: which credential admitted it. For a password login, User is the
// user name and Hash the entry of User.PasswordHashes that matched; for a
// client admitted by its certificate, User is the certificate's common
// name and Hash is empty; for an anonymous client both are empty.
type Credential struct {
	User string
	Hash string
}

// guard is a tenant's Authenticator and Authorizer. It holds the compiled
// access of the tenant's current Spec and is updated live with set; each
// call uses the access current when it starts.
type guard struct {
	cur atomic.Pointer[access]
}

var (
	_ broker.Authenticator = (*guard)(nil)
	_ broker.Authorizer    = (*guard)(nil)
)

// newGuard returns a guard enforcing a.
func newGuard(a *access) *guard {
	g := &guard{}
	g.set(a)
	return g
}

// set makes a the access enforced from now on. Clients already connected
// keep their connection; the Host uses access.credentialValid to find the
// ones to disconnect.
func (g *guard) set(a *access) { g.cur.Store(a) }

// Authenticate implements broker.Authenticator: a client is admitted by a
// listed certificate common name, by a user name and a password matching
// one of the user's hashes, or anonymously when allowed. On success
// req.Tag is set to the Credential that matched. It may take a password
// hash's time (tens of milliseconds) unless the credential is cached.
func (g *guard) Authenticate(req *broker.AuthRequest) packet.ReasonCode {
	a := g.cur.Load()
	if a == nil {
		return packet.NotAuthorized
	}
	return a.authenticate(req)
}

// CanPublish implements broker.Authorizer. It does not allocate unless a
// rule uses %u or %c in a level with other text.
func (g *guard) CanPublish(c *broker.ClientInfo, topic string) bool {
	a := g.cur.Load()
	return a != nil && a.allowed(c, topic, accessPublish)
}

// CanSubscribe implements broker.Authorizer. For a shared subscription
// "$share/{group}/{filter}" the rules apply to filter.
func (g *guard) CanSubscribe(c *broker.ClientInfo, filter string) bool {
	a := g.cur.Load()
	return a != nil && a.allowed(c, filter, accessSubscribe)
}

// access is a Spec's Auth and ACL compiled for checking. It is immutable
// but for its credential cache, and safe for concurrent use.
type access struct {
	anonymous bool
	users     map[string][]userHash
	cns       map[string]bool
	rules     []rule
	allowDef  bool
	cache     credCache
}

// userHash is one of a user's password hashes.
type userHash struct {
	text string
	h    hasher
}

// compileAccess compiles s, which should have passed Validate.
func compileAccess(s Spec) (*access, error) {
	a := &access{
		anonymous: s.Auth.AllowAnonymous,
		users:     make(map[string][]userHash, len(s.Auth.Users)),
		cns:       make(map[string]bool, len(s.Auth.CertificateCNs)),
		allowDef:  s.ACL.Default != Deny,
	}
	for i, u := range s.Auth.Users {
		if _, dup := a.users[u.Name]; dup || u.Name == "" {
			return nil, fmt.Errorf("tenant %q: auth.users[%d].name %q: empty or not unique", s.Name, i, u.Name)
		}
		hs := make([]userHash, 0, len(u.PasswordHashes))
		for j, text := range u.PasswordHashes {
			h, err := parseHash(text)
			if err != nil {
				return nil, fmt.Errorf("tenant %q: auth.users[%d].password_hashes[%d]: %w", s.Name, i, j, err)
			}
			hs = append(hs, userHash{text: text, h: h})
		}
		a.users[u.Name] = hs
	}
	for _, cn := range s.Auth.CertificateCNs {
		if cn != "" {
			a.cns[cn] = true
		}
	}
	for i, r := range s.ACL.Rules {
		cr, err := compileRule(r)
		if err != nil {
			return nil, fmt.Errorf("tenant %q: acl.rules[%d]: %w", s.Name, i, err)
		}
		a.rules = append(a.rules, cr)
	}
	if err := a.cache.init(); err != nil {
		return nil, fmt.Errorf("tenant %q: %w", s.Name, err)
	}
	return a, nil
}

func (a *access) authenticate(req *broker.AuthRequest) packet.ReasonCode {
	if len(req.Certificates) > 0 {
		cn := req.Certificates[0].Subject.CommonName
		// The broker puts the common name in Username with
		// CertCNAsUsername; without it, a client naming another user
		// must prove that one with a password.
		if a.cns[cn] && (req.Username == "" || req.Username == cn) {
			req.Tag = Credential{User: cn}
			return packet.Success
		}
	}
	if req.Username == "" && len(req.Password) == 0 {
		if a.anonymous {
			req.Tag = Credential{}
			return packet.Success
		}
		return packet.BadUsernameOrPassword
	}
	hashes, ok := a.users[req.Username]
	if !ok {
		return packet.BadUsernameOrPassword
	}
	for _, uh := range hashes {
		if a.cache.has(req.Username, uh.text, req.Password) {
			req.Tag = Credential{User: req.Username, Hash: uh.text}
			return packet.Success
		}
	}
	for _, uh := range hashes {
		if uh.h.verify(req.Password) {
			a.cache.add(req.Username, uh.text, req.Password)
			req.Tag = Credential{User: req.Username, Hash: uh.text}
			return packet.Success
		}
	}
	return packet.BadUsernameOrPassword
}

// credentialValid reports whether a client whose ClientInfo.AuthTag is tag
// would still be admitted with the same credential by a: its user still
// exists with that hash, its certificate's common name is still listed, or
// (anonymous) anonymous clients are still allowed. A tag that is not a
// Credential (such as the nil tag of the broker's internal client) is not
// valid; the caller should skip ClientInfo.Internal clients.
func (a *access) credentialValid(tag any) bool {
	c, ok := tag.(Credential)
	if !ok {
		return false
	}
	switch {
	case c.Hash != "":
		return slices.ContainsFunc(a.users[c.User], func(h userHash) bool { return h.text == c.Hash })
	case c.User != "":
		return a.cns[c.User]
	default:
		return a.anonymous
	}
}

// allowed applies the ACL to an action on a topic (publish) or filter
// (subscribe). The broker's internal client is always allowed.
func (a *access) allowed(c *broker.ClientInfo, topic string, act accessBits) bool {
	if c.Internal {
		return true
	}
	if act == accessSubscribe {
		if rest, ok := strings.CutPrefix(topic, "$share/"); ok {
			_, inner, found := strings.Cut(rest, "/")
			if !found || inner == "" {
				return false
			}
			topic = inner
		}
	}
	for i := range a.rules {
		r := &a.rules[i]
		if r.access&act == 0 || (r.user != "" && r.user != c.Username) {
			continue
		}
		if r.pattern.UsesUser() && !substitutable(c.Username) || r.pattern.UsesClient() && !substitutable(c.ClientID) {
			continue
		}
		var applies bool
		switch {
		case act == accessPublish:
			applies = r.pattern.Match(topic, c.Username, c.ClientID)
		case r.allow:
			applies = r.pattern.Covers(topic, c.Username, c.ClientID)
		default:
			applies = r.pattern.Overlaps(topic, c.Username, c.ClientID)
		}
		if applies {
			return r.allow
		}
	}
	return a.allowDef
}

// substitutable reports whether v may stand for %u or %c: it must be
// non-empty and hold no '/', '+' or '#', which would change the filter's
// levels or wildcards.
func substitutable(v string) bool {
	return v != "" && !strings.ContainsAny(v, "/+#")
}

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

// accessBits is what a rule covers: publishing, subscribing or both.
type accessBits uint8

const (
	accessPublish accessBits = 1 << iota
	accessSubscribe
)

// rule is a compiled Rule.
type rule struct {
	allow   bool
	access  accessBits
	user    string
	pattern topicpattern.Pattern
}

// levelKind tells how one level of a rule's topic filter matches.
func compileRule(r Rule) (rule, error) {
	if err := validRuleTopic(r.Topic); err != nil {
		return rule{}, fmt.Errorf("topic %q: %w", r.Topic, err)
	}
	cr := rule{allow: r.Action == Allow, user: r.User, pattern: topicpattern.Compile(r.Topic, true)}
	switch r.Access {
	case AccessPublish:
		cr.access = accessPublish
	case AccessSubscribe:
		cr.access = accessSubscribe
	case "", AccessAll:
		cr.access = accessPublish | accessSubscribe
	default:
		return rule{}, fmt.Errorf("access %q: must be %q, %q or %q", r.Access, AccessPublish, AccessSubscribe, AccessAll)
	}
	if r.Action != Allow && r.Action != Deny {
		return rule{}, fmt.Errorf("action %q: must be %q or %q", r.Action, Allow, Deny)
	}
	return cr, nil
}
