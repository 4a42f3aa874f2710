package tenant

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/jmqx/jmqx/broker"
	"github.com/jmqx/jmqx/internal/packet"
	"github.com/jmqx/jmqx/listeners"
)

// kind is one of a tenant's four listeners.
type kind int

const (
	kindMQTT kind = iota
	kindMQTTS
	kindWS
	kindWSS
	numKinds
)

// listenerKinds are the exported names of the kinds, by kind.
var listenerKinds = [numKinds]ListenerKind{ListenerMQTT, ListenerMQTTS, ListenerWS, ListenerWSS}

// name returns the listener's ListenerKind.
func (k kind) name() ListenerKind { return listenerKinds[k] }

// String returns the listener's name in Spec.Listeners and Status.
func (k kind) String() string { return string(k.name()) }

func (k kind) secure() bool { return k == kindMQTTS || k == kindWSS }

// listenSpec is what one listener should be.
type listenSpec struct {
	port int  // 0: auto
	tls  *TLS // secure kinds only: certificate files
	// tlsConfig is the application's TLS configuration (WithTLSConfig),
	// used instead of tls; secure kinds only.
	tlsConfig *tls.Config
	path      string
}

// served is one bound listener of a tenant.
type served struct {
	kind kind
	want listenSpec
	l    *listeners.Listener
	port int // bound
	done chan struct{}
}

// autoAttempts bounds the ports tried for one "auto" listener.
const autoAttempts = 256

// movedGrace bounds how long a moved listener stays open for its clients
// to read their DISCONNECT (closing a WebSocket listener closes its
// connections).
const movedGrace = 2 * time.Second

// want returns what listener k of spec should be, nil for off.
func (h *Host) want(spec Spec, k kind) (*listenSpec, error) {
	p := spec.Listeners.port(k)
	w := &listenSpec{}
	if k == kindWS || k == kindWSS {
		w.path = spec.Listeners.WSPath
	}
	if k.secure() {
		if h.tlsConfig != nil {
			w.tlsConfig = h.tlsConfig(spec.Name)
		}
		if w.tlsConfig == nil {
			w.tls = spec.Listeners.TLS
			if w.tls == nil {
				w.tls = h.cfg.TLS
			}
		}
	}
	switch p {
	case PortOff:
		return nil, nil
	case "":
		if k.secure() && !w.hasTLS() {
			return nil, nil
		}
		return w, nil
	}
	if k.secure() && !w.hasTLS() {
		return nil, fmt.Errorf("tenant %q: listeners.%s %s: needs TLS material: set listeners.tls, give the node a certificate or the Host a TLS configuration (WithTLSConfig)", spec.Name, k, p)
	}
	if n, ok := p.Number(); ok {
		w.port = n
	}
	return w, nil
}

// hasTLS reports whether w has TLS material: files or a configuration.
func (w *listenSpec) hasTLS() bool { return w.tls != nil || w.tlsConfig != nil }

// bind binds listener k of a tenant as w says, avoiding the ports in
// avoid besides those the Host's specs configure. A fixed port is bound
// unless another tenant owns it (see setOwners); a listener of another
// tenant that holds it without owning it is moved off first (reclaim).
// When it is busy or owned by another tenant, and HostConfig.FixedPorts is
// off, the listener moves to the first free port of the
// listeners.DefaultPortSearch following ones that no spec configures. An
// auto listener takes a port of the range (bindAuto).
func (h *Host) bind(tenant string, k kind, w *listenSpec, avoid map[int]bool) (*served, error) {
	cfg := listeners.Config{Name: tenant + "/" + k.String(), FixedPort: true,
		WebSocket: listeners.WebSocketConfig{Path: w.path, AllowedOrigins: h.cfg.WSAllowedOrigins}}
	if w.tlsConfig != nil {
		cfg.TLS = &listeners.TLSConfig{Config: w.tlsConfig}
	} else if w.tls != nil {
		cfg.TLS = &listeners.TLSConfig{CertFile: w.tls.CertFile, KeyFile: w.tls.KeyFile, CAFile: w.tls.CAFile, ClientAuth: w.tls.ClientAuth}
	}
	var l *listeners.Listener
	var err error
	if w.port != 0 {
		l, err = h.bindFixed(tenant, k, cfg, w.port, avoid)
	} else {
		l, err = h.bindAuto(tenant, k, cfg, avoid)
	}
	if err != nil {
		return nil, fmt.Errorf("tenant %q: listeners.%s: %w", tenant, k, err)
	}
	s := &served{kind: k, want: *w, l: l, port: l.Addr().(*net.TCPAddr).Port}
	h.ports.take(s.port)
	return s, nil
}

