package broker

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
)

// ClientInfo describes a connected (or connecting) client. Hooks receive it
// read-only and must not modify it; they may keep the pointer, whose fields
// do not change after the connection is accepted.
type ClientInfo struct {
	ClientID   string
	Username   string
	Version    byte // protocol level: 3, 4 or 5
	RemoteAddr net.Addr
	// Certificates is the verified TLS peer certificate chain, if any.
	Certificates []*x509.Certificate
	// Internal is true for the application itself: the ClientInfo that
	// PublishObservers get for Broker.Publish without PublishOptions.As.
	Internal bool
	// LocalAddr is the address the client connected to (the listener's).
	LocalAddr net.Addr
	// AuthTag is what the Authenticator set in AuthRequest.Tag, for
	// example the credential that matched.
	AuthTag any
}

// AuthRequest is what an Authenticator decides on.
type AuthRequest struct {
	ClientID     string
	Username     string
	Password     []byte
	Version      byte
	RemoteAddr   net.Addr
	Certificates []*x509.Certificate // verified TLS peer certificates, if any
	// Tag may be set by an Authenticator that accepts the client; the
	// broker keeps it as ClientInfo.AuthTag (the last one set wins).
	Tag any
}

// Authenticator decides whether a client may connect. Authenticate returns
// Success to accept, or the CONNACK reason code to refuse with (usually
// BadUsernameOrPassword or NotAuthorized; 3.x clients get the nearest
// return code). It is called from the connection's goroutine,
// concurrently for different connections, and may block for at most the
// connect timeout; it must not keep req or its slices. With several
// Authenticators the first refusal wins; with none, every client is accepted.
type Authenticator interface {
	Authenticate(req *AuthRequest) ReasonCode
}

// AuthExchange is one step of MQTT 5 enhanced authentication.
type AuthExchange struct {
	Client *ClientInfo
	Method string // Authentication Method of the CONNECT
	In     []byte // Authentication Data received in this step (valid during the call only)
	Out    []byte // Authentication Data to send back, set by the hook
	Step   int    // 0 for the CONNECT, then 1, 2, ... for each AUTH packet
	// State is kept across the steps of one exchange for the hook's own use.
	State any
}

// EnhancedAuthenticator implements MQTT 5 enhanced authentication (CONNECT
// with an Authentication Method, then AUTH packets). Supports reports whether
// a method is handled; Exchange returns Success to finish (CONNACK, or AUTH
// 0x00 on re-authentication), ContinueAuthentication to send AUTH 0x18 with
// x.Out and wait for the client's next AUTH, or a failure code (such as
// NotAuthorized or BadAuthenticationMethod). Called
// from the connection's goroutine; may block up to the connect timeout.
type EnhancedAuthenticator interface {
	Supports(method string) bool
	Exchange(x *AuthExchange) ReasonCode
}

// Authorizer decides per topic what a client may do. CanPublish is asked for
// every PUBLISH topic (a refused QoS 1/2 PUBLISH is answered with 0x87 in v5,
// and acknowledged but dropped in 3.x); CanSubscribe for every filter at
// SUBSCRIBE time (refused: 0x87 in v5, 0x80 in 3.x); an Authorizer that
// also implements ReadAuthorizer is asked per delivered message where it
// says so. CanPublish also vets a Will topic at CONNECT (refused: CONNACK
// 0x87, or 0x05 for 3.x). Both are called concurrently from connection
// goroutines, must not block and must not keep their arguments. In-process
// Publish and Subscribe are not checked unless made on behalf of a client
// (PublishOptions.As, SubscribeAs).
type Authorizer interface {
	CanPublish(c *ClientInfo, topic string) bool
	CanSubscribe(c *ClientInfo, filter string) bool
}

// ReadAuthorizer is an Authorizer whose read rules may deny some topics
// inside a filter it lets a client subscribe to (Mosquitto's acl_file
// checks reads per message: "topic read #" with "deny secret/#"). For each
// subscription it grants, the broker asks CheckReads once, at SUBSCRIBE
// (and again on RecheckSubscriptions); when it returns true, every message
// delivered through that subscription is first passed to CanRead and
// skipped, counted as dropped, when refused. Both are called concurrently
// (CanRead with the subscriber's session lock held), must not block and
// must not keep their arguments.
type ReadAuthorizer interface {
	CheckReads(c *ClientInfo, filter string) bool
	CanRead(c *ClientInfo, topic string) bool
}

// ConnectObserver follows the client lifecycle (Jmqx's device listener).
// OnConnect is called once the CONNACK accepting the client is sent;
// OnDisconnect when the client ends cleanly with DISCONNECT; OnConnectionLost
// when the connection ends otherwise, with the cause (ErrKeepAliveTimeout,
// ErrSessionTakenOver, ErrServerShutdown, a protocol error or a network
// error). Exactly one of the last two follows every OnConnect. Called from
// connection goroutines, concurrently; must not block for long.
type ConnectObserver interface {
	OnConnect(c *ClientInfo)
	OnDisconnect(c *ClientInfo)
	OnConnectionLost(c *ClientInfo, cause error)
}

