package listeners

import (
	"fmt"
	"net"
	"time"
)

// Defaults of Config, documented on its fields.
const (
	DefaultName = "tcp"
	DefaultAddr = ":1883"
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
	// "tenant-a/mqtt". Default "tcp".
	Name string `json:"name,omitempty"`
	// Addr is the host:port to bind, as accepted by net.Listen. An empty host
	// binds every interface; port 0 picks a free port, which Listener.Addr
	// then reports. Default ":1883".
	Addr string `json:"addr,omitempty"`
	// FixedPort turns automatic port reassignment off: when Addr's port is
	// busy the constructor fails instead of binding the next free port.
	// Default false (reassign).
	FixedPort bool `json:"fixed_port,omitempty"`
	// PortSearch is how many following ports are tried, one by one, when
	// Addr's port is busy. Default 100.
	PortSearch int `json:"port_search,omitempty"`
	// TLS, when set, serves TLS: MQTTS for NewTLS, secure WebSocket for
	// NewWebSocket.
	TLS *TLSConfig `json:"tls,omitempty"`
	// WebSocket holds the settings of NewWebSocket listeners.
	WebSocket WebSocketConfig `json:"websocket,omitempty"`
}

// TLSConfig is the TLS side of a listener. Certificates are PEM files,
// reloaded without a restart when they change on disk or on Reload.
type TLSConfig struct {
	// CertFile and KeyFile hold the server certificate (chain) and its key.
	// Required.
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
	// CAFile holds the CA certificates that client certificates are
	// verified against. Required when ClientAuth is "request" or "require".
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

// Validate reports the invalid fields of c (after defaults are applied).
func (c Config) Validate() error {
	c.setDefaults()
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("listeners: %s: addr %q: %w", c.Name, c.Addr, err)
	}
	return nil
}
