package broker

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/internal/packet"
)

// connect reads CONNECT, authenticates the client, attaches its session and
// answers CONNACK. On failure the connection is already closed.
func (c *client) connect() error {
	h, body, err := c.readPacket(c.b.config().ConnectTimeout)
	if err != nil {
		c.closeNow()
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			c.logger().Info("no CONNECT within connect timeout", zap.Duration("connect_timeout", c.b.config().ConnectTimeout))
		} else {
			c.logger().Info("closing connection before CONNECT", zap.Error(err))
		}
		return fmt.Errorf("broker: reading CONNECT: %w", err)
	}
	if h.Type != packet.CONNECT {
		c.closeNow()
		c.logger().Info("first packet is not CONNECT; closing", zap.Uint8("type", uint8(h.Type)))
		return fmt.Errorf("broker: first packet type %d is not CONNECT: %w", h.Type, packet.ProtocolError) // [MQTT-3.1.0-1]
	}
	var cp packet.Connect
	if err := cp.Decode(h.Flags, body, true); err != nil {
		return c.refuseMalformed(&cp, err)
	}
	c.version = cp.Version
	c.info.Version = cp.Version
	if c.b.config().CertCNAsUsername && len(c.info.Certificates) > 0 {
		cp.Username, cp.UsernameFlag = c.info.Certificates[0].Subject.CommonName, true
	}
	c.info.Username = cp.Username

	if drained, err := c.refuseIfDraining(&cp); drained {
		return err
	}
	if rc := c.checkConnect(&cp); rc != packet.Success {
		return c.refuse(&cp, rc, nil)
	}
	var props packet.Properties
	if rc := c.authenticate(&cp, &props); rc != packet.Success {
		return c.refuse(&cp, rc, &props)
	}
	if cp.WillFlag && !c.canPublish(c.b.hooks.Load(), cp.WillTopic) {
		c.logger().Info("will topic not authorized", zap.String("topic", cp.WillTopic))
		return c.refuse(&cp, packet.NotAuthorized, nil)
	}
	c.setupFromConnect(&cp, &props)
	ack := packet.Connack{Props: props}
	claimed := c.claim(&cp)
	defer claimed()
	if err := c.b.attach(c, &cp, &ack); err != nil {
		if errors.Is(err, errMemoryBudget) {
			c.logger().Warn("connection refused: the will does not fit the memory budget", zap.Int("will_bytes", len(cp.WillPayload)))
			return c.refuse(&cp, packet.QuotaExceeded, nil)
		}
		return c.refuse(&cp, packet.ServerUnavailable, nil)
	}
	c.connectBy = time.Time{}
	c.connected.Store(true)
	c.b.stats.connected.Add(1)
	c.b.stats.connectsTotal.Add(1)
	c.logger().Debug("client connected", zap.Uint8("version", cp.Version), zap.Bool("session_present", ack.SessionPresent),
		zap.Duration("keepalive", c.keepAlive))
	c.resume()
	for _, o := range c.b.hooks.Load().connect {
		o.OnConnect(&c.info)
	}
	return nil
}

// refuseMalformed answers a CONNECT that failed to decode.
func (c *client) refuseMalformed(cp *packet.Connect, err error) error {
	var rc packet.ReasonCode
	if errors.As(err, &rc) && rc == packet.UnsupportedProtocolVersion {
		c.version = packet.V311
		if cp.Version == packet.V5 {
			c.version = packet.V5
		}
		c.logger().Info("unsupported protocol version", zap.Uint8("version", cp.Version))
		return c.refuse(cp, packet.UnsupportedProtocolVersion, nil)
	}
	c.b.stats.protocolErrors.Add(1)
	c.logger().Info("malformed CONNECT; closing", zap.Error(err))
	if cp.Version == packet.V5 && errors.As(err, &rc) {
		c.version = packet.V5
		ack := packet.Connack{ReasonCode: rc}
		c.writeControl(&ack)
		c.reportRefused(cp, rc, err)
		c.closeGracefully()
	} else {
		c.closeNow() // [MQTT-3.1.4-1]
		c.reportRefused(cp, packet.MalformedPacket, err)
	}
	return fmt.Errorf("broker: CONNECT: %w", err)
}

