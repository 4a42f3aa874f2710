package listeners

import (
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Defaults of WebSocket listeners, replacing DefaultName and DefaultAddr.
const (
	DefaultWebSocketName = "ws"
	DefaultWebSocketAddr = ":1884"
	// DefaultSecureWebSocketName and DefaultSecureWebSocketAddr apply when
	// Config.TLS is set.
	DefaultSecureWebSocketName = "wss"
	DefaultSecureWebSocketAddr = ":8884"
)

// wsHandshakeTimeout bounds reading the upgrade request's headers and
// writing the 101 response.
const wsHandshakeTimeout = 10 * time.Second

// wsSubprotocols are the WebSocket subprotocols of MQTT, in order of
// preference: "mqtt" (MQTT 3.1.1 and 5) and "mqttv3.1" (legacy MQTT 3.1).
var wsSubprotocols = []string{"mqtt", "mqttv3.1"}

// NewWebSocket binds an MQTT-over-WebSocket listener and returns it ready
// for Serve. Name defaults to "ws" and Addr to ":1884", or to "wss" and
// ":8884" when cfg.TLS is set, which serves secure WebSocket with the
// certificate handling of NewTLS (files checked before binding, polled,
// Reload; or a *tls.Config); other fields default as for NewTCP, including
// the port search.
//
// Serve runs an HTTP/1.1 server that upgrades GET requests on
// cfg.WebSocket.Path (other paths get 404) and hands each upgraded
// connection to the callback as a net.Conn carrying the MQTT byte stream in
// binary frames; over TLS that net.Conn also has a
// ConnectionState() tls.ConnectionState method, for client certificates.
// Upgrades are refused with 403 when cfg.WebSocket.AllowedOrigins is set
// and the Origin header matches none of it, and with 400 when the client
// offers subprotocols but neither "mqtt" nor "mqttv3.1"; a client offering
// none is accepted (MQTT requires "mqtt", but some clients omit it). The
// callback is called from the HTTP server's connection goroutines, one
// connection at a time, after the handshake. Close shuts the HTTP server
// down; upgraded connections belong to the callback and stay up. log may be
// nil.
func NewWebSocket(cfg Config, log *zap.Logger) (*Listener, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultWebSocketName
		if cfg.TLS != nil {
			cfg.Name = DefaultSecureWebSocketName
		}
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultWebSocketAddr
		if cfg.TLS != nil {
			cfg.Addr = DefaultSecureWebSocketAddr
		}
	}
	cfg.setDefaults()
	cfg.WebSocket.AllowedOrigins = slices.Clone(cfg.WebSocket.AllowedOrigins)
	if cfg.TLS != nil {
		tc := *cfg.TLS // the caller keeps its copy
		cfg.TLS = &tc
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(cfg.WebSocket.Path, "/") {
		return nil, fmt.Errorf("listeners: %s: websocket path %q: must start with /", cfg.Name, cfg.WebSocket.Path)
	}
	var conf *tls.Config
	var store *certStore
	if cfg.TLS != nil {
		var err error
		if conf, store, err = serverTLS(*cfg.TLS, listenerLog(log, cfg.Name), true); err != nil {
			return nil, fmt.Errorf("listeners: %s: %w", cfg.Name, err)
		}
	}
	ln, err := bind(cfg, log)
	if err != nil {
		return nil, err
	}
	if conf != nil {
		ln = tls.NewListener(ln, conf)
	}
	l := newListener(cfg, log, ln)
	// net/http logs TLS handshake and accept errors; clients cause most of
	// them, so they go to debug.
	errorLog, err := zap.NewStdLogAt(l.log.Named("http"), zapcore.DebugLevel)
	if err != nil { // only for an invalid level
		_ = l.Close()
		return nil, fmt.Errorf("listeners: %s: %w", cfg.Name, err)
	}
	s := &wsServer{
		l:        l,
		path:     cfg.WebSocket.Path,
		errorLog: errorLog,
		upgrader: websocket.Upgrader{
			HandshakeTimeout: wsHandshakeTimeout,
			// ReadBufferSize 0 reuses the HTTP server's hijacked 4 KiB
			// reader; write buffers are only held while a frame is sent.
			WriteBufferSize: 1024,
			WriteBufferPool: &sync.Pool{},
			Subprotocols:    wsSubprotocols,
			CheckOrigin:     originChecker(cfg.WebSocket.AllowedOrigins),
		},
		servers: make(map[*http.Server]struct{}),
	}
	l.serveFn = s.serve
	l.onClose = append(l.onClose, s.close)
	if store != nil {
		l.certs = store
		l.onClose = append(l.onClose, store.watch())
	}
	return l, nil
}

// wsServer runs the HTTP servers of one WebSocket Listener: one per Serve
// call, since each call has its own callback.
type wsServer struct {
	l        *Listener
	path     string
	errorLog *stdlog.Logger // http.Server.ErrorLog, at debug level
	upgrader websocket.Upgrader

	mu      sync.Mutex // guards servers and closed
	servers map[*http.Server]struct{}
	closed  bool
}

// serve runs an HTTP server on the listener's socket until it fails or
// close is called; it is the Listener's serveFn. It returns nil after close.
func (s *wsServer) serve(handle Handler) error {
	var handleMu sync.Mutex // one connection at a time, as Serve promises
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.upgrade(w, r, &handleMu, handle)
		}),
		// Bound every phase before the upgrade, so idle or stalled HTTP
		// connections cannot pile up; gorilla clears the deadlines of an
		// upgraded connection.
		ReadHeaderTimeout: wsHandshakeTimeout,
		ReadTimeout:       wsHandshakeTimeout,
		WriteTimeout:      wsHandshakeTimeout,
		IdleTimeout:       wsHandshakeTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          s.errorLog,
		// A non-nil empty map turns HTTP/2 off: WebSocket needs HTTP/1.1.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.servers[srv] = struct{}{}
	s.mu.Unlock()
	defer srv.Close() // whatever ended Serve, close its open HTTP connections
	defer func() {
		s.mu.Lock()
		delete(s.servers, srv)
		s.mu.Unlock()
	}()
	err := srv.Serve(s.l.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("listeners: %s: serve on %s: %w", s.l.cfg.Name, s.l.Addr(), err)
}

