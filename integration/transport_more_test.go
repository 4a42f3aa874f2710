package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/gorilla/websocket"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/certgen"
	"github.com/jmqx/jmqx/internal/packet"
)

// Certificates rotate without a restart: after the files are replaced and
// Reload is called, new connections get the new certificate while a client
// connected before keeps working.
func TestCertificateRotation(t *testing.T) {
	t.Parallel()
	tr := startTransports(t, "none", broker.Config{})
	next, err := certgen.Generate(certgen.Options{Hosts: []string{"127.0.0.1", "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	for _, b := range []*certgen.Bundle{tr.bundle, next} {
		roots.AppendCertsFromPEM(b.CA.CertPEM)
	}
	old := tr.mqttOver(t, "mqtts", "before", nil)

	newDir := t.TempDir()
	if _, err := next.WriteFiles(newDir, false); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"server.pem", "server-key.pem"} {
		data, err := os.ReadFile(filepath.Join(newDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tr.dir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.mqtts.Reload(); err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", tr.mqtts.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	want := next.ServerTLS().Certificate[0]
	if got := conn.ConnectionState().PeerCertificates[0].Raw; !bytes.Equal(got, want) {
		t.Error("a new connection still gets the old certificate")
	}
	old.send(&packet.Pingreq{})
	expectPacket[*packet.Pingresp](old) // the earlier connection is untouched
}

// MQTT packets split across WebSocket frames, and several packets in one
// frame, are one byte stream to the broker.
func TestWebSocketSplitAndMergedFrames(t *testing.T) {
	t.Parallel()
	tr := startTransports(t, "none", broker.Config{})
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: waitFor}
	ws, _, err := d.Dial(fmt.Sprintf("ws://%s/mqtt", tr.ws.Addr()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if ws.Subprotocol() != "mqtt" {
		t.Errorf("subprotocol %q, want mqtt", ws.Subprotocol())
	}
	connect := (&packet.Connect{Version: packet.V311, ClientID: "frames", CleanStart: true}).AppendTo(nil, packet.V311)
	for _, part := range [][]byte{connect[:3], connect[3:]} { // CONNECT split in two frames
		if err := ws.WriteMessage(websocket.BinaryMessage, part); err != nil {
			t.Fatal(err)
		}
	}
	var merged []byte // SUBSCRIBE and a PUBLISH to it in one frame
	merged = (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "f/#"}}}).AppendTo(merged, packet.V311)
	merged = (&packet.Publish{Topic: "f/1", Payload: []byte("hi")}).AppendTo(merged, packet.V311)
	if err := ws.WriteMessage(websocket.BinaryMessage, merged); err != nil {
		t.Fatal(err)
	}
	r := &rawClient{t: t, conn: &wsClientConn{Conn: ws}, version: packet.V311}
	expectPacket[*packet.Connack](r)
	expectPacket[*packet.Suback](r)
	if p := expectPacket[*packet.Publish](r); string(p.Payload) != "hi" {
		t.Errorf("payload %q, want hi", p.Payload)
	}
}

// BenchmarkTransports pushes the same QoS 0 messages from a publisher to a
// subscriber over each transport; compare the ns/op of the sub-benchmarks
// (ratios to mqtt) for the cost of TLS and WebSocket.
func BenchmarkTransports(b *testing.B) {
	for _, kind := range allTransports {
		b.Run(kind, func(b *testing.B) { benchTransport(b, kind) })
	}
}

func benchTransport(b *testing.B, kind string) {
	bk, err := broker.New(broker.Config{SysInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bk.Shutdown(context.Background()) })
	tr := openTransports(b, bk, "none")
	connect := func(id string) net.Conn {
		conn, err := tr.dial(b, kind, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = conn.Close() })
		if _, err := conn.Write((&packet.Connect{Version: packet.V5, ClientID: id, CleanStart: true}).AppendTo(nil, packet.V5)); err != nil {
			b.Fatal(err)
		}
		if _, err := packet.ReadPacket(conn, packet.V5, 0); err != nil {
			b.Fatal(err)
		}
		return conn
	}
	sub := connect("bsub")
	if _, err := sub.Write((&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "b/#"}}}).AppendTo(nil, packet.V5)); err != nil {
		b.Fatal(err)
	}
	if _, err := packet.ReadPacket(sub, packet.V5, 0); err != nil {
		b.Fatal(err)
	}
	pub := connect("bpub")
	frame := (&packet.Publish{Topic: "b/x", Payload: make([]byte, 64)}).AppendTo(nil, packet.V5)
	const batch = 100
	burst := bytes.Repeat(frame, batch)
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	for sent := 0; sent < b.N; sent += batch {
		if _, err := pub.Write(burst); err != nil {
			b.Fatal(err)
		}
		want := batch * len(frame)
		for got := 0; got < want; {
			_ = sub.SetReadDeadline(time.Now().Add(waitFor))
			n, err := sub.Read(buf[:min(len(buf), want-got)])
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
}

// A paho.golang (MQTT 5) client publishes and receives through each of the
// four listeners.
func TestPahoRoundTripEachTransport(t *testing.T) {
	t.Parallel()
	tr := startTransports(t, "none", broker.Config{})
	for _, kind := range allTransports {
		conn, err := tr.dial(t, kind, nil)
		if err != nil {
			t.Fatalf("dial %s: %v", kind, err)
		}
		got := make(chan string, 1)
		c := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) { got <- string(pr.Packet.Payload); return true, nil },
		}})
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		// KeepAlive 0: paho's pinger writes a PINGREQ at once from its own
		// goroutine, and paho writes a packet as several Writes, which on
		// TLS and WebSocket connections can interleave with the SUBSCRIBE.
		if _, err := c.Connect(ctx, &paho.Connect{ClientID: "paho-" + kind, CleanStart: true}); err != nil {
			t.Fatalf("%s: connect: %v", kind, err)
		}
		if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "rt/" + kind, QoS: 1}}}); err != nil {
			t.Fatalf("%s: subscribe: %v", kind, err)
		}
		if _, err := c.Publish(ctx, &paho.Publish{Topic: "rt/" + kind, QoS: 1, Payload: []byte(kind)}); err != nil {
			t.Fatalf("%s: publish: %v", kind, err)
		}
		select {
		case p := <-got:
			if p != kind {
				t.Errorf("%s: got %q", kind, p)
			}
		case <-ctx.Done():
			t.Errorf("%s: message not received", kind)
		}
		_ = c.Disconnect(&paho.Disconnect{})
		<-c.Done()
		cancel()
	}
}
