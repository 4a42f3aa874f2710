package broker

import (
	"testing"

	"github.com/jmqx/jmqx/internal/packet"
)

// The reason codes hook authors use are the codec's, value for value.
func TestReasonCodesMatchCodec(t *testing.T) {
	for _, c := range []struct{ ours, codec ReasonCode }{
		{Success, packet.Success}, {ContinueAuthentication, packet.ContinueAuthentication},
		{UnspecifiedError, packet.UnspecifiedError}, {MalformedPacket, packet.MalformedPacket},
		{ProtocolError, packet.ProtocolError}, {ImplementationSpecificError, packet.ImplementationSpecificError},
		{UnsupportedProtocolVersion, packet.UnsupportedProtocolVersion}, {ClientIdentifierNotValid, packet.ClientIdentifierNotValid},
		{BadUsernameOrPassword, packet.BadUsernameOrPassword}, {NotAuthorized, packet.NotAuthorized},
		{ServerUnavailable, packet.ServerUnavailable}, {ServerBusy, packet.ServerBusy}, {Banned, packet.Banned},
		{ServerShuttingDown, packet.ServerShuttingDown}, {BadAuthenticationMethod, packet.BadAuthenticationMethod},
		{TopicNameInvalid, packet.TopicNameInvalid}, {QuotaExceeded, packet.QuotaExceeded},
		{AdministrativeAction, packet.AdministrativeAction}, {QoSNotSupported, packet.QoSNotSupported},
		{UseAnotherServer, packet.UseAnotherServer}, {ServerMoved, packet.ServerMoved},
		{ConnectionRateExceeded, packet.ConnectionRateExceeded},
	} {
		if c.ours != c.codec {
			t.Errorf("%v: %#02x, codec %#02x", c.ours, byte(c.ours), byte(c.codec))
		}
	}
}
