package broker

import (
	"errors"
	"net"

	"go.uber.org/zap"
)

// Listener is a source of client connections that the broker serves and
// owns: *listeners.Listener (TCP, TLS, WebSocket, secure WebSocket) is
// one. Serve hands each accepted connection to handle until Close is
// called, then returns nil; Close stops it; Addr is the address bound.
type Listener interface {
	Serve(handle func(net.Conn) error) error
	Close() error
	Addr() net.Addr
}

// WithListeners gives the broker listeners to serve: New starts serving
// them once the broker is ready, and Shutdown closes them before it
// disconnects the clients. The broker owns them from then on, and New
// closes them if it fails.
func WithListeners(ls ...Listener) Option {
	return func(b *Broker) { b.pendingListeners = append(b.pendingListeners, ls...) }
}

// AddListener serves l as WithListeners does, on a running broker: it
// returns at once, and Shutdown closes l. After Shutdown has begun it
// closes l and returns ErrClosed.
func (b *Broker) AddListener(l Listener) error {
	if l == nil {
		return errors.New("broker: add listener: nil")
	}
	b.mu.Lock()
	if b.closing || !b.bgAdd() {
		b.mu.Unlock()
		_ = l.Close()
		return ErrClosed
	}
	b.owned[l] = struct{}{}
	b.mu.Unlock()
	go b.serveListener(l)
	return nil
}

// serveListener runs l's accept loop (counted in bgWG) until l is closed
// or fails; a failure is logged, and l stays owned until Shutdown.
func (b *Broker) serveListener(l Listener) {
	defer b.bgWG.Done()
	if err := l.Serve(b.ServeConn); err != nil {
		b.log.Error("listener stopped", zap.Stringer("addr", l.Addr()), zap.Error(err))
	}
}

// closeListeners closes the listeners the broker owns; Broker.mu is not
// held (a listener's Close may wait for its accept loop, which may be
// handing a connection to ServeConn).
func (b *Broker) closeListeners(ls []Listener) {
	for _, l := range ls {
		if err := l.Close(); err != nil {
			b.log.Warn("closing listener", zap.Stringer("addr", l.Addr()), zap.Error(err))
		}
	}
}
