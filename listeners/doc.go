// Package listeners accepts network connections and hands each one, as a
// plain net.Conn, to a callback. It knows nothing about MQTT. A broker
// serves a listener in one of two ways:
//
//	l, err := listeners.NewTCP(listeners.Config{Addr: ":1883"}, log)
//	...
//	b, err := broker.New(cfg, broker.WithListeners(l)) // the broker serves l and closes it on Shutdown
//	// or, keeping l's lifecycle in the caller's hands:
//	go l.Serve(b.ServeConn)
//
// Constructors: NewTCP (MQTT), NewTLS (MQTTS, TLS 1.2 or later, optional
// mutual TLS), NewWebSocket (MQTT over WebSocket, or secure WebSocket when
// Config.TLS is set; subprotocols "mqtt" and "mqttv3.1", binary frames seen
// as one byte stream). TLS material comes from PEM files, reloaded when
// they change and on Listener.Reload without touching established
// connections, or from a *tls.Config the application builds
// (TLSConfig.Config), whose GetCertificate can serve certificates from an
// ACME client, Vault or the platform's own store.
//
// A Listener binds when it is constructed, so Addr reports the address
// actually bound (bind ":0" in tests and embedders and read the port back).
// When a configured port is busy, a listener binds the next free one (at
// most Config.PortSearch further ports; Config.FixedPort turns this off)
// and logs a warning naming both. Its accept loop copies net/http's: after
// an Accept error it first checks whether the listener was closed, and
// otherwise backs off on temporary errors, from 5ms doubling up to 1s.
package listeners
