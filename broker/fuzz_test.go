package broker

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jmqx/jmqx/internal/packet"
)

// FuzzConn feeds arbitrary bytes to a broker connection after a valid
// CONNECT (or instead of one): whatever arrives, the broker must answer or
// close without panicking, and release the connection.
func FuzzConn(f *testing.F) {
	for _, v := range []byte{packet.V311, packet.V5} {
		cp := packet.Connect{Version: v, CleanStart: true, ClientID: "fuzz", KeepAlive: 30}
		sub := packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a/#", QoS: 2}}}
		pub := packet.Publish{Topic: "a/b", QoS: 1, PacketID: 2, Payload: []byte("x")}
		pub2 := packet.Publish{Topic: "a/c", QoS: 2, PacketID: 3, Payload: []byte("y"), Retain: true}
		rel := packet.Ack{Type: packet.PUBREL, PacketID: 3}
		unsub := packet.Unsubscribe{PacketID: 4, Filters: []string{"a/#"}}
		var seq []byte
		seq = sub.AppendTo(seq, v)
		seq = pub.AppendTo(seq, v)
		seq = pub2.AppendTo(seq, v)
		seq = rel.AppendTo(seq, v)
		seq = unsub.AppendTo(seq, v)
		seq = (&packet.Pingreq{}).AppendTo(seq, v)
		seq = (&packet.Disconnect{}).AppendTo(seq, v)
		f.Add(true, v, seq)
		f.Add(false, v, append(cp.AppendTo(nil, v), seq...))
		f.Add(true, v, []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x7f})                // 5-byte remaining length
		f.Add(true, v, []byte{0x32, 0x07, 0x00, 0x03, 'a', '/', '#', 0x00, 0x01}) // wildcard topic
		f.Add(true, v, []byte{0x10, 0x02, 0x00, 0x00})                            // second CONNECT
	}
	b, err := New(Config{ConnectTimeout: 200 * time.Millisecond, SysInterval: -1, MaxPacketSize: 4096})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			f.Error(err)
		}
	})
	f.Fuzz(func(t *testing.T, connect bool, version byte, data []byte) {
		if version != packet.V311 && version != packet.V5 {
			version = packet.V311
		}
		server, client := net.Pipe()
		if err := b.ServeConn(server); err != nil {
			t.Fatal(err)
		}
		var in []byte
		if connect {
			cp := packet.Connect{Version: version, CleanStart: true, ClientID: "fuzz", KeepAlive: 30}
			in = cp.AppendTo(in, version)
		}
		in = append(in, data...)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = io.Copy(io.Discard, client)
		}()
		_ = client.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, _ = client.Write(in)
		_ = client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("connection not released")
		}
	})
}
