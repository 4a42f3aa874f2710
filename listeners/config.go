package listeners

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"
)

// Defaults of Config, documented on its fields.
const (
	DefaultName = "tcp"
	DefaultAddr = ":1883"
	// DefaultTLSName and DefaultTLSAddr replace DefaultName and DefaultAddr
	// for NewTLS.
	DefaultTLSName = "mqtts"
	DefaultTLSAddr = ":8883"
	// DefaultPortSearch is Config.PortSearch's default.
	DefaultPortSearch = 100
	// DefaultWebSocketPath is WebSocketConfig.Path's default.
	DefaultWebSocketPath = "/mqtt"
)

// Config describes one listener. The zero value of every field means "use
// the default" given in its comment, so Config{} is valid. Constructors copy
// the Config; later changes to the caller's copy have no effect.
type Config struct {
	// Name identifies the listener in logs and errors, for example "mqtt" or
	// "tenant-a/mqtt". Default "tcp" ("mqtts" for NewTLS).
	Name string `json:"name,omitempty"`
	// Addr is the host:port to bind, as accepted by net.Listen. An empty host
	// binds every interface; port 0 picks a free port, which Listener.Addr
	// then reports. Default ":1883" (":8883" for NewTLS).
	Addr string `json:"addr,omitempty"`
	// FixedPort turns automatic port reassignment off: when Addr's port is
	// busy the constructor fails instead of binding the next free port.
	// Default false (reassign).
	FixedPort bool `json:"fixed_port,omitempty"`
	// PortSearch is how many following ports are tried, one by one, when
	// Addr's port is busy (never beyond 65535); a warning names the port
	// bound instead. Must not be negative. Default 100.
	PortSearch int `json:"port_search,omitempty"`
	// TLS, when set, serves TLS: MQTTS for NewTLS, secure WebSocket for
	// NewWebSocket. NewTCP refuses a Config with TLS set rather than
	// serve plaintext. Default nil.
	TLS *TLSConfig `json:"tls,omitempty"`
	// WebSocket holds the settings of NewWebSocket listeners.
	WebSocket WebSocketConfig `json:"websocket,omitempty"`
}

// TLSConfig is the TLS side of a listener: either PEM files, reloaded
// without a restart when they change on disk or on Reload, or a *tls.Config
// the application builds (Config).
type TLSConfig struct {
	// Config, when set, is the server's TLS configuration, used instead of
	// the files (which must then be empty): its Certificates,
	// GetCertificate (an ACME client's, a Vault-backed or the platform's
	// own certificate store) or GetConfigForClient serve the certificate,
	// and its ClientAuth and ClientCAs verify clients. The listener
	// serves a clone, with MinVersion raised to TLS 1.2, and for
	// WebSocket without "h2" in NextProtos (WebSocket needs HTTP/1.1);
	// changes to the caller's value after the constructor have no effect,
	// but its callbacks are called for every handshake. Not JSON.
	Config *tls.Config `json:"-"`
	// CertFile and KeyFile hold the server certificate (leaf first, then
	// intermediates) and its private key. Required; the key must match.
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
	// CAFile holds the CA certificates that client certificates are
	// verified against. Required when ClientAuth is "request" or "require";
	// ignored (with a warning) when it is "none". Default "".
	CAFile string `json:"ca_file,omitempty"`
	// ClientAuth is "none" (no client certificate asked for), "request"
	// (verified if given) or "require" (a verified one is needed). Default
	// "none".
	ClientAuth string `json:"client_auth,omitempty"`
	// ReloadInterval is how often the files are checked for changes.
	// Default 10s; negative turns polling off (Reload still works).
	ReloadInterval time.Duration `json:"reload_interval,omitempty"`
}

// WebSocketConfig holds the WebSocket settings of a listener.
type WebSocketConfig struct {
	// Path is the HTTP path clients connect to. Default "/mqtt".
	Path string `json:"path,omitempty"`
	// AllowedOrigins lists the Origin header values accepted in the
	// upgrade request ("*" entries match any). Empty (the default) allows
	// every origin, and requests without an Origin header are always
	// allowed (non-browser clients).
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	var c Config
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.PortSearch == 0 {
		c.PortSearch = DefaultPortSearch
	}
	if c.WebSocket.Path == "" {
		c.WebSocket.Path = DefaultWebSocketPath
	}
}

// Validate reports the invalid fields of c (after defaults are applied). It
// checks the TLS settings it can check without reading files: the
// constructors also load and verify them.
func (c Config) Validate() error {
	c.setDefaults()
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("listeners: %s: addr %q: %w", c.Name, c.Addr, err)
	}
	if c.PortSearch < 0 {
		return fmt.Errorf("listeners: %s: port_search %d: must not be negative", c.Name, c.PortSearch)
	}
	if c.TLS != nil {
		if err := c.TLS.validate(); err != nil {
			return fmt.Errorf("listeners: %s: %w", c.Name, err)
		}
	}
	return nil
}

// validate checks the fields of c; errors name the field, not the
// listener.
func (c TLSConfig) validate() error {
	if c.Config != nil {
		if c.CertFile != "" || c.KeyFile != "" || c.CAFile != "" || c.ClientAuth != "" {
			return errors.New("tls: config given with cert_file, key_file, ca_file or client_auth: use one or the other")
		}
		if len(c.Config.Certificates) == 0 && c.Config.GetCertificate == nil && c.Config.GetConfigForClient == nil {
			return errors.New("tls: config has no Certificates, GetCertificate or GetConfigForClient")
		}
		return nil
	}
	if c.CertFile == "" {
		return errors.New("tls: cert_file is required")
	}
	if c.KeyFile == "" {
		return errors.New("tls: key_file is required")
	}
	auth, err := parseClientAuth(c.ClientAuth)
	if err != nil {
		return err
	}
	if auth != tls.NoClientCert && c.CAFile == "" {
		return fmt.Errorf("tls: client_auth %q needs ca_file", c.ClientAuth)
	}
	return nil
}
