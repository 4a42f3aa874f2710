package broker

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/jmqx/jmqx/internal/packet"
	"github.com/jmqx/jmqx/internal/testwait"
)

// TestStoreHeartbeat: while a persistent session is online the store is
// written even when nothing changes, so that after a crash its downtime
// counts from close to the crash; the record says it was online.
func TestStoreHeartbeat(t *testing.T) {
	ms := NewMemoryStore()
	b, err := New(Config{SysInterval: -1, StoreInterval: 10 * time.Millisecond}, WithStore(ms))
	if err != nil {
		t.Fatal(err)
	}
	b.pst.heartbeat = 30 * time.Millisecond // before any connection: the persister reads it after
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go b.Serve(l)
	t.Cleanup(func() { _ = b.Shutdown(context.Background()) })
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cp := packet.Connect{Version: packet.V311, ClientID: "beat", KeepAlive: 0} // clean session false
	if _, err := conn.Write(cp.AppendTo(nil, packet.V311)); err != nil {
		t.Fatal(err)
	}
	if p, err := packet.ReadPacket(conn, packet.V311, 1<<10); err != nil {
		t.Fatalf("CONNACK: %v %v", p, err)
	}
	var first int
	testwait.Until(t, 5*time.Second, func() error {
		if first = ms.Writes(); first == 0 {
			return fmt.Errorf("the session is not written")
		}
		return nil
	})
	testwait.Until(t, 5*time.Second, func() error {
		if n := ms.Writes(); n < first+3 {
			return fmt.Errorf("%d writes since the session's, want 3 heartbeats", n-first)
		}
		return nil
	})
	c, err := ms.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Sessions) != 1 || !c.Sessions[0].Online || !c.Alive.After(c.Sessions[0].Saved) {
		t.Fatalf("stored %+v alive %v, want the session online and alive after it was saved", c.Sessions, c.Alive)
	}
}
