package tenant

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
	"github.com/jmqx/jmqx/store"
)

// Host runs one broker per tenant, each with its own listeners, and
// applies spec changes to running tenants live. Its methods are safe for
// concurrent use; changes are applied one at a time.
type Host struct {
	cfg   HostConfig
	log   *zap.Logger
	hooks func(Spec) []any
	// authn and authz choose the tenants whose authentication and
	// authorization the application does (WithAuthenticator,
	// WithAuthorizer); nil: none.
	authn func(Spec) broker.Authenticator
	authz func(Spec) broker.Authorizer
	// tlsConfig gives a tenant's secure listeners the application's TLS
	// configuration (WithTLSConfig).
	tlsConfig func(tenant string) *tls.Config
	hints     func(tenant string, listener ListenerKind) int
	// peering is the cluster the brokers are attached to; nil: none.
	peering Peering
	// budget is the node's memory budget (cfg.MemoryBudget), charged by
	// every tenant's broker.
	budget *broker.Budget
	// checks bounds the password verifications of all tenants at once.
	checks *checkLimiter

	mu      sync.Mutex // serializes changes; guards the fields below
	tenants map[string]*running
	// specs are the tenants the Host is asked to serve, running or not
	// (with defaults, when valid): Apply adds one, Reconcile sets them all,
	// Remove drops one. Their fixed ports are owned (see owners).
	specs map[string]Spec
	// owners maps every fixed port of specs to the tenant that owns it
	// (see setOwners); no other tenant's listener takes it.
	owners map[int]string
	// shared is the last warning logged for each port several specs
	// configure, so that it is logged once.
	shared map[int]string
	// failed holds the tenants of specs that the last Apply or Reconcile
	// could not serve, or could serve only in part.
	failed map[string]*failure
	ports  *portPool
	closed bool
	drain  DrainRef // set by Drain (drain.go)
}

// running is one tenant being served.
type running struct {
	spec      Spec // with defaults
	broker    *broker.Broker
	guard     *guard
	deleg     delegation // what the application decides instead of the spec
	listeners [numKinds]*served
	// store keeps the tenant's sessions and retained messages (see
	// HostConfig.StoreDir); nil: memory only. Its broker closes it.
	store *store.Bolt
	dirty bool // the last update failed in part: the next Apply retries
}

// ErrHostClosed is returned by the Host's methods after Close.
var ErrHostClosed = errors.New("tenant: host closed")

// ErrNotFound is returned for a tenant the Host does not run.
var ErrNotFound = errors.New("tenant: not found")

// NewHost returns a Host configured by cfg (zero fields take their
// defaults) and opts. It runs no tenant until Apply or Reconcile.
func NewHost(cfg HostConfig, opts ...Option) (*Host, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h := &Host{cfg: cfg, log: zap.NewNop(), tenants: make(map[string]*running), specs: make(map[string]Spec),
		owners: make(map[int]string), shared: make(map[int]string), failed: make(map[string]*failure),
		checks: newCheckLimiter(cfg.MaxConcurrentPasswordChecks, cfg.passwordCheckWait())}
	h.budget = broker.NewBudget(cfg.MemoryBudget)
	for _, o := range opts {
		o(h)
	}
	h.log = h.log.Named("tenant")
	h.ports = newPortPool(cfg.PortMin, cfg.PortMax)
	if h.cfg.AdvertiseHost == "" {
		h.cfg.AdvertiseHost = advertiseDefault(cfg.BindHost)
	}
	return h, nil
}

// MemoryBudget returns the node's memory budget (HostConfig.MemoryBudget),
// which every tenant's broker charges besides its own Limits.MaxMemory: its
// Used and Denied figures are the node's. It is safe for concurrent use.
func (h *Host) MemoryBudget() *broker.Budget { return h.budget }

