// Package tenant runs many isolated MQTT brokers in one process, one per
// tenant (a namespace), each with its own listeners, users, ACL and
// limits.
//
// # Starting a Host
//
// A Host runs the tenants. NewHost makes one; Apply starts a tenant from
// its Spec, or changes a running one live; Remove stops one; Close stops
// them all and closes every listener they opened:
//
//	host, err := tenant.NewHost(tenant.HostConfig{BindHost: "0.0.0.0"})
//	if err != nil {
//		return err
//	}
//	defer host.Close(context.Background())
//	st, err := host.Apply(tenant.Spec{
//		Name:      "acme",
//		Listeners: tenant.Listeners{MQTT: "1883", WS: tenant.PortAuto},
//		Auth:      tenant.Auth{Users: []tenant.User{{Name: "dev", PasswordHashes: []string{hash}}}},
//	})
//	// st.Listeners[tenant.ListenerMQTT] is the address bound.
//	b, _ := host.Broker("acme") // the tenant's broker, for in-process Publish and Subscribe
//
// HashPassword makes a password hash. Reconcile makes the running tenants
// equal a list of specs. Get, List and Failed report each tenant's
// Status: its spec with defaults, the addresses its listeners bound
// (keyed by ListenerKind) and its broker's figures. Nothing is shared
// between tenants: each has its own topic tree, retained messages,
// sessions, credentials and counters.
//
// # Authentication and authorization
//
// By default a tenant authenticates its clients by its Spec's Auth (a
// listed certificate common name, a user name with a password matching
// one of the user's hashes, or no user name when AllowAnonymous is set)
// and authorizes them by its ACL. An application may take either over,
// tenant by tenant:
//
//   - WithAuthenticator delegates authentication: for each tenant its
//     function returns an Authenticator for, that Authenticator alone
//     decides who connects, and the spec's Auth is not consulted. This is
//     how a platform admits devices from its own registry.
//   - WithAuthorizer delegates authorization likewise: the application's
//     Authorizer alone decides what the tenant's clients may publish and
//     subscribe to, and the spec's ACL is not consulted.
//   - For a tenant the function returns nil for, or without the option,
//     the spec decides, as by default.
//
// Hooks given with WithHooks add to whichever decides: each Authenticator
// among them is asked, in order, once the deciding one (the
// application's or the spec's) has accepted the client, and must accept
// too; the first refusal is the CONNACK's reason code. Each Authorizer
// among them must allow too. So, for authentication:
//
//	WithAuthenticator   WithHooks Authenticator   a client is admitted when
//	nil (or none)       none                      the spec's Auth accepts it
//	nil (or none)       H                         the spec's Auth and H accept it
//	A                   none                      A accepts it
//	A                   H                         A and H accept it
//
// and the same with WithAuthorizer, the spec's ACL and the hooks'
// Authorizers for each PUBLISH and SUBSCRIBE. Delegating one does not
// delegate the other: a tenant may authenticate devices by the
// application's registry and authorize them by its spec's ACL, whose %u
// then stands for the user names the application admitted.
//
// A client's ClientInfo.AuthTag is what the accepting Authenticators set
// (the last one wins): a Credential when the spec admitted it. When a
// spec changes, the clients whose spec credential was removed are
// disconnected and subscriptions are checked against a new ACL; a tenant
// that delegates does neither for what it delegates (the application
// uses Broker.Disconnect and Broker.RecheckSubscriptions). The functions
// of WithAuthenticator, WithAuthorizer and WithHooks are called once per
// tenant, when it starts, with its spec.
//
// # Limits
//
// A tenant's quotas and protocol profile are its Spec's Limits, and only
// there: every field's default is given in its comment (the Default*
// constants). HostConfig.Broker holds what the Host's tenants share and is
// not a limit (timeouts, topic alias and receive maximums, $SYS).
// HostConfig.MemoryBudget bounds the memory of all tenants together.
//
// # Persistence
//
// With HostConfig.StoreDir set, each tenant whose Limits.Persistence is
// not "off" keeps its persistent sessions and retained messages in its
// own file there (StorePath: StoreDir/<tenant>.db, a package store bbolt
// file), loaded before its listeners serve, written every
// BrokerSettings.StoreInterval ("default") or before each acknowledgement
// ("sync"). Remove deletes the file of the tenant it stops; Close keeps
// every file for the next start. A file that cannot be opened or loaded
// fails its tenant (Failed, Status.Error, naming the file).
//
// # Listeners and ports
//
// Each tenant has up to four listeners, one of each ListenerKind: MQTT,
// MQTTS, WebSocket and secure WebSocket, on fixed ports or on "auto"
// ones taken from the Host's range. A fixed port that is busy moves the
// listener to a free one nearby (unless HostConfig.FixedPorts), and Status
// reports the address actually bound. TLS material comes from PEM files
// (the tenant's own, or the Host's) that are reloaded when they change.
// Remove and Close close every listener of the tenants they stop.
//
// # Control plane
//
// Specs are plain data (JSON). The control plane (package meta) stores
// them and drives a Host through Reconcile; CheckPorts lets it refuse a
// spec whose ports conflict before accepting it. This package knows
// nothing about Raft or gossip.
package tenant
