package integration

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap/zaptest"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/certgen"
	"github.com/jmqx/jmqx/internal/packet"
	"github.com/jmqx/jmqx/listeners"
)

// tlsFiles generates a CA, a server certificate for 127.0.0.1 and a client
// certificate, writes them into a temporary folder and returns the bundle
// and the folder.
func tlsFiles(t testing.TB) (*certgen.Bundle, string) {
	t.Helper()
	bundle, err := certgen.Generate(certgen.Options{Hosts: []string{"127.0.0.1", "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := bundle.WriteFiles(dir, false); err != nil {
		t.Fatal(err)
	}
	return bundle, dir
}

// serverTLS is the listeners.TLSConfig of the files in dir.
func serverTLS(dir, clientAuth string) *listeners.TLSConfig {
	c := &listeners.TLSConfig{
		CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server-key.pem"),
		ClientAuth: clientAuth, ReloadInterval: -1,
	}
	if clientAuth != "none" {
		c.CAFile = filepath.Join(dir, "ca.pem")
	}
	return c
}

// transports are the four listeners of one broker.
type transports struct {
	n                   *node
	tcp, mqtts, ws, wss *listeners.Listener
	bundle              *certgen.Bundle
	dir                 string
}

// startTransports starts a broker served by TCP, TLS, WebSocket and secure
// WebSocket listeners at once, with client certificates verified as
// clientAuth says.
func startTransports(t *testing.T, clientAuth string, cfg broker.Config, opts ...broker.Option) *transports {
	t.Helper()
	n := startBroker(t, cfg, opts...)
	tr := openTransports(t, n.b, clientAuth)
	tr.n = n
	return tr
}

// openTransports opens the four listeners in front of b.
func openTransports(tb testing.TB, b *broker.Broker, clientAuth string) *transports {
	tb.Helper()
	tr := &transports{}
	tr.bundle, tr.dir = tlsFiles(tb)
	log := zaptest.NewLogger(tb)
	open := func(l *listeners.Listener, err error) *listeners.Listener {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- l.Serve(b.ServeConn) }()
		tb.Cleanup(func() {
			_ = l.Close()
			if err := <-done; err != nil {
				tb.Errorf("Serve %s: %v", l.Name(), err)
			}
		})
		return l
	}
	local := "127.0.0.1:0"
	tr.tcp = open(listeners.NewTCP(listeners.Config{Name: "mqtt", Addr: local}, log))
	tr.mqtts = open(listeners.NewTLS(listeners.Config{Name: "mqtts", Addr: local, TLS: serverTLS(tr.dir, clientAuth)}, log))
	tr.ws = open(listeners.NewWebSocket(listeners.Config{Name: "ws", Addr: local}, log))
	tr.wss = open(listeners.NewWebSocket(listeners.Config{Name: "wss", Addr: local, TLS: serverTLS(tr.dir, clientAuth)}, log))
	return tr
}

// clientTLS is a client configuration trusting the test CA, presenting
// cert if it is not nil.
func (tr *transports) clientTLS(cert *tls.Certificate) *tls.Config {
	c := &tls.Config{RootCAs: tr.bundle.CAPool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

// dial opens a client connection through the named transport.
func (tr *transports) dial(t testing.TB, kind string, cert *tls.Certificate) (net.Conn, error) {
	t.Helper()
	switch kind {
	case "mqtt":
		return net.Dial("tcp", tr.tcp.Addr().String())
	case "mqtts":
		return tls.Dial("tcp", tr.mqtts.Addr().String(), tr.clientTLS(cert))
	case "ws":
		return dialWS(fmt.Sprintf("ws://%s/mqtt", tr.ws.Addr()), nil)
	case "wss":
		return dialWS(fmt.Sprintf("wss://%s/mqtt", tr.wss.Addr()), tr.clientTLS(cert))
	}
	t.Fatalf("unknown transport %q", kind)
	return nil, nil
}

// dialWS opens an MQTT-over-WebSocket client connection.
func dialWS(url string, tc *tls.Config) (net.Conn, error) {
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, TLSClientConfig: tc, HandshakeTimeout: waitFor}
	ws, resp, err := d.Dial(url, http.Header{})
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, err
	}
	return &wsClientConn{Conn: ws}, nil
}

// wsClientConn is the client side of MQTT over WebSocket as a net.Conn:
// a byte stream over binary frames.
type wsClientConn struct {
	*websocket.Conn
	r  interface{ Read([]byte) (int, error) }
	mu sync.Mutex // gorilla allows one writer at a time; paho writes from several goroutines
}

func (c *wsClientConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, fmt.Errorf("websocket: frame type %d, want binary", typ)
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err != nil {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, nil
	}
}

func (c *wsClientConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsClientConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// mqttOver connects a raw v5 client with id over the named transport.
func (tr *transports) mqttOver(t *testing.T, kind, id string, cert *tls.Certificate) *rawClient {
	t.Helper()
	conn, err := tr.dial(t, kind, cert)
	if err != nil {
		t.Fatalf("dial %s: %v", kind, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	r := &rawClient{t: t, conn: conn, version: packet.V5}
	r.send(&packet.Connect{Version: packet.V5, ClientID: id, CleanStart: true, KeepAlive: 30})
	if ack := expectPacket[*packet.Connack](r); ack.ReasonCode != packet.Success {
		t.Fatalf("%s: CONNACK %v", kind, ack.ReasonCode)
	}
	return r
}

var allTransports = []string{"mqtt", "mqtts", "ws", "wss"}

// All four listeners of one broker run at once, and a message published
// through any of them reaches subscribers on all the others.
func TestAllTransportsCrossDeliver(t *testing.T) {
	t.Parallel()
	tr := startTransports(t, "none", broker.Config{})
	subs := map[string]*rawClient{}
	for _, k := range allTransports {
		s := tr.mqttOver(t, k, "sub-"+k, nil)
		s.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "x/#", QoS: 1}}})
		expectPacket[*packet.Suback](s)
		subs[k] = s
	}
	for i, k := range allTransports {
		p := tr.mqttOver(t, k, "pub-"+k, nil)
		p.send(&packet.Publish{Topic: "x/" + k, QoS: 1, PacketID: uint16(i + 1), Payload: []byte(k)})
		expectPacket[*packet.Ack](p)
	}
	for _, k := range allTransports {
		got := map[string]bool{}
		for range allTransports {
			m := expectPacket[*packet.Publish](subs[k])
			got[string(m.Payload)] = true
			subs[k].send(&packet.Ack{Type: packet.PUBACK, PacketID: m.PacketID})
		}
		if len(got) != len(allTransports) {
			t.Errorf("subscriber on %s got %v, want one message from each transport", k, got)
		}
	}
}

