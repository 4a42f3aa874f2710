package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
	"github.com/jmqx/jmqx/internal/testwait"
)

// waitFor is the default deadline for anything a test waits on.
const waitFor = 5 * time.Second

// pahoIgnores lists goroutines of the paho clients that may still be
// unwinding when a leak check runs; none of them may belong to the broker.
// Empty so far: both paho clients end all their goroutines on disconnect.
func pahoIgnores() []goleak.Option {
	return nil
}

// ---------------------------------------------------------------- broker

// node is one broker serving a loopback listener.
type node struct {
	b    *broker.Broker
	addr string
}

// startBroker starts a broker on 127.0.0.1:0 with cfg (a zero SysInterval
// turns $SYS off unless the test sets it) and a test logger; t.Cleanup shuts
// it down and checks that Serve returned.
func startBroker(t testing.TB, cfg broker.Config, opts ...broker.Option) *node {
	t.Helper()
	if cfg.SysInterval == 0 {
		cfg.SysInterval = -1
	}
	log := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	b, err := broker.New(cfg, append([]broker.Option{broker.WithLogger(log)}, opts...)...)
	if err != nil {
		t.Fatalf("broker.New: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- b.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		_ = l.Close()
		if err := <-served; err != nil && !errors.Is(err, broker.ErrClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return &node{b: b, addr: l.Addr().String()}
}

// eventually calls f until it returns nil, failing the test with f's last
// error after d.
func eventually(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	testwait.Until(t, d, f)
}

// ---------------------------------------------------------------- messages

// msg is an application message as a test client received it.
type msg struct {
	Topic   string
	Payload string
	QoS     byte
	Retain  bool
	Dup     bool
	Props   *paho.PublishProperties // MQTT 5 only
}

func (m msg) String() string {
	return fmt.Sprintf("%s %q qos=%d retain=%t dup=%t", m.Topic, m.Payload, m.QoS, m.Retain, m.Dup)
}

// expectMessage returns the next message received on ch, failing after
// timeout.
func expectMessage(t *testing.T, ch <-chan msg, timeout time.Duration) msg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(timeout):
		t.Fatalf("no message within %s", timeout)
		return msg{}
	}
}

// expectNoMessage asserts that the next message on ch is the sentinel (its
// payload), which the test publishes after the messages that must not
// arrive, on a path that delivers in order after them.
func expectNoMessage(t *testing.T, ch <-chan msg, sentinel string) {
	t.Helper()
	if m := expectMessage(t, ch, waitFor); m.Payload != sentinel {
		t.Fatalf("unexpected message %v before sentinel %q", m, sentinel)
	}
}

// expectNoMessageWithin asserts that nothing arrives on ch for d. Only for
// events the broker triggers by a clock (will delay, expiry), where no
// sentinel can be ordered after them.
func expectNoMessageWithin(t *testing.T, ch <-chan msg, d time.Duration) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected message %v", m)
	case <-time.After(d):
	}
}

// collectUntil returns the messages on ch before the sentinel payload.
func collectUntil(t *testing.T, ch <-chan msg, sentinel string) []msg {
	t.Helper()
	var got []msg
	for {
		m := expectMessage(t, ch, waitFor)
		if m.Payload == sentinel {
			return got
		}
		got = append(got, m)
	}
}

// ---------------------------------------------------------------- MQTT 5

// v5Client is a paho.golang client whose received messages go to msgs.
type v5Client struct {
	*paho.Client
	t           *testing.T
	conn        net.Conn
	connack     *paho.Connack
	msgs        chan msg
	disconnects chan *paho.Disconnect // DISCONNECT packets from the server
}

// v5Option adjusts the client configuration or the CONNECT packet.
type v5Option func(*paho.ClientConfig, *paho.Connect)

func connectProps(cp *paho.Connect) *paho.ConnectProperties {
	if cp.Properties == nil {
		cp.Properties = &paho.ConnectProperties{}
	}
	return cp.Properties
}

func cleanStart(clean bool) v5Option {
	return func(_ *paho.ClientConfig, cp *paho.Connect) { cp.CleanStart = clean }
}

