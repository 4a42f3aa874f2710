package listeners

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"

	"go.uber.org/zap"
)

// maxPort is the highest TCP port; the port search never goes beyond it.
const maxPort = 65535

// bind listens on cfg.Addr (cfg must have its defaults applied). When that
// port is busy (EADDRINUSE) and cfg.FixedPort is false, it tries the
// following ports one by one, at most cfg.PortSearch of them and never past
// 65535, and logs a warning naming the configured and the bound address.
// Port 0 binds a free port as net.Listen does. log is the constructor's
// logger as received (may be nil); bind names and tags it itself. Errors
// name the listener and the configured address and wrap the first bind
// error, so errors.Is(err, syscall.EADDRINUSE) works.
func bind(cfg Config, log *zap.Logger) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err == nil {
		return ln, nil
	}
	if cfg.FixedPort || !errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("listeners: %s: bind %s: %w", cfg.Name, cfg.Addr, err)
	}
	host, portStr, splitErr := net.SplitHostPort(cfg.Addr)
	if splitErr != nil {
		return nil, fmt.Errorf("listeners: %s: bind %s: %w", cfg.Name, cfg.Addr, err)
	}
	port, convErr := strconv.Atoi(portStr)
	if convErr != nil { // a service name such as "mqtt"
		if port, convErr = net.LookupPort("tcp", portStr); convErr != nil {
			return nil, fmt.Errorf("listeners: %s: bind %s: %w", cfg.Name, cfg.Addr, err)
		}
	}
	tried := 0
	for p := port + 1; tried < cfg.PortSearch && p <= maxPort; p++ {
		tried++
		addr := net.JoinHostPort(host, strconv.Itoa(p))
		next, nextErr := net.Listen("tcp", addr)
		if nextErr == nil {
			listenerLog(log, cfg.Name).Warn("configured port busy; bound another",
				zap.String("configured", cfg.Addr), zap.Stringer("bound", next.Addr()))
			return next, nil
		}
		if !errors.Is(nextErr, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listeners: %s: bind %s (configured %s busy): %w",
				cfg.Name, addr, cfg.Addr, nextErr)
		}
	}
	return nil, fmt.Errorf("listeners: %s: bind %s: %w (tried %d ports after it)",
		cfg.Name, cfg.Addr, err, tried)
}

// listenerLog returns log (nil means no logging) named "listeners" and
// tagged with the listener's name: the logger every part of a listener
// writes to.
func listenerLog(log *zap.Logger, name string) *zap.Logger {
	if log == nil {
		log = zap.NewNop()
	}
	return log.Named("listeners").With(zap.String("listener", name))
}