// bindFixed binds port for listener k of tenant, or the port it moves to
// (see bind).
func (h *Host) bindFixed(tenant string, k kind, cfg listeners.Config, port int, avoid map[int]bool) (*listeners.Listener, error) {
	var first error
	if owner, claimed := h.owners[port]; !claimed || owner == tenant {
		h.reclaim(tenant, k, port)
		cfg.Addr = h.bindAddr(port)
		l, err := newListener(k, cfg, h.log)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
			return l, err
		}
		first = err
	} else {
		first = fmt.Errorf("port %d is configured by tenant %q too, which serves it", port, owner)
	}
	if h.cfg.FixedPorts {
		return nil, first
	}
	tried := 0
	for p := port + 1; tried < listeners.DefaultPortSearch && p <= maxPort; p++ {
		if avoid[p] || h.claimed(p) || h.ports.held(p) {
			continue
		}
		tried++
		cfg.Addr = h.bindAddr(p)
		l, err := newListener(k, cfg, h.log)
		if err == nil {
			h.log.Warn("configured port busy; bound another", zap.String("tenant", tenant), zap.Stringer("listener", k),
				zap.Int("configured", port), zap.Int("bound", p), zap.NamedError("cause", first))
			return l, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w (tried the %d free ports after it that no tenant configures)", first, tried)
}

// maxPort is the highest TCP port.
const maxPort = 65535

// bindAddr is the address of port on the Host's BindHost.
func (h *Host) bindAddr(port int) string {
	return net.JoinHostPort(h.cfg.BindHost, strconv.Itoa(port))
}

// bindAuto binds a free port of the Host's range that no spec configures
// and avoid does not hold: the hinted one first, then the next ones the
// pool offers. The hint (the port the listener had before a restart) is
// skipped when another tenant now configures it.
func (h *Host) bindAuto(tenant string, k kind, cfg listeners.Config, avoid map[int]bool) (*listeners.Listener, error) {
	skip := func(port int) bool { return avoid[port] || h.claimed(port) }
	var last error
	hint := 0
	if h.hints != nil {
		hint = h.hints(tenant, k.name())
	}
	for i := 0; i < autoAttempts; i++ {
		port := 0
		if i == 0 && hint != 0 && h.ports.free(hint) && !skip(hint) {
			port = hint
		} else if port = h.ports.next(skip); port == 0 {
			break
		}
		cfg.Addr = h.bindAddr(port)
		l, err := newListener(k, cfg, h.log)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, err
		}
		last = err
	}
	if last == nil {
		last = errors.New("every port is taken or configured by a tenant")
	}
	return nil, fmt.Errorf("no free port in %d-%d: %w", h.cfg.PortMin, h.cfg.PortMax, last)
}

// newListener builds a listener of kind k.
func newListener(k kind, cfg listeners.Config, log *zap.Logger) (*listeners.Listener, error) {
	switch k {
	case kindMQTT:
		return listeners.NewTCP(cfg, log)
	case kindMQTTS:
		return listeners.NewTLS(cfg, log)
	default:
		return listeners.NewWebSocket(cfg, log)
	}
}

// serve hands the listener's connections to b.
func (s *served) serve(b *broker.Broker) {
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		_ = s.l.Serve(b.ServeConn)
	}()
}