func sessionExpiry(seconds uint32) v5Option {
	return func(_ *paho.ClientConfig, cp *paho.Connect) { connectProps(cp).SessionExpiryInterval = &seconds }
}

func keepAlive(seconds uint16) v5Option {
	return func(_ *paho.ClientConfig, cp *paho.Connect) { cp.KeepAlive = seconds }
}

func receiveMaximum(n uint16) v5Option {
	return func(_ *paho.ClientConfig, cp *paho.Connect) { connectProps(cp).ReceiveMaximum = &n }
}

func maximumPacketSize(n uint32) v5Option {
	return func(_ *paho.ClientConfig, cp *paho.Connect) { connectProps(cp).MaximumPacketSize = &n }
}

func credentials(user, pass string) v5Option {
	return func(_ *paho.ClientConfig, cp *paho.Connect) {
		cp.Username, cp.UsernameFlag = user, true
		cp.Password, cp.PasswordFlag = []byte(pass), true
	}
}

// will sets a Will Message with a Will Delay Interval (0: none).
func will(topic, payload string, qos byte, delay uint32) v5Option {
	return func(_ *paho.ClientConfig, cp *paho.Connect) {
		cp.WillMessage = &paho.WillMessage{Topic: topic, Payload: []byte(payload), QoS: qos}
		if delay > 0 {
			cp.WillProperties = &paho.WillProperties{WillDelayInterval: &delay}
		}
	}
}

// connectV5 dials n and sends CONNECT. On a refusal it returns the CONNACK
// (if any) and the error; the connection is then closed.
func connectV5(t *testing.T, n *node, clientID string, opts ...v5Option) (*v5Client, error) {
	t.Helper()
	conn, err := net.Dial("tcp", n.addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := &v5Client{t: t, conn: conn, msgs: make(chan msg, 4096), disconnects: make(chan *paho.Disconnect, 1)}
	cfg := paho.ClientConfig{
		Conn:          conn,
		PacketTimeout: waitFor,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			p := pr.Packet
			c.msgs <- msg{Topic: p.Topic, Payload: string(p.Payload), QoS: p.QoS, Retain: p.Retain, Dup: p.Duplicate(), Props: p.Properties}
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { c.disconnects <- d },
	}
	cp := paho.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: true}
	for _, o := range opts {
		o(&cfg, &cp)
	}
	c.Client = paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c.connack, err = c.Connect(ctx, &cp)
	if err != nil {
		_ = conn.Close()
		return c, err
	}
	t.Cleanup(func() {
		select {
		case <-c.Done():
		default:
			_ = c.Disconnect(&paho.Disconnect{})
		}
		<-c.Done()
	})
	return c, nil
}

// dialV5 connects an MQTT 5 client and fails the test if it is refused.
func dialV5(t *testing.T, n *node, clientID string, opts ...v5Option) *v5Client {
	t.Helper()
	c, err := connectV5(t, n, clientID, opts...)
	if err != nil {
		t.Fatalf("connect %q: %v (connack %+v)", clientID, err, c.connack)
	}
	return c
}

// subscribe subscribes to one filter and returns the SUBACK reason code.
func (c *v5Client) subscribe(filter string, qos byte) byte {
	c.t.Helper()
	return c.subscribeWith(nil, paho.SubscribeOptions{Topic: filter, QoS: qos})
}

// subscribeWith subscribes with full options and optional properties.
func (c *v5Client) subscribeWith(props *paho.SubscribeProperties, opts ...paho.SubscribeOptions) byte {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Properties: props, Subscriptions: opts})
	if err != nil && sa == nil {
		c.t.Fatalf("subscribe %v: %v", opts, err)
	}
	return sa.Reasons[0]
}

// publish publishes and waits for the acknowledgement (QoS 1 and 2),
// returning its reason code.
func (c *v5Client) publish(topic, payload string, qos byte, retain bool) byte {
	c.t.Helper()
	return c.publishWith(&paho.Publish{Topic: topic, Payload: []byte(payload), QoS: qos, Retain: retain})
}

func (c *v5Client) publishWith(p *paho.Publish) byte {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	r, err := c.Publish(ctx, p)
	if r == nil {
		if err != nil {
			c.t.Fatalf("publish %s: %v", p.Topic, err)
		}
		return 0
	}
	return r.ReasonCode
}

