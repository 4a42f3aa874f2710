// Package listeners accepts network connections and hands each one, as a
// plain net.Conn, to a callback. It knows nothing about MQTT: the callback is
// usually (*broker.Broker).ServeConn, wired up by the caller.
//
// A Listener binds when it is constructed, so Addr reports the address
// actually bound (bind ":0" in tests and embedders and read the port back).
// Its accept loop copies net/http's: after an Accept error it first checks
// whether the listener was closed, and otherwise backs off on temporary
// errors, from 5ms doubling up to 1s.
//
// Constructors: NewTCP (MQTT), NewTLS (MQTTS, TLS 1.2 or later, optional
// mutual TLS), NewWebSocket (MQTT over WebSocket, or secure WebSocket when
// Config.TLS is set; subprotocols "mqtt" and "mqttv3.1", binary frames seen
// as one byte stream). Certificates are reloaded when their files change
// and on Listener.Reload, without touching established connections. When a
// configured port is busy, a listener binds the next free one (at most
// Config.PortSearch further ports; Config.FixedPort turns this off) and logs
// a warning naming both; Addr reports the port actually bound.
package listeners
