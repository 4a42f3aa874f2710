// Package broker is an MQTT broker (3.1, 3.1.1 and 5.0) that an application
// embeds: one instance serves its own listeners, with the application's
// authentication, topic access control and device lifecycle callbacks
// plugged in as hooks, and an in-process API to publish and subscribe
// without a socket. It knows nothing of tenants, Raft or gossip (package
// tenant runs many brokers in one process; package cluster joins brokers
// of several nodes).
//
// # Starting one
//
// Create listeners with package listeners (TCP, TLS, WebSocket, secure
// WebSocket; TLS from certificate files or a *tls.Config), hand them and
// the hooks to New, and call Shutdown to stop:
//
//	tcp, err := listeners.NewTCP(listeners.Config{Addr: ":1883"}, log)
//	...
//	b, err := broker.New(broker.Config{},
//		broker.WithLogger(log),
//		broker.WithHooks(registry, auditLog),
//		broker.WithListeners(tcp, mqtts, ws))
//	...
//	defer b.Shutdown(ctx) // closes the listeners, disconnects the clients
//
// Config holds the limits (connections, packet size, queues, rates,
// memory), each with a documented default for its zero value. A
// net.Listener can be served with Serve, and single connections (an
// in-memory net.Pipe, say) with ServeConn; a listeners.Listener served by
// the application itself takes ServeConn as its callback:
// go l.Serve(b.ServeConn).
//
// # Hooks
//
// Hooks are values given to WithHooks; each implements one or more small
// interfaces, and the broker calls it for those events only:
//
//   - Authenticator: may this client connect? (CONNECT's client id, user
//     name, password, TLS certificates)
//   - EnhancedAuthenticator: MQTT 5 challenge/response authentication.
//   - Authorizer: may this client publish to a topic, subscribe to a
//     filter? ReadAuthorizer adds per-message read checks.
//   - ConnectObserver: a client came online, went offline cleanly, or its
//     connection was lost (and why).
//   - ConnectRefusedObserver: a connection attempt was refused (failed
//     logins, limits, malformed CONNECTs), for the platform's audit.
//   - PublishObserver: every message published, by clients and in process.
//   - SubscriptionObserver: subscriptions made and removed.
//
// Decisions are ReasonCodes: Success accepts, a failure code
// (BadUsernameOrPassword, NotAuthorized, Banned, ServerBusy, ...) refuses
// and is what the client is told. Each interface says whether its methods
// may block, what they may keep, and who calls them concurrently. WithHooks
// refuses (New returns the error) a value that implements no hook, or
// whose method named like a hook method has another signature (see
// CheckHook), so a typo cannot silently disable a hook.
//
// # In-process publish and subscribe
//
// Publish sends a message from the application, with PublishOptions for
// QoS, retain and the MQTT 5 properties (each present when set). Subscribe
// hands matching messages to a function. Both are trusted: the Authorizers
// are not asked, the SubscriptionObservers do not see Subscribe, and
// PublishObservers see Publish with ClientInfo.Internal set. To act on
// behalf of a device instead, with its access rights checked and the hooks
// seeing that device, set PublishOptions.As or use SubscribeAs.
//
// # Running
//
// SetConfig changes limits of a running broker; Disconnect ends chosen
// connections (with a reason and, for moves, a server reference);
// RecheckSubscriptions re-applies the Authorizers after an access-control
// change; Stats reports counters, refusals by reason code and drops by
// cause. Every resource a client can hold is bounded in bytes or time, and
// a client crossing a limit is answered with the reason code MQTT
// specifies, logged, and counted, never allowed to take the process down.
// A broker joins a cluster through the Peers interface (SetPeers), which
// package cluster implements.
package broker