// close shuts every running HTTP server down and stops later serve calls.
// Upgraded (hijacked) connections are not touched.
func (s *wsServer) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for srv := range s.servers {
		_ = srv.Close()
	}
}

// upgrade answers one HTTP request: 404 off the path, otherwise the
// WebSocket handshake (gorilla writes the 4xx of a refused one), then hands
// the connection to handle while holding handleMu.
func (s *wsServer) upgrade(w http.ResponseWriter, r *http.Request, handleMu *sync.Mutex, handle Handler) {
	if r.URL.Path != s.path {
		http.NotFound(w, r)
		return
	}
	log := s.l.log
	switch offered := websocket.Subprotocols(r); {
	case len(offered) == 0:
		if ce := log.Check(zap.DebugLevel, "websocket client offered no subprotocol; accepting as mqtt"); ce != nil {
			ce.Write(zap.String("remote", r.RemoteAddr))
		}
	case !slices.ContainsFunc(offered, isMQTTSubprotocol):
		if ce := log.Check(zap.DebugLevel, "websocket upgrade refused: no MQTT subprotocol"); ce != nil {
			ce.Write(zap.String("remote", r.RemoteAddr), zap.Strings("offered", offered))
		}
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "websocket: subprotocol \"mqtt\" required", http.StatusBadRequest)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil { // gorilla has answered the request
		if ce := log.Check(zap.DebugLevel, "websocket upgrade failed"); ce != nil {
			ce.Write(zap.String("remote", r.RemoteAddr), zap.Error(err))
		}
		return
	}
	conn := newWSConn(ws)
	handleMu.Lock()
	defer handleMu.Unlock()
	if s.l.closed() { // Close raced with the handshake
		_ = conn.Close()
		return
	}
	s.l.hand(handle, conn)
}

// isMQTTSubprotocol reports whether p is one of wsSubprotocols. Tokens are
// compared case-sensitively, as RFC 6455 requires.
func isMQTTSubprotocol(p string) bool { return slices.Contains(wsSubprotocols, p) }

// originChecker returns the Upgrader.CheckOrigin for allowed: everything
// when allowed is empty; otherwise requests without an Origin header, and
// those whose Origin equals an entry (ASCII case-insensitively) or when an
// entry is "*".
func originChecker(allowed []string) func(*http.Request) bool {
	if len(allowed) == 0 {
		return func(*http.Request) bool { return true }
	}
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		if origin == "" {
			return true
		}
		for _, a := range allowed {
			if a == "*" || strings.EqualFold(a, origin) {
				return true
			}
		}
		return false
	}
}
