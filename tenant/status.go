package tenant

import "github.com/jmqx/jmqx/broker"

// Status is what a Host reports about one tenant.
type Status struct {
	// Spec is the tenant's spec with every default filled in (as given,
	// for a spec that fails Validate).
	Spec Spec `json:"spec"`
	// Running reports whether the Host runs the tenant's broker. It is
	// false for a tenant the Host was asked to serve but could not start
	// (Error says why; Listeners is empty and Stats zero).
	Running bool `json:"running"`
	// Error is why the Host could not serve the tenant (Running false), or
	// could apply its latest spec only in part (Running true: what could
	// be applied is served, for example a listener that could not move
	// stays where it was). The next Apply or Reconcile retries. Empty when
	// the tenant is served as its spec says.
	Error string `json:"error,omitempty"`
	// Listeners maps ListenerMQTT, ListenerMQTTS, ListenerWS and
	// ListenerWSS ("mqtt", "mqtts", "ws" and "wss" in JSON) to the address
	// actually bound (host:port, with the Host's AdvertiseHost); listeners
	// that are off or not bound are absent.
	Listeners map[ListenerKind]string `json:"listeners"`
	// Stats are the tenant broker's live figures.
	Stats broker.Stats `json:"stats"`
}

// statusOf returns the Status of the tenant name, running or failed, and
// false when the Host does not know it. h.mu held.
func (h *Host) statusOf(name string) (Status, bool) {
	var st Status
	if t := h.tenants[name]; t != nil {
		st = Status{Spec: t.spec.Clone(), Running: true, Listeners: h.addrs(t), Stats: t.broker.Stats()}
	} else if f := h.failed[name]; f != nil {
		st = Status{Spec: h.specs[name].Clone(), Listeners: map[ListenerKind]string{}}
	} else {
		return Status{}, false
	}
	if f := h.failed[name]; f != nil {
		st.Error = f.msg
	}
	return st, true
}