// advertiseDefault is the host name reported in addresses when none is
// configured: the bind host when it is specific, else the machine's name.
func advertiseDefault(bind string) string {
	if bind != "" && bind != "0.0.0.0" && bind != "::" {
		return bind
	}
	if name, err := os.Hostname(); err == nil && name != "" {
		return name
	}
	return "localhost"
}

// Apply creates the tenant spec names, or updates it in place: listeners
// whose port or TLS changed are rebound (v5 clients on a moved listener
// get DISCONNECT 0x9C Use another server with the new address as Server
// Reference; 3.x clients are closed), new limits apply at once, clients
// whose credential was removed get DISCONNECT 0x87 Not authorized, and an
// ACL change is applied to existing subscriptions. An unchanged spec is a
// no-op. Its fixed ports become the tenant's own on this Host: no other
// tenant's listener takes them, even one moved off a busy port. It returns
// the tenant's status afterwards. A spec that fails Validate is refused
// and changes nothing; one the Host cannot serve, entirely or in part, is
// kept and recorded as failed (Status.Error, Failed) until an Apply or
// Reconcile serves it.
func (h *Host) Apply(spec Spec) (Status, error) {
	if err := spec.Validate(); err != nil {
		return Status{}, err
	}
	spec = spec.WithDefaults()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return Status{}, ErrHostClosed
	}
	h.specs[spec.Name] = spec
	h.setOwners()
	err := h.apply(spec)
	st, _ := h.statusOf(spec.Name)
	return st, err
}

// apply starts or updates the tenant of a valid, defaulted spec and
// records the outcome (see failed). h.mu held.
func (h *Host) apply(spec Spec) error {
	t := h.tenants[spec.Name]
	var err error
	if t == nil {
		if t, err = h.start(spec); err == nil {
			h.tenants[spec.Name] = t
		}
	} else {
		err = h.update(t, spec)
	}
	h.noteOutcome(spec.Name, err)
	return err
}

// start creates and serves a new tenant. Its listeners are bound before
// its broker is made, so that retrying a tenant that cannot be served
// costs little.
func (h *Host) start(spec Spec) (*running, error) {
	acc, err := compileAccess(spec)
	if err != nil {
		return nil, fmt.Errorf("tenant %q: %w", spec.Name, err)
	}
	t := &running{spec: spec, guard: newGuard(acc)}
	// Every fixed port of every spec is owned before any listener binds
	// (setOwners), so the order does not matter: a busy port's search for
	// the next free one, and an auto listener, skip every configured port.
	for k := range numKinds {
		w, err := h.want(spec, kind(k))
		if err == nil && w != nil {
			t.listeners[k], err = h.bind(spec.Name, kind(k), w, nil)
		}
		if err != nil {
			h.closeListeners(t)
			return nil, err
		}
	}
	log := h.log.With(zap.String("tenant", spec.Name))
	t.guard.checks, t.guard.log = h.checks, log
	hooks, deleg := h.accessHooks(spec, t.guard)
	t.deleg = deleg
	h.warnUnused(spec, deleg)
	if h.hooks != nil {
		hooks = append(hooks, h.hooks(spec)...)
	}
	b, err := h.newBroker(t, spec, log, hooks)
	if err != nil {
		h.closeListeners(t)
		return nil, err
	}
	t.broker = b
	h.drainBroker(spec.Name, b)
	for _, s := range t.listeners {
		if s != nil {
			s.serve(b)
		}
	}
	if t.store != nil {
		h.log.Info("tenant started", zap.String("tenant", spec.Name), zap.Any("listeners", h.addrs(t)),
			zap.String("persistence", spec.Limits.Persistence), zap.String("store", t.store.Path()))
	} else {
		h.log.Info("tenant started", zap.String("tenant", spec.Name), zap.Any("listeners", h.addrs(t)))
	}
	return t, nil
}

