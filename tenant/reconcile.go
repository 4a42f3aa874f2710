package tenant

import (
	"errors"
	"sort"
)

// Reconcile makes the tenants the Host serves equal specs: tenants not in
// specs are removed (as by Remove: their store files deleted), the others
// applied in order (unchanged ones are left
// alone). The fixed ports of all specs are owned before any listener
// binds, so a listener moved off a busy port, or an auto one (even on its
// port hint), never takes a port another spec configures, whatever the
// order.
//
// It keeps going past a tenant it cannot serve (an invalid spec, a secure
// listener without TLS material, no free port, ...): the others are
// served, and that tenant is recorded as failed (Failed, Status.Error; one
// already running keeps serving what it can), logged once per distinct
// error, and retried by the next Reconcile (or Apply of it). It returns
// the failures of this pass, joined, or ErrHostClosed: a failure is no
// reason to stop using the Host, or to fail a start-up; the caller
// reconciles again periodically while the error is not nil.
func (h *Host) Reconcile(specs []Spec) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrHostClosed
	}
	desired, invalid, order := h.desired(specs)
	var stale []string
	for _, name := range sortedKeys(h.specs) {
		if _, ok := desired[name]; !ok {
			stale = append(stale, name)
		}
	}
	h.mu.Unlock()
	// One change at a time, each under the lock, so that Get and List
	// answer during a long pass.
	var errs []error
	for _, name := range stale {
		if err := h.Remove(name); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
		}
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return errors.Join(append(errs, ErrHostClosed)...)
	}
	h.specs = desired
	h.setOwners()
	h.mu.Unlock()
	for _, name := range order {
		if err := h.reconcile(name, invalid[name]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// desired returns the specs of Reconcile by name, with defaults when valid,
// why the invalid ones are, and the names in the order given. A running
// tenant whose new spec is invalid keeps serving, and owning the ports of,
// its last valid spec. h.mu held.
func (h *Host) desired(specs []Spec) (map[string]Spec, map[string]error, []string) {
	desired := make(map[string]Spec, len(specs))
	invalid := make(map[string]error)
	order := make([]string, 0, len(specs))
	for _, s := range specs {
		if _, dup := desired[s.Name]; !dup {
			order = append(order, s.Name)
		}
		if err := s.Validate(); err != nil {
			invalid[s.Name] = err
			desired[s.Name] = s.Clone()
			if t := h.tenants[s.Name]; t != nil {
				desired[s.Name] = t.spec
			}
			continue
		}
		delete(invalid, s.Name)
		desired[s.Name] = s.WithDefaults()
	}
	return desired, invalid, order
}

// reconcile serves the tenant name of the Host's specs, or records why
// its spec is invalid; a tenant removed meanwhile is left alone.
func (h *Host) reconcile(name string, invalid error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrHostClosed
	}
	spec, ok := h.specs[name]
	switch {
	case !ok:
		return nil
	case invalid != nil:
		h.noteOutcome(name, invalid)
		return invalid
	}
	return h.apply(spec)
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
