package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
)

// DefaultAddr is the admin API's default listen address: loopback only.
const DefaultAddr = "127.0.0.1:18083"

// HTTP server limits.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

// Config is the admin API's configuration.
type Config struct {
	// Addr is the "host:port" to listen on; port 0 picks a free port.
	// Default DefaultAddr ("127.0.0.1:18083").
	Addr string `json:"addr,omitempty"`
	// Token is the bearer token every /v1 route requires when set. It is
	// mandatory when Addr is not a loopback address, and when set it has at
	// least MinTokenLength characters. Default none.
	Token string `json:"token,omitempty"`
	// AllowedHosts lists the names (or IP addresses) the Host header of a
	// request may carry besides localhost and the node's own IP addresses
	// (the bound one; with a wildcard bind, any interface's): the names
	// clients and other members reach this node by, such as a DNS name or
	// a NAT address. A request with any other Host is refused with 403,
	// which defeats DNS rebinding (see guard). Entries have no port; case
	// and a trailing dot do not matter. Default none.
	AllowedHosts []string `json:"allowed_hosts,omitempty"`
	// TLS, when set, serves HTTPS with its Certificates, and reaches the
	// other members (forwarded writes, status) over HTTPS, verifying them
	// against its RootCAs (nil: the system's). Every node of a cluster
	// serves its admin API with TLS, or none does. Default nil: HTTP.
	TLS *tls.Config `json:"-"`
}

// MinTokenLength is the fewest characters Config.Token may have: a
// shorter token can be guessed. The generated token has 64.
const MinTokenLength = 16

// DefaultConfig returns the default configuration: loopback, no token.
func DefaultConfig() Config {
	return Config{Addr: DefaultAddr}
}

// Validate reports what is wrong with c (after defaults are applied).
func (c Config) Validate() error {
	addr := c.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("admin: address %q: %w", addr, err)
	}
	if c.Token == "" && !isLoopbackHost(host) {
		return fmt.Errorf("admin: address %q is reachable from other machines, so a token is required", addr)
	}
	if n := utf8.RuneCountInString(c.Token); c.Token != "" && n < MinTokenLength {
		return fmt.Errorf("admin: the token has %d characters; at least %d are required (e.g. openssl rand -hex 16)",
			n, MinTokenLength)
	}
	for _, h := range c.AllowedHosts {
		if h == "" || (!isIPv6(h) && strings.ContainsAny(h, "/:@ \t")) {
			return fmt.Errorf("admin: allowed host %q: want a host name or an IP address, without scheme or port", h)
		}
	}
	return nil
}

// isIPv6 reports whether h is an IPv6 address (which contains colons).
func isIPv6(h string) bool {
	ip := net.ParseIP(h)
	return ip != nil && ip.To4() == nil
}

// Option configures a Server beyond its Config.
type Option func(*Server)

// WithLogger sets the logger; the default discards everything.
func WithLogger(l *zap.Logger) Option {
	return func(s *Server) { s.log = l }
}

// Server is the admin HTTP API of one node. Create it with New, then
// Start it; Shutdown stops it.
type Server struct {
	cfg     Config
	backend Backend
	log     *zap.Logger
	handler http.Handler
	// allowedNames are the Host names accepted besides the node's IPs
	// (see hostAllowed); read-only after New.
	allowedNames map[string]bool
	// peers relays writes to the leader and asks members for their
	// status; each request has its own deadline.
	peers *http.Client

	// metrics serves GET /metrics when set (WithMetrics).
	metrics http.Handler

	// console is the web console's files by name; read-only after New.
	console map[string]consoleAsset

	// writeMu serializes the read-modify-write handlers (users, ACL
	// rules) on this node, which is the leader when they run.
	writeMu sync.Mutex

	mu  sync.Mutex
	srv *http.Server
	ln  net.Listener
}