// PublishObserver sees every PUBLISH accepted from a client or published in
// process, before it is delivered. m is valid during the call only (copy
// what you keep) and must not be modified. Called from connection goroutines,
// concurrently; must not block for long.
type PublishObserver interface {
	OnPublish(c *ClientInfo, m *Message)
}

// SubscriptionObserver sees subscription changes. OnSubscribe gets the
// granted QoS (0, 1 or 2) or the failure code; OnUnsubscribe the removed
// filter. Called from connection goroutines (and from SubscribeAs and
// RecheckSubscriptions); must not block for long or keep sub. In-process
// Subscribe calls reach it only through SubscribeAs.
type SubscriptionObserver interface {
	OnSubscribe(c *ClientInfo, sub Subscription, result ReasonCode)
	OnUnsubscribe(c *ClientInfo, filter string)
}

// Subscription is one subscription a client asked for, as a
// SubscriptionObserver sees it.
type Subscription struct {
	Filter string // a topic filter, or "$share/{group}/{filter}"
	QoS    byte   // the maximum QoS asked for
	// The MQTT 5 subscription options (false and 0 for 3.x clients):
	// NoLocal skips the client's own messages, RetainAsPublished keeps
	// their retain flag, RetainHandling says when retained messages are
	// sent (0 at subscribe, 1 at a new subscription only, 2 never).
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
}

// ConnectRefusedObserver hears of every connection attempt the broker
// refuses once the client has sent a CONNECT: bad credentials or not
// authorized (by an Authenticator, or a Will topic an Authorizer refuses),
// an invalid or refused client id, an unsupported protocol version, limits
// (MaxConnections, MaxConnectRate, the memory budget), a malformed CONNECT,
// and enhanced authentication that failed or did not finish within the
// connect timeout. Connections that never sent a CONNECT carry no identity
// and are not reported (they are logged and counted in Stats). Called from
// the connection's goroutine, with no broker lock held, after the refusal
// was sent; may block briefly (the connection is already closing); must
// not keep r.
type ConnectRefusedObserver interface {
	OnConnectRefused(r *RefusedConnect)
}

// RefusedConnect describes a refused connection attempt.
type RefusedConnect struct {
	ClientID string // as sent; "" if the client left it to the broker or it was not read
	Username string
	Version  byte // protocol level: 3, 4 or 5; 0 if unknown
	// RemoteAddr is the client's address, LocalAddr the listener's.
	RemoteAddr net.Addr
	LocalAddr  net.Addr
	// Certificates is the verified TLS peer certificate chain, if any.
	Certificates []*x509.Certificate
	// ReasonCode is the MQTT 5 reason (3.x clients were sent the nearest
	// Connect Return Code).
	ReasonCode ReasonCode
	// Err is the decoding error of a malformed CONNECT; nil otherwise.
	Err error
}

// Causes passed to ConnectObserver.OnConnectionLost.
var (
	ErrKeepAliveTimeout = errors.New("broker: keep alive timeout")
	ErrSessionTakenOver = errors.New("broker: session taken over")
	ErrServerShutdown   = errors.New("broker: server shutting down")
	// errDisconnectWithWill is the cause when a v5 client ends with
	// DISCONNECT 0x04 (Disconnect with Will Message).
	errDisconnectWithWill = errors.New("broker: client disconnected with will message")
)

// hookSet holds the hooks sorted by what they implement, so each event
// iterates only over implementers.
type hookSet struct {
	authn     []Authenticator
	enhanced  []EnhancedAuthenticator
	authz     []Authorizer
	readAuthz []ReadAuthorizer
	connect   []ConnectObserver
	publish   []PublishObserver
	subscribe []SubscriptionObserver
	refused   []ConnectRefusedObserver
}

// newHookSet sorts hooks into a hookSet, refusing any value CheckHook
// refuses.
func newHookSet(hooks []any) (*hookSet, error) {
	h := &hookSet{}
	for i, v := range hooks {
		if err := CheckHook(v); err != nil {
			return nil, fmt.Errorf("broker: hook %d: %w", i, err)
		}
		if x, ok := v.(Authenticator); ok {
			h.authn = append(h.authn, x)
		}
		if x, ok := v.(EnhancedAuthenticator); ok {
			h.enhanced = append(h.enhanced, x)
		}
		if x, ok := v.(Authorizer); ok {
			h.authz = append(h.authz, x)
		}
		if x, ok := v.(ReadAuthorizer); ok {
			h.readAuthz = append(h.readAuthz, x)
		}
		if x, ok := v.(ConnectObserver); ok {
			h.connect = append(h.connect, x)
		}
		if x, ok := v.(PublishObserver); ok {
			h.publish = append(h.publish, x)
		}
		if x, ok := v.(SubscriptionObserver); ok {
			h.subscribe = append(h.subscribe, x)
		}
		if x, ok := v.(ConnectRefusedObserver); ok {
			h.refused = append(h.refused, x)
		}
	}
	return h, nil
}
