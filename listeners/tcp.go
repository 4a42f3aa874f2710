package listeners

import (
	"fmt"

	"go.uber.org/zap"
)

// NewTCP binds a plain TCP listener on cfg.Addr (zero fields take their
// defaults) and returns it ready for Serve. When the port is busy it binds
// one of the following ports unless cfg.FixedPort is set (see
// Config.PortSearch); Addr reports the port actually bound. A Config with
// TLS set is refused (use NewTLS) rather than served in plaintext. log may
// be nil; the listener names it "listeners" and tags it with the listener's
// name and address. Errors name the listener and the address.
func NewTCP(cfg Config, log *zap.Logger) (*Listener, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TLS != nil {
		return nil, fmt.Errorf("listeners: %s: TLS settings given to NewTCP; use NewTLS", cfg.Name)
	}
	ln, err := bind(cfg, log)
	if err != nil {
		return nil, err
	}
	return newListener(cfg, log, ln), nil
}
