package tenant

import (
	"github.com/jmqx/jmqx/broker"
)

// DrainRef returns the Server Reference a drained tenant gives a client
// ("host:port" of another server; "" for none). It is called without the
// Host's or the broker's locks and must not keep ci.
type DrainRef func(tenantName string, ci *broker.ClientInfo) string

// Drain drains every tenant's broker (see broker.Broker.Drain): new
// connections are refused, MQTT 5 clients are told to use the server ref
// names, 3.x clients are closed. Tenants started later are drained as
// they start. It returns how many clients it ended. Calling it again
// replaces ref and ends the clients that connected meanwhile.
func (h *Host) Drain(ref DrainRef) int {
	if ref == nil {
		ref = func(string, *broker.ClientInfo) string { return "" }
	}
	h.mu.Lock()
	h.drain = ref
	brokers := make(map[string]*broker.Broker, len(h.tenants))
	for name, t := range h.tenants {
		brokers[name] = t.broker
	}
	h.mu.Unlock()
	n := 0
	for name, b := range brokers {
		n += b.Drain(func(ci *broker.ClientInfo) string { return ref(name, ci) })
	}
	return n
}

// Draining reports whether Drain was called.
func (h *Host) Draining() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.drain != nil
}

// drainBroker drains b, the new broker of the tenant name (no client
// has connected yet), if the Host is drained. h.mu held.
func (h *Host) drainBroker(name string, b *broker.Broker) {
	if ref := h.drain; ref != nil {
		b.Drain(func(ci *broker.ClientInfo) string { return ref(name, ci) })
	}
}
