package tenant

import "go.uber.org/zap"

// failure is why the Host could not serve a tenant, entirely or in part.
type failure struct {
	err error
	msg string // err.Error(), logged once
}

// Failed returns, by name, the tenants the Host was asked to serve (by
// Apply or Reconcile) that the last attempt could not serve: not at all
// (Status.Running false), or only in part (a running tenant whose latest
// spec was not fully applied). Each is retried by the next Apply or
// Reconcile, and leaves this map when served or removed. The map is the
// caller's.
func (h *Host) Failed() map[string]error {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]error, len(h.failed))
	for name, f := range h.failed {
		out[name] = f.err
	}
	return out
}

// noteOutcome records the outcome of serving the tenant name: a failure
// is kept for Failed and Status.Error and logged when it differs from the
// tenant's previous one (Reconcile retries it every time it is called);
// a success after a failure is logged once. h.mu held.
func (h *Host) noteOutcome(name string, err error) {
	f := h.failed[name]
	if err == nil {
		if f != nil {
			delete(h.failed, name)
			h.log.Info("tenant served after an earlier failure", zap.String("tenant", name))
		}
		return
	}
	msg := err.Error()
	if f == nil || f.msg != msg {
		_, running := h.tenants[name]
		h.log.Warn("tenant not served; retried on the next reconcile", zap.String("tenant", name),
			zap.Bool("running", running), zap.Error(err))
	}
	h.failed[name] = &failure{err: err, msg: msg}
}
