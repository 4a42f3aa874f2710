package tenant

import (
	"fmt"
	"slices"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
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
// call uses the access current when it starts. Its password verifications
// take a slot of checks (the Host's, shared by all its tenants; nil: no
// limit); refusals for want of one are logged to log.
type guard struct {
	cur    atomic.Pointer[access]
	checks *checkLimiter
	log    *zap.Logger
}

var (
	_ broker.Authenticator = (*guard)(nil)
	_ broker.Authorizer    = (*guard)(nil)
)

// newGuard returns a guard enforcing a, with no limit on concurrent
// password checks and no logging; the Host sets checks and log before the
// guard is used.
func newGuard(a *access) *guard {
	g := &guard{log: zap.NewNop()}
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
// req.Tag is set to the Credential that matched. Unless the credential is
// cached, it takes a password hash's time (tens of milliseconds) in one of
// the Host's password check slots; when none frees up within
// PasswordCheckWait it refuses with packet.ServerBusy and logs the refusal.
func (g *guard) Authenticate(req *broker.AuthRequest) packet.ReasonCode {
	a := g.cur.Load()
	if a == nil {
		return packet.NotAuthorized
	}
	rc := a.authenticate(req, g.checks)
	if rc == packet.ServerBusy {
		g.log.Info("connection refused: server busy: no password check slot free in time",
			zap.String("user", req.Username), zap.String("client_id", req.ClientID),
			zap.Int("max_concurrent_password_checks", g.checks.limit()), zap.Duration("waited", g.checks.wait))
	}
	return rc
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

// authenticate checks req against a. A password is checked first against
// the credential cache, then by verifying the user's hashes in one slot of
// checks; it returns packet.ServerBusy when no slot frees up in time.
func (a *access) authenticate(req *broker.AuthRequest, checks *checkLimiter) packet.ReasonCode {
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
	if !checks.acquire() {
		return packet.ServerBusy
	}
	defer checks.release()
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