// New returns a Server for b. It fails when cfg is invalid, notably when
// cfg.Addr is not a loopback address and cfg.Token is empty, or the token
// is shorter than MinTokenLength. New copies cfg.
func New(cfg Config, b Backend, opts ...Option) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if b == nil {
		return nil, errors.New("admin: nil Backend")
	}
	cfg.AllowedHosts = slices.Clone(cfg.AllowedHosts)
	console, err := loadConsole()
	if err != nil {
		return nil, err
	}
	s := &Server{
		console:      console,
		cfg:          cfg,
		backend:      b,
		log:          zap.NewNop(),
		allowedNames: allowedNames(cfg.Addr, cfg.AllowedHosts),
		peers:        &http.Client{Transport: peerTransport(cfg.TLS)}, // requests carry their own deadline
	}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.Named("admin")
	s.handler = s.audit(s.logRequests(s.guard(s.authenticate(s.routes()))))
	return s, nil
}

// Start binds the listen address and serves in a goroutine. It fails if
// the bound address is not loopback and no token is configured.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("admin: server already started")
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("admin: listen on %s: %w", s.cfg.Addr, err)
	}
	if s.cfg.Token == "" && !isLoopbackAddr(ln.Addr()) {
		_ = ln.Close()
		return fmt.Errorf("admin: bound %s, which is not loopback, without a token", ln.Addr())
	}
	if s.cfg.TLS != nil {
		if len(s.cfg.TLS.Certificates) == 0 && s.cfg.TLS.GetCertificate == nil {
			_ = ln.Close()
			return errors.New("admin: TLS without a certificate")
		}
		srvTLS := s.cfg.TLS.Clone()
		srvTLS.MinVersion = max(srvTLS.MinVersion, tls.VersionTLS12)
		ln = tls.NewListener(ln, srvTLS)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          zap.NewStdLog(s.log),
	}
	srv := s.srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin API stopped", zap.Error(err))
		}
	}()
	s.log.Info("admin API listening", zap.Stringer("addr", ln.Addr()), zap.Bool("token", s.cfg.Token != ""),
		zap.Bool("tls", s.cfg.TLS != nil), zap.Strings("allowed_hosts", s.cfg.AllowedHosts))
	if s.cfg.TLS == nil && !isLoopbackAddr(ln.Addr()) {
		s.log.Warn("admin API reachable from other machines over plain HTTP: the token and every request cross the network in clear; serve it over HTTPS (jmqx serve --admin-tls-cert and --admin-tls-key)",
			zap.Stringer("addr", ln.Addr()))
	}
	return nil
}

// peerURL is the base URL of another member's admin API at addr.
func (s *Server) peerURL(addr string) string {
	if s.cfg.TLS != nil {
		return "https://" + addr
	}
	return "http://" + addr
}

// peerTransport is the HTTP transport towards other members: HTTPS
// verified against c's RootCAs when c is set.
func peerTransport(c *tls.Config) http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if c != nil {
		t.TLSClientConfig = &tls.Config{RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}
	}
	return t
}

// Addr is the address actually bound, nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Handler is the Server's HTTP handler, with the cross-site rules,
// authentication and logging, for embedding in another server. Before
// Start, the Host rule takes the node's IP from Config.Addr: list the
// names the embedding server is reached by in Config.AllowedHosts.
func (s *Server) Handler() http.Handler { return s.handler }

// Shutdown stops accepting requests and waits, until ctx ends, for those
// in flight. It is a no-op before Start.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("admin: shutdown: %w", err)
	}
	return nil
}

