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
	Success                     ReasonCode = 0x00
	ContinueAuthentication      ReasonCode = 0x18
	UnspecifiedError            ReasonCode = 0x80
	MalformedPacket             ReasonCode = 0x81
	ProtocolError               ReasonCode = 0x82
	ImplementationSpecificError ReasonCode = 0x83
	UnsupportedProtocolVersion  ReasonCode = 0x84
	ClientIdentifierNotValid    ReasonCode = 0x85
	BadUsernameOrPassword       ReasonCode = 0x86
	NotAuthorized               ReasonCode = 0x87
	ServerUnavailable           ReasonCode = 0x88
	ServerBusy                  ReasonCode = 0x89
	Banned                      ReasonCode = 0x8A
	ServerShuttingDown          ReasonCode = 0x8B
	BadAuthenticationMethod     ReasonCode = 0x8C
	TopicNameInvalid            ReasonCode = 0x90
	QuotaExceeded               ReasonCode = 0x97
	AdministrativeAction        ReasonCode = 0x98
	QoSNotSupported             ReasonCode = 0x9B
	UseAnotherServer            ReasonCode = 0x9C
	ServerMoved                 ReasonCode = 0x9D
	ConnectionRateExceeded      ReasonCode = 0x9F
)
