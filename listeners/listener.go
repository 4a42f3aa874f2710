package listeners

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Accept back-off bounds: the first retry after a temporary error waits
// minBackoff, each further one twice as long, up to maxBackoff (net/http's).
const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = time.Second
)

// Listener accepts connections on a bound socket and hands them to a
// callback. Create it with a constructor such as NewTCP, run Serve, and stop
// it with Close. Its methods are safe for concurrent use.
type Listener struct {
	cfg  Config
	log  *zap.Logger
	ln   net.Listener
	done chan struct{} // closed by Close

	// serveFn, when set, replaces the accept loop (WebSocket listeners run
	// an HTTP server on ln and hand over upgraded connections).
	serveFn func(handle Handler) error
	// onClose run after ln is closed (HTTP server shutdown, certificate
	// watcher stop).
	onClose []func()
	// certs, when set, is the TLS material Reload refreshes (TLS and secure
	// WebSocket listeners).
	certs *certStore

	closeOnce sync.Once
	closeErr  error
}

// newListener wraps an already bound net.Listener. Every transport (TCP, TLS,
// WebSocket) builds its inner listener (with bind, and tls.NewListener over
// a certStore's tlsConfig for TLS) and ends here, so they all share one
// accept loop. log is the constructor's logger as received (may be nil).
func newListener(cfg Config, log *zap.Logger, ln net.Listener) *Listener {
	return &Listener{
		cfg:  cfg,
		log:  listenerLog(log, cfg.Name).With(zap.Stringer("addr", ln.Addr())),
		ln:   ln,
		done: make(chan struct{}),
	}
}

// Name returns the listener's configured name.
func (l *Listener) Name() string { return l.cfg.Name }

// Addr returns the address actually bound, with the real port when the
// configured one was 0.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Handler takes over one accepted connection: (*broker.Broker).ServeConn
// is one, so l.Serve(b.ServeConn) serves a broker. It is called one
// connection at a time and must return quickly, typically by starting a
// goroutine. It owns the connection, and closes it, whatever it returns;
// an error means it refused the connection (a broker shutting down returns
// broker.ErrClosed), which Serve logs at debug level before accepting the
// next one.
type Handler = func(net.Conn) error

// Serve accepts connections until Close is called, handing each to handle
// from Serve's goroutine (see Handler). After a temporary accept error
// Serve retries with a back-off from 5ms doubling to 1s. It returns nil once
// Close has been called (also when called after Close), or the accept error
// that stopped it otherwise. Serve may be called from several goroutines
// at once; each gets its share of the connections.
func (l *Listener) Serve(handle Handler) error {
	if handle == nil {
		return fmt.Errorf("listeners: %s: Serve: nil handler", l.cfg.Name)
	}
	l.log.Debug("serving")
	if l.serveFn != nil {
		err := l.serveFn(handle)
		if l.closed() {
			return nil
		}
		return err
	}
	var delay time.Duration
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if l.closed() { // shutdown first, as net/http does
				return nil
			}
			if !isTemporary(err) {
				return fmt.Errorf("listeners: %s: accept on %s: %w", l.cfg.Name, l.Addr(), err)
			}
			delay = nextBackoff(delay)
			l.log.Warn("accept failed; retrying", zap.Error(err), zap.Duration("delay", delay))
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-l.done:
				t.Stop()
				return nil
			}
			continue
		}
		delay = 0
		l.hand(handle, conn)
	}
}

// hand gives conn to handle and logs a refusal.
func (l *Listener) hand(handle Handler, conn net.Conn) {
	if err := handle(conn); err != nil {
		if ce := l.log.Check(zap.DebugLevel, "connection refused by the handler"); ce != nil {
			ce.Write(zap.Stringer("remote", conn.RemoteAddr()), zap.Error(err))
		}
	}
}

// Reload re-reads the listener's certificate files (on SIGHUP, say): new
// handshakes use the new material, established connections are untouched.
// On error the previous material stays in use. It returns nil at once for
// listeners without TLS files (plain, or given a *tls.Config, whose
// GetCertificate or GetConfigForClient serves fresh material itself). It blocks on file I/O and is safe for concurrent
// use.
func (l *Listener) Reload() error {
	if l.certs == nil {
		return nil
	}
	if err := l.certs.reload(); err != nil {
		return fmt.Errorf("listeners: %s: reload: %w", l.cfg.Name, err)
	}
	return nil
}

// Close stops accepting: the socket is closed and every Serve returns nil.
// Connections already handed to the callback are not touched. Close is
// idempotent; every call returns the result of the first.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		if err := l.ln.Close(); err != nil {
			l.closeErr = fmt.Errorf("listeners: %s: close %s: %w", l.cfg.Name, l.Addr(), err)
		}
		for _, f := range l.onClose {
			f()
		}
		l.log.Debug("closed")
	})
	return l.closeErr
}

func (l *Listener) closed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// nextBackoff returns the delay after one more temporary accept error,
// given the previous delay (0 after a successful accept).
func nextBackoff(prev time.Duration) time.Duration {
	if prev == 0 {
		return minBackoff
	}
	if next := 2 * prev; next < maxBackoff {
		return next
	}
	return maxBackoff
}

// isTemporary reports whether an accept error is worth retrying: the
// descriptor table is full (EMFILE, ENFILE), a pending connection was reset
// before it could be accepted, or a timeout. net.Error's Temporary method is
// deprecated because it is ill-defined in general, but for accept it is what
// net/http still relies on, so it is asked through an anonymous interface.
func isTemporary(err error) bool {
	var tmp interface{ Temporary() bool }
	if errors.As(err, &tmp) && tmp.Temporary() {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
