package broker

import (
	"go.uber.org/zap"

	"github.com/jmqx/jmqx/internal/packet"
)

// Draining: the broker of a node being taken out of its cluster sends its
// clients elsewhere. Once Drain is called, every new CONNECT is refused
// (MQTT 5: CONNACK UseAnotherServer 0x9C with a Server Reference; 3.x:
// CONNACK 3, server unavailable) and closed, and every connected client
// is ended (MQTT 5: DISCONNECT 0x9C with a Server Reference; 3.x: closed).
// Sessions persist as their clients asked: moving them is the cluster's
// business. A broker stays drained until Shutdown.

// drainState is what a drained broker tells clients.
type drainState struct {
	// ref returns the Server Reference for a client: the address of the
	// server to use instead, "" for none.
	ref func(ci *ClientInfo) string
}

// Drain refuses new connections and ends the connected clients, sending
// MQTT 5 clients to the server ref names for them (a Server Reference, as
// in MQTT 5 section 4.11: "host:port"; "" sends 0x9C without one). ref is
// called without the broker's locks and must not keep its argument. It
// returns how many clients it ended. Calling it again replaces ref and
// ends the clients that connected meanwhile (a CONNECT that raced with the
// first call).
func (b *Broker) Drain(ref func(ci *ClientInfo) string) int {
	if ref == nil {
		ref = func(*ClientInfo) string { return "" }
	}
	b.drain.Store(&drainState{ref: ref})
	hit := b.matching(func(*ClientInfo) bool { return true })
	for _, c := range hit {
		r := ""
		if c.version == packet.V5 {
			r = ref(&c.info)
		}
		b.log.Info("draining: sending the client to another server", zap.String("client", c.info.ClientID),
			zap.String("server_reference", r))
		c.kickTo(UseAnotherServer, r, ErrDisconnectedByServer)
	}
	return len(hit)
}

// Draining reports whether Drain was called.
func (b *Broker) Draining() bool { return b.drain.Load() != nil }

// refuseIfDraining refuses cp when the broker is drained (see Drain):
// it returns true and the refusal's error, else false and nil.
func (c *client) refuseIfDraining(cp *packet.Connect) (bool, error) {
	d := c.b.drain.Load()
	if d == nil {
		return false, nil
	}
	if c.version != packet.V5 {
		return true, c.refuse(cp, packet.ServerUnavailable, nil)
	}
	info := c.info
	info.ClientID = cp.ClientID
	var props packet.Properties
	if ref := d.ref(&info); ref != "" {
		props.ServerReference = ref
		props.Set(packet.PropServerReference)
	}
	return true, c.refuse(cp, packet.UseAnotherServer, &props)
}
