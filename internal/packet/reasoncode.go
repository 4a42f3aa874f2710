package packet

// ReasonCode is an MQTT 5 reason code (and, for CONNACK in 3.x, a Connect
// Return Code). It implements error so that decode failures can be wrapped
// with context and recovered with errors.As.
type ReasonCode byte

// Reason codes [MQTT-2.4].
const (
	Success                           ReasonCode = 0x00 // also Normal disconnection, Granted QoS 0
	GrantedQoS1                       ReasonCode = 0x01
	GrantedQoS2                       ReasonCode = 0x02
	DisconnectWithWill                ReasonCode = 0x04
	NoMatchingSubscribers             ReasonCode = 0x10
	NoSubscriptionExisted             ReasonCode = 0x11
	ContinueAuthentication            ReasonCode = 0x18
	ReAuthenticate                    ReasonCode = 0x19
	UnspecifiedError                  ReasonCode = 0x80
	MalformedPacket                   ReasonCode = 0x81
	ProtocolError                     ReasonCode = 0x82
	ImplementationSpecificError       ReasonCode = 0x83
	UnsupportedProtocolVersion        ReasonCode = 0x84
	ClientIdentifierNotValid          ReasonCode = 0x85
	BadUsernameOrPassword             ReasonCode = 0x86
	NotAuthorized                     ReasonCode = 0x87
	ServerUnavailable                 ReasonCode = 0x88
	ServerBusy                        ReasonCode = 0x89
	Banned                            ReasonCode = 0x8A
	ServerShuttingDown                ReasonCode = 0x8B
	BadAuthenticationMethod           ReasonCode = 0x8C
	KeepAliveTimeout                  ReasonCode = 0x8D
	SessionTakenOver                  ReasonCode = 0x8E
	TopicFilterInvalid                ReasonCode = 0x8F
	TopicNameInvalid                  ReasonCode = 0x90
	PacketIdentifierInUse             ReasonCode = 0x91
	PacketIdentifierNotFound          ReasonCode = 0x92
	ReceiveMaximumExceeded            ReasonCode = 0x93
	TopicAliasInvalid                 ReasonCode = 0x94
	PacketTooLarge                    ReasonCode = 0x95
	MessageRateTooHigh                ReasonCode = 0x96
	QuotaExceeded                     ReasonCode = 0x97
	AdministrativeAction              ReasonCode = 0x98
	PayloadFormatInvalid              ReasonCode = 0x99
	RetainNotSupported                ReasonCode = 0x9A
	QoSNotSupported                   ReasonCode = 0x9B
	UseAnotherServer                  ReasonCode = 0x9C
	ServerMoved                       ReasonCode = 0x9D
	SharedSubscriptionsNotSupported   ReasonCode = 0x9E
	ConnectionRateExceeded            ReasonCode = 0x9F
	MaximumConnectTime                ReasonCode = 0xA0
	SubscriptionIDsNotSupported       ReasonCode = 0xA1
	WildcardSubscriptionsNotSupported ReasonCode = 0xA2
)

// MQTT 3.x Connect Return Codes [MQTT-3.2.2.3].
const (
	ConnAccepted                 ReasonCode = 0x00
	ConnRefusedProtocolVersion   ReasonCode = 0x01
	ConnRefusedIdentifier        ReasonCode = 0x02
	ConnRefusedServerUnavailable ReasonCode = 0x03
	ConnRefusedBadCredentials    ReasonCode = 0x04
	ConnRefusedNotAuthorized     ReasonCode = 0x05
)

// Error implements error.
func (c ReasonCode) Error() string { return c.String() }

// IsError reports whether c signals a failure (0x80 or above).
func (c ReasonCode) IsError() bool { return c >= 0x80 }

// String returns the reason code's name from the specification.
func (c ReasonCode) String() string { return reasonName(c) }

