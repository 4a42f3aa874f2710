package integration

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
)

// Bounded memory and time before CONNECT: what a connection that has not
// completed its CONNECT may cost the broker.

// hugeConnectHeader is the start of a CONNECT declaring a Remaining Length
// of 1,048,571 bytes (just under the default MaxPacketSize): fixed header,
// protocol name "MQTT", level 4, Clean Session, keep alive 0. Nothing more
// of the packet ever follows.
var hugeConnectHeader = []byte{0x10, 0xfb, 0xff, 0x3f, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x00}

// Item 1: a connection that declares a 1 MiB CONNECT and then sends
// nothing more does not make the broker allocate the declared size: 1,000
// of them cost well under 64 MiB of heap (the declared sizes add up to
// 1 GiB), and closing them gives the memory back.
//
// Not parallel: it measures the process's heap.
func TestPreConnectDeclaredSizeNotAllocated(t *testing.T) {
	n := startBroker(t, broker.Config{ConnectTimeout: 20 * time.Second})
	before := liveHeap()
	conns := dialAndSend(t, n, 1000, hugeConnectHeader)
	waitBrokerRead(t, n, len(conns))

	if grew := heapGrowth(before); grew > 64<<20 {
		t.Fatalf("heap grew by %d MiB with %d connections each declaring a 1 MiB CONNECT, want < 64 MiB", grew>>20, len(conns))
	}
	for _, c := range conns {
		_ = c.Close()
	}
	eventually(t, waitFor, func() error {
		if grew := heapGrowth(before); grew > 16<<20 {
			return fmt.Errorf("heap still %d MiB above the baseline after closing the connections", grew>>20)
		}
		return nil
	})
}

// Item 1: the same half-sent CONNECTs are closed by the broker once
// ConnectTimeout has passed since each connection was accepted.
func TestPreConnectDeclaredSizeClosedAtConnectTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Second
	n := startBroker(t, broker.Config{ConnectTimeout: timeout})
	start := time.Now()
	conns := dialAndSend(t, n, 1000, hugeConnectHeader)
	for i, c := range conns {
		_ = c.SetReadDeadline(start.Add(timeout + 3*time.Second))
		if err := expectEOF(c); err != nil {
			t.Fatalf("connection %d of %d, %s after the first dial: %v", i, len(conns), time.Since(start).Round(time.Millisecond), err)
		}
	}
}

// Item 2: ConnectTimeout is a deadline for the whole CONNECT, not for each
// read: a client sending a valid CONNECT one byte every 200 ms (slowloris)
// is closed about ConnectTimeout after it connected.
func TestSlowlorisConnectClosedAtConnectTimeout(t *testing.T) {
	t.Parallel()
	n := startBroker(t, broker.Config{ConnectTimeout: time.Second})
	r := dialRaw(t, n, packet.V311)
	start := time.Now()
	cp := packet.Connect{ClientID: "slowloris-" + strings.Repeat("s", 30), CleanStart: true, KeepAlive: 30}
	done := make(chan struct{})
	stopped := trickle(r.conn, cp.AppendTo(nil, packet.V311), 200*time.Millisecond, done)
	defer func() { close(done); <-stopped }()

	_ = r.conn.SetReadDeadline(start.Add(3 * time.Second))
	if err := expectEOF(r.conn); err != nil {
		t.Fatalf("after %s of a one-byte-per-200ms CONNECT with ConnectTimeout 1s: %v", time.Since(start).Round(time.Millisecond), err)
	}
}

// ---------------------------------------------------------------- helpers

// liveHeap returns the bytes of live heap objects after full collections.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC() // a second cycle frees what the first left to sync.Pool victims
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// heapGrowth returns the live heap's growth since before (a liveHeap).
func heapGrowth(before int64) int64 { return liveHeap() - before }

// dialAndSend opens count connections to n and writes b on each; t.Cleanup
// closes them.
func dialAndSend(t *testing.T, n *node, count int, b []byte) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, count)
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	for i := range count {
		c, err := net.Dial("tcp", n.addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		if _, err := c.Write(b); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	return conns
}

// expectEOF reads from c until its read deadline and reports an error
// unless the broker closed the connection (EOF or reset) without sending
// anything.
func expectEOF(c net.Conn) error {
	var buf [64]byte
	k, err := c.Read(buf[:])
	if k > 0 {
		return fmt.Errorf("got %d bytes % x, want the connection closed", k, buf[:k])
	}
	var ne net.Error
	switch {
	case err == nil:
		return errors.New("empty read, want the connection closed")
	case errors.As(err, &ne) && ne.Timeout():
		return errors.New("connection still open")
	case errors.Is(err, io.EOF) || isReset(err):
		return nil
	}
	return fmt.Errorf("want the connection closed, got %w", err)
}

// trickle writes b to c one byte per interval until b is written, a write
// fails or done is closed; the returned channel is closed when it stops.
func trickle(c net.Conn, b []byte, interval time.Duration, done <-chan struct{}) <-chan struct{} {
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := range b {
			if _, err := c.Write(b[i : i+1]); err != nil {
				return
			}
			select {
			case <-tick.C:
			case <-done:
				return
			}
		}
	}()
	return stopped
}

// waitBrokerRead waits until the broker side of at least count connections
// to n is established and every byte the clients sent has been read by the
// broker (the kernel's receive queues of the broker's sockets are empty,
// per /proc/net/tcp). Skips the test where /proc/net/tcp is not available.
func waitBrokerRead(t *testing.T, n *node, count int) {
	t.Helper()
	port := portOf(t, n.addr)
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skipf("cannot see the broker's receive queues: %v", err)
	}
	eventually(t, waitFor, func() error {
		established, unread, err := receiveQueues(port)
		if err != nil {
			return err
		}
		if established < count || unread > 0 {
			return fmt.Errorf("%d of %d connections established, %d of them with bytes the broker has not read", established, count, unread)
		}
		return nil
	})
}

// receiveQueues counts the established TCP sockets whose local port is
// port, and those of them with unread received bytes.
func receiveQueues(port int) (established, unread int, err error) {
	hexPort := fmt.Sprintf(":%04X", port)
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx_queue:rx_queue ...
			fields := strings.Fields(sc.Text())
			if len(fields) < 5 || !strings.HasSuffix(fields[1], hexPort) || fields[3] != "01" {
				continue
			}
			established++
			_, rx, _ := strings.Cut(fields[4], ":")
			if q, err := strconv.ParseUint(rx, 16, 64); err != nil || q > 0 {
				unread++
			}
		}
		err = sc.Err()
		_ = f.Close()
		if err != nil {
			return 0, 0, err
		}
	}
	return established, unread, nil
}