// close stops the listener and waits for its accept loop.
func (s *served) close() {
	_ = s.l.Close()
	if s.done != nil {
		<-s.done
	}
}

// rebind makes listener k of t what w says (nil: off). A listener that
// keeps its port but changes its TLS or path is rebound on the same port
// and keeps its clients (a WebSocket listener's are closed); one that
// changes port is bound anew first, then its clients are told to move.
func (h *Host) rebind(t *running, k kind, w *listenSpec) error {
	cur := t.listeners[k]
	name := t.spec.Name
	switch {
	case cur == nil && w == nil:
		return nil
	case cur == nil:
		s, err := h.bind(name, k, w, nil)
		if err != nil {
			return err
		}
		t.listeners[k] = s
		s.serve(t.broker)
		return nil
	case w == nil:
		h.retire(t, cur, packet.AdministrativeAction, "")
		t.listeners[k] = nil
		return nil
	}
	samePort := w.port == 0 && cur.want.port == 0 || w.port == cur.want.port || w.port == cur.port
	if samePort && sameMaterial(cur.want, *w) {
		cur.want = *w
		return nil
	}
	if samePort {
		// Same port, new certificate or path: rebind in place.
		cur.close()
		fixed := *w
		fixed.port = cur.port
		s, err := h.bind(name, k, &fixed, nil)
		if err != nil {
			s, err = h.bind(name, k, w, nil) // the port was taken meanwhile
		}
		if err != nil {
			h.ports.release(cur.port)
			t.listeners[k] = nil
			return err
		}
		s.want = *w
		if s.port != cur.port {
			h.ports.release(cur.port)
		}
		t.listeners[k] = s
		s.serve(t.broker)
		if s.port != cur.port {
			t.broker.Disconnect(onPort(cur.port), packet.UseAnotherServer, h.addr(s.port))
		}
		return nil
	}
	s, err := h.bind(name, k, w, map[int]bool{cur.port: true})
	if err != nil {
		return err
	}
	t.listeners[k] = s
	s.serve(t.broker)
	h.retire(t, cur, packet.UseAnotherServer, h.addr(s.port))
	return nil
}

// retire tells the clients of a listener to go (rc, with Server Reference
// ref when set), gives them a moment to read it, and closes it.
func (h *Host) retire(t *running, s *served, rc packet.ReasonCode, ref string) {
	match := onPort(s.port)
	n := t.broker.Disconnect(match, rc, ref)
	h.log.Info("listener retired", zap.String("tenant", t.spec.Name), zap.Stringer("listener", s.kind),
		zap.Int("port", s.port), zap.String("moved_to", ref), zap.Int("clients", n))
	deadline := time.Now().Add(movedGrace)
	for n > 0 && time.Now().Before(deadline) && t.broker.CountClients(match) > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	s.close()
	h.ports.release(s.port)
}

// onPort matches the clients connected to a local port.
func onPort(port int) func(*broker.ClientInfo) bool {
	return func(c *broker.ClientInfo) bool {
		a, ok := c.LocalAddr.(*net.TCPAddr)
		return ok && a.Port == port
	}
}

// sameMaterial reports whether two listeners serve with the same TLS
// material and path.
func sameMaterial(a, b listenSpec) bool {
	if a.path != b.path || a.tlsConfig != b.tlsConfig || (a.tls == nil) != (b.tls == nil) {
		return false
	}
	return a.tls == nil || *a.tls == *b.tls
}

// addr formats a bound port with the Host's AdvertiseHost.
func (h *Host) addr(port int) string {
	return net.JoinHostPort(h.cfg.AdvertiseHost, strconv.Itoa(port))
}

// addrs returns the bound listener addresses of t.
func (h *Host) addrs(t *running) map[ListenerKind]string {
	m := make(map[ListenerKind]string, numKinds)
	for _, s := range t.listeners {
		if s != nil {
			m[s.kind.name()] = h.addr(s.port)
		}
	}
	return m
}
