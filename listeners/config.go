package listeners

import (
	"fmt"
	"net"
)

// Defaults of Config, documented on its fields.
const (
	DefaultName = "tcp"
	DefaultAddr = ":1883"
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
}

// Validate reports the invalid fields of c (after defaults are applied).
func (c Config) Validate() error {
	c.setDefaults()
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("listeners: %s: addr %q: %w", c.Name, c.Addr, err)
	}
	return nil
}
