package tenant

import (
	"crypto/tls"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// WithAuthenticator delegates authentication to the application, tenant
// by tenant: fn is called once per tenant, when it starts, with its spec
// (defaults filled in). When it returns an Authenticator, that
// Authenticator alone decides who connects to the tenant: the spec's
// Auth (users, certificate common names, allow_anonymous) is not
// consulted, a client with any user name reaches it, and whatever it sets
// as AuthRequest.Tag becomes the client's ClientInfo.AuthTag. When fn
// returns nil, the tenant authenticates by its spec's Auth as without
// this option. Only the Authenticate method of the returned value is used
// (give other hooks with WithHooks). The choice holds while the tenant
// runs; Remove it and Apply it again to have fn asked anew.
//
// Authenticators given with WithHooks are asked after the one that
// decides (the application's here, else the spec's), and must accept too.
// See the package documentation for the whole rule.
func WithAuthenticator(fn func(spec Spec) broker.Authenticator) Option {
	return func(h *Host) { h.authn = fn }
}

// WithAuthorizer delegates authorization to the application, tenant by
// tenant, as WithAuthenticator does authentication: fn is called once per
// tenant, when it starts, with its spec. When it returns an Authorizer,
// that Authorizer alone decides what the tenant's clients may publish and
// subscribe to (and, when it implements broker.ReadAuthorizer, which
// messages a subscription delivers): the spec's ACL is not consulted. When
// fn returns nil, the spec's ACL decides. Only the Authorizer (and
// ReadAuthorizer) methods of the returned value are used.
//
// Authorizers given with WithHooks must allow too.
func WithAuthorizer(fn func(spec Spec) broker.Authorizer) Option {
	return func(h *Host) { h.authz = fn }
}

// WithTLSConfig gives tenants' secure listeners (MQTTS and secure
// WebSocket) the application's TLS configuration instead of certificate
// files: fn is called with the tenant's name each time its listeners are
// bound; when it returns a configuration, its Certificates,
// GetCertificate (an ACME client's, a Vault-backed or the platform's own
// certificate store) or GetConfigForClient serve the tenant's certificate,
// and its ClientAuth and ClientCAs verify clients (see
// listeners.TLSConfig.Config); the spec's listeners.tls and the node's
// certificate are then not used for that tenant. When fn returns nil, the
// files serve as without this option. A secure listener with no port set
// is bound when either gives TLS material. Return the same *tls.Config for
// a tenant each time: a different value rebinds its secure listeners at
// the next Apply.
func WithTLSConfig(fn func(tenant string) *tls.Config) Option {
	return func(h *Host) { h.tlsConfig = fn }
}

// delegation is what a running tenant delegates to the application.
type delegation struct {
	authn bool // authentication: the spec's Auth is not used
	authz bool // authorization: the spec's ACL is not used
}

// accessHooks returns the hooks that decide a tenant's authentication and
// authorization: the application's (WithAuthenticator, WithAuthorizer)
// where it takes them, else the spec's, through g. Each is wrapped so that
// the broker sees only the methods it stands for.
func (h *Host) accessHooks(spec Spec, g *guard) ([]any, delegation) {
	var d delegation
	var authn broker.Authenticator = g
	if h.authn != nil {
		if a := h.authn(spec); a != nil {
			authn, d.authn = a, true
		}
	}
	var authz broker.Authorizer = g
	if h.authz != nil {
		if z := h.authz(spec); z != nil {
			authz, d.authz = z, true
		}
	}
	hooks := []any{authenticatorOnly{authn}}
	if r, ok := authz.(broker.ReadAuthorizer); ok {
		hooks = append(hooks, readAuthorizerOnly{authorizerOnly{authz}, r})
	} else {
		hooks = append(hooks, authorizerOnly{authz})
	}
	return hooks, d
}

// warnUnused logs the parts of spec a tenant does not use because it
// delegates them.
func (h *Host) warnUnused(spec Spec, d delegation) {
	a := spec.Auth
	if d.authn && (len(a.Users) > 0 || len(a.CertificateCNs) > 0 || a.AllowAnonymous) {
		h.log.Warn("the spec's auth is not used: the application authenticates this tenant's clients",
			zap.String("tenant", spec.Name), zap.Int("users", len(a.Users)), zap.Int("certificate_cns", len(a.CertificateCNs)),
			zap.Bool("allow_anonymous", a.AllowAnonymous))
	}
	if d.authz && len(spec.ACL.Rules) > 0 {
		h.log.Warn("the spec's acl is not used: the application authorizes this tenant's clients",
			zap.String("tenant", spec.Name), zap.Int("rules", len(spec.ACL.Rules)))
	}
}

// authenticatorOnly shows the broker an Authenticator and nothing else of
// the value it wraps.
type authenticatorOnly struct{ a broker.Authenticator }

func (w authenticatorOnly) Authenticate(req *broker.AuthRequest) packet.ReasonCode {
	return w.a.Authenticate(req)
}

// authorizerOnly shows the broker an Authorizer and nothing else of the
// value it wraps.
type authorizerOnly struct{ z broker.Authorizer }

func (w authorizerOnly) CanPublish(c *broker.ClientInfo, topic string) bool {
	return w.z.CanPublish(c, topic)
}

func (w authorizerOnly) CanSubscribe(c *broker.ClientInfo, filter string) bool {
	return w.z.CanSubscribe(c, filter)
}

// readAuthorizerOnly is authorizerOnly for an Authorizer that is also a
// ReadAuthorizer.
type readAuthorizerOnly struct {
	authorizerOnly
	r broker.ReadAuthorizer
}

func (w readAuthorizerOnly) CheckReads(c *broker.ClientInfo, filter string) bool {
	return w.r.CheckReads(c, filter)
}

func (w readAuthorizerOnly) CanRead(c *broker.ClientInfo, topic string) bool {
	return w.r.CanRead(c, topic)
}
