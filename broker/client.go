package broker

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/internal/packet"
)

// client is one network connection speaking MQTT. The reader goroutine
// (run) owns the inbound fields; outbound bytes go through wmu.
type client struct {
	b    *Broker
	conn net.Conn
	info ClientInfo
	raw  rawConn // readiness waiting without a buffer; nil if unsupported

	// Set during CONNECT, then read-only.
	version       byte
	keepAlive     time.Duration // 0: none
	sess          *session
	sendWindow    int    // outbound inflight window (client's Receive Maximum, capped)
	maxOutPacket  int    // client's Maximum Packet Size
	aliasOutMax   uint16 // client's Topic Alias Maximum
	problemInfo   bool   // client's Request Problem Information
	authMethod    string
	idAssigned    bool
	reserved      bool // holds a MaxConnections slot
	enhancedState *AuthExchange
	connected     atomic.Bool // CONNACK success sent
	graceful      bool        // close with closeGracefully; reader-owned

	// Reader-owned.
	rbuf       []byte // pooled read buffer; nil while idle
	rbufCharge int64  // size of rbuf when it is not pooled, charged to the memory budget
	rstart     int
	rend       int
	// connectBy is the deadline of the whole CONNECT exchange; zero once
	// the client is connected.
	connectBy time.Time
	sc        *scratch // pooled decode and routing scratch; nil while idle
	aliasesIn []string // v5 inbound topic aliases, index = alias
	// aliasInBytes is the topic bytes of aliasesIn, charged to the memory
	// budget.
	aliasInBytes int64
	limits       clientLimits

	// Flow control (flow.go), guarded by ackMu.
	ackMu    sync.Mutex
	waits    int
	deferred []deferredAck
	heldQoS1 int // QoS 1 acknowledgements among deferred

	// Guarded by the session's mu (all PUBLISH sends to this client).
	aliasesOut    map[string]uint16
	aliasOutBytes int // topic bytes in aliasesOut
	// orphanWill is the will of this connection after another took its
	// session over; published when this one ends, unless cleanly.
	orphanWill *will

	// Outbound, guarded by wmu.
	wmu        sync.Mutex
	out        []byte
	outCharge  int64 // capacity of out beyond writeBufSize, charged to the memory budget
	outWaiting bool  // a QoS 1/2 PUBLISH found out full: refill once it drains
	spare      []byte
	flushing   bool
	writerIdle bool          // the writer waits on wake
	wake       chan struct{} // wakes an idle writer
	wclosed    bool
	flushed    chan struct{} // closed when a flush run ends, if set

	kickOnce  sync.Once
	kickCode  atomic.Uint32 // reason code + 1 of a server-side disconnect; 0: none
	kickCause atomic.Pointer[error]
	kickRef   string // Server Reference of the kick's DISCONNECT; set before kickCode
}

func newClient(b *Broker, conn net.Conn) *client {
	c := &client{b: b, conn: conn, connectBy: time.Now().Add(b.config().ConnectTimeout)}
	c.info.RemoteAddr = conn.RemoteAddr()
	c.info.LocalAddr = conn.LocalAddr()
	c.raw = newRawConn(conn)
	return c
}

// scratch is the per-packet working memory of an active connection's
// reader, taken from a pool while packets arrive and given back when the
// connection goes idle.
type scratch struct {
	pub   packet.Publish
	ack   packet.Ack
	sub   packet.Subscribe
	unsub packet.Unsubscribe
	route route
	view  Message
}

// maxPooledRouteBuf bounds the encoded-forms buffer kept in pooled scratch.
const maxPooledRouteBuf = 64 << 10

// logger returns the broker's logger tagged with this connection. It
// allocates: use it on paths that log, not per packet.
func (c *client) logger() *zap.Logger {
	if c.info.ClientID == "" {
		return c.b.log.With(zap.Stringer("remote", c.info.RemoteAddr))
	}
	return c.b.log.With(zap.String("client", c.info.ClientID), zap.Stringer("remote", c.info.RemoteAddr))
}

// run serves the connection until it ends. The packet loop runs on a fresh
// goroutine once the client is connected, so that the deep call chains of
// the CONNECT exchange do not leave a grown stack on every idle connection.
func (c *client) run() {
	if err := c.serve(); err != nil {
		c.end(err, false)
		return
	}
	go c.runLoop()
}

func (c *client) runLoop() {
	cause, clean := c.loop()
	c.end(cause, clean)
}

// end finishes the connection: the session is detached before the
// (possibly slow) graceful close, so that a client reconnecting at once
// finds it released.
func (c *client) end(cause error, clean bool) {
	defer c.b.connWG.Done()
	defer c.b.removeClient(c)
	c.b.mem.release(c.aliasInBytes)
	c.finish(cause, clean)
	if c.reserved {
		c.b.slots.Add(-1)
	}
	if c.graceful {
		c.closeGracefully()
	}
	c.closeNow()
}