// drop closes the network connection without DISCONNECT, as a crash would.
func (c *v5Client) drop() {
	_ = c.conn.Close()
	<-c.Done()
}

// expectServerDisconnect returns the server's DISCONNECT.
func (c *v5Client) expectServerDisconnect() *paho.Disconnect {
	c.t.Helper()
	select {
	case d := <-c.disconnects:
		return d
	case <-time.After(waitFor):
		c.t.Fatalf("no DISCONNECT from the server within %s", waitFor)
		return nil
	}
}

// ---------------------------------------------------------------- MQTT 3.1.1

// v3Client is a paho.mqtt.golang client (3.1.1) whose received messages
// go to msgs.
type v3Client struct {
	mqtt.Client
	t    *testing.T
	msgs chan msg
}

// mqttOptions are the 3.1.1 client's options.
type mqttOptions = mqtt.ClientOptions

// connectV311 connects a 3.1.1 client; opts adjust the client options.
func connectV311(t *testing.T, n *node, clientID string, opts ...func(*mqttOptions)) (*v3Client, error) {
	t.Helper()
	c := &v3Client{t: t, msgs: make(chan msg, 4096)}
	o := mqtt.NewClientOptions().AddBroker((&url.URL{Scheme: "tcp", Host: n.addr}).String()).
		SetClientID(clientID).SetProtocolVersion(4).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectRetry(false).SetKeepAlive(30 * time.Second).
		SetConnectTimeout(waitFor).SetOrderMatters(true).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			c.msgs <- msg{Topic: m.Topic(), Payload: string(m.Payload()), QoS: m.Qos(), Retain: m.Retained(), Dup: m.Duplicate()}
		})
	for _, f := range opts {
		f(o)
	}
	c.Client = mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(waitFor) {
		t.Fatalf("3.1.1 connect %q: no CONNACK within %s", clientID, waitFor)
	}
	if err := tok.Error(); err != nil {
		return c, err
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

// dialV311 connects a 3.1.1 client and fails the test if it is refused.
func dialV311(t *testing.T, n *node, clientID string, opts ...func(*mqttOptions)) *v3Client {
	t.Helper()
	c, err := connectV311(t, n, clientID, opts...)
	if err != nil {
		t.Fatalf("3.1.1 connect %q: %v", clientID, err)
	}
	return c
}

// subscribe subscribes and returns the SUBACK return code.
func (c *v3Client) subscribe(filter string, qos byte) byte {
	c.t.Helper()
	tok := c.Subscribe(filter, qos, nil)
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		c.t.Fatalf("3.1.1 subscribe %q: %v", filter, tok.Error())
	}
	return tok.(*mqtt.SubscribeToken).Result()[filter]
}

// publish publishes and waits for the acknowledgement flow to finish.
func (c *v3Client) publish(topic, payload string, qos byte, retain bool) {
	c.t.Helper()
	tok := c.Publish(topic, qos, retain, payload)
	if !tok.WaitTimeout(waitFor) || tok.Error() != nil {
		c.t.Fatalf("3.1.1 publish %q: %v", topic, tok.Error())
	}
}

// ---------------------------------------------------------------- raw sockets

// rawClient speaks MQTT byte by byte, for what the paho clients will not
// send or do not show.
type rawClient struct {
	t       *testing.T
	conn    net.Conn
	version byte
}

// dialRaw opens a TCP connection to n for a client of protocol version.
func dialRaw(t *testing.T, n *node, version byte) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", n.addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawClient{t: t, conn: conn, version: version}
}

// connectRaw dials n, sends cp (its Version is set from version) and
// returns the client and the CONNACK.
func connectRaw(t *testing.T, n *node, version byte, cp packet.Connect) (*rawClient, *packet.Connack) {
	t.Helper()
	r := dialRaw(t, n, version)
	cp.Version = version
	r.send(&cp)
	return r, expectPacket[*packet.Connack](r)
}

// send writes p encoded for the client's version.
func (r *rawClient) send(p packet.Packet) {
	r.t.Helper()
	r.write(p.AppendTo(nil, r.version))
}

