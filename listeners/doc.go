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
// Only plain TCP exists today (NewTCP). TLS, WebSocket and port
// auto-reassignment will be further constructors that build an inner
// net.Listener and share the same Listener type and accept loop.
package listeners
