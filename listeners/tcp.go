package listeners

import (
	"fmt"
	"net"

	"go.uber.org/zap"
)

// NewTCP binds a plain TCP listener on cfg.Addr (zero fields take their
// defaults) and returns it ready for Serve; Addr reports the port actually
// bound. log may be nil; the listener names it "listeners" and tags it with
// the listener's name and address. Binding errors name the listener and the
// address.
func NewTCP(cfg Config, log *zap.Logger) (*Listener, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listeners: %s: %w", cfg.Name, err)
	}
	return newListener(cfg, log, ln), nil
}
