package listeners

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// wsCloseTimeout bounds sending the close frame in wsConn.Close.
const wsCloseTimeout = time.Second

// errTextFrame is returned by wsConn.Read when the peer sends a text frame:
// MQTT over WebSocket uses binary frames only.
var errTextFrame = errors.New("listeners: websocket: text frame received; MQTT needs binary frames")

// wsConn is a net.Conn over a WebSocket connection: reads return the bytes
// of consecutive binary frames as one stream, whatever the frame
// boundaries, and each Write sends one binary frame. Pings are answered by
// gorilla's default handler while Read runs. Its methods are safe for
// concurrent use; concurrent Reads (and concurrent Writes) are serialized.
//
// As with gorilla's Conn, a read that fails (including on a deadline) leaves
// the connection unusable: every later Read returns the same error.
type wsConn struct {
	ws *websocket.Conn

	readMu  sync.Mutex // guards r and readErr; held during Read
	r       io.Reader  // current frame's reader; nil between frames
	readErr error      // sticky read error

	writeMu sync.Mutex // one writer at a time, as gorilla requires
	// writeDeadline is the latest SetWriteDeadline, applied by Write.
	writeDeadline atomic.Pointer[time.Time]

	closeOnce sync.Once
	closeErr  error
}

// wsTLSConn is a wsConn over TLS. ConnectionState lets the broker find the
// client certificates through an interface, as with a *tls.Conn.
type wsTLSConn struct {
	*wsConn
	tls *tls.Conn
}

// ConnectionState returns the TLS state of the underlying connection.
func (c *wsTLSConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

// newWSConn wraps an upgraded connection, as a *wsTLSConn when it runs over
// TLS. It takes ownership of ws.
func newWSConn(ws *websocket.Conn) net.Conn {
	c := &wsConn{ws: ws}
	if tc, ok := ws.NetConn().(*tls.Conn); ok {
		return &wsTLSConn{wsConn: c, tls: tc}
	}
	return c
}

// Read reads the payload of binary frames into p, moving on to the next
// frame at the end of one. A text frame closes the connection with status
// 1003 (unsupported data). A close frame with status 1000, 1001 or none
// reads as io.EOF.
func (c *wsConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.readErr != nil {
		return 0, c.readErr
	}
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				c.readErr = wsReadError(err)
				return 0, c.readErr
			}
			if typ != websocket.BinaryMessage {
				c.readErr = errTextFrame
				_ = c.closeWith(websocket.CloseUnsupportedData, "MQTT needs binary frames")
				return 0, c.readErr
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) { // end of this frame, not of the stream
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		if err != nil {
			c.readErr = wsReadError(err)
			return n, c.readErr
		}
		return n, nil
	}
}

// wsReadError maps a normal WebSocket closure to io.EOF, so the owner sees
// an ordinary end of stream.
func wsReadError(err error) error {
	if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) {
		return io.EOF
	}
	return err
}

// Write sends p as one binary frame. It does not keep p.
func (c *wsConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if dl := c.writeDeadline.Load(); dl != nil {
		_ = c.ws.SetWriteDeadline(*dl) // gorilla's deadline is guarded by writeMu
	}
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends a close frame with status 1000 (waiting at most a second for
// a blocked Write) and closes the connection. It is idempotent; every call
// returns the result of the first.
func (c *wsConn) Close() error {
	return c.closeWith(websocket.CloseNormalClosure, "")
}

// closeWith is Close with the given status code and reason.
func (c *wsConn) closeWith(code int, reason string) error {
	c.closeOnce.Do(func() {
		msg := websocket.FormatCloseMessage(code, reason)
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(wsCloseTimeout))
		if err := c.ws.Close(); err != nil {
			c.closeErr = fmt.Errorf("listeners: websocket: close %s: %w", c.RemoteAddr(), err)
		}
	})
	return c.closeErr
}

// LocalAddr returns the local address of the underlying connection.
func (c *wsConn) LocalAddr() net.Addr { return c.ws.LocalAddr() }

// RemoteAddr returns the peer address of the underlying connection (that of
// a proxy, if there is one).
func (c *wsConn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

// SetDeadline sets the read and write deadlines.
func (c *wsConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline of Read. An expired deadline fails the
// connection for good (see wsConn).
func (c *wsConn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline of Write, including a Write already
// blocked.
func (c *wsConn) SetWriteDeadline(t time.Time) error {
	// gorilla's own deadline is a plain field its writers read, so it is
	// applied by Write under writeMu; the socket's reaches a frame being
	// written now.
	c.writeDeadline.Store(&t)
	return c.ws.NetConn().SetWriteDeadline(t)
}