// routes is the API's route table. Writes go through s.write, which
// forwards them to the leader when this node is a follower.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, f handlerFunc) { mux.Handle(pattern, s.handle(f)) }
	w := func(pattern string, f handlerFunc) { mux.Handle(pattern, s.write(s.handle(f))) }

	h("GET /healthz", s.healthz)
	h("GET /readyz", s.readyz)
	if s.metrics != nil {
		mux.Handle("GET /metrics", s.metrics)
	}

	h("GET /v1/tenants", s.listTenants)
	w("POST /v1/tenants", s.createTenant)
	h("GET /v1/tenants/{name}", s.getTenant)
	w("PUT /v1/tenants/{name}", s.putTenant)
	w("DELETE /v1/tenants/{name}", s.deleteTenant)
	h("GET /v1/tenants/{name}/status", s.tenantStatus)
	h("GET /v1/local/tenants/{name}/status", s.localTenantStatus)

	h("GET /v1/tenants/{name}/users", s.listUsers)
	w("POST /v1/tenants/{name}/users", s.addUser)
	w("POST /v1/tenants/{name}/users/{user}/rotate", s.rotateUser)
	w("DELETE /v1/tenants/{name}/users/{user}", s.removeUser)

	h("GET /v1/tenants/{name}/acl", s.getACL)
	w("PUT /v1/tenants/{name}/acl", s.putACL)
	w("POST /v1/tenants/{name}/acl/rules", s.addRule)
	w("DELETE /v1/tenants/{name}/acl/rules/{index}", s.removeRule)

	w("PUT /v1/tenants/{name}/nodes/{node}", s.recordBound)

	h("GET /v1/cluster/members", s.listMembers)
	w("POST /v1/cluster/join", s.join)
	w("DELETE /v1/cluster/members/{id}", s.removeUndrained)
	w("POST /v1/cluster/members/{id}/drain", s.drainMember)

	h("GET /{$}", s.serveConsole)
	h("GET /console/{file}", s.serveConsole)

	mux.Handle("/", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return noRoute(mux, r)
	}))
	return mux
}

// noRoute answers a request no route matched: 405 with Allow when the
// path exists under another method, 404 otherwise.
func noRoute(mux *http.ServeMux, r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		return &apiError{
			status: http.StatusMethodNotAllowed,
			msg:    fmt.Sprintf("method %s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, ", ")),
			allow:  strings.Join(allow, ", "),
		}
	}
	return errorf(http.StatusNotFound, "no such API route: %s %s", r.Method, r.URL.Path)
}

// authenticate requires the bearer token on every route (the /v1 API,
// /metrics) when one is configured. /healthz and /readyz stay open for
// probes, and the console's files for browsers (they hold no data; the
// page sends the token).
func (s *Server) authenticate(next http.Handler) http.Handler {
	if s.cfg.Token == "" {
		return next
	}
	want := sha256.Sum256([]byte(s.cfg.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || isConsolePath(r) {
			next.ServeHTTP(w, r)
			return
		}
		got, ok := bearerToken(r)
		// Compare digests: constant time, and no length leak.
		gotSum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(gotSum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="jmqx"`)
			writeError(w, errorf(http.StatusUnauthorized,
				"missing or wrong admin token: send \"Authorization: Bearer <token>\" (the token is in the file admin-token of the node's data directory)"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearerToken extracts the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// statusRecorder remembers the status a handler wrote, for the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

// WriteHeader records status and passes it on.
func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

// Write records the implicit 200 and passes b on.
func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logRequests logs every request at debug level once it is answered.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if ce := s.log.Check(zap.DebugLevel, "request"); ce != nil {
			ce.Write(
				zap.String("method", r.Method),
				zap.String("path", r.URL.Path),
				zap.Int("status", rec.status),
				zap.Duration("duration", time.Since(start)),
				zap.String("remote", r.RemoteAddr),
			)
		}
	})
}

// isLoopbackAddr reports whether a bound address is a loopback address
// (127.0.0.0/8 or ::1), unreachable from other machines.
func isLoopbackAddr(a net.Addr) bool {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.IP.IsLoopback()
	}
	host, _, err := net.SplitHostPort(a.String())
	return err == nil && isLoopbackHost(host)
}

// isLoopbackHost reports whether a configured host only binds loopback:
// a loopback IP or "localhost". An empty host binds every interface.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