// newBroker makes the broker of the starting tenant t, with its store
// (see HostConfig.StoreDir) loaded, attached to the cluster and restored:
// its stored sessions and retained messages are in place before a client
// is served. On an error nothing of it remains open. h.mu held.
func (h *Host) newBroker(t *running, spec Spec, log *zap.Logger, hooks []any) (*broker.Broker, error) {
	opts := []broker.Option{broker.WithLogger(log), broker.WithHooks(hooks...), broker.WithMemoryBudget(h.budget)}
	var err error
	if t.store, err = h.openStore(spec); err != nil {
		return nil, err
	}
	if t.store != nil {
		opts = append(opts, broker.WithStore(t.store))
	}
	b, err := broker.New(h.brokerConfig(t, spec), opts...)
	if err != nil {
		if t.store != nil {
			_ = t.store.Close() // no broker closes it
		}
		return nil, fmt.Errorf("tenant %q: %w", spec.Name, err)
	}
	if h.peering != nil {
		if err := h.peering.Attach(spec.Name, b, spec.Limits.ClusterAck == ClusterAckLocal); err != nil {
			_ = b.Shutdown(context.Background())
			return nil, fmt.Errorf("tenant %q: %w", spec.Name, err)
		}
	}
	if err := b.Restore(); err != nil {
		if h.peering != nil {
			h.peering.Detach(spec.Name)
		}
		_ = b.Shutdown(context.Background())
		if t.store != nil {
			err = fmt.Errorf("store %s: %w", t.store.Path(), err)
		}
		return nil, fmt.Errorf("tenant %q: restore: %w", spec.Name, err)
	}
	return b, nil
}

// brokerConfig is the broker configuration of spec for the tenant t on
// this Host; a tenant whose authentication is delegated does not use the
// spec's Auth.CertificateCNs, and one without a store does not wait for
// it (StoreSync).
func (h *Host) brokerConfig(t *running, spec Spec) broker.Config {
	cfg := spec.brokerConfig(h.cfg.Broker.config())
	cfg.CertCNAsUsername = h.cfg.Broker.CertCNAsUsername || !t.deleg.authn && len(spec.Auth.CertificateCNs) > 0
	cfg.StoreSync = t.storeSync(spec)
	return cfg
}

// update applies a changed spec to a running tenant.
func (h *Host) update(t *running, spec Spec) error {
	if !t.dirty && reflect.DeepEqual(t.spec, spec) {
		return nil
	}
	old := t.spec
	var errs []error
	// Listeners first: a port that cannot be bound leaves the old one.
	for k := range numKinds {
		want, err := h.want(spec, kind(k))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := h.rebind(t, kind(k), want); err != nil {
			errs = append(errs, err)
		}
	}
	if h.peering != nil && old.Limits.ClusterAck != spec.Limits.ClusterAck {
		h.peering.SetAckLocal(spec.Name, spec.Limits.ClusterAck == ClusterAckLocal)
	}
	h.warnPersistence(old, spec)
	if err := t.broker.SetConfig(h.brokerConfig(t, spec)); err != nil {
		errs = append(errs, fmt.Errorf("tenant %q: %w", spec.Name, err))
	}
	if !reflect.DeepEqual(old.Auth, spec.Auth) || !reflect.DeepEqual(old.ACL, spec.ACL) {
		acc, err := compileAccess(spec)
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %q: %w", spec.Name, err))
		} else {
			t.guard.set(acc)
			h.warnUnused(spec, t.deleg)
			if !t.deleg.authn {
				n := t.broker.Disconnect(func(c *broker.ClientInfo) bool {
					_, ours := c.AuthTag.(Credential) // an application hook's tag is not ours to judge
					return ours && !acc.credentialValid(c.AuthTag)
				}, packet.NotAuthorized, "")
				if n > 0 {
					h.log.Info("clients disconnected: credential removed", zap.String("tenant", spec.Name), zap.Int("clients", n))
				}
			}
			if !t.deleg.authz && !reflect.DeepEqual(old.ACL, spec.ACL) {
				if n := t.broker.RecheckSubscriptions(); n > 0 {
					h.log.Info("subscriptions removed by the new ACL", zap.String("tenant", spec.Name), zap.Int("subscriptions", n))
				}
			}
		}
	}
	t.spec = spec
	t.dirty = len(errs) > 0
	if t.dirty {
		return errors.Join(errs...)
	}
	h.log.Info("tenant updated", zap.String("tenant", spec.Name), zap.Any("listeners", h.addrs(t)))
	return nil
}