// ConnackReturnCode maps a v5 CONNACK reason code to the nearest MQTT 3.x
// Connect Return Code: Success to 0, UnsupportedProtocolVersion to 1,
// ClientIdentifierNotValid to 2, ServerUnavailable, ServerBusy,
// QuotaExceeded and ConnectionRateExceeded to 3 (server unavailable),
// BadUsernameOrPassword to 4, and every other failure to 5 (not
// authorized). Codes 1 to 5 are already 3.x codes and are returned as is.
func ConnackReturnCode(rc ReasonCode) ReasonCode {
	switch rc {
	case Success, ConnRefusedProtocolVersion, ConnRefusedIdentifier,
		ConnRefusedServerUnavailable, ConnRefusedBadCredentials, ConnRefusedNotAuthorized:
		return rc
	case UnsupportedProtocolVersion:
		return ConnRefusedProtocolVersion
	case ClientIdentifierNotValid:
		return ConnRefusedIdentifier
	case ServerUnavailable, ServerBusy, QuotaExceeded, ConnectionRateExceeded:
		return ConnRefusedServerUnavailable
	case BadUsernameOrPassword:
		return ConnRefusedBadCredentials
	}
	return ConnRefusedNotAuthorized
}

// codeSet is a set of reason codes.
type codeSet [4]uint64

// newCodeSet returns the set of codes cs.
func newCodeSet(cs ...ReasonCode) codeSet {
	var s codeSet
	for _, c := range cs {
		s[c>>6] |= 1 << (c & 63)
	}
	return s
}

// has reports whether c is in s.
func (s *codeSet) has(c ReasonCode) bool { return s[c>>6]&(1<<(c&63)) != 0 }

// The reason codes each v5 packet may carry (MQTT 5 §3.x.2.1), and the
// SUBACK return codes of 3.1.1 [MQTT-3.9.3-2].
var (
	connackCodes = newCodeSet(Success, UnspecifiedError, MalformedPacket, ProtocolError,
		ImplementationSpecificError, UnsupportedProtocolVersion, ClientIdentifierNotValid,
		BadUsernameOrPassword, NotAuthorized, ServerUnavailable, ServerBusy, Banned,
		BadAuthenticationMethod, TopicNameInvalid, PacketTooLarge, QuotaExceeded,
		PayloadFormatInvalid, RetainNotSupported, QoSNotSupported, UseAnotherServer,
		ServerMoved, ConnectionRateExceeded)
	pubackCodes = newCodeSet(Success, NoMatchingSubscribers, UnspecifiedError,
		ImplementationSpecificError, NotAuthorized, TopicNameInvalid, PacketIdentifierInUse,
		QuotaExceeded, PayloadFormatInvalid)
	pubrelCodes = newCodeSet(Success, PacketIdentifierNotFound)
	subackCodes = newCodeSet(Success, GrantedQoS1, GrantedQoS2, UnspecifiedError,
		ImplementationSpecificError, NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse,
		QuotaExceeded, SharedSubscriptionsNotSupported, SubscriptionIDsNotSupported,
		WildcardSubscriptionsNotSupported)
	subackCodes3  = newCodeSet(Success, GrantedQoS1, GrantedQoS2, UnspecifiedError)
	unsubackCodes = newCodeSet(Success, NoSubscriptionExisted, UnspecifiedError,
		ImplementationSpecificError, NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse)
	disconnectCodes = newCodeSet(Success, DisconnectWithWill, UnspecifiedError, MalformedPacket,
		ProtocolError, ImplementationSpecificError, NotAuthorized, ServerBusy, ServerShuttingDown,
		KeepAliveTimeout, SessionTakenOver, TopicFilterInvalid, TopicNameInvalid,
		ReceiveMaximumExceeded, TopicAliasInvalid, PacketTooLarge, MessageRateTooHigh,
		QuotaExceeded, AdministrativeAction, PayloadFormatInvalid, RetainNotSupported,
		QoSNotSupported, UseAnotherServer, ServerMoved, SharedSubscriptionsNotSupported,
		ConnectionRateExceeded, MaximumConnectTime, SubscriptionIDsNotSupported,
		WildcardSubscriptionsNotSupported)
	authCodes = newCodeSet(Success, ContinueAuthentication, ReAuthenticate)
)
