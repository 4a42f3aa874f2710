package packet

import "strconv"

// reasonNames holds the specification's name of each reason code. Where a
// code has several names (0x00 is also "Normal disconnection" and "Granted
// QoS 0"), the first one in the specification's table is used.
var reasonNames = map[ReasonCode]string{
	Success:                           "Success",
	GrantedQoS1:                       "Granted QoS 1",
	GrantedQoS2:                       "Granted QoS 2",
	DisconnectWithWill:                "Disconnect with Will Message",
	NoMatchingSubscribers:             "No matching subscribers",
	NoSubscriptionExisted:             "No subscription existed",
	ContinueAuthentication:            "Continue authentication",
	ReAuthenticate:                    "Re-authenticate",
	UnspecifiedError:                  "Unspecified error",
	MalformedPacket:                   "Malformed Packet",
	ProtocolError:                     "Protocol Error",
	ImplementationSpecificError:       "Implementation specific error",
	UnsupportedProtocolVersion:        "Unsupported Protocol Version",
	ClientIdentifierNotValid:          "Client Identifier not valid",
	BadUsernameOrPassword:             "Bad User Name or Password",
	NotAuthorized:                     "Not authorized",
	ServerUnavailable:                 "Server unavailable",
	ServerBusy:                        "Server busy",
	Banned:                            "Banned",
	ServerShuttingDown:                "Server shutting down",
	BadAuthenticationMethod:           "Bad authentication method",
	KeepAliveTimeout:                  "Keep Alive timeout",
	SessionTakenOver:                  "Session taken over",
	TopicFilterInvalid:                "Topic Filter invalid",
	TopicNameInvalid:                  "Topic Name invalid",
	PacketIdentifierInUse:             "Packet Identifier in use",
	PacketIdentifierNotFound:          "Packet Identifier not found",
	ReceiveMaximumExceeded:            "Receive Maximum exceeded",
	TopicAliasInvalid:                 "Topic Alias invalid",
	PacketTooLarge:                    "Packet too large",
	MessageRateTooHigh:                "Message rate too high",
	QuotaExceeded:                     "Quota exceeded",
	AdministrativeAction:              "Administrative action",
	PayloadFormatInvalid:              "Payload format invalid",
	RetainNotSupported:                "Retain not supported",
	QoSNotSupported:                   "QoS not supported",
	UseAnotherServer:                  "Use another server",
	ServerMoved:                       "Server moved",
	SharedSubscriptionsNotSupported:   "Shared Subscriptions not supported",
	ConnectionRateExceeded:            "Connection rate exceeded",
	MaximumConnectTime:                "Maximum connect time",
	SubscriptionIDsNotSupported:       "Subscription Identifiers not supported",
	WildcardSubscriptionsNotSupported: "Wildcard Subscriptions not supported",
}

// reasonName returns the name of c, or "reason code 0xNN" for codes the
// specification does not define.
func reasonName(c ReasonCode) string {
	if s, ok := reasonNames[c]; ok {
		return s
	}
	return "reason code 0x" + strconv.FormatUint(uint64(c), 16)
}
