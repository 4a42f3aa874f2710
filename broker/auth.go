package broker

import (
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/internal/packet"
)

// enhancedAuth runs MQTT 5 enhanced authentication for a CONNECT carrying
// an Authentication Method: AUTH packets go back and forth until the hook
// accepts or refuses [MQTT-4.12.0-*].
func (c *client) enhancedAuth(hs *hookSet, cp *packet.Connect, props *packet.Properties) packet.ReasonCode {
	method := cp.Props.AuthMethod
	var h EnhancedAuthenticator
	for _, e := range hs.enhanced {
		if e.Supports(method) {
			h = e
			break
		}
	}
	if h == nil {
		c.logger().Info("unsupported authentication method", zap.String("method", method))
		return packet.BadAuthenticationMethod // [MQTT-4.12.0-1]
	}
	x := &AuthExchange{Client: &c.info, Method: method, In: cp.Props.AuthData}
	deadline := c.connectBy // bounds the whole exchange
	for {
		x.Out = nil
		rc := h.Exchange(x)
		switch rc {
		case packet.Success:
			c.authMethod = method
			c.enhancedState = x
			setAuthProps(props, method, x.Out)
			return packet.Success
		case packet.ContinueAuthentication:
		default:
			return rc
		}
		auth := packet.Auth{ReasonCode: packet.ContinueAuthentication}
		setAuthProps(&auth.Props, method, x.Out)
		c.writeControl(&auth)
		left := time.Until(deadline)
		if left <= 0 {
			c.logger().Info("enhanced authentication not finished within connect timeout")
			return packet.NotAuthorized
		}
		h2, body, err := c.readPacket(left)
		if err != nil {
			return packet.NotAuthorized
		}
		if h2.Type != packet.AUTH {
			return packet.ProtocolError
		}
		var in packet.Auth
		if err := in.Decode(h2.Flags, body, packet.V5, true); err != nil {
			return packet.MalformedPacket
		}
		if in.ReasonCode != packet.ContinueAuthentication || in.Props.AuthMethod != method {
			return packet.ProtocolError // [MQTT-4.12.0-5]
		}
		x.In = in.Props.AuthData
		x.Step++
	}
}

// reauth handles an AUTH packet after CONNACK: re-authentication with the
// same method [MQTT-4.12.1-1]. A refusal ends the connection.
func (c *client) reauth(in *packet.Auth) error {
	if c.enhancedState == nil || in.Props.AuthMethod != c.authMethod {
		return protoErr("AUTH without enhanced authentication or with another method", packet.ProtocolError)
	}
	if in.ReasonCode != packet.ReAuthenticate && in.ReasonCode != packet.ContinueAuthentication {
		return protoErr("AUTH reason code", packet.ProtocolError)
	}
	var h EnhancedAuthenticator
	for _, e := range c.b.hooks.Load().enhanced {
		if e.Supports(c.authMethod) {
			h = e
			break
		}
	}
	if h == nil {
		return protoErr("authentication method no longer supported", packet.NotAuthorized)
	}
	x := c.enhancedState
	if in.ReasonCode == packet.ReAuthenticate {
		x.Step, x.State = 0, nil
	} else {
		x.Step++
	}
	x.In, x.Out = in.Props.AuthData, nil
	rc := h.Exchange(x)
	if rc != packet.Success && rc != packet.ContinueAuthentication {
		return protoErr("re-authentication refused", rc)
	}
	out := packet.Auth{ReasonCode: rc}
	setAuthProps(&out.Props, c.authMethod, x.Out)
	c.writeControl(&out)
	return nil
}

// setAuthProps sets the Authentication Method and, if any, the
// Authentication Data of an AUTH or CONNACK.
func setAuthProps(p *packet.Properties, method string, data []byte) {
	p.AuthMethod = method
	p.Set(packet.PropAuthMethod)
	if len(data) > 0 {
		p.AuthData = data
		p.Set(packet.PropAuthData)
	}
}