// Mutual TLS: a client certificate signed by the CA is accepted (on MQTTS
// and WSS), none or one from another CA is refused.
func TestMutualTLS(t *testing.T) {
	t.Parallel()
	tr := startTransports(t, "require", broker.Config{})
	good := tr.bundle.ClientTLS()
	other, err := certgen.Generate(certgen.Options{Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	foreign := other.ClientTLS()
	for _, k := range []string{"mqtts", "wss"} {
		tr.mqttOver(t, k, "good-"+k, &good)
		for name, cert := range map[string]*tls.Certificate{"no certificate": nil, "another CA": &foreign} {
			if err := tr.handshakeRefused(t, k, cert); err != nil {
				t.Errorf("%s with %s: %v", k, name, err)
			}
		}
	}
}

// handshakeRefused reports an error unless a connection with cert fails
// before an MQTT session can be established.
func (tr *transports) handshakeRefused(t *testing.T, kind string, cert *tls.Certificate) error {
	conn, err := tr.dial(t, kind, cert)
	if err != nil {
		return nil // refused during the TLS or WebSocket handshake
	}
	defer conn.Close()
	r := &rawClient{t: t, conn: conn, version: packet.V5}
	_ = conn.SetWriteDeadline(time.Now().Add(waitFor))
	if _, err := conn.Write((&packet.Connect{Version: packet.V5, ClientID: "x", CleanStart: true}).AppendTo(nil, packet.V5)); err != nil {
		return nil
	}
	if p, err := r.read(waitFor); err == nil {
		return fmt.Errorf("got %s, want the connection refused", describe(p))
	}
	return nil
}

// TLS 1.0 and 1.1 clients are refused.
func TestOldTLSVersionsRefused(t *testing.T) {
	t.Parallel()
	tr := startTransports(t, "none", broker.Config{})
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		c := tr.clientTLS(nil)
		c.MinVersion, c.MaxVersion = v, v
		conn, err := tls.Dial("tcp", tr.mqtts.Addr().String(), c)
		if err == nil {
			err = conn.Handshake()
			conn.Close()
		}
		if err == nil {
			t.Errorf("TLS version %x accepted", v)
		}
	}
}

// A verified client certificate reaches the Authenticator, and its common
// name stands in as the user name when CertCNAsUsername is set.
func TestClientCertificateCNAsUsername(t *testing.T) {
	t.Parallel()
	auth := &certAuth{users: make(chan string, 2)}
	tr := startTransports(t, "require", broker.Config{CertCNAsUsername: true}, broker.WithHooks(auth))
	cert := tr.bundle.ClientTLS()
	tr.mqttOver(t, "mqtts", "cn", &cert)
	select {
	case u := <-auth.users:
		if u != "jmqx-client" {
			t.Errorf("user name %q, want the certificate's common name jmqx-client", u)
		}
	case <-time.After(waitFor):
		t.Fatal("Authenticate not called")
	}
}

type certAuth struct{ users chan string }

func (a *certAuth) Authenticate(r *broker.AuthRequest) packet.ReasonCode {
	if len(r.Certificates) == 0 {
		return packet.NotAuthorized
	}
	a.users <- r.Username
	return packet.Success
}
