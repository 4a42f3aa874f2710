package integration

import (
	"fmt"
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// heapAndStacks returns the bytes of live heap objects and goroutine
// stacks after a GC.
func heapAndStacks() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc + ms.StackInuse)
}

// TestIdleConnectionCost measures what an idle, subscribed MQTT 3.1.1
// connection costs the process (the broker's side and this test's client
// side together): the per-connection term of the README's memory bound.
//
// Not parallel: it measures the process's heap.
func TestIdleConnectionCost(t *testing.T) {
	const conns = 2000
	n := startBroker(t, broker.Config{})
	before := heapAndStacks()
	open := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range open {
			_ = c.Close()
		}
	}()
	for i := 0; i < conns; i++ {
		c, err := net.Dial("tcp", n.addr)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
		id := "idle-" + strconv.Itoa(i)
		cp := packet.Connect{Version: packet.V311, CleanStart: true, ClientID: id, KeepAlive: 600}
		sub := packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "devices/" + id + "/cmd", QoS: 1}}}
		if _, err := c.Write(sub.AppendTo(cp.AppendTo(nil, packet.V311), packet.V311)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(waitFor))
		for range 2 { // CONNACK, SUBACK
			if _, err := packet.ReadPacket(c, packet.V311, 1<<16); err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
		}
	}
	eventually(t, waitFor, func() error { // writers and read buffers go idle
		if per := (heapAndStacks() - before) / conns; per > 16<<10 {
			return fmt.Errorf("%d bytes per idle connection, want < 16 KiB", per)
		}
		return nil
	})
	t.Logf("idle subscribed connection: %d bytes (heap and stacks, both ends)", (heapAndStacks()-before)/conns)
}