// serve runs the TLS handshake (for TLS connections) and the CONNECT
// exchange.
func (c *client) serve() error {
	if tc, ok := c.conn.(*tls.Conn); ok {
		_ = tc.SetDeadline(c.connectBy)
		if err := tc.Handshake(); err != nil {
			c.logger().Info("TLS handshake failed", zap.Error(err))
			c.closeNow()
			return err
		}
		_ = tc.SetDeadline(time.Time{})
	}
	// TLS connections, and secure WebSocket connections that expose their
	// TLS state, carry the verified client certificates to the hooks.
	if cs, ok := c.conn.(interface{ ConnectionState() tls.ConnectionState }); ok {
		if st := cs.ConnectionState(); len(st.VerifiedChains) > 0 {
			c.info.Certificates = st.PeerCertificates
		}
	}
	return c.connect()
}

// loop reads and handles packets until the connection ends.
func (c *client) loop() (cause error, clean bool) {
	for {
		h, body, err := c.readPacket(c.keepAlive + c.keepAlive/2)
		if err != nil {
			return c.readFailed(err), false
		}
		done, err := c.handle(h, body)
		if err == errDisconnectWithWill {
			return err, false
		}
		if err != nil {
			return c.protocolFailure(err), false
		}
		if done {
			c.graceful = true
			return nil, true
		}
	}
}

// readFailed turns a read error into the connection's end, sending a
// DISCONNECT first when the error is ours to report.
func (c *client) readFailed(err error) error {
	if code := c.kickCode.Load(); code != 0 {
		cause := *c.kickCause.Load()
		c.disconnectRef(packet.ReasonCode(code-1), c.kickRef)
		return cause
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.logger().Info("keep alive timeout", zap.String("client", c.info.ClientID), zap.Duration("keepalive", c.keepAlive))
		c.disconnect(packet.KeepAliveTimeout)
		return ErrKeepAliveTimeout
	}
	var rc packet.ReasonCode
	if errors.As(err, &rc) {
		return c.protocolFailure(err)
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	c.logger().Debug("connection lost", zap.String("client", c.info.ClientID), zap.Error(err))
	c.closeNow()
	return err
}

// protocolFailure ends the connection for a client error: DISCONNECT with
// the reason code for v5, a plain close for 3.x [MQTT-4.13.1-1].
func (c *client) protocolFailure(err error) error {
	rc := packet.ProtocolError
	_ = errors.As(err, &rc)
	c.b.stats.protocolErrors.Add(1)
	c.b.stats.refuse(rc)
	c.logger().Info("closing connection: client error", zap.String("client", c.info.ClientID),
		zap.Stringer("reason", rc), zap.Error(err))
	c.disconnect(rc)
	return err
}

// kick asks the reader goroutine to end the connection with a server
// DISCONNECT carrying rc (v5), for cause. Safe from any goroutine.
func (c *client) kick(rc packet.ReasonCode, cause error) { c.kickTo(rc, "", cause) }

// kickTo is kick with a Server Reference (for UseAnotherServer and
// ServerMoved) when ref is not empty.
func (c *client) kickTo(rc packet.ReasonCode, ref string, cause error) {
	c.kickOnce.Do(func() {
		c.kickRef = ref
		c.kickCause.Store(&cause)
		c.kickCode.Store(uint32(rc) + 1)
		_ = c.conn.SetReadDeadline(time.Unix(1, 0))
	})
}

// disconnect sends a v5 DISCONNECT with rc (if the client is connected and
// speaks v5) and marks the connection for a graceful close.
func (c *client) disconnect(rc packet.ReasonCode) { c.disconnectRef(rc, "") }

// disconnectRef is disconnect with a Server Reference when ref is not empty.
func (c *client) disconnectRef(rc packet.ReasonCode, ref string) {
	if c.version == packet.V5 && c.connected.Load() {
		d := packet.Disconnect{ReasonCode: rc}
		if ref != "" {
			d.Props.ServerReference = ref
			d.Props.Set(packet.PropServerReference)
		}
		c.writeControl(&d)
	}
	c.graceful = true
}

// closeGracefully flushes what is queued, half-closes the connection and
// reads until the peer closes (bounded by a short deadline), so that the
// peer reads our last packets instead of getting a reset.
func (c *client) closeGracefully() {
	c.waitFlushed(2 * time.Second)
	if cw, ok := c.conn.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			_ = c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			var scratch [512]byte
			for i := 0; i < 1024; i++ {
				if _, err := c.conn.Read(scratch[:]); err != nil {
					break
				}
			}
		}
	}
	c.closeNow()
}

// closeNow closes the connection and stops the writer.
func (c *client) closeNow() {
	c.wmu.Lock()
	c.wclosed = true
	if c.writerIdle { // wake the writer so that it ends now
		c.writerIdle = false
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	c.wmu.Unlock()
	_ = c.conn.Close()
	c.dropReadBuffer()
	if c.sc != nil {
		c.b.putScratch(c.sc)
		c.sc = nil
	}
}

// finish runs once the connection has ended: it detaches the session,
// schedules its will and expiry, and tells the observers.
func (c *client) finish(cause error, clean bool) {
	if !c.connected.Load() {
		return
	}
	c.b.stats.connected.Add(-1)
	c.b.detach(c, clean)
	hs := c.b.hooks.Load()
	for _, o := range hs.connect {
		if clean {
			o.OnDisconnect(&c.info)
		} else {
			o.OnConnectionLost(&c.info, cause)
		}
	}
}