// write writes raw bytes.
func (r *rawClient) write(b []byte) {
	r.t.Helper()
	_ = r.conn.SetWriteDeadline(time.Now().Add(waitFor))
	if _, err := r.conn.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// read returns the next packet, or the read error.
func (r *rawClient) read(timeout time.Duration) (packet.Packet, error) {
	_ = r.conn.SetReadDeadline(time.Now().Add(timeout))
	return packet.ReadPacket(r.conn, r.version, 0)
}

// expectPacket reads the next packet and fails unless it is a T.
func expectPacket[T packet.Packet](r *rawClient) T {
	r.t.Helper()
	p, err := r.read(waitFor)
	if err != nil {
		r.t.Fatalf("reading a %T: %v", *new(T), err)
	}
	v, ok := p.(T)
	if !ok {
		r.t.Fatalf("got %s, want a %T", describe(p), *new(T))
	}
	return v
}

// expectDisconnect expects a v5 DISCONNECT with rc followed by the close.
func (r *rawClient) expectDisconnect(rc packet.ReasonCode) {
	r.t.Helper()
	d := expectPacket[*packet.Disconnect](r)
	if d.ReasonCode != rc {
		r.t.Fatalf("DISCONNECT reason %#02x (%v), want %#02x (%v)", byte(d.ReasonCode), d.ReasonCode, byte(rc), rc)
	}
	r.expectClosed()
}

// expectClosed expects the server to close the connection without sending
// anything more.
func (r *rawClient) expectClosed() {
	r.t.Helper()
	r.expectClosedWithin(waitFor)
}

func (r *rawClient) expectClosedWithin(d time.Duration) {
	r.t.Helper()
	p, err := r.read(d)
	if err == nil {
		r.t.Fatalf("got %s, want the connection closed", describe(p))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r.t.Fatalf("connection still open after %s", d)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		r.t.Fatalf("want the connection closed, got error %v", err)
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "read"
}

// describe renders a packet for failure messages.
func describe(p packet.Packet) string {
	switch v := p.(type) {
	case *packet.Disconnect:
		return fmt.Sprintf("DISCONNECT %#02x (%v)", byte(v.ReasonCode), v.ReasonCode)
	case *packet.Connack:
		return fmt.Sprintf("CONNACK %#02x (%v) %+v", byte(v.ReasonCode), v.ReasonCode, v.Props)
	case *packet.Ack:
		return fmt.Sprintf("ack type %d id %d reason %#02x (%v)", v.Type, v.PacketID, byte(v.ReasonCode), v.ReasonCode)
	case *packet.Publish:
		return fmt.Sprintf("PUBLISH %s %q qos=%d dup=%t retain=%t id=%d", v.Topic, v.Payload, v.QoS, v.Dup, v.Retain, v.PacketID)
	}
	return fmt.Sprintf("%T %+v", p, p)
}

// fixedHeader builds a fixed header of type t with a raw Remaining Length
// field.
func fixedHeader(t packet.Type, flags byte, remaining ...byte) []byte {
	return append([]byte{byte(t)<<4 | flags}, remaining...)
}

// ---------------------------------------------------------------- hooks

// recorder is a ConnectObserver and PublishObserver that records events.
type recorder struct {
	mu        sync.Mutex
	events    []string
	lost      map[string]error
	published []broker.Message
}

func (r *recorder) add(e string) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) OnConnect(c *broker.ClientInfo)    { r.add("connect " + c.ClientID) }
func (r *recorder) OnDisconnect(c *broker.ClientInfo) { r.add("disconnect " + c.ClientID) }

func (r *recorder) OnConnectionLost(c *broker.ClientInfo, cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "lost "+c.ClientID)
	if r.lost == nil {
		r.lost = make(map[string]error)
	}
	r.lost[c.ClientID] = cause
}

func (r *recorder) OnPublish(_ *broker.ClientInfo, m *broker.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := *m
	c.Payload = append([]byte(nil), m.Payload...)
	r.published = append(r.published, c)
}

// has returns nil once event e has been recorded.
func (r *recorder) has(e string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.events {
		if x == e {
			return nil
		}
	}
	return fmt.Errorf("no %q in %q", e, r.events)
}

func (r *recorder) lostCause(clientID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lost[clientID]
}