// refuse sends a CONNACK refusal to cp, closes [MQTT-3.2.2-5] and tells
// the ConnectRefusedObservers.
func (c *client) refuse(cp *packet.Connect, rc packet.ReasonCode, props *packet.Properties) error {
	c.b.stats.refused.Add(1)
	c.b.stats.refuse(rc)
	if c.reserved { // free the slot now, not after the graceful close
		c.b.slots.Add(-1)
		c.reserved = false
	}
	ack := packet.Connack{ReasonCode: rc}
	if c.version != packet.V5 {
		ack.ReasonCode = packet.ConnackReturnCode(rc)
	} else if props != nil {
		ack.Props = *props
	}
	c.logger().Info("connection refused", zap.Stringer("reason", rc))
	c.writeControl(&ack)
	c.reportRefused(cp, rc, nil)
	c.closeGracefully()
	return fmt.Errorf("broker: connection refused: %w", rc)
}

// reportRefused tells the ConnectRefusedObservers about a refused CONNECT
// (err: its decoding error, if malformed). No lock is held.
func (c *client) reportRefused(cp *packet.Connect, rc packet.ReasonCode, err error) {
	hs := c.b.hooks.Load()
	if len(hs.refused) == 0 {
		return
	}
	r := RefusedConnect{ClientID: cp.ClientID, Username: cp.Username, Version: cp.Version,
		RemoteAddr: c.info.RemoteAddr, LocalAddr: c.info.LocalAddr, Certificates: c.info.Certificates,
		ReasonCode: rc, Err: err}
	if c.idAssigned {
		r.ClientID = ""
	}
	for _, o := range hs.refused {
		o.OnConnectRefused(&r)
	}
}

// checkConnect applies the limits and identifier rules to a CONNECT.
func (c *client) checkConnect(cp *packet.Connect) packet.ReasonCode {
	cfg := c.b.config()
	if len(cfg.ProtocolVersions) > 0 && !slices.Contains(cfg.ProtocolVersions, cp.Version) {
		c.logger().Info("protocol version not allowed", zap.Uint8("version", cp.Version))
		return packet.UnsupportedProtocolVersion
	}
	if !allow(&c.b.limits.connects, 1) {
		c.logger().Warn("connection refused: connect rate exceeded", zap.Float64("max_connect_rate", cfg.MaxConnectRate))
		return packet.ConnectionRateExceeded
	}
	if len(cp.ClientID) > cfg.MaxClientIDLength {
		return packet.ClientIdentifierNotValid
	}
	if cp.ClientID == "" {
		if !cp.CleanStart && cp.Version != packet.V5 {
			return packet.ClientIdentifierNotValid // [MQTT-3.1.3-8]
		}
		cp.ClientID = "auto-" + strconv.FormatUint(uint64(time.Now().UnixNano()), 36) + "-" +
			strconv.FormatUint(c.b.idSeq.Add(1), 36)
		c.idAssigned = true
	}
	c.info.ClientID = cp.ClientID
	if cp.WillFlag {
		if err := packet.ValidateTopicName(cp.WillTopic); err != nil {
			return packet.TopicNameInvalid
		}
		if int(cp.WillQoS) > cfg.MaxQoS {
			return packet.QoSNotSupported
		}
		if cp.WillRetain && cfg.DisableRetain {
			return packet.RetainNotSupported
		}
		if levels(cp.WillTopic) > cfg.MaxTopicLevels {
			return packet.TopicNameInvalid
		}
	}
	// Reserve a connection slot now, so that concurrent CONNECTs cannot
	// overshoot the limit while they authenticate; end releases it.
	if n := c.b.slots.Add(1); n > int64(cfg.MaxConnections) {
		c.b.slots.Add(-1)
		c.logger().Warn("connection refused: maximum connections reached", zap.Int("max_connections", cfg.MaxConnections))
		return packet.QuotaExceeded
	}
	c.reserved = true
	return packet.Success
}

