package listeners

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// newWSPair upgrades one connection on a test HTTP server and returns the
// server side as a wsConn and the client side as a gorilla Conn. Both are
// closed at cleanup.
func newWSPair(t *testing.T) (net.Conn, *websocket.Conn) {
	t.Helper()
	got := make(chan net.Conn, 1)
	up := websocket.Upgrader{Subprotocols: wsSubprotocols}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			close(got)
			return
		}
		got <- newWSConn(ws)
	}))
	t.Cleanup(srv.Close)
	client := dialWSURL(t, "ws"+strings.TrimPrefix(srv.URL, "http"), nil, "mqtt")
	select {
	case c, ok := <-got:
		if !ok {
			t.FailNow()
		}
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetDeadline(time.Now().Add(waitTimeout))
		return c, client
	case <-time.After(waitTimeout):
		t.Fatal("server side never upgraded")
		return nil, nil
	}
}

// dialWSURL dials url with the given Origin (none if empty) and
// subprotocols and fails the test on error. The connection is closed at
// cleanup and has deadlines of waitTimeout.
func dialWSURL(t *testing.T, url string, hdr http.Header, protos ...string) *websocket.Conn {
	t.Helper()
	c, resp, err := dialWSRaw(url, hdr, nil, protos...)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	_ = c.SetWriteDeadline(time.Now().Add(waitTimeout))
	return c
}

func dialWSRaw(url string, hdr http.Header, d *websocket.Dialer, protos ...string) (*websocket.Conn, *http.Response, error) {
	if d == nil {
		d = &websocket.Dialer{}
	}
	dd := *d
	dd.HandshakeTimeout = waitTimeout
	dd.Subprotocols = protos
	c, resp, err := dd.Dial(url, hdr)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	return c, resp, err
}

// wsReadStream reads binary messages from c until n bytes have arrived.
func wsReadStream(t *testing.T, c *websocket.Conn, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	for buf.Len() < n {
		typ, p, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("read after %q: %v", buf.Bytes(), err)
		}
		if typ != websocket.BinaryMessage {
			t.Fatalf("message type %d, want binary", typ)
		}
		buf.Write(p)
	}
	return buf.Bytes()
}

func wsWriteFrames(t *testing.T, c *websocket.Conn, frames ...string) {
	t.Helper()
	for _, f := range frames {
		if err := c.WriteMessage(websocket.BinaryMessage, []byte(f)); err != nil {
			t.Fatalf("write frame %q: %v", f, err)
		}
	}
}

func TestWSConnReadsFramesAsStream(t *testing.T) {
	t.Parallel()
	server, client := newWSPair(t)

	// One packet split across frames, an empty frame among them.
	wsWriteFrames(t, client, "hel", "lo wo", "", "rld")
	got := make([]byte, len("hello world"))
	if _, err := io.ReadFull(server, got); err != nil || string(got) != "hello world" {
		t.Fatalf("ReadFull = %q, %v; want %q", got, err, "hello world")
	}

	// Several packets in one frame, read with a small buffer.
	wsWriteFrames(t, client, "aabbc", "c")
	var parts []string
	for range 3 {
		p := make([]byte, 2)
		if _, err := io.ReadFull(server, p); err != nil {
			t.Fatalf("ReadFull after %q: %v", parts, err)
		}
		parts = append(parts, string(p))
	}
	if got, want := strings.Join(parts, ","), "aa,bb,cc"; got != want {
		t.Errorf("reads = %s, want %s", got, want)
	}
	if n, err := server.Read(nil); n != 0 || err != nil {
		t.Errorf("Read(nil) = %d, %v; want 0, nil", n, err)
	}
}

func TestWSConnWriteSendsOneFramePerCall(t *testing.T) {
	t.Parallel()
	server, client := newWSPair(t)
	big := bytes.Repeat([]byte("x"), 200_000)
	for _, p := range [][]byte{[]byte("abc"), {}, []byte("defgh"), big} {
		n, err := server.Write(p)
		if n != len(p) || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v", len(p), n, err)
		}
	}
	for _, want := range [][]byte{[]byte("abc"), []byte("defgh"), big} {
		typ, got, err := client.ReadMessage()
		if err != nil {
			t.Fatalf("ReadMessage: %v", err)
		}
		if typ != websocket.BinaryMessage || !bytes.Equal(got, want) {
			t.Fatalf("frame (type %d) of %d bytes, want a binary frame of %d bytes", typ, len(got), len(want))
		}
	}
}

func TestWSConnTextFrameCloses(t *testing.T) {
	t.Parallel()
	server, client := newWSPair(t)
	if err := client.WriteMessage(websocket.TextMessage, []byte("CONNECT")); err != nil {
		t.Fatalf("write text: %v", err)
	}
	if _, err := server.Read(make([]byte, 8)); !errors.Is(err, errTextFrame) {
		t.Fatalf("Read = %v, want errTextFrame", err)
	}
	if _, err := server.Read(make([]byte, 8)); !errors.Is(err, errTextFrame) {
		t.Errorf("second Read = %v, want errTextFrame again", err)
	}
	_, _, err := client.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseUnsupportedData) {
		t.Errorf("client read = %v, want close 1003", err)
	}
}

