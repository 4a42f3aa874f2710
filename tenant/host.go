package tenant

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/broker/packet"
)

// Host runs one broker per tenant, each with its own listeners, and
// applies spec changes to running tenants live. Its methods are safe for
// concurrent use; changes are applied one at a time.
type Host struct {
	cfg   HostConfig
	log   *zap.Logger
	hooks func(Spec) []any
	hints func(tenant, listener string) int
	// budget is the node's memory budget (cfg.MemoryBudget), charged by
	// every tenant's broker.
	budget *broker.Budget
	// checks bounds the password verifications of all tenants at once.
	checks *checkLimiter

	mu      sync.Mutex // serializes changes; guards tenants and closed
	tenants map[string]*running
	ports   *portPool
	closed  bool
}

// running is one tenant being served.
type running struct {
	spec      Spec // with defaults
	broker    *broker.Broker
	guard     *guard
	listeners [numKinds]*served
	dirty     bool // the last update failed in part: the next Apply retries
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
	h := &Host{cfg: cfg, log: zap.NewNop(), tenants: make(map[string]*running),
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
// no-op. It returns the tenant's status afterwards.
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
	t := h.tenants[spec.Name]
	if t == nil {
		t, err := h.start(spec)
		if err != nil {
			return Status{}, err
		}
		h.tenants[spec.Name] = t
		return h.status(t), nil
	}
	if err := h.update(t, spec); err != nil {
		return h.status(t), err
	}
	return h.status(t), nil
}

// start creates and serves a new tenant.
func (h *Host) start(spec Spec) (*running, error) {
	acc, err := compileAccess(spec)
	if err != nil {
		return nil, fmt.Errorf("tenant %q: %w", spec.Name, err)
	}
	log := h.log.With(zap.String("tenant", spec.Name))
	t := &running{spec: spec, guard: newGuard(acc)}
	t.guard.checks, t.guard.log = h.checks, log
	hooks := []any{t.guard}
	if h.hooks != nil {
		hooks = append(hooks, h.hooks(spec)...)
	}
	b, err := broker.New(h.brokerConfig(spec), broker.WithLogger(log), broker.WithHooks(hooks...),
		broker.WithMemoryBudget(h.budget))
	if err != nil {
		return nil, fmt.Errorf("tenant %q: %w", spec.Name, err)
	}
	t.broker = b
	// Fixed ports that are free first, so that a busy port's search for
	// the next free one cannot take a sibling's configured port.
	var wants [numKinds]*listenSpec
	for k := range numKinds {
		w, err := h.want(spec, kind(k))
		if err == nil && w != nil && w.port != 0 {
			t.listeners[k], err = h.bindSearch(spec.Name, kind(k), w, nil, false)
			if err != nil && !h.cfg.FixedPorts && errors.Is(err, syscall.EADDRINUSE) {
				err = nil // searched for below
			}
		}
		if err != nil {
			_ = h.stop(t, time.Second)
			return nil, err
		}
		wants[k] = w
	}
	for k, w := range wants {
		if w == nil || t.listeners[k] != nil {
			continue
		}
		s, err := h.bind(spec.Name, kind(k), w, nil)
		if err != nil {
			_ = h.stop(t, time.Second)
			return nil, err
		}
		t.listeners[k] = s
	}
	for _, s := range t.listeners {
		if s != nil {
			s.serve(b)
		}
	}
	h.log.Info("tenant started", zap.String("tenant", spec.Name), zap.Any("listeners", h.addrs(t)))
	return t, nil
}

// brokerConfig is the broker configuration of spec on this Host.
func (h *Host) brokerConfig(spec Spec) broker.Config {
	cfg := spec.brokerConfig(h.cfg.Broker)
	cfg.CertCNAsUsername = h.cfg.Broker.CertCNAsUsername || len(spec.Auth.CertificateCNs) > 0
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
	if err := t.broker.SetConfig(h.brokerConfig(spec)); err != nil {
		errs = append(errs, fmt.Errorf("tenant %q: %w", spec.Name, err))
	}
	if !reflect.DeepEqual(old.Auth, spec.Auth) || !reflect.DeepEqual(old.ACL, spec.ACL) {
		acc, err := compileAccess(spec)
		if err != nil {
			errs = append(errs, fmt.Errorf("tenant %q: %w", spec.Name, err))
		} else {
			t.guard.set(acc)
			n := t.broker.Disconnect(func(c *broker.ClientInfo) bool {
				_, ours := c.AuthTag.(Credential) // an application hook's tag is not ours to judge
				return ours && !acc.credentialValid(c.AuthTag)
			}, packet.NotAuthorized, "")
			if n > 0 {
				h.log.Info("clients disconnected: credential removed", zap.String("tenant", spec.Name), zap.Int("clients", n))
			}
			if !reflect.DeepEqual(old.ACL, spec.ACL) {
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
// its sessions and retained messages are discarded. It waits up to the
// Host's ShutdownTimeout for the connections to end.
func (h *Host) Remove(name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrHostClosed
	}
	t := h.tenants[name]
	if t == nil {
		return fmt.Errorf("tenant %q: %w", name, ErrNotFound)
	}
	delete(h.tenants, name)
	err := h.stop(t, h.cfg.ShutdownTimeout)
	h.log.Info("tenant removed", zap.String("tenant", name))
	return err
}

// stop closes a tenant's listeners and shuts its broker down.
func (h *Host) stop(t *running, timeout time.Duration) error {
	for k, s := range t.listeners {
		if s != nil {
			s.close()
			h.ports.release(s.port)
			t.listeners[k] = nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := t.broker.Shutdown(ctx); err != nil {
		return fmt.Errorf("tenant %q: shutdown: %w", t.spec.Name, err)
	}
	return nil
}

// Reconcile makes the running tenants equal specs: tenants not in specs
// are removed, the others applied (unchanged ones are left alone). It
// carries on past failures and returns them all.
func (h *Host) Reconcile(specs []Spec) error {
	want := make(map[string]bool, len(specs))
	for _, s := range specs {
		want[s.Name] = true
	}
	var errs []error
	for _, name := range h.names() {
		if !want[name] {
			if err := h.Remove(name); err != nil && !errors.Is(err, ErrNotFound) {
				errs = append(errs, err)
			}
		}
	}
	for _, s := range specs {
		if _, err := h.Apply(s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// names returns the running tenants' names, sorted.
func (h *Host) names() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	names := make([]string, 0, len(h.tenants))
	for n := range h.tenants {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Get returns the status of one tenant.
func (h *Host) Get(name string) (Status, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.tenants[name]
	if t == nil {
		return Status{}, false
	}
	return h.status(t), true
}

// List returns the status of every tenant, sorted by name.
func (h *Host) List() []Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Status, 0, len(h.tenants))
	for _, t := range h.tenants {
		out = append(out, h.status(t))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Spec.Name < out[j].Spec.Name })
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

// Close removes every tenant, concurrently, bounded by ctx.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	ts := h.tenants
	h.tenants = map[string]*running{}
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