// authenticate runs the Authenticator and EnhancedAuthenticator hooks and
// fills the CONNACK properties they produce.
func (c *client) authenticate(cp *packet.Connect, props *packet.Properties) packet.ReasonCode {
	hs := c.b.hooks.Load()
	if cp.Version == packet.V5 && cp.Props.Has(packet.PropAuthMethod) {
		return c.enhancedAuth(hs, cp, props)
	}
	if len(hs.authn) == 0 {
		return packet.Success
	}
	req := AuthRequest{
		ClientID: cp.ClientID, Username: cp.Username, Password: cp.Password,
		Version: cp.Version, RemoteAddr: c.info.RemoteAddr, Certificates: c.info.Certificates,
	}
	for _, a := range hs.authn {
		if rc := a.Authenticate(&req); rc != packet.Success {
			return rc
		}
	}
	c.info.AuthTag = req.Tag
	return packet.Success
}

// setupFromConnect records what the CONNECT asked for and fills the v5
// CONNACK properties.
func (c *client) setupFromConnect(cp *packet.Connect, props *packet.Properties) {
	cfg := c.b.config()
	ka := int(cp.KeepAlive)
	if cp.Version == packet.V5 {
		switch {
		case cfg.MaxKeepAlive < 65535 && (ka == 0 || ka > cfg.MaxKeepAlive):
			ka = cfg.MaxKeepAlive
		case ka != 0 && ka < cfg.MinKeepAlive:
			ka = cfg.MinKeepAlive
		}
		if ka != int(cp.KeepAlive) {
			props.ServerKeepAlive = uint16(ka)
			props.Set(packet.PropServerKeepAlive)
		}
	}
	c.keepAlive = time.Duration(ka) * time.Second
	c.sendWindow = cfg.MaxInflight
	c.maxOutPacket = packet.MaxRemainingLength + 5
	if cp.Version != packet.V5 {
		return
	}
	if cp.Props.Has(packet.PropReceiveMaximum) && int(cp.Props.ReceiveMaximum) < c.sendWindow {
		c.sendWindow = int(cp.Props.ReceiveMaximum)
	}
	if cp.Props.Has(packet.PropMaximumPacketSize) {
		c.maxOutPacket = int(cp.Props.MaximumPacketSize)
	}
	c.aliasOutMax = cp.Props.TopicAliasMaximum
	c.problemInfo = !cp.Props.Has(packet.PropRequestProblemInfo) || cp.Props.RequestProblemInfo == 1
	if cp.Props.SessionExpiry > cfg.MaxSessionExpiry {
		props.SessionExpiry = cfg.MaxSessionExpiry
		props.Set(packet.PropSessionExpiry)
	}
	if c.idAssigned {
		props.AssignedClientID = cp.ClientID
		props.Set(packet.PropAssignedClientID)
	}
	props.ReceiveMaximum = uint16(cfg.ReceiveMaximum)
	props.Set(packet.PropReceiveMaximum)
	props.MaximumPacketSize = uint32(cfg.MaxPacketSize)
	props.Set(packet.PropMaximumPacketSize)
	props.TopicAliasMaximum = uint16(cfg.TopicAliasMaximum)
	props.Set(packet.PropTopicAliasMaximum)
	if cfg.MaxQoS < 2 {
		props.MaximumQoS = byte(cfg.MaxQoS)
		props.Set(packet.PropMaximumQoS)
	}
	if cfg.DisableRetain {
		props.Set(packet.PropRetainAvailable)
	}
	if cfg.DisableWildcardSubscriptions {
		props.Set(packet.PropWildcardSubAvailable)
	}
	if cfg.DisableSubscriptionIDs {
		props.Set(packet.PropSubIDAvailable)
	}
	if cfg.DisableSharedSubscriptions {
		props.Set(packet.PropSharedSubAvailable)
	}
}

// levels counts the levels of a topic name or filter.
func levels(topic string) int {
	n := 1
	for i := 0; i < len(topic); i++ {
		if topic[i] == '/' {
			n++
		}
	}
	return n
}