func TestWSConnCloseSendsNormalClosure(t *testing.T) {
	t.Parallel()
	server, client := newWSPair(t)
	for i := range 2 {
		if err := server.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	_, _, err := client.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("client read = %v, want close 1000", err)
	}
	if _, err := server.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
}

func TestWSConnPeerCloseReadsAsEOF(t *testing.T) {
	t.Parallel()
	for _, code := range []int{websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			server, client := newWSPair(t)
			msg := websocket.FormatCloseMessage(code, "")
			if err := client.WriteControl(websocket.CloseMessage, msg, time.Now().Add(waitTimeout)); err != nil {
				t.Fatalf("write close: %v", err)
			}
			for i := range 3 { // the error is sticky
				if _, err := server.Read(make([]byte, 8)); err != io.EOF {
					t.Fatalf("Read #%d = %v, want io.EOF", i+1, err)
				}
			}
		})
	}
}

func TestWSConnAbnormalCloseIsAnError(t *testing.T) {
	t.Parallel()
	server, client := newWSPair(t)
	msg := websocket.FormatCloseMessage(websocket.CloseProtocolError, "bad")
	if err := client.WriteControl(websocket.CloseMessage, msg, time.Now().Add(waitTimeout)); err != nil {
		t.Fatalf("write close: %v", err)
	}
	if _, err := server.Read(make([]byte, 8)); err == nil || err == io.EOF ||
		!websocket.IsCloseError(err, websocket.CloseProtocolError) {
		t.Errorf("Read = %v, want close 1002", err)
	}
}

func TestWSConnReadDeadline(t *testing.T) {
	t.Parallel()
	server, _ := newWSPair(t)
	if err := server.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatalf("SetReadDeadline: %v", err)
	}
	_, err := server.Read(make([]byte, 8))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("Read past the deadline = %v, want a timeout", err)
	}
}

func TestWSConnWriteDeadline(t *testing.T) {
	t.Parallel()
	server, _ := newWSPair(t) // the client never reads
	if err := server.SetDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatalf("SetDeadline: %v", err)
	}
	chunk := make([]byte, 1<<20)
	for i := range 1000 { // socket buffers fill up after a few MiB
		if _, err := server.Write(chunk); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("Write #%d = %v, want a timeout", i+1, err)
			}
			return
		}
	}
	t.Fatal("1000 MiB written to a client that never reads")
}

func TestWSConnAddrs(t *testing.T) {
	t.Parallel()
	server, client := newWSPair(t)
	if got, want := server.LocalAddr().String(), client.RemoteAddr().String(); got != want {
		t.Errorf("LocalAddr = %s, want %s", got, want)
	}
	if got, want := server.RemoteAddr().String(), client.LocalAddr().String(); got != want {
		t.Errorf("RemoteAddr = %s, want %s", got, want)
	}
	if _, ok := server.(interface{ ConnectionState() tls.ConnectionState }); ok {
		t.Error("plain WebSocket conn has ConnectionState")
	}
}

// TestWSConnConcurrentWritesAndPings writes from several goroutines while the
// server answers the client's pings, for the race detector.
func TestWSConnConcurrentWritesAndPings(t *testing.T) {
	t.Parallel()
	server, client := newWSPair(t)
	const writers, each = 4, 50

	readDone := make(chan error, 1)
	go func() { // the server must read for pings to be answered
		_, err := io.Copy(io.Discard, server)
		readDone <- err
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := fmt.Fprintf(server, "w%d-%03d", w, i); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}

	var pongs int
	client.SetPongHandler(func(string) error { pongs++; return nil })
	for i := range 10 {
		if err := client.WriteControl(websocket.PingMessage, []byte{byte(i)}, time.Now().Add(waitTimeout)); err != nil {
			t.Fatalf("ping: %v", err)
		}
	}
	seen := make(map[string]bool)
	for len(seen) < writers*each {
		_, p, err := client.ReadMessage()
		if err != nil {
			t.Fatalf("read after %d frames: %v", len(seen), err)
		}
		if len(p) != len("w0-000") || seen[string(p)] {
			t.Fatalf("frame %q is mangled or repeated", p)
		}
		seen[string(p)] = true
	}
	wg.Wait()
	if err := client.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(waitTimeout)); err != nil {
		t.Fatalf("write close: %v", err)
	}
	for pongs < 10 { // pongs already received are counted; the rest follow
		if _, _, err := client.ReadMessage(); err != nil {
			break
		}
	}
	if err := <-readDone; err != nil {
		t.Errorf("server read ended with %v, want EOF (nil from io.Copy)", err)
	}
	if pongs != 10 {
		t.Errorf("got %d pongs, want 10", pongs)
	}
}
