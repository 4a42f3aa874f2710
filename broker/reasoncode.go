package broker

import "github.com/jmqx/jmqx/internal/packet"

// ReasonCode is an MQTT 5 reason code: what a hook returns to accept
// (Success) or to refuse, and what Disconnect sends. 3.x clients get the
// nearest code their version has. It implements error; String returns the
// name the specification gives it.
type ReasonCode = packet.ReasonCode

// The reason codes hooks and applications use. Authenticators return
// Success or a CONNACK refusal (usually BadUsernameOrPassword,
// NotAuthorized, Banned or ServerBusy); EnhancedAuthenticators also
// ContinueAuthentication and BadAuthenticationMethod; Disconnect takes the
// DISCONNECT ones (AdministrativeAction, UseAnotherServer, ServerMoved,
// ServerShuttingDown...). Every other code of the specification converts
// from its number: ReasonCode(0x97).
const (
	Success                     = packet.Success
	ContinueAuthentication      = packet.ContinueAuthentication
	UnspecifiedError            = packet.UnspecifiedError
	MalformedPacket             = packet.MalformedPacket
	ProtocolError               = packet.ProtocolError
	ImplementationSpecificError = packet.ImplementationSpecificError
	UnsupportedProtocolVersion  = packet.UnsupportedProtocolVersion
	ClientIdentifierNotValid    = packet.ClientIdentifierNotValid
	BadUsernameOrPassword       = packet.BadUsernameOrPassword
	NotAuthorized               = packet.NotAuthorized
	ServerUnavailable           = packet.ServerUnavailable
	ServerBusy                  = packet.ServerBusy
	Banned                      = packet.Banned
	ServerShuttingDown          = packet.ServerShuttingDown
	BadAuthenticationMethod     = packet.BadAuthenticationMethod
	TopicNameInvalid            = packet.TopicNameInvalid
	QuotaExceeded               = packet.QuotaExceeded
	AdministrativeAction        = packet.AdministrativeAction
	QoSNotSupported             = packet.QoSNotSupported
	UseAnotherServer            = packet.UseAnotherServer
	ServerMoved                 = packet.ServerMoved
	ConnectionRateExceeded      = packet.ConnectionRateExceeded
)