// Remove stops the tenant: its listeners close (releasing their ports),
// its clients get DISCONNECT 0x8B Server shutting down (v5) or a close, and
// its sessions and retained messages are discarded, its store file
// (HostConfig.StoreDir) deleted. It waits up to the
// Host's ShutdownTimeout for the connections to end. A tenant recorded as
// failed is forgotten; its fixed ports are no longer owned.
func (h *Host) Remove(name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrHostClosed
	}
	return h.remove(name)
}

// remove is Remove with h.mu held.
func (h *Host) remove(name string) error {
	_, known := h.specs[name]
	_, failed := h.failed[name]
	delete(h.specs, name)
	delete(h.failed, name)
	h.setOwners()
	t := h.tenants[name]
	if t == nil {
		if known || failed {
			return h.deleteStore(name)
		}
		return fmt.Errorf("tenant %q: %w", name, ErrNotFound)
	}
	delete(h.tenants, name)
	err := h.stop(t, h.cfg.ShutdownTimeout)
	h.log.Info("tenant removed", zap.String("tenant", name))
	return errors.Join(err, h.deleteStore(name))
}

// stop closes a tenant's listeners and shuts its broker down.
func (h *Host) stop(t *running, timeout time.Duration) error {
	h.closeListeners(t)
	if h.peering != nil {
		h.peering.Detach(t.spec.Name) // before the sessions go: the peers drop its routes at once
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := t.broker.Shutdown(ctx); err != nil {
		return fmt.Errorf("tenant %q: shutdown: %w", t.spec.Name, err)
	}
	return nil
}

// closeListeners closes t's listeners and releases their ports.
func (h *Host) closeListeners(t *running) {
	for k, s := range t.listeners {
		if s != nil {
			s.close()
			h.ports.release(s.port)
			t.listeners[k] = nil
		}
	}
}

// Get returns the status of one tenant the Host serves or was asked to
// serve but could not start (Status.Running false, Status.Error why).
func (h *Host) Get(name string) (Status, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.statusOf(name)
}

// List returns the status of every tenant the Host runs, sorted by name;
// those it could not start are not listed (they bind no address): see
// Failed and Get. A running tenant applied only in part has Status.Error
// set.
func (h *Host) List() []Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Status, 0, len(h.tenants))
	for _, name := range sortedKeys(h.tenants) {
		st, _ := h.statusOf(name)
		out = append(out, st)
	}
	return out
}

// Broker returns the broker of a tenant, for in-process publishing and
// subscribing (Broker.Publish, Broker.Subscribe).
func (h *Host) Broker(name string) (*broker.Broker, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.tenants[name]
	if t == nil {
		return nil, false
	}
	return t.broker, true
}

// ReloadCertificates reloads the certificate files of every secure
// listener now (they are also reloaded when the files change).
func (h *Host) ReloadCertificates() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, t := range h.tenants {
		for _, s := range t.listeners {
			if s != nil && s.kind.secure() {
				if err := s.l.Reload(); err != nil {
					errs = append(errs, fmt.Errorf("tenant %q: %s: %w", t.spec.Name, s.kind, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Close stops every tenant, concurrently, bounded by ctx. Unlike Remove
// it keeps their store files: their brokers write their last changes
// and close them, for the next start.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	ts := h.tenants
	h.tenants = map[string]*running{}
	h.specs, h.failed, h.owners = map[string]Spec{}, map[string]*failure{}, map[int]string{}
	h.mu.Unlock()
	timeout := h.cfg.ShutdownTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(ts))
	for _, t := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- h.stop(t, timeout)
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}
